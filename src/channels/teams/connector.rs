//! The outbound half of the Teams channel: the Bot Framework Bot Connector REST API.
//!
//! A reply, a proactive message (a call was answered, a helpdesk agent wrote) and the update of a
//! used card all go to the `serviceUrl` of the conversation:
//! - `POST {serviceUrl}/v3/conversations/{conversationId}/activities` ([`Connector::send`]);
//! - `PUT {serviceUrl}/v3/conversations/{conversationId}/activities/{activityId}`
//!   ([`Connector::update`]), to replace a card that was used so it can't be submitted twice;
//! - `DELETE` of the same path ([`Connector::delete`]), for a message that must leave the chat.
//!
//! Ids go into the path percent-encoded as the Bot Framework SDKs do (`encodeURIComponent`):
//! Teams conversation ids hold `:`, `@` and `;` (`a:1x…`, `19:…@thread.tacv2;messageid=…`).
//!
//! # Authentication
//! A single-tenant bot signs in with the OAuth 2.0 client-credentials grant at
//! `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token` (configurable, see
//! [`Credentials::with_token_url`]) for the scope `https://api.botframework.com/.default`, and
//! sends the access token as `Authorization: Bearer`. The token is kept until
//! [`TOKEN_MARGIN_SECS`] before Entra says it expires; one refresh runs at a time (a
//! `tokio::sync::Mutex` around the cache), and a 401 from the connector drops the cached token and
//! repeats the request once with a fresh one.
//!
//! Without credentials ([`Connector::new`] with `None`) the connector is in *emulator mode*: no
//! token, no `Authorization` header, as the Bot Framework SDKs do for the Emulator and the
//! Microsoft 365 Agents Playground. The endpoint only allows that on a loopback listener.
//!
//! With credentials the bearer token only travels over `https`, or plain `http` to a loopback
//! address (tests, a local proxy): a `serviceUrl` is checked before anything is sent. The token
//! endpoint and the connector are never followed through a redirect when the client comes from
//! [`http_client`].
//!
//! # Failures
//! Every request has [`REQUEST_TIMEOUT`]. A 429 or 503 is waited out once when its `Retry-After`
//! (seconds; 1 s when absent) is at most [`MAX_RETRY_AFTER`], then the request fails. Transport
//! errors are not retried: a POST may have arrived. Errors are a [`ConnectorError`] whose text
//! never holds the app password or a token (see [`crate::providers::scrub`]) and is short enough
//! for a log line.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::config::Secret;
use crate::providers::scrub;

/// Entra's token endpoint for a single-tenant app; `{tenant}` becomes the tenant id.
pub const DEFAULT_TOKEN_URL: &str = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token";
/// The scope of a Bot Connector token.
pub const SCOPE: &str = "https://api.botframework.com/.default";
/// Each request (token or connector) must be answered within this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `Retry-After` waited out inside a chat turn; a longer one fails at once.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// A token is renewed this long before it expires (or at half its life if that is shorter).
pub const TOKEN_MARGIN_SECS: u64 = 300;
/// The wait after a 429/503 without a usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Longest connector or Entra message kept in an error. Secrets are scrubbed *before* shortening,
/// so a cut can never leave part of one behind.
const MAX_DETAIL_CHARS: usize = 160;

/// The bot's app registration (single tenant).
#[derive(Clone, Debug)]
pub struct Credentials {
    pub app_id: String,
    pub app_password: Secret,
    pub tenant_id: String,
    /// The token endpoint; `{tenant}` is replaced by `tenant_id`.
    pub token_url: String,
}

impl Credentials {
    pub fn new(
        app_id: impl Into<String>,
        app_password: Secret,
        tenant_id: impl Into<String>,
    ) -> Self {
        Self {
            app_id: app_id.into(),
            app_password,
            tenant_id: tenant_id.into(),
            token_url: DEFAULT_TOKEN_URL.to_string(),
        }
    }

