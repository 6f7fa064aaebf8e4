//! The Teams channel: the Bot Framework messaging endpoint `POST /api/teams/messages`.
//!
//! - every request's bearer token is checked ([`super::auth`]) before anything is read from
//!   the activity beyond its `serviceUrl` and `channelId`; a refused request gets 401/403 and an
//!   empty body;
//! - the endpoint answers 200 at once; the turn runs on the conversation's queue (one turn at a
//!   time per conversation, in order) and its replies go out through the Bot Connector REST API
//!   ([`super::connector`]), as do results that arrive later (a call answered, a push approved);
//! - personal scope only: in a group chat or channel the bot says it only helps in a private chat;
//! - repeated activity ids are processed once, also across a restart;
//! - buttons are Adaptive Card actions; a secret (new password, security answer) is typed into a
//!   card's password field, never as a chat message (a bot cannot delete what the user typed), so
//!   a plain message in a secret step is not used; a used card is replaced by one without
//!   actions, and a card is taken once;
//! - the language comes from the activity's `locale`;
//! - with no `teams.app_id` (local testing in Microsoft 365 Agents Playground) there is no token
//!   check and no connector token, and replies go only to a loopback `serviceUrl`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::auth::BotAuth;
use super::cards::{self, Submit};
use super::connector::Connector;
use crate::channels::queue::{ChatQueues, Handle};
use crate::dialogue::{Input, Lang, State as DialogueState, Text};
use crate::i18n::Localizer;
use crate::recovery::{ChatRef, Core, Outbound, TurnOutput};

/// The messaging endpoint's path, as registered in the Azure Bot's configuration.
pub const MESSAGES_PATH: &str = "/api/teams/messages";

/// A conversation's queue task ends after this long without activities.
const IDLE_WORKER: Duration = Duration::from_secs(60);

/// How long a card showing a QR code stays in the chat before it is deleted: time enough to scan
/// it, after which the authenticator secret it holds leaves the chat history.
pub const QR_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// Cards remembered to show what was chosen once used; older ones are forgotten.
const CARD_MEMORY: usize = 10_000;

