//! A fake Discord for the integration tests: the REST API (`{api_url}/api/v10/…`, where serenity's
//! HTTP client is pointed with its proxy setting) and the gateway (a WebSocket server whose
//! address `GET /api/v10/gateway` hands out), both on loopback in the test process.
//!
//! It checks what Discord checks, so an adapter that passes here is not passing against a mock
//! that accepts anything:
//! - REST: `Authorization: Bot <token>` on every route except interaction callbacks and
//!   interaction webhooks (which are authorised by the interaction's token in the path, as in
//!   Discord) → else 401 `{"code": 0, "message": "401: Unauthorized"}`.
//! - gateway: HELLO first; IDENTIFY must carry the token (else close 4004 "Authentication
//!   failed") and no privileged intent the application has not enabled (GUILD_MEMBERS,
//!   GUILD_PRESENCES, MESSAGE_CONTENT → close 4014 "Disallowed intent(s)"); READY follows;
//!   heartbeats are acknowledged. Events are delivered as Discord does for the intents given: DMs
//!   only with DIRECT_MESSAGES, server messages only with GUILD_MESSAGES, and a server message's
//!   text only when it mentions the bot (no MESSAGE_CONTENT); interactions always.
//! - messages (`POST /channels/{id}/messages`, JSON or multipart with `payload_json` and
//!   `files[n]`): known channel; a user who blocked the bot or closed DMs → 403 code 50007;
//!   content ≤ 2000 characters; something to send (content, components or a file); components:
//!   ≤ 5 action rows of 1–5 buttons, each non-link button with a style 1–4, a `custom_id` of
//!   1–100 characters unique in the message, a label ≤ 80 characters; `message_reference` to an
//!   existing message of the channel unless `fail_if_not_exists` is false.
//! - `PATCH /channels/{c}/messages/{m}`: the bot's own, undeleted message of that channel; the
//!   same checks. `DELETE`: the message exists; in a DM only the bot's own.
//! - interaction callbacks (`POST /interactions/{id}/{token}/callback`): a known id with its token,
//!   answered at most once (else 400 code 40060 "Interaction has already been acknowledged.")
//!   and within 3 s of its delivery (else 404 code 10062 "Unknown interaction"); type 4/5
//!   (message, deferred), 6/7 (update: only for a component, or a modal opened from one), 9
//!   (modal: only for a component; title 1–45, `custom_id` 1–100, 1–5 rows of exactly one text
//!   input with `custom_id`, label 1–45, style 1 or 2, lengths within 0–4000). An update (7)
//!   changes the stored message.
//! - `PATCH /webhooks/{application}/{token}/messages/@original`: after a deferred response (5).
//! - rate limits: [`FakeDiscord::rate_limit_next`] answers the next matching request with 429,
//!   `Retry-After` and the `X-RateLimit-*` headers, and records when the retry came.
//!
//! A check that fails answers 400 (or the status Discord uses) *and* is recorded in
//! [`FakeDiscord::violations`], so a test can also assert that nothing was refused.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::fake_telegram::{parse_multipart, Uploads};

pub const DIRECT_MESSAGES: u64 = 1 << 12;
pub const GUILD_MESSAGES: u64 = 1 << 9;
const PRIVILEGED: u64 = (1 << 1) | (1 << 8) | (1 << 15);
const MESSAGE_CONTENT: u64 = 1 << 15;
pub const BOT_ID: u64 = 900_000_000_000_000_001;
pub const APP_ID: u64 = 900_000_000_000_000_002;
pub const GUILD_ID: u64 = 800_000_000_000_000_001;
const INTERACTION_DEADLINE: Duration = Duration::from_secs(3);

/// A button as stored: custom_id, label, disabled, style.
pub type Button = (String, String, bool, u64);
type Rows = Vec<Vec<Button>>;

/// A message the bot (or a user) sent, as stored.
#[derive(Clone, Debug)]
pub struct Sent {
    pub id: u64,
    pub channel: u64,
    pub author: u64,
    pub content: String,
    /// Rows of (custom_id, label, disabled, style).
    pub buttons: Rows,
    /// File names and bytes of attachments.
    pub files: Vec<(String, Vec<u8>)>,
    pub reference: Option<u64>,
    pub allowed_mentions: Option<Value>,
    pub deleted: bool,
    pub json: Value,
}

impl Sent {
    pub fn has_button(&self, id: &str) -> bool {
        self.buttons.iter().flatten().any(|(c, ..)| c == id)
    }
    pub fn button(&self, id: &str) -> Option<&Button> {
        self.buttons.iter().flatten().find(|(c, ..)| c == id)
    }
}

#[derive(Clone, Debug)]
pub struct InteractionRecord {
    pub id: u64,
    token: String,
    /// 3 component, 5 modal submit.
    pub kind: u8,
    pub channel: u64,
    pub message: Option<u64>,
    delivered: Instant,
    /// The callback's body, once answered.
    pub response: Option<Value>,
    /// How long after delivery it was answered.
    pub answered_after: Option<Duration>,
    /// The follow-up edit of a deferred response.
    pub edited: Option<Value>,
    pub guild: bool,
}

