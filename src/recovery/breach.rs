//! The breached-password check: is a new password in the Have I Been Pwned corpus? Only the
//! first five hex digits of its SHA-1 leave this process (k-anonymity range API), with padding
//! so the answer's size says nothing either. An API that cannot be reached does not block a
//! reset: the local rules have run and the directory still has the last word.

use std::time::Duration;

use sha1::{Digest, Sha1};

#[derive(Clone, Debug)]
pub struct BreachCheck {
    base_url: String,
    client: reqwest::Client,
}

impl BreachCheck {
    /// `base_url`: `https://api.pwnedpasswords.com`, or a mirror/fake.
    pub fn new(base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent("sspr-bot")
            .build()?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            client,
        })
    }

    /// `Some(true)`: breached; `Some(false)`: not in the corpus; `None`: could not tell.
    pub async fn is_breached(&self, password: &str) -> Option<bool> {
        let digest = hex::encode_upper(Sha1::digest(password.as_bytes()));
        let (prefix, suffix) = digest.split_at(5);
        let response = self
            .client
            .get(format!("{}/range/{prefix}", self.base_url))
            .header("Add-Padding", "true")
            .send()
            .await;
        let body = match response {
            Ok(r) if r.status().is_success() => r.text().await.ok()?,
            Ok(r) => {
                tracing::warn!(status = %r.status(), "breached-password check unavailable");
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %e.without_url(), "breached-password check unavailable");
                return None;
            }
        };
        Some(body.lines().any(|line| {
            let mut parts = line.trim().split(':');
            let (Some(s), Some(count)) = (parts.next(), parts.next()) else {
                return false;
            };
            // Padding lines have a count of 0.
            s.eq_ignore_ascii_case(suffix) && count.trim().parse::<u64>().is_ok_and(|c| c > 0)
        }))
    }
}
