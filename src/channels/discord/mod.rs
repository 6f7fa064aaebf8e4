//! The Discord channel (serenity): direct messages through the gateway, replies through the REST
//! API. An event becomes an engine input and the replies become messages with buttons; no
//! business rule lives here. What is Discord's own:
//! - direct messages only: a message in a server channel that mentions the bot (or replies to
//!   it) is answered with "I only help in a direct message"; other server messages are not read.
//!   The intents are `DIRECT_MESSAGES` and `GUILD_MESSAGES`, neither privileged (a bot sees the
//!   text of DMs and of messages that mention it without the Message Content intent);
//! - buttons are message components (action rows of buttons); pressing one is acknowledged at
//!   once (well within Discord's 3 s) by updating the message with all its buttons disabled and
//!   the chosen one marked, so a choice can't be made twice. A message's buttons are taken once
//!   (two quick presses before the update arrives: the second gets "already used");
//! - a secret (new password, security answer) is never a chat message: a bot cannot delete the
//!   user's message in a DM. The prompt gets an "Enter privately" button that opens a modal with
//!   a text input; its submit is the answer. A secret typed as a plain message is not used (the
//!   user is asked to delete it), and a modal submitted after the conversation moved on is not
//!   used either; an older prompt's button opens no modal once a newer prompt was sent. Discord's text inputs show what is typed (there is no password style): the
//!   answer is visible on the user's own screen while typing, but never stored in the chat;
//! - repeated message and interaction ids are processed once (remembered in the database, so also
//!   across a restart and between replicas);
//! - turns of one DM channel run in order on that channel's queue; different users run
//!   concurrently. serenity dispatches each gateway event on a task of its own, so two events of
//!   one DM that arrive within the same millisecond or two may be queued in either order;
//! - the language of a new conversation comes from the user's client locale (`locale` of their
//!   interactions). A first typed message carries no locale: that conversation starts in Dutch,
//!   and the greeting's language buttons switch it;
//! - rate limits are honoured by [`Rest`], our own client for the few REST routes used (per-route
//!   buckets from the `X-RateLimit-*` headers, a 429's `Retry-After` waited out, the global
//!   limit); network errors and 5xx are retried with backoff where a repeat does no harm; a user
//!   who can't be messaged any more (code 50007) ends the conversation quietly. serenity
//!   provides the gateway, the models and the request builders;
//! - a reply with a QR code (authenticator registration) is preceded by the code as a spoilered
//!   image that is deleted again after [`QR_LIFETIME`] (or at shutdown), as in Telegram;
//! - messages are sent with no allowed mentions, so nothing the bot relays can ping anyone.
//!
//! The ICT Servicedesk's channel ([`Discord::helpdesk_desk`], config
//! `helpdesk.discord_channel_id`) is the third desk beside the Telegram group and the Teams
//! channel ([`crate::helpdesk::discord_desk`] posts the cards there):
//! - a card button (`hd:<action>:<handoff id>`) → [`Core::agent_action`] as agent
//!   `discord:<user id>`, answered with an ephemeral message (only the agent sees it) saying what
//!   came of it;
//! - "Message the user" (`hdmsg:<handoff id>`) opens a modal; its text is the agent's message for
//!   the user of that handoff;
//! - a reply to a card or relayed message that mentions the bot is a message for the user too
//!   (Discord only shows the bot the text of server messages that mention it);
//! - anything else in the channel is agents talking among themselves and is ignored.
//!
//! Whether someone may act is the core's decision (`helpdesk.agents`); the channel passes ids.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use serenity::all::{
    ActionRowComponent, ButtonKind, ButtonStyle, ChannelId, ClientBuilder, ComponentInteraction,
    Context, CreateActionRow, CreateAllowedMentions, CreateButton, CreateInputText,
    CreateInteractionResponse, CreateInteractionResponseMessage, CreateMessage, CreateModal,
    EditInteractionResponse, EventHandler, GatewayIntents, Http, HttpBuilder, InputTextStyle,
    Interaction, Message, MessageId, ModalInteraction, Ready, User, UserId,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::rest::{File, Repeat, Rest, RestError};
use super::queue::{ChatQueues, Handle};
use crate::dialogue::{Input, Lang, QrCode, Text};
use crate::helpdesk::desk::{Agent, AgentAction, AgentOutcome};
use crate::helpdesk::discord_desk::{self, DiscordDesk};
use crate::helpdesk::telegram_desk::{outcome_text, HandoffThreads};
use crate::i18n::{Localizer, RenderedButton};
use crate::recovery::{ChatRef, Core, Outbound, TurnOutput};

/// The button that opens the modal for a secret, and the modal's own id.
pub const SECRET_ID: &str = "sspr:secret";
/// The text input's id inside the secret modal.
const SECRET_INPUT_ID: &str = "secret";
/// Discord's limits: message content, buttons per row, rows per message, label and id lengths.
pub const MAX_CONTENT: usize = 2000;
const MAX_ROW_BUTTONS: usize = 5;
const MAX_ROWS: usize = 5;
const MAX_LABEL: usize = 80;
const MAX_CUSTOM_ID: usize = 100;
/// A modal's title and a text input's label may be 45 characters.
pub const MAX_MODAL_TITLE: usize = 45;
/// A text input's placeholder may be 100 characters.
const MAX_PLACEHOLDER: usize = 100;
/// Longest secret taken from the modal: the password rules' maximum (256).
const MAX_SECRET: u16 = 256;
/// Secret prompts remembered ([`Discord::is_stale_prompt`]); beyond this the map starts over.
const MAX_REMEMBERED_PROMPTS: usize = 100_000;
/// A channel's queue task ends after this long without events.
const IDLE_WORKER: Duration = Duration::from_secs(60);
/// The QR code's file name: `SPOILER_` hides it behind a spoiler until tapped.
const QR_FILE_NAME: &str = "SPOILER_qr.png";
/// How long a QR code image stays in the DM: time enough to scan it.
pub const QR_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// The gateway intents: DMs, and server messages (to refuse them, and for the helpdesk channel).
pub fn intents() -> GatewayIntents {
    GatewayIntents::DIRECT_MESSAGES | GatewayIntents::GUILD_MESSAGES
}

