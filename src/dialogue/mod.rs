//! The dialogue engine: the reset guide as a state machine, pure (sans-IO).
//!
//! [`step`] takes the conversation, one [`Input`] and the current time, and returns the next
//! conversation, the [`Reply`]s to show and the [`Effect`]s the recovery core must carry out. The
//! results of those effects come back as [`Input::Event`]s in the same turn. The engine never
//! does IO, never reads the clock, and never panics on input; it holds no secret in its state.

mod engine;
mod reply;
mod state;

pub use engine::{prompt, question_message, step, Step, IDLE_EXPIRY, QUESTION_IDS};
pub use reply::{Arg, Button, QrCode, Reply, Text};
pub use state::{
    Conversation, Enrol, Lang, Offer, Recovery, Registered, Registering, State,
    CONVERSATION_VERSION,
};

use crate::domain::{
    AnswerProblem, EmailAddress, LoginName, Method, OtpCode, PhoneNumber, PolicyViolation, Reason,
};

/// Text a user typed where the engine expects a secret (security answer, new password). Kept out
/// of `Debug` output and never copied into state or replies.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(******)")
    }
}

/// Everything that can move a conversation forward.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Text the user typed.
    Text(String),
    /// A button the user pressed, by its id.
    Button(String),
    /// The outcome of an effect, or a result that arrived later (a call answered, a push approved).
    Event(Event),
}

/// What the recovery core reports back to the engine.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A recovery was opened; `offers` are the methods this account may use (for an unknown
    /// account: a decoy set that looks the same).
    RecoveryStarted {
        recovery_id: String,
        offers: Vec<Offer>,
    },
    /// The core refused to go on (throttle, lockout).
    Refused(Refusal),
    CodeSent {
        method: Method,
    },
    /// The full number typed at step 6a/7a is not the registered one (counts as a failed check).
    NumberMismatch {
        method: Method,
    },
    CallPlaced,
    PushSent {
        number: u32,
    },
    QuestionsChosen {
        question_ids: Vec<String>,
    },
    /// A security answer was taken (no verdict until the third).
    AnswerNoted,
    /// The verdict on one method.
    Verified {
        method: Method,
        ok: bool,
    },
    /// The user pressed "deny" in the authenticator app.
    PushDenied,
    /// The push was not answered in time.
    PushExpired,
    /// The call ended before anyone answered it.
    CallEnded {
        why: CallEnd,
    },
    PasswordRejected {
        violations: Vec<PolicyViolation>,
    },
    /// The first entry met the policy; `digest` is a keyed digest to compare the confirmation with.
    PasswordAccepted {
        digest: String,
    },
    PasswordMismatch,
    PasswordReset,
    Unlocked,
    /// The directory refused the password for a rule of its own.
    DirectoryRefused {
        rule: DirectoryRule,
    },
    /// Something failed that is not the user's doing; nothing was changed.
    Unavailable,
    /// The directory cannot unlock (Entra's smart lockout ends by itself after a while).
    UnlockUnsupported,
    /// The verified recovery now ends with a new password instead of an unlock.
    SwitchedToReset,
    /// A registration was opened and a code sent to the work mailbox `hint` (masked). For an
    /// unknown account nothing is sent, and the reply is the same.
    EnrolmentStarted {
        enrolment_id: String,
        hint: String,
    },
    /// The work mailbox is proven: what the account has registered.
    MethodsShown {
        methods: Vec<Registered>,
        confirm_due: bool,
    },
    /// A code went to the new address or number being registered.
    EnrolCodeSent {
        what: Enrol,
        hint: String,
    },
    /// The code (work mailbox, new address, new number, authenticator) was not right.
    EnrolCodeWrong,
    /// The new alternate address is the work address (or another work address): refused.
    EnrolTargetRefused {
        what: Enrol,
    },
    /// The questions the employee may choose from.
    QuestionsOffered {
        question_ids: Vec<String>,
    },
    /// One new answer was taken (the set is saved after the last).
    AnswerTaken,
    AnswerRefused {
        problem: AnswerProblem,
    },
    /// A new authenticator secret, as a QR code to scan; it counts once a first code matches.
    TotpCreated {
        qr: QrCode,
    },
    /// The push provider knows no device of this account.
    PushNotEnrolled,
    /// A method was registered or changed; `methods` is the new overview.
    MethodSaved {
        what: Enrol,
        methods: Vec<Registered>,
    },
    MethodsConfirmed,
    /// A person at the helpdesk will take over: the handoff is open and posted to the desk.
    HandoffOpened {
        handoff_id: String,
    },
    /// The desk is closed now; it opens at `opening` (described for the user's time zone).
    DeskClosed {
        opening: Opening,
        phone: String,
    },
    /// No helpdesk can take a chat (none configured, or never open): call the phone number.
    NoDesk {
        phone: String,
    },
    /// A callback request was queued for when the desk opens.
    CallbackQueued {
        opening: Opening,
    },
    /// An agent took handoff `handoff_id` (a live one, or a callback request the user left
    /// earlier: the conversation then becomes that handoff).
    AgentJoined {
        handoff_id: String,
        name: String,
    },
    /// An agent's message for the user.
    AgentMessage {
        name: String,
        text: String,
    },
    /// The handoff ended: closed by the agent or the user, or nobody claimed it in time.
    HandoffEnded {
        timed_out: bool,
        phone: String,
    },
    /// The agent unlocked the account.
    AgentUnlocked,
    /// The agent lets the user set a new password now, in recovery `recovery_id`.
    AgentApprovedReset {
        recovery_id: String,
        login: LoginName,
    },
    /// "This wasn't me" was taken: recovery is blocked and the desk alerted.
    ReportedNotMe,
    /// The recovery finished without the phone: its methods are suspended until registered
    /// again (and the desk told).
    PhoneMethodsSuspended,
    /// After a recovery: the methods were last confirmed long ago; ask whether they are right.
    /// The core opened an enrolment for it, proven by the recovery's two methods.
    ReconfirmDue {
        enrolment_id: String,
        login: LoginName,
        methods: Vec<Registered>,
    },
}