#[derive(Default)]
struct St {
    next_id: u64,
    seq: u64,
    users: HashMap<u64, Value>,
    /// Channel id → DM user (None: a server text channel).
    channels: HashMap<u64, Option<u64>>,
    messages: Vec<Sent>,
    interactions: HashMap<u64, InteractionRecord>,
    blocked: HashSet<u64>,
    enabled_privileged: u64,
    intents: Option<u64>,
    identify_count: usize,
    resume_count: usize,
    /// Every identified gateway session; Discord sends each event to all sessions of a bot
    /// (two processes with one token both get everything).
    sessions: Vec<mpsc::UnboundedSender<Value>>,
    last_dispatch: Option<Value>,
    violations: Vec<String>,
    rate_limit: Option<(String, f64)>,
    /// (path, when the 429 was given, when the retry came).
    rate_limited: Vec<(String, Instant, Option<Instant>)>,
    /// Every REST request: method and path (never bodies).
    requests: Vec<String>,
    /// The next matching request fails with this status.
    fail: Option<(String, u16)>,
    /// The next matching message create succeeds with `X-RateLimit-Remaining: 0` and this
    /// `X-RateLimit-Reset-After`.
    exhaust: Option<(String, f64)>,
    /// (path, when the bucket was emptied, when the next request on it came).
    exhausted: Vec<(String, Instant, Option<Instant>)>,
}

struct Shared {
    token: String,
    st: Mutex<St>,
    changed: Notify,
    gateway_url: String,
}

#[derive(Clone)]
pub struct FakeDiscord {
    /// For `discord.api_url`: `http://127.0.0.1:PORT`.
    pub api_url: String,
    shared: Arc<Shared>,
}

fn snowflake(st: &mut St) -> u64 {
    st.next_id += 1;
    1_000_000_000_000_000_000 + st.next_id
}

fn user_json(id: u64, name: &str, bot: bool) -> Value {
    json!({
        "id": id.to_string(),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": null,
        "bot": bot,
    })
}

fn timestamp() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string()
}