/// The language for a Discord locale (`nl`, `en-US`, `en-GB`, …): Dutch for `nl*`, English for
/// any other, Dutch (the default) when there is none.
pub fn lang_from_locale(locale: Option<&str>) -> Lang {
    match locale.map(str::trim) {
        Some(l) if l.to_ascii_lowercase().starts_with("nl") => Lang::Nl,
        Some(l) if !l.is_empty() => Lang::En,
        _ => Lang::default(),
    }
}

mod rest;

pub struct Discord {
    rest: Arc<Rest>,
    token: String,
    api_url: String,
    core: Arc<Core>,
    l10n: Arc<Localizer>,
    queues: Arc<ChatQueues<u64, Turn>>,
    qr_deletions: TaskTracker,
    qr_lifetime_ms: AtomicU64,
    shutdown: CancellationToken,
    /// The ICT Servicedesk's channel and the language of its texts, once set.
    helpdesk: RwLock<Option<HelpdeskChannel>>,
    /// Which channel messages (cards, relays) belong to which handoff; shared with the desk.
    threads: Arc<HandoffThreads<u64>>,
    /// DM channel → the message of its latest prompt with an "Enter privately" button: an older
    /// prompt's button (left enabled when the conversation moved on) opens no modal, so nothing
    /// typed for an earlier question lands in the current one. In memory: after a restart, or
    /// when another replica sent the prompt, the conversation's state alone decides.
    secret_prompts: Mutex<HashMap<u64, u64>>,
    /// This bot's user id (from `GET /users/@me` or the gateway's READY).
    bot_id: OnceLock<UserId>,
}

#[derive(Clone, Copy)]
struct HelpdeskChannel {
    channel: ChannelId,
    lang: Lang,
}

/// What an interaction is answered through: its id and token, and the application (for the
/// follow-up edit of a deferred answer). Not `Debug`: the token authorises answers.
struct Answer<'a> {
    id: u64,
    token: &'a str,
    application: u64,
}

/// One turn for a DM channel's queue. Not `Debug`: the text may be a secret.
pub struct Turn {
    channel: ChannelId,
    user: UserId,
    /// The user's client locale, when the event had one (interactions).
    locale: Option<String>,
    kind: TurnKind,
}

enum TurnKind {
    /// A typed message.
    Text(String),
    /// A message without text (an attachment, a sticker).
    NoText,
    /// A button's custom id.
    Button(String),
    /// What was typed into the secret modal.
    Secret(String),
}