    /// Another token endpoint (a sovereign cloud, a test server); may contain `{tenant}`.
    pub fn with_token_url(mut self, token_url: impl Into<String>) -> Self {
        self.token_url = token_url.into();
        self
    }

    /// The token endpoint with the tenant filled in (percent-encoded: it lands in a path).
    pub fn token_endpoint(&self) -> String {
        self.token_url
            .replace("{tenant}", &encode_segment(self.tenant_id.trim()))
    }
}

/// Why a connector call failed. The texts are scrubbed of the app password and tokens.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The `serviceUrl`, conversation id or activity id can't be used; nothing was sent.
    #[error("Bot Connector: unusable address: {0}")]
    Address(String),
    /// Entra gave no token (wrong password, unknown app, unreachable).
    #[error("Bot Connector token: {0}")]
    Token(String),
    /// No answer from the connector (connection failed, timeout).
    #[error("Bot Connector: {0}")]
    Transport(String),
    /// The connector answered with an error status.
    #[error("Bot Connector: {reason}")]
    Refused {
        status: u16,
        /// The connector's error code (`ConversationBlockedByUser`, `BadArgument`, …).
        code: Option<String>,
        reason: String,
    },
}

impl ConnectorError {
    /// The user blocked or removed the bot, or the conversation no longer exists: nothing more
    /// can be sent to it, and the conversation may end quietly.
    pub fn is_gone(&self) -> bool {
        match self {
            ConnectorError::Refused { status, code, .. } => {
                let code = code.as_deref().unwrap_or("");
                (*status == 403
                    && matches!(
                        code,
                        "ConversationBlockedByUser"
                            | "BotNotInConversationRoster"
                            | "BotDisabledByAdmin"
                    ))
                    || (*status == 404 && code == "ConversationNotFound")
            }
            _ => false,
        }
    }
}

