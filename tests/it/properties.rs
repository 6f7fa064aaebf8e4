//! Property tests over random input sequences (DESIGN §5): the engine never panics, never reaches
//! a reset or an unlock without two distinct methods that really passed, never puts a secret into
//! a reply, and its conversation survives a serde round trip after every step. The same
//! properties, where they make sense, are then checked against the real core on SQLite.
//!
//! Failure persistence is off (no `proptest-regressions/` files next to the sources); a failing
//! case prints its shrunk input sequence, which is what goes into a regression test.

use std::collections::{BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use sspr_bot::dialogue::{
    step, CallEnd, Conversation, DirectoryRule, Effect, Enrol, EnrolTarget, Event, Input, Lang,
    Offer, QrCode, Refusal, Registered, Reply, State, QUESTION_IDS,
};
use sspr_bot::domain::{Method, PolicyViolation, Reason};
use sspr_bot::recovery::PhoneAnswer;

use crate::support::{
    TestApp, ANNA, ANNA_ANSWERS, ANNA_TOTP, JAN, JAN_ANSWERS, JAN_TOTP, PIETER, PIETER_TOTP,
};

// ================================================================================================
// Shared generators
// ================================================================================================

const UNKNOWN: &str = "unknown@bedrijf.nl";

/// Every button id the engine hands out, plus a few near misses.
const BUTTON_IDS: [&str; 35] = [
    "human",
    "callback",
    "register",
    "reg:email",
    "reg:mobile",
    "reg:questions",
    "reg:totp",
    "reg:push",
    "reg:confirm",
    "reg:done",
    "reg:menu",
    "q:birth_city",
    "q:no_such_question",
    "reason:forgot",
    "reason:locked",
    "method:email",
    "method:sms",
    "method:call",
    "method:questions",
    "method:push",
    "method:totp",
    "no_phone",
    "with_phone",
    "other_method",
    "resend",
    "cancel",
    "restart",
    "retry",
    "help",
    "lang:en",
    "lang:nl",
    // near misses
    "method:",
    "method:EMAIL",
    "lang:fr",
    "reason:",
];

/// Words a user may type at any step: greetings, commands, reasons, method names, numbers.
const WORDS: [&str; 45] = [
    "medewerker",
    "help",
    "/registreren",
    "/register",
    "registreren",
    "hoi",
    "/start",
    "start",
    "/stop",
    "stop",
    "Stop",
    "annuleren",
    "/annuleer",
    "opnieuw",
    "/taal en",
    "/taal nl",
    "taal en",
    "/language english",
    "english",
    "nl",
    "en",
    "help",
    "/hulp",
    "wachtwoord vergeten",
    "ik ben mijn wachtwoord vergeten",
    "mijn account is geblokkeerd",
    "locked",
    "mail",
    "e-mail graag",
    "sms",
    "bellen",
    "call me",
    "vragen",
    "push",
    "authenticator code",
    "app",
    "#",
    "",
    "   ",
    "+31612345666",
    "0612345666",
    "06-12345666",
    "+31 6 1234 5666",
    "+31687654321",
    "medewerker",
];

fn login_name() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            JAN,
            ANNA,
            UNKNOWN,
            PIETER,
            " J.K.deVries@Bedrijf.NL ",
            "A.Bakker @bedrijf.nl",
        ])
        .prop_map(String::from),
        // Letters only: a login name is echoed back, so it must never look like a code or secret.
        1 => "[a-z]{1,8}(\\.[a-z]{1,8})?@[a-z]{2,8}\\.(nl|com)",
        1 => "\\p{L}{1,6}@\\p{L}{1,6}\\.nl",
    ]
    .boxed()
}

/// Text that is not a secret: words, login names, random unicode, very long input.
fn plain_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => prop::sample::select(WORDS.to_vec()).prop_map(String::from),
        3 => login_name(),
        2 => "\\PC{0,40}",
        1 => any::<String>(),
        1 => (any::<char>(), 1000usize..1100).prop_map(|(c, n)| c.to_string().repeat(n)),
    ]
    .boxed()
}

/// A secret-shaped password or answer: recognisable wherever it leaks to.
fn secret_text() -> BoxedStrategy<String> {
    prop_oneof![
        8 => "[A-Za-z0-9]{4,16}".prop_map(|s| format!("Geheim-{s}")),
        1 => "[A-Za-z0-9]{1,8}".prop_map(|s| format!("Geheim-{s}{}", "x".repeat(1100))),
        1 => "[A-Za-z0-9]{4,8}".prop_map(|s| format!("/Geheim-{s}")),
    ]
    .boxed()
}

/// A six-digit code as typed: plain, or with a space or dash in the middle.
fn code_text() -> BoxedStrategy<String> {
    ("[0-9]{3}", "[0-9]{3}", 0..4u8)
        .prop_map(|(a, b, sep)| match sep {
            0 => format!("{a} {b}"),
            1 => format!("{a}-{b}"),
            _ => format!("{a}{b}"),
        })
        .boxed()
}

