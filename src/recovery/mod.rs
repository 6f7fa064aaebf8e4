//! The shared verification-and-reset core. It carries out the engine's effects: opens recoveries,
//! issues and checks codes, enforces throttles and lockouts, checks TOTP codes and security
//! answers, resets passwords and unlocks accounts through the directory, writes the audit log and
//! notifies the alternate address. It knows no chat platform.
//!
//! The engine's copy of "which methods passed" drives the conversation; the core keeps its own in
//! the `recoveries` table and refuses the final step unless two distinct methods passed there.

mod breach;
mod clock;
mod decoy;
mod effects;
mod enrolment;
mod handoff;
mod keys;
mod rules;
mod totp;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use chrono::{DateTime, Utc};

pub use breach::BreachCheck;
pub use clock::{Clock, ManualClock, SystemClock};
pub use keys::Keys;
pub use rules::Rules;
pub use totp::matching_step as totp_matching_step;

use crate::dialogue::{self, CallEnd, Conversation, Event, Input, Lang, Reply};
use crate::directory::Directory;
use crate::domain::Method;
use crate::metrics::Metrics;
use crate::providers::Providers;
use crate::store::Store;

/// Which conversation a turn belongs to, and who is typing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChatRef {
    /// Unique per chat: `"telegram:12345"`, `"console:local"`.
    pub conversation: String,
    /// The platform user, for the per-chat-user throttles: `"telegram:user:678"`.
    pub user: String,
}

impl ChatRef {
    pub fn new(conversation: impl Into<String>, user: impl Into<String>) -> Self {
        Self {
            conversation: conversation.into(),
            user: user.into(),
        }
    }
}

/// What a turn produced, for the channel to render.
#[derive(Clone, Debug, PartialEq)]
pub struct TurnOutput {
    pub lang: Lang,
    pub replies: Vec<Reply>,
    /// Whether the user's next message is a secret (the channel hides or deletes it).
    pub expects_secret: bool,
}

/// What the demo phone (or, later, a provider callback) says about a call or push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneAnswer {
    /// A key pressed during the call; `#` confirms, any other key does not.
    CallKeys(char),
    /// The call was answered but no key was pressed (silence does not confirm).
    NoKeys,
    /// The call ended before it was answered: busy, no answer, failed. Not a failed check.
    CallEnded(CallEnd),
    /// The push was approved, picking `number` in the app (the demo phone).
    ApprovePush(u32),
    /// The push provider reports an approval; the number was shown in the push itself.
    ApprovedInApp,
    DenyPush,
    /// No answer to the push in time.
    PushTimedOut,
}

impl PhoneAnswer {
    /// The method this answer can be about.
    pub fn method(self) -> Method {
        match self {
            PhoneAnswer::CallKeys(_) | PhoneAnswer::NoKeys | PhoneAnswer::CallEnded(_) => {
                Method::Call
            }
            PhoneAnswer::ApprovePush(_)
            | PhoneAnswer::ApprovedInApp
            | PhoneAnswer::DenyPush
            | PhoneAnswer::PushTimedOut => Method::Push,
        }
    }
}

/// How a provider that learns a result by itself (a push provider polling for the answer) hands
/// it to the core: `(challenge id, answer)`; the server forwards each to [`Core::late_result`].
pub type LateResults = tokio::sync::mpsc::UnboundedSender<(String, PhoneAnswer)>;

/// Where results that arrive later are sent: each chat channel registers one for its prefix of
/// the conversation key (`telegram` for `telegram:12345`). A channel that registers none gets
/// the result on its next turn.
#[async_trait::async_trait]
pub trait Outbound: Send + Sync {
    async fn deliver(&self, chat: &ChatRef, out: TurnOutput);
}

/// Most effects one turn may run; a loop longer than this is a bug, not a user's doing.
const MAX_EFFECTS_PER_TURN: usize = 32;

