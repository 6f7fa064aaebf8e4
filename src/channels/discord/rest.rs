//! Discord's REST API, for the few routes the bot uses, with Discord's rate limits honoured.
//!
//! serenity's own HTTP client ignores a configured base URL while its rate limiter is on (the
//! limiter builds every request for `https://discord.com`), so a base URL for a proxy or a test
//! fake would mean no rate limiting at all. This client sends to `api_url` and does the rate
//! limiting itself, the same way in production and in tests:
//! - per route: a response with `X-RateLimit-Remaining: 0` holds that route's next request until
//!   `X-RateLimit-Reset-After` has passed;
//! - a 429 is waited out (`Retry-After`, else the body's `retry_after`) and the request sent again
//!   (a 429 means Discord did nothing with it); with `X-RateLimit-Global` (or `"global": true`)
//!   every route waits;
//! - network errors and 5xx are tried again with backoff only when the caller says a repeat is
//!   harmless ([`Repeat::Transient`]); a message that must not arrive twice is sent with
//!   [`Repeat::RateLimitOnly`].
//!
//! Models and request bodies are serenity's (`Message`, `CreateMessage`, …). Errors carry the
//! status, Discord's error code and message, never a URL (an interaction's URL holds its token)
//! or a body.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{HeaderMap, AUTHORIZATION, USER_AGENT};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;

/// Sends of one request at most (429 waits included).
const MAX_ATTEMPTS: u32 = 5;
/// A 429 asking for more than this is not waited for: the request fails instead.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// One request may take this long.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Discord's error code for "Cannot send messages to this user" (DMs closed, bot blocked).
pub const CANNOT_MESSAGE_USER: i64 = 50007;

/// Which failures of a request are tried again (a 429 always is).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Repeat {
    /// Also network errors and 5xx, with backoff.
    Transient,
    /// Only 429s: for a request that must not arrive twice.
    RateLimitOnly,
}

/// A failed request: never holds a URL or a body.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct RestError {
    /// The HTTP status, when Discord answered.
    pub status: Option<u16>,
    /// Discord's JSON error code (`50007`), when it sent one.
    pub code: Option<i64>,
    pub message: String,
}

impl RestError {
    fn describe(&self) -> String {
        match (self.status, self.code) {
            (Some(s), Some(c)) => format!("HTTP {s} (code {c}): {}", self.message),
            (Some(s), None) => format!("HTTP {s}: {}", self.message),
            _ => self.message.clone(),
        }
    }

    /// The user can't be messaged any more (left the server, closed DMs, blocked the bot).
    pub fn is_gone(&self) -> bool {
        self.code == Some(CANNOT_MESSAGE_USER)
    }

    /// Network trouble or a 5xx.
    pub fn is_transient(&self) -> bool {
        self.status.is_none_or(|s| s >= 500)
    }
}

/// A file sent with a message (multipart `files[n]`).
pub struct File {
    pub name: String,
    pub bytes: Vec<u8>,
}

pub struct Rest {
    http: reqwest::Client,
    /// `https://discord.com/api/v10`, or the configured base's.
    base: String,
    authorization: String,
    /// Route → the moment its next request may go.
    routes: Mutex<HashMap<String, Instant>>,
    /// Every route waits until then (a global 429).
    global: Mutex<Option<Instant>>,
}