fn digits_of(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn method() -> BoxedStrategy<Method> {
    prop::sample::select(Method::ALL.to_vec()).boxed()
}

/// The masked hints the core shows; fixed and digit-poor, so they cannot look like a code.
fn hint_for(m: Method) -> Option<String> {
    match m {
        Method::Email => Some("j***@p***.example".into()),
        Method::Sms | Method::Call => Some("*****66".into()),
        _ => None,
    }
}

fn opening() -> sspr_bot::dialogue::Opening {
    sspr_bot::dialogue::Opening {
        weekday: 0,
        time: "08:00".into(),
        date: "2026-11-30".into(),
        relative: "today",
    }
}

/// A registration overview in which `done` are registered.
fn registered(done: &[Enrol]) -> Vec<Registered> {
    Enrol::ALL
        .into_iter()
        .map(|what| Registered {
            what,
            registered: done.contains(&what),
            hint: None,
            from_directory: false,
        })
        .collect()
}

fn all_offers(methods: &[Method]) -> Vec<Offer> {
    methods
        .iter()
        .map(|&method| Offer {
            method,
            hint: hint_for(method),
        })
        .collect()
}

fn offers() -> BoxedStrategy<Vec<Offer>> {
    prop::sample::subsequence(Method::ALL.to_vec(), 0..=6)
        .prop_map(|ms| all_offers(&ms))
        .boxed()
}

fn refusal() -> BoxedStrategy<Refusal> {
    prop_oneof![
        (0i64..100).prop_map(|hours| Refusal::RecoveryLocked { hours }),
        (0i64..100).prop_map(|hours| Refusal::ChatUserPaused { hours }),
        (0i64..120).prop_map(|seconds| Refusal::TooSoon { seconds }),
        (0i64..100).prop_map(|hours| Refusal::EmailCapReached { hours }),
        Just(Refusal::PushCapReached),
        Just(Refusal::RecoveryClosed),
        Just(Refusal::ChallengeExpired),
    ]
    .boxed()
}

fn violation() -> BoxedStrategy<PolicyViolation> {
    prop_oneof![
        (0usize..300).prop_map(|min| PolicyViolation::TooShort { min }),
        (0usize..300).prop_map(|max| PolicyViolation::TooLong { max }),
        Just(PolicyViolation::ContainsLoginName),
        Just(PolicyViolation::TooCommon),
    ]
    .boxed()
}

fn directory_rule() -> BoxedStrategy<DirectoryRule> {
    prop::sample::select(vec![
        DirectoryRule::History,
        DirectoryRule::Complexity,
        DirectoryRule::TooShort,
        DirectoryRule::TooYoung,
        DirectoryRule::Other,
    ])
    .boxed()
}

fn question_id() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(QUESTION_IDS.to_vec()).prop_map(String::from),
        1 => "[a-z_]{0,12}",
    ]
    .boxed()
}

/// A core event out of the blue. `RecoveryStarted` gets a fresh id when it is fed in.
fn core_event() -> BoxedStrategy<Event> {
    prop_oneof![
        2 => offers().prop_map(|offers| Event::RecoveryStarted {
            recovery_id: String::new(),
            offers,
        }),
        1 => refusal().prop_map(Event::Refused),
        1 => method().prop_map(|method| Event::CodeSent { method }),
        1 => method().prop_map(|method| Event::NumberMismatch { method }),
        1 => Just(Event::CallPlaced),
        1 => (10u32..100).prop_map(|number| Event::PushSent { number }),
        1 => prop::collection::vec(question_id(), 0..5)
            .prop_map(|question_ids| Event::QuestionsChosen { question_ids }),
        1 => Just(Event::AnswerNoted),
        4 => (method(), any::<bool>()).prop_map(|(method, ok)| Event::Verified { method, ok }),
        1 => Just(Event::PushDenied),
        1 => prop::collection::vec(violation(), 0..3)
            .prop_map(|violations| Event::PasswordRejected { violations }),
        1 => "[a-f]{8,16}".prop_map(|digest| Event::PasswordAccepted { digest }),
        1 => Just(Event::PasswordMismatch),
        1 => Just(Event::PasswordReset),
        1 => Just(Event::Unlocked),
        1 => Just(Event::UnlockUnsupported),
        1 => Just(Event::SwitchedToReset),
        1 => Just(Event::PushExpired),
        1 => prop_oneof![Just(CallEnd::Busy), Just(CallEnd::NoAnswer), Just(CallEnd::Failed)]
            .prop_map(|why| Event::CallEnded { why }),
        1 => directory_rule().prop_map(|rule| Event::DirectoryRefused { rule }),
        1 => Just(Event::Unavailable),
    ]
    .boxed()
}

// ================================================================================================
// 1. The engine, pure
// ================================================================================================

#[derive(Clone, Debug)]
enum Act {
    /// Type text that is not a secret.
    Say(String),
    /// Type a secret-shaped password or answer ("Geheim-…").
    Secret(String),
    /// Type a six-digit code.
    Code(String),
    /// Press any button id, offered or not.
    Press(String),
    /// Press one of the buttons the last reply offered (index taken modulo their number).
    PressOffered(usize),
    /// A core event out of the blue.
    Core(Event),
    /// The natural answer of a core to the oldest pending effect (`ok`: the good outcome); with
    /// nothing pending, the phone's answer to a pending call or push.
    Respond(bool),
    /// Move the clock (seconds; may be negative, may cross the 15-minute idle expiry).
    Wait(i64),
    /// A cooperative user: the natural next input for the current step (login name, reason,
    /// the `k`-th offered method, the phone number, a code, an answer, a password). Codes,
    /// answers and passwords typed this way count as secrets.
    Guide(usize),
    /// `Guide(k)`, then every effect answered at once with `Respond(ok)`: a whole turn the way
    /// the core runs it.
    Turn(usize, bool),
}

/// One input; `noise` scales the random inputs against the cooperative ones (user and core
/// doing the natural next thing), so that some walks go deep into the guide and others thrash.
fn act(noise: u32) -> BoxedStrategy<Act> {
    prop_oneof![
        4 * noise => plain_text().prop_map(Act::Say),
        2 * noise => secret_text().prop_map(Act::Secret),
        2 * noise => code_text().prop_map(Act::Code),
        2 * noise => prop_oneof![
            4 => prop::sample::select(BUTTON_IDS.to_vec()).prop_map(String::from),
            1 => "\\PC{0,20}",
        ]
        .prop_map(Act::Press),
        5 * noise => any::<usize>().prop_map(Act::PressOffered),
        3 * noise => core_event().prop_map(Act::Core),
        20 => prop::bool::weighted(0.85).prop_map(Act::Respond),
        20 => any::<usize>().prop_map(Act::Guide),
        20 => (any::<usize>(), prop::bool::weighted(0.85)).prop_map(|(k, ok)| Act::Turn(k, ok)),
        noise => prop_oneof![
            4 => 0i64..120,
            2 => 880i64..920,
            1 => 900i64..4000,
            1 => 86_000i64..90_000,
            1 => -120i64..0,
        ]
        .prop_map(Act::Wait),
    ]
    .boxed()
}

/// A walk of up to 40 inputs at a random noise level.
fn walk() -> BoxedStrategy<Vec<Act>> {
    prop::sample::select(vec![1u32, 2, 4, 8])
        .prop_flat_map(|noise| prop::collection::vec(act(noise), 0..40))
        .boxed()
}

