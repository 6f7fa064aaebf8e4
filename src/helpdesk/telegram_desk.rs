//! The ICT Servicedesk's Telegram group as a [`Desk`]: a card per handoff, with buttons agents
//! press (claim, unlock, send a reset, close), and the user's messages relayed as replies to
//! that card.
//!
//! The conversation runs through the group:
//! - the card's message id is the handoff's `desk_ref`; a button carries the full handoff id
//!   (`hd:<action>:<id>`, at most 42 bytes of Telegram's 64);
//! - a user's message is sent as a reply to the card (`{ref} {account}: {text}`), so agents see
//!   the thread under the card;
//! - an agent answers the user by *replying* to the card or to any relayed message of it. The
//!   channel ([`crate::channels::telegram`]) finds the handoff through [`HandoffThreads`]: the
//!   message ids of the cards and relays this process sent, mapped to their handoff id (kept in
//!   memory, bounded). After a restart the map is empty; a reply to the *card* still works (the
//!   core looks handoffs up by `desk_ref`), a reply to an older relayed message gets a hint to
//!   reply to the card. Plain messages in the group (not replies) are agents talking among
//!   themselves and are ignored. With privacy mode on, Telegram still delivers replies to the
//!   bot's own messages, so the bot needs no admin rights in the group.
//!
//! Texts are in the desk's language (Dutch by default), times in the desk's time zone
//! (Europe/Amsterdam by default). A card holds methods and times, never a code, answer or
//! password; no message body is ever logged.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use async_trait::async_trait;
use chrono::DateTime;
use chrono_tz::Tz;
use teloxide::payloads::{EditMessageTextSetters, SendMessageSetters};
use teloxide::requests::Requester;
use teloxide::types::{
    ChatId, InlineKeyboardButton, InlineKeyboardMarkup, MessageId, ReplyParameters,
};
use teloxide::{ApiError, Bot, RequestError};

use super::desk::{AgentAction, AgentOutcome, Desk, HandoffCard};
use crate::channels::telegram::{retrying, Retry};
use crate::dialogue::{Lang, Text};
use crate::i18n::Localizer;

/// What every desk button's callback data starts with (`hd:claim:<handoff id>`).
pub const CALLBACK_PREFIX: &str = "hd:";
/// How many card and relay messages [`HandoffThreads`] remembers; the oldest go first.
const MAX_THREAD_MESSAGES: usize = 10_000;
/// Longest user text relayed in one message: Telegram allows 4096 characters, and the prefix
/// (ref, account) needs room.
const MAX_RELAY_CHARS: usize = 3800;
/// Most passed or failed checks listed on a card; more are summarised as "…".
const MAX_CHECKS_LISTED: usize = 12;
/// Longest failure reason shown to an agent in a toast (Telegram allows 200 characters).
const MAX_REASON_CHARS: usize = 100;

/// The desk's time zone when none is given: the guide's office hours are Amsterdam's.
pub fn default_time_zone() -> Tz {
    chrono_tz::Europe::Amsterdam
}

// ---------------------------------------------------------------------------------------------
// Which group message belongs to which handoff

/// Message ids of the cards and relayed messages in the helpdesk group, mapped to their handoff
/// id, so that an agent's reply to any of them reaches the right handoff. In memory and bounded
/// (a restart forgets it: see the module docs). Shared by the desk, which sends the messages,
/// and the Telegram channel, which reads the agents' replies.
/// Message ids of the cards and relayed messages in a helpdesk group or channel, mapped to their
/// handoff id, so that an agent's reply to any of them reaches the right handoff. In memory and
/// bounded (a restart forgets it: see the module docs). Shared by the desk, which sends the
/// messages, and the channel, which reads the agents' replies. `K` is the platform's message id
/// (Telegram: `i32`; Discord: a `u64` snowflake).
pub struct HandoffThreads<K = i32> {
    inner: Mutex<Threads<K>>,
}

struct Threads<K> {
    /// Group message id → handoff id.
    by_message: HashMap<K, String>,
    /// Handoff id → its card's message id.
    cards: HashMap<String, K>,
    /// Message ids in the order they were remembered, to forget the oldest.
    order: VecDeque<K>,
}

impl<K> Default for HandoffThreads<K> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Threads {
                by_message: HashMap::new(),
                cards: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }
}

