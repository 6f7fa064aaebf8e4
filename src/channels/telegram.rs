//! The Telegram channel (teloxide): long polling or a webhook, private chats only.
//!
//! An update becomes an engine input and the replies become messages with inline keyboards; no
//! business rule lives here. What is Telegram's own:
//! - a repeated `update_id` is dropped (remembered in the database, so also across a restart);
//! - turns of one chat run in order on that chat's own queue; different chats run concurrently;
//! - a pressed keyboard is removed, and the callback query answered;
//! - a message that answers a secret prompt (security answer, new password) is deleted the moment
//!   it is read, and the prompt says so (bots may delete messages in private chats);
//! - a reply with a QR code (authenticator registration) is preceded by the code as a photo:
//!   protected (no forwarding or saving), behind a spoiler, and deleted again after
//!   [`QR_LIFETIME`], because it holds the new TOTP secret in the chat history. Deletion is a
//!   task of this process: on shutdown the photos still shown are deleted at once (the secret is
//!   not kept across a restart, so the registration could not go on anyway); a process that is
//!   killed leaves them. The URI is never logged;
//! - the language of a new conversation comes from the user's `language_code`;
//! - 429 `retry_after` is waited out, network errors and 5xx are retried with backoff, and a user
//!   who blocked the bot ends the conversation quietly.
//!
//! Group chats are refused ("telegram-private-only"), except the ICT Servicedesk's own group
//! ([`Telegram::set_helpdesk_group`], config `helpdesk.telegram_chat_id`), whose updates go to the
//! core as agents' actions on handoffs ([`crate::helpdesk::telegram_desk`] posts the cards there):
//! - a desk button (`hd:<action>:<handoff id>`) → [`Core::agent_action`] as agent
//!   `telegram:<user id>`, answered with a toast saying what came of it (done, not an agent,
//!   claimed by someone else, closed, no account, failed);
//! - a text message that replies to a card or to a relayed message → a message for the user of
//!   that handoff; if it could not be delivered, the agent is told in a reply;
//! - anything else in the group (agents talking among themselves) is ignored.
//!
//! Whether someone may act is the core's decision (`helpdesk.agents`); the channel passes ids.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use teloxide::payloads::{
    AnswerCallbackQuerySetters, GetUpdatesSetters, SendMessageSetters, SendPhotoSetters,
    SetWebhookSetters,
};
use teloxide::requests::{Payload, Request, Requester};
use teloxide::types::{
    AllowedUpdate, CallbackQuery, ChatId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile,
    Message, MessageId, ReplyParameters, Update, UpdateKind, User,
};
use teloxide::{ApiError, Bot, RequestError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::queue::{ChatQueues, Handle};
use crate::dialogue::{Input, Lang, QrCode, Text};
use crate::helpdesk::desk::{Agent, AgentAction, AgentOutcome};
use crate::helpdesk::telegram_desk::{self, HandoffThreads, TelegramDesk};
use crate::i18n::Localizer;
use crate::recovery::{ChatRef, Core, Outbound, TurnOutput};

/// The webhook's path on our HTTP server.
pub const WEBHOOK_PATH: &str = "/telegram/webhook";
/// The header Telegram puts the webhook's secret token in.
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";
/// Telegram caps callback data at 64 bytes.
const MAX_CALLBACK_DATA: usize = 64;
/// Long-poll wait; below teloxide's default 17 s HTTP timeout.
const POLL_TIMEOUT_SECS: u32 = 10;
/// Attempts for one request on network errors and 5xx before giving up.
const MAX_ATTEMPTS: u32 = 5;
/// A chat's queue task ends after this long without updates.
const IDLE_WORKER: Duration = Duration::from_secs(60);
/// How long a QR code photo stays in the chat: time enough to scan it, after which the TOTP
/// secret it holds leaves the chat history.
pub const QR_LIFETIME: Duration = Duration::from_secs(10 * 60);

pub struct Telegram {
    bot: Bot,
    core: Arc<Core>,
    l10n: Arc<Localizer>,
    queues: Arc<ChatQueues<i64, Update>>,
    /// The tasks that delete QR code photos, waited for by [`Telegram::drain`].
    qr_deletions: TaskTracker,
    /// [`QR_LIFETIME`] in milliseconds, unless [`Telegram::set_qr_lifetime`] changed it.
    qr_lifetime_ms: AtomicU64,
    shutdown: CancellationToken,
    /// The ICT Servicedesk's group and the language of its texts, once set.
    helpdesk: RwLock<Option<HelpdeskGroup>>,
    /// Which group messages (cards, relays) belong to which handoff; shared with the desk.
    threads: Arc<HandoffThreads>,
    /// This bot's user id (the token's first part), to know replies to its own messages.
    bot_id: Option<u64>,
}

#[derive(Clone, Copy)]
struct HelpdeskGroup {
    chat_id: ChatId,
    lang: Lang,
}

/// The language for a Telegram `language_code`: Dutch for `nl*`, English for any other code,
/// Dutch (the default) when the client sends none.
pub fn lang_from_code(code: Option<&str>) -> Lang {
    match code {
        Some(c) if c.to_ascii_lowercase().starts_with("nl") => Lang::Nl,
        Some(_) => Lang::En,
        None => Lang::default(),
    }
}

impl Telegram {
    pub fn new(
        token: &str,
        api_url: &str,
        core: Arc<Core>,
        l10n: Arc<Localizer>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Arc<Self>> {
        let url = reqwest::Url::parse(api_url).context("telegram.api_url")?;
        Ok(Arc::new(Self {
            bot: Bot::new(token).set_api_url(url),
            core,
            l10n,
            queues: ChatQueues::new(shutdown.clone(), IDLE_WORKER),
            qr_deletions: TaskTracker::new(),
            qr_lifetime_ms: AtomicU64::new(millis(QR_LIFETIME)),
            shutdown,
            helpdesk: RwLock::new(None),
            threads: HandoffThreads::new(),
            bot_id: token.split_once(':').and_then(|(id, _)| id.parse().ok()),
        }))
    }

    /// Takes the updates of group `chat_id` (the ICT Servicedesk's, config
    /// `helpdesk.telegram_chat_id`) as agents' actions instead of refusing them; answers there
    /// in Dutch.
    pub fn set_helpdesk_group(&self, chat_id: i64) {
        self.set_helpdesk(chat_id, Lang::Nl);
    }

    /// The helpdesk group's desk, posting with this channel's bot and sharing its map of cards
    /// and relayed messages (so agents' replies find their handoff); also routes the group's
    /// updates to the core, as [`Telegram::set_helpdesk_group`] does, in language `lang`.
    pub fn helpdesk_desk(&self, chat_id: i64, lang: Lang) -> TelegramDesk {
        self.set_helpdesk(chat_id, lang);
        TelegramDesk::new(self.bot.clone(), chat_id, Arc::clone(&self.l10n))
            .with_lang(lang)
            .with_threads(Arc::clone(&self.threads))
    }

    /// The bot this channel talks through (for a [`TelegramDesk`] built by hand).
    pub fn bot(&self) -> Bot {
        self.bot.clone()
    }

    /// The map of the helpdesk group's messages to handoffs (for a [`TelegramDesk`] built by
    /// hand: pass it to [`TelegramDesk::with_threads`]).
    pub fn handoff_threads(&self) -> Arc<HandoffThreads> {
        Arc::clone(&self.threads)
    }

    fn set_helpdesk(&self, chat_id: i64, lang: Lang) {
        *self.helpdesk.write().unwrap_or_else(|e| e.into_inner()) = Some(HelpdeskGroup {
            chat_id: ChatId(chat_id),
            lang,
        });
    }

    /// The helpdesk group, if `chat` is it.
    fn helpdesk_group(&self, chat: ChatId) -> Option<HelpdeskGroup> {
        let group = *self.helpdesk.read().unwrap_or_else(|e| e.into_inner());
        group.filter(|g| g.chat_id == chat)
    }

    /// How long QR code photos stay in the chat from now on ([`QR_LIFETIME`] by default;
    /// tests shorten it).
    pub fn set_qr_lifetime(&self, lifetime: Duration) {
        self.qr_lifetime_ms
            .store(millis(lifetime), Ordering::Relaxed);
    }

    /// Checks the token (getMe) so a wrong one fails at start-up, not on the first message.
    pub async fn check(&self) -> anyhow::Result<String> {
        let me = self
            .retrying(|| self.bot.get_me())
            .await
            .context("telegram: getMe failed (is telegram.token right?)")?;
        Ok(me.username().to_string())
    }

    /// Long polling until shutdown; then finishes what was taken.
    pub async fn run_polling(self: Arc<Self>) -> anyhow::Result<()> {
        self.retrying(|| self.bot.delete_webhook())
            .await
            .context("telegram: deleteWebhook before polling")?;
        self.prune().await;
        let mut offset: i32 = 0;
        loop {
            let request = self
                .bot
                .get_updates()
                .offset(offset)
                .timeout(POLL_TIMEOUT_SECS)
                .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
            let updates = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                r = request.send() => r,
            };
            match updates {
                Ok(updates) => {
                    for update in updates {
                        offset = offset.max(
                            i32::try_from(update.id.0)
                                .unwrap_or(i32::MAX)
                                .saturating_add(1),
                        );
                        self.accept(update).await;
                    }
                }
                Err(RequestError::RetryAfter(s)) => self.pause(s.duration()).await,
                Err(e) => {
                    tracing::warn!(error = %e, "telegram: getUpdates failed; retrying");
                    self.pause(Duration::from_secs(2)).await;
                }
            }
        }
        self.drain().await;
        Ok(())
    }

    /// Registers the webhook with Telegram (`public_url` + [`WEBHOOK_PATH`]).
    pub async fn register_webhook(&self, public_url: &str, secret: &str) -> anyhow::Result<()> {
        let url = reqwest::Url::parse(&format!(
            "{}{WEBHOOK_PATH}",
            public_url.trim_end_matches('/')
        ))
        .context("http.public_url")?;
        self.retrying(|| {
            self.bot
                .set_webhook(url.clone())
                .secret_token(secret.to_string())
                .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
        })
        .await
        .context("telegram: setWebhook")?;
        self.prune().await;
        Ok(())
    }

    /// The webhook endpoint, to merge into the HTTP router.
    pub fn webhook_router(self: &Arc<Self>, secret: &str) -> Router {
        let state = WebhookState {
            telegram: Arc::clone(self),
            secret_digest: Sha256::digest(secret.as_bytes()).into(),
        };
        Router::new()
            .route(WEBHOOK_PATH, post(webhook))
            .with_state(Arc::new(state))
    }

    /// Waits for every queued update to be processed (after shutdown was requested), and for
    /// the QR code photos still shown to be deleted.
    pub async fn drain(&self) {
        self.queues.drain().await;
        self.qr_deletions.close();
        self.qr_deletions.wait().await;
    }

    async fn prune(&self) {
        if let Err(e) = self
            .core
            .store()
            .prune_updates(chrono::Utc::now().timestamp())
            .await
        {
            tracing::warn!(
                error = format!("{e:#}"),
                "telegram: pruning update ids failed"
            );
        }
    }

    async fn pause(&self, d: Duration) {
        tokio::select! {
            _ = self.shutdown.cancelled() => {}
            _ = tokio::time::sleep(d) => {}
        }
    }

    /// Takes one update from polling or the webhook: drops repeats, queues it on its chat.
    pub async fn accept(self: &Arc<Self>, update: Update) {
        let Some(chat_id) = update_chat(&update) else {
            return;
        };
        let id = update.id.0.to_string();
        match self
            .core
            .store()
            .first_delivery("telegram", &id, chrono::Utc::now().timestamp())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(update_id = %id, "telegram: repeated update dropped");
                return;
            }
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "telegram: cannot record update id; dropping it"
                );
                return;
            }
        }
        self.enqueue(chat_id, update);
    }

    fn enqueue(self: &Arc<Self>, chat_id: i64, update: Update) {
        self.queues.enqueue(self, chat_id, update);
    }

    async fn on_message(&self, msg: Message) {
        let chat_id = msg.chat.id;
        if let Some(group) = self.helpdesk_group(chat_id) {
            self.on_desk_message(group, msg).await;
            return;
        }
        let lang = lang_from_code(msg.from.as_ref().and_then(|u| u.language_code.as_deref()));
        if !msg.chat.is_private() {
            self.say(chat_id, lang, "telegram-private-only").await;
            return;
        }
        let Some(user) = &msg.from else {
            return;
        };
        let chat = chat_ref(chat_id, user.id.0);
        // One read: the language of a new conversation is stored, and whether this is a secret.
        let expects_secret = match self.core.open_conversation(&chat, lang).await {
            Ok(view) => view.expects_secret,
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "telegram: reading the conversation failed"
                );
                true
            }
        };
        let Some(text) = msg.text() else {
            self.say(chat_id, lang, "telegram-text-only").await;
            return;
        };
        // A secret is deleted before anything else happens with it.
        if expects_secret {
            if let Err(e) = self
                .retrying(|| self.bot.delete_message(chat_id, msg.id))
                .await
            {
                tracing::warn!(error = %e, "telegram: could not delete a secret message");
            }
        }
        let out = self.core.handle(&chat, Input::Text(text.to_string())).await;
        self.send_turn(&chat, chat_id, out).await;
    }

    async fn on_callback(&self, q: CallbackQuery) {
        if let Some(group) = q
            .message
            .as_ref()
            .and_then(|m| self.helpdesk_group(m.chat().id))
        {
            self.on_desk_callback(group, q).await;
            return;
        }
        if let Err(e) = self
            .retrying(|| self.bot.answer_callback_query(q.id.clone()))
            .await
        {
            tracing::warn!(error = %e, "telegram: answerCallbackQuery failed");
        }
        let (Some(message), Some(data)) = (&q.message, &q.data) else {
            return;
        };
        let chat_id = message.chat().id;
        if !message.chat().is_private() {
            return;
        }
        // The keyboard goes, so the same choice cannot be made twice.
        if let Err(e) = self
            .retrying(|| self.bot.edit_message_reply_markup(chat_id, message.id()))
            .await
        {
            tracing::warn!(error = %e, "telegram: removing a used keyboard failed");
        }
        let chat = chat_ref(chat_id, q.from.id.0);
        let lang = lang_from_code(q.from.language_code.as_deref());
        if let Err(e) = self.core.start_language(&chat, lang).await {
            tracing::error!(
                error = format!("{e:#}"),
                "telegram: setting the language failed"
            );
        }
        let out = self.core.handle(&chat, Input::Button(data.clone())).await;
        self.send_turn(&chat, chat_id, out).await;
    }

    /// A button on a handoff card in the helpdesk group: the agent's action, and a toast saying
    /// what came of it.
    async fn on_desk_callback(&self, group: HelpdeskGroup, q: CallbackQuery) {
        let toast = match q.data.as_deref().and_then(telegram_desk::parse_callback) {
            None => None,
            Some((action, handoff_id)) => {
                let agent = agent_of(&q.from);
                let outcome = self
                    .core
                    .agent_action(&agent, handoff_id, action.clone())
                    .await
                    .unwrap_or_else(|e| {
                        tracing::error!(
                            error = format!("{e:#}"),
                            action = action.id(),
                            "telegram: an agent's action failed"
                        );
                        AgentOutcome::Failed(String::new())
                    });
                Some(telegram_desk::outcome_text(
                    &self.l10n, group.lang, &action, &outcome,
                ))
            }
        };
        let answered = self
            .retrying(|| {
                let request = self.bot.answer_callback_query(q.id.clone());
                match &toast {
                    Some(text) => request.text(text.clone()),
                    None => request,
                }
            })
            .await;
        if let Err(e) = answered {
            tracing::warn!(error = %e, "telegram: answerCallbackQuery failed");
        }
    }

    /// A message in the helpdesk group: a reply to a card or a relayed message is the agent's
    /// message for that handoff's user; anything else is agents talking among themselves.
    async fn on_desk_message(&self, group: HelpdeskGroup, msg: Message) {
        let (Some(from), Some(text), Some(replied)) =
            (&msg.from, msg.text(), msg.reply_to_message())
        else {
            return;
        };
        let to_this_bot = replied.from.as_ref().is_some_and(|u| match self.bot_id {
            Some(id) => u.id.0 == id,
            None => u.is_bot,
        });
        if from.is_bot || !to_this_bot {
            return;
        }
        // A relayed message (or a card) this process sent, else the card by its desk reference.
        let handoff = self
            .threads
            .handoff_of(replied.id.0)
            .unwrap_or_else(|| replied.id.0.to_string());
        let action = AgentAction::Message(text.to_string());
        let outcome = match self
            .core
            .agent_action(&agent_of(from), &handoff, action.clone())
            .await
        {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "telegram: relaying an agent's message failed"
                );
                AgentOutcome::Failed(String::new())
            }
        };
        let notice = match outcome {
            AgentOutcome::Done => return,
            AgentOutcome::UnknownHandoff => {
                self.l10n.text(group.lang, &Text::new("hd-reply-to-card"))
            }
            other => telegram_desk::outcome_text(&self.l10n, group.lang, &action, &other),
        };
        let sent = self
            .retrying(|| {
                self.bot
                    .send_message(msg.chat.id, notice.clone())
                    .reply_parameters(ReplyParameters::new(msg.id).allow_sending_without_reply())
            })
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "telegram: answering an agent failed");
        }
    }

    /// Sends a turn's replies; on a failed turn, a translated apology.
    async fn send_turn(&self, chat: &ChatRef, chat_id: ChatId, out: anyhow::Result<TurnOutput>) {
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "telegram: turn failed");
                let lang = self
                    .core
                    .language(chat, Lang::default())
                    .await
                    .unwrap_or_default();
                self.say(chat_id, lang, "console-error").await;
                return;
            }
        };
        let last = out.replies.len().saturating_sub(1);
        for (i, reply) in out.replies.iter().enumerate() {
            let rendered = self.l10n.render(out.lang, reply);
            if let Some(qr) = &rendered.qr {
                // The code first, the text that explains it below.
                self.send_qr(chat_id, qr).await;
            }
            let mut text = rendered.text;
            if i == last && out.expects_secret {
                text.push_str("\n\n");
                text.push_str(&self.l10n.text(out.lang, &Text::new("telegram-secret-note")));
            }
            let rows: Vec<Vec<InlineKeyboardButton>> = rendered
                .buttons
                .into_iter()
                .filter(|b| {
                    let fits = b.id.len() <= MAX_CALLBACK_DATA;
                    if !fits {
                        tracing::error!(button = %b.id, "telegram: button id longer than 64 bytes left out");
                    }
                    fits
                })
                .map(|b| vec![InlineKeyboardButton::callback(b.label, b.id)])
                .collect();
            let result = self
                .retrying(|| {
                    let request = self.bot.send_message(chat_id, text.clone());
                    if rows.is_empty() {
                        request
                    } else {
                        request.reply_markup(InlineKeyboardMarkup::new(rows.clone()))
                    }
                })
                .await;
            if let Err(e) = result {
                if is_gone(&e) {
                    tracing::info!("telegram: the user blocked the bot; ending the conversation");
                    let _ = self.core.handle(chat, Input::Button("cancel".into())).await;
                } else {
                    tracing::error!(error = %e, "telegram: sending a reply failed");
                }
                return;
            }
        }
    }

    /// Sends `qr` as a protected photo behind a spoiler and schedules its deletion. Failures are
    /// logged (without the URI) and leave the text reply to go out as usual.
    async fn send_qr(&self, chat_id: ChatId, qr: &QrCode) {
        let png = match super::qr::png(&qr.0) {
            Ok(png) => png,
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "telegram: drawing a QR code failed"
                );
                return;
            }
        };
        let photo = InputFile::memory(png).file_name("qr.png");
        // Only a 429 is sure to have sent nothing. After a network error or a 5xx the photo may
        // have arrived all the same, and a second one would stay in the chat undeleted (its
        // message id never known), secret and all: better no picture than that.
        let sent = retrying(Retry::RateLimitOnly, || {
            self.bot
                .send_photo(chat_id, photo.clone())
                .protect_content(true)
                .has_spoiler(true)
        })
        .await;
        match sent {
            Ok(message) => self.delete_later(chat_id, message.id),
            Err(e) => tracing::error!(error = %e, "telegram: sending a QR code failed"),
        }
    }

    /// Deletes a QR code photo after the QR lifetime, or at once on shutdown.
    fn delete_later(&self, chat_id: ChatId, message_id: MessageId) {
        let lifetime = Duration::from_millis(self.qr_lifetime_ms.load(Ordering::Relaxed));
        let bot = self.bot.clone();
        let delete = async move {
            match retrying(Retry::Transient, || bot.delete_message(chat_id, message_id)).await {
                Ok(_) => tracing::debug!("telegram: QR code photo deleted"),
                // The user may have deleted it already; nothing else to do.
                Err(e) => tracing::warn!(error = %e, "telegram: could not delete a QR code photo"),
            }
        };
        super::qr::delete_after(&self.qr_deletions, lifetime, self.shutdown.clone(), delete);
    }

    async fn say(&self, chat_id: ChatId, lang: Lang, id: &'static str) {
        let text = self.l10n.text(lang, &Text::new(id));
        if let Err(e) = self
            .retrying(|| self.bot.send_message(chat_id, text.clone()))
            .await
        {
            tracing::warn!(error = %e, "telegram: sending a notice failed");
        }
    }

    /// Sends a request, waiting out 429s and retrying network errors and 5xx with backoff.
    async fn retrying<R, F>(&self, make: F) -> Result<<R::Payload as Payload>::Output, RequestError>
    where
        F: Fn() -> R,
        R: Request<Err = RequestError>,
    {
        retrying(Retry::Transient, make).await
    }
}