/// The method a state is waiting for a verdict on: the test's own reading of the guide, kept
/// apart from the engine's.
fn awaited(state: &State) -> Option<Method> {
    match state {
        State::EnterCode { method, .. } => Some(*method),
        State::AwaitCall { .. } => Some(Method::Call),
        State::AwaitPush { .. } => Some(Method::Push),
        State::Answering { .. } => Some(Method::Questions),
        State::EnterTotp { .. } => Some(Method::Totp),
        _ => None,
    }
}

/// The recovery id and reason of an effect that finishes a recovery, if it is one.
fn final_effect(e: &Effect) -> Option<(&str, Reason)> {
    match e {
        Effect::CheckPassword { recovery_id, .. } | Effect::ResetPassword { recovery_id, .. } => {
            Some((recovery_id, Reason::Forgot))
        }
        Effect::Unlock { recovery_id } | Effect::SwitchToReset { recovery_id } => {
            Some((recovery_id, Reason::Locked))
        }
        _ => None,
    }
}

/// Everything a reply could show, as one string: ids, arguments and button labels.
fn replies_json(replies: &[Reply]) -> String {
    serde_json::to_string(replies).expect("replies serialise")
}

fn engine_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 6, 55, 0).unwrap()
}

/// One walk through the engine, with the test's shadow model and the checks after every step.
struct Walk {
    conv: Conversation,
    now: DateTime<Utc>,
    /// Effects of the current turn the (simulated) core has not answered yet.
    pending: VecDeque<Effect>,
    /// The buttons of the last reply that had any.
    last_buttons: Vec<String>,
    /// Secrets typed so far: shown nowhere, stored nowhere.
    secrets: BTreeSet<String>,
    /// The shadow model: per recovery id, the methods that got `Verified { ok: true }` while the
    /// conversation was waiting for exactly that method.
    verified: HashMap<String, BTreeSet<Method>>,
    next_id: usize,
    steps: usize,
    /// Reset or unlock effects seen (coverage).
    finals: usize,
    /// Registration menus reached after a saved method (coverage).
    registered: usize,
}

impl Walk {
    fn new() -> Self {
        Self {
            conv: Conversation::new(Lang::Nl),
            now: engine_start(),
            pending: VecDeque::new(),
            last_buttons: Vec::new(),
            secrets: BTreeSet::new(),
            verified: HashMap::new(),
            next_id: 0,
            steps: 0,
            finals: 0,
            registered: 0,
        }
    }

    fn fresh_id(&mut self) -> String {
        self.next_id += 1;
        format!("rec-{}", self.next_id)
    }

    fn act(&mut self, act: &Act) -> Result<(), TestCaseError> {
        let input = match act {
            Act::Wait(secs) => {
                self.now += Duration::seconds(*secs);
                return Ok(());
            }
            Act::Say(t) => Input::Text(t.clone()),
            Act::Secret(t) => {
                self.secrets.insert(t.trim_start_matches('/').to_string());
                Input::Text(t.clone())
            }
            Act::Code(t) => {
                self.secrets.insert(digits_of(t));
                self.secrets.insert(t.clone());
                Input::Text(t.clone())
            }
            Act::Press(id) => Input::Button(id.clone()),
            Act::PressOffered(k) => {
                match self.last_buttons.get(k % self.last_buttons.len().max(1)) {
                    Some(id) => Input::Button(id.clone()),
                    None => return Ok(()),
                }
            }
            Act::Core(ev) => Input::Event(match ev.clone() {
                Event::RecoveryStarted { offers, .. } => Event::RecoveryStarted {
                    recovery_id: self.fresh_id(),
                    offers,
                },
                other => other,
            }),
            Act::Respond(ok) => match self.respond(*ok) {
                Some(ev) => Input::Event(ev),
                None => return Ok(()),
            },
            Act::Guide(k) => match self.guide(*k) {
                Some(input) => input,
                None => return Ok(()),
            },
            Act::Turn(k, ok) => {
                // A whole turn as the core runs it: the input, then every effect answered.
                if let Some(input) = self.guide(*k) {
                    self.feed(input)?;
                }
                for _ in 0..32 {
                    match self.respond(*ok) {
                        Some(ev) => self.feed(Input::Event(ev))?,
                        None => break,
                    }
                }
                return Ok(());
            }
        };
        self.feed(input)
    }

    /// What a cooperative user does next (`k` picks among choices); codes, answers and
    /// passwords typed this way are secrets.
    fn guide(&mut self, k: usize) -> Option<Input> {
        let code = format!("{:06}", k % 1_000_000);
        let secret = format!("Geheim-G{k}");
        let (input, secret) = match &self.conv.state {
            // Now and then a user comes to register methods rather than to recover.
            State::Idle | State::AskLogin if k % 7 == 3 => {
                (Input::Text("/registreren".into()), None)
            }
            State::Idle | State::AskLogin => {
                let logins = [JAN, ANNA, UNKNOWN];
                (Input::Text(logins[k % logins.len()].into()), None)
            }
            State::AskReason { .. } => {
                let reasons = ["reason:forgot", "reason:locked"];
                (Input::Button(reasons[k % reasons.len()].into()), None)
            }
            State::ChooseMethod { .. } => {
                let choices: Vec<&String> = self
                    .last_buttons
                    .iter()
                    .filter(|b| b.starts_with("method:") || *b == "retry")
                    .collect();
                let id = choices.get(k % choices.len().max(1))?;
                (Input::Button(id.to_string()), None)
            }
            State::EnterPhone { .. } => (Input::Text("+31612345666".into()), None),
            State::EnterCode { .. } | State::EnterTotp { .. } => {
                (Input::Text(code.clone()), Some(code))
            }
            State::Answering { .. } | State::NewPassword { .. } | State::ConfirmPassword { .. } => {
                (Input::Text(secret.clone()), Some(secret))
            }
            State::Starting { .. }
            | State::AwaitCall { .. }
            | State::AwaitPush { .. }
            | State::RegStarting { .. } => return None,
            State::RegAskLogin => (Input::Text(JAN.into()), None),
            State::RegProveWork { .. } | State::RegEnterCode { .. } | State::RegTotp { .. } => {
                (Input::Text(code.clone()), Some(code))
            }
            State::RegMenu { .. } | State::RegPickQuestions { .. } => {
                let id = self.last_buttons.get(k % self.last_buttons.len().max(1))?;
                (Input::Button(id.clone()), None)
            }
            State::RegEnterEmail { .. } => (Input::Text("jan@privemail.example".into()), None),
            State::RegEnterMobile { .. } => (Input::Text("+31612345678".into()), None),
            State::RegAnswer { .. } => (Input::Text(secret.clone()), Some(secret)),
            // A user in a handoff writes to the agent, and sometimes leaves.
            State::Handoff { .. } if k.is_multiple_of(2) => (Input::Text("/stop".into()), None),
            State::Handoff { .. } => (Input::Text("mijn account is geblokkeerd".into()), None),
            State::DeskClosed { .. } => (Input::Button("callback".into()), None),
        };
        self.secrets.extend(secret);
        Some(input)
    }