pub struct Core {
    store: Store,
    directory: Arc<dyn Directory>,
    providers: Providers,
    keys: Keys,
    clock: Arc<dyn Clock>,
    rules: Rules,
    metrics: Arc<Metrics>,
    /// The breached-password check, when configured.
    breach: Option<BreachCheck>,
    outbound: Mutex<HashMap<String, Arc<dyn Outbound>>>,
    /// One turn at a time per conversation within this process.
    turn_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Each security question as shown, in every language: a new answer may not be in it.
    question_texts: HashMap<String, Vec<String>>,
    /// Office hours, phone, agents and desks ([`Core::set_helpdesk`]).
    helpdesk: std::sync::RwLock<Arc<crate::helpdesk::desk::Helpdesk>>,
}

/// The text of every known security question in both languages.
fn question_texts() -> HashMap<String, Vec<String>> {
    let l10n = match crate::i18n::Localizer::new() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "locales do not load: answers are not checked against questions");
            return HashMap::new();
        }
    };
    dialogue::QUESTION_IDS
        .iter()
        .map(|id| {
            let t = dialogue::question_message(id);
            let texts = [Lang::Nl, Lang::En]
                .into_iter()
                .filter_map(|lang| l10n.try_text(lang, &t).ok())
                .collect();
            (id.to_string(), texts)
        })
        .collect()
}

/// What an effect needs to know about the turn it runs in.
pub(crate) struct TurnCtx<'a> {
    chat: &'a ChatRef,
    lang: Lang,
    now: i64,
}