/// An HTTP client fit for the connector: no redirects (the bearer token or the app password
/// would go with them to another host), a connect timeout, and sspr-bot's user agent.
pub fn http_client() -> Result<reqwest::Client, ConnectorError> {
    reqwest::Client::builder()
        .connect_timeout(REQUEST_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("sspr-bot/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConnectorError::Transport(format!("building the HTTP client: {e}")))
}

struct CachedToken {
    value: Secret,
    renew_at: Instant,
}

/// The Bot Connector client: one per process, shared by every conversation.
pub struct Connector {
    credentials: Option<Credentials>,
    http: reqwest::Client,
    token: Mutex<Option<CachedToken>>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// `None` is emulator mode: requests go out without a token.
    pub fn new(credentials: Option<Credentials>, http: reqwest::Client) -> Self {
        Self {
            credentials,
            http,
            token: Mutex::new(None),
        }
    }

    /// Whether requests go out without a token.
    pub fn is_emulator(&self) -> bool {
        self.credentials.is_none()
    }

    /// Sends `activity` into the conversation; the new activity's id when the connector names it
    /// (needed to update the message later).
    pub async fn send(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity: &Value,
    ) -> Result<Option<String>, ConnectorError> {
        let url = activities_url(service_url, conversation_id, None)?;
        let body = self.call(Method::POST, url, Some(activity)).await?;
        Ok(answered_id(&body))
    }

    /// Replaces the activity `activity_id` (a card that was used) by `activity`.
    pub async fn update(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity_id: &str,
        activity: &Value,
    ) -> Result<(), ConnectorError> {
        let url = activities_url(service_url, conversation_id, Some(activity_id))?;
        let mut body = activity.clone();
        if let Some(o) = body.as_object_mut() {
            o.entry("id")
                .or_insert_with(|| Value::String(activity_id.to_string()));
        }
        self.call(Method::PUT, url, Some(&body)).await?;
        Ok(())
    }

    /// Deletes the bot's own activity `activity_id`.
    pub async fn delete(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity_id: &str,
    ) -> Result<(), ConnectorError> {
        let url = activities_url(service_url, conversation_id, Some(activity_id))?;
        self.call(Method::DELETE, url, None).await?;
        Ok(())
    }

    /// One connector request, with a fresh token after a 401 and a wait after a 429/503 (each
    /// once). The response body on success.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<String, ConnectorError> {
        if self.credentials.is_some() && !token_may_go_to(&url) {
            return Err(ConnectorError::Address(
                "the serviceUrl is plain http to a host that is not loopback; the bot's token \
                 only goes over https"
                    .into(),
            ));
        }
        let payload = match body {
            Some(b) => Some(serde_json::to_vec(b).map_err(|e| {
                ConnectorError::Address(format!("the activity is not serialisable: {e}"))
            })?),
            None => None,
        };
        let mut renewed = false;
        let mut waited = false;
        loop {
            let token = match &self.credentials {
                Some(c) => Some(self.token(c).await?),
                None => None,
            };
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .timeout(REQUEST_TIMEOUT)
                .header(ACCEPT, "application/json");
            if let Some(t) = &token {
                request = request.bearer_auth(t.expose());
            }
            if let Some(p) = &payload {
                // Teams asks for the charset so emoji survive.
                request = request
                    .header(
                        CONTENT_TYPE,
                        HeaderValue::from_static("application/json; charset=utf-8"),
                    )
                    .body(p.clone());
            }
            let response = request
                .send()
                .await
                .map_err(|e| self.transport(e, "request"))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let text = response.text().await.unwrap_or_default();
            if status.is_success() {
                return Ok(text);
            }
            match status {
                StatusCode::UNAUTHORIZED if !renewed => {
                    if let Some(t) = &token {
                        tracing::info!("the Bot Connector refused the token; fetching a new one");
                        self.forget_token(t).await;
                        renewed = true;
                        continue;
                    }
                }
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE if !waited => {
                    let wait = retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
                    if wait <= MAX_RETRY_AFTER {
                        tracing::info!(
                            status = status.as_u16(),
                            wait_ms = wait.as_millis() as u64,
                            "the Bot Connector is throttling; waiting once"
                        );
                        tokio::time::sleep(wait).await;
                        waited = true;
                        continue;
                    }
                }
                _ => {}
            }
            return Err(self.refused(status, &text, retry_after, token.as_ref()));
        }
    }

    /// The cached token, or a new one (one fetch at a time: the lock is held across it).
    async fn token(&self, credentials: &Credentials) -> Result<Secret, ConnectorError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(t.value.clone());
        }
        let fresh = self.fetch_token(credentials).await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Forgets `used` if it is still the cached token (another request may have renewed it).
    async fn forget_token(&self, used: &Secret) {
        let mut cached = self.token.lock().await;
        if cached
            .as_ref()
            .is_some_and(|t| t.value.expose() == used.expose())
        {
            *cached = None;
        }
    }

    async fn fetch_token(&self, c: &Credentials) -> Result<CachedToken, ConnectorError> {
        let endpoint = c.token_endpoint();
        let url = Url::parse(&endpoint)
            .map_err(|_| ConnectorError::Token("the token URL is not a URL".into()))?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", c.app_id.as_str()),
            ("client_secret", c.app_password.expose()),
            ("scope", SCOPE),
        ];
        let response = self
            .http
            .post(url)
            .timeout(REQUEST_TIMEOUT)
            .header(ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| match self.transport(e, "token request") {
                ConnectorError::Transport(r) => ConnectorError::Token(r),
                other => other,
            })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            let Some(token) = body["access_token"].as_str().filter(|t| !t.is_empty()) else {
                return Err(self.token_error("the token endpoint sent no access_token".into()));
            };
            let expires_in = match &body["expires_in"] {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
            .unwrap_or(300);
            let lifetime = if expires_in > 2 * TOKEN_MARGIN_SECS {
                expires_in - TOKEN_MARGIN_SECS
            } else {
                expires_in / 2
            };
            tracing::debug!(expires_in, "Bot Connector token fetched");
            return Ok(CachedToken {
                value: Secret::new(token),
                renew_at: Instant::now() + Duration::from_secs(lifetime),
            });
        }
        // AADSTS errors: `error` (invalid_client, unauthorized_client, …) and a description whose
        // first line says why; the rest is trace and correlation ids.
        let mut reason = format!("refused: HTTP {}", status.as_u16());
        if let Some(code) = body["error"].as_str().filter(|s| !s.trim().is_empty()) {
            reason.push_str(&format!(": {}", shorten(&self.scrub(code.trim(), None))));
        }
        if let Some(d) = body["error_description"]
            .as_str()
            .and_then(|d| d.lines().next())
            .filter(|d| !d.trim().is_empty())
        {
            reason.push_str(&format!(": {}", shorten(&self.scrub(d.trim(), None))));
        }
        Err(self.token_error(reason))
    }

    fn token_error(&self, reason: String) -> ConnectorError {
        let reason = self.scrub(&reason, None);
        tracing::warn!(%reason, "no Bot Connector token");
        ConnectorError::Token(reason)
    }

    fn refused(
        &self,
        status: StatusCode,
        body: &str,
        retry_after: Option<Duration>,
        token: Option<&Secret>,
    ) -> ConnectorError {
        let (code, message) = connector_error(body);
        let code = code.map(|c| shorten(&self.scrub(&c, token)));
        let message = message.map(|m| shorten(&self.scrub(&m, token)));
        let mut reason = format!("HTTP {}", status.as_u16());
        if let Some(c) = &code {
            reason.push_str(&format!(": {c}"));
        }
        if let Some(m) = &message {
            reason.push_str(&format!(": {m}"));
        }
        if let Some(wait) = retry_after {
            reason.push_str(&format!(" (retry after {} s)", wait.as_secs()));
        }
        let reason = self.scrub(&reason, token);
        tracing::warn!(status = status.as_u16(), %reason, "Bot Connector request failed");
        ConnectorError::Refused {
            status: status.as_u16(),
            code,
            reason,
        }
    }

    fn transport(&self, e: reqwest::Error, what: &str) -> ConnectorError {
        let reason = if e.is_timeout() {
            format!("{what}: no answer within {} s", REQUEST_TIMEOUT.as_secs())
        } else if e.is_connect() {
            format!("{what}: cannot connect")
        } else {
            format!("{what} failed: {}", e.without_url())
        };
        let reason = self.scrub(&reason, None);
        tracing::warn!(%reason, "Bot Connector unreachable");
        ConnectorError::Transport(reason)
    }

    fn scrub(&self, text: &str, token: Option<&Secret>) -> String {
        let mut secrets = Vec::new();
        if let Some(c) = &self.credentials {
            secrets.push(c.app_password.expose());
        }
        if let Some(t) = token {
            secrets.push(t.expose());
        }
        scrub(text, &secrets)
    }
}