    /// What a cooperating core answers to the oldest pending effect (`ok`: the good outcome);
    /// with nothing pending, the phone's answer to a pending call or push.
    fn respond(&mut self, ok: bool) -> Option<Event> {
        while let Some(effect) = self.pending.pop_front() {
            let ev = match effect {
                Effect::BeginRecovery { .. } => Event::RecoveryStarted {
                    recovery_id: self.fresh_id(),
                    // `ok`: every method (Jan); otherwise an account without a phone (Anna).
                    offers: if ok {
                        all_offers(&Method::ALL)
                    } else {
                        all_offers(&[Method::Email, Method::Questions, Method::Totp])
                    },
                },
                Effect::SendCode { method, phone, .. } => match (ok, phone) {
                    (true, _) => Event::CodeSent { method },
                    (false, Some(_)) => Event::NumberMismatch { method },
                    (false, None) => Event::Refused(Refusal::TooSoon { seconds: 42 }),
                },
                Effect::ResendCode { method, .. } => match ok {
                    true => Event::CodeSent { method },
                    false => Event::Refused(Refusal::TooSoon { seconds: 42 }),
                },
                Effect::CheckCode { method, .. } => Event::Verified { method, ok },
                Effect::PlaceCall { .. } => match ok {
                    true => Event::CallPlaced,
                    false => Event::NumberMismatch {
                        method: Method::Call,
                    },
                },
                Effect::SendPush { .. } => match ok {
                    true => Event::PushSent { number: 42 },
                    false => Event::Refused(Refusal::PushCapReached),
                },
                Effect::StartQuestions { .. } => Event::QuestionsChosen {
                    question_ids: if ok {
                        QUESTION_IDS[..3].iter().map(|s| s.to_string()).collect()
                    } else {
                        Vec::new()
                    },
                },
                Effect::CheckAnswer { index, .. } if index < 2 => Event::AnswerNoted,
                Effect::CheckAnswer { .. } => Event::Verified {
                    method: Method::Questions,
                    ok,
                },
                Effect::CheckTotp { .. } => Event::Verified {
                    method: Method::Totp,
                    ok,
                },
                Effect::CheckPassword { .. } => match ok {
                    true => Event::PasswordAccepted {
                        digest: "abcdefab".into(),
                    },
                    false => Event::PasswordRejected {
                        violations: vec![PolicyViolation::TooCommon],
                    },
                },
                Effect::ResetPassword { .. } => match ok {
                    true => Event::PasswordReset,
                    false => Event::PasswordMismatch,
                },
                Effect::Unlock { .. } => match ok {
                    true => Event::Unlocked,
                    false => Event::UnlockUnsupported,
                },
                Effect::SwitchToReset { .. } => match ok {
                    true => Event::SwitchedToReset,
                    false => Event::Unavailable,
                },
                Effect::EndRecovery { .. } | Effect::EndEnrolment { .. } => continue,
                Effect::BeginEnrolment { .. } => Event::EnrolmentStarted {
                    enrolment_id: self.fresh_id(),
                    hint: "j.*****@be*****.nl".into(),
                },
                Effect::ResendWorkCode { .. } => match ok {
                    true => Event::EnrolmentStarted {
                        enrolment_id: self.fresh_id(),
                        hint: "j.*****@be*****.nl".into(),
                    },
                    false => Event::Refused(Refusal::TooSoon { seconds: 42 }),
                },
                Effect::CheckWorkCode { .. } => match ok {
                    true => Event::MethodsShown {
                        methods: registered(&[Enrol::Email]),
                        confirm_due: true,
                    },
                    false => Event::EnrolCodeWrong,
                },
                Effect::SendEnrolCode { target, .. } => {
                    let what = match target {
                        EnrolTarget::Email(_) => Enrol::Email,
                        EnrolTarget::Mobile(_) => Enrol::Mobile,
                    };
                    match ok {
                        true => Event::EnrolCodeSent {
                            what,
                            hint: "*****78".into(),
                        },
                        false => Event::EnrolTargetRefused { what },
                    }
                }
                Effect::ResendEnrolCode { what, .. } => match ok {
                    true => Event::EnrolCodeSent {
                        what,
                        hint: "*****78".into(),
                    },
                    false => Event::Refused(Refusal::ChallengeExpired),
                },
                Effect::CheckEnrolCode { what, .. } => match ok {
                    true => Event::MethodSaved {
                        what,
                        methods: registered(&[Enrol::Email, what]),
                    },
                    false => Event::EnrolCodeWrong,
                },
                Effect::OfferQuestions { .. } => match ok {
                    true => Event::QuestionsOffered {
                        question_ids: QUESTION_IDS[..5].iter().map(|s| s.to_string()).collect(),
                    },
                    false => Event::Unavailable,
                },
                Effect::RegisterAnswer { index, .. } => match (ok, index) {
                    (true, 0 | 1) => Event::AnswerTaken,
                    (true, _) => Event::MethodSaved {
                        what: Enrol::Questions,
                        methods: registered(&[Enrol::Questions]),
                    },
                    (false, _) => Event::AnswerRefused {
                        problem: sspr_bot::domain::AnswerProblem::Duplicate,
                    },
                },
                Effect::CreateTotp { .. } => Event::TotpCreated {
                    qr: QrCode("otpauth://totp/x?secret=AAAA".into()),
                },
                Effect::ConfirmTotp { .. } => match ok {
                    true => Event::MethodSaved {
                        what: Enrol::Totp,
                        methods: registered(&[Enrol::Totp]),
                    },
                    false => Event::EnrolCodeWrong,
                },
                Effect::CheckPushEnrolment { .. } => match ok {
                    true => Event::MethodSaved {
                        what: Enrol::Push,
                        methods: registered(&[Enrol::Push]),
                    },
                    false => Event::PushNotEnrolled,
                },
                Effect::ConfirmMethods { .. } => Event::MethodsConfirmed,
                Effect::RequestHuman { .. } => match ok {
                    true => Event::HandoffOpened {
                        handoff_id: self.fresh_id(),
                    },
                    false => Event::DeskClosed {
                        opening: opening(),
                        phone: "020-40 777 55".into(),
                    },
                },
                Effect::RequestCallback { .. } => Event::CallbackQueued { opening: opening() },
                Effect::RelayToDesk { .. } | Effect::LeaveHandoff { .. } => continue,
                Effect::ReportNotMe => Event::ReportedNotMe,
                Effect::PhoneLost { .. } => continue,
            };
            return Some(ev);
        }
        match awaited(&self.conv.state) {
            Some(method @ (Method::Call | Method::Push)) => Some(Event::Verified { method, ok }),
            _ => None,
        }
    }