impl Discord {
    /// A channel talking to the REST API at `api_url` (`https://discord.com`; a fake in tests).
    pub fn new(
        token: &str,
        api_url: &str,
        core: Arc<Core>,
        l10n: Arc<Localizer>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            rest: Arc::new(Rest::new(token, api_url)?),
            token: token.to_string(),
            api_url: api_url.to_string(),
            core,
            l10n,
            queues: ChatQueues::new(shutdown.clone(), IDLE_WORKER),
            qr_deletions: TaskTracker::new(),
            qr_lifetime_ms: AtomicU64::new(millis(QR_LIFETIME)),
            shutdown,
            helpdesk: RwLock::new(None),
            threads: HandoffThreads::new(),
            secret_prompts: Mutex::new(HashMap::new()),
            bot_id: OnceLock::new(),
        }))
    }

    /// The REST client (for a [`DiscordDesk`] built by hand).
    pub fn rest(&self) -> Arc<Rest> {
        Arc::clone(&self.rest)
    }

    /// The helpdesk channel's desk, posting with this channel's client and sharing its map of
    /// cards and relayed messages; also routes the channel's events to the core as agents'
    /// actions, in language `lang`.
    pub fn helpdesk_desk(&self, channel_id: u64, lang: Lang) -> DiscordDesk {
        *self.helpdesk.write().unwrap_or_else(|e| e.into_inner()) = Some(HelpdeskChannel {
            channel: ChannelId::new(channel_id.max(1)),
            lang,
        });
        DiscordDesk::new(self.rest(), channel_id, Arc::clone(&self.l10n))
            .with_lang(lang)
            .with_threads(Arc::clone(&self.threads))
    }

    fn helpdesk_channel(&self, channel: ChannelId) -> Option<HelpdeskChannel> {
        let desk = *self.helpdesk.read().unwrap_or_else(|e| e.into_inner());
        desk.filter(|d| d.channel == channel)
    }

    /// How long QR code images stay in the DM from now on (tests shorten it).
    pub fn set_qr_lifetime(&self, lifetime: Duration) {
        self.qr_lifetime_ms
            .store(millis(lifetime), Ordering::Relaxed);
    }

    /// Checks the token (`GET /users/@me`) so a wrong one fails at start-up; the bot's name.
    pub async fn check(&self) -> anyhow::Result<String> {
        let me = self.rest.current_user().await.map_err(|e| {
            anyhow::anyhow!("discord: GET /users/@me failed (is discord.token right?): {e}")
        })?;
        let _ = self.bot_id.set(me.id);
        Ok(me.name.clone())
    }

    /// Connects to the gateway and handles its events until shutdown; then finishes what was
    /// taken. The gateway's address comes from `GET /api/v10/gateway` at `api_url`.
    pub async fn run_gateway(self: Arc<Self>) -> anyhow::Result<()> {
        let http = gateway_http(&self.token, &self.api_url)?;
        let mut client = ClientBuilder::new_with_http(http, intents())
            .event_handler(Gateway(Arc::clone(&self)))
            .await
            .map_err(|e| anyhow::anyhow!("discord: gateway client: {e}"))?;
        let manager = Arc::clone(&client.shard_manager);
        let stop = self.shutdown.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            manager.shutdown_all().await;
        });
        let result = client
            .start()
            .await
            .map_err(|e| anyhow::anyhow!("discord: gateway: {e}"));
        self.drain().await;
        result
    }

    /// Waits for every queued turn to be processed (after shutdown was requested), and for the
    /// QR code images still shown to be deleted.
    pub async fn drain(&self) {
        self.queues.drain().await;
        self.qr_deletions.close();
        self.qr_deletions.wait().await;
    }

    /// Records a gateway event id; false for a repeat (or when it can't be recorded: better to
    /// drop one event than to run it twice).
    async fn first(&self, kind: &str, id: u64) -> bool {
        match self
            .core
            .store()
            .first_delivery(kind, &id.to_string(), chrono::Utc::now().timestamp())
            .await
        {
            Ok(true) => true,
            Ok(false) => {
                tracing::debug!(kind, id, "discord: repeated event dropped");
                false
            }
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "discord: cannot record an event id; dropping it"
                );
                false
            }
        }
    }

    fn is_me(&self, user: &User) -> bool {
        match self.bot_id.get() {
            Some(id) => user.id == *id,
            None => user.bot,
        }
    }

    /// A gateway `MESSAGE_CREATE`.
    pub async fn on_message(self: &Arc<Self>, msg: Message) {
        if msg.author.bot || self.is_me(&msg.author) {
            // Our own messages (a DM shows them too) and other bots'.
            return;
        }
        if msg.guild_id.is_some() {
            self.on_server_message(msg).await;
            return;
        }
        if !self.first("discord-message", msg.id.get()).await {
            return;
        }
        let kind = if msg.content.trim().is_empty() {
            TurnKind::NoText
        } else {
            TurnKind::Text(msg.content.clone())
        };
        self.enqueue(Turn {
            channel: msg.channel_id,
            user: msg.author.id,
            locale: None,
            kind,
        });
    }

    /// A message in a server channel: in the helpdesk channel a possible agent's reply; anywhere
    /// else, when it is meant for the bot, the note that it only helps in a DM.
    async fn on_server_message(self: &Arc<Self>, msg: Message) {
        let mentions_me = msg.mentions.iter().any(|u| self.is_me(u))
            || msg
                .referenced_message
                .as_ref()
                .is_some_and(|m| self.is_me(&m.author));
        if !mentions_me {
            return;
        }
        if !self.first("discord-message", msg.id.get()).await {
            return;
        }
        if let Some(desk) = self.helpdesk_channel(msg.channel_id) {
            self.on_desk_message(desk, msg).await;
            return;
        }
        self.say(msg.channel_id, Lang::default(), "discord-dm-only")
            .await;
    }

    /// A gateway `INTERACTION_CREATE`: acknowledged here, at once; the turn goes on the queue.
    pub async fn on_interaction(self: &Arc<Self>, interaction: Interaction) {
        match interaction {
            Interaction::Component(c) => {
                if !self.first("discord-interaction", c.id.get()).await {
                    return;
                }
                if let Some(desk) = self.helpdesk_channel(c.channel_id) {
                    self.on_desk_button(desk, c).await;
                } else if c.guild_id.is_some() {
                    self.ephemeral_component(
                        &c,
                        lang_from_locale(Some(&c.locale)),
                        "discord-dm-only",
                    )
                    .await;
                } else {
                    self.on_button(c).await;
                }
            }
            Interaction::Modal(m) => {
                if !self.first("discord-interaction", m.id.get()).await {
                    return;
                }
                if let Some(desk) = self.helpdesk_channel(m.channel_id) {
                    self.on_desk_modal(desk, m).await;
                } else if m.guild_id.is_none() {
                    self.on_secret(m).await;
                } else {
                    let note = ephemeral(
                        &self.l10n,
                        lang_from_locale(Some(&m.locale)),
                        "discord-dm-only",
                    );
                    if let Err(e) = self.respond_to(m.id.get(), &m.token, note).await {
                        tracing::warn!(error = %e, "discord: answering a modal failed");
                    }
                }
            }
            _ => {}
        }
    }

    /// A button in a DM.
    async fn on_button(self: &Arc<Self>, c: ComponentInteraction) {
        let id = c.data.custom_id.clone();
        let lang = lang_from_locale(Some(&c.locale));
        if id == SECRET_ID {
            if self.is_stale_prompt(c.channel_id, c.message.id) {
                self.ephemeral_component(&c, lang, "discord-form-stale")
                    .await;
                return;
            }
            // The modal is the answer to the press; the button stays until it is submitted.
            let chat = chat_ref(c.channel_id, c.user.id);
            let lang = self.core.language(&chat, lang).await.unwrap_or(lang);
            let modal = secret_modal(&self.l10n, lang, &c.message.content);
            self.open_modal(&c, modal).await;
            return;
        }
        // A message's buttons are taken once.
        if !self.first("discord-component", c.message.id.get()).await {
            self.ephemeral_component(&c, lang, "discord-already-used")
                .await;
            return;
        }
        self.enqueue(Turn {
            channel: c.channel_id,
            user: c.user.id,
            locale: Some(c.locale.clone()),
            kind: TurnKind::Button(id.clone()),
        });
        let disabled = used_rows(&c.message, Some(&id));
        let ack = CreateInteractionResponse::UpdateMessage(
            CreateInteractionResponseMessage::new().components(disabled),
        );
        if let Err(e) = self.respond_to(c.id.get(), &c.token, ack).await {
            tracing::warn!(error = %e, "discord: acknowledging a button failed");
        }
    }

    /// The secret modal's submit, in a DM.
    async fn on_secret(self: &Arc<Self>, m: ModalInteraction) {
        let lang = lang_from_locale(Some(&m.locale));
        let text = modal_value(&m, SECRET_INPUT_ID);
        if m.data.custom_id != SECRET_ID || text.is_none() {
            let _ = self
                .respond_to(m.id.get(), &m.token, CreateInteractionResponse::Acknowledge)
                .await;
            return;
        }
        let text = text.unwrap_or_default();
        // The prompt's message (the modal was opened from its button) is taken once, and only
        // while it is the latest prompt.
        if let Some(message) = &m.message {
            if self.is_stale_prompt(m.channel_id, message.id) {
                let response = ephemeral(&self.l10n, lang, "discord-form-stale");
                let _ = self.respond_to(m.id.get(), &m.token, response).await;
                return;
            }
            self.forget_prompt(m.channel_id, message.id);
            if !self.first("discord-component", message.id.get()).await {
                let response = ephemeral(&self.l10n, lang, "discord-already-used");
                let _ = self.respond_to(m.id.get(), &m.token, response).await;
                return;
            }
        }
        self.enqueue(Turn {
            channel: m.channel_id,
            user: m.user.id,
            locale: Some(m.locale.clone()),
            kind: TurnKind::Secret(text),
        });
        let ack = match &m.message {
            Some(message) => CreateInteractionResponse::UpdateMessage(
                CreateInteractionResponseMessage::new()
                    .components(used_rows(message, Some(SECRET_ID))),
            ),
            None => CreateInteractionResponse::Acknowledge,
        };
        if let Err(e) = self.respond_to(m.id.get(), &m.token, ack).await {
            tracing::warn!(error = %e, "discord: acknowledging a modal failed");
        }
    }

    /// A card button in the helpdesk channel: the agent's action (or the modal for a message),
    /// and an ephemeral note saying what came of it.
    async fn on_desk_button(&self, desk: HelpdeskChannel, c: ComponentInteraction) {
        let data = c.data.custom_id.as_str();
        if let Some(handoff_id) = discord_desk::parse_message_button(data) {
            let modal = discord_desk::message_modal(&self.l10n, desk.lang, handoff_id);
            self.open_modal(&c, modal).await;
            return;
        }
        let Some((action, handoff_id)) = crate::helpdesk::telegram_desk::parse_callback(data)
        else {
            let _ = self
                .respond_to(c.id.get(), &c.token, CreateInteractionResponse::Acknowledge)
                .await;
            return;
        };
        let answer = Answer {
            id: c.id.get(),
            token: &c.token,
            application: c.application_id.get(),
        };
        self.act_for_agent(desk, answer, &agent_of(&c.user), handoff_id, action)
            .await;
    }

    /// Carries out an agent's action and tells the agent what came of it, in an ephemeral answer
    /// to their interaction: deferred at once (the action may take a directory round trip),
    /// filled in after.
    async fn act_for_agent(
        &self,
        desk: HelpdeskChannel,
        answer: Answer<'_>,
        agent: &Agent,
        handoff_id: &str,
        action: AgentAction,
    ) {
        let deferred = CreateInteractionResponse::Defer(
            CreateInteractionResponseMessage::new().ephemeral(true),
        );
        if let Err(e) = self.respond_to(answer.id, answer.token, deferred).await {
            tracing::warn!(error = %e, "discord: acknowledging an agent failed");
        }
        let outcome = self.agent_outcome(agent, handoff_id, &action).await;
        let note = outcome_text(&self.l10n, desk.lang, &action, &outcome);
        let edit = EditInteractionResponse::new().content(note);
        if let Err(e) = self
            .rest
            .edit_original(answer.application, answer.token, &edit)
            .await
        {
            tracing::warn!(error = %e, "discord: telling an agent the outcome failed");
        }
    }

    /// The desk's "Message the user" modal: the agent's message for the handoff's user.
    async fn on_desk_modal(&self, desk: HelpdeskChannel, m: ModalInteraction) {
        let handoff = discord_desk::parse_message_button(&m.data.custom_id).map(str::to_string);
        let text = modal_value(&m, discord_desk::MESSAGE_INPUT_ID);
        let (Some(handoff), Some(text)) = (handoff, text) else {
            let _ = self
                .respond_to(m.id.get(), &m.token, CreateInteractionResponse::Acknowledge)
                .await;
            return;
        };
        let answer = Answer {
            id: m.id.get(),
            token: &m.token,
            application: m.application_id.get(),
        };
        let action = AgentAction::Message(text);
        self.act_for_agent(desk, answer, &agent_of(&m.user), &handoff, action)
            .await;
    }

    /// A message in the helpdesk channel that mentions the bot: when it replies to a card or a
    /// relayed message, the agent's message for that handoff's user.
    async fn on_desk_message(&self, desk: HelpdeskChannel, msg: Message) {
        let replied = msg
            .message_reference
            .as_ref()
            .and_then(|r| r.message_id)
            .map(|id| id.get());
        let Some(replied) = replied else {
            let hint = self.l10n.text(desk.lang, &Text::new("hd-reply-to-card"));
            self.answer_agent(&msg, hint).await;
            return;
        };
        let handoff = self
            .threads
            .handoff_of(replied)
            .unwrap_or_else(|| replied.to_string());
        let text = strip_mentions(&msg.content);
        if text.is_empty() {
            return;
        }
        let action = AgentAction::Message(text);
        let outcome = self
            .agent_outcome(&agent_of(&msg.author), &handoff, &action)
            .await;
        let notice = match outcome {
            AgentOutcome::Done => return,
            AgentOutcome::UnknownHandoff => {
                self.l10n.text(desk.lang, &Text::new("hd-reply-to-card"))
            }
            other => outcome_text(&self.l10n, desk.lang, &action, &other),
        };
        self.answer_agent(&msg, notice).await;
    }

    /// An agent's action on a handoff; a failure (logged here) is an outcome too.
    async fn agent_outcome(
        &self,
        agent: &Agent,
        handoff_id: &str,
        action: &AgentAction,
    ) -> AgentOutcome {
        self.core
            .agent_action(agent, handoff_id, action.clone())
            .await
            .unwrap_or_else(|e| {
                tracing::error!(
                    error = format!("{e:#}"),
                    action = action.id(),
                    "discord: an agent's action failed"
                );
                AgentOutcome::Failed(String::new())
            })
    }

    /// `text` as a reply to the agent's message `msg` in the helpdesk channel.
    async fn answer_agent(&self, msg: &Message, text: String) {
        let reply = CreateMessage::new()
            .content(text)
            .reference_message(msg)
            .allowed_mentions(CreateAllowedMentions::new());
        if let Err(e) = self
            .rest
            .send_message(msg.channel_id.get(), &reply, Repeat::Transient)
            .await
        {
            tracing::warn!(error = %e, "discord: answering an agent failed");
        }
    }

    /// Answers a button press with `modal`.
    async fn open_modal(&self, c: &ComponentInteraction, modal: CreateModal) {
        let response = CreateInteractionResponse::Modal(modal);
        if let Err(e) = self.respond_to(c.id.get(), &c.token, response).await {
            tracing::warn!(error = %e, "discord: opening a modal failed");
        }
    }

    async fn ephemeral_component(&self, c: &ComponentInteraction, lang: Lang, id: &'static str) {
        if let Err(e) = self
            .respond_to(c.id.get(), &c.token, ephemeral(&self.l10n, lang, id))
            .await
        {
            tracing::warn!(error = %e, "discord: answering a button failed");
        }
    }

    async fn respond_to(
        &self,
        id: u64,
        token: &str,
        response: CreateInteractionResponse,
    ) -> Result<(), RestError> {
        self.rest.respond(id, token, &response).await
    }

    fn prompts(&self) -> std::sync::MutexGuard<'_, HashMap<u64, u64>> {
        // Entries are replaced whole: a poisoned lock holds consistent data.
        self.secret_prompts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn remember_prompt(&self, channel: ChannelId, message: MessageId) {
        let mut prompts = self.prompts();
        if prompts.len() >= MAX_REMEMBERED_PROMPTS {
            prompts.clear();
        }
        prompts.insert(channel.get(), message.get());
    }

    fn forget_prompt(&self, channel: ChannelId, message: MessageId) {
        let mut prompts = self.prompts();
        if prompts.get(&channel.get()) == Some(&message.get()) {
            prompts.remove(&channel.get());
        }
    }

    /// A newer prompt with an "Enter privately" button was sent in `channel` than `message`.
    fn is_stale_prompt(&self, channel: ChannelId, message: MessageId) -> bool {
        self.prompts()
            .get(&channel.get())
            .is_some_and(|latest| *latest != message.get())
    }

    fn enqueue(self: &Arc<Self>, turn: Turn) {
        self.queues.enqueue(self, turn.channel.get(), turn);
    }

    /// One queued turn of a DM channel.
    async fn run_turn(&self, turn: Turn) {
        let chat = chat_ref(turn.channel, turn.user);
        let locale_lang = lang_from_locale(turn.locale.as_deref());
        // One read: the language of a new conversation is stored, and whether this is a secret.
        let view = match self.core.open_conversation(&chat, locale_lang).await {
            Ok(view) => view,
            Err(e) => {
                // Without knowing whether a secret is asked, nothing typed is used.
                tracing::error!(
                    error = format!("{e:#}"),
                    "discord: reading the conversation failed"
                );
                self.say(turn.channel, locale_lang, "console-error").await;
                return;
            }
        };
        let lang = view.lang;
        let secret_step = view.expects_secret;
        let input = match turn.kind {
            TurnKind::Button(id) => Input::Button(id),
            TurnKind::NoText => {
                self.say(turn.channel, lang, "telegram-text-only").await;
                return;
            }
            TurnKind::Text(text) => {
                if secret_step && !text.trim_start().starts_with('/') {
                    // A bot cannot delete the user's message: the secret is not used, and the
                    // prompt with its "Enter privately" button is shown again.
                    self.say(turn.channel, lang, "discord-secret-in-modal")
                        .await;
                    let again = self.core.current_prompt(&chat).await;
                    if let Ok(Some(out)) = again {
                        self.send_turn(&chat, turn.channel, Ok(out)).await;
                    }
                    return;
                }
                Input::Text(text)
            }
            TurnKind::Secret(text) => {
                if !secret_step {
                    self.say(turn.channel, lang, "discord-form-stale").await;
                    return;
                }
                Input::Text(text)
            }
        };
        let out = self.core.handle(&chat, input).await;
        self.send_turn(&chat, turn.channel, out).await;
    }

    /// Sends a turn's replies; on a failed turn, a translated apology.
    async fn send_turn(&self, chat: &ChatRef, channel: ChannelId, out: anyhow::Result<TurnOutput>) {
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "discord: turn failed");
                let lang = self
                    .core
                    .language(chat, Lang::default())
                    .await
                    .unwrap_or_default();
                self.say(channel, lang, "console-error").await;
                return;
            }
        };
        let last = out.replies.len().saturating_sub(1);
        for (i, reply) in out.replies.iter().enumerate() {
            let rendered = self.l10n.render(out.lang, reply);
            if let Some(qr) = &rendered.qr {
                self.send_qr(channel, qr).await;
            }
            let secret = rendered.secret || (i == last && out.expects_secret);
            let mut text = rendered.text;
            let mut buttons = rendered.buttons;
            if secret {
                text.push_str("\n\n");
                text.push_str(&self.l10n.text(out.lang, &Text::new("discord-secret-note")));
                buttons.insert(
                    0,
                    RenderedButton {
                        id: SECRET_ID.into(),
                        label: self
                            .l10n
                            .text(out.lang, &Text::new("discord-secret-button")),
                    },
                );
            }
            let parts = split_content(&text);
            let last_part = parts.len().saturating_sub(1);
            for (j, part) in parts.into_iter().enumerate() {
                let mut message = CreateMessage::new()
                    .content(part)
                    .allowed_mentions(CreateAllowedMentions::new());
                if j == last_part && !buttons.is_empty() {
                    message = message.components(button_rows(&buttons));
                }
                match self
                    .rest
                    .send_message(channel.get(), &message, Repeat::Transient)
                    .await
                {
                    Ok(sent) if secret && j == last_part => {
                        self.remember_prompt(channel, sent.id);
                    }
                    Ok(_) => {}
                    Err(e) if e.is_gone() => {
                        tracing::info!(
                            "discord: the user can't be messaged any more; ending the conversation"
                        );
                        let _ = self.core.handle(chat, Input::Button("cancel".into())).await;
                        return;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "discord: sending a reply failed");
                        return;
                    }
                }
            }
        }
    }

    /// Sends `qr` as a spoilered image and schedules its deletion. Failures are logged (without
    /// the URI) and leave the text reply to go out as usual.
    async fn send_qr(&self, channel: ChannelId, qr: &QrCode) {
        let png = match super::qr::png(&qr.0) {
            Ok(png) => png,
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "discord: drawing a QR code failed"
                );
                return;
            }
        };
        // Not retried after a network error or 5xx: the image may have arrived all the same,
        // and a second one would stay in the chat undeleted, secret and all.
        let payload = serde_json::json!({
            "attachments": [{"id": 0, "filename": QR_FILE_NAME}],
            "allowed_mentions": {"parse": []},
        });
        let file = File {
            name: QR_FILE_NAME.into(),
            bytes: png,
        };
        match self
            .rest
            .send_files(channel.get(), &payload, vec![file], Repeat::RateLimitOnly)
            .await
        {
            Ok(sent) => self.delete_later(channel, sent.id),
            Err(e) => tracing::error!(error = %e, "discord: sending a QR code failed"),
        }
    }

    /// Deletes a QR code image after the QR lifetime, or at once on shutdown.
    fn delete_later(&self, channel: ChannelId, message: MessageId) {
        let lifetime = Duration::from_millis(self.qr_lifetime_ms.load(Ordering::Relaxed));
        let rest = self.rest();
        let delete = async move {
            match rest.delete_message(channel.get(), message.get()).await {
                Ok(()) => tracing::debug!("discord: QR code image deleted"),
                Err(e) => {
                    tracing::warn!(error = %e, "discord: could not delete a QR code image")
                }
            }
        };
        super::qr::delete_after(&self.qr_deletions, lifetime, self.shutdown.clone(), delete);
    }

    async fn say(&self, channel: ChannelId, lang: Lang, id: &'static str) {
        let message = CreateMessage::new()
            .content(self.l10n.text(lang, &Text::new(id)))
            .allowed_mentions(CreateAllowedMentions::new());
        if let Err(e) = self
            .rest
            .send_message(channel.get(), &message, Repeat::Transient)
            .await
        {
            tracing::warn!(error = %e, "discord: sending a notice failed");
        }
    }
}

