//! SMS through Bird (MessageBird)'s REST API: `POST {base}/messages` with
//! `Authorization: AccessKey …` and a JSON body (`recipients`, `originator`, `body`, `reference`).
//! Bird answers `201 Created` with the message, or an error status with
//! `{"errors":[{"code":…,"description":…,"parameter":…}]}`.
//!
//! The same rules as [`super::twilio`]: one POST per request and never a retry, failures as a
//! [`ProviderError`] without the access key, the recipient or the code, and a warning in the log.

use std::sync::Arc;

use anyhow::{bail, Context};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::twilio::{check_text, fail, http_client, sms_text, transport_reason, CODE_MINUTES};
use super::{scrub, ProviderError, SmsSender};
use crate::config::{Secret, SmsConfig};
use crate::dialogue::Lang;
use crate::domain::{OtpCode, PhoneNumber};
use crate::i18n::Localizer;

const PROVIDER: &str = "bird";

pub struct BirdSms {
    client: reqwest::Client,
    url: String,
    access_key: Secret,
    originator: String,
    timeout_secs: u64,
    l10n: Arc<Localizer>,
}

impl std::fmt::Debug for BirdSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BirdSms")
            .field("url", &self.url)
            .field("access_key", &self.access_key)
            .field("originator", &self.originator)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Created {
    id: Option<String>,
}

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<BirdError>,
}

#[derive(Deserialize)]
struct BirdError {
    code: Option<i64>,
    description: Option<String>,
    parameter: Option<String>,
}

impl BirdSms {
    pub fn new(config: &SmsConfig, l10n: Arc<Localizer>) -> anyhow::Result<Self> {
        let access_key = config
            .access_key
            .clone()
            .filter(|s| !s.expose().trim().is_empty())
            .context("sms.access_key is required for Bird")?;
        let originator = config
            .originator
            .clone()
            .filter(|s| !s.trim().is_empty())
            .context("sms.originator is required for Bird")?;
        if !valid_originator(&originator) {
            bail!("sms.originator must be a phone number or at most 11 letters and digits");
        }
        check_text(&l10n)?;
        Ok(Self {
            client: http_client(config.timeout_secs)?,
            url: format!("{}/messages", config.base_url()),
            access_key,
            originator,
            timeout_secs: config.timeout_secs,
            l10n,
        })
    }
}

/// Bird's rule: a telephone number, or an alphanumeric name of at most 11 characters.
fn valid_originator(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    let is_number =
        !digits.is_empty() && digits.len() <= 17 && digits.bytes().all(|b| b.is_ascii_digit());
    let is_name =
        (1..=11).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ');
    is_number || is_name
}

#[async_trait]
impl SmsSender for BirdSms {
    async fn send_code(
        &self,
        to: &PhoneNumber,
        code: &OtpCode,
        lang: Lang,
    ) -> Result<(), ProviderError> {
        let body = sms_text(&self.l10n, lang, code).map_err(|reason| fail(PROVIDER, reason))?;
        let msisdn = to.as_str().trim_start_matches('+');
        // A fresh reference per request: it names this one message in Bird's dashboard and
        // delivery reports, so an operator can tell whether a request went out.
        let reference = new_reference();
        let payload = json!({
            "recipients": [msisdn],
            "originator": self.originator,
            "body": body,
            "reference": reference,
            // Not worth delivering once the code has expired.
            "validity": CODE_MINUTES * 60,
        });
        // One attempt only: a retry after a timeout could send a second SMS.
        let response = self
            .client
            .post(&self.url)
            .header(
                reqwest::header::AUTHORIZATION,
                authorization(&self.access_key).map_err(|reason| fail(PROVIDER, reason))?,
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&payload)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                let reason = transport_reason(e, self.timeout_secs, "SMS");
                tracing::warn!(provider = PROVIDER, %reference, %reason, "SMS provider unreachable; not retried");
                return Err(fail(PROVIDER, reason));
            }
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status == reqwest::StatusCode::CREATED {
            let id = serde_json::from_str::<Created>(&text)
                .ok()
                .and_then(|c| c.id)
                .unwrap_or_default();
            tracing::info!(provider = PROVIDER, %reference, message_id = %id, "SMS accepted");
            return Ok(());
        }
        let scrub_list = [self.access_key.expose(), code.expose(), to.as_str(), msisdn];
        let detail = serde_json::from_str::<Errors>(&text)
            .ok()
            .map(|e| {
                e.errors
                    .iter()
                    .take(3)
                    .map(|err| {
                        let mut s = match err.code {
                            Some(c) => format!("error {c}"),
                            None => "error".to_string(),
                        };
                        if let Some(d) = err.description.as_deref().filter(|d| !d.trim().is_empty())
                        {
                            s.push_str(": ");
                            s.push_str(&scrub(d, &scrub_list));
                        }
                        if let Some(p) = err.parameter.as_deref().filter(|p| !p.trim().is_empty()) {
                            s.push_str(&format!(" ({})", scrub(p, &scrub_list)));
                        }
                        s
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .filter(|d| !d.is_empty());
        let reason = match detail {
            Some(d) => format!("HTTP {}: {d}", status.as_u16()),
            None => format!("HTTP {}", status.as_u16()),
        };
        tracing::warn!(provider = PROVIDER, status = status.as_u16(), %reference, %reason, "SMS provider refused the message");
        Err(fail(PROVIDER, reason))
    }
}

/// `AccessKey …`, marked sensitive so no debug output of the request shows it.
fn authorization(key: &Secret) -> Result<reqwest::header::HeaderValue, String> {
    let mut value = reqwest::header::HeaderValue::from_str(&format!("AccessKey {}", key.expose()))
        // Not the key itself: only that it cannot be a header.
        .map_err(|_| "the access key contains characters not allowed in a header".to_string())?;
    value.set_sensitive(true);
    Ok(value)
}

fn new_reference() -> String {
    use rand::Rng;
    let bytes: [u8; 12] = rand::rngs::OsRng.gen();
    format!("sspr-{}", hex::encode(bytes))
}
