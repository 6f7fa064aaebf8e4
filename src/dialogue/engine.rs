use chrono::{DateTime, Duration, Utc};

use super::reply::{Button, Reply, Text};
use super::state::{Conversation, Enrol, Lang, Recovery, Registered, Registering, State};
use super::{Effect, EndReason, EnrolTarget, Event, Input, Opening, Refusal, SecretText};
use crate::domain::{
    AnswerProblem, EmailAddress, LoginName, Method, OtpCode, PhoneNumber, PolicyViolation, Reason,
};

/// A recovery left alone this long is over (DESIGN §3, as Entra does).
pub const IDLE_EXPIRY: Duration = Duration::minutes(15);

/// How many distinct methods must pass (DESIGN §3).
const METHODS_REQUIRED: usize = 2;

/// Longest text the engine looks at; anything longer is refused before it is parsed or hashed.
const MAX_INPUT_CHARS: usize = 1024;

/// The result of one step.
#[derive(Debug)]
pub struct Step {
    pub conv: Conversation,
    pub replies: Vec<Reply>,
    pub effects: Vec<Effect>,
}

/// Advances `conv` by one input. Pure: same arguments, same result.
pub fn step(conv: Conversation, input: Input, now: DateTime<Utc>) -> Step {
    let mut out = Out::default();
    let mut conv = conv;
    let is_user_input = !matches!(input, Input::Event(_));
    if is_user_input {
        let idle_too_long = conv
            .last_seen
            .is_some_and(|seen| now.signed_duration_since(seen) > IDLE_EXPIRY);
        conv.last_seen = Some(now);
        // A handoff ends when the agent closes it or nobody claims it, not by the user's silence:
        // an agent may answer a callback request days later.
        let handoff = matches!(conv.state, State::Handoff { .. });
        if idle_too_long && conv.state.in_progress() && !handoff {
            end_current(&conv.state, EndReason::Expired, &mut out);
            conv.state = State::AskLogin;
            out.reply(
                Reply::text(Text::new("session-expired"))
                    .then(Text::new("ask-login"))
                    .with_buttons(vec![cancel_button()]),
            );
            return out.finish(conv);
        }
    }
    let lang = conv.lang;
    let state = std::mem::replace(&mut conv.state, State::Idle);
    let (state, lang) = match input {
        Input::Event(event) => (on_event(state, event, &mut out), lang),
        Input::Text(text) => on_user(state, lang, UserInput::Text(text), &mut out),
        Input::Button(id) => on_user(state, lang, UserInput::Button(id), &mut out),
    };
    conv.state = state;
    conv.lang = lang;
    out.finish(conv)
}

#[derive(Default)]
struct Out {
    replies: Vec<Reply>,
    effects: Vec<Effect>,
}

impl Out {
    fn reply(&mut self, r: Reply) {
        self.replies.push(r);
    }
    fn effect(&mut self, e: Effect) {
        self.effects.push(e);
    }
    fn finish(self, conv: Conversation) -> Step {
        Step {
            conv,
            replies: self.replies,
            effects: self.effects,
        }
    }
}

impl Reply {
    fn with_buttons(mut self, buttons: Vec<Button>) -> Self {
        self.buttons = buttons;
        self
    }
    fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
}

enum UserInput {
    Text(String),
    Button(String),
}

/// What a user's words or button mean, whatever the step.
enum Command {
    Cancel,
    Restart,
    Language(Lang),
    /// Ask for a person at the helpdesk ("medewerker", "help", "human").
    Human,
    /// Register or change verification methods (`/registreren`, `/register`).
    Register,
    /// "This wasn't me" after a reset or unlock.
    NotMe,
}

fn command(input: &UserInput, in_secret_step: bool) -> Option<Command> {
    match input {
        UserInput::Button(id) => match id.as_str() {
            "cancel" => Some(Command::Cancel),
            "restart" => Some(Command::Restart),
            "help" | "human" => Some(Command::Human),
            "not_me" => Some(Command::NotMe),
            "register" => Some(Command::Register),
            _ => id
                .strip_prefix("lang:")
                .and_then(Lang::parse)
                .map(Command::Language),
        },
        UserInput::Text(text) => {
            let t = text.trim().to_lowercase();
            let slash = t.starts_with('/');
            // In a secret step only slash commands count: "Stop" may well be someone's answer.
            if in_secret_step && !slash {
                return None;
            }
            let t = t.trim_start_matches('/');
            let (word, rest) = t.split_once(' ').unwrap_or((t, ""));
            match word {
                "cancel" | "stop" | "annuleren" | "annuleer" => Some(Command::Cancel),
                "start" | "restart" | "opnieuw" => Some(Command::Restart),
                "help" | "hulp" | "medewerker" | "human" | "mens" | "servicedesk" | "helpdesk" => {
                    Some(Command::Human)
                }
                "iemand" if rest.starts_with("spreken") => Some(Command::Human),
                "speak" | "talk" if rest.contains("person") || rest.contains("human") => {
                    Some(Command::Human)
                }
                "register" | "registreren" | "registreer" | "registratie" | "registration"
                    if rest.is_empty() =>
                {
                    Some(Command::Register)
                }
                "lang" | "language" | "taal" => Lang::parse(rest).map(Command::Language),
                "english" | "engels" | "en" if rest.is_empty() => Some(Command::Language(Lang::En)),
                "nederlands" | "dutch" | "nl" if rest.is_empty() => {
                    Some(Command::Language(Lang::Nl))
                }
                _ => None,
            }
        }
    }
}