/// serenity's own HTTP client, for the gateway client: it asks `GET /gateway` for the gateway's
/// address, at `api_url`. serenity ignores the base while its rate limiter is on, so the limiter
/// is off; everything else goes through [`Rest`], which limits by itself.
fn gateway_http(token: &str, api_url: &str) -> anyhow::Result<Http> {
    let base = reqwest::Url::parse(api_url).context("discord.api_url")?;
    let base = base.as_str().trim_end_matches('/').to_string();
    Ok(HttpBuilder::new(token)
        .proxy(base)
        .ratelimiter_disabled(true)
        .build())
}

/// serenity hands every event to a task of its own; they go to [`Discord`].
struct Gateway(Arc<Discord>);

#[serenity::async_trait]
impl EventHandler for Gateway {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        let _ = self.0.bot_id.set(ready.user.id);
        tracing::info!(bot = %ready.user.name, "discord: gateway ready");
    }

    async fn message(&self, _ctx: Context, msg: Message) {
        self.0.on_message(msg).await;
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        self.0.on_interaction(interaction).await;
    }
}

#[async_trait::async_trait]
impl Handle<Turn> for Discord {
    async fn handle(&self, turn: Turn) {
        self.run_turn(turn).await;
    }
}

/// Results that arrive later (a call answered, a push approved) are sent as messages of their
/// own, as soon as the core has run their turn.
#[async_trait::async_trait]
impl Outbound for Discord {
    async fn deliver(&self, chat: &ChatRef, out: TurnOutput) {
        let Some(channel) = chat
            .conversation
            .strip_prefix("discord:")
            .and_then(|id| id.parse::<u64>().ok())
            .filter(|id| *id != 0)
        else {
            tracing::error!("discord: late result for a conversation that is not a Discord DM");
            return;
        };
        self.send_turn(chat, ChannelId::new(channel), Ok(out)).await;
    }
}

