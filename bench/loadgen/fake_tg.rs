//! A fast fake Telegram Bot API for the load generator.
//!
//! Unlike the strict fake of the integration tests (`tests/it/fake_telegram.rs`) this one checks
//! little: it only has to be right for the three bots under test and cheap at thousands of calls
//! per second. It answers `POST`/`GET {base}/bot{TOKEN}/{method}` (method names
//! case-insensitive) with parameters as JSON, `application/x-www-form-urlencoded`,
//! `multipart/form-data` or a query string, nested values (`reply_markup`) either JSON or
//! JSON-serialised strings.
//!
//! The driver opens a chat per conversation and queues one update per turn, saying how many
//! `sendMessage` calls complete that turn; the fake answers through a oneshot channel with the
//! turn's latency (update queued → last `sendMessage` of the turn received) when they have
//! arrived. Only the last few messages with an inline keyboard are kept per chat (to press their
//! buttons); nothing else is logged per message.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{Map, Value};
use tokio::sync::{oneshot, watch, Notify};

const BOT_ID: i64 = 7_700_000_001;
const BOT_USERNAME: &str = "sspr_bench_bot";
const FIRST_UPDATE_ID: i64 = 500_000_001;
/// Messages with an inline keyboard remembered per chat (buttons are pressed on the latest one).
const KEYBOARDS_KEPT: usize = 6;
/// Longest long poll, as Telegram's 50 s.
const MAX_LONG_POLL: Duration = Duration::from_secs(50);

pub const CONFLICT_OTHER_POLL: &str = "Conflict: terminated by other getUpdates request; make \
                                       sure that only one bot instance is running";

/// What the driver learns when a turn is complete.
#[derive(Debug)]
pub struct Done {
    /// Update queued → the turn's last `sendMessage` received.
    pub latency: Duration,
    /// When the last `sendMessage` arrived.
    pub at: Instant,
    /// The text of the turn's last message, when asked for.
    pub last_text: Option<String>,
}

/// A message the bot sent in a recorded (calibration) chat.
#[derive(Clone, Debug)]
pub struct Sent {
    pub at: Instant,
    pub text: String,
    pub buttons: Vec<String>,
}

struct Keyboard {
    message_id: i64,
    date: i64,
    text: String,
    markup: Value,
    data: Vec<String>,
}

struct Turn {
    expected: u32,
    got: u32,
    queued: Instant,
    want_text: bool,
    tx: Option<oneshot::Sender<Done>>,
}

#[derive(Default)]
struct Chat {
    next_message_id: i64,
    keyboards: VecDeque<Keyboard>,
    turn: Option<Turn>,
    /// Every message sent, for calibration chats only.
    record: Option<Vec<Sent>>,
}

struct St {
    next_update_id: i64,
    next_callback_id: u64,
    /// Updates not yet confirmed by a getUpdates offset: (update_id, JSON).
    pending: VecDeque<(i64, String)>,
    poll_generation: u64,
    chats: HashMap<i64, Chat>,
}

/// Calls and anomalies, for the report.
#[derive(Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub get_updates: AtomicU64,
    pub send_message: AtomicU64,
    /// sendMessage to a chat no conversation holds (late replies after a timeout, or replies
    /// after the conversation ended).
    pub stray_messages: AtomicU64,
    pub bad_requests: AtomicU64,
    pub unknown_methods: AtomicU64,
}

pub struct Fake {
    pub base_url: String,
    pub token: String,
    st: Mutex<St>,
    /// Woken when an update is queued or a newer getUpdates starts.
    updates: Notify,
    /// Counts getUpdates requests (cold start waits for the first).
    polls: watch::Sender<u64>,
    pub stats: Stats,
    /// Print every request (LOADGEN_TRACE=1), to see what a bot does.
    trace: bool,
}