/// The parts of a Bot Framework activity the bot reads. Not `Debug`: `text` and `value` may hold
/// a secret.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    #[serde(rename = "type", default)]
    pub kind: String,
    pub id: Option<String>,
    pub service_url: Option<String>,
    pub channel_id: Option<String>,
    pub from: Option<ChannelAccount>,
    pub recipient: Option<ChannelAccount>,
    pub conversation: Option<ConversationAccount>,
    pub text: Option<String>,
    pub value: Option<serde_json::Value>,
    pub locale: Option<String>,
    pub reply_to_id: Option<String>,
    #[serde(default)]
    pub members_added: Vec<ChannelAccount>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAccount {
    pub id: String,
    pub name: Option<String>,
    /// The user's Entra object id. Never a verification method: it only says which Teams
    /// account is typing, not who controls the work account being recovered.
    pub aad_object_id: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationAccount {
    pub id: String,
    /// `personal`, `groupChat` or `channel`.
    pub conversation_type: Option<String>,
    pub is_group: Option<bool>,
}

impl ConversationAccount {
    fn is_personal(&self) -> bool {
        self.is_group != Some(true)
            && self
                .conversation_type
                .as_deref()
                .is_none_or(|t| t == "personal")
    }
}

/// Where replies for one conversation go.
#[derive(Clone)]
struct Address {
    service_url: String,
    conversation_id: String,
}

/// A card sent and not used yet: its text, and its buttons' labels by id.
struct SentCard {
    text: String,
    labels: HashMap<String, String>,
}

#[derive(Default)]
struct CardMemory {
    cards: HashMap<String, SentCard>,
    order: VecDeque<String>,
}

impl CardMemory {
    fn insert(&mut self, id: String, card: SentCard) {
        if self.order.len() >= CARD_MEMORY {
            if let Some(old) = self.order.pop_front() {
                self.cards.remove(&old);
            }
        }
        self.order.push_back(id.clone());
        self.cards.insert(id, card);
    }

    fn take(&mut self, id: &str) -> Option<SentCard> {
        self.cards.remove(id)
    }
}

pub struct Teams {
    core: Arc<Core>,
    l10n: Arc<Localizer>,
    /// `None`: local testing without Microsoft (no `teams.app_id`).
    auth: Option<BotAuth>,
    connector: Arc<Connector>,
    queues: Arc<ChatQueues<String, Activity>>,
    cards: Mutex<CardMemory>,
    /// Deletions of QR code cards, waited for by [`Teams::drain`].
    qr_deletions: TaskTracker,
    qr_lifetime: Mutex<Duration>,
    shutdown: CancellationToken,
}

impl Teams {
    pub fn new(
        core: Arc<Core>,
        l10n: Arc<Localizer>,
        auth: Option<BotAuth>,
        connector: Connector,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            core,
            l10n,
            auth,
            connector: Arc::new(connector),
            queues: ChatQueues::new(shutdown.clone(), IDLE_WORKER),
            cards: Mutex::new(CardMemory::default()),
            qr_deletions: TaskTracker::new(),
            qr_lifetime: Mutex::new(QR_LIFETIME),
            shutdown,
        })
    }

    /// How long QR code cards stay from now on ([`QR_LIFETIME`] by default; tests shorten it).
    pub fn set_qr_lifetime(&self, lifetime: Duration) {
        *self
            .qr_lifetime
            .lock()
            .expect("QR lifetime lock is never poisoned") = lifetime;
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route(MESSAGES_PATH, post(messages))
            .with_state(Arc::clone(self))
    }

    /// Waits for every queued activity to be handled (after shutdown was requested), and for the
    /// QR code cards still shown to be deleted.
    pub async fn drain(&self) {
        self.queues.drain().await;
        self.qr_deletions.close();
        self.qr_deletions.wait().await;
    }

    /// Checks a request and, if it may be processed, queues its activity. The HTTP status to
    /// answer with.
    pub async fn receive(self: &Arc<Self>, authorization: Option<&str>, body: &[u8]) -> StatusCode {
        if self.auth.is_some() && authorization.is_none() {
            return StatusCode::UNAUTHORIZED;
        }
        let activity: Activity = match serde_json::from_slice(body) {
            Ok(a) => a,
            Err(_) => {
                return if self.auth.is_some() {
                    // Unauthenticated junk learns nothing about why.
                    StatusCode::FORBIDDEN
                } else {
                    StatusCode::BAD_REQUEST
                };
            }
        };
        let Some(service_url) = activity.service_url.clone() else {
            return StatusCode::BAD_REQUEST;
        };
        let channel_id = activity.channel_id.clone().unwrap_or_default();
        match &self.auth {
            Some(auth) => {
                let now = chrono::Utc::now().timestamp();
                if let Err(e) = auth
                    .validate(authorization, &service_url, &channel_id, now)
                    .await
                {
                    tracing::warn!(error = %e, "teams: request refused");
                    return StatusCode::from_u16(e.status()).unwrap_or(StatusCode::FORBIDDEN);
                }
            }
            // Without a token check, replies go nowhere but this machine.
            None if !is_loopback_url(&service_url) => {
                tracing::warn!(
                    "teams: unauthenticated activity for a non-loopback serviceUrl refused"
                );
                return StatusCode::FORBIDDEN;
            }
            None => {}
        }
        let (Some(id), Some(conversation)) = (&activity.id, &activity.conversation) else {
            return StatusCode::OK;
        };
        match self
            .core
            .store()
            .first_delivery("teams", id, chrono::Utc::now().timestamp())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!("teams: repeated activity dropped");
                return StatusCode::OK;
            }
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "teams: cannot record activity id");
                return StatusCode::SERVICE_UNAVAILABLE;
            }
        }
        let key = conversation.id.clone();
        self.queues.enqueue(self, key, activity);
        StatusCode::OK
    }

    async fn on_message(&self, a: Activity) {
        let (Some(address), Some(conversation)) = (address_of(&a), a.conversation.as_ref()) else {
            return;
        };
        let lang = lang_from_locale(a.locale.as_deref());
        if !conversation.is_personal() {
            self.say(&address, lang, "teams-private-only").await;
            return;
        }
        let Some(chat) = chat_ref(&a) else {
            return;
        };
        self.remember_address(&chat, &address).await;
        // One read: the language of a new conversation is stored, and whether text is a secret.
        let view = self
            .core
            .open_conversation(&chat, lang)
            .await
            .inspect_err(|e| {
                tracing::error!(
                    error = format!("{e:#}"),
                    "teams: reading the conversation failed"
                )
            })
            .ok();
        let input = match (&a.value, &a.text) {
            (Some(value), _) => match cards::parse_submit(value) {
                Some(submit) => match self.take_card(&address, &a, &submit).await {
                    Some(input) => input,
                    None => return,
                },
                None => return,
            },
            (None, Some(text)) => {
                let text = strip_mentions(text);
                let secret_step = view.is_some_and(|v| v.expects_secret);
                if secret_step && !text.trim_start().starts_with('/') {
                    // A bot cannot delete the user's message: the secret is not used, and the
                    // card with the password field is shown again.
                    let lang = view.map_or(lang, |v| v.lang);
                    self.say(&address, lang, "teams-secret-in-card").await;
                    let again = self.core.current_prompt(&chat).await;
                    self.send_turn(
                        &chat,
                        &address,
                        again.map(|o| o.unwrap_or_else(|| empty(lang))),
                    )
                    .await;
                    return;
                }
                Input::Text(text)
            }
            (None, None) => {
                self.say(&address, lang, "telegram-text-only").await;
                return;
            }
        };
        let out = self.core.handle(&chat, input).await;
        self.send_turn(&chat, &address, out).await;
    }

    /// A submit of card `submit.card()`: taken once; the card is replaced by one without actions
    /// that names the choice (never the secret).
    async fn take_card(&self, address: &Address, a: &Activity, submit: &Submit) -> Option<Input> {
        let card_id = submit.card();
        match self
            .core
            .store()
            .first_delivery("teams-card", card_id, chrono::Utc::now().timestamp())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!("teams: a used card was submitted again");
                return None;
            }
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "teams: cannot record card use");
                return None;
            }
        }
        let sent = self
            .cards
            .lock()
            .expect("card memory lock is never poisoned")
            .take(card_id);
        let lang = lang_from_locale(a.locale.as_deref());
        let (input, chosen) = match submit {
            Submit::Button { id, .. } => {
                let label = sent
                    .as_ref()
                    .and_then(|c| c.labels.get(id).cloned())
                    .unwrap_or_default();
                (
                    Input::Button(id.clone()),
                    Some(label).filter(|l| !l.is_empty()),
                )
            }
            Submit::Secret { text, .. } => (
                Input::Text(text.clone()),
                Some(self.l10n.text(lang, &Text::new("teams-card-sent"))),
            ),
        };
        if let Some(card_activity) = &a.reply_to_id {
            let chosen = chosen.map(|c| {
                self.l10n
                    .text(lang, &Text::new("teams-card-used").arg("choice", c))
            });
            let text = sent.map(|c| c.text).unwrap_or_default();
            let replacement = cards::used_card(&text, chosen.as_deref());
            if let Err(e) = self
                .connector
                .update(
                    &address.service_url,
                    &address.conversation_id,
                    card_activity,
                    &replacement,
                )
                .await
            {
                tracing::warn!(error = %e, "teams: replacing a used card failed");
            }
        }
        Some(input)
    }

    async fn on_conversation_update(&self, a: Activity) {
        let (Some(address), Some(conversation), Some(bot)) = (
            address_of(&a),
            a.conversation.as_ref(),
            a.recipient.as_ref(),
        ) else {
            return;
        };
        // The app was installed for a user: say hello, in personal scope only.
        if !conversation.is_personal() || !a.members_added.iter().any(|m| m.id == bot.id) {
            return;
        }
        let lang = lang_from_locale(a.locale.as_deref());
        let greeting = TurnOutput {
            lang,
            replies: vec![crate::dialogue::prompt(&DialogueState::Idle)],
            expects_secret: false,
        };
        if let Some(chat) = chat_ref(&a) {
            self.remember_address(&chat, &address).await;
            self.send_turn(&chat, &address, Ok(greeting)).await;
        }
    }

    async fn remember_address(&self, chat: &ChatRef, address: &Address) {
        if let Err(e) = self
            .core
            .store()
            .set_chat_address(
                &chat.conversation,
                &address.service_url,
                chrono::Utc::now().timestamp(),
            )
            .await
        {
            tracing::error!(
                error = format!("{e:#}"),
                "teams: saving the reply address failed"
            );
        }
    }

    /// Sends a turn's replies; on a failed turn, a translated apology.
    async fn send_turn(&self, chat: &ChatRef, address: &Address, out: anyhow::Result<TurnOutput>) {
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "teams: turn failed");
                let lang = self
                    .core
                    .language(chat, Lang::default())
                    .await
                    .unwrap_or_default();
                self.say(address, lang, "console-error").await;
                return;
            }
        };
        let submit = self.l10n.text(out.lang, &Text::new("teams-submit"));
        for reply in &out.replies {
            let rendered = self.l10n.render(out.lang, reply);
            let card_id = new_card_id();
            let activity = cards::reply_activity(&rendered, out.lang, &card_id, &submit);
            if !rendered.buttons.is_empty() || rendered.secret {
                self.cards
                    .lock()
                    .expect("card memory lock is never poisoned")
                    .insert(
                        card_id,
                        SentCard {
                            text: rendered.text.clone(),
                            labels: rendered
                                .buttons
                                .iter()
                                .map(|b| (b.id.clone(), b.label.clone()))
                                .collect(),
                        },
                    );
            }
            match self
                .connector
                .send(&address.service_url, &address.conversation_id, &activity)
                .await
            {
                Ok(Some(id)) if rendered.qr.is_some() => self.delete_later(address.clone(), id),
                Ok(_) => {}
                Err(e) if e.is_gone() => {
                    tracing::info!("teams: the user removed the bot; ending the conversation");
                    let _ = self.core.handle(chat, Input::Button("cancel".into())).await;
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "teams: sending a reply failed");
                    return;
                }
            }
        }
    }

    /// Deletes a QR code card after the QR lifetime, or at once on shutdown.
    fn delete_later(&self, address: Address, activity_id: String) {
        let lifetime = *self
            .qr_lifetime
            .lock()
            .expect("QR lifetime lock is never poisoned");
        let connector = Arc::clone(&self.connector);
        let delete = async move {
            match connector
                .delete(&address.service_url, &address.conversation_id, &activity_id)
                .await
            {
                Ok(()) => tracing::debug!("teams: QR code card deleted"),
                Err(e) => tracing::warn!(error = %e, "teams: could not delete a QR code card"),
            }
        };
        crate::channels::qr::delete_after(
            &self.qr_deletions,
            lifetime,
            self.shutdown.clone(),
            delete,
        );
    }

    async fn say(&self, address: &Address, lang: Lang, id: &'static str) {
        let text = self.l10n.text(lang, &Text::new(id));
        let activity = serde_json::json!({
            "type": "message",
            "locale": lang.code(),
            "textFormat": "plain",
            "text": text,
        });
        if let Err(e) = self
            .connector
            .send(&address.service_url, &address.conversation_id, &activity)
            .await
        {
            tracing::warn!(error = %e, "teams: sending a notice failed");
        }
    }
}