fn on_user(state: State, lang: Lang, input: UserInput, out: &mut Out) -> (State, Lang) {
    if let UserInput::Text(t) = &input {
        if t.chars().count() > MAX_INPUT_CHARS {
            out.reply(Reply::text(Text::new("input-too-long")));
            out.reply(prompt(&state));
            return (state, lang);
        }
    }
    match command(&input, state.expects_secret()) {
        Some(Command::Cancel) => {
            if let State::Handoff { handoff_id, .. } = &state {
                out.effect(Effect::LeaveHandoff {
                    handoff_id: handoff_id.clone(),
                });
            }
            end_current(&state, EndReason::Cancelled, out);
            out.reply(
                Reply::text(Text::new("cancelled"))
                    .with_buttons(vec![Button::new("restart", Text::new("button-restart"))]),
            );
            return (State::Idle, lang);
        }
        Some(Command::Restart) => {
            end_current(&state, EndReason::Cancelled, out);
            out.reply(greeting());
            return (State::AskLogin, lang);
        }
        Some(Command::Language(new)) => {
            out.reply(Reply::text(Text::new("language-set")));
            if !matches!(state, State::Idle) {
                out.reply(prompt(&state));
            } else {
                out.reply(greeting());
                return (State::AskLogin, new);
            }
            return (state, new);
        }
        Some(Command::NotMe) => {
            out.effect(Effect::ReportNotMe);
            return (state, lang);
        }
        Some(Command::Human) => {
            if let State::Handoff { .. } = state {
                return (reprompt(state, out), lang);
            }
            out.effect(Effect::RequestHuman {
                recovery_id: state.recovery().map(|r| r.id.clone()),
                login: login_of(&state),
                reason: "asked",
            });
            return (state, lang);
        }
        Some(Command::Register) => {
            if state.registering().is_some()
                || matches!(state, State::RegAskLogin | State::RegStarting { .. })
            {
                return (reprompt(state, out), lang);
            }
            // The login name is already known when a recovery turned out to be impossible.
            let login = login_of(&state);
            end_current(&state, EndReason::Cancelled, out);
            return (begin_enrolment(login, out), lang);
        }
        None => {}
    }
    // After "the desk is closed", anything typed starts over, as a first message does.
    let state = match (state, &input) {
        (State::DeskClosed { .. }, UserInput::Text(_)) => State::Idle,
        (state, _) => state,
    };
    let state = match state {
        State::Idle => {
            // A first message that already is a login name skips the question.
            if let UserInput::Text(t) = &input {
                if let Ok(login) = LoginName::parse(t) {
                    let next = State::AskReason { login };
                    out.reply(Reply::text(Text::new("welcome")).then_prompt(&next));
                    return (next, lang);
                }
            }
            out.reply(greeting());
            State::AskLogin
        }
        State::AskLogin => match &input {
            UserInput::Text(t) => match LoginName::parse(t) {
                Ok(login) => {
                    let next = State::AskReason { login };
                    out.reply(prompt(&next));
                    next
                }
                Err(_) => {
                    out.reply(
                        Reply::text(Text::new("login-invalid")).with_buttons(vec![cancel_button()]),
                    );
                    State::AskLogin
                }
            },
            UserInput::Button(_) => reprompt(State::AskLogin, out),
        },
        State::AskReason { login } => match reason_from(&input) {
            Some(reason) => {
                out.effect(Effect::BeginRecovery {
                    login: login.clone(),
                    reason,
                });
                State::Starting { login, reason }
            }
            None => reprompt(State::AskReason { login }, out),
        },
        State::Starting { login, reason } => {
            // Only reached if a turn was cut off before the core answered: ask it again.
            out.effect(Effect::BeginRecovery {
                login: login.clone(),
                reason,
            });
            State::Starting { login, reason }
        }
        State::ChooseMethod { rec } => choose_method(rec, &input, out),
        State::EnterPhone { rec, method } => match &input {
            UserInput::Button(b) if b == "other_method" => to_choose(rec, out),
            UserInput::Text(t) => match PhoneNumber::parse(t) {
                Ok(phone) => {
                    let recovery_id = rec.id.clone();
                    out.effect(if method == Method::Call {
                        Effect::PlaceCall {
                            recovery_id,
                            phone: Some(phone),
                        }
                    } else {
                        Effect::SendCode {
                            recovery_id,
                            method,
                            phone: Some(phone),
                        }
                    });
                    State::EnterPhone { rec, method }
                }
                Err(_) => {
                    let next = State::EnterPhone { rec, method };
                    out.reply(Reply::text(Text::new("phone-invalid")).then_prompt(&next));
                    next
                }
            },
            UserInput::Button(_) => reprompt(State::EnterPhone { rec, method }, out),
        },
        State::EnterCode { rec, method } => match &input {
            UserInput::Button(b) if b == "other_method" => to_choose(rec, out),
            UserInput::Button(b) if b == "resend" => {
                out.effect(Effect::ResendCode {
                    recovery_id: rec.id.clone(),
                    method,
                });
                State::EnterCode { rec, method }
            }
            UserInput::Text(t) => match OtpCode::parse(t) {
                Ok(code) => {
                    out.effect(Effect::CheckCode {
                        recovery_id: rec.id.clone(),
                        method,
                        code,
                    });
                    State::EnterCode { rec, method }
                }
                Err(_) => {
                    out.reply(Reply::text(Text::new("code-format")));
                    State::EnterCode { rec, method }
                }
            },
            UserInput::Button(_) => reprompt(State::EnterCode { rec, method }, out),
        },
        State::AwaitCall { rec } => match &input {
            UserInput::Button(b) if b == "other_method" => to_choose(rec, out),
            UserInput::Button(b) if b == "resend" => {
                out.effect(Effect::PlaceCall {
                    recovery_id: rec.id.clone(),
                    phone: None,
                });
                State::AwaitCall { rec }
            }
            _ => reprompt(State::AwaitCall { rec }, out),
        },
        State::AwaitPush { rec, number } => match &input {
            UserInput::Button(b) if b == "other_method" => to_choose(rec, out),
            UserInput::Button(b) if b == "resend" => {
                out.effect(Effect::SendPush {
                    recovery_id: rec.id.clone(),
                });
                State::AwaitPush { rec, number }
            }
            _ => reprompt(State::AwaitPush { rec, number }, out),
        },
        State::Answering {
            rec,
            question_ids,
            index,
        } => match input {
            UserInput::Button(b) if b == "other_method" => to_choose(rec, out),
            UserInput::Text(t) if !t.trim().is_empty() => {
                out.effect(Effect::CheckAnswer {
                    recovery_id: rec.id.clone(),
                    index,
                    answer: SecretText(t),
                });
                State::Answering {
                    rec,
                    question_ids,
                    index,
                }
            }
            _ => reprompt(
                State::Answering {
                    rec,
                    question_ids,
                    index,
                },
                out,
            ),
        },
        State::EnterTotp { rec } => match &input {
            UserInput::Button(b) if b == "other_method" => to_choose(rec, out),
            UserInput::Text(t) => match OtpCode::parse(t) {
                Ok(code) => {
                    out.effect(Effect::CheckTotp {
                        recovery_id: rec.id.clone(),
                        code,
                    });
                    State::EnterTotp { rec }
                }
                Err(_) => {
                    out.reply(Reply::text(Text::new("code-format")));
                    State::EnterTotp { rec }
                }
            },
            UserInput::Button(_) => reprompt(State::EnterTotp { rec }, out),
        },
        State::NewPassword { rec } => match input {
            UserInput::Text(t) if can_finish(&rec) => {
                out.effect(Effect::CheckPassword {
                    recovery_id: rec.id.clone(),
                    password: SecretText(t),
                });
                State::NewPassword { rec }
            }
            _ => reprompt(State::NewPassword { rec }, out),
        },
        State::ConfirmPassword { rec, digest } => match input {
            UserInput::Text(t) if can_finish(&rec) => {
                out.effect(Effect::ResetPassword {
                    recovery_id: rec.id.clone(),
                    password: SecretText(t),
                    digest: digest.clone(),
                });
                State::ConfirmPassword { rec, digest }
            }
            _ => reprompt(State::ConfirmPassword { rec, digest }, out),
        },
        reg_state => on_registration(reg_state, &input, out),
    };
    (state, lang)
}

fn begin_enrolment(login: Option<LoginName>, out: &mut Out) -> State {
    match login {
        Some(login) => {
            out.effect(Effect::BeginEnrolment {
                login: login.clone(),
            });
            State::RegStarting { login }
        }
        None => {
            let next = State::RegAskLogin;
            out.reply(Reply::text(Text::new("reg-intro")).then_prompt(&next));
            next
        }
    }
}

