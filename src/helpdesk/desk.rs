//! Where handoffs go: the ICT Servicedesk's Telegram group, its Discord channel, a Teams channel
//! (Workflows webhook), or several. A desk shows a card per handoff and relays the user's
//! messages to the agent; agents act through the Telegram group or the Discord channel
//! ([`crate::recovery::Core::agent_action`]).

use async_trait::async_trait;

use crate::dialogue::Lang;

/// What the desk sees of a handoff: who, in which language, on which platform, and what was
/// verified or failed when. Never a code, answer or password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandoffCard {
    pub handoff_id: String,
    /// `live` (someone waits in the chat), `callback` (asked outside office hours) or `urgent`
    /// ("this wasn't me").
    pub kind: String,
    pub account: Option<String>,
    pub lang: Lang,
    /// `telegram`, `teams`, `discord`, `console`, …
    pub platform: String,
    /// Methods that passed in the recovery, with the time (Unix seconds).
    pub passed: Vec<(String, i64)>,
    /// Checks that failed (method or check, time).
    pub failed: Vec<(String, i64)>,
    /// Why the user asked, e.g. `locked_out`, `no_method`, `asked` (a word, not user text).
    pub reason: String,
    pub created_at: i64,
    /// `waiting`, `claimed by <name>`, `closed`, … for updates of the card.
    pub status: String,
}

impl HandoffCard {
    /// The short reference agents see and type (`#3fa2c1`).
    pub fn short_ref(&self) -> String {
        short_ref(&self.handoff_id)
    }
}

/// The first six characters of a handoff id, as shown on cards.
pub fn short_ref(handoff_id: &str) -> String {
    format!("#{}", handoff_id.chars().take(6).collect::<String>())
}

#[async_trait]
pub trait Desk: Send + Sync {
    /// A name for logs (`telegram`, `discord`, `teams`).
    fn name(&self) -> &'static str;
    /// Posts a new handoff; returns the desk's own reference for the card (Telegram: the message
    /// id), used to find the handoff when an agent answers the card.
    async fn post(&self, card: &HandoffCard) -> anyhow::Result<Option<String>>;
    /// The card changed (claimed, closed, timed out): show it.
    async fn update(&self, desk_ref: Option<&str>, card: &HandoffCard) -> anyhow::Result<()>;
    /// A message the user typed during the handoff, for the agent.
    async fn relay(
        &self,
        desk_ref: Option<&str>,
        card: &HandoffCard,
        text: &str,
    ) -> anyhow::Result<()>;
}

/// Who acts on a handoff: `telegram:<user id>`, `discord:<user id>` (or `teams:<aad object id>`)
/// and a display name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agent {
    pub id: String,
    pub name: String,
}

/// What an agent does with a handoff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentAction {
    Claim,
    /// A message for the user.
    Message(String),
    /// Unlock the account in the directory.
    Unlock,
    /// Let the user set a new password in their chat now (the normal final step).
    SendReset,
    Close,
}

impl AgentAction {
    pub fn id(&self) -> &'static str {
        match self {
            AgentAction::Claim => "claim",
            AgentAction::Message(_) => "message",
            AgentAction::Unlock => "unlock",
            AgentAction::SendReset => "send_reset",
            AgentAction::Close => "close",
        }
    }
}

/// What came of an agent's action, for the desk to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentOutcome {
    Done,
    /// The agent is not in `helpdesk.agents`: nothing was done.
    NotAnAgent,
    UnknownHandoff,
    /// Claimed by another agent (their name), or not claimed yet: claim it first.
    NotYours(Option<String>),
    Closed,
    /// The handoff has no account (the user never gave a login name).
    NoAccount,
    /// The directory refused or is down.
    Failed(String),
}

/// The helpdesk as configured: when it is open, its phone number, who may act on handoffs,
/// where handoffs go, and how long a handoff may wait for an agent.
#[derive(Clone)]
pub struct Helpdesk {
    pub hours: super::hours::OfficeHours,
    pub phone: String,
    /// `telegram:<user id>` / `discord:<user id>` / `teams:<aad object id>` of the agents.
    pub agents: Vec<String>,
    pub desks: Vec<std::sync::Arc<dyn Desk>>,
    pub claim_timeout_secs: i64,
}

/// The guide's service desk number.
pub const DEFAULT_PHONE: &str = "020-40 777 55";

impl Default for Helpdesk {
    /// Mon–Fri 08:00–18:00 Europe/Amsterdam with the Dutch holidays, the guide's phone number,
    /// and no desk: asking for a person gives the phone number and the opening hours.
    fn default() -> Self {
        Self {
            hours: super::hours::OfficeHours::default_nl(),
            phone: DEFAULT_PHONE.into(),
            agents: Vec::new(),
            desks: Vec::new(),
            claim_timeout_secs: 10 * 60,
        }
    }
}

impl Helpdesk {
    pub fn is_agent(&self, id: &str) -> bool {
        self.agents.iter().any(|a| a == id)
    }
}
