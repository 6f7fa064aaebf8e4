//! The ICT Servicedesk's Discord channel as a [`Desk`] (config `helpdesk.discord_channel_id`):
//! a card per handoff with the buttons agents press (claim, unlock, send a reset, close, and
//! "Message the user"), and the user's messages posted as replies to that card.
//!
//! - the card's message id is the handoff's `desk_ref`; a button carries the full handoff id
//!   (`hd:<action>:<id>` as in Telegram, `hdmsg:<id>` for the message modal; Discord allows 100
//!   characters);
//! - an agent writes to the user through "Message the user", a modal with a text field (no
//!   privileged intent needed), or by replying to the card or a relayed message and mentioning
//!   the bot (Discord shows a bot the text of server messages that mention it). The channel
//!   ([`crate::channels::discord`]) finds the handoff through [`HandoffThreads`], as in Telegram;
//! - the outcome of an agent's button is an ephemeral message only that agent sees;
//! - nothing the desk posts can ping anyone (no allowed mentions): a user's relayed text with
//!   `@everyone` stays text.
//!
//! Texts are in the desk's language (Dutch by default), times in the desk's time zone. A card
//! holds methods and times, never a code, answer or password; no message body is ever logged.

use std::sync::Arc;

use async_trait::async_trait;
use chrono_tz::Tz;
use serenity::all::{
    ButtonStyle, CreateActionRow, CreateAllowedMentions, CreateButton, CreateInputText,
    CreateMessage, CreateModal, EditMessage, InputTextStyle, MessageReference,
};

use super::desk::{AgentAction, Desk, HandoffCard};
use super::telegram_desk::{
    account_text, callback_data, default_time_zone, CardText, HandoffThreads,
};
use crate::channels::discord::{clip, Repeat, Rest, MAX_CONTENT, MAX_MODAL_TITLE};
use crate::dialogue::{Lang, Text};
use crate::i18n::Localizer;

/// What the "Message the user" button's id starts with (`hdmsg:<handoff id>`); also the id of
/// the modal it opens.
pub const MESSAGE_PREFIX: &str = "hdmsg:";
/// The text input's id in the message modal.
pub const MESSAGE_INPUT_ID: &str = "message";
/// Longest agent message: a message's content.
const MAX_AGENT_MESSAGE: u16 = 2000;

/// The handoff id of a "Message the user" button or modal (`hdmsg:<id>`): 1–64 letters, digits
/// or dashes, else None (modified clients may send anything).
pub fn parse_message_button(data: &str) -> Option<&str> {
    let id = data.strip_prefix(MESSAGE_PREFIX)?;
    let valid =
        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    valid.then_some(id)
}

/// The modal an agent types a message for the user into.
pub fn message_modal(l10n: &Localizer, lang: Lang, handoff_id: &str) -> CreateModal {
    let title = clip(
        &l10n.text(lang, &Text::new("hd-discord-modal-title")),
        MAX_MODAL_TITLE,
    );
    let label = clip(
        &l10n.text(lang, &Text::new("hd-discord-modal-label")),
        MAX_MODAL_TITLE,
    );
    CreateModal::new(format!("{MESSAGE_PREFIX}{handoff_id}"), title).components(vec![
        CreateActionRow::InputText(
            CreateInputText::new(InputTextStyle::Paragraph, label, MESSAGE_INPUT_ID)
                .required(true)
                .min_length(1)
                .max_length(MAX_AGENT_MESSAGE),
        ),
    ])
}

/// The card's buttons: Claim (until claimed), Unlock and Reset, Close, and Message the user.
pub fn card_buttons(
    l10n: &Localizer,
    lang: Lang,
    handoff_id: &str,
    claimed: bool,
) -> Vec<CreateActionRow> {
    let button = |action: AgentAction, label: &'static str, style: ButtonStyle| {
        CreateButton::new(
            callback_data(&action, handoff_id).expect("buttons are for actions other than Message"),
        )
        .label(l10n.text(lang, &Text::new(label)))
        .style(style)
    };
    let mut first = Vec::new();
    if !claimed {
        first.push(button(
            AgentAction::Claim,
            "hd-button-claim",
            ButtonStyle::Primary,
        ));
    }
    first.push(
        CreateButton::new(format!("{MESSAGE_PREFIX}{handoff_id}"))
            .label(l10n.text(lang, &Text::new("hd-discord-button-message")))
            .style(ButtonStyle::Primary),
    );
    vec![
        CreateActionRow::Buttons(first),
        CreateActionRow::Buttons(vec![
            button(
                AgentAction::Unlock,
                "hd-button-unlock",
                ButtonStyle::Secondary,
            ),
            button(
                AgentAction::SendReset,
                "hd-button-reset",
                ButtonStyle::Secondary,
            ),
            button(AgentAction::Close, "hd-button-close", ButtonStyle::Success),
        ]),
    ]
}

/// The helpdesk's Discord channel.
pub struct DiscordDesk {
    rest: Arc<Rest>,
    channel: u64,
    l10n: Arc<Localizer>,
    lang: Lang,
    tz: Tz,
    threads: Arc<HandoffThreads<u64>>,
}