/// The registration steps (the guide's companion document).
fn on_registration(state: State, input: &UserInput, out: &mut Out) -> State {
    let back = matches!(input, UserInput::Button(b) if b == "reg:menu");
    match state {
        State::RegAskLogin => match input {
            UserInput::Text(t) => match LoginName::parse(t) {
                Ok(login) => begin_enrolment(Some(login), out),
                Err(_) => {
                    out.reply(
                        Reply::text(Text::new("login-invalid")).with_buttons(vec![cancel_button()]),
                    );
                    State::RegAskLogin
                }
            },
            UserInput::Button(_) => reprompt(State::RegAskLogin, out),
        },
        State::RegStarting { login } => begin_enrolment(Some(login), out),
        State::RegProveWork { reg, hint } => match input {
            UserInput::Button(b) if b == "resend" => {
                out.effect(Effect::ResendWorkCode {
                    enrolment_id: reg.id.clone(),
                });
                State::RegProveWork { reg, hint }
            }
            UserInput::Text(t) => match OtpCode::parse(t) {
                Ok(code) => {
                    out.effect(Effect::CheckWorkCode {
                        enrolment_id: reg.id.clone(),
                        code,
                    });
                    State::RegProveWork { reg, hint }
                }
                Err(_) => {
                    out.reply(Reply::text(Text::new("code-format")));
                    State::RegProveWork { reg, hint }
                }
            },
            UserInput::Button(_) => reprompt(State::RegProveWork { reg, hint }, out),
        },
        State::RegMenu { reg } => registration_menu(reg, input, out),
        State::RegEnterEmail { reg } if back => to_menu(reg, out),
        State::RegEnterEmail { reg } => match input {
            UserInput::Text(t) => match EmailAddress::parse(t) {
                Ok(address) => {
                    out.effect(Effect::SendEnrolCode {
                        enrolment_id: reg.id.clone(),
                        target: EnrolTarget::Email(address),
                    });
                    State::RegEnterEmail { reg }
                }
                Err(_) => {
                    let next = State::RegEnterEmail { reg };
                    out.reply(Reply::text(Text::new("reg-email-invalid")).then_prompt(&next));
                    next
                }
            },
            UserInput::Button(_) => reprompt(State::RegEnterEmail { reg }, out),
        },
        State::RegEnterMobile { reg } if back => to_menu(reg, out),
        State::RegEnterMobile { reg } => match input {
            UserInput::Text(t) => match PhoneNumber::parse(t) {
                Ok(number) => {
                    out.effect(Effect::SendEnrolCode {
                        enrolment_id: reg.id.clone(),
                        target: EnrolTarget::Mobile(number),
                    });
                    State::RegEnterMobile { reg }
                }
                Err(_) => {
                    let next = State::RegEnterMobile { reg };
                    out.reply(Reply::text(Text::new("phone-invalid")).then_prompt(&next));
                    next
                }
            },
            UserInput::Button(_) => reprompt(State::RegEnterMobile { reg }, out),
        },
        State::RegEnterCode { reg, .. } if back => to_menu(reg, out),
        State::RegEnterCode { reg, what, hint } => match input {
            UserInput::Button(b) if b == "resend" => {
                out.effect(Effect::ResendEnrolCode {
                    enrolment_id: reg.id.clone(),
                    what,
                });
                State::RegEnterCode { reg, what, hint }
            }
            UserInput::Text(t) => match OtpCode::parse(t) {
                Ok(code) => {
                    out.effect(Effect::CheckEnrolCode {
                        enrolment_id: reg.id.clone(),
                        what,
                        code,
                    });
                    State::RegEnterCode { reg, what, hint }
                }
                Err(_) => {
                    out.reply(Reply::text(Text::new("code-format")));
                    State::RegEnterCode { reg, what, hint }
                }
            },
            UserInput::Button(_) => reprompt(State::RegEnterCode { reg, what, hint }, out),
        },
        State::RegPickQuestions { reg, .. } if back => to_menu(reg, out),
        State::RegPickQuestions {
            reg,
            offered,
            mut chosen,
        } => {
            let picked = match input {
                UserInput::Button(b) => b.strip_prefix("q:"),
                UserInput::Text(_) => None,
            }
            .filter(|q| offered.iter().any(|o| o == q) && !chosen.iter().any(|c| c == q));
            let Some(q) = picked else {
                return reprompt(
                    State::RegPickQuestions {
                        reg,
                        offered,
                        chosen,
                    },
                    out,
                );
            };
            chosen.push(q.to_string());
            let next = if chosen.len() >= QUESTIONS_TO_REGISTER {
                State::RegAnswer {
                    reg,
                    question_ids: chosen,
                    index: 0,
                }
            } else {
                State::RegPickQuestions {
                    reg,
                    offered,
                    chosen,
                }
            };
            out.reply(prompt(&next));
            next
        }
        State::RegAnswer { reg, .. } if back => to_menu(reg, out),
        State::RegAnswer {
            reg,
            question_ids,
            index,
        } => match input {
            UserInput::Text(t) if !t.trim().is_empty() => {
                let question_id = question_ids.get(index).cloned().unwrap_or_default();
                out.effect(Effect::RegisterAnswer {
                    enrolment_id: reg.id.clone(),
                    index,
                    question_id,
                    answer: SecretText(t.clone()),
                });
                State::RegAnswer {
                    reg,
                    question_ids,
                    index,
                }
            }
            _ => reprompt(
                State::RegAnswer {
                    reg,
                    question_ids,
                    index,
                },
                out,
            ),
        },
        State::RegTotp { reg } if back => to_menu(reg, out),
        State::RegTotp { reg } => match input {
            UserInput::Button(b) if b == "reg:totp" => {
                out.effect(Effect::CreateTotp {
                    enrolment_id: reg.id.clone(),
                });
                State::RegMenu { reg }
            }
            UserInput::Text(t) => match OtpCode::parse(t) {
                Ok(code) => {
                    out.effect(Effect::ConfirmTotp {
                        enrolment_id: reg.id.clone(),
                        code,
                    });
                    State::RegTotp { reg }
                }
                Err(_) => {
                    out.reply(Reply::text(Text::new("code-format")));
                    State::RegTotp { reg }
                }
            },
            UserInput::Button(_) => reprompt(State::RegTotp { reg }, out),
        },
        State::Handoff {
            handoff_id,
            login,
            agent,
        } => {
            if let UserInput::Text(t) = input {
                if !t.trim().is_empty() {
                    out.effect(Effect::RelayToDesk {
                        handoff_id: handoff_id.clone(),
                        text: t.clone(),
                    });
                }
            }
            State::Handoff {
                handoff_id,
                login,
                agent,
            }
        }
        State::DeskClosed { login } => match input {
            UserInput::Button(b) if b == "callback" => {
                out.effect(Effect::RequestCallback {
                    login: login.clone(),
                });
                State::DeskClosed { login }
            }
            _ => reprompt(State::DeskClosed { login }, out),
        },
        // Every recovery state is handled by the caller.
        other => reprompt(other, out),
    }
}

/// The login name a state knows, if any.
fn login_of(state: &State) -> Option<LoginName> {
    match state {
        State::AskReason { login } | State::Starting { login, .. } => Some(login.clone()),
        State::RegStarting { login } => Some(login.clone()),
        State::Handoff { login, .. } | State::DeskClosed { login } => login.clone(),
        s => s
            .recovery()
            .map(|r| r.login.clone())
            .or_else(|| s.registering().map(|r| r.login.clone())),
    }
}

/// How many security questions a registration sets (and a recovery asks).
const QUESTIONS_TO_REGISTER: usize = 3;

fn registration_menu(reg: Registering, input: &UserInput, out: &mut Out) -> State {
    let UserInput::Button(id) = input else {
        return reprompt(State::RegMenu { reg }, out);
    };
    let enrolment_id = reg.id.clone();
    let offered = |what: Enrol| reg.methods.iter().any(|m| m.what == what);
    match id.as_str() {
        "reg:done" => {
            out.effect(Effect::EndEnrolment {
                enrolment_id,
                why: EndReason::Finished,
            });
            out.reply(Reply::text(Text::new("reg-finished")).then(Text::new("goodbye")));
            State::Idle
        }
        "reg:confirm" if reg.methods.iter().any(|m| m.registered) => {
            out.effect(Effect::ConfirmMethods { enrolment_id });
            State::RegMenu { reg }
        }
        other => match other.strip_prefix("reg:").and_then(Enrol::from_id) {
            Some(Enrol::Email) if offered(Enrol::Email) => {
                let next = State::RegEnterEmail { reg };
                out.reply(prompt(&next));
                next
            }
            Some(Enrol::Mobile) if offered(Enrol::Mobile) => {
                let next = State::RegEnterMobile { reg };
                out.reply(prompt(&next));
                next
            }
            Some(Enrol::Questions) if offered(Enrol::Questions) => {
                out.effect(Effect::OfferQuestions { enrolment_id });
                State::RegMenu { reg }
            }
            Some(Enrol::Totp) if offered(Enrol::Totp) => {
                out.effect(Effect::CreateTotp { enrolment_id });
                State::RegMenu { reg }
            }
            Some(Enrol::Push) if offered(Enrol::Push) => {
                out.effect(Effect::CheckPushEnrolment { enrolment_id });
                State::RegMenu { reg }
            }
            _ => reprompt(State::RegMenu { reg }, out),
        },
    }
}