impl<K: Copy + Eq + Hash> HandoffThreads<K> {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Threads<K>> {
        // The map is only ever read or replaced whole per entry: a poisoned lock holds
        // consistent data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers that `message_id` (a card when `is_card`) belongs to handoff `handoff_id`.
    pub fn remember(&self, message_id: K, handoff_id: &str, is_card: bool) {
        let mut t = self.lock();
        if t.by_message
            .insert(message_id, handoff_id.to_string())
            .is_none()
        {
            t.order.push_back(message_id);
        }
        if is_card {
            t.cards.insert(handoff_id.to_string(), message_id);
        }
        while t.order.len() > MAX_THREAD_MESSAGES {
            let Some(old) = t.order.pop_front() else {
                break;
            };
            if let Some(h) = t.by_message.remove(&old) {
                if t.cards.get(&h) == Some(&old) {
                    t.cards.remove(&h);
                }
            }
        }
    }

    /// The handoff a card or relayed message belongs to, if this process sent it.
    pub fn handoff_of(&self, message_id: K) -> Option<String> {
        self.lock().by_message.get(&message_id).cloned()
    }

    /// The message id of a handoff's card, if this process posted it.
    pub fn card_of(&self, handoff_id: &str) -> Option<K> {
        self.lock().cards.get(handoff_id).copied()
    }

    /// A handoff's card message: the one this process posted, else the desk reference stored
    /// with the handoff (after a restart).
    pub fn card_or_ref(&self, handoff_id: &str, desk_ref: Option<&str>) -> Option<K>
    where
        K: std::str::FromStr,
    {
        self.card_of(handoff_id)
            .or_else(|| desk_ref.and_then(|r| r.parse().ok()))
    }
}

// ---------------------------------------------------------------------------------------------
// The card in words (shared with the Teams desk)

/// A handoff card in the desk's words: a title and (label, value) facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardText {
    pub title: String,
    /// "This wasn't me": shown in red / marked urgent.
    pub urgent: bool,
    pub facts: Vec<(String, String)>,
    /// Still open (waiting or claimed): agents can act on it.
    pub open: bool,
    /// Claimed by an agent.
    pub claimed: bool,
}

impl CardText {
    pub fn new(l10n: &Localizer, lang: Lang, tz: Tz, card: &HandoffCard) -> Self {
        let t = |text: Text| l10n.text(lang, &text);
        let label = |id: &'static str| t(Text::new(id));
        let mut facts = Vec::new();
        facts.push((
            label("hd-label-account"),
            account_text(l10n, lang, card.account.as_deref()),
        ));
        facts.push((
            label("hd-label-language"),
            t(Text::new("hd-language").arg("lang", card.lang.code())),
        ));
        facts.push((
            label("hd-label-platform"),
            t(Text::new("hd-platform").arg("platform", card.platform.clone())),
        ));
        if !card.reason.is_empty() {
            facts.push((
                label("hd-label-reason"),
                t(Text::new("hd-reason").arg("reason", card.reason.clone())),
            ));
        }
        let checks = |list: &[(String, i64)]| {
            if list.is_empty() {
                return label("hd-nothing");
            }
            let mut parts: Vec<String> = list
                .iter()
                .take(MAX_CHECKS_LISTED)
                .map(|(method, at)| {
                    format!(
                        "{} {}",
                        t(Text::new("hd-method").arg("method", method.clone())),
                        local_time(tz, *at, card.created_at)
                    )
                })
                .collect();
            if list.len() > MAX_CHECKS_LISTED {
                parts.push("…".into());
            }
            parts.join(", ")
        };
        facts.push((label("hd-label-passed"), checks(&card.passed)));
        facts.push((label("hd-label-failed"), checks(&card.failed)));
        facts.push((
            label("hd-label-asked"),
            local_date_time(tz, card.created_at),
        ));
        facts.push((
            label("hd-label-status"),
            status_text(l10n, lang, &card.status),
        ));
        Self {
            title: t(Text::new("hd-card-title")
                .arg("kind", card.kind.clone())
                .arg("ref", card.short_ref())),
            urgent: card.kind == "urgent",
            facts,
            open: is_open(&card.status),
            claimed: card.status.starts_with("claimed"),
        }
    }