impl Rest {
    /// A client for the API under `api_url` (`https://discord.com`).
    pub fn new(token: &str, api_url: &str) -> anyhow::Result<Self> {
        let base = reqwest::Url::parse(api_url)
            .map_err(|_| anyhow::anyhow!("discord.api_url is not a URL"))?;
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| anyhow::anyhow!("discord: HTTP client: {e}"))?;
        let token = token.trim();
        Ok(Self {
            http,
            base: format!("{}/api/v10", base.as_str().trim_end_matches('/')),
            authorization: if token.starts_with("Bot ") {
                token.to_string()
            } else {
                format!("Bot {token}")
            },
            routes: Mutex::new(HashMap::new()),
            global: Mutex::new(None),
        })
    }

    // The routes the bot uses. Each route key holds the major parameter (the channel), as
    // Discord's buckets do.

    /// `GET /users/@me`: the bot's own user.
    pub async fn current_user(&self) -> Result<serenity::all::CurrentUser, RestError> {
        let answer = self
            .send(
                Method::GET,
                "GET /users/@me",
                "/users/@me",
                Body::None,
                true,
                Repeat::Transient,
            )
            .await?;
        parse(&answer)
    }

    /// `POST /channels/{channel}/messages`.
    pub async fn send_message(
        &self,
        channel: u64,
        message: &serenity::all::CreateMessage,
        repeat: Repeat,
    ) -> Result<serenity::all::Message, RestError> {
        let answer = self
            .send(
                Method::POST,
                &format!("POST /channels/{channel}/messages"),
                &format!("/channels/{channel}/messages"),
                Body::Json(encode(message)?),
                true,
                repeat,
            )
            .await?;
        parse(&answer)
    }

    /// `POST /channels/{channel}/messages` with files (multipart: `payload_json`, the message's
    /// JSON, and `files[n]`).
    pub async fn send_files(
        &self,
        channel: u64,
        payload: &serde_json::Value,
        files: Vec<File>,
        repeat: Repeat,
    ) -> Result<serenity::all::Message, RestError> {
        let answer = self
            .send(
                Method::POST,
                &format!("POST /channels/{channel}/messages"),
                &format!("/channels/{channel}/messages"),
                Body::Multipart(encode(payload)?, files),
                true,
                repeat,
            )
            .await?;
        parse(&answer)
    }

    /// `PATCH /channels/{channel}/messages/{message}`.
    pub async fn edit_message(
        &self,
        channel: u64,
        message: u64,
        edit: &serenity::all::EditMessage,
    ) -> Result<serenity::all::Message, RestError> {
        let answer = self
            .send(
                Method::PATCH,
                &format!("PATCH /channels/{channel}/messages"),
                &format!("/channels/{channel}/messages/{message}"),
                Body::Json(encode(edit)?),
                true,
                Repeat::Transient,
            )
            .await?;
        parse(&answer)
    }

    /// `DELETE /channels/{channel}/messages/{message}`.
    pub async fn delete_message(&self, channel: u64, message: u64) -> Result<(), RestError> {
        self.send(
            Method::DELETE,
            &format!("DELETE /channels/{channel}/messages"),
            &format!("/channels/{channel}/messages/{message}"),
            Body::None,
            true,
            Repeat::Transient,
        )
        .await
        .map(|_| ())
    }

    /// `POST /interactions/{id}/{token}/callback`: the interaction's answer (authorised by its
    /// token, not the bot's).
    pub async fn respond(
        &self,
        id: u64,
        token: &str,
        response: &serenity::all::CreateInteractionResponse,
    ) -> Result<(), RestError> {
        self.send(
            Method::POST,
            &format!("POST /interactions/{id}"),
            &format!("/interactions/{id}/{token}/callback"),
            Body::Json(encode(response)?),
            false,
            Repeat::Transient,
        )
        .await
        .map(|_| ())
    }

    /// `PATCH /webhooks/{application}/{token}/messages/@original`: the text of a deferred answer
    /// (authorised by the interaction's token).
    pub async fn edit_original(
        &self,
        application: u64,
        token: &str,
        edit: &serenity::all::EditInteractionResponse,
    ) -> Result<(), RestError> {
        self.send(
            Method::PATCH,
            &format!("PATCH /webhooks/{application}/original"),
            &format!("/webhooks/{application}/{token}/messages/@original"),
            Body::Json(encode(edit)?),
            false,
            Repeat::Transient,
        )
        .await
        .map(|_| ())
    }

    async fn wait_turn(&self, route: &str) {
        loop {
            let until = {
                let global = *self.global.lock().unwrap_or_else(|e| e.into_inner());
                let route_until = self
                    .routes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(route)
                    .copied();
                global.into_iter().chain(route_until).max()
            };
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }

    fn hold(&self, route: &str, for_: Duration, global: bool) {
        let until = Instant::now() + for_;
        if global {
            let mut g = self.global.lock().unwrap_or_else(|e| e.into_inner());
            *g = Some(g.map_or(until, |t| t.max(until)));
        } else {
            let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
            let entry = routes.entry(route.to_string()).or_insert(until);
            *entry = (*entry).max(until);
        }
    }

    async fn send(
        &self,
        method: Method,
        route: &str,
        path: &str,
        body: Body,
        authorized: bool,
        repeat: Repeat,
    ) -> Result<Vec<u8>, RestError> {
        let url = format!("{}{path}", self.base);
        let mut backoff = Duration::from_millis(250);
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.wait_turn(route).await;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header(USER_AGENT, user_agent());
            if authorized {
                request = request.header(AUTHORIZATION, &self.authorization);
            }
            request = match &body {
                Body::None => request,
                Body::Json(bytes) => request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(bytes.clone()),
                Body::Multipart(payload, files) => {
                    let mut form = reqwest::multipart::Form::new().part(
                        "payload_json",
                        reqwest::multipart::Part::bytes(payload.clone())
                            .mime_str("application/json")
                            .map_err(|_| network_error("multipart"))?,
                    );
                    for (i, file) in files.iter().enumerate() {
                        form = form.part(
                            format!("files[{i}]"),
                            reqwest::multipart::Part::bytes(file.bytes.clone())
                                .file_name(file.name.clone()),
                        );
                    }
                    request.multipart(form)
                }
            };
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    let err = network_error(&without_url(&e));
                    if repeat == Repeat::Transient && attempt < MAX_ATTEMPTS {
                        tracing::warn!(error = %err, attempt, "discord: network error; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff *= 2;
                        continue;
                    }
                    return Err(err);
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            if let Some(after) = header_secs(&headers, "x-ratelimit-reset-after") {
                if header_secs(&headers, "x-ratelimit-remaining") == Some(Duration::ZERO) {
                    self.hold(route, after, false);
                }
            }
            let bytes = response.bytes().await.unwrap_or_default().to_vec();
            if status == StatusCode::TOO_MANY_REQUESTS {
                let info: RateLimited = serde_json::from_slice(&bytes).unwrap_or_default();
                let wait = header_secs(&headers, "retry-after")
                    .or_else(|| info.retry_after.map(secs))
                    .unwrap_or(Duration::from_secs(1));
                let global = info.global
                    || headers
                        .get("x-ratelimit-global")
                        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
                if attempt < MAX_ATTEMPTS && wait <= MAX_WAIT {
                    tracing::warn!(
                        route,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        global,
                        "discord: rate limited; waiting"
                    );
                    self.hold(route, wait, global);
                    continue;
                }
                return Err(api_error(status, &bytes));
            }
            if status.is_server_error() && repeat == Repeat::Transient && attempt < MAX_ATTEMPTS {
                tracing::warn!(
                    status = status.as_u16(),
                    attempt,
                    "discord: server error; retrying"
                );
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                continue;
            }
            if !status.is_success() {
                return Err(api_error(status, &bytes));
            }
            return Ok(bytes);
        }
    }
}