fn to_menu(reg: Registering, out: &mut Out) -> State {
    let next = State::RegMenu { reg };
    out.reply(prompt(&next));
    next
}

fn reason_from(input: &UserInput) -> Option<Reason> {
    let t = match input {
        UserInput::Button(id) => {
            return match id.as_str() {
                "reason:forgot" => Some(Reason::Forgot),
                "reason:locked" => Some(Reason::Locked),
                _ => None,
            }
        }
        UserInput::Text(t) => t.to_lowercase(),
    };
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    match (
        has(&[
            "vergeten",
            "forgot",
            "wachtwoord",
            "password",
            "nieuw",
            "new",
        ]),
        has(&[
            "geblokkeerd",
            "locked",
            "blokkeer",
            "vergrendeld",
            "ontgrendel",
            "unlock",
        ]),
    ) {
        (_, true) => Some(Reason::Locked),
        (true, false) => Some(Reason::Forgot),
        _ => None,
    }
}

fn choose_method(mut rec: Recovery, input: &UserInput, out: &mut Out) -> State {
    if can_finish(&rec) {
        if matches!(input, UserInput::Button(id) if id == "reset_instead")
            && rec.reason == Reason::Locked
        {
            out.effect(Effect::SwitchToReset {
                recovery_id: rec.id.clone(),
            });
            return State::ChooseMethod { rec };
        }
        // Both methods passed but the final step did not go through (directory down): try again.
        return match rec.reason {
            Reason::Locked => {
                out.effect(Effect::Unlock {
                    recovery_id: rec.id.clone(),
                });
                State::ChooseMethod { rec }
            }
            Reason::Forgot => reprompt(State::NewPassword { rec }, out),
        };
    }
    let chosen = match input {
        UserInput::Button(id) if id == "no_phone" => {
            rec.no_phone = true;
            out.effect(Effect::PhoneLost {
                recovery_id: rec.id.clone(),
            });
            return to_choose(rec, out);
        }
        UserInput::Button(id) if id == "with_phone" => {
            rec.no_phone = false;
            return to_choose(rec, out);
        }
        UserInput::Button(id) => id.strip_prefix("method:").and_then(Method::from_id),
        UserInput::Text(t) => method_from_words(t),
    };
    let Some(method) = chosen.filter(|m| rec.available().iter().any(|o| o.method == *m)) else {
        return reprompt(State::ChooseMethod { rec }, out);
    };
    let recovery_id = rec.id.clone();
    match method {
        Method::Email => {
            out.effect(Effect::SendCode {
                recovery_id,
                method,
                phone: None,
            });
            State::ChooseMethod { rec }
        }
        Method::Sms | Method::Call => {
            let next = State::EnterPhone { rec, method };
            out.reply(prompt(&next));
            next
        }
        Method::Questions => {
            out.effect(Effect::StartQuestions { recovery_id });
            State::ChooseMethod { rec }
        }
        Method::Push => {
            out.effect(Effect::SendPush { recovery_id });
            State::ChooseMethod { rec }
        }
        Method::Totp => {
            let next = State::EnterTotp { rec };
            out.reply(prompt(&next));
            next
        }
    }
}

fn method_from_words(t: &str) -> Option<Method> {
    let t = t.trim().to_lowercase();
    if let Some(m) = Method::from_id(&t) {
        return Some(m);
    }
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if has(&["mail"]) {
        Some(Method::Email)
    } else if has(&["sms", "tekst", "text"]) {
        Some(Method::Sms)
    } else if has(&["bel", "call"]) {
        Some(Method::Call)
    } else if has(&["vraag", "vragen", "question"]) {
        Some(Method::Questions)
    } else if has(&["melding", "push", "goedkeur", "approv"]) {
        Some(Method::Push)
    } else if has(&["code", "authenticator", "app"]) {
        Some(Method::Totp)
    } else {
        None
    }
}

