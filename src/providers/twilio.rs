//! SMS through a Twilio-compatible Messages API:
//! `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`, form-encoded, HTTP Basic auth with the
//! account SID and auth token, sent `From` a number or through a Messaging Service.
//!
//! At most one SMS per request: the POST is never retried, because a timeout does not say whether
//! Twilio already accepted the message. A failure is a [`ProviderError`] that names the HTTP
//! status and Twilio's own error code and message, and never the auth token, the recipient or the
//! code.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use async_trait::async_trait;
use serde::Deserialize;

use super::{scrub, ProviderError, SmsSender};
use crate::config::{Secret, SmsConfig};
use crate::dialogue::{Lang, Text};
use crate::domain::{OtpCode, PhoneNumber};
use crate::i18n::Localizer;

const PROVIDER: &str = "twilio";

/// How long a code is valid, for the text of the message (the core's `Rules::code_ttl_secs`).
pub(super) const CODE_MINUTES: i64 = 10;

/// The Fluent message that is the SMS itself.
pub(super) const SMS_TEXT_ID: &str = "sms-code-text";

enum Sender {
    From(String),
    MessagingService(String),
}

pub struct TwilioSms {
    client: reqwest::Client,
    url: String,
    account_sid: String,
    auth_token: Secret,
    sender: Sender,
    timeout_secs: u64,
    l10n: Arc<Localizer>,
}

impl std::fmt::Debug for TwilioSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioSms")
            .field("url", &self.url)
            .field("auth_token", &self.auth_token)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Created {
    sid: Option<String>,
}

#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

impl TwilioSms {
    pub fn new(config: &SmsConfig, l10n: Arc<Localizer>) -> anyhow::Result<Self> {
        let account_sid = config
            .account_sid
            .clone()
            .filter(|s| !s.trim().is_empty())
            .context("sms.account_sid is required for Twilio")?;
        if !account_sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            bail!("sms.account_sid must be letters and digits only (like AC0123…)");
        }
        let auth_token = config
            .auth_token
            .clone()
            .filter(|s| !s.expose().trim().is_empty())
            .context("sms.auth_token is required for Twilio")?;
        let sender = match (&config.from, &config.messaging_service_sid) {
            (Some(from), None) => Sender::From(from.clone()),
            (None, Some(service)) => Sender::MessagingService(service.clone()),
            _ => bail!("set exactly one of sms.from and sms.messaging_service_sid"),
        };
        check_text(&l10n)?;
        Ok(Self {
            client: http_client(config.timeout_secs)?,
            url: format!(
                "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
                config.base_url()
            ),
            account_sid,
            auth_token,
            sender,
            timeout_secs: config.timeout_secs,
            l10n,
        })
    }
}

#[async_trait]
impl SmsSender for TwilioSms {
    async fn send_code(
        &self,
        to: &PhoneNumber,
        code: &OtpCode,
        lang: Lang,
    ) -> Result<(), ProviderError> {
        let body = sms_text(&self.l10n, lang, code).map_err(|reason| fail(PROVIDER, reason))?;
        let (sender_field, sender_value) = match &self.sender {
            Sender::From(from) => ("From", from.as_str()),
            Sender::MessagingService(sid) => ("MessagingServiceSid", sid.as_str()),
        };
        let validity = (CODE_MINUTES * 60).to_string();
        let form = [
            ("To", to.as_str()),
            (sender_field, sender_value),
            ("Body", body.as_str()),
            // Not worth delivering once the code has expired.
            ("ValidityPeriod", validity.as_str()),
        ];
        // One attempt only: a retry after a timeout could send a second SMS.
        let response = post_form(
            &self.client,
            &self.url,
            &self.account_sid,
            &self.auth_token,
            &form,
        )
        .await;
        let scrub_list = [
            self.auth_token.expose(),
            code.expose(),
            to.as_str(),
            to.as_str().trim_start_matches('+'),
        ];
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                let reason = transport_reason(e, self.timeout_secs, "SMS");
                tracing::warn!(provider = PROVIDER, %reason, "SMS provider unreachable; not retried");
                return Err(fail(PROVIDER, reason));
            }
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status == reqwest::StatusCode::CREATED {
            let sid = serde_json::from_str::<Created>(&text)
                .ok()
                .and_then(|c| c.sid)
                .unwrap_or_default();
            tracing::info!(provider = PROVIDER, message_sid = %sid, "SMS accepted");
            return Ok(());
        }
        let reason = error_reason(status, &text, &scrub_list);
        tracing::warn!(provider = PROVIDER, status = status.as_u16(), %reason, "SMS provider refused the message");
        Err(fail(PROVIDER, reason))
    }
}

/// One form POST to a Twilio REST resource with the account's Basic auth. Sent once: callers
/// never retry it.
pub(super) async fn post_form(
    client: &reqwest::Client,
    url: &str,
    account_sid: &str,
    auth_token: &Secret,
    form: &[(&str, &str)],
) -> Result<reqwest::Response, reqwest::Error> {
    client
        .post(url)
        .basic_auth(account_sid, Some(auth_token.expose()))
        .header(reqwest::header::ACCEPT, "application/json")
        .form(form)
        .send()
        .await
}

/// `HTTP 400: error 21211: <Twilio's message>` from a Twilio error answer, with `secrets`
/// scrubbed from Twilio's text (it sometimes repeats the number).
pub(super) fn error_reason(status: reqwest::StatusCode, body: &str, secrets: &[&str]) -> String {
    let detail = serde_json::from_str::<TwilioError>(body)
        .ok()
        .map(|e| {
            let mut parts = Vec::new();
            if let Some(code) = e.code {
                parts.push(format!("error {code}"));
            }
            if let Some(m) = e.message.filter(|m| !m.trim().is_empty()) {
                parts.push(scrub(&m, secrets));
            }
            parts.join(": ")
        })
        .filter(|d| !d.is_empty());
    match detail {
        Some(d) => format!("HTTP {}: {d}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

pub(super) fn fail(provider: &'static str, reason: String) -> ProviderError {
    ProviderError { provider, reason }
}

/// A client that gives up after `timeout_secs` and follows no redirects (a redirected POST would
/// either drop the credentials or hand them to another host).
pub(super) fn http_client(timeout_secs: u64) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(timeout_secs.max(1)))
        .connect_timeout(Duration::from_secs(timeout_secs.clamp(1, 10)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("sspr-bot/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the SMS provider's HTTP client")
}

/// The SMS text in `lang`.
pub(super) fn sms_text(l10n: &Localizer, lang: Lang, code: &OtpCode) -> Result<String, String> {
    let text = Text::new(SMS_TEXT_ID)
        .arg("code", code.expose())
        .num("minutes", CODE_MINUTES);
    // The error names the message and the language, not the arguments.
    l10n.try_text(lang, &text).map_err(|e| e.to_string())
}

/// Fails at start-up, not at the first SMS, when the message text is missing.
pub(super) fn check_text(l10n: &Localizer) -> anyhow::Result<()> {
    let probe = OtpCode::parse("000000").expect("six digits");
    for lang in [Lang::Nl, Lang::En] {
        sms_text(l10n, lang, &probe).map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// Why a request got no HTTP answer, without the URL (which holds the account SID).
/// Why a request got no HTTP answer; `what` went out or not, nobody knows, so it is not retried.
pub(super) fn transport_reason(e: reqwest::Error, timeout_secs: u64, what: &str) -> String {
    if e.is_timeout() {
        format!("no answer within {timeout_secs} s (the {what} may have gone out; not retried)")
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        format!("request failed: {}", e.without_url())
    }
}