/// `{serviceUrl}/v3/conversations/{conversationId}/activities[/{activityId}]`, the ids
/// percent-encoded; the serviceUrl's own path (Teams: `/emea/`, `/teams/`) is kept.
fn activities_url(
    service_url: &str,
    conversation_id: &str,
    activity_id: Option<&str>,
) -> Result<Url, ConnectorError> {
    let base = Url::parse(service_url.trim())
        .map_err(|_| ConnectorError::Address("the serviceUrl is not a URL".into()))?;
    if !matches!(base.scheme(), "https" | "http") || base.host().is_none() {
        return Err(ConnectorError::Address(
            "the serviceUrl is not an http(s) URL".into(),
        ));
    }
    if base.query().is_some()
        || base.fragment().is_some()
        || !base.username().is_empty()
        || base.password().is_some()
    {
        return Err(ConnectorError::Address(
            "the serviceUrl has a query, fragment or user info".into(),
        ));
    }
    if conversation_id.trim().is_empty() || activity_id.is_some_and(|a| a.trim().is_empty()) {
        return Err(ConnectorError::Address("an empty id".into()));
    }
    let mut s = base.as_str().trim_end_matches('/').to_string();
    s.push_str("/v3/conversations/");
    s.push_str(&encode_segment(conversation_id));
    s.push_str("/activities");
    if let Some(id) = activity_id {
        s.push('/');
        s.push_str(&encode_segment(id));
    }
    Url::parse(&s).map_err(|_| ConnectorError::Address("the activities URL is not valid".into()))
}

