//! How codes, calls and pushes leave sspr-bot. Each method that leaves the chat has a small trait;
//! real senders (SMTP, Twilio, Duo) implement them in a later issue. The development [`Outbox`]
//! implements all four by writing what would be sent to a JSON-lines file.

mod outbox;

use std::sync::Arc;

use async_trait::async_trait;

pub use outbox::Outbox;

use crate::dialogue::Lang;
use crate::domain::{EmailAddress, LoginName, OtpCode, PhoneNumber};

#[derive(Debug, thiserror::Error)]
#[error("{provider} could not deliver: {reason}")]
pub struct ProviderError {
    pub provider: &'static str,
    /// Never contains the code or number being sent.
    pub reason: String,
}

/// A message to the alternate address that is not a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    PasswordReset,
    Unlocked,
}

impl Notice {
    pub fn id(self) -> &'static str {
        match self {
            Notice::PasswordReset => "password_reset",
            Notice::Unlocked => "unlocked",
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
    async fn send_notice(
        &self,
        to: &EmailAddress,
        account: &LoginName,
        notice: Notice,
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
    /// Sends an approval request; the app asks the user for `number` (number matching).
    async fn send_push(
        &self,
        device: &str,
        account: &LoginName,
        push_id: &str,
        number: u32,
        lang: Lang,
    ) -> Result<(), ProviderError>;
}

/// The senders the core uses.
#[derive(Clone)]
pub struct Providers {
    pub email: Arc<dyn EmailSender>,
    pub sms: Arc<dyn SmsSender>,
    pub voice: Arc<dyn VoiceCaller>,
    pub push: Arc<dyn PushSender>,
}

impl Providers {
    /// Every method through one outbox.
    pub fn outbox(outbox: Arc<Outbox>) -> Self {
        Self {
            email: outbox.clone(),
            sms: outbox.clone(),
            voice: outbox.clone(),
            push: outbox,
        }
    }
}