enum Body {
    None,
    Json(Vec<u8>),
    Multipart(Vec<u8>, Vec<File>),
}

#[derive(Default, serde::Deserialize)]
struct RateLimited {
    retry_after: Option<f64>,
    #[serde(default)]
    global: bool,
}

#[derive(serde::Deserialize)]
struct ApiError {
    code: Option<i64>,
    message: Option<String>,
}

fn api_error(status: StatusCode, body: &[u8]) -> RestError {
    let parsed: Option<ApiError> = serde_json::from_slice(body).ok();
    RestError {
        status: Some(status.as_u16()),
        code: parsed.as_ref().and_then(|e| e.code),
        message: parsed
            .and_then(|e| e.message)
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string()),
    }
}

fn network_error(what: &str) -> RestError {
    RestError {
        status: None,
        code: None,
        message: format!("request failed: {what}"),
    }
}

/// A reqwest error with its causes, without the URL (it may hold an interaction token).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    match e.url() {
        Some(url) => text.replace(url.as_str(), "(url)"),
        None => text,
    }
}

fn encode<B: Serialize>(body: &B) -> Result<Vec<u8>, RestError> {
    serde_json::to_vec(body).map_err(|e| RestError {
        status: None,
        code: None,
        message: format!("encoding the request: {e}"),
    })
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, RestError> {
    serde_json::from_slice(body).map_err(|e| RestError {
        status: None,
        code: None,
        message: format!("unreadable answer: {e}"),
    })
}

fn header_secs(headers: &HeaderMap, name: &str) -> Option<Duration> {
    headers
        .get(name)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .map(secs)
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(MAX_WAIT + Duration::from_secs(1))
}

/// Discord asks bots for `DiscordBot ($url, $version)`.
fn user_agent() -> &'static str {
    concat!(
        "DiscordBot (https://github.com/sspr-bot/sspr-bot, ",
        env!("CARGO_PKG_VERSION"),
        ")"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_who_is_gone_and_what_is_transient() {
        let gone = api_error(
            StatusCode::FORBIDDEN,
            br#"{"code": 50007, "message": "Cannot send messages to this user"}"#,
        );
        assert!(gone.is_gone() && !gone.is_transient());
        assert_eq!(
            gone.to_string(),
            "HTTP 403 (code 50007): Cannot send messages to this user"
        );
        let bad_gateway = api_error(StatusCode::BAD_GATEWAY, b"<html>");
        assert!(bad_gateway.is_transient() && !bad_gateway.is_gone());
        assert!(network_error("x").is_transient());
    }

    #[test]
    fn the_token_is_sent_as_a_bot_token_once() {
        let r = Rest::new("abc.def", "https://discord.com/").unwrap();
        assert_eq!(r.authorization, "Bot abc.def");
        assert_eq!(r.base, "https://discord.com/api/v10");
        let r = Rest::new("Bot abc.def", "http://127.0.0.1:9").unwrap();
        assert_eq!(r.authorization, "Bot abc.def");
        assert_eq!(r.base, "http://127.0.0.1:9/api/v10");
    }

    #[test]
    fn wait_times_are_bounded() {
        assert_eq!(secs(1.5), Duration::from_millis(1500));
        assert_eq!(secs(-3.0), Duration::ZERO);
        assert!(secs(f64::INFINITY) > MAX_WAIT);
    }
}
