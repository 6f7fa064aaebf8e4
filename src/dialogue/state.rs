use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{LoginName, Method, Reason};

/// Bumped when the persisted shape changes; a stored conversation of another version is dropped
/// and starts over (it is at most 15 minutes of someone's time, never a security decision).
pub const CONVERSATION_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// The guide's language and the default.
    #[default]
    Nl,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Nl => "nl",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_lowercase().as_str() {
            "nl" | "nederlands" | "dutch" | "nl-nl" | "nl-be" => Some(Lang::Nl),
            "en" | "english" | "engels" | "en-us" | "en-gb" => Some(Lang::En),
            _ => None,
        }
    }
}

/// A conversation as stored between turns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub version: u32,
    pub lang: Lang,
    pub state: State,
    /// Time of the last input; a recovery idle for longer than 15 minutes expires.
    pub last_seen: Option<DateTime<Utc>>,
}

impl Conversation {
    pub fn new(lang: Lang) -> Self {
        Self {
            version: CONVERSATION_VERSION,
            lang,
            state: State::Idle,
            last_seen: None,
        }
    }
}

/// A method the account may use, with the masked hint the guide shows (`*****66`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub method: Method,
    pub hint: Option<String>,
}

/// What a recovery has collected so far. The core keeps its own record of passed methods too;
/// this copy drives the conversation, that one authorises the reset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovery {
    pub id: String,
    pub login: LoginName,
    pub reason: Reason,
    pub offers: Vec<Offer>,
    pub passed: Vec<Method>,
    /// "I don't have my phone": only methods that need no phone are offered.
    pub no_phone: bool,
    /// A helpdesk agent, having talked to the user, lets them finish without two methods (the
    /// core's record says which agent; this copy only drives the conversation).
    #[serde(default)]
    pub approved_by_agent: bool,
}

impl Recovery {
    /// Methods that can still be chosen: registered, not passed yet, and usable without a phone
    /// when the user said they have none.
    pub fn available(&self) -> Vec<&Offer> {
        self.offers
            .iter()
            // A method whose factor already passed (a call after the SMS) adds nothing.
            .filter(|o| !self.passed.iter().any(|p| p.factor() == o.method.factor()))
            .filter(|o| !(self.no_phone && o.method.needs_phone()))
            .collect()
    }

    pub fn offer(&self, method: Method) -> Option<&Offer> {
        self.offers.iter().find(|o| o.method == method)
    }

    pub fn hint(&self, method: Method) -> String {
        self.offer(method)
            .and_then(|o| o.hint.clone())
            .unwrap_or_default()
    }
}

/// A method an employee registers themselves (the guide's companion document). SMS and call
/// share one registration: the mobile number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enrol {
    Email,
    Mobile,
    Questions,
    Totp,
    Push,
}

impl Enrol {
    pub const ALL: [Enrol; 5] = [
        Enrol::Email,
        Enrol::Mobile,
        Enrol::Questions,
        Enrol::Totp,
        Enrol::Push,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Enrol::Email => "email",
            Enrol::Mobile => "mobile",
            Enrol::Questions => "questions",
            Enrol::Totp => "totp",
            Enrol::Push => "push",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.id() == id)
    }
}

/// One line of the registration menu: what is registered, masked, and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    pub what: Enrol,
    pub registered: bool,
    /// The masked address or number (`ja*****@pr*****.example`, `*****66`).
    pub hint: Option<String>,
    /// Read from the company directory (AD `mobile`, `otherMailbox`), not registered here.
    pub from_directory: bool,
}

/// A registration of methods in progress. The core keeps its own record (the `enrolments` table)
/// of whether the work mailbox was proven; that record, not this copy, authorises each change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registering {
    pub id: String,
    pub login: LoginName,
    /// Empty until the work mailbox is proven.
    pub methods: Vec<Registered>,
    /// The methods were last confirmed longer ago than the configured number of days.
    pub confirm_due: bool,
}