    /// The card as one message: [`CardText::plain`], and while open the desk's line `hint` on
    /// how to answer the user.
    pub fn message(&self, l10n: &Localizer, lang: Lang, hint: &'static str) -> String {
        let mut text = self.plain();
        if self.open {
            text.push_str("\n\n");
            text.push_str(&l10n.text(lang, &Text::new(hint)));
        }
        text
    }

    /// Title and `label: value` lines, for a plain-text message.
    pub fn plain(&self) -> String {
        let mut out = self.title.clone();
        for (label, value) in &self.facts {
            out.push('\n');
            out.push_str(label);
            out.push_str(": ");
            out.push_str(value);
        }
        out
    }
}

/// Waiting for an agent (`waiting`, a callback `queued`) or claimed (`claimed by …`).
fn is_open(status: &str) -> bool {
    matches!(status, "waiting" | "queued") || status.starts_with("claimed")
}

/// The card's status in words; `claimed by <name>` names the agent.
pub fn status_text(l10n: &Localizer, lang: Lang, status: &str) -> String {
    let (word, name) = match status.strip_prefix("claimed by ") {
        Some(name) => ("claimed", name),
        None => (status, ""),
    };
    l10n.text(
        lang,
        &Text::new("hd-status").arg("status", word).arg("name", name),
    )
}

/// The account, or "unknown" when the user never gave a login name.
pub fn account_text(l10n: &Localizer, lang: Lang, account: Option<&str>) -> String {
    match account {
        Some(a) => a.to_string(),
        None => l10n.text(lang, &Text::new("hd-account-unknown")),
    }
}

/// `HH:MM` in the desk's time zone, with the date (`dd-mm HH:MM`) when it is not the day of
/// `reference` (a callback request left on Saturday, posted on Monday).
fn local_time(tz: Tz, at: i64, reference: i64) -> String {
    let (Some(at), Some(reference)) = (
        DateTime::from_timestamp(at, 0),
        DateTime::from_timestamp(reference, 0),
    ) else {
        return "?".into();
    };
    let (at, reference) = (at.with_timezone(&tz), reference.with_timezone(&tz));
    if at.date_naive() == reference.date_naive() {
        at.format("%H:%M").to_string()
    } else {
        at.format("%d-%m %H:%M").to_string()
    }
}

/// `dd-mm-yyyy HH:MM` in the desk's time zone.
fn local_date_time(tz: Tz, at: i64) -> String {
    DateTime::from_timestamp(at, 0)
        .map(|d| d.with_timezone(&tz).format("%d-%m-%Y %H:%M").to_string())
        .unwrap_or_else(|| "?".into())
}

// ---------------------------------------------------------------------------------------------
// Buttons and what came of pressing them

/// The callback data of a desk button: `hd:claim:<id>`, `hd:unlock:<id>`, `hd:reset:<id>`,
/// `hd:close:<id>`. None for a message (no button).
pub fn callback_data(action: &AgentAction, handoff_id: &str) -> Option<String> {
    let word = match action {
        AgentAction::Claim => "claim",
        AgentAction::Unlock => "unlock",
        AgentAction::SendReset => "reset",
        AgentAction::Close => "close",
        AgentAction::Message(_) => return None,
    };
    Some(format!("{CALLBACK_PREFIX}{word}:{handoff_id}"))
}

/// A desk button's action and handoff id, from its callback data. None for anything else
/// (modified clients may send any data): an unknown action, or an id that is not 1–64 letters,
/// digits or dashes.
pub fn parse_callback(data: &str) -> Option<(AgentAction, &str)> {
    let rest = data.strip_prefix(CALLBACK_PREFIX)?;
    let (word, id) = rest.split_once(':')?;
    let action = match word {
        "claim" => AgentAction::Claim,
        "unlock" => AgentAction::Unlock,
        "reset" => AgentAction::SendReset,
        "close" => AgentAction::Close,
        _ => return None,
    };
    let valid_id =
        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    valid_id.then_some((action, id))
}