impl FakeDiscord {
    pub async fn start(token: &str) -> Self {
        let ws = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway_url = format!("ws://{}", ws.local_addr().unwrap());
        let shared = Arc::new(Shared {
            token: token.to_string(),
            st: Mutex::new(St::default()),
            changed: Notify::new(),
            gateway_url,
        });
        shared
            .lock()
            .users
            .insert(BOT_ID, user_json(BOT_ID, "SSPR", true));
        let rest = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_url = format!("http://{}", rest.local_addr().unwrap());
        let router = Router::new()
            .route("/api/v10/gateway", get(gateway))
            .route("/api/v10/gateway/bot", get(gateway))
            .route("/api/v10/users/@me", get(me))
            .route("/api/v10/channels/{channel}/messages", post(create_message))
            .route(
                "/api/v10/channels/{channel}/messages/{message}",
                patch(edit_message).delete(delete_message),
            )
            .route(
                "/api/v10/interactions/{id}/{token}/callback",
                post(interaction_callback),
            )
            .route(
                "/api/v10/webhooks/{app}/{token}/messages/@original",
                patch(edit_original),
            )
            .fallback(unknown_route)
            .with_state(Arc::clone(&shared));
        tokio::spawn(async move {
            axum::serve(rest, router).await.unwrap();
        });
        let gw = Arc::clone(&shared);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = ws.accept().await else {
                    return;
                };
                let gw = Arc::clone(&gw);
                tokio::spawn(async move { gateway_connection(gw, stream).await });
            }
        });
        Self { api_url, shared }
    }

    fn lock(&self) -> MutexGuard<'_, St> {
        self.shared.lock()
    }

    /// A user and the DM channel between them and the bot: (user id, channel id).
    pub fn dm_user(&self, name: &str) -> (u64, u64) {
        let mut st = self.lock();
        let user = snowflake(&mut st);
        let channel = snowflake(&mut st);
        st.users.insert(user, user_json(user, name, false));
        st.channels.insert(channel, Some(user));
        (user, channel)
    }

    /// A text channel in the company's server.
    pub fn server_channel(&self) -> u64 {
        let mut st = self.lock();
        let channel = snowflake(&mut st);
        st.channels.insert(channel, None);
        channel
    }

    /// A server member (no DM channel).
    pub fn member(&self, name: &str) -> u64 {
        let mut st = self.lock();
        let user = snowflake(&mut st);
        st.users.insert(user, user_json(user, name, false));
        user
    }

    pub fn enable_message_content_intent(&self) {
        self.lock().enabled_privileged |= MESSAGE_CONTENT;
    }

    /// The user closed their DMs / blocked the bot: sends to them fail with 50007.
    pub fn block(&self, user: u64) {
        self.lock().blocked.insert(user);
    }

    /// The next request whose path contains `path_part` gets a 429 asking to wait `secs`.
    pub fn rate_limit_next(&self, path_part: &str, secs: f64) {
        self.lock().rate_limit = Some((path_part.to_string(), secs));
    }

    /// The next request whose path contains `path_part` fails with `status` (a 5xx: Discord
    /// had trouble).
    pub fn fail_next(&self, path_part: &str, status: u16) {
        self.lock().fail = Some((path_part.to_string(), status));
    }

    /// The next message create whose path contains `path_part` empties its bucket for `secs`.
    pub fn exhaust_next(&self, path_part: &str, secs: f64) {
        self.lock().exhaust = Some((path_part.to_string(), secs));
    }

    pub fn exhausted(&self) -> Vec<(String, Instant, Option<Instant>)> {
        self.lock().exhausted.clone()
    }

    pub fn rate_limited(&self) -> Vec<(String, Instant, Option<Instant>)> {
        self.lock().rate_limited.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    pub fn intents(&self) -> Option<u64> {
        self.lock().intents
    }

    /// Every message, the users' included, in order.
    pub fn messages(&self) -> Vec<Sent> {
        self.lock().messages.clone()
    }

    /// The bot's messages in `channel`, in order.
    pub fn sent_in(&self, channel: u64) -> Vec<Sent> {
        self.lock()
            .messages
            .iter()
            .filter(|m| m.channel == channel && m.author == BOT_ID)
            .cloned()
            .collect()
    }

    pub fn message(&self, id: u64) -> Option<Sent> {
        self.lock().messages.iter().find(|m| m.id == id).cloned()
    }

    pub fn interactions(&self) -> Vec<InteractionRecord> {
        self.lock().interactions.values().cloned().collect()
    }

    pub fn interaction(&self, id: u64) -> Option<InteractionRecord> {
        self.lock().interactions.get(&id).cloned()
    }

    /// Waits until a gateway session is identified (READY sent).
    pub async fn wait_ready(&self, within: Duration) {
        self.wait_sessions(1, within).await;
    }

    /// Waits until `n` gateway sessions are identified.
    pub async fn wait_sessions(&self, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.shared.changed.notified();
            if self.lock().sessions.len() >= n {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the bot never identified on the gateway");
            let _ = tokio::time::timeout(left, notified).await;
        }
    }

    /// Waits until the bot has sent `n` messages in `channel`.
    pub async fn wait_sent(&self, channel: u64, n: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.shared.changed.notified();
            if self.sent_in(channel).len() >= n {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = tokio::time::timeout(left, notified).await;
        }
    }

    /// Waits until `check` holds.
    pub async fn wait_for(&self, within: Duration, check: impl Fn(&FakeDiscord) -> bool) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let notified = self.shared.changed.notified();
            if check(self) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = tokio::time::timeout(left, notified).await;
        }
    }

    fn dispatch(&self, st: &mut St, t: &str, d: Value) {
        st.seq += 1;
        let event = json!({"op": 0, "t": t, "s": st.seq, "d": d});
        st.last_dispatch = Some(event.clone());
        assert!(!st.sessions.is_empty(), "gateway connected (wait_ready)");
        st.sessions.retain(|tx| tx.send(event.clone()).is_ok());
    }

    /// Discord drops every gateway connection (close code 4000, which a client may resume).
    pub fn drop_sessions(&self) {
        let mut st = self.lock();
        for tx in st.sessions.drain(..) {
            let _ = tx.send(json!({"__close": 4000}));
        }
    }

    /// How many times a session was identified, and resumed.
    pub fn connects(&self) -> (usize, usize) {
        let st = self.lock();
        (st.identify_count, st.resume_count)
    }

    /// The gateway sends the last event again (a resumed session replaying it).
    pub fn redeliver_last(&self) {
        let mut st = self.lock();
        let mut event = st.last_dispatch.clone().expect("an event was sent");
        st.seq += 1;
        event["s"] = json!(st.seq);
        st.sessions.retain(|tx| tx.send(event.clone()).is_ok());
    }

    fn store_user_message(
        st: &mut St,
        channel: u64,
        user: u64,
        text: &str,
        mentions: Vec<Value>,
        reply_to: Option<u64>,
        guild: bool,
    ) -> Value {
        let id = snowflake(st);
        let referenced = reply_to.and_then(|r| {
            st.messages
                .iter()
                .find(|m| m.id == r)
                .map(|m| m.json.clone())
        });
        let mut m = json!({
            "id": id.to_string(),
            "channel_id": channel.to_string(),
            "author": st.users[&user].clone(),
            "content": text,
            "timestamp": timestamp(),
            "edited_timestamp": null,
            "tts": false,
            "mention_everyone": false,
            "mentions": mentions,
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": false,
            "type": if reply_to.is_some() { 19 } else { 0 },
            "flags": 0,
            "components": [],
        });
        if let Some(r) = reply_to {
            m["message_reference"] =
                json!({"type": 0, "message_id": r.to_string(), "channel_id": channel.to_string()});
            m["referenced_message"] = referenced.unwrap_or(Value::Null);
        }
        if guild {
            m["guild_id"] = json!(GUILD_ID.to_string());
            m["member"] = json!({"roles": [], "joined_at": timestamp(), "deaf": false, "mute": false, "flags": 0});
        }
        st.messages.push(Sent {
            id,
            channel,
            author: user,
            content: text.to_string(),
            buttons: vec![],
            files: vec![],
            reference: reply_to,
            allowed_mentions: None,
            deleted: false,
            json: m.clone(),
        });
        m
    }

    /// `user` types `text` in their DM with the bot; the message id.
    pub fn dm(&self, user: u64, text: &str) -> u64 {
        let mut st = self.lock();
        let channel = st
            .channels
            .iter()
            .find(|(_, u)| **u == Some(user))
            .map(|(c, _)| *c)
            .expect("dm_user first");
        let m = Self::store_user_message(&mut st, channel, user, text, vec![], None, false);
        let id = m["id"].as_str().unwrap().parse().unwrap();
        if st.intents.unwrap_or(0) & DIRECT_MESSAGES != 0 {
            self.dispatch(&mut st, "MESSAGE_CREATE", m);
        }
        id
    }

    /// `user` writes in server channel `channel`, mentioning the bot or not, maybe as a reply.
    pub fn say_in_server(
        &self,
        channel: u64,
        user: u64,
        text: &str,
        mention_bot: bool,
        reply_to: Option<u64>,
    ) -> u64 {
        let mut st = self.lock();
        let mentions = if mention_bot {
            vec![st.users[&BOT_ID].clone()]
        } else {
            vec![]
        };
        let replied_bot = reply_to
            .and_then(|r| st.messages.iter().find(|m| m.id == r))
            .is_some_and(|m| m.author == BOT_ID);
        let text_seen = if mention_bot || st.intents.unwrap_or(0) & MESSAGE_CONTENT != 0 {
            text.to_string()
        } else {
            String::new()
        };
        let mut m =
            Self::store_user_message(&mut st, channel, user, text, mentions, reply_to, true);
        // What the bot is shown: without Message Content, no text unless it is mentioned.
        m["content"] = json!(text_seen);
        let _ = replied_bot;
        let id = m["id"].as_str().unwrap().parse().unwrap();
        if st.intents.unwrap_or(0) & GUILD_MESSAGES != 0 {
            self.dispatch(&mut st, "MESSAGE_CREATE", m);
        }
        id
    }

    fn interaction_base(
        st: &mut St,
        user: u64,
        channel: u64,
        locale: &str,
        kind: u8,
    ) -> (u64, Value) {
        let id = snowflake(st);
        let token = format!("itok-{id}-{}", rand_token());
        let guild = st.channels.get(&channel).copied().flatten().is_none();
        let mut v = json!({
            "id": id.to_string(),
            "application_id": APP_ID.to_string(),
            "type": kind,
            "channel_id": channel.to_string(),
            "token": token,
            "version": 1,
            "locale": locale,
            "app_permissions": "0",
            "entitlements": [],
            "authorizing_integration_owners": {"0": GUILD_ID.to_string()},
            "context": if guild { 0 } else { 1 },
            "attachment_size_limit": 10_485_760,
        });
        if guild {
            v["guild_id"] = json!(GUILD_ID.to_string());
            v["guild_locale"] = json!("nl");
            v["member"] = json!({"user": st.users[&user].clone(), "roles": [], "joined_at": timestamp(), "deaf": false, "mute": false, "flags": 0, "permissions": "0"});
        } else {
            v["user"] = st.users[&user].clone();
        }
        st.interactions.insert(
            id,
            InteractionRecord {
                id,
                token,
                kind,
                channel,
                message: None,
                delivered: Instant::now(),
                response: None,
                answered_after: None,
                edited: None,
                guild,
            },
        );
        (id, v)
    }

    /// `user` presses button `custom_id` on message `message`: the interaction id. Panics when the
    /// button is not there or disabled (a client can't press it).
    pub fn click(&self, user: u64, message: u64, custom_id: &str, locale: &str) -> u64 {
        let mut st = self.lock();
        let m = st
            .messages
            .iter()
            .find(|m| m.id == message && !m.deleted)
            .cloned()
            .unwrap_or_else(|| panic!("no message {message}"));
        let (_, _, disabled, _) = m
            .button(custom_id)
            .unwrap_or_else(|| panic!("no button {custom_id} on {m:#?}"))
            .clone();
        assert!(
            !disabled,
            "button {custom_id} is disabled: a client can't press it"
        );
        let (id, mut v) = Self::interaction_base(&mut st, user, m.channel, locale, 3);
        v["data"] = json!({"custom_id": custom_id, "component_type": 2});
        v["message"] = m.json.clone();
        st.interactions.get_mut(&id).unwrap().message = Some(message);
        self.dispatch(&mut st, "INTERACTION_CREATE", v);
        id
    }

    /// The same press again, from a second client that still shows the button enabled.
    pub fn click_stale(
        &self,
        user: u64,
        message: u64,
        custom_id: &str,
        stale: &Sent,
        locale: &str,
    ) -> u64 {
        let mut st = self.lock();
        let (id, mut v) = Self::interaction_base(&mut st, user, stale.channel, locale, 3);
        v["data"] = json!({"custom_id": custom_id, "component_type": 2});
        v["message"] = stale.json.clone();
        st.interactions.get_mut(&id).unwrap().message = Some(message);
        self.dispatch(&mut st, "INTERACTION_CREATE", v);
        id
    }

    /// `user` fills in and submits the modal that interaction `opened_by` answered with: the
    /// modal submit's interaction id. Panics when no modal was shown for it.
    pub fn submit_modal(&self, user: u64, opened_by: u64, value: &str, locale: &str) -> u64 {
        let mut st = self.lock();
        let opener = st.interactions[&opened_by].clone();
        let response = opener.response.clone().expect("the press was answered");
        assert_eq!(
            response["type"], 9,
            "the press was not answered with a modal: {response}"
        );
        let modal = &response["data"];
        let input_id = modal["components"][0]["components"][0]["custom_id"]
            .as_str()
            .unwrap()
            .to_string();
        let (id, mut v) = Self::interaction_base(&mut st, user, opener.channel, locale, 5);
        v["data"] = json!({
            "custom_id": modal["custom_id"],
            "components": [{"type": 1, "components": [{"type": 4, "custom_id": input_id, "value": value}]}],
        });
        if let Some(mid) = opener.message {
            if let Some(m) = st.messages.iter().find(|m| m.id == mid) {
                v["message"] = m.json.clone();
            }
        }
        st.interactions.get_mut(&id).unwrap().message = opener.message;
        self.dispatch(&mut st, "INTERACTION_CREATE", v);
        id
    }
}