fn chat_ref(channel: ChannelId, user: UserId) -> ChatRef {
    ChatRef::new(format!("discord:{channel}"), format!("discord:user:{user}"))
}

/// An agent as the core knows them: `discord:<user id>`, and their name in Discord.
fn agent_of(user: &User) -> Agent {
    let name = user
        .global_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| user.name.clone());
    Agent {
        id: format!("discord:{}", user.id),
        name,
    }
}

/// The modal a secret is typed into; `question` (the prompt's first line) is shown in the empty
/// field, so the user sees what is asked.
fn secret_modal(l10n: &Localizer, lang: Lang, question: &str) -> CreateModal {
    let title = clip(
        &l10n.text(lang, &Text::new("discord-modal-title")),
        MAX_MODAL_TITLE,
    );
    let label = clip(
        &l10n.text(lang, &Text::new("discord-modal-label")),
        MAX_MODAL_TITLE,
    );
    let mut input = CreateInputText::new(InputTextStyle::Short, label, SECRET_INPUT_ID)
        .required(true)
        .min_length(1)
        .max_length(MAX_SECRET);
    let question = question.lines().next().unwrap_or_default().trim();
    if !question.is_empty() {
        input = input.placeholder(clip(question, MAX_PLACEHOLDER));
    }
    CreateModal::new(SECRET_ID, title).components(vec![CreateActionRow::InputText(input)])
}