impl DiscordDesk {
    /// A desk posting with `rest` (the Discord channel's, see
    /// [`crate::channels::discord::Discord::helpdesk_desk`]) into channel `channel_id`; Dutch
    /// texts, Amsterdam times.
    pub fn new(rest: Arc<Rest>, channel_id: u64, l10n: Arc<Localizer>) -> Self {
        Self {
            rest,
            channel: channel_id,
            l10n,
            lang: Lang::Nl,
            tz: default_time_zone(),
            threads: HandoffThreads::new(),
        }
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

    /// Shares the map of channel messages to handoffs with the channel that reads agents'
    /// replies.
    pub fn with_threads(mut self, threads: Arc<HandoffThreads<u64>>) -> Self {
        self.threads = threads;
        self
    }

    /// The card's text: the facts, and while open a line on how to answer the user.
    fn card_message(&self, card: &HandoffCard) -> (String, CardText) {
        let view = CardText::new(&self.l10n, self.lang, self.tz, card);
        let text = view.message(&self.l10n, self.lang, "hd-discord-card-hint");
        (clip(&text, MAX_CONTENT), view)
    }

    /// The card's message: the one this process posted, else the desk reference.
    fn card_message_id(&self, desk_ref: Option<&str>, handoff_id: &str) -> Option<u64> {
        self.threads
            .card_or_ref(handoff_id, desk_ref)
            .filter(|id| *id != 0)
    }
}

#[async_trait]
impl Desk for DiscordDesk {
    fn name(&self) -> &'static str {
        "discord"
    }

    async fn post(&self, card: &HandoffCard) -> anyhow::Result<Option<String>> {
        let (text, view) = self.card_message(card);
        let message = CreateMessage::new()
            .content(text)
            .components(card_buttons(
                &self.l10n,
                self.lang,
                &card.handoff_id,
                view.claimed,
            ))
            .allowed_mentions(CreateAllowedMentions::new());
        // Only a 429 is sure to have sent nothing: a second card after a network error would
        // leave agents two cards for one handoff.
        let sent = self
            .rest
            .send_message(self.channel, &message, Repeat::RateLimitOnly)
            .await
            .map_err(|e| anyhow::anyhow!("discord desk: posting a card failed: {e}"))?;
        self.threads.remember(sent.id.get(), &card.handoff_id, true);
        Ok(Some(sent.id.get().to_string()))
    }

    async fn update(&self, desk_ref: Option<&str>, card: &HandoffCard) -> anyhow::Result<()> {
        let Some(message_id) = self.card_message_id(desk_ref, &card.handoff_id) else {
            tracing::debug!("discord desk: no card to update");
            return Ok(());
        };
        let (text, view) = self.card_message(card);
        // A closed card keeps no buttons.
        let components = if view.open {
            card_buttons(&self.l10n, self.lang, &card.handoff_id, view.claimed)
        } else {
            Vec::new()
        };
        let edit = EditMessage::new()
            .content(text)
            .components(components)
            .allowed_mentions(CreateAllowedMentions::new());
        self.rest
            .edit_message(self.channel, message_id, &edit)
            .await
            .map_err(|e| anyhow::anyhow!("discord desk: updating a card failed: {e}"))?;
        Ok(())
    }

    async fn relay(
        &self,
        desk_ref: Option<&str>,
        card: &HandoffCard,
        text: &str,
    ) -> anyhow::Result<()> {
        let message = self.l10n.text(
            self.lang,
            &Text::new("hd-relay")
                .arg("ref", card.short_ref())
                .arg(
                    "account",
                    account_text(&self.l10n, self.lang, card.account.as_deref()),
                )
                .arg("text", text.to_string()),
        );
        let mut create = CreateMessage::new()
            .content(clip(&message, MAX_CONTENT))
            .allowed_mentions(CreateAllowedMentions::new());
        if let Some(card_message) = self.card_message_id(desk_ref, &card.handoff_id) {
            // Under the card, so agents see the thread; still sent if the card is gone.
            create = create.reference_message(
                MessageReference::from((
                    serenity::all::ChannelId::new(self.channel.max(1)),
                    serenity::all::MessageId::new(card_message),
                ))
                .fail_if_not_exists(false),
            );
        }
        let sent = self
            .rest
            .send_message(self.channel, &create, Repeat::Transient)
            .await
            .map_err(|e| anyhow::anyhow!("discord desk: relaying a message failed: {e}"))?;
        self.threads
            .remember(sent.id.get(), &card.handoff_id, false);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_buttons_parse_only_handoff_ids() {
        assert_eq!(parse_message_button("hdmsg:3fa2c1-d4"), Some("3fa2c1-d4"));
        assert_eq!(parse_message_button("hdmsg:"), None);
        assert_eq!(parse_message_button("hdmsg:a b"), None);
        assert_eq!(
            parse_message_button(&format!("hdmsg:{}", "a".repeat(65))),
            None
        );
        assert_eq!(parse_message_button("hd:claim:abc"), None);
    }

    #[test]
    fn card_buttons_carry_the_handoff_and_fit_discord() {
        let l10n = Localizer::new().unwrap();
        let id = "3fa2c1d4e5f60718293a4b5c6d7e8f90";
        let rows = serde_json::to_value(card_buttons(&l10n, Lang::Nl, id, false)).unwrap();
        let ids: Vec<String> = rows
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["components"].as_array().unwrap().clone())
            .map(|b| b["custom_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            ids,
            vec![
                format!("hd:claim:{id}"),
                format!("hdmsg:{id}"),
                format!("hd:unlock:{id}"),
                format!("hd:reset:{id}"),
                format!("hd:close:{id}"),
            ]
        );
        assert!(ids.iter().all(|i| i.len() <= 100));
        let claimed = serde_json::to_value(card_buttons(&l10n, Lang::Nl, id, true)).unwrap();
        assert_eq!(claimed[0]["components"].as_array().unwrap().len(), 1);
        let modal = serde_json::to_value(message_modal(&l10n, Lang::En, id)).unwrap();
        assert_eq!(modal["custom_id"], format!("hdmsg:{id}"));
        assert_eq!(modal["components"][0]["components"][0]["style"], 2);
    }
}