fn rand_token() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("{n:x}")
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, St> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// ---------------------------------------------------------------------------------------------
// Gateway

async fn gateway_connection(shared: Arc<Shared>, stream: tokio::net::TcpStream) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let hello = json!({"op": 10, "d": {"heartbeat_interval": 41_250}, "s": null, "t": null});
    if ws.send(WsMessage::Text(hello.to_string())).await.is_err() {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    loop {
        tokio::select! {
            incoming = ws.next() => {
                let Some(Ok(msg)) = incoming else { return };
                let WsMessage::Text(text) = msg else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                match v["op"].as_u64() {
                    Some(1) => {
                        let ack = json!({"op": 11, "d": null, "s": null, "t": null});
                        if ws.send(WsMessage::Text(ack.to_string())).await.is_err() { return; }
                    }
                    Some(6) => {
                        // RESUME: the same session goes on where it was.
                        let token = v["d"]["token"].as_str().unwrap_or_default();
                        let token = token.strip_prefix("Bot ").unwrap_or(token);
                        if token != shared.token || v["d"]["session_id"] != "fake-session" {
                            let invalid = json!({"op": 9, "d": false, "s": null, "t": null});
                            if ws.send(WsMessage::Text(invalid.to_string())).await.is_err() { return; }
                            continue;
                        }
                        let resumed = {
                            let mut st = shared.lock();
                            st.resume_count += 1;
                            st.seq += 1;
                            json!({"op": 0, "t": "RESUMED", "s": st.seq, "d": {}})
                        };
                        if ws.send(WsMessage::Text(resumed.to_string())).await.is_err() { return; }
                        shared.lock().sessions.push(tx.clone());
                        shared.changed.notify_waiters();
                    }
                    Some(2) => {
                        let token = v["d"]["token"].as_str().unwrap_or_default();
                        let token = token.strip_prefix("Bot ").unwrap_or(token);
                        if token != shared.token {
                            shared.lock().violations.push("gateway: identify with a wrong token".into());
                            let _ = ws.send(WsMessage::Close(Some(CloseFrame { code: CloseCode::Library(4004), reason: "Authentication failed.".into() }))).await;
                            return;
                        }
                        let intents = v["d"]["intents"].as_u64().unwrap_or(0);
                        let allowed = shared.lock().enabled_privileged;
                        if intents & PRIVILEGED & !allowed != 0 {
                            shared.lock().violations.push(format!("gateway: disallowed intents {intents}"));
                            let _ = ws.send(WsMessage::Close(Some(CloseFrame { code: CloseCode::Library(4014), reason: "Disallowed intent(s).".into() }))).await;
                            return;
                        }
                        let ready = {
                            let mut st = shared.lock();
                            st.intents = Some(intents);
                            st.identify_count += 1;
                            st.seq += 1;
                            json!({"op": 0, "t": "READY", "s": st.seq, "d": {
                                "v": 10,
                                "user": {"id": BOT_ID.to_string(), "username": "SSPR", "discriminator": "0", "global_name": null, "avatar": null, "bot": true, "verified": true, "mfa_enabled": false, "flags": 0},
                                "guilds": [],
                                "session_id": "fake-session",
                                "resume_gateway_url": shared.gateway_url,
                                "shard": [0, 1],
                                "application": {"id": APP_ID.to_string(), "flags": 0},
                            }})
                        };
                        if ws.send(WsMessage::Text(ready.to_string())).await.is_err() { return; }
                        shared.lock().sessions.push(tx.clone());
                        shared.changed.notify_waiters();
                    }
                    _ => {}
                }
            }
            out = rx.recv() => {
                let Some(event) = out else { return };
                if let Some(code) = event.get("__close").and_then(|c| c.as_u64()) {
                    let frame = CloseFrame { code: CloseCode::Library(code as u16), reason: "Unknown error.".into() };
                    let _ = ws.send(WsMessage::Close(Some(frame))).await;
                    return;
                }
                if ws.send(WsMessage::Text(event.to_string())).await.is_err() { return; }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// REST

fn error(status: u16, code: u64, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        json!({"code": code, "message": message}).to_string(),
    )
        .into_response()
}

fn ok_json(v: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// Auth check, request log and rate limiting: Some(response) ends the request there.
fn gate(shared: &Shared, headers: &HeaderMap, what: &str, needs_auth: bool) -> Option<Response> {
    let mut st = shared.lock();
    st.requests.push(what.to_string());
    if needs_auth {
        let expected = format!("Bot {}", shared.token);
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if given != expected {
            st.violations.push(format!("{what}: unauthorised"));
            return Some(error(401, 0, "401: Unauthorized"));
        }
    }
    let now = Instant::now();
    let st = &mut *st;
    for entry in st.rate_limited.iter_mut().chain(st.exhausted.iter_mut()) {
        if entry.0 == what && entry.2.is_none() {
            entry.2 = Some(now);
        }
    }
    if let Some((part, status)) = st.fail.clone() {
        if what.contains(&part) {
            st.fail = None;
            return Some(error(status, 0, "Internal Server Error"));
        }
    }
    if let Some((part, secs)) = st.rate_limit.clone() {
        if what.contains(&part) {
            st.rate_limit = None;
            st.rate_limited.push((what.to_string(), now, None));
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::CONTENT_TYPE, "application/json")],
                json!({"message": "You are being rate limited.", "retry_after": secs, "global": false, "code": 0}).to_string(),
            )
                .into_response();
            let h = r.headers_mut();
            h.insert(
                "retry-after",
                HeaderValue::from_str(&format!("{secs}")).unwrap(),
            );
            h.insert("x-ratelimit-limit", HeaderValue::from_static("5"));
            h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            h.insert(
                "x-ratelimit-reset-after",
                HeaderValue::from_str(&format!("{secs}")).unwrap(),
            );
            h.insert(
                "x-ratelimit-bucket",
                HeaderValue::from_static("fake-bucket"),
            );
            h.insert("x-ratelimit-scope", HeaderValue::from_static("user"));
            return Some(r);
        }
    }
    None
}

async fn unknown_route(
    headers: HeaderMap,
    uri: axum::http::Uri,
    State(shared): State<Arc<Shared>>,
) -> Response {
    let _ = headers;
    shared
        .lock()
        .violations
        .push(format!("unknown route {}", uri.path()));
    error(404, 0, "404: Not Found")
}

async fn gateway(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let _ = &headers;
    shared.lock().requests.push("GET /gateway".into());
    ok_json(json!({
        "url": shared.gateway_url,
        "shards": 1,
        "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1},
    }))
}

async fn me(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&shared, &headers, "GET /users/@me", true) {
        return r;
    }
    ok_json(json!({
        "id": BOT_ID.to_string(), "username": "SSPR", "discriminator": "0", "global_name": null,
        "avatar": null, "bot": true, "verified": true, "mfa_enabled": false, "flags": 0,
    }))
}