/// One conversation's activities, in order (see [`ChatQueues`]).
#[async_trait::async_trait]
impl Handle<Activity> for Teams {
    async fn handle(&self, a: Activity) {
        match a.kind.as_str() {
            "message" => self.on_message(a).await,
            "conversationUpdate" => self.on_conversation_update(a).await,
            _ => {}
        }
    }
}

/// Results that arrive later (a call answered, a push approved) go to the conversation's last
/// known `serviceUrl`.
#[async_trait::async_trait]
impl Outbound for Teams {
    async fn deliver(&self, chat: &ChatRef, out: TurnOutput) {
        let Some(conversation_id) = chat.conversation.strip_prefix("teams:") else {
            return;
        };
        let service_url = match self.core.store().chat_address(&chat.conversation).await {
            Ok(Some(url)) => url,
            Ok(None) => {
                tracing::warn!("teams: no reply address for a late result");
                return;
            }
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "teams: loading the reply address failed"
                );
                return;
            }
        };
        let address = Address {
            service_url,
            conversation_id: conversation_id.to_string(),
        };
        self.send_turn(chat, &address, Ok(out)).await;
    }
}

async fn messages(State(teams): State<Arc<Teams>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    teams.receive(authorization, &body).await
}

fn address_of(a: &Activity) -> Option<Address> {
    Some(Address {
        service_url: a.service_url.clone()?,
        conversation_id: a.conversation.as_ref()?.id.clone(),
    })
}