    /// One engine step, and every check on it.
    fn feed(&mut self, input: Input) -> Result<(), TestCaseError> {
        let before = self.conv.clone();
        let n = self.steps;
        self.steps += 1;

        // A verdict counts only for the method the conversation was waiting for.
        let mut just_verified = None;
        if let Input::Event(Event::Verified { method, ok: true }) = &input {
            if let Some(rec) = before.state.recovery() {
                if awaited(&before.state) == Some(*method) {
                    self.verified
                        .entry(rec.id.clone())
                        .or_default()
                        .insert(*method);
                    just_verified = Some(*method);
                }
            }
        }

        if matches!(input, Input::Event(Event::MethodSaved { .. }))
            && before.state.registering().is_some()
        {
            self.registered += 1;
        }
        let out = step(before.clone(), input.clone(), self.now);
        let ctx = || format!("step {n}: {input:?}\nbefore: {:?}", before.state);

        // Reset / unlock only with two distinct methods that really passed.
        for e in &out.effects {
            let Some((id, reason)) = final_effect(e) else {
                continue;
            };
            self.finals += 1;
            let rec = before.state.recovery();
            prop_assert!(
                rec.is_some_and(|r| r.id == id),
                "{e:?} for a recovery the conversation is not in\n{}",
                ctx()
            );
            let rec = rec.unwrap();
            prop_assert_eq!(
                rec.reason,
                reason,
                "{:?} for the wrong reason\n{}",
                e,
                ctx()
            );
            let mut passed: BTreeSet<Method> = rec.passed.iter().copied().collect();
            passed.extend(just_verified);
            prop_assert!(
                passed.len() >= 2,
                "{e:?} with passed methods {passed:?}\n{}",
                ctx()
            );
            let shadow = self.verified.get(id).cloned().unwrap_or_default();
            prop_assert!(
                passed.is_subset(&shadow),
                "{e:?}: passed {passed:?} but only {shadow:?} were verified while awaited\n{}",
                ctx()
            );
        }

        // The conversation's own record of passed methods never runs ahead of real verdicts.
        if let Some(rec) = out.conv.state.recovery() {
            let shadow = self.verified.get(&rec.id).cloned().unwrap_or_default();
            for m in &rec.passed {
                prop_assert!(
                    shadow.contains(m),
                    "{m:?} counted as passed in {} without a verdict while awaited\n{}",
                    rec.id,
                    ctx()
                );
            }
        }

        // No secret in any reply, nor in the stored conversation.
        let shown = replies_json(&out.replies);
        let stored = serde_json::to_string(&out.conv).expect("conversation serialises");
        for s in &self.secrets {
            prop_assert!(
                !shown.contains(s.as_str()),
                "secret {s:?} shown in {shown}\n{}",
                ctx()
            );
            prop_assert!(
                !stored.contains(s.as_str()),
                "secret {s:?} stored in {stored}\n{}",
                ctx()
            );
        }

        // The conversation survives being stored and loaded.
        let back: Conversation = serde_json::from_str(&stored)
            .map_err(|e| TestCaseError::fail(format!("{e}: {stored}\n{}", ctx())))?;
        prop_assert_eq!(&back, &out.conv, "serde round trip\n{}", ctx());

        // Like the core's queue within a turn: a user's input starts a new turn.
        if !matches!(input, Input::Event(_)) {
            self.pending.clear();
        }
        self.pending.extend(out.effects);
        if let Some(r) = out.replies.iter().rev().find(|r| !r.buttons.is_empty()) {
            self.last_buttons = r.buttons.iter().map(|b| b.id.clone()).collect();
        }
        self.conv = out.conv;
        Ok(())
    }
}

fn run_engine(acts: &[Act]) -> Result<Walk, TestCaseError> {
    let mut walk = Walk::new();
    for act in acts {
        walk.act(act)?;
    }
    Ok(walk)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_never_panics_leaks_or_finishes_without_two_verified_methods(
        acts in walk()
    ) {
        run_engine(&acts)?;
    }
}

/// Random walks must also reach the registration steps now and then.
#[test]
fn engine_random_walks_reach_registration() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let strategy = walk();
    let mut reached = 0;
    for _ in 0..512 {
        let acts = strategy.new_tree(&mut runner).unwrap().current();
        let walk = run_engine(&acts).unwrap();
        reached += usize::from(walk.registered > 0);
    }
    assert!(
        reached >= 5,
        "only {reached} of 512 walks saved a registration"
    );
}

/// The random walk must actually reach the final step now and then, or the property above is
/// vacuous.
#[test]
fn engine_random_walks_reach_the_final_step() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let strategy = walk();
    let mut reached = 0;
    for _ in 0..512 {
        let acts = strategy.new_tree(&mut runner).unwrap().current();
        reached += usize::from(run_engine(&acts).unwrap().finals > 0);
    }
    assert!(
        reached >= 5,
        "only {reached} of 512 walks reached a reset or unlock"
    );
}