/// What an agent is told about their action (a toast for a button, a reply for a message).
pub fn outcome_text(
    l10n: &Localizer,
    lang: Lang,
    action: &AgentAction,
    outcome: &AgentOutcome,
) -> String {
    let text = match outcome {
        AgentOutcome::Done => Text::new("hd-outcome-done").arg("action", action.id()),
        AgentOutcome::NotAnAgent => Text::new("hd-outcome-not-an-agent"),
        AgentOutcome::UnknownHandoff => Text::new("hd-outcome-unknown"),
        AgentOutcome::NotYours(Some(name)) => {
            Text::new("hd-outcome-not-yours").arg("name", name.clone())
        }
        AgentOutcome::NotYours(None) => Text::new("hd-outcome-not-claimed"),
        AgentOutcome::Closed => Text::new("hd-outcome-closed"),
        AgentOutcome::NoAccount => Text::new("hd-outcome-no-account"),
        // An unexpected failure (logged where it happened).
        AgentOutcome::Failed(why) if why.is_empty() => Text::new("hd-outcome-error"),
        AgentOutcome::Failed(why) => Text::new("hd-outcome-failed").arg(
            "why",
            why.chars().take(MAX_REASON_CHARS).collect::<String>(),
        ),
    };
    l10n.text(lang, &text)
}

fn keyboard(l10n: &Localizer, lang: Lang, handoff_id: &str, claimed: bool) -> InlineKeyboardMarkup {
    let button = |action: AgentAction, label: &'static str| {
        InlineKeyboardButton::callback(
            l10n.text(lang, &Text::new(label)),
            callback_data(&action, handoff_id).expect("buttons are for actions other than Message"),
        )
    };
    let mut rows = Vec::new();
    if !claimed {
        rows.push(vec![button(AgentAction::Claim, "hd-button-claim")]);
    }
    rows.push(vec![
        button(AgentAction::Unlock, "hd-button-unlock"),
        button(AgentAction::SendReset, "hd-button-reset"),
    ]);
    rows.push(vec![button(AgentAction::Close, "hd-button-close")]);
    InlineKeyboardMarkup::new(rows)
}

// ---------------------------------------------------------------------------------------------
// The desk

/// The helpdesk's Telegram group (config `helpdesk.telegram_chat_id`).
pub struct TelegramDesk {
    bot: Bot,
    chat_id: ChatId,
    l10n: Arc<Localizer>,
    lang: Lang,
    tz: Tz,
    threads: Arc<HandoffThreads>,
}

impl TelegramDesk {
    /// A desk posting with `bot` (the Telegram channel's, see
    /// [`crate::channels::telegram::Telegram::helpdesk_desk`]) into group `chat_id`; Dutch
    /// texts, Amsterdam times.
    pub fn new(bot: Bot, chat_id: i64, l10n: Arc<Localizer>) -> Self {
        Self {
            bot,
            chat_id: ChatId(chat_id),
            l10n,
            lang: Lang::Nl,
            tz: default_time_zone(),
            threads: HandoffThreads::new(),
        }
    }

    /// The same from a bot token and Bot API URL (`https://api.telegram.org`).
    pub fn from_token(
        token: &str,
        api_url: &str,
        chat_id: i64,
        l10n: Arc<Localizer>,
    ) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(api_url).context("telegram.api_url")?;
        Ok(Self::new(Bot::new(token).set_api_url(url), chat_id, l10n))
    }

    /// The desk's language (default Dutch).
    pub fn with_lang(mut self, lang: Lang) -> Self {
        self.lang = lang;
        self
    }

    /// The time zone times on cards are shown in (default Europe/Amsterdam).
    pub fn with_time_zone(mut self, tz: Tz) -> Self {
        self.tz = tz;
        self
    }

    /// Shares the map of group messages to handoffs with the channel that reads agents' replies.
    pub fn with_threads(mut self, threads: Arc<HandoffThreads>) -> Self {
        self.threads = threads;
        self
    }

    pub fn chat_id(&self) -> i64 {
        self.chat_id.0
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }

    pub fn threads(&self) -> Arc<HandoffThreads> {
        Arc::clone(&self.threads)
    }

    /// The card's text: the facts, and while open a line on how to answer the user.
    fn card_message(&self, card: &HandoffCard) -> (String, CardText) {
        let view = CardText::new(&self.l10n, self.lang, self.tz, card);
        (view.message(&self.l10n, self.lang, "hd-card-hint"), view)
    }

    /// The card's message: the one this process posted, else the desk reference.
    fn card_message_id(&self, desk_ref: Option<&str>, handoff_id: &str) -> Option<MessageId> {
        self.threads
            .card_or_ref(handoff_id, desk_ref)
            .map(MessageId)
    }
}