/// The body of a message create or edit: JSON, or multipart with `payload_json` and files.
fn message_body(headers: &HeaderMap, body: &[u8]) -> Result<(Value, Uploads), String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if content_type.starts_with("multipart/form-data") {
        let boundary = content_type
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))
            .ok_or("multipart boundary missing")?
            .trim_matches('"')
            .to_string();
        let mut fields = serde_json::Map::new();
        let mut uploads = Uploads::new();
        parse_multipart(body, &boundary, &mut fields, &mut uploads).ok_or("bad multipart body")?;
        let payload = fields
            .get("payload_json")
            .and_then(|v| v.as_str())
            .map(serde_json::from_str::<Value>)
            .transpose()
            .map_err(|e| format!("payload_json: {e}"))?
            .unwrap_or(json!({}));
        Ok((payload, uploads))
    } else {
        let v = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
        Ok((v, Uploads::new()))
    }
}

/// Discord's component rules for a message: rows of buttons.
fn check_components(components: &Value) -> Result<Rows, String> {
    let Some(rows) = components.as_array() else {
        return Ok(vec![]);
    };
    if rows.len() > 5 {
        return Err(format!("components: {} action rows (max 5)", rows.len()));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for row in rows {
        if row["type"] != 1 {
            return Err("components: top level must be action rows (type 1)".into());
        }
        let buttons = row["components"]
            .as_array()
            .ok_or("action row without components")?;
        if buttons.is_empty() || buttons.len() > 5 {
            return Err(format!(
                "action row with {} components (1–5)",
                buttons.len()
            ));
        }
        let mut r = Vec::new();
        for b in buttons {
            if b["type"] != 2 {
                return Err("only buttons expected in a message".into());
            }
            let style = b["style"].as_u64().unwrap_or(0);
            if !(1..=4).contains(&style) {
                return Err(format!("button style {style} is not a non-link style"));
            }
            let id = b["custom_id"].as_str().unwrap_or_default();
            if id.is_empty() || id.chars().count() > 100 {
                return Err(format!("custom_id length {} (1–100)", id.chars().count()));
            }
            if !seen.insert(id.to_string()) {
                return Err(format!("custom_id {id} used twice in one message"));
            }
            let label = b["label"].as_str().unwrap_or_default();
            if label.chars().count() > 80 {
                return Err("button label longer than 80".into());
            }
            if label.is_empty() && b.get("emoji").is_none() {
                return Err("button without label or emoji".into());
            }
            r.push((
                id.to_string(),
                label.to_string(),
                b["disabled"].as_bool().unwrap_or(false),
                style,
            ));
        }
        out.push(r);
    }
    Ok(out)
}

fn normalized_components(buttons: &[Vec<Button>]) -> Value {
    Value::Array(
        buttons
            .iter()
            .map(|row| {
                json!({"type": 1, "components": row.iter().map(|(id, label, disabled, style)| json!({
                    "type": 2, "custom_id": id, "label": label, "disabled": disabled, "style": style,
                })).collect::<Vec<_>>()})
            })
            .collect(),
    )
}

fn violation(shared: &Shared, what: &str, detail: String) -> Response {
    shared.lock().violations.push(format!("{what}: {detail}"));
    shared.changed.notify_waiters();
    error(400, 50035, &format!("Invalid Form Body ({detail})"))
}

async fn create_message(
    State(shared): State<Arc<Shared>>,
    Path(channel): Path<u64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let what = format!("POST /channels/{channel}/messages");
    if let Some(r) = gate(&shared, &headers, &what, true) {
        return r;
    }
    let (payload, uploads) = match message_body(&headers, &body) {
        Ok(v) => v,
        Err(e) => return violation(&shared, &what, e),
    };
    let dm_user = {
        let st = shared.lock();
        match st.channels.get(&channel) {
            None => return error(404, 10003, "Unknown Channel"),
            Some(u) => *u,
        }
    };
    if let Some(user) = dm_user {
        if shared.lock().blocked.contains(&user) {
            return error(403, 50007, "Cannot send messages to this user");
        }
    }
    let content = payload["content"].as_str().unwrap_or_default().to_string();
    if content.chars().count() > 2000 {
        return violation(&shared, &what, "content longer than 2000".into());
    }
    let buttons = match check_components(&payload["components"]) {
        Ok(b) => b,
        Err(e) => return violation(&shared, &what, e),
    };
    if content.trim().is_empty() && buttons.is_empty() && uploads.is_empty() {
        return violation(&shared, &what, "Cannot send an empty message".into());
    }
    let mut st = shared.lock();
    let reference = payload["message_reference"]["message_id"]
        .as_str()
        .and_then(|s| s.parse::<u64>().ok());
    let mut referenced_json = Value::Null;
    if let Some(r) = reference {
        let fail = payload["message_reference"]["fail_if_not_exists"]
            .as_bool()
            .unwrap_or(true);
        match st
            .messages
            .iter()
            .find(|m| m.id == r && m.channel == channel && !m.deleted)
        {
            Some(m) => referenced_json = m.json.clone(),
            None if fail => {
                drop(st);
                return violation(
                    &shared,
                    &what,
                    "Unknown message in message_reference".into(),
                );
            }
            None => {}
        }
    }
    let id = snowflake(&mut st);
    let files: Vec<(String, Vec<u8>)> = uploads
        .into_values()
        .map(|u| (u.file_name.unwrap_or_default(), u.bytes))
        .collect();
    let attachments: Vec<Value> = files
        .iter()
        .enumerate()
        .map(|(i, (name, bytes))| {
            json!({"id": (id + i as u64).to_string(), "filename": name, "size": bytes.len(),
                   "url": format!("https://cdn.example/{name}"), "proxy_url": format!("https://media.example/{name}")})
        })
        .collect();
    let mut json = json!({
        "id": id.to_string(),
        "channel_id": channel.to_string(),
        "author": st.users[&BOT_ID].clone(),
        "content": content,
        "timestamp": timestamp(),
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": attachments,
        "embeds": [],
        "pinned": false,
        "type": if reference.is_some() { 19 } else { 0 },
        "flags": 0,
        "components": normalized_components(&buttons),
    });
    if let Some(r) = reference {
        json["message_reference"] =
            json!({"type": 0, "message_id": r.to_string(), "channel_id": channel.to_string()});
        json["referenced_message"] = referenced_json;
    }
    st.messages.push(Sent {
        id,
        channel,
        author: BOT_ID,
        content,
        buttons,
        files,
        reference,
        allowed_mentions: payload.get("allowed_mentions").cloned(),
        deleted: false,
        json: json.clone(),
    });
    let exhaust = match st.exhaust.clone() {
        Some((part, secs)) if what.contains(&part) => {
            st.exhaust = None;
            st.exhausted.push((what.clone(), Instant::now(), None));
            Some(secs)
        }
        _ => None,
    };
    drop(st);
    shared.changed.notify_waiters();
    let mut response = ok_json(json);
    if let Some(secs) = exhaust {
        let h = response.headers_mut();
        h.insert("x-ratelimit-limit", HeaderValue::from_static("5"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert(
            "x-ratelimit-reset-after",
            HeaderValue::from_str(&format!("{secs}")).unwrap(),
        );
        h.insert(
            "x-ratelimit-bucket",
            HeaderValue::from_static("fake-bucket"),
        );
    }
    response
}

async fn edit_message(
    State(shared): State<Arc<Shared>>,
    Path((channel, message)): Path<(u64, u64)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let what = format!("PATCH /channels/{channel}/messages/{message}");
    if let Some(r) = gate(&shared, &headers, &what, true) {
        return r;
    }
    let (payload, _) = match message_body(&headers, &body) {
        Ok(v) => v,
        Err(e) => return violation(&shared, &what, e),
    };
    let buttons = match payload.get("components") {
        Some(c) => match check_components(c) {
            Ok(b) => Some(b),
            Err(e) => return violation(&shared, &what, e),
        },
        None => None,
    };
    if payload["content"]
        .as_str()
        .is_some_and(|c| c.chars().count() > 2000)
    {
        return violation(&shared, &what, "content longer than 2000".into());
    }
    let mut st = shared.lock();
    let Some(m) = st
        .messages
        .iter_mut()
        .find(|m| m.id == message && m.channel == channel && !m.deleted)
    else {
        return error(404, 10008, "Unknown Message");
    };
    if m.author != BOT_ID {
        return error(403, 50005, "Cannot edit a message authored by another user");
    }
    if let Some(c) = payload["content"].as_str() {
        m.content = c.to_string();
        m.json["content"] = json!(c);
    }
    if let Some(b) = buttons {
        m.json["components"] = normalized_components(&b);
        m.buttons = b;
    }
    m.json["edited_timestamp"] = json!(timestamp());
    let json = m.json.clone();
    drop(st);
    shared.changed.notify_waiters();
    ok_json(json)
}

async fn delete_message(
    State(shared): State<Arc<Shared>>,
    Path((channel, message)): Path<(u64, u64)>,
    headers: HeaderMap,
) -> Response {
    let what = format!("DELETE /channels/{channel}/messages/{message}");
    if let Some(r) = gate(&shared, &headers, &what, true) {
        return r;
    }
    let mut st = shared.lock();
    let is_dm = st.channels.get(&channel).copied().flatten().is_some();
    let Some(m) = st
        .messages
        .iter_mut()
        .find(|m| m.id == message && m.channel == channel && !m.deleted)
    else {
        return error(404, 10008, "Unknown Message");
    };
    if is_dm && m.author != BOT_ID {
        return error(403, 50003, "Cannot execute action on a DM channel");
    }
    m.deleted = true;
    drop(st);
    shared.changed.notify_waiters();
    StatusCode::NO_CONTENT.into_response()
}

fn check_modal(data: &Value) -> Result<(), String> {
    let title = data["title"].as_str().unwrap_or_default();
    if title.is_empty() || title.chars().count() > 45 {
        return Err(format!(
            "modal title length {} (1–45)",
            title.chars().count()
        ));
    }
    let id = data["custom_id"].as_str().unwrap_or_default();
    if id.is_empty() || id.chars().count() > 100 {
        return Err("modal custom_id length (1–100)".into());
    }
    let rows = data["components"]
        .as_array()
        .ok_or("modal without components")?;
    if rows.is_empty() || rows.len() > 5 {
        return Err(format!("modal with {} rows (1–5)", rows.len()));
    }
    for row in rows {
        let inputs = row["components"]
            .as_array()
            .ok_or("modal row without components")?;
        if row["type"] != 1 || inputs.len() != 1 || inputs[0]["type"] != 4 {
            return Err("a modal row holds exactly one text input".into());
        }
        let input = &inputs[0];
        let label = input["label"].as_str().unwrap_or_default();
        if label.is_empty() || label.chars().count() > 45 {
            return Err(format!(
                "text input label length {} (1–45)",
                label.chars().count()
            ));
        }
        if input["custom_id"].as_str().unwrap_or_default().is_empty() {
            return Err("text input without custom_id".into());
        }
        if !matches!(input["style"].as_u64(), Some(1 | 2)) {
            return Err("text input style must be 1 or 2".into());
        }
        if input["placeholder"]
            .as_str()
            .is_some_and(|p| p.chars().count() > 100)
        {
            return Err("placeholder longer than 100".into());
        }
        let min = input["min_length"].as_u64().unwrap_or(0);
        let max = input["max_length"].as_u64().unwrap_or(4000);
        if max == 0 || min > max {
            return Err(format!("lengths {min}–{max}"));
        }
        for key in ["min_length", "max_length"] {
            if let Some(n) = input.get(key).and_then(|v| v.as_u64()) {
                if n > 4000 {
                    return Err(format!("{key} above 4000"));
                }
            }
        }
    }
    Ok(())
}

async fn interaction_callback(
    State(shared): State<Arc<Shared>>,
    Path((id, token)): Path<(u64, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let what = format!("POST /interactions/{id}/callback");
    if let Some(r) = gate(&shared, &headers, &what, false) {
        return r;
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return violation(&shared, &what, "body is not JSON".into());
    };
    let mut st = shared.lock();
    let Some(rec) = st
        .interactions
        .get(&id)
        .cloned()
        .filter(|r| r.token == token)
    else {
        return error(404, 10062, "Unknown interaction");
    };
    if rec.response.is_some() {
        drop(st);
        violation(&shared, &what, "answered twice".into());
        return error(400, 40060, "Interaction has already been acknowledged.");
    }
    let waited = rec.delivered.elapsed();
    if waited > INTERACTION_DEADLINE {
        st.violations
            .push(format!("{what}: answered after {waited:?}"));
        return error(404, 10062, "Unknown interaction");
    }
    let kind = v["type"].as_u64().unwrap_or(0);
    let from_component = rec.kind == 3 || (rec.kind == 5 && rec.message.is_some());
    let check = match kind {
        4 | 5 => Ok(()),
        6 | 7 if from_component => Ok(()),
        6 | 7 => Err("update only for a component's interaction".to_string()),
        9 if rec.kind == 3 => check_modal(&v["data"]),
        9 => Err("a modal can't answer a modal".into()),
        other => Err(format!("callback type {other}")),
    };
    if let Err(e) = check {
        drop(st);
        return violation(&shared, &what, e);
    }
    if kind == 7 {
        let data = &v["data"];
        if let Some(c) = data.get("components") {
            match check_components(c) {
                Ok(buttons) => {
                    if let Some(m) = rec
                        .message
                        .and_then(|mid| st.messages.iter_mut().find(|m| m.id == mid))
                    {
                        m.json["components"] = normalized_components(&buttons);
                        m.buttons = buttons;
                    }
                }
                Err(e) => {
                    drop(st);
                    return violation(&shared, &what, e);
                }
            }
        }
        if let Some(c) = data["content"].as_str() {
            if let Some(m) = rec
                .message
                .and_then(|mid| st.messages.iter_mut().find(|m| m.id == mid))
            {
                m.content = c.to_string();
                m.json["content"] = json!(c);
            }
        }
    }
    let r = st.interactions.get_mut(&id).unwrap();
    r.response = Some(v);
    r.answered_after = Some(waited);
    drop(st);
    shared.changed.notify_waiters();
    StatusCode::NO_CONTENT.into_response()
}

async fn edit_original(
    State(shared): State<Arc<Shared>>,
    Path((app, token)): Path<(u64, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let what = "PATCH /webhooks/{app}/{token}/messages/@original".to_string();
    if let Some(r) = gate(&shared, &headers, &what, false) {
        return r;
    }
    if app != APP_ID {
        return error(404, 10015, "Unknown Webhook");
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return violation(&shared, &what, "body is not JSON".into());
    };
    let mut st = shared.lock();
    let Some(rec) = st.interactions.values_mut().find(|r| r.token == token) else {
        return error(404, 10015, "Unknown Webhook");
    };
    if rec.response.as_ref().map(|r| r["type"].as_u64()) != Some(Some(5)) {
        drop(st);
        return violation(&shared, &what, "no deferred response to edit".into());
    }
    rec.edited = Some(v.clone());
    let channel = rec.channel;
    drop(st);
    shared.changed.notify_waiters();
    ok_json(json!({
        "id": "1", "channel_id": channel.to_string(),
        "author": user_json(BOT_ID, "SSPR", true),
        "content": v["content"], "timestamp": timestamp(), "edited_timestamp": null,
        "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": false, "type": 0, "flags": 64,
    }))
}
