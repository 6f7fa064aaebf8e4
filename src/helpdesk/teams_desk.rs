//! A Microsoft Teams channel as a [`Desk`], through a Workflows webhook (config
//! `helpdesk.teams_workflow_url`): the flow "When a Teams webhook request is received" → "Post
//! card in a chat or channel" posts the Adaptive Card it is sent.
//!
//! The Teams channel is a notification board: it shows each new handoff's card (and a short line
//! when one is claimed or ends), but agents cannot act there — a Workflows webhook is one-way.
//! Claiming, answering the user, unlocking and closing happen in the helpdesk's Telegram group
//! ([`super::telegram_desk`]); the user's messages are not relayed to Teams. So [`Desk::post`]
//! returns no reference, and [`Desk::relay`] does nothing.
//!
//! The workflow URL carries its own signature (`sig=…`): it is a secret. It is never logged, and
//! errors name neither the URL nor the response body. Only `https` URLs are taken, except to
//! this machine (`http://127.0.0.1`, `localhost`: tests and local proxies). Redirects are not
//! followed, and a request gives up after [`TIMEOUT`].

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use async_trait::async_trait;
use chrono_tz::Tz;
use serde_json::{json, Value};

use super::desk::{Desk, HandoffCard};
use super::telegram_desk::{account_text, default_time_zone, status_text, CardText};
use crate::dialogue::{Lang, Text};
use crate::i18n::Localizer;

/// How long one post to the workflow may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The Adaptive Card version Teams workflows render everywhere (desktop, web, mobile).
const CARD_VERSION: &str = "1.4";

pub struct TeamsWorkflowDesk {
    url: reqwest::Url,
    http: reqwest::Client,
    l10n: Arc<Localizer>,
    lang: Lang,
    tz: Tz,
}

impl TeamsWorkflowDesk {
    /// A desk posting to workflow `url` (https; http only to a loopback host), with Dutch texts
    /// and Amsterdam times.
    pub fn new(url: &str, l10n: Arc<Localizer>) -> anyhow::Result<Self> {
        // Url's parse errors do not repeat the input, so the signature stays out of them.
        let url = reqwest::Url::parse(url.trim())
            .ok()
            .context("helpdesk.teams_workflow_url is not a URL")?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            _ => bail!("helpdesk.teams_workflow_url must start with https://"),
        }
        if url.host_str().is_none_or(str::is_empty) {
            bail!("helpdesk.teams_workflow_url has no host name");
        }
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("teams desk: HTTP client")?;
        Ok(Self {
            url,
            http,
            l10n,
            lang: Lang::Nl,
            tz: default_time_zone(),
        })
    }

    /// The desk's language (default Dutch).
    pub fn with_lang(mut self, lang: Lang) -> Self {
        self.lang = lang;
        self
    }

    /// The time zone times on cards are shown in (default Europe/Amsterdam).
    pub fn with_time_zone(mut self, tz: Tz) -> Self {
        self.tz = tz;
        self
    }

    /// The Adaptive Card of a new handoff.
    pub fn card(&self, card: &HandoffCard) -> Value {
        let view = CardText::new(&self.l10n, self.lang, self.tz, card);
        let facts: Vec<Value> = view
            .facts
            .iter()
            .map(|(title, value)| json!({"title": title, "value": value}))
            .collect();
        adaptive_card(vec![
            json!({
                "type": "TextBlock",
                "text": view.title,
                "weight": "Bolder",
                "size": "Medium",
                "wrap": true,
                "color": if view.urgent { "Attention" } else { "Default" },
            }),
            json!({"type": "FactSet", "facts": facts}),
            json!({
                "type": "TextBlock",
                "text": self.l10n.text(self.lang, &Text::new("hd-teams-act-in-telegram")),
                "wrap": true,
                "isSubtle": true,
                "size": "Small",
            }),
        ])
    }

    /// The one-line card of a change (claimed, closed, timed out).
    pub fn update_card(&self, card: &HandoffCard) -> Value {
        let text = self.l10n.text(
            self.lang,
            &Text::new("hd-teams-update")
                .arg("ref", card.short_ref())
                .arg(
                    "account",
                    account_text(&self.l10n, self.lang, card.account.as_deref()),
                )
                .arg("status", status_text(&self.l10n, self.lang, &card.status)),
        );
        adaptive_card(vec![
            json!({"type": "TextBlock", "text": text, "wrap": true}),
        ])
    }

    async fn send(&self, content: Value) -> anyhow::Result<()> {
        let body = json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": content,
            }],
        });
        let response = self
            .http
            .post(self.url.clone())
            .json(&body)
            .send()
            .await
            // Without the URL: it holds the workflow's signature.
            .map_err(|e| anyhow::anyhow!("teams desk: request failed: {}", e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            bail!("teams desk: the workflow answered HTTP {}", status.as_u16());
        }
        Ok(())
    }
}