fn on_event(state: State, event: Event, out: &mut Out) -> State {
    match event {
        Event::RecoveryStarted {
            recovery_id,
            offers,
        } => match state {
            State::Starting { login, reason } => {
                let rec = Recovery {
                    id: recovery_id,
                    login,
                    reason,
                    offers,
                    passed: Vec::new(),
                    no_phone: false,
                    approved_by_agent: false,
                };
                to_choose(rec, out)
            }
            other => other,
        },
        Event::Refused(refusal) => on_refusal(state, refusal, out),
        Event::CodeSent { method } => with_rec(state, out, |rec, out| {
            let next = State::EnterCode { rec, method };
            let sent = match method {
                Method::Sms => Text::new("code-sent-sms"),
                _ => Text::new("code-sent-email"),
            };
            let hint = next.recovery().map(|r| r.hint(method)).unwrap_or_default();
            out.reply(
                Reply::text(sent.arg("target", hint))
                    .then(Text::new("enter-code"))
                    .with_buttons(code_buttons()),
            );
            next
        }),
        Event::NumberMismatch { method } => with_rec(state, out, |rec, out| {
            let next = State::EnterPhone { rec, method };
            out.reply(Reply::text(Text::new("phone-mismatch")).then_prompt(&next));
            next
        }),
        Event::CallPlaced => with_rec(state, out, |rec, out| {
            let next = State::AwaitCall { rec };
            out.reply(prompt(&next));
            next
        }),
        Event::PushSent { number } => with_rec(state, out, |rec, out| {
            let next = State::AwaitPush { rec, number };
            out.reply(prompt(&next));
            next
        }),
        Event::QuestionsChosen { question_ids } => with_rec(state, out, |rec, out| {
            if question_ids.is_empty() {
                out.reply(Reply::text(Text::new("verification-failed")));
                return to_choose(rec, out);
            }
            let next = State::Answering {
                rec,
                question_ids,
                index: 0,
            };
            out.reply(prompt(&next));
            next
        }),
        Event::AnswerNoted => match state {
            State::Answering {
                rec,
                question_ids,
                index,
            } if index + 1 < question_ids.len() => {
                let next = State::Answering {
                    rec,
                    question_ids,
                    index: index + 1,
                };
                out.reply(prompt(&next));
                next
            }
            other => other,
        },
        Event::Verified { method, ok } => on_verdict(state, method, ok, out),
        Event::PushExpired => match state {
            State::AwaitPush { rec, .. } => {
                out.reply(Reply::text(Text::new("push-expired")));
                to_choose(rec, out)
            }
            other => other,
        },
        Event::CallEnded { why } => match state {
            State::AwaitCall { rec } => {
                out.reply(Reply::text(Text::new(match why {
                    super::CallEnd::Busy => "call-ended-busy",
                    super::CallEnd::NoAnswer => "call-ended-no-answer",
                    super::CallEnd::Failed => "call-ended-failed",
                })));
                to_choose(rec, out)
            }
            other => other,
        },
        Event::PushDenied => match state {
            State::AwaitPush { rec, .. } => {
                out.reply(Reply::text(Text::new("push-denied")));
                to_choose(rec, out)
            }
            other => other,
        },
        Event::PasswordRejected { violations } => match state {
            State::NewPassword { rec } | State::ConfirmPassword { rec, .. } => {
                let mut reply = Reply::text(Text::new("password-rejected"));
                for v in violations {
                    reply = reply.then(violation_text(v));
                }
                out.reply(reply);
                let next = State::NewPassword { rec };
                out.reply(prompt(&next));
                next
            }
            other => other,
        },
        Event::PasswordAccepted { digest } => match state {
            State::NewPassword { rec } => {
                let next = State::ConfirmPassword { rec, digest };
                out.reply(prompt(&next));
                next
            }
            other => other,
        },
        Event::PasswordMismatch => match state {
            State::ConfirmPassword { rec, .. } => {
                let next = State::NewPassword { rec };
                out.reply(Reply::text(Text::new("password-mismatch")).then_prompt(&next));
                next
            }
            other => other,
        },
        Event::PasswordReset => match state {
            State::ConfirmPassword { .. } => {
                out.reply(
                    Reply::text(Text::new("password-reset-done"))
                        .then(Text::new("goodbye"))
                        .with_buttons(vec![not_me_button()]),
                );
                State::Idle
            }
            other => other,
        },
        Event::Unlocked => match state {
            ref s if s.recovery().is_some_and(|r| r.reason == Reason::Locked) => {
                out.reply(
                    Reply::text(Text::new("unlocked-done"))
                        .then(Text::new("goodbye"))
                        .with_buttons(vec![not_me_button()]),
                );
                State::Idle
            }
            other => other,
        },
        Event::DirectoryRefused { rule } => match state {
            State::ConfirmPassword { rec, .. } | State::NewPassword { rec } => {
                let next = State::NewPassword { rec };
                out.reply(
                    Reply::text(Text::new("directory-refused"))
                        .then(directory_rule_text(rule))
                        .then_prompt(&next),
                );
                next
            }
            other => other,
        },
        Event::UnlockUnsupported => match state {
            State::ChooseMethod { rec } if can_finish(&rec) && rec.reason == Reason::Locked => {
                out.reply(
                    Reply::text(Text::new("unlock-unsupported")).with_buttons(vec![
                        Button::new("reset_instead", Text::new("button-reset-instead")),
                        cancel_button(),
                    ]),
                );
                State::ChooseMethod { rec }
            }
            other => other,
        },
        Event::SwitchedToReset => match state {
            State::ChooseMethod { mut rec } if can_finish(&rec) && rec.reason == Reason::Locked => {
                rec.reason = Reason::Forgot;
                let next = State::NewPassword { rec };
                out.reply(prompt(&next));
                next
            }
            other => other,
        },
        Event::EnrolmentStarted { enrolment_id, hint } => match state {
            State::RegStarting { login } => {
                let next = State::RegProveWork {
                    reg: Registering {
                        id: enrolment_id,
                        login,
                        methods: Vec::new(),
                        confirm_due: false,
                    },
                    hint,
                };
                out.reply(prompt(&next));
                next
            }
            // A resend from the same step.
            State::RegProveWork { reg, hint } => {
                let next = State::RegProveWork { reg, hint };
                out.reply(prompt(&next));
                next
            }
            other => other,
        },
        Event::MethodsShown {
            methods,
            confirm_due,
        } => match state {
            State::RegProveWork { mut reg, .. } => {
                reg.methods = methods;
                reg.confirm_due = confirm_due;
                let next = State::RegMenu { reg };
                out.reply(Reply::text(Text::new("reg-proven")).then_prompt(&next));
                next
            }
            other => other,
        },
        Event::EnrolCodeSent { what, hint } => match state {
            State::RegEnterEmail { reg }
            | State::RegEnterMobile { reg }
            | State::RegEnterCode { reg, .. } => {
                let next = State::RegEnterCode { reg, what, hint };
                out.reply(prompt(&next));
                next
            }
            other => other,
        },
        Event::EnrolCodeWrong => match state {
            s @ (State::RegProveWork { .. }
            | State::RegEnterCode { .. }
            | State::RegTotp { .. }) => {
                out.reply(
                    Reply::text(Text::new("reg-code-wrong")).with_buttons(prompt(&s).buttons),
                );
                s
            }
            other => other,
        },
        Event::EnrolTargetRefused { what } => match state {
            s @ (State::RegEnterEmail { .. } | State::RegEnterMobile { .. }) => {
                let why = match what {
                    Enrol::Mobile => "reg-mobile-refused",
                    _ => "reg-email-is-work",
                };
                out.reply(Reply::text(Text::new(why)).then_prompt(&s));
                s
            }
            other => other,
        },
        Event::QuestionsOffered { question_ids } => match state {
            State::RegMenu { reg } if question_ids.len() >= QUESTIONS_TO_REGISTER => {
                let next = State::RegPickQuestions {
                    reg,
                    offered: question_ids,
                    chosen: Vec::new(),
                };
                out.reply(prompt(&next));
                next
            }
            State::RegMenu { reg } => {
                out.reply(Reply::text(Text::new("unavailable")));
                to_menu(reg, out)
            }
            other => other,
        },
        Event::AnswerTaken => match state {
            State::RegAnswer {
                reg,
                question_ids,
                index,
            } if index + 1 < question_ids.len() => {
                let next = State::RegAnswer {
                    reg,
                    question_ids,
                    index: index + 1,
                };
                out.reply(prompt(&next));
                next
            }
            other => other,
        },
        Event::AnswerRefused { problem } => match state {
            s @ State::RegAnswer { .. } => {
                out.reply(Reply::text(answer_problem_text(problem)).then_prompt(&s));
                s
            }
            other => other,
        },
        Event::TotpCreated { qr } => match state {
            State::RegMenu { reg } | State::RegTotp { reg } => {
                let next = State::RegTotp { reg };
                let mut reply = Reply::text(Text::new("reg-totp-scan")).then_prompt(&next);
                reply.qr = Some(qr);
                out.reply(reply);
                next
            }
            other => other,
        },
        Event::PushNotEnrolled => match state {
            State::RegMenu { reg } => {
                out.reply(Reply::text(Text::new("reg-push-not-enrolled")));
                to_menu(reg, out)
            }
            other => other,
        },
        Event::MethodSaved { what, methods } => match state.registering().cloned() {
            Some(mut reg) => {
                reg.methods = methods;
                reg.confirm_due = false;
                let next = State::RegMenu { reg };
                out.reply(
                    Reply::text(Text::new("reg-saved").arg("method", what.id())).then_prompt(&next),
                );
                next
            }
            None => state,
        },
        Event::MethodsConfirmed => match state {
            State::RegMenu { reg } => {
                out.effect(Effect::EndEnrolment {
                    enrolment_id: reg.id.clone(),
                    why: EndReason::Finished,
                });
                out.reply(Reply::text(Text::new("reg-confirmed")).then(Text::new("goodbye")));
                State::Idle
            }
            other => other,
        },
        Event::ReconfirmDue {
            enrolment_id,
            login,
            methods,
        } => match state {
            State::Idle => {
                let next = State::RegMenu {
                    reg: Registering {
                        id: enrolment_id,
                        login,
                        methods,
                        confirm_due: true,
                    },
                };
                out.reply(prompt(&next));
                next
            }
            other => other,
        },
        Event::PhoneMethodsSuspended => {
            out.reply(
                Reply::text(Text::new("phone-methods-suspended"))
                    .with_buttons(vec![Button::new("register", Text::new("button-register"))]),
            );
            state
        }
        Event::ReportedNotMe => {
            end_current(&state, EndReason::Cancelled, out);
            out.reply(Reply::text(Text::new("reported-not-me")));
            State::Idle
        }
        Event::HandoffOpened { handoff_id } => {
            let login = login_of(&state);
            end_current(&state, EndReason::Cancelled, out);
            let next = State::Handoff {
                handoff_id,
                login,
                agent: None,
            };
            out.reply(Reply::text(Text::new("handoff-opened")).then_prompt(&next));
            next
        }
        Event::DeskClosed { opening, phone } => {
            let login = login_of(&state);
            end_current(&state, EndReason::Cancelled, out);
            let next = State::DeskClosed { login };
            out.reply(
                Reply::text(opening_text("desk-closed", &opening).arg("phone", phone))
                    .with_buttons(prompt(&next).buttons),
            );
            next
        }
        Event::NoDesk { phone } => {
            out.reply(Reply::text(Text::new("helpdesk-call").arg("phone", phone)));
            if !matches!(state, State::Idle) {
                out.reply(prompt(&state));
            }
            state
        }
        Event::CallbackQueued { opening } => match state {
            State::DeskClosed { .. } => {
                out.reply(
                    Reply::text(opening_text("callback-queued", &opening))
                        .then(Text::new("goodbye")),
                );
                State::Idle
            }
            other => other,
        },
        Event::AgentJoined { handoff_id, name } => {
            let login = login_of(&state);
            // A callback request answered later: whatever the chat was doing gives way.
            if !matches!(&state, State::Handoff { handoff_id: id, .. } if *id == handoff_id) {
                end_current(&state, EndReason::Cancelled, out);
            }
            out.reply(Reply::text(
                Text::new("agent-joined").arg("name", name.clone()),
            ));
            State::Handoff {
                handoff_id,
                login,
                agent: Some(name),
            }
        }
        Event::AgentMessage { name, text } => match state {
            s @ State::Handoff { .. } => {
                out.reply(Reply::text(
                    Text::new("agent-says").arg("name", name).arg("text", text),
                ));
                s
            }
            other => other,
        },
        Event::HandoffEnded { timed_out, phone } => match state {
            State::Handoff { .. } => {
                let text = if timed_out {
                    Text::new("handoff-timed-out").arg("phone", phone)
                } else {
                    Text::new("handoff-closed")
                };
                out.reply(
                    Reply::text(text)
                        .with_buttons(vec![Button::new("restart", Text::new("button-restart"))]),
                );
                State::Idle
            }
            other => other,
        },
        Event::AgentUnlocked => match state {
            s @ State::Handoff { .. } => {
                out.reply(Reply::text(Text::new("unlocked-done")));
                s
            }
            other => other,
        },
        Event::AgentApprovedReset { recovery_id, login } => match state {
            State::Handoff { .. } => {
                let next = State::NewPassword {
                    rec: Recovery {
                        id: recovery_id,
                        login,
                        reason: Reason::Forgot,
                        offers: Vec::new(),
                        passed: Vec::new(),
                        no_phone: false,
                        approved_by_agent: true,
                    },
                };
                out.reply(Reply::text(Text::new("agent-reset")).then_prompt(&next));
                next
            }
            other => other,
        },
        Event::Unavailable => {
            let sorry = Reply::text(Text::new("unavailable"));
            match state {
                // Nothing was opened.
                State::Starting { .. } | State::RegStarting { .. } => {
                    out.reply(sorry);
                    State::Idle
                }
                // A code, call or push could not go out: offer the other methods straight away.
                State::EnterPhone { rec, .. }
                | State::EnterCode { rec, .. }
                | State::AwaitCall { rec }
                | State::AwaitPush { rec, .. }
                    if !can_finish(&rec) =>
                {
                    out.reply(sorry);
                    to_choose(rec, out)
                }
                // Elsewhere the same step can simply be tried again.
                other => {
                    out.reply(sorry.with_buttons(prompt(&other).buttons));
                    other
                }
            }
        }
    }
}