/// `teams:<conversation id>`, typed by `teams:user:<Entra object id>` (or the Teams user id).
fn chat_ref(a: &Activity) -> Option<ChatRef> {
    let conversation = a.conversation.as_ref()?;
    let from = a.from.as_ref()?;
    let user = from.aad_object_id.as_deref().unwrap_or(&from.id);
    Some(ChatRef::new(
        format!("teams:{}", conversation.id),
        format!("teams:user:{user}"),
    ))
}

/// The language for a Teams `locale` (`nl-NL`, `en-US`): Dutch for `nl*`, English for any
/// other, Dutch (the default) when there is none.
pub fn lang_from_locale(locale: Option<&str>) -> Lang {
    crate::channels::telegram::lang_from_code(locale)
}

/// Teams puts `<at>Name</at>` in a message that mentions the bot; the words are what counts.
fn strip_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<at>") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</at>") {
            Some(end) => rest = &rest[start + end + "</at>".len()..],
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

fn is_loopback_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .is_some_and(|h| {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            h.eq_ignore_ascii_case("localhost")
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        })
}

fn new_card_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn empty(lang: Lang) -> TurnOutput {
    TurnOutput {
        lang,
        replies: Vec::new(),
        expects_secret: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_stripped_and_the_words_kept() {
        assert_eq!(strip_mentions("<at>sspr-bot</at> hoi"), "hoi");
        assert_eq!(strip_mentions("hoi <at>x</at> daar"), "hoi  daar");
        assert_eq!(strip_mentions("<at>open"), "<at>open");
        assert_eq!(strip_mentions("gewoon"), "gewoon");
    }

    #[test]
    fn only_loopback_service_urls_count_as_local() {
        assert!(is_loopback_url("http://localhost:56150"));
        assert!(is_loopback_url("http://127.0.0.1:3978/"));
        assert!(is_loopback_url("http://[::1]:3978/"));
        assert!(!is_loopback_url("https://smba.trafficmanager.net/emea/"));
        assert!(!is_loopback_url("http://localhost.evil.example/"));
        assert!(!is_loopback_url("not a url"));
    }

    #[test]
    fn personal_scope_is_read_from_the_conversation() {
        let conv = |t: Option<&str>, g: Option<bool>| ConversationAccount {
            id: "a".into(),
            conversation_type: t.map(str::to_string),
            is_group: g,
        };
        assert!(conv(Some("personal"), None).is_personal());
        assert!(conv(None, None).is_personal());
        assert!(!conv(Some("channel"), Some(true)).is_personal());
        assert!(!conv(Some("groupChat"), None).is_personal());
        assert!(!conv(Some("personal"), Some(true)).is_personal());
    }
}