/// A Bot API failure, for logs: teloxide hides the token in network errors.
fn api_error(what: &'static str, e: RequestError) -> anyhow::Error {
    anyhow::anyhow!("telegram desk: {what} failed: {e}")
}

#[async_trait]
impl Desk for TelegramDesk {
    fn name(&self) -> &'static str {
        "telegram"
    }

    async fn post(&self, card: &HandoffCard) -> anyhow::Result<Option<String>> {
        let (text, view) = self.card_message(card);
        let markup = keyboard(&self.l10n, self.lang, &card.handoff_id, view.claimed);
        // Only a 429 is sure to have sent nothing: a second card after a network error would
        // leave agents two cards for one handoff.
        let sent = retrying(Retry::RateLimitOnly, || {
            self.bot
                .send_message(self.chat_id, text.clone())
                .reply_markup(markup.clone())
        })
        .await
        .map_err(|e| api_error("posting a card", e))?;
        self.threads.remember(sent.id.0, &card.handoff_id, true);
        Ok(Some(sent.id.0.to_string()))
    }

    async fn update(&self, desk_ref: Option<&str>, card: &HandoffCard) -> anyhow::Result<()> {
        let Some(message_id) = self.card_message_id(desk_ref, &card.handoff_id) else {
            tracing::debug!("telegram desk: no card to update");
            return Ok(());
        };
        let (text, view) = self.card_message(card);
        // Editing the text without a keyboard removes it: a closed card keeps no buttons.
        let result = retrying(Retry::Transient, || {
            let request = self
                .bot
                .edit_message_text(self.chat_id, message_id, text.clone());
            if view.open {
                request.reply_markup(keyboard(
                    &self.l10n,
                    self.lang,
                    &card.handoff_id,
                    view.claimed,
                ))
            } else {
                request
            }
        })
        .await;
        match result {
            Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => Ok(()),
            Err(e) => Err(api_error("updating a card", e)),
        }
    }

    async fn relay(
        &self,
        desk_ref: Option<&str>,
        card: &HandoffCard,
        text: &str,
    ) -> anyhow::Result<()> {
        let mut body: String = text.chars().take(MAX_RELAY_CHARS).collect();
        if text.chars().count() > MAX_RELAY_CHARS {
            body.push('…');
        }
        let message = self.l10n.text(
            self.lang,
            &Text::new("hd-relay")
                .arg("ref", card.short_ref())
                .arg(
                    "account",
                    account_text(&self.l10n, self.lang, card.account.as_deref()),
                )
                .arg("text", body),
        );
        let card_message = self.card_message_id(desk_ref, &card.handoff_id);
        let sent = retrying(Retry::Transient, || {
            let request = self.bot.send_message(self.chat_id, message.clone());
            match card_message {
                // Under the card, so agents see the thread; still sent if the card is gone.
                Some(id) => {
                    request.reply_parameters(ReplyParameters::new(id).allow_sending_without_reply())
                }
                None => request,
            }
        })
        .await
        .map_err(|e| api_error("relaying a message", e))?;
        self.threads.remember(sent.id.0, &card.handoff_id, false);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> HandoffCard {
        // Monday 30 November 2026, 08:05 in Amsterdam.
        let created = 1_796_022_300;
        HandoffCard {
            handoff_id: "3fa2c1d4e5f60718293a4b5c6d7e8f90".into(),
            kind: "live".into(),
            account: Some("a.bakker@bedrijf.nl".into()),
            lang: Lang::En,
            platform: "telegram".into(),
            passed: vec![("email".into(), created - 120)],
            failed: vec![("totp".into(), created - 60)],
            reason: "asked".into(),
            created_at: created,
            status: "waiting".into(),
        }
    }

    #[test]
    fn callback_data_round_trips_and_fits_in_64_bytes() {
        let id = card().handoff_id;
        for action in [
            AgentAction::Claim,
            AgentAction::Unlock,
            AgentAction::SendReset,
            AgentAction::Close,
        ] {
            let data = callback_data(&action, &id).unwrap();
            assert!(data.len() <= 64, "{data}");
            assert_eq!(parse_callback(&data), Some((action, id.as_str())));
        }
        assert_eq!(callback_data(&AgentAction::Message("x".into()), &id), None);
        for junk in [
            "hd:claim:",
            "hd:dance:abc",
            "hd:claim:a b",
            "method:email",
            "hd:claim",
            &format!("hd:close:{}", "a".repeat(65)),
        ] {
            assert_eq!(parse_callback(junk), None, "{junk}");
        }
    }

    #[test]
    fn a_card_shows_account_checks_and_local_times() {
        let l10n = Localizer::new().unwrap();
        let text = CardText::new(&l10n, Lang::Nl, default_time_zone(), &card()).plain();
        assert!(text.starts_with("💬 #3fa2c1"), "{text}");
        for needle in [
            "a.bakker@bedrijf.nl",
            "Engels",
            "Telegram",
            "e-mail 08:03",
            "Authenticator-code 08:04",
            "30-11-2026 08:05",
            "wacht op een collega",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        let mut unknown = card();
        unknown.account = None;
        unknown.passed.clear();
        unknown.kind = "urgent".into();
        unknown.status = "claimed by Sanne de Vries".into();
        let view = CardText::new(&l10n, Lang::En, default_time_zone(), &unknown);
        assert!(view.urgent && view.claimed && view.open);
        let text = view.plain();
        assert!(text.contains("URGENT"), "{text}");
        assert!(text.contains("unknown"), "{text}");
        assert!(text.contains("claimed by Sanne de Vries"), "{text}");
        assert!(text.contains("Passed: nothing"), "{text}");
    }

    #[test]
    fn a_check_on_another_day_shows_its_date() {
        let tz = default_time_zone();
        let monday = 1_796_022_300;
        assert_eq!(local_time(tz, monday - 2 * 86_400, monday), "28-11 08:05");
        // Summer time: 12:00 UTC is 14:00 in Amsterdam.
        assert_eq!(local_date_time(tz, 1_783_339_200), "06-07-2026 14:00");
    }

    #[test]
    fn closed_cards_are_not_open() {
        for (status, open) in [
            ("waiting", true),
            ("queued", true),
            ("claimed by Piet", true),
            ("closed", false),
            ("timed_out", false),
            ("closed_by_user", false),
        ] {
            assert_eq!(is_open(status), open, "{status}");
        }
    }

    #[test]
    fn every_outcome_has_words_in_both_languages() {
        let l10n = Localizer::new().unwrap();
        let outcomes = [
            AgentOutcome::Done,
            AgentOutcome::NotAnAgent,
            AgentOutcome::UnknownHandoff,
            AgentOutcome::NotYours(Some("Piet".into())),
            AgentOutcome::NotYours(None),
            AgentOutcome::Closed,
            AgentOutcome::NoAccount,
            AgentOutcome::Failed("x".repeat(500)),
            AgentOutcome::Failed(String::new()),
        ];
        for lang in [Lang::Nl, Lang::En] {
            for action in [
                AgentAction::Claim,
                AgentAction::Unlock,
                AgentAction::SendReset,
                AgentAction::Close,
                AgentAction::Message("hoi".into()),
            ] {
                for o in &outcomes {
                    let text = outcome_text(&l10n, lang, &action, o);
                    assert!(!text.starts_with("hd-"), "{text}");
                    assert!(text.chars().count() <= 200, "a toast: {text}");
                }
            }
        }
        for id in [
            "hd-button-claim",
            "hd-button-unlock",
            "hd-button-reset",
            "hd-button-close",
            "hd-card-hint",
            "hd-relay",
        ] {
            for lang in [Lang::Nl, Lang::En] {
                let t = Text::new(id)
                    .arg("ref", "#3fa2c1")
                    .arg("account", "a")
                    .arg("text", "b");
                l10n.try_text(lang, &t).unwrap();
            }
        }
    }

    #[test]
    fn threads_forget_the_oldest_messages() {
        let threads = HandoffThreads::new();
        threads.remember(1, "h1", true);
        threads.remember(2, "h1", false);
        assert_eq!(threads.handoff_of(2).as_deref(), Some("h1"));
        assert_eq!(threads.card_of("h1"), Some(1));
        for i in 0..MAX_THREAD_MESSAGES as i32 {
            threads.remember(100 + i, "h2", false);
        }
        assert_eq!(threads.handoff_of(1), None);
        assert_eq!(threads.card_of("h1"), None);
        assert_eq!(
            threads
                .handoff_of(99 + MAX_THREAD_MESSAGES as i32)
                .as_deref(),
            Some("h2")
        );
    }
}