/// One variant per step of the guide; each carries what that step needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum State {
    /// Nothing going on; any message starts (guide step 1).
    Idle,
    /// Step 2.
    AskLogin,
    /// Step 3.
    AskReason { login: LoginName },
    /// Waiting for the core to open the recovery.
    Starting { login: LoginName, reason: Reason },
    /// Step 4: choose the first or second method.
    ChooseMethod { rec: Recovery },
    /// Steps 6a/7a: type the full mobile number.
    EnterPhone { rec: Recovery, method: Method },
    /// Steps 5b/6b: type the code from the e-mail or SMS.
    EnterCode { rec: Recovery, method: Method },
    /// Step 7b: the phone is ringing; `#` confirms.
    AwaitCall { rec: Recovery },
    /// Step 9: approve in the app, picking `number`.
    AwaitPush { rec: Recovery, number: u32 },
    /// Step 8: question `index` of `question_ids`.
    Answering {
        rec: Recovery,
        question_ids: Vec<String>,
        index: usize,
    },
    /// Step 10.
    EnterTotp { rec: Recovery },
    /// Step 11a: the new password.
    NewPassword { rec: Recovery },
    /// Step 11a: the same password again; `digest` is the core's keyed digest of the first entry.
    ConfirmPassword { rec: Recovery, digest: String },
    /// Registration: which account.
    RegAskLogin,
    /// Registration: waiting for the core to open it and mail the work address.
    RegStarting { login: LoginName },
    /// Registration: the code from the work mailbox (`hint`: the masked work address).
    RegProveWork { reg: Registering, hint: String },
    /// Registration: what is registered, and what to add or change.
    RegMenu { reg: Registering },
    /// Registration: type the new alternate e-mail address.
    RegEnterEmail { reg: Registering },
    /// Registration: type the new mobile number.
    RegEnterMobile { reg: Registering },
    /// Registration: the code sent to the new address or number.
    RegEnterCode {
        reg: Registering,
        what: Enrol,
        hint: String,
    },
    /// Registration: choose questions from `offered` until three are `chosen`.
    RegPickQuestions {
        reg: Registering,
        offered: Vec<String>,
        chosen: Vec<String>,
    },
    /// Registration: the answer to question `index` of `question_ids`.
    RegAnswer {
        reg: Registering,
        question_ids: Vec<String>,
        index: usize,
    },
    /// Registration: a first code from the authenticator app just set up.
    RegTotp { reg: Registering },
    /// Talking to (or waiting for) a person at the helpdesk; what the user types is relayed.
    Handoff {
        handoff_id: String,
        login: Option<LoginName>,
        /// An agent took it (by this name).
        agent: Option<String>,
    },
    /// The desk is closed: a callback request may be left.
    DeskClosed { login: Option<LoginName> },
}

impl State {
    pub fn recovery(&self) -> Option<&Recovery> {
        match self {
            State::ChooseMethod { rec }
            | State::EnterPhone { rec, .. }
            | State::EnterCode { rec, .. }
            | State::AwaitCall { rec }
            | State::AwaitPush { rec, .. }
            | State::Answering { rec, .. }
            | State::EnterTotp { rec }
            | State::NewPassword { rec }
            | State::ConfirmPassword { rec, .. } => Some(rec),
            _ => None,
        }
    }

    pub fn registering(&self) -> Option<&Registering> {
        match self {
            State::RegProveWork { reg, .. }
            | State::RegMenu { reg }
            | State::RegEnterEmail { reg }
            | State::RegEnterMobile { reg }
            | State::RegEnterCode { reg, .. }
            | State::RegPickQuestions { reg, .. }
            | State::RegAnswer { reg, .. }
            | State::RegTotp { reg } => Some(reg),
            _ => None,
        }
    }

    /// Whether the user's next message is a secret (answer, password).
    pub fn expects_secret(&self) -> bool {
        matches!(
            self,
            State::Answering { .. }
                | State::NewPassword { .. }
                | State::ConfirmPassword { .. }
                | State::RegAnswer { .. }
        )
    }

    /// Whether there is something to lose (and so something to expire).
    pub fn in_progress(&self) -> bool {
        !matches!(self, State::Idle)
    }
}