/// The text of input `id` in a modal's submit; None when it is missing or empty.
fn modal_value(m: &ModalInteraction, id: &str) -> Option<String> {
    m.data
        .components
        .iter()
        .flat_map(|row| row.components.iter())
        .find_map(|c| match c {
            ActionRowComponent::InputText(input) if input.custom_id == id => input.value.clone(),
            _ => None,
        })
        .filter(|v| !v.trim().is_empty())
}

/// The reply's buttons as action rows: one per row up to five, else as evenly as Discord's five
/// rows of five allow. Buttons beyond 25 (never made by the engine) are left out and logged.
pub fn button_rows(buttons: &[RenderedButton]) -> Vec<CreateActionRow> {
    let usable: Vec<&RenderedButton> = buttons
        .iter()
        .filter(|b| {
            let fits = !b.id.is_empty() && b.id.len() <= MAX_CUSTOM_ID;
            if !fits {
                tracing::error!(button = %b.id, "discord: button id longer than 100 bytes left out");
            }
            fits
        })
        .take(MAX_ROWS * MAX_ROW_BUTTONS)
        .collect();
    if usable.len() < buttons.len() {
        tracing::error!(
            buttons = buttons.len(),
            "discord: more buttons than a message holds; some left out"
        );
    }
    let per_row = usable.len().div_ceil(MAX_ROWS).max(1);
    usable
        .chunks(per_row)
        .map(|chunk| {
            CreateActionRow::Buttons(
                chunk
                    .iter()
                    .map(|b| {
                        CreateButton::new(b.id.clone())
                            .label(clip(&b.label, MAX_LABEL))
                            .style(style_of(&b.id))
                    })
                    .collect(),
            )
        })
        .collect()
}