fn on_refusal(state: State, refusal: Refusal, out: &mut Out) -> State {
    let (text, ends) = match refusal {
        Refusal::RecoveryLocked { hours } => {
            (Text::new("recovery-locked").num("hours", hours), true)
        }
        Refusal::ChatUserPaused { hours } => {
            (Text::new("chat-user-paused").num("hours", hours), true)
        }
        Refusal::RecoveryClosed => (Text::new("recovery-closed"), true),
        Refusal::TooSoon { seconds } => (Text::new("send-too-soon").num("seconds", seconds), false),
        Refusal::EmailCapReached { hours } => (Text::new("email-cap").num("hours", hours), false),
        Refusal::PushCapReached => (Text::new("push-cap"), false),
        Refusal::ChallengeExpired => (Text::new("challenge-expired"), false),
        Refusal::AccountReported => (Text::new("recovery-blocked-reported"), true),
    };
    if ends {
        let mut buttons = vec![Button::new("restart", Text::new("button-restart"))];
        if matches!(
            refusal,
            Refusal::RecoveryLocked { .. } | Refusal::AccountReported
        ) {
            buttons.insert(0, human_button());
        }
        out.reply(
            Reply::text(text)
                .then(Text::new("helpdesk-info"))
                .with_buttons(buttons),
        );
        return State::Idle;
    }
    match state {
        // A send refused while choosing leaves the user choosing, with the choices shown again.
        s @ State::ChooseMethod { .. } => {
            out.reply(Reply::text(text));
            out.reply(prompt(&s));
            s
        }
        // Elsewhere the step's buttons stay, but not its text: "we sent a code" would be untrue.
        s @ (State::EnterPhone { .. }
        | State::EnterCode { .. }
        | State::AwaitCall { .. }
        | State::AwaitPush { .. }
        | State::RegProveWork { .. }
        | State::RegMenu { .. }
        | State::RegEnterEmail { .. }
        | State::RegEnterMobile { .. }
        | State::RegEnterCode { .. }
        | State::RegTotp { .. }) => {
            out.reply(Reply::text(text).with_buttons(prompt(&s).buttons));
            s
        }
        State::Answering { rec, .. } => {
            out.reply(Reply::text(text));
            to_choose(rec, out)
        }
        State::RegAnswer { reg, .. } | State::RegPickQuestions { reg, .. } => {
            out.reply(Reply::text(text));
            to_menu(reg, out)
        }
        other => {
            out.reply(Reply::text(text));
            other
        }
    }
}

/// The state that is waiting for a verdict on `method`, if any. A verdict for any other method is
/// ignored: only the step that asked may be answered.
fn awaiting(state: &State) -> Option<Method> {
    match state {
        State::EnterCode { method, .. } => Some(*method),
        State::AwaitCall { .. } => Some(Method::Call),
        State::AwaitPush { .. } => Some(Method::Push),
        State::Answering { .. } => Some(Method::Questions),
        State::EnterTotp { .. } => Some(Method::Totp),
        _ => None,
    }
}

fn on_verdict(state: State, method: Method, ok: bool, out: &mut Out) -> State {
    if awaiting(&state) != Some(method) {
        return state;
    }
    let Some(mut rec) = state.recovery().cloned() else {
        return state;
    };
    if !ok {
        let failed = Reply::text(Text::new("verification-failed"));
        return match method {
            // A wrong code may be retyped (the core counts every failure): keep the step's buttons.
            Method::Email | Method::Sms | Method::Totp => {
                out.reply(failed.with_buttons(prompt(&state).buttons));
                state
            }
            _ => {
                out.reply(failed);
                to_choose(rec, out)
            }
        };
    }
    if !rec.passed.contains(&method) {
        rec.passed.push(method);
    }
    if !can_finish(&rec) {
        out.reply(Reply::text(Text::new("method-passed")));
        return to_choose(rec, out);
    }
    match rec.reason {
        Reason::Forgot => {
            let next = State::NewPassword { rec };
            out.reply(Reply::text(Text::new("both-passed")).then_prompt(&next));
            next
        }
        Reason::Locked => {
            out.reply(Reply::text(Text::new("both-passed")));
            out.effect(Effect::Unlock {
                recovery_id: rec.id.clone(),
            });
            State::ChooseMethod { rec }
        }
    }
}

/// The only gate to the final step: two different methods passed.
fn can_finish(rec: &Recovery) -> bool {
    rec.approved_by_agent
        || Method::distinct_factors(rec.passed.iter().copied()) >= METHODS_REQUIRED
}

fn with_rec(state: State, out: &mut Out, f: impl FnOnce(Recovery, &mut Out) -> State) -> State {
    match state.recovery().cloned() {
        Some(rec) if !can_finish(&rec) => f(rec, out),
        _ => state,
    }
}