/// Why the core will not go on right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Too many failed checks: recovery of this account is locked for `hours`.
    RecoveryLocked { hours: i64 },
    /// This chat user tried too many accounts or sent too much: paused for `hours`.
    ChatUserPaused { hours: i64 },
    /// A code was sent less than the minimum interval ago.
    TooSoon { seconds: i64 },
    /// Too many e-mails for this account: no more e-mail for `hours`.
    EmailCapReached { hours: i64 },
    /// Too many pushes for this account this hour.
    PushCapReached,
    /// The recovery is no longer open (finished, expired, or cancelled elsewhere).
    RecoveryClosed,
    /// The code (or call, push, question round) is no longer valid: ask for a new one.
    ChallengeExpired,
    /// The account's owner reported a reset or unlock they did not do: self-service recovery
    /// is blocked until the service desk lifts it.
    AccountReported,
}

/// A directory rule that refused a new password, explained to the user in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectoryRule {
    History,
    Complexity,
    TooShort,
    TooYoung,
    Other,
}

/// Work for the recovery core. Every effect that touches an account names the recovery it belongs
/// to, so the core can check it against its own record (two distinct passed methods, still open).
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    BeginRecovery {
        login: LoginName,
        reason: Reason,
    },
    SendCode {
        recovery_id: String,
        method: Method,
        phone: Option<PhoneNumber>,
    },
    ResendCode {
        recovery_id: String,
        method: Method,
    },
    CheckCode {
        recovery_id: String,
        method: Method,
        code: OtpCode,
    },
    PlaceCall {
        recovery_id: String,
        phone: Option<PhoneNumber>,
    },
    SendPush {
        recovery_id: String,
    },
    StartQuestions {
        recovery_id: String,
    },
    CheckAnswer {
        recovery_id: String,
        index: usize,
        answer: SecretText,
    },
    CheckTotp {
        recovery_id: String,
        code: OtpCode,
    },
    CheckPassword {
        recovery_id: String,
        password: SecretText,
    },
    ResetPassword {
        recovery_id: String,
        password: SecretText,
        digest: String,
    },
    Unlock {
        recovery_id: String,
    },
    /// A verified "account locked" recovery continues as "forgot password".
    SwitchToReset {
        recovery_id: String,
    },
    EndRecovery {
        recovery_id: String,
        why: EndReason,
    },
    /// Opens a registration and sends a code to the account's work mailbox.
    BeginEnrolment {
        login: LoginName,
    },
    /// Sends a new code to the work mailbox.
    ResendWorkCode {
        enrolment_id: String,
    },
    CheckWorkCode {
        enrolment_id: String,
        code: OtpCode,
    },
    /// Sends a code to a new alternate address or mobile number.
    SendEnrolCode {
        enrolment_id: String,
        target: EnrolTarget,
    },
    ResendEnrolCode {
        enrolment_id: String,
        what: Enrol,
    },
    CheckEnrolCode {
        enrolment_id: String,
        what: Enrol,
        code: OtpCode,
    },
    OfferQuestions {
        enrolment_id: String,
    },
    RegisterAnswer {
        enrolment_id: String,
        index: usize,
        question_id: String,
        answer: SecretText,
    },
    CreateTotp {
        enrolment_id: String,
    },
    ConfirmTotp {
        enrolment_id: String,
        code: OtpCode,
    },
    CheckPushEnrolment {
        enrolment_id: String,
    },
    /// The employee says all registered methods are still right.
    ConfirmMethods {
        enrolment_id: String,
    },
    EndEnrolment {
        enrolment_id: String,
        why: EndReason,
    },
    /// The user asks for a person: a handoff in office hours, the opening time otherwise.
    RequestHuman {
        recovery_id: Option<String>,
        login: Option<LoginName>,
        reason: &'static str,
    },
    /// Outside office hours: call me back when the desk opens.
    RequestCallback {
        login: Option<LoginName>,
    },
    /// A message the user typed during a handoff, for the agent.
    RelayToDesk {
        handoff_id: String,
        text: String,
    },
    /// The user leaves the handoff.
    LeaveHandoff {
        handoff_id: String,
    },
    /// "This wasn't me" after the reset or unlock this chat just finished.
    ReportNotMe,
    /// "I don't have my phone" in this recovery: once it succeeds, the phone's methods are
    /// suspended until registered again.
    PhoneLost {
        recovery_id: String,
    },
}

/// When the helpdesk opens next, in the user's time zone, for a Fluent message to describe:
/// "vandaag om 08:00", "maandag om 08:00", "op 2026-12-28 om 08:00".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening {
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u32,
    /// Local time, `08:00`.
    pub time: String,
    /// Local date, `2026-12-28`.
    pub date: String,
    /// `today`, `tomorrow`, `week` (within six days) or `later`.
    pub relative: &'static str,
}

/// The address or number a registration step verifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnrolTarget {
    Email(EmailAddress),
    Mobile(PhoneNumber),
}

/// Why a verification call did not get answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallEnd {
    Busy,
    NoAnswer,
    Failed,
}

impl CallEnd {
    pub fn id(self) -> &'static str {
        match self {
            CallEnd::Busy => "busy",
            CallEnd::NoAnswer => "no_answer",
            CallEnd::Failed => "failed",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    Cancelled,
    Expired,
    /// A registration the employee finished ("done").
    Finished,
}

impl EndReason {
    pub fn id(self) -> &'static str {
        match self {
            EndReason::Cancelled => "cancelled",
            EndReason::Expired => "expired",
            EndReason::Finished => "done",
        }
    }
}