// ================================================================================================
// 2. The real core on SQLite
// ================================================================================================

/// The accounts a core walk starts recoveries for: Jan (every method), Anna (locked; e-mail,
/// questions, authenticator code), and a name the directory does not know (decoy).
const CORE_ACCOUNTS: [&str; 3] = [JAN, ANNA, UNKNOWN];
/// The accounts whose directory entry must not change without two passed methods.
const DIRECTORY_ACCOUNTS: [&str; 3] = [JAN, ANNA, PIETER];

#[derive(Clone, Debug)]
enum UserAct {
    /// "hoi", the login name, the reason button: three turns.
    Start {
        account: usize,
        locked: bool,
    },
    Say(&'static str),
    Press(&'static str),
    PressOffered(usize),
    /// The newest e-mail (or SMS) code from the outbox.
    EmailCode,
    SmsCode,
    WrongCode(String),
    /// The authenticator code of one of the demo accounts, `steps` time steps away.
    Totp {
        account: usize,
        steps: i64,
    },
    /// The registered answer to the question on screen (for the account being recovered).
    RightAnswer,
    WrongAnswer(String),
    /// The demo phone: a key pressed during the call.
    Call(char),
    /// The demo phone: approve the push with the right or a wrong number.
    Push {
        right: bool,
    },
    DenyPush,
    Password(String),
    /// The newest password typed, again (the confirmation).
    RepeatPassword,
    Advance(i64),
    Cancel,
    /// A cooperative user: the natural next action for the stored state of the conversation
    /// (`k` picks among choices, `password` is used when a new password is asked).
    Guide {
        k: usize,
        password: String,
    },
}

const CORE_WORDS: [&str; 16] = [
    "hoi",
    "wachtwoord vergeten",
    "geblokkeerd",
    "mail",
    "sms",
    "bellen",
    "vragen",
    "app",
    "/stop",
    "/taal en",
    "/start",
    "+31612345666",
    "+31687654321",
    "0612345999",
    "#",
    "j.k.devries@bedrijf.nl",
];

fn password() -> BoxedStrategy<String> {
    "[A-Za-z0-9]{8,14}"
        .prop_map(|s| format!("Geheim-{s}"))
        .boxed()
}

/// A random user action (not necessarily one that fits the step).
fn noise_act() -> BoxedStrategy<UserAct> {
    prop_oneof![
        2 => (0..3usize, any::<bool>())
            .prop_map(|(account, locked)| UserAct::Start { account, locked }),
        1 => prop::sample::select(CORE_WORDS.to_vec()).prop_map(UserAct::Say),
        1 => prop::sample::select(BUTTON_IDS.to_vec()).prop_map(UserAct::Press),
        3 => any::<usize>().prop_map(UserAct::PressOffered),
        1 => Just(UserAct::EmailCode),
        1 => Just(UserAct::SmsCode),
        2 => "[0-9]{6}".prop_map(UserAct::WrongCode),
        1 => (0..3usize, -2i64..=2)
            .prop_map(|(account, steps)| UserAct::Totp { account, steps }),
        1 => Just(UserAct::RightAnswer),
        1 => "Geheim-[a-z]{4,8}".prop_map(UserAct::WrongAnswer),
        1 => prop::sample::select(vec!['#', '1', '*']).prop_map(UserAct::Call),
        1 => any::<bool>().prop_map(|right| UserAct::Push { right }),
        1 => Just(UserAct::DenyPush),
        1 => password().prop_map(UserAct::Password),
        1 => Just(UserAct::RepeatPassword),
        1 => prop_oneof![
            4 => 1i64..120,
            1 => 540i64..660,
            1 => 890i64..1000,
            1 => 3500i64..3700,
            1 => 86_000i64..90_000,
        ]
        .prop_map(UserAct::Advance),
        1 => Just(UserAct::Cancel),
    ]
    .boxed()
}

/// Up to 40 actions; `noise` percent of them random, the rest cooperative.
fn core_walk() -> BoxedStrategy<Vec<UserAct>> {
    prop::sample::select(vec![10u32, 25, 50])
        .prop_flat_map(|noise| {
            let act = prop_oneof![
                100 - noise => (any::<usize>(), password())
                    .prop_map(|(k, password)| UserAct::Guide { k, password }),
                noise => noise_act(),
            ];
            prop::collection::vec(act, 0..40)
        })
        .boxed()
}

/// One walk against the real core, with the secrets typed and the directory as it started.
struct CoreWalk {
    t: TestApp,
    secrets: BTreeSet<String>,
    passwords: Vec<String>,
    initial_hashes: HashMap<&'static str, String>,
    last_buttons: Vec<String>,
    /// Accounts whose password was reset or which were unlocked (coverage).
    finished: BTreeSet<&'static str>,
}

impl CoreWalk {
    async fn new() -> Self {
        let t = TestApp::new().await;
        let mut initial_hashes = HashMap::new();
        for a in DIRECTORY_ACCOUNTS {
            initial_hashes.insert(a, t.password_hash(a).await);
        }
        assert!(t.is_locked(ANNA).await, "Anna starts locked");
        Self {
            t,
            secrets: BTreeSet::new(),
            passwords: Vec::new(),
            initial_hashes,
            last_buttons: Vec::new(),
            finished: BTreeSet::new(),
        }
    }

    async fn conversation(&self) -> Option<Conversation> {
        self.t
            .app
            .store
            .load_conversation(&self.t.chat.conversation)
            .await
            .expect("loading the conversation")
    }

    /// The login of the recovery in progress, if any.
    async fn current_login(&self) -> Option<String> {
        let conv = self.conversation().await?;
        match &conv.state {
            State::AskReason { login } | State::Starting { login, .. } => {
                Some(login.as_str().to_string())
            }
            s => s.recovery().map(|r| r.login.as_str().to_string()),
        }
    }

    async fn outbox_value(&self, channel: &str, field: &str) -> Option<serde_json::Value> {
        self.t
            .outbox_lines()
            .await
            .into_iter()
            .rev()
            .find(|l| l["channel"] == channel && l.get(field).is_some())
            .map(|l| l[field].clone())
    }

    async fn latest_code(&self, channel: &str) -> String {
        match self.outbox_value(channel, "code").await {
            Some(c) => c.as_str().unwrap_or("000000").to_string(),
            None => "000000".to_string(),
        }
    }

    async fn totp_for(&self, account: &str, steps: i64) -> String {
        let secret = match account {
            a if a == JAN => JAN_TOTP,
            a if a == ANNA => ANNA_TOTP,
            _ => PIETER_TOTP,
        };
        self.t.totp(secret, steps)
    }

    /// The registered answer to the question the conversation is at (Jan's table unless it is
    /// Anna's recovery; "Haarlem" when no known question is asked).
    async fn right_answer(&self) -> String {
        let table = match self.current_login().await.as_deref() {
            Some(a) if a == ANNA => ANNA_ANSWERS,
            _ => JAN_ANSWERS,
        };
        let prompt = match self.t.app.core.current_prompt(&self.t.chat).await {
            Ok(Some(out)) => out
                .replies
                .iter()
                .map(|r| self.t.app.localizer.render(out.lang, r).text)
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        };
        table
            .iter()
            .find(|(q, _)| prompt.contains(q))
            .map_or("Haarlem", |(_, a)| a)
            .to_string()
    }

    /// Types `text`; a secret is remembered first, so that no later reply may show it.
    async fn say(&mut self, text: &str, secret: bool) -> Result<(), TestCaseError> {
        if secret {
            self.secrets.insert(text.to_string());
        }
        let out = self
            .t
            .app
            .core
            .handle(&self.t.chat, Input::Text(text.into()))
            .await;
        self.shown(format!("say {text:?}"), out)
    }

    async fn press(&mut self, id: &str) -> Result<(), TestCaseError> {
        let out = self
            .t
            .app
            .core
            .handle(&self.t.chat, Input::Button(id.into()))
            .await;
        self.shown(format!("press {id:?}"), out)
    }

    async fn phone(&mut self, answer: PhoneAnswer) -> Result<(), TestCaseError> {
        let out = self.t.app.core.phone_answer(&self.t.chat, answer).await;
        self.shown(format!("phone {answer:?}"), out)
    }

    async fn code(&mut self, code: String) -> Result<(), TestCaseError> {
        self.say(&code, true).await
    }

    async fn password(&mut self, pw: String) -> Result<(), TestCaseError> {
        self.passwords.push(pw.clone());
        self.say(&pw, true).await
    }

    /// Checks one turn's output: no error, every message renders, no secret shown.
    fn shown(
        &mut self,
        what: String,
        out: anyhow::Result<sspr_bot::recovery::TurnOutput>,
    ) -> Result<(), TestCaseError> {
        let out = out.map_err(|e| TestCaseError::fail(format!("{what}: core error {e:#}")))?;
        let l10n = &self.t.app.localizer;
        let mut text = String::new();
        for r in &out.replies {
            for t in r.texts.iter().chain(r.buttons.iter().map(|b| &b.label)) {
                let s = l10n
                    .try_text(out.lang, t)
                    .map_err(|e| TestCaseError::fail(format!("{what}: {e}")))?;
                text.push_str(&s);
                text.push('\n');
            }
        }
        for s in &self.secrets {
            prop_assert!(
                !text.contains(s.as_str()),
                "{what}: secret {s:?} shown in:\n{text}"
            );
        }
        if let Some(r) = out.replies.iter().rev().find(|r| !r.buttons.is_empty()) {
            self.last_buttons = r.buttons.iter().map(|b| b.id.clone()).collect();
        }
        Ok(())
    }

    async fn act(&mut self, act: &UserAct) -> Result<(), TestCaseError> {
        match act {
            UserAct::Start { account, locked } => {
                self.say("hoi", false).await?;
                self.say(CORE_ACCOUNTS[*account], false).await?;
                let reason = if *locked {
                    "reason:locked"
                } else {
                    "reason:forgot"
                };
                self.press(reason).await?;
            }
            UserAct::Say(t) => self.say(t, false).await?,
            UserAct::Press(id) => self.press(id).await?,
            UserAct::PressOffered(k) => {
                if let Some(id) = self.last_buttons.get(k % self.last_buttons.len().max(1)) {
                    let id = id.clone();
                    self.press(&id).await?;
                }
            }
            UserAct::EmailCode => {
                let c = self.latest_code("email").await;
                self.code(c).await?;
            }
            UserAct::SmsCode => {
                let c = self.latest_code("sms").await;
                self.code(c).await?;
            }
            UserAct::WrongCode(c) => self.code(c.clone()).await?,
            UserAct::Totp { account, steps } => {
                let c = self.totp_for(DIRECTORY_ACCOUNTS[*account], *steps).await;
                self.code(c).await?;
            }
            UserAct::RightAnswer => {
                let a = self.right_answer().await;
                self.say(&a, true).await?;
            }
            UserAct::WrongAnswer(a) => self.say(a, true).await?,
            UserAct::Call(key) => self.phone(PhoneAnswer::CallKeys(*key)).await?,
            UserAct::Push { right } => {
                let n = self.push_number().await;
                let n = if *right { n } else { 10 + (n + 1 - 10) % 90 };
                self.phone(PhoneAnswer::ApprovePush(n)).await?;
            }
            UserAct::DenyPush => self.phone(PhoneAnswer::DenyPush).await?,
            UserAct::Password(pw) => self.password(pw.clone()).await?,
            UserAct::RepeatPassword => {
                if let Some(pw) = self.passwords.last().cloned() {
                    self.password(pw).await?;
                }
            }
            UserAct::Advance(secs) => self.t.advance(*secs),
            UserAct::Cancel => self.say("/stop", false).await?,
            UserAct::Guide { k, password } => self.guide(*k, password).await?,
        }
        self.check_directory(act).await
    }

    async fn push_number(&self) -> u32 {
        self.outbox_value("push", "number")
            .await
            .and_then(|v| v.as_u64())
            .unwrap_or(10) as u32
    }

    async fn guide(&mut self, k: usize, password: &str) -> Result<(), TestCaseError> {
        // Mostly the real accounts: a decoy recovery can never finish.
        let pick = [JAN, ANNA, JAN, ANNA, UNKNOWN][k % 5];
        let Some(conv) = self.conversation().await else {
            return self.say(pick, false).await;
        };
        let login = self.current_login().await.unwrap_or_default();
        match &conv.state {
            State::Idle | State::AskLogin => self.say(pick, false).await,
            State::AskReason { .. } => {
                let reason = ["reason:forgot", "reason:locked"][k % 2];
                self.press(reason).await
            }
            State::Starting { .. } => self.say("hoi", false).await,
            State::ChooseMethod { .. } => {
                let choices: Vec<String> = self
                    .last_buttons
                    .iter()
                    .filter(|b| b.starts_with("method:") || *b == "retry")
                    .cloned()
                    .collect();
                match choices.get(k % choices.len().max(1)) {
                    Some(id) => self.press(id).await,
                    None => self.press("cancel").await,
                }
            }
            State::EnterPhone { .. } => self.say("+31612345666", false).await,
            State::EnterCode { method, .. } => {
                let c = self.latest_code(method.id()).await;
                self.code(c).await
            }
            State::EnterTotp { .. } => {
                let c = self.totp_for(&login, 0).await;
                self.code(c).await
            }
            State::AwaitCall { .. } => self.phone(PhoneAnswer::CallKeys('#')).await,
            State::AwaitPush { .. } => {
                let n = self.push_number().await;
                self.phone(PhoneAnswer::ApprovePush(n)).await
            }
            State::Answering { .. } => {
                let a = self.right_answer().await;
                self.say(&a, true).await
            }
            State::NewPassword { .. } => self.password(password.to_string()).await,
            State::ConfirmPassword { .. } => match self.passwords.last().cloned() {
                Some(pw) => self.password(pw).await,
                None => self.password(password.to_string()).await,
            },
            // Registration is covered by tests/it/registration.rs; a walk that wanders into it
            // leaves again.
            State::Handoff { .. } | State::DeskClosed { .. } => self.press("cancel").await,
            State::RegAskLogin
            | State::RegStarting { .. }
            | State::RegProveWork { .. }
            | State::RegMenu { .. }
            | State::RegEnterEmail { .. }
            | State::RegEnterMobile { .. }
            | State::RegEnterCode { .. }
            | State::RegPickQuestions { .. }
            | State::RegAnswer { .. }
            | State::RegTotp { .. } => self.press("cancel").await,
        }
    }

    /// A password changed, or Anna unlocked, only after two distinct methods passed for that
    /// account (in the audit log; and within the recovery that made the change), and only to
    /// a password the user typed.
    async fn check_directory(&mut self, act: &UserAct) -> Result<(), TestCaseError> {
        for account in DIRECTORY_ACCOUNTS {
            let hash = self.t.password_hash(account).await;
            let changed = hash != self.initial_hashes[account];
            let unlocked = account == ANNA && !self.t.is_locked(ANNA).await;
            if !changed && !unlocked {
                continue;
            }
            self.finished.insert(account);
            let audit = self.t.audit(account).await;
            let passed: BTreeSet<&str> = audit
                .iter()
                .filter(|(_, _, outcome)| outcome == "passed")
                .filter_map(|(_, method, _)| method.as_deref())
                .collect();
            prop_assert!(
                passed.len() >= 2,
                "after {act:?}: {account} changed (password {changed}, unlocked {unlocked}) \
                 with passed methods {passed:?}; audit: {audit:?}"
            );
            // Stronger: the change is audited, and both methods passed in the recovery that made
            // it (one chat: that is the recovery started last before the final step).
            let is_final = |(e, _, o): &(String, Option<String>, String)| {
                (e == "password_reset" || e == "account_unlocked") && o == "ok"
            };
            let Some(end) = audit.iter().rposition(is_final) else {
                return Err(TestCaseError::fail(format!(
                    "after {act:?}: {account} changed without an audited final step: {audit:?}"
                )));
            };
            let start = audit[..end]
                .iter()
                .rposition(|(e, _, o)| e == "recovery_started" && o == "ok")
                .unwrap_or(0);
            let in_recovery: BTreeSet<&str> = audit[start..end]
                .iter()
                .filter(|(_, _, outcome)| outcome == "passed")
                .filter_map(|(_, method, _)| method.as_deref())
                .collect();
            prop_assert!(
                in_recovery.len() >= 2,
                "after {act:?}: {account} changed with {in_recovery:?} passed in the recovery \
                 that changed it; audit: {audit:?}"
            );
            if changed {
                let mut typed = false;
                for pw in &self.passwords {
                    typed |= sspr_bot::hashing::verify(pw.clone(), hash.clone())
                        .await
                        .unwrap_or(false);
                }
                prop_assert!(
                    typed,
                    "after {act:?}: {account}'s password is none the user typed"
                );
                // Checked; from here on this hash is the baseline.
                self.initial_hashes.insert(account, hash);
            }
        }
        Ok(())
    }

    /// After the walk: no typed secret anywhere in the database (audit log, conversations,
    /// challenges, counters).
    async fn check_nothing_stored(&self) -> Result<(), TestCaseError> {
        let stored = self.t.all_stored_text().await;
        for s in &self.secrets {
            prop_assert!(!stored.contains(s.as_str()), "secret {s:?} stored");
        }
        Ok(())
    }
}

/// Runs a walk on a fresh demo database; returns how many accounts it reset or unlocked.
fn run_core(acts: &[UserAct]) -> Result<usize, TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let mut walk = CoreWalk::new().await;
        for act in acts {
            walk.act(act).await?;
        }
        walk.check_nothing_stored().await?;
        Ok(walk.finished.len())
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        // Each case opens a database: keep shrinking bounded.
        max_shrink_time: 120_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn core_never_errs_leaks_or_changes_the_directory_without_two_passed_methods(
        acts in core_walk()
    ) {
        run_core(&acts)?;
    }
}

/// Core walks must reset a password or unlock Anna now and then, or the property above is
/// vacuous.
#[test]
fn core_random_walks_reach_the_final_step() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let strategy = core_walk();
    let mut finished = 0;
    for _ in 0..8 {
        let acts = strategy.new_tree(&mut runner).unwrap().current();
        finished += usize::from(run_core(&acts).unwrap() > 0);
    }
    assert!(
        finished >= 2,
        "only {finished} of 8 walks finished a recovery"
    );
}