impl Core {
    pub fn new(
        store: Store,
        directory: Arc<dyn Directory>,
        providers: Providers,
        keys: Keys,
        clock: Arc<dyn Clock>,
        rules: Rules,
    ) -> Self {
        let breach = rules.breach_check_url.as_deref().and_then(|url| {
            BreachCheck::new(url, std::time::Duration::from_secs(5))
                .inspect_err(|e| tracing::error!(error = %e, "breached-password check disabled"))
                .ok()
        });
        Self {
            store,
            directory,
            providers,
            keys,
            clock,
            rules,
            metrics: Arc::new(Metrics::new()),
            breach,
            outbound: Mutex::new(HashMap::new()),
            turn_locks: Mutex::new(HashMap::new()),
            question_texts: question_texts(),
            helpdesk: std::sync::RwLock::new(Arc::new(Default::default())),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Registers the channel that delivers late results for conversations `channel:…`.
    pub fn register_outbound(&self, channel: &str, outbound: Arc<dyn Outbound>) {
        self.outbound
            .lock()
            .expect("outbound map is never poisoned: no code panics holding it")
            .insert(channel.to_string(), outbound);
    }

    /// A result that arrived after its turn (a call answered, a push approved, a call that was
    /// not picked up), for challenge `challenge_id`: runs the turn and hands the replies to the
    /// conversation's channel. False when the challenge is unknown.
    pub async fn late_result(
        &self,
        challenge_id: &str,
        answer: PhoneAnswer,
    ) -> anyhow::Result<bool> {
        let Some(challenge) = self.store.challenge(challenge_id).await? else {
            return Ok(false);
        };
        let Some(recovery) = self.store.recovery(&challenge.recovery_id).await? else {
            return Ok(false);
        };
        let chat = ChatRef::new(recovery.conversation_key, recovery.chat_user);
        let turn = self.begin_turn(&chat.conversation).await?;
        self.metrics.turn();
        let out = self.answer_challenge(&chat, challenge, answer).await;
        drop(turn);
        let out = out.inspect_err(|_| self.metrics.error())?;
        self.deliver(&chat, out).await;
        Ok(true)
    }

    /// Hands replies made outside the user's own turn to the conversation's channel.
    async fn deliver(&self, chat: &ChatRef, out: TurnOutput) {
        let channel = chat.conversation.split(':').next().unwrap_or_default();
        let outbound = self
            .outbound
            .lock()
            .expect("outbound map is never poisoned: no code panics holding it")
            .get(channel)
            .cloned();
        match outbound {
            Some(o) => o.deliver(chat, out).await,
            None => tracing::info!(
                channel,
                "late result stored; the channel shows it on the next turn"
            ),
        }
    }

    /// Runs `events` through the conversation (and the effects they lead to), saving it once.
    /// The caller holds the turn lock.
    async fn run_events(&self, chat: &ChatRef, events: Vec<Event>) -> anyhow::Result<TurnOutput> {
        let now = self.now();
        let mut conv = self.load(chat).await?;
        let mut acc = TurnOutput {
            lang: conv.lang,
            replies: Vec::new(),
            expects_secret: conv.state.expects_secret(),
        };
        for ev in events {
            let (next, out) = self.run_inner(chat, conv, Input::Event(ev), now).await?;
            conv = next;
            acc.replies.extend(out.replies);
            acc.expects_secret = out.expects_secret;
            acc.lang = out.lang;
        }
        self.store
            .save_conversation(&chat.conversation, &conv, now.timestamp())
            .await?;
        Ok(acc)
    }

    /// Whether the database and the directory answer (for `/readyz`).
    pub async fn readiness(&self) -> (bool, bool) {
        let (db, dir) = tokio::join!(self.store.ping(), self.directory.ping());
        (db.is_ok(), dir.is_ok())
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Runs one turn: the user's input (or a later result), its effects, their results, and one
    /// write of the conversation. A failure that is not the user's doing becomes a generic
    /// apology; the stored conversation is then left as it was before the turn.
    pub async fn handle(&self, chat: &ChatRef, input: Input) -> anyhow::Result<TurnOutput> {
        let turn = self.begin_turn(&chat.conversation).await?;
        self.metrics.turn();
        let now = self.now();
        let out = match self.load(chat).await {
            Ok(conv) => self.run(chat, conv, input, now).await,
            Err(e) => Err(e),
        };
        if out.is_err() {
            self.metrics.error();
        }
        drop(turn);
        out
    }

    /// The current question of a conversation, e.g. to show again when a terminal reopens.
    pub async fn current_prompt(&self, chat: &ChatRef) -> anyhow::Result<Option<TurnOutput>> {
        let conv = self.store.load_conversation(&chat.conversation).await?;
        Ok(conv.filter(|c| c.state.in_progress()).map(|c| TurnOutput {
            lang: c.lang,
            expects_secret: c.state.expects_secret(),
            replies: vec![dialogue::prompt(&c.state)],
        }))
    }

    /// A conversation that does not exist yet starts in `lang` (the platform's locale); an
    /// existing one keeps the language it has.
    pub async fn start_language(&self, chat: &ChatRef, lang: Lang) -> anyhow::Result<()> {
        self.open_conversation(chat, lang).await.map(|_| ())
    }

    /// Before a platform message's turn, from one read of the conversation: its language (a new
    /// conversation starts in `lang`, the platform's locale, and is stored) and whether the
    /// message is a secret (the channel deletes or refuses it before the turn).
    pub async fn open_conversation(&self, chat: &ChatRef, lang: Lang) -> anyhow::Result<ChatView> {
        match self.store.load_conversation(&chat.conversation).await? {
            Some(conv) => Ok(ChatView {
                lang: conv.lang,
                expects_secret: conv.state.expects_secret(),
            }),
            None => {
                self.set_language(chat, lang).await?;
                Ok(ChatView {
                    lang,
                    expects_secret: false,
                })
            }
        }
    }

    /// The language of a conversation (a new one starts in `default`).
    pub async fn language(&self, chat: &ChatRef, default: Lang) -> anyhow::Result<Lang> {
        Ok(self
            .store
            .load_conversation(&chat.conversation)
            .await?
            .map_or(default, |c| c.lang))
    }

    /// Sets the language of a conversation without a turn (platform locale, `--lang`).
    pub async fn set_language(&self, chat: &ChatRef, lang: Lang) -> anyhow::Result<()> {
        let turn = self.begin_turn(&chat.conversation).await?;
        let out = match self.load(chat).await {
            Ok(mut conv) => {
                conv.lang = lang;
                self.store
                    .save_conversation(&chat.conversation, &conv, self.now().timestamp())
                    .await
            }
            Err(e) => Err(e),
        };
        drop(turn);
        out
    }

    /// The demo phone: answers the pending call or push of this conversation's recovery, as the
    /// user's phone would, and runs the resulting turn.
    pub async fn phone_answer(
        &self,
        chat: &ChatRef,
        answer: PhoneAnswer,
    ) -> anyhow::Result<TurnOutput> {
        let method = answer.method();
        let turn = self.begin_turn(&chat.conversation).await?;
        self.metrics.turn();
        let out = self.phone_turn(chat, method, answer).await;
        if out.is_err() {
            self.metrics.error();
        }
        drop(turn);
        out
    }

    async fn phone_turn(
        &self,
        chat: &ChatRef,
        method: Method,
        answer: PhoneAnswer,
    ) -> anyhow::Result<TurnOutput> {
        let pending = self
            .store
            .pending_phone_challenge(&chat.conversation, method.id())
            .await?;
        match pending {
            Some(challenge) => self.answer_challenge(chat, challenge, answer).await,
            None => {
                let conv = self.load(chat).await?;
                Ok(TurnOutput {
                    lang: conv.lang,
                    expects_secret: conv.state.expects_secret(),
                    replies: vec![Reply::text(dialogue::Text::new("phone-nothing-pending"))],
                })
            }
        }
    }

    /// Runs the turn for an answer to `challenge`, under the caller's turn lock.
    async fn answer_challenge(
        &self,
        chat: &ChatRef,
        challenge: crate::store::ChallengeRow,
        answer: PhoneAnswer,
    ) -> anyhow::Result<TurnOutput> {
        let now = self.now();
        let conv = self.load(chat).await?;
        let ctx = TurnCtx {
            chat,
            lang: conv.lang,
            now: now.timestamp(),
        };
        let events = self.phone_result(&ctx, &challenge, answer).await;
        let mut acc = TurnOutput {
            lang: conv.lang,
            replies: Vec::new(),
            expects_secret: conv.state.expects_secret(),
        };
        let mut conv = conv;
        for ev in events {
            let out = self.run_inner(chat, conv, Input::Event(ev), now).await?;
            conv = out.0;
            acc.replies.extend(out.1.replies);
            acc.expects_secret = out.1.expects_secret;
            acc.lang = out.1.lang;
        }
        self.store
            .save_conversation(&chat.conversation, &conv, now.timestamp())
            .await?;
        Ok(acc)
    }

    async fn load(&self, chat: &ChatRef) -> anyhow::Result<Conversation> {
        Ok(self
            .store
            .load_conversation(&chat.conversation)
            .await?
            .unwrap_or_else(|| Conversation::new(Lang::default())))
    }

    async fn run(
        &self,
        chat: &ChatRef,
        conv: Conversation,
        input: Input,
        now: DateTime<Utc>,
    ) -> anyhow::Result<TurnOutput> {
        let (conv, out) = self.run_inner(chat, conv, input, now).await?;
        self.store
            .save_conversation(&chat.conversation, &conv, now.timestamp())
            .await?;
        Ok(out)
    }

    /// The engine and the effects, without saving.
    async fn run_inner(
        &self,
        chat: &ChatRef,
        conv: Conversation,
        input: Input,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(Conversation, TurnOutput)> {
        let step = dialogue::step(conv, input, now);
        let mut conv = step.conv;
        let mut replies = step.replies;
        let mut queue: std::collections::VecDeque<_> = step.effects.into();
        let mut ran = 0;
        while let Some(effect) = queue.pop_front() {
            ran += 1;
            if ran > MAX_EFFECTS_PER_TURN {
                anyhow::bail!("more than {MAX_EFFECTS_PER_TURN} effects in one turn");
            }
            let ctx = TurnCtx {
                chat,
                lang: conv.lang,
                now: now.timestamp(),
            };
            let events = match self.execute(&ctx, effect).await {
                Ok(events) => events,
                Err(e) => {
                    self.metrics.error();
                    tracing::error!(conversation = %chat.conversation, error = format!("{e:#}"), "effect failed");
                    vec![Event::Unavailable]
                }
            };
            for ev in events {
                let s = dialogue::step(conv, Input::Event(ev), now);
                conv = s.conv;
                replies.extend(s.replies);
                queue.extend(s.effects);
            }
        }
        let out = TurnOutput {
            lang: conv.lang,
            expects_secret: conv.state.expects_secret(),
            replies,
        };
        Ok((conv, out))
    }

    /// Takes the conversation's turn: first in this process (turns of one conversation queue
    /// here without holding a database connection), then in the database, where replicas on
    /// one PostgreSQL take turns too. Released when the guard is dropped.
    async fn begin_turn(&self, key: &str) -> anyhow::Result<TurnGuard<'_>> {
        let lock = {
            let mut map = self
                .turn_locks
                .lock()
                .expect("turn-lock map is never poisoned: no code panics holding it");
            map.entry(key.to_string()).or_default().clone()
        };
        let mut guard = TurnGuard {
            core: self,
            key: key.to_string(),
            local: Some(lock.clone().lock_owned().await),
            lock,
            db: None,
        };
        guard.db = Some(self.store.lock_conversation(key).await?);
        Ok(guard)
    }

    /// Drops the map entry once nobody else holds or waits on it, so the map does not grow with
    /// every conversation ever seen. Called after the turn's guard is released.
    fn release_turn_lock(&self, key: &str, lock: &Arc<tokio::sync::Mutex<()>>) {
        let mut map = self
            .turn_locks
            .lock()
            .expect("turn-lock map is never poisoned: no code panics holding it");
        // Two references: the map's and the caller's. A third means another turn is waiting.
        if Arc::strong_count(lock) <= 2 {
            map.remove(key);
        }
    }

    /// How many conversations currently have a turn lock (for tests: it must not grow).
    pub fn turn_locks_in_use(&self) -> usize {
        self.turn_locks
            .lock()
            .expect("turn-lock map is never poisoned: no code panics holding it")
            .len()
    }

    /// Helper for audit rows.
    pub(crate) async fn audit(
        &self,
        ctx: &TurnCtx<'_>,
        account: &str,
        event: &str,
        method: Option<Method>,
        outcome: &str,
        detail: Option<String>,
    ) -> anyhow::Result<()> {
        self.store
            .append_audit(&crate::store::AuditRow {
                time: ctx.now,
                account: account.to_string(),
                chat_user: ctx.chat.user.clone(),
                event: event.to_string(),
                method: method.map(|m| m.id().to_string()),
                outcome: outcome.to_string(),
                detail,
            })
            .await
            .context("audit")
    }
}

/// What a channel needs to know about a conversation before its turn
/// ([`Core::open_conversation`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChatView {
    pub lang: Lang,
    pub expects_secret: bool,
}

/// One turn of one conversation, held from [`Core::begin_turn`] until dropped.
struct TurnGuard<'a> {
    core: &'a Core,
    key: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    local: Option<tokio::sync::OwnedMutexGuard<()>>,
    db: Option<crate::store::ConversationLock>,
}

impl Drop for TurnGuard<'_> {
    fn drop(&mut self) {
        // The database's lock first (its connection rolls back on its way to the pool), then
        // this process's, then the map entry.
        self.db.take();
        self.local.take();
        self.core.release_turn_lock(&self.key, &self.lock);
    }
}