/// An Adaptive Card 1.4 with `body`, full width in Teams.
fn adaptive_card(body: Vec<Value>) -> Value {
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    })
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[async_trait]
impl Desk for TeamsWorkflowDesk {
    fn name(&self) -> &'static str {
        "teams"
    }

    /// Posts the card; no reference, since nobody answers a card in Teams.
    async fn post(&self, card: &HandoffCard) -> anyhow::Result<Option<String>> {
        self.send(self.card(card)).await?;
        Ok(None)
    }

    async fn update(&self, _desk_ref: Option<&str>, card: &HandoffCard) -> anyhow::Result<()> {
        self.send(self.update_card(card)).await
    }

    /// Nothing: the conversation runs through the Telegram group.
    async fn relay(
        &self,
        _desk_ref: Option<&str>,
        _card: &HandoffCard,
        _text: &str,
    ) -> anyhow::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l10n() -> Arc<Localizer> {
        Arc::new(Localizer::new().unwrap())
    }

    fn card() -> HandoffCard {
        HandoffCard {
            handoff_id: "3fa2c1d4e5f60718293a4b5c6d7e8f90".into(),
            kind: "urgent".into(),
            account: Some("a.bakker@bedrijf.nl".into()),
            lang: Lang::Nl,
            platform: "teams".into(),
            passed: vec![("email".into(), 1_796_022_180)],
            failed: vec![],
            reason: "asked".into(),
            created_at: 1_796_022_300,
            status: "waiting".into(),
        }
    }

    #[test]
    fn only_https_or_loopback_urls_are_taken() {
        for ok in [
            "https://prod-12.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=XYZ",
            "http://127.0.0.1:8080/hook?sig=XYZ",
            "http://localhost/hook",
            "http://[::1]:9/hook",
        ] {
            assert!(TeamsWorkflowDesk::new(ok, l10n()).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/hook?sig=SECRETSIG",
            "ftp://example.com/hook",
            "not a url sig=SECRETSIG",
            "",
        ] {
            let err = TeamsWorkflowDesk::new(bad, l10n()).err().unwrap();
            assert!(!format!("{err:#}").contains("SECRETSIG"), "{err:#}");
        }
    }

    #[test]
    fn the_card_is_an_adaptive_card_with_the_facts() {
        let desk = TeamsWorkflowDesk::new("https://example.com/hook", l10n()).unwrap();
        let c = desk.card(&card());
        assert_eq!(c["type"], "AdaptiveCard");
        assert_eq!(c["version"], "1.4");
        assert_eq!(c["body"][0]["color"], "Attention");
        assert!(c["body"][0]["text"]
            .as_str()
            .unwrap()
            .contains("DRINGEND #3fa2c1"));
        let facts = c["body"][1]["facts"].as_array().unwrap();
        assert!(facts
            .iter()
            .any(|f| f["title"] == "Account" && f["value"] == "a.bakker@bedrijf.nl"));
        assert!(
            facts.iter().any(|f| f["value"] == "e-mail 08:03"),
            "{facts:?}"
        );
        let mut claimed = card();
        claimed.status = "claimed by Piet".into();
        let u = desk.update_card(&claimed);
        let text = u["body"][0]["text"].as_str().unwrap();
        assert!(
            text.contains("#3fa2c1") && text.contains("opgepakt door Piet"),
            "{text}"
        );
    }
}