#[derive(Debug)]
pub enum QueueError {
    /// No message of this conversation has a button with this callback data.
    NoButton(String),
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn user_json(id: i64) -> String {
    format!(
        r#"{{"id":{id},"is_bot":false,"first_name":"Load","last_name":"Test","language_code":"nl"}}"#
    )
}

fn chat_json(id: i64) -> String {
    format!(r#"{{"id":{id},"type":"private","first_name":"Load","last_name":"Test"}}"#)
}

fn bot_json() -> String {
    format!(
        r#"{{"id":{BOT_ID},"is_bot":true,"first_name":"SSPR bench bot","username":"{BOT_USERNAME}"}}"#
    )
}

fn esc(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn bot_message_json(
    chat_id: i64,
    message_id: i64,
    date: i64,
    text: &str,
    markup: Option<&Value>,
) -> String {
    let mut s = format!(
        r#"{{"message_id":{message_id},"from":{},"chat":{},"date":{date},"text":{}"#,
        bot_json(),
        chat_json(chat_id),
        esc(text)
    );
    if let Some(m) = markup {
        s.push_str(r#","reply_markup":"#);
        s.push_str(&m.to_string());
    }
    s.push('}');
    s
}

/// The callback data of an inline keyboard markup, if it is one.
fn callback_data(markup: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(rows) = markup.get("inline_keyboard").and_then(Value::as_array) {
        for row in rows {
            for b in row.as_array().into_iter().flatten() {
                if let Some(d) = b.get("callback_data").and_then(Value::as_str) {
                    out.push(d.to_owned());
                }
            }
        }
    }
    out
}

impl Fake {
    /// Starts the fake on 127.0.0.1:0.
    pub async fn start(token: &str) -> anyhow::Result<Arc<Fake>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (polls, _) = watch::channel(0);
        let fake = Arc::new(Fake {
            base_url: format!("http://{addr}"),
            token: token.to_owned(),
            st: Mutex::new(St {
                next_update_id: FIRST_UPDATE_ID,
                next_callback_id: 1,
                pending: VecDeque::new(),
                poll_generation: 0,
                chats: HashMap::new(),
            }),
            updates: Notify::new(),
            polls,
            stats: Stats::default(),
            trace: std::env::var_os("LOADGEN_TRACE").is_some_and(|v| v == "1"),
        });
        let app = Router::new().fallback(handle).with_state(Arc::clone(&fake));
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("fake Telegram stopped: {e}");
            }
        });
        Ok(fake)
    }

    fn st(&self) -> MutexGuard<'_, St> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A receiver that changes with every getUpdates request.
    pub fn polls(&self) -> watch::Receiver<u64> {
        self.polls.subscribe()
    }

    /// Opens a conversation's chat (`record`: keep every message, for calibration).
    pub fn open_chat(&self, chat_id: i64, record: bool) {
        let chat = Chat {
            next_message_id: 1,
            record: record.then(Vec::new),
            ..Chat::default()
        };
        self.st().chats.insert(chat_id, chat);
    }

    /// Forgets a chat: later messages to it count as strays.
    pub fn close_chat(&self, chat_id: i64) {
        self.st().chats.remove(&chat_id);
    }

    /// Forgets every chat (the end of a phase).
    pub fn close_all_chats(&self) {
        self.st().chats.clear();
    }

    /// Drops updates no bot confirmed (between bots).
    pub fn clear_updates(&self) {
        self.st().pending.clear();
    }

    /// The messages of a recorded chat so far.
    pub fn recorded(&self, chat_id: i64) -> Vec<Sent> {
        self.st()
            .chats
            .get(&chat_id)
            .and_then(|c| c.record.clone())
            .unwrap_or_default()
    }

