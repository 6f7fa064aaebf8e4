//! How codes, calls and pushes leave sspr-bot. Each method that leaves the chat has a small trait;
//! real senders implement them (SMTP e-mail; Twilio and Bird SMS). The development [`Outbox`]
//! implements all four by writing what would be sent to a JSON-lines file.

pub mod bird;
pub mod duo;
mod outbox;
pub mod smtp;
pub mod twilio;
pub mod twilio_voice;

use std::sync::Arc;

use async_trait::async_trait;

pub use outbox::{Outbox, OUTBOX_DEVICE};

use crate::dialogue::Lang;
use crate::domain::{EmailAddress, LoginName, Method, OtpCode, PhoneNumber};

#[derive(Debug, thiserror::Error)]
#[error("{provider} could not deliver: {reason}")]
pub struct ProviderError {
    pub provider: &'static str,
    /// Never contains the code or number being sent.
    pub reason: String,
}

/// Longest provider message kept in an error: enough to diagnose, short enough for a log line.
pub(crate) const MAX_PROVIDER_MESSAGE: usize = 200;

/// A provider's own error text, made fit for logs: every secret in `secrets` (token, key, the
/// code, the number) of four characters or more replaced, and the whole shortened.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s, "[redacted]");
    }
    if out.chars().count() > MAX_PROVIDER_MESSAGE {
        out = out.chars().take(MAX_PROVIDER_MESSAGE).collect::<String>() + "…";
    }
    out
}

/// A message to the alternate address that is not a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Carries the "this wasn't me" link when a public URL is configured.
    PasswordReset,
    /// Carries the "this wasn't me" link when a public URL is configured.
    Unlocked,
    /// A verification method was registered or changed (to the old and new alternate address
    /// and the work address). Never with a link: its words give the phone number only.
    MethodsChanged,
}

impl Notice {
    pub fn id(self) -> &'static str {
        match self {
            Notice::PasswordReset => "password_reset",
            Notice::Unlocked => "unlocked",
            Notice::MethodsChanged => "methods_changed",
        }
    }
}

#[async_trait]
pub trait EmailSender: Send + Sync {
    async fn send_code(
        &self,
        to: &EmailAddress,
        code: &OtpCode,
        lang: Lang,
    ) -> Result<(), ProviderError>;
    /// `link`: the signed "this wasn't me" link ([`Notice::PasswordReset`] and
    /// [`Notice::Unlocked`] show it; without one their words give only the phone number).
    async fn send_notice(
        &self,
        to: &EmailAddress,
        account: &LoginName,
        notice: Notice,
        link: Option<&str>,
        lang: Lang,
    ) -> Result<(), ProviderError>;
}

#[async_trait]
pub trait SmsSender: Send + Sync {
    async fn send_code(
        &self,
        to: &PhoneNumber,
        code: &OtpCode,
        lang: Lang,
    ) -> Result<(), ProviderError>;
}

#[async_trait]
pub trait VoiceCaller: Send + Sync {
    /// Places a call that asks the user to press `#`; the answer comes back with `call_id`.
    async fn place_call(
        &self,
        to: &PhoneNumber,
        call_id: &str,
        lang: Lang,
    ) -> Result<(), ProviderError>;
}

#[async_trait]
pub trait PushSender: Send + Sync {
    /// Sends an approval request showing `number`, the number the chat shows. Returns the
    /// provider's own reference for it (Duo's transaction id), kept so the wait for the answer
    /// can be resumed after a restart.
    async fn send_push(
        &self,
        device: &str,
        account: &LoginName,
        push_id: &str,
        number: u32,
        lang: Lang,
    ) -> Result<Option<String>, ProviderError>;

    /// Whether `account` has a device that can receive push approvals, asked when the employee
    /// registers push: `Some(device id)` (what [`PushSender::send_push`] takes as `device`) for
    /// one that can, `None` when there is none (not enrolled, enrolment required, or denied by
    /// the provider's policy). An error only when the provider could not be asked or gave an
    /// answer that cannot be read.
    async fn enrolled_device(&self, account: &LoginName) -> Result<Option<String>, ProviderError>;
}

/// The senders the core uses. A method whose sender is missing is not offered to anyone.
#[derive(Clone, Default)]
pub struct Providers {
    pub email: Option<Arc<dyn EmailSender>>,
    pub sms: Option<Arc<dyn SmsSender>>,
    pub voice: Option<Arc<dyn VoiceCaller>>,
    pub push: Option<Arc<dyn PushSender>>,
}

impl Providers {
    /// Every method through one outbox.
    pub fn outbox(outbox: Arc<Outbox>) -> Self {
        Self {
            email: Some(outbox.clone()),
            sms: Some(outbox.clone()),
            voice: Some(outbox.clone()),
            push: Some(outbox),
        }
    }

    /// Whether `method` can be used at all: the methods that leave the chat need their sender.
    pub fn supports(&self, method: Method) -> bool {
        match method {
            Method::Email => self.email.is_some(),
            Method::Sms => self.sms.is_some(),
            Method::Call => self.voice.is_some(),
            Method::Push => self.push.is_some(),
            Method::Questions | Method::Totp => true,
        }
    }
}