/// Ends the recovery or registration `state` belongs to, if any.
fn end_current(state: &State, why: EndReason, out: &mut Out) {
    if let Some(rec) = state.recovery() {
        out.effect(Effect::EndRecovery {
            recovery_id: rec.id.clone(),
            why,
        });
    }
    if let Some(reg) = state.registering() {
        out.effect(Effect::EndEnrolment {
            enrolment_id: reg.id.clone(),
            why,
        });
    }
}

fn to_choose(rec: Recovery, out: &mut Out) -> State {
    let next = State::ChooseMethod { rec };
    out.reply(prompt(&next));
    next
}

fn reprompt(state: State, out: &mut Out) -> State {
    out.reply(prompt(&state));
    state
}

impl Reply {
    fn then_prompt(mut self, state: &State) -> Self {
        let p = prompt(state);
        self.texts.extend(p.texts);
        self.buttons = p.buttons;
        self.secret = p.secret;
        self
    }
}

fn greeting() -> Reply {
    Reply::text(Text::new("welcome"))
        .then(Text::new("ask-login"))
        .with_buttons(vec![
            Button::new("lang:nl", Text::new("button-lang-nl")),
            Button::new("lang:en", Text::new("button-lang-en")),
        ])
}

fn cancel_button() -> Button {
    Button::new("cancel", Text::new("button-cancel"))
}

fn other_method_button() -> Button {
    Button::new("other_method", Text::new("button-other-method"))
}

fn code_buttons() -> Vec<Button> {
    vec![
        Button::new("resend", Text::new("button-resend")),
        other_method_button(),
        cancel_button(),
    ]
}

/// What to ask in `state`; shown after a language switch, a restart, or input that did not fit.
pub fn prompt(state: &State) -> Reply {
    match state {
        State::Idle => greeting(),
        State::AskLogin => Reply::text(Text::new("ask-login")).with_buttons(vec![cancel_button()]),
        State::AskReason { login } => {
            Reply::text(Text::new("ask-reason").arg("login", login.as_str())).with_buttons(vec![
                Button::new("reason:forgot", Text::new("button-reason-forgot")),
                Button::new("reason:locked", Text::new("button-reason-locked")),
                cancel_button(),
            ])
        }
        State::Starting { .. } => Reply::text(Text::new("one-moment")),
        State::ChooseMethod { rec } => choose_prompt(rec),
        State::EnterPhone { rec, method } => {
            let id = if *method == Method::Call {
                "enter-phone-call"
            } else {
                "enter-phone-sms"
            };
            Reply::text(Text::new(id).arg("masked", rec.hint(*method)))
                .with_buttons(vec![other_method_button(), cancel_button()])
        }
        State::EnterCode { rec, method } => {
            let id = if *method == Method::Sms {
                "code-sent-sms"
            } else {
                "code-sent-email"
            };
            Reply::text(Text::new(id).arg("target", rec.hint(*method)))
                .then(Text::new("enter-code"))
                .with_buttons(code_buttons())
        }
        State::AwaitCall { rec } => {
            Reply::text(Text::new("call-placed").arg("masked", rec.hint(Method::Call)))
                .with_buttons(vec![
                    Button::new("resend", Text::new("button-call-again")),
                    other_method_button(),
                    cancel_button(),
                ])
        }
        State::AwaitPush { number, .. } => Reply::text(
            Text::new("push-sent").num("number", i64::from(*number)),
        )
        .with_buttons(vec![
            Button::new("resend", Text::new("button-push-again")),
            other_method_button(),
            cancel_button(),
        ]),
        State::Answering {
            question_ids,
            index,
            ..
        } => {
            let qid = question_ids
                .get(*index)
                .map(String::as_str)
                .unwrap_or_default();
            Reply::text(
                Text::new("question-prompt")
                    .num("number", (*index + 1) as i64)
                    .num("total", question_ids.len() as i64),
            )
            .then(question_text(qid))
            .with_buttons(vec![other_method_button(), cancel_button()])
            .secret()
        }
        State::EnterTotp { .. } => Reply::text(Text::new("enter-totp"))
            .with_buttons(vec![other_method_button(), cancel_button()]),
        State::NewPassword { .. } => Reply::text(Text::new("enter-new-password"))
            .with_buttons(vec![cancel_button()])
            .secret(),
        State::ConfirmPassword { .. } => Reply::text(Text::new("confirm-new-password"))
            .with_buttons(vec![cancel_button()])
            .secret(),
        State::RegAskLogin => {
            Reply::text(Text::new("reg-ask-login")).with_buttons(vec![cancel_button()])
        }
        State::RegStarting { .. } => Reply::text(Text::new("one-moment")),
        State::RegProveWork { hint, .. } => {
            Reply::text(Text::new("reg-work-code-sent").arg("target", hint.clone()))
                .then(Text::new("enter-code"))
                .with_buttons(vec![
                    Button::new("resend", Text::new("button-resend")),
                    cancel_button(),
                ])
        }
        State::RegMenu { reg } => registration_overview(reg),
        State::RegEnterEmail { .. } => Reply::text(Text::new("reg-enter-email"))
            .with_buttons(vec![back_button(), cancel_button()]),
        State::RegEnterMobile { .. } => Reply::text(Text::new("reg-enter-mobile"))
            .with_buttons(vec![back_button(), cancel_button()]),
        State::RegEnterCode { what, hint, .. } => {
            let id = if *what == Enrol::Mobile {
                "code-sent-sms"
            } else {
                "code-sent-email"
            };
            Reply::text(Text::new(id).arg("target", hint.clone()))
                .then(Text::new("enter-code"))
                .with_buttons(vec![
                    Button::new("resend", Text::new("button-resend")),
                    back_button(),
                    cancel_button(),
                ])
        }
        State::RegPickQuestions {
            offered, chosen, ..
        } => {
            let mut buttons: Vec<Button> = offered
                .iter()
                .filter(|q| !chosen.contains(q))
                .map(|q| Button::new(format!("q:{q}"), question_text(q)))
                .collect();
            buttons.push(back_button());
            Reply::text(
                Text::new("reg-pick-question")
                    .num("number", (chosen.len() + 1) as i64)
                    .num("total", QUESTIONS_TO_REGISTER as i64),
            )
            .with_buttons(buttons)
        }
        State::RegAnswer {
            question_ids,
            index,
            ..
        } => {
            let qid = question_ids
                .get(*index)
                .map(String::as_str)
                .unwrap_or_default();
            Reply::text(
                Text::new("reg-answer-prompt")
                    .num("number", (*index + 1) as i64)
                    .num("total", question_ids.len() as i64),
            )
            .then(question_text(qid))
            .with_buttons(vec![back_button(), cancel_button()])
            .secret()
        }
        State::RegTotp { .. } => Reply::text(Text::new("reg-totp-enter-code")).with_buttons(vec![
            Button::new("reg:totp", Text::new("button-reg-new-qr")),
            back_button(),
            cancel_button(),
        ]),
        State::Handoff { agent, .. } => match agent {
            Some(name) => Reply::text(Text::new("handoff-with-agent").arg("name", name.clone())),
            None => Reply::text(Text::new("handoff-waiting")),
        }
        .with_buttons(vec![Button::new(
            "cancel",
            Text::new("button-leave-handoff"),
        )]),
        State::DeskClosed { .. } => {
            Reply::text(Text::new("desk-closed-choice")).with_buttons(vec![
                Button::new("callback", Text::new("button-callback")),
                cancel_button(),
            ])
        }
    }
}

/// A message about when the desk opens, with the opening's parts as arguments.
fn opening_text(id: &'static str, o: &Opening) -> Text {
    Text::new(id)
        .arg("relative", o.relative)
        .num("weekday", i64::from(o.weekday))
        .arg("time", o.time.clone())
        .arg("date", o.date.clone())
}

fn not_me_button() -> Button {
    Button::new("not_me", Text::new("button-not-me"))
}

fn human_button() -> Button {
    Button::new("human", Text::new("button-human"))
}