    /// Queues a text message from the user of `chat_id`; the receiver completes when
    /// `expected` sendMessages for the chat have arrived (`expected == 0`: never).
    pub fn queue_text(
        &self,
        chat_id: i64,
        text: &str,
        expected: u32,
        want_text: bool,
    ) -> oneshot::Receiver<Done> {
        let (tx, rx) = oneshot::channel();
        let date = now_unix();
        let entities = if text.starts_with('/') {
            let len = text
                .find(' ')
                .unwrap_or(text.len())
                .min(text.encode_utf16().count());
            format!(r#","entities":[{{"offset":0,"length":{len},"type":"bot_command"}}]"#)
        } else {
            String::new()
        };
        {
            let mut st = self.st();
            let update_id = st.next_update_id;
            st.next_update_id += 1;
            let chat = st.chats.entry(chat_id).or_default();
            let message_id = chat.next_message_id.max(1);
            chat.next_message_id = message_id + 1;
            chat.turn = Some(Turn {
                expected,
                got: 0,
                queued: Instant::now(),
                want_text,
                tx: Some(tx),
            });
            let update = format!(
                r#"{{"update_id":{update_id},"message":{{"message_id":{message_id},"from":{},"chat":{},"date":{date},"text":{}{entities}}}}}"#,
                user_json(chat_id),
                chat_json(chat_id),
                esc(text),
            );
            st.pending.push_back((update_id, update));
        }
        self.updates.notify_waiters();
        rx
    }

    /// Presses the button with `data` on the latest message of the chat that has it.
    pub fn queue_press(
        &self,
        chat_id: i64,
        data: &str,
        expected: u32,
        want_text: bool,
    ) -> Result<oneshot::Receiver<Done>, QueueError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.st();
            let update_id = st.next_update_id;
            let callback_id = st.next_callback_id;
            let chat = st.chats.entry(chat_id).or_default();
            let Some(kb) = chat
                .keyboards
                .iter()
                .rev()
                .find(|k| k.data.iter().any(|d| d == data))
            else {
                return Err(QueueError::NoButton(data.to_owned()));
            };
            let message =
                bot_message_json(chat_id, kb.message_id, kb.date, &kb.text, Some(&kb.markup));
            chat.turn = Some(Turn {
                expected,
                got: 0,
                queued: Instant::now(),
                want_text,
                tx: Some(tx),
            });
            let update = format!(
                r#"{{"update_id":{update_id},"callback_query":{{"id":"{callback_id}","from":{},"message":{message},"chat_instance":"{}","data":{}}}}}"#,
                user_json(chat_id),
                (chat_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 1,
                esc(data),
            );
            st.next_update_id += 1;
            st.next_callback_id += 1;
            st.pending.push_back((update_id, update));
        }
        self.updates.notify_waiters();
        Ok(rx)
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

fn json_response(code: StatusCode, body: String) -> Response {
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn ok(result: &str) -> Response {
    json_response(
        StatusCode::OK,
        format!(r#"{{"ok":true,"result":{result}}}"#),
    )
}

fn err(code: u16, description: &str) -> Response {
    json_response(
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
        format!(
            r#"{{"ok":false,"error_code":{code},"description":{}}}"#,
            esc(description)
        ),
    )
}

async fn handle(
    State(fake): State<Arc<Fake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = Instant::now();
    fake.stats.requests.fetch_add(1, Ordering::Relaxed);
    let Some((token, api_method)) = uri
        .path()
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return err(404, "Not Found");
    };
    if percent_decode(token) != fake.token || (method != Method::POST && method != Method::GET) {
        return err(404, "Not Found");
    }
    let api_method = api_method.trim_end_matches('/').to_ascii_lowercase();
    if fake.trace {
        eprintln!(
            "[fake Telegram {}] {method} {api_method}",
            chrono::Local::now().format("%H:%M:%S%.3f")
        );
    }
    let params = match parse_params(uri.query(), &headers, &body) {
        Ok(p) => p,
        Err(e) => {
            fake.stats.bad_requests.fetch_add(1, Ordering::Relaxed);
            return err(400, &e);
        }
    };
    match api_method.as_str() {
        "getme" => ok(&format!(
            r#"{{"id":{BOT_ID},"is_bot":true,"first_name":"SSPR bench bot","username":"{BOT_USERNAME}","can_join_groups":true,"can_read_all_group_messages":false,"supports_inline_queries":false,"can_connect_to_business":false,"has_main_web_app":false}}"#
        )),
        "deletewebhook" | "setwebhook" => json_response(
            StatusCode::OK,
            r#"{"ok":true,"result":true,"description":"Webhook is already deleted"}"#.into(),
        ),
        "setmycommands"
        | "deletemycommands"
        | "close"
        | "logout"
        | "answercallbackquery"
        | "deletemessage"
        | "sendchataction"
        | "setchatmenubutton" => ok("true"),
        "getmycommands" => ok("[]"),
        "getwebhookinfo" => {
            let n = fake.st().pending.len();
            ok(&format!(
                r#"{{"url":"","has_custom_certificate":false,"pending_update_count":{n}}}"#
            ))
        }
        "getupdates" => get_updates(&fake, &params).await,
        "sendmessage" => send_message(&fake, &params, arrived),
        "sendphoto" => send_photo(&fake, &params),
        "editmessagetext" | "editmessagereplymarkup" => {
            edit_message(&fake, &params, api_method == "editmessagetext")
        }
        _ => {
            fake.stats.unknown_methods.fetch_add(1, Ordering::Relaxed);
            err(404, "Not Found: method not found")
        }
    }
}

async fn get_updates(fake: &Fake, p: &Map<String, Value>) -> Response {
    fake.stats.get_updates.fetch_add(1, Ordering::Relaxed);
    fake.polls.send_modify(|n| *n += 1);
    let offset = int_param(p, "offset").unwrap_or(0);
    let limit = int_param(p, "limit").unwrap_or(100).clamp(1, 100) as usize;
    let timeout = int_param(p, "timeout").unwrap_or(0).max(0) as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout).min(MAX_LONG_POLL);
    let generation = {
        let mut st = fake.st();
        if offset > 0 {
            while st.pending.front().is_some_and(|(id, _)| *id < offset) {
                st.pending.pop_front();
            }
        } else if offset < 0 {
            let keep = offset.unsigned_abs() as usize;
            while st.pending.len() > keep {
                st.pending.pop_front();
            }
        }
        st.poll_generation += 1;
        st.poll_generation
    };
    // Ends an older long poll still waiting, as Telegram does.
    fake.updates.notify_waiters();
    loop {
        let notified = fake.updates.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let st = fake.st();
            if st.poll_generation != generation {
                return err(409, CONFLICT_OTHER_POLL);
            }
            if !st.pending.is_empty() || tokio::time::Instant::now() >= deadline {
                let mut body = String::with_capacity(64 + st.pending.len().min(limit) * 400);
                body.push_str(r#"{"ok":true,"result":["#);
                for (i, (_, u)) in st.pending.iter().take(limit).enumerate() {
                    if i > 0 {
                        body.push(',');
                    }
                    body.push_str(u);
                }
                body.push_str("]}");
                drop(st);
                return json_response(StatusCode::OK, body);
            }
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

fn markup_param(p: &Map<String, Value>) -> Option<Value> {
    match p.get("reply_markup")? {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => serde_json::from_str(s).ok(),
        Value::Null => None,
        v => Some(v.clone()),
    }
}

fn send_message(fake: &Fake, p: &Map<String, Value>, arrived: Instant) -> Response {
    fake.stats.send_message.fetch_add(1, Ordering::Relaxed);
    let Some(chat_id) = int_param(p, "chat_id") else {
        fake.stats.bad_requests.fetch_add(1, Ordering::Relaxed);
        return err(400, "Bad Request: chat_id is empty");
    };
    let text = str_param(p, "text").unwrap_or_default();
    if text.trim().is_empty() {
        fake.stats.bad_requests.fetch_add(1, Ordering::Relaxed);
        return err(400, "Bad Request: message text is empty");
    }
    let markup = markup_param(p);
    let data = markup.as_ref().map(callback_data).unwrap_or_default();
    let date = now_unix();
    let mut done = None;
    let message_id = {
        let mut st = fake.st();
        match st.chats.get_mut(&chat_id) {
            None => {
                fake.stats.stray_messages.fetch_add(1, Ordering::Relaxed);
                1
            }
            Some(chat) => {
                let id = chat.next_message_id.max(1);
                chat.next_message_id = id + 1;
                if let Some(rec) = &mut chat.record {
                    rec.push(Sent {
                        at: arrived,
                        text: text.clone(),
                        buttons: data.clone(),
                    });
                }
                if let Some(turn) = &mut chat.turn {
                    turn.got += 1;
                    if turn.got == turn.expected {
                        if let Some(tx) = turn.tx.take() {
                            done = Some((
                                tx,
                                Done {
                                    latency: arrived.saturating_duration_since(turn.queued),
                                    at: arrived,
                                    last_text: turn.want_text.then(|| text.clone()),
                                },
                            ));
                        }
                    }
                }
                if !data.is_empty() {
                    if chat.keyboards.len() >= KEYBOARDS_KEPT {
                        chat.keyboards.pop_front();
                    }
                    chat.keyboards.push_back(Keyboard {
                        message_id: id,
                        date,
                        text: text.clone(),
                        markup: markup.clone().unwrap_or(Value::Null),
                        data,
                    });
                }
                id
            }
        }
    };
    if let Some((tx, d)) = done {
        let _ = tx.send(d);
    }
    ok(&bot_message_json(
        chat_id,
        message_id,
        date,
        &text,
        markup.as_ref(),
    ))
}

fn send_photo(fake: &Fake, p: &Map<String, Value>) -> Response {
    let chat_id = int_param(p, "chat_id").unwrap_or(0);
    let message_id = {
        let mut st = fake.st();
        match st.chats.get_mut(&chat_id) {
            Some(chat) => {
                let id = chat.next_message_id.max(1);
                chat.next_message_id = id + 1;
                id
            }
            None => 1,
        }
    };
    ok(&format!(
        r#"{{"message_id":{message_id},"from":{},"chat":{},"date":{},"photo":[{{"file_id":"AgAD{message_id}","file_unique_id":"u{message_id}","width":320,"height":320}}]}}"#,
        bot_json(),
        chat_json(chat_id),
        now_unix()
    ))
}

/// editMessageText / editMessageReplyMarkup: the stored keyboard follows the edit (an edit
/// without an inline keyboard removes it, as in Telegram).
fn edit_message(fake: &Fake, p: &Map<String, Value>, with_text: bool) -> Response {
    if p.contains_key("inline_message_id") {
        return ok("true");
    }
    let (Some(chat_id), Some(message_id)) = (int_param(p, "chat_id"), int_param(p, "message_id"))
    else {
        fake.stats.bad_requests.fetch_add(1, Ordering::Relaxed);
        return err(400, "Bad Request: message to edit not found");
    };
    let markup = markup_param(p);
    let data = markup.as_ref().map(callback_data).unwrap_or_default();
    let new_text = if with_text {
        str_param(p, "text")
    } else {
        None
    };
    let mut text = new_text.clone().unwrap_or_default();
    let mut date = now_unix();
    {
        let mut st = fake.st();
        if let Some(chat) = st.chats.get_mut(&chat_id) {
            if let Some(pos) = chat
                .keyboards
                .iter()
                .position(|k| k.message_id == message_id)
            {
                if new_text.is_none() {
                    text = chat.keyboards[pos].text.clone();
                }
                date = chat.keyboards[pos].date;
                if data.is_empty() {
                    chat.keyboards.remove(pos);
                } else {
                    let k = &mut chat.keyboards[pos];
                    k.data = data;
                    k.text = text.clone();
                    k.markup = markup.clone().unwrap_or(Value::Null);
                }
            }
        }
    }
    if text.is_empty() {
        text = "…".into();
    }
    ok(&bot_message_json(
        chat_id,
        message_id,
        date,
        &text,
        markup.as_ref(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Parameters

fn percent_decode(s: &str) -> String {
    if !s.contains(['%', '+']) {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex = |b: u8| (b as char).to_digit(16);
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_form(s: &str, into: &mut Map<String, Value>) {
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        into.insert(percent_decode(k), Value::String(percent_decode(v)));
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from >= haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// multipart/form-data: every part by its name; file parts become a placeholder string.
fn parse_multipart(body: &[u8], boundary: &str, into: &mut Map<String, Value>) -> Option<()> {
    let delimiter = format!("--{boundary}").into_bytes();
    let mut pos = find(body, &delimiter, 0)? + delimiter.len();
    loop {
        if body.get(pos..pos + 2)? == b"--" {
            return Some(());
        }
        let part_start = pos + 2;
        let next = find(body, &delimiter, part_start)?;
        let part = &body[part_start..next.checked_sub(2)?.max(part_start)];
        let header_end = find(part, b"\r\n\r\n", 0)?;
        let head = String::from_utf8_lossy(&part[..header_end]);
        let value = &part[header_end + 4..];
        let name = head.lines().find_map(|line| {
            if !line
                .to_ascii_lowercase()
                .starts_with("content-disposition:")
            {
                return None;
            }
            let at = line.find("name=\"")? + 6;
            let end = line[at..].find('"')? + at;
            Some(line[at..end].to_owned())
        })?;
        let value = if head.contains("filename=") {
            Value::String(format!("<file: {} bytes>", value.len()))
        } else {
            Value::String(String::from_utf8_lossy(value).into_owned())
        };
        into.insert(name, value);
        pos = next + delimiter.len();
    }
}

fn parse_params(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Map<String, Value>, String> {
    let mut params = Map::new();
    if let Some(q) = query {
        parse_form(q, &mut params);
    }
    if body.is_empty() {
        return Ok(params);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let lower = content_type.to_ascii_lowercase();
    if lower.starts_with("application/json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => params.extend(map),
            Ok(_) => return Err("Bad Request: parameters must be a JSON object".into()),
            Err(_) => return Err("Bad Request: can't parse JSON".into()),
        }
    } else if lower.starts_with("multipart/form-data") {
        let boundary = content_type
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))
            .map(|b| b.trim_matches('"').to_owned())
            .ok_or("Bad Request: multipart boundary missing")?;
        parse_multipart(body, &boundary, &mut params)
            .ok_or("Bad Request: can't parse multipart body")?;
    } else {
        // application/x-www-form-urlencoded, or no content type at all.
        parse_form(&String::from_utf8_lossy(body), &mut params);
    }
    params.retain(|_, v| !v.is_null());
    Ok(params)
}

fn str_param(p: &Map<String, Value>, key: &str) -> Option<String> {
    match p.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn int_param(p: &Map<String, Value>, key: &str) -> Option<i64> {
    match p.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