fn style_of(id: &str) -> ButtonStyle {
    match id {
        SECRET_ID => ButtonStyle::Success,
        "cancel" => ButtonStyle::Secondary,
        _ => ButtonStyle::Primary,
    }
}

/// A used message's buttons, all disabled; the chosen one (if any) stays coloured, the rest grey.
pub fn used_rows(message: &Message, chosen: Option<&str>) -> Vec<CreateActionRow> {
    message
        .components
        .iter()
        .filter_map(|row| {
            let buttons: Vec<CreateButton> = row
                .components
                .iter()
                .filter_map(|c| match c {
                    ActionRowComponent::Button(b) => match &b.data {
                        ButtonKind::NonLink { custom_id, .. } => {
                            let style = if Some(custom_id.as_str()) == chosen {
                                ButtonStyle::Success
                            } else {
                                ButtonStyle::Secondary
                            };
                            let mut button = CreateButton::new(custom_id.clone())
                                .style(style)
                                .disabled(true);
                            if let Some(label) = &b.label {
                                button = button.label(label.clone());
                            }
                            if let Some(emoji) = &b.emoji {
                                button = button.emoji(emoji.clone());
                            }
                            Some(button)
                        }
                        _ => None,
                    },
                    _ => None,
                })
                .collect();
            (!buttons.is_empty()).then_some(CreateActionRow::Buttons(buttons))
        })
        .collect()
}