/// Percent-encodes everything but RFC 3986's unreserved characters, as `encodeURIComponent`
/// does (less its `!'()*`), so `:`, `@`, `;`, `/`, `?` and `#` can't change the path.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether a bearer token may be sent to `url`: https, or http to a loopback host.
fn token_may_go_to(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host_str() {
            Some(host) => {
                let bare = host.trim_start_matches('[').trim_end_matches(']');
                match bare.parse::<IpAddr>() {
                    Ok(ip) => ip.is_loopback(),
                    Err(_) => host.eq_ignore_ascii_case("localhost"),
                }
            }
            None => false,
        },
        _ => false,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is treated as absent).
fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The `id` of `{"id": "..."}`, if the body is that.
fn answered_id(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    v.get("id")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The connector's error code and message: `{"error": {"code", "message"}}`, or ASP.NET's
/// `{"message": …}` on a 401; the message to its first line. Neither is scrubbed or shortened yet.
fn connector_error(body: &str) -> (Option<String>, Option<String>) {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let code = v["error"]["code"]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let message = v["error"]["message"]
        .as_str()
        .or_else(|| v["message"].as_str())
        .and_then(|m| m.lines().next())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    (code, message)
}

fn shorten(s: &str) -> String {
    if s.chars().count() > MAX_DETAIL_CHARS {
        s.chars().take(MAX_DETAIL_CHARS).collect::<String>() + "…"
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEAMS_CONVERSATION: &str = "a:1Xq9-Zk_pers;messageid=17@thread.v2";

    #[test]
    fn teams_ids_are_percent_encoded_as_one_path_segment() {
        let url = activities_url(
            "https://smba.trafficmanager.net/emea/",
            TEAMS_CONVERSATION,
            None,
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://smba.trafficmanager.net/emea/v3/conversations/\
             a%3A1Xq9-Zk_pers%3Bmessageid%3D17%40thread.v2/activities"
        );
        let url = activities_url(
            "https://smba.trafficmanager.net/emea",
            "19:abc/../x?y#z",
            Some("1:1a/b"),
        )
        .unwrap();
        assert_eq!(
            url.path(),
            "/emea/v3/conversations/19%3Aabc%2F..%2Fx%3Fy%23z/activities/1%3A1a%2Fb"
        );
        assert_eq!(url.query(), None);
    }

    #[test]
    fn a_service_url_with_or_without_a_trailing_slash_gives_the_same_url() {
        let a = activities_url("https://example.test/teams/", "a:1", Some("9")).unwrap();
        let b = activities_url("https://example.test/teams", "a:1", Some("9")).unwrap();
        let c = activities_url("https://example.test", "a:1", Some("9")).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            c.as_str(),
            "https://example.test/v3/conversations/a%3A1/activities/9"
        );
    }

    #[test]
    fn unusable_service_urls_and_ids_are_refused() {
        for bad in [
            "",
            "smba.trafficmanager.net/emea/",
            "ftp://example.test/",
            "file:///etc/passwd",
            "https://example.test/?x=1",
            "https://example.test/#f",
            "https://user:pw@example.test/",
        ] {
            assert!(
                matches!(
                    activities_url(bad, "a:1", None),
                    Err(ConnectorError::Address(_))
                ),
                "{bad:?}"
            );
        }
        assert!(activities_url("https://example.test/", "", None).is_err());
        assert!(activities_url("https://example.test/", "a:1", Some(" ")).is_err());
    }

    #[test]
    fn the_token_only_goes_over_https_or_to_loopback() {
        let ok = [
            "https://smba.trafficmanager.net/emea/",
            "http://127.0.0.1:3978/",
            "http://localhost:56000/",
            "http://[::1]:8080/",
        ];
        for u in ok {
            assert!(token_may_go_to(&Url::parse(u).unwrap()), "{u}");
        }
        for u in [
            "http://smba.trafficmanager.net/",
            "http://10.0.0.8/",
            "http://localhost.evil.test/",
        ] {
            assert!(!token_may_go_to(&Url::parse(u).unwrap()), "{u}");
        }
    }

    #[test]
    fn the_token_url_gets_the_tenant() {
        let c = Credentials::new(
            "app",
            Secret::new("pw"),
            "0b7c4f3e-1d2a-4b5c-8d9e-112233445566",
        );
        assert_eq!(
            c.token_endpoint(),
            "https://login.microsoftonline.com/0b7c4f3e-1d2a-4b5c-8d9e-112233445566/oauth2/v2.0/token"
        );
        let c = c.with_token_url("http://127.0.0.1:9/{tenant}/token");
        assert_eq!(
            c.token_endpoint(),
            "http://127.0.0.1:9/0b7c4f3e-1d2a-4b5c-8d9e-112233445566/token"
        );
        let odd = Credentials::new("app", Secret::new("pw"), "a/b?c");
        assert_eq!(
            odd.token_endpoint(),
            "https://login.microsoftonline.com/a%2Fb%3Fc/oauth2/v2.0/token"
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn the_activity_id_is_read_from_the_answer() {
        assert_eq!(answered_id(r#"{"id":"1:1abc"}"#).as_deref(), Some("1:1abc"));
        assert_eq!(answered_id(r#"{"id":""}"#), None);
        assert_eq!(answered_id(r#"{"id":5}"#), None);
        assert_eq!(answered_id(""), None);
        assert_eq!(answered_id("[1]"), None);
    }

    #[test]
    fn errors_hold_neither_the_password_nor_the_token() {
        let c = Credentials::new("app", Secret::new("s3cr3t-app-pw"), "tenant");
        let connector = Connector::new(Some(c), reqwest::Client::new());
        let token = Secret::new("eyJ0eXAi.token.sig");
        let body = r#"{"error":{"code":"BadArgument","message":"bad eyJ0eXAi.token.sig with s3cr3t-app-pw\nsecond line"}}"#;
        let e = connector.refused(StatusCode::BAD_REQUEST, body, None, Some(&token));
        let text = e.to_string();
        assert!(
            !text.contains("s3cr3t-app-pw") && !text.contains("eyJ0eXAi.token.sig"),
            "{text}"
        );
        assert!(
            text.contains("HTTP 400: BadArgument: bad [redacted]"),
            "{text}"
        );
        assert!(!text.contains("second line"), "{text}");
        assert!(!format!("{connector:?}").contains("s3cr3t-app-pw"));
        // A secret straddling the cut is still removed whole.
        let straddling = format!(
            r#"{{"error":{{"code":"X","message":"{}s3cr3t-app-pw"}}}}"#,
            "y".repeat(MAX_DETAIL_CHARS - 4)
        );
        let e = connector.refused(StatusCode::BAD_REQUEST, &straddling, None, None);
        assert!(!e.to_string().contains("s3cr"), "{e}");
        let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(5000));
        let e = connector.refused(StatusCode::UNAUTHORIZED, &long, None, None);
        assert!(e.to_string().chars().count() < 400);
    }

    #[test]
    fn blocked_and_vanished_conversations_are_gone() {
        let refused = |status, code: &str| ConnectorError::Refused {
            status,
            code: Some(code.to_string()),
            reason: String::new(),
        };
        assert!(refused(403, "ConversationBlockedByUser").is_gone());
        assert!(refused(404, "ConversationNotFound").is_gone());
        assert!(!refused(403, "Forbidden").is_gone());
        assert!(!refused(400, "BadArgument").is_gone());
        assert!(!ConnectorError::Transport("x".into()).is_gone());
    }
}