fn back_button() -> Button {
    Button::new("reg:menu", Text::new("button-reg-back"))
}

/// The registration menu: one line per method, then what to add or change.
fn registration_overview(reg: &Registering) -> Reply {
    let mut reply = Reply::text(Text::new("reg-overview").arg("login", reg.login.as_str()));
    for m in &reg.methods {
        reply = reply.then(registered_line(m));
    }
    if reg.confirm_due {
        reply = reply.then(Text::new("reconfirm-ask"));
    }
    let mut buttons: Vec<Button> = reg
        .methods
        .iter()
        .map(|m| {
            Button::new(
                format!("reg:{}", m.what.id()),
                Text::new(if m.registered {
                    "button-reg-change"
                } else {
                    "button-reg-add"
                })
                .arg("method", m.what.id()),
            )
        })
        .collect();
    if reg.methods.iter().any(|m| m.registered) {
        buttons.push(Button::new("reg:confirm", Text::new("button-reg-confirm")));
    }
    buttons.push(Button::new("reg:done", Text::new("button-reg-done")));
    reply.with_buttons(buttons)
}

fn registered_line(m: &Registered) -> Text {
    let state = match (m.registered, m.from_directory, &m.hint) {
        (false, _, _) => "missing",
        (true, true, _) => "directory",
        (true, false, Some(_)) => "registered",
        (true, false, None) => "set",
    };
    Text::new("reg-line")
        .arg("method", m.what.id())
        .arg("state", state)
        .arg("hint", m.hint.clone().unwrap_or_default())
}

fn answer_problem_text(p: AnswerProblem) -> Text {
    match p {
        AnswerProblem::TooShort { min } => Text::new("reg-answer-too-short").num("min", min as i64),
        AnswerProblem::TooLong { max } => Text::new("reg-answer-too-long").num("max", max as i64),
        AnswerProblem::InQuestion => Text::new("reg-answer-in-question"),
        AnswerProblem::Duplicate => Text::new("reg-answer-duplicate"),
    }
}

fn choose_prompt(rec: &Recovery) -> Reply {
    if can_finish(rec) {
        return Reply::text(Text::new("retry-final-step")).with_buttons(vec![
            Button::new("retry", Text::new("button-retry")),
            cancel_button(),
        ]);
    }
    let available = rec.available();
    let passed_factors = Method::distinct_factors(rec.passed.iter().copied());
    let step_no = (passed_factors + 1).min(METHODS_REQUIRED) as i64;
    let still_needed = METHODS_REQUIRED.saturating_sub(passed_factors);
    let phone_methods_hidden = rec.no_phone && rec.offers.iter().any(|o| o.method.needs_phone());
    let mut buttons = Vec::new();
    // An SMS and a call to one number count once: only different factors can finish.
    if Method::distinct_factors(available.iter().map(|o| o.method)) < still_needed {
        let mut reply = Reply::text(Text::new("not-enough-methods"));
        if rec.no_phone {
            reply = reply.then(Text::new("no-phone-needs-email-and-questions"));
            if phone_methods_hidden {
                buttons.push(Button::new("with_phone", Text::new("button-with-phone")));
            }
        }
        reply = reply
            .then(Text::new("not-enough-methods-register"))
            .then(Text::new("helpdesk-info"));
        buttons.push(Button::new("register", Text::new("button-register")));
        buttons.push(human_button());
        buttons.push(cancel_button());
        return reply.with_buttons(buttons);
    }
    for offer in available {
        buttons.push(Button::new(
            format!("method:{}", offer.method.id()),
            method_label(offer.method).arg("hint", offer.hint.clone().unwrap_or_default()),
        ));
    }
    if !rec.no_phone && rec.available().iter().any(|o| o.method.needs_phone()) {
        buttons.push(Button::new("no_phone", Text::new("button-no-phone")));
    } else if phone_methods_hidden {
        buttons.push(Button::new("with_phone", Text::new("button-with-phone")));
    }
    buttons.push(cancel_button());
    Reply::text(
        Text::new("choose-method")
            .num("step", step_no)
            .num("total", METHODS_REQUIRED as i64),
    )
    .with_buttons(buttons)
}

fn method_label(m: Method) -> Text {
    Text::new(match m {
        Method::Email => "method-email",
        Method::Sms => "method-sms",
        Method::Call => "method-call",
        Method::Questions => "method-questions",
        Method::Push => "method-push",
        Method::Totp => "method-totp",
    })
}

/// Security questions are Fluent messages too, so one registration reads in both languages.
fn question_text(id: &str) -> Text {
    Text::new(match id {
        "birth_city" => "question-birth-city",
        "first_pet" => "question-first-pet",
        "favourite_book" => "question-favourite-book",
        "mother_maiden_name" => "question-mother-maiden-name",
        "first_school" => "question-first-school",
        "childhood_street" => "question-childhood-street",
        "first_teacher" => "question-first-teacher",
        "childhood_friend" => "question-childhood-friend",
        "first_concert" => "question-first-concert",
        "first_holiday" => "question-first-holiday",
        _ => "question-unknown",
    })
}

fn violation_text(v: PolicyViolation) -> Text {
    match v {
        PolicyViolation::TooShort { min } => Text::new("password-too-short").num("min", min as i64),
        PolicyViolation::TooLong { max } => Text::new("password-too-long").num("max", max as i64),
        PolicyViolation::ContainsLoginName => Text::new("password-contains-login"),
        PolicyViolation::TooCommon => Text::new("password-too-common"),
        PolicyViolation::Breached => Text::new("password-breached"),
    }
}

fn directory_rule_text(rule: super::DirectoryRule) -> Text {
    use super::DirectoryRule::*;
    Text::new(match rule {
        History => "directory-rule-history",
        Complexity => "directory-rule-complexity",
        TooShort => "directory-rule-too-short",
        TooYoung => "directory-rule-too-young",
        Other => "directory-rule-other",
    })
}

/// The security questions the engine can show, each a Fluent message in both languages. The
/// configuration (`registration.questions`) chooses which of them registration offers.
pub const QUESTION_IDS: [&str; 10] = [
    "birth_city",
    "first_pet",
    "favourite_book",
    "mother_maiden_name",
    "first_school",
    "childhood_street",
    "first_teacher",
    "childhood_friend",
    "first_concert",
    "first_holiday",
];

/// The message for question `id` (for the core, which checks an answer against its question).
pub fn question_message(id: &str) -> Text {
    question_text(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_question_id_has_its_own_message() {
        for id in QUESTION_IDS {
            assert_ne!(question_text(id).id, "question-unknown", "{id}");
        }
    }

    #[test]
    fn secret_steps_ignore_plain_words_but_honour_slash_commands() {
        assert!(command(&UserInput::Text("Stop".into()), true).is_none());
        assert!(matches!(
            command(&UserInput::Text("/stop".into()), true),
            Some(Command::Cancel)
        ));
        assert!(matches!(
            command(&UserInput::Text("annuleren".into()), false),
            Some(Command::Cancel)
        ));
        assert!(matches!(
            command(&UserInput::Text("/taal en".into()), false),
            Some(Command::Language(Lang::En))
        ));
    }

    #[test]
    fn the_final_step_needs_two_different_methods() {
        let rec = |passed: Vec<Method>| Recovery {
            id: "r".into(),
            login: LoginName::parse("a@b.nl").unwrap(),
            reason: Reason::Forgot,
            offers: vec![],
            passed,
            no_phone: false,
            approved_by_agent: false,
        };
        assert!(!can_finish(&rec(vec![Method::Email])));
        assert!(!can_finish(&rec(vec![Method::Email, Method::Email])));
        assert!(
            !can_finish(&rec(vec![Method::Sms, Method::Call])),
            "one phone number"
        );
        assert!(can_finish(&rec(vec![Method::Email, Method::Totp])));
    }
}