fn ephemeral(l10n: &Localizer, lang: Lang, id: &'static str) -> CreateInteractionResponse {
    CreateInteractionResponse::Message(
        CreateInteractionResponseMessage::new()
            .content(l10n.text(lang, &Text::new(id)))
            .ephemeral(true),
    )
}

/// `text` in pieces of at most [`MAX_CONTENT`] characters, cut at line ends where possible.
pub fn split_content(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.chars().count() > MAX_CONTENT {
        let cut = rest
            .char_indices()
            .nth(MAX_CONTENT)
            .map_or(rest.len(), |(i, _)| i);
        let head = &rest[..cut];
        let at = head.rfind('\n').filter(|i| *i > 0).map_or(cut, |i| i + 1);
        parts.push(rest[..at].trim_end().to_string());
        rest = &rest[at..];
    }
    if !rest.trim().is_empty() || parts.is_empty() {
        parts.push(rest.to_string());
    }
    parts
}

/// `s` cut to `max` characters, with "…" when cut.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A message's text without user mentions (`<@123>`, `<@!123>`), trimmed.
fn strip_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<@") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let after = after.strip_prefix('!').unwrap_or(after);
        match after.find('>') {
            Some(end) if end > 0 && after[..end].bytes().all(|b| b.is_ascii_digit()) => {
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("<@");
                rest = &rest[start + 2..];
            }
        }
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_map_to_dutch_or_english() {
        assert_eq!(lang_from_locale(Some("nl")), Lang::Nl);
        assert_eq!(lang_from_locale(Some("en-US")), Lang::En);
        assert_eq!(lang_from_locale(Some("de")), Lang::En);
        assert_eq!(lang_from_locale(Some("")), Lang::Nl);
        assert_eq!(lang_from_locale(None), Lang::Nl);
    }

    fn buttons(n: usize) -> Vec<RenderedButton> {
        (0..n)
            .map(|i| RenderedButton {
                id: format!("b{i}"),
                label: format!("Button {i}"),
            })
            .collect()
    }

    fn shape(rows: &[CreateActionRow]) -> Vec<usize> {
        rows.iter()
            .map(|r| {
                let v = serde_json::to_value(r).unwrap();
                v["components"].as_array().unwrap().len()
            })
            .collect()
    }

    #[test]
    fn buttons_fit_discords_five_rows_of_five() {
        assert_eq!(shape(&button_rows(&buttons(3))), vec![1, 1, 1]);
        assert_eq!(shape(&button_rows(&buttons(5))), vec![1; 5]);
        assert_eq!(shape(&button_rows(&buttons(7))), vec![2, 2, 2, 1]);
        assert_eq!(shape(&button_rows(&buttons(30))), vec![5; 5]);
        let long = vec![RenderedButton {
            id: "x".repeat(101),
            label: "too long".into(),
        }];
        assert!(button_rows(&long).is_empty());
        let label = serde_json::to_value(
            &button_rows(&[RenderedButton {
                id: "a".into(),
                label: "é".repeat(100),
            }])[0],
        )
        .unwrap();
        assert_eq!(
            label["components"][0]["label"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            MAX_LABEL
        );
    }

    #[test]
    fn long_text_is_split_at_line_ends_within_the_limit() {
        let line = "x".repeat(150);
        let text = vec![line.as_str(); 30].join("\n");
        let parts = split_content(&text);
        assert!(parts.len() >= 2);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_CONTENT));
        assert_eq!(parts.join("\n"), text);
        let one = "y".repeat(4500);
        let parts = split_content(&one);
        assert_eq!(parts.concat(), one);
        assert_eq!(split_content("kort"), vec!["kort".to_string()]);
    }

    #[test]
    fn mentions_are_stripped_from_agent_replies() {
        assert_eq!(strip_mentions("<@123> Bel je zo"), "Bel je zo");
        assert_eq!(strip_mentions("Hoi <@!42>, klaar"), "Hoi , klaar");
        assert_eq!(strip_mentions("a <@x> b"), "a <@x> b");
        assert_eq!(strip_mentions("<@1>"), "");
    }

    #[test]
    fn the_secret_modal_is_within_discords_limits() {
        let l10n = Localizer::new().unwrap();
        for lang in [Lang::Nl, Lang::En] {
            let question = format!("{}\nmore", "Kies een nieuw wachtwoord. ".repeat(10));
            let v = serde_json::to_value(secret_modal(&l10n, lang, &question)).unwrap();
            assert_eq!(v["custom_id"], SECRET_ID);
            assert!(v["title"].as_str().unwrap().chars().count() <= MAX_MODAL_TITLE);
            let input = &v["components"][0]["components"][0];
            assert_eq!(input["type"], 4);
            assert_eq!(input["custom_id"], SECRET_INPUT_ID);
            assert_eq!(input["max_length"], 256);
            assert!(input["label"].as_str().unwrap().chars().count() <= MAX_MODAL_TITLE);
            let placeholder = input["placeholder"].as_str().unwrap();
            assert_eq!(placeholder.chars().count(), MAX_PLACEHOLDER);
            assert!(
                placeholder.starts_with("Kies een nieuw wachtwoord.")
                    && !placeholder.contains("more")
            );
        }
    }
}