/// Which failures of a request are tried again.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// 429s, network errors and 5xx.
    Transient,
    /// Only 429s: for a request that must not arrive twice.
    RateLimitOnly,
}

/// Sends a request, waiting out 429s and (with [`Retry::Transient`]) retrying network errors
/// and 5xx with backoff.
pub(crate) async fn retrying<R, F>(
    retry: Retry,
    make: F,
) -> Result<<R::Payload as Payload>::Output, RequestError>
where
    F: Fn() -> R,
    R: Request<Err = RequestError>,
{
    let mut backoff = Duration::from_millis(250);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match make().send().await {
            Ok(v) => return Ok(v),
            Err(RequestError::RetryAfter(s)) if attempt < MAX_ATTEMPTS => {
                tracing::warn!(seconds = s.seconds(), "telegram: rate limited");
                tokio::time::sleep(s.duration()).await;
            }
            Err(e) if retry == Retry::Transient && attempt < MAX_ATTEMPTS && is_transient(&e) => {
                tracing::warn!(error = %e, attempt, "telegram: transient error; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            Err(e) => return Err(e),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One chat's updates, in order (see [`ChatQueues`]).
#[async_trait::async_trait]
impl Handle<Update> for Telegram {
    async fn handle(&self, update: Update) {
        match update.kind {
            UpdateKind::Message(msg) => self.on_message(msg).await,
            UpdateKind::CallbackQuery(q) => self.on_callback(q).await,
            _ => {}
        }
    }
}

/// An agent as the core knows them: `telegram:<user id>`, and their name in Telegram.
fn agent_of(user: &User) -> Agent {
    let full = user.full_name();
    let name = if !full.trim().is_empty() {
        full.trim().to_string()
    } else if let Some(username) = &user.username {
        username.clone()
    } else {
        format!("telegram:{}", user.id.0)
    };
    Agent {
        id: format!("telegram:{}", user.id.0),
        name,
    }
}

fn chat_ref(chat_id: ChatId, user_id: u64) -> ChatRef {
    ChatRef::new(
        format!("telegram:{}", chat_id.0),
        format!("telegram:user:{user_id}"),
    )
}

fn update_chat(update: &Update) -> Option<i64> {
    match &update.kind {
        UpdateKind::Message(m) => Some(m.chat.id.0),
        UpdateKind::CallbackQuery(q) => q.message.as_ref().map(|m| m.chat().id.0),
        _ => None,
    }
}

/// Network trouble, an unparsable (HTML error page) answer, or a 5xx from Telegram.
fn is_transient(e: &RequestError) -> bool {
    match e {
        RequestError::Network(_) | RequestError::InvalidJson { .. } | RequestError::Io(_) => true,
        RequestError::Api(ApiError::Unknown(description)) => {
            let d = description.to_ascii_lowercase();
            d.contains("internal server error")
                || d.contains("bad gateway")
                || d.contains("gateway")
                || d.contains("unavailable")
        }
        _ => false,
    }
}

/// The user is not reachable any more.
fn is_gone(e: &RequestError) -> bool {
    matches!(
        e,
        RequestError::Api(
            ApiError::BotBlocked | ApiError::UserDeactivated | ApiError::CantInitiateConversation
        )
    )
}

/// Results that arrive later (a call answered, a push approved) are sent as messages of their
/// own, as soon as the core has run their turn.
#[async_trait::async_trait]
impl Outbound for Telegram {
    async fn deliver(&self, chat: &ChatRef, out: TurnOutput) {
        let Some(chat_id) = chat
            .conversation
            .strip_prefix("telegram:")
            .and_then(|id| id.parse::<i64>().ok())
        else {
            tracing::error!("telegram: late result for a conversation that is not a Telegram chat");
            return;
        };
        self.send_turn(chat, ChatId(chat_id), Ok(out)).await;
    }
}

struct WebhookState {
    telegram: Arc<Telegram>,
    secret_digest: [u8; 32],
}

/// Telegram's webhook call: the secret header is compared in constant time (as digests, so not
/// even its length leaks); anything else gets 401 and is not looked at.
async fn webhook(
    State(state): State<Arc<WebhookState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let digest: [u8; 32] = Sha256::digest(given).into();
    if !bool::from(digest.ct_eq(&state.secret_digest)) {
        return StatusCode::UNAUTHORIZED;
    }
    if state.telegram.shutdown.is_cancelled() {
        // Telegram retries later; the next process takes it.
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match serde_json::from_slice::<Update>(&body) {
        Ok(update) => {
            state.telegram.accept(update).await;
            StatusCode::OK
        }
        Err(e) => {
            // Answering 2xx stops Telegram from redelivering something we can never read.
            tracing::warn!(error = %e, "telegram: unreadable webhook update dropped");
            StatusCode::OK
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes_map_to_dutch_or_english() {
        assert_eq!(lang_from_code(Some("nl")), Lang::Nl);
        assert_eq!(lang_from_code(Some("nl-BE")), Lang::Nl);
        assert_eq!(lang_from_code(Some("en-GB")), Lang::En);
        assert_eq!(lang_from_code(Some("de")), Lang::En);
        assert_eq!(lang_from_code(None), Lang::Nl);
    }
}
