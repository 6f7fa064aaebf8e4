use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use super::{EmailSender, Notice, ProviderError, PushSender, SmsSender, VoiceCaller};
use crate::dialogue::Lang;
use crate::domain::{EmailAddress, LoginName, OtpCode, PhoneNumber};

/// The push device the outbox reports for every account (see [`PushSender::enrolled_device`]).
pub const OUTBOX_DEVICE: &str = "outbox-device";

/// Development stand-in for every provider: one JSON object per line in a file, e.g.
/// `{"channel":"email","to":"jan@example.org","code":"123456"}`; a notice's line has its
/// "this wasn't me" `link` (or `null`). It holds codes and links by design — it
/// *is* the delivery channel in development — so never point it at a shared location in production.
#[derive(Debug)]
pub struct Outbox {
    path: PathBuf,
    lock: Mutex<()>,
}

impl Outbox {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn append(&self, line: Value) -> Result<(), ProviderError> {
        let _guard = self.lock.lock().await;
        let fail = |e: std::io::Error| ProviderError {
            provider: "outbox",
            reason: e.to_string(),
        };
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(fail)?;
        let mut text = line.to_string();
        text.push('\n');
        file.write_all(text.as_bytes()).await.map_err(fail)?;
        file.flush().await.map_err(fail)
    }

    /// Every line written so far (tests and the demo read codes from here).
    pub async fn lines(&self) -> Vec<Value> {
        let text = tokio::fs::read_to_string(&self.path)
            .await
            .unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

#[async_trait]
impl EmailSender for Outbox {
    async fn send_code(
        &self,
        to: &EmailAddress,
        code: &OtpCode,
        lang: Lang,
    ) -> Result<(), ProviderError> {
        self.append(json!({"channel": "email", "to": to.as_str(), "code": code.expose(), "lang": lang.code()}))
            .await
    }

    async fn send_notice(
        &self,
        to: &EmailAddress,
        account: &LoginName,
        notice: Notice,
        link: Option<&str>,
        lang: Lang,
    ) -> Result<(), ProviderError> {
        self.append(json!({"channel": "email", "to": to.as_str(), "notice": notice.id(), "account": account.as_str(), "link": link, "lang": lang.code()}))
            .await
    }
}

#[async_trait]
impl SmsSender for Outbox {
    async fn send_code(
        &self,
        to: &PhoneNumber,
        code: &OtpCode,
        lang: Lang,
    ) -> Result<(), ProviderError> {
        self.append(json!({"channel": "sms", "to": to.as_str(), "code": code.expose(), "lang": lang.code()}))
            .await
    }
}

#[async_trait]
impl VoiceCaller for Outbox {
    async fn place_call(
        &self,
        to: &PhoneNumber,
        call_id: &str,
        lang: Lang,
    ) -> Result<(), ProviderError> {
        self.append(
            json!({"channel": "voice", "to": to.as_str(), "call_id": call_id, "lang": lang.code()}),
        )
        .await
    }
}

#[async_trait]
impl PushSender for Outbox {
    async fn send_push(
        &self,
        device: &str,
        account: &LoginName,
        push_id: &str,
        number: u32,
        lang: Lang,
    ) -> Result<Option<String>, ProviderError> {
        self.append(json!({"channel": "push", "to": device, "account": account.as_str(), "number": number, "push_id": push_id, "lang": lang.code()}))
            .await
            .map(|()| None)
    }

    /// The outbox is the demo phone: every account has it as its push device, so push can be
    /// registered in the demo without an authenticator app. Nothing is written: asking sends
    /// nothing.
    async fn enrolled_device(&self, _account: &LoginName) -> Result<Option<String>, ProviderError> {
        Ok(Some(OUTBOX_DEVICE.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_outbox_reports_its_own_device_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let outbox = Outbox::new(dir.path().join("outbox.jsonl"));
        let jan = LoginName::parse(crate::demo::JAN).expect("a valid login name");
        assert_eq!(
            outbox
                .enrolled_device(&jan)
                .await
                .expect("no error")
                .as_deref(),
            Some(OUTBOX_DEVICE)
        );
        assert!(outbox.lines().await.is_empty());
    }
}
