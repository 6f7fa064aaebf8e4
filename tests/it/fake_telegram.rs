//! A fake Telegram Bot API server for the integration tests.
//!
//! It listens on `127.0.0.1:0` inside the test process and answers `POST {url}/bot{TOKEN}/{method}`
//! (and `GET` with a query string) like `api.telegram.org` does, including the checks the real API
//! makes, so an adapter that passes against the fake is not merely passing against a mock that
//! accepts anything. Parameters are accepted as JSON, `application/x-www-form-urlencoded`,
//! `multipart/form-data` (teloxide sends `setWebhook` as multipart) and query strings, and nested
//! values (`reply_markup`) may be JSON-serialised strings, as with the real API.
//!
//! What it checks, per method:
//! - every call: the token in the path (else 404 "Not Found" — real Telegram answers 401
//!   "Unauthorized" for a well-formed but revoked token; teloxide maps both to
//!   `ApiError::InvalidToken`); method names are case-insensitive; unknown methods are 404.
//! - `getUpdates`: 409 while a webhook is set; `offset` confirms (drops) older updates, a negative
//!   offset keeps only the last `-offset`; `limit` 1–100; `timeout` long-polls (capped at 2 s here)
//!   and wakes as soon as an update is queued; a second concurrent `getUpdates` ends the first
//!   with 409 "Conflict: terminated by other getUpdates request; …", as Telegram does.
//! - `sendMessage`: known chat (one that appeared in an update), not blocked, `text` non-empty
//!   after trimming and ≤ 4096 characters after entity parsing, `parse_mode` one of HTML /
//!   MarkdownV2 / Markdown with the markup checked (HTML tags supported by Telegram and properly
//!   nested; MarkdownV2 reserved characters escaped), the inline keyboard valid (every button has
//!   text and exactly one action, `callback_data` 1–64 bytes, `url` http(s)/tg), `reply_parameters`
//!   pointing at an existing message.
//! - `sendPhoto`: known chat, not blocked; `photo` is required: an uploaded file (a multipart
//!   file part named `photo`, or `attach://<name>` naming one), and it must be a PNG or JPEG
//!   image (else "IMAGE_PROCESS_FAILED") whose width + height is at most 10000 and whose sides
//!   are at most 20:1 ("PHOTO_INVALID_DIMENSIONS"), at most 10 MB; a `photo` string that is no
//!   upload is a file id or URL the fake cannot know ("wrong file identifier/HTTP URL
//!   specified"); `caption` ≤ 1024 characters. The photo is recorded with its bytes
//!   ([`FakeTelegram::photos`]), not among the text messages, and can be deleted like them.
//! - `deleteMessage`: the message exists (and is not yet deleted) in that chat; in groups the bot
//!   can only delete its own messages unless [`FakeTelegram::make_admin`] was called.
//! - `editMessageReplyMarkup`: the bot's own, undeleted message in that chat; the new markup must
//!   differ from the current one (else "message is not modified", like Telegram).
//! - `editMessageText`: the bot's own, undeleted message in that chat; `text` as for
//!   `sendMessage`; text and markup together must differ from the current ones (else "message is
//!   not modified"); as in Telegram, an edit without `reply_markup` removes the inline keyboard.
//!   Edits are recorded ([`FakeTelegram::edits`]), and the stored message changes with them.
//! - `answerCallbackQuery`: a known callback query id that was not answered yet, `text` ≤ 200.
//! - `setWebhook`: https URL on port 443/80/88/8443 (http is allowed for 127.0.0.1/localhost/[::1]
//!   only, so tests can point Telegram at the bot; real Telegram requires https), `secret_token`
//!   1–256 characters of `[A-Za-z0-9_-]`, `max_connections` 1–100, empty URL removes the webhook.
//!
//! Deliberate simplifications: group chats behave as for a bot with privacy mode disabled
//! (`can_read_all_group_messages: true`), so every group message is delivered; callback queries
//! never expire; updates are not pushed to a webhook by themselves (use
//! [`FakeTelegram::deliver_to_webhook`] or POST the `*_update_json` yourself).
//!
//! Note for adapter tests: teloxide sleeps 10 s before reading any 5xx response
//! (`DELAY_ON_SERVER_ERROR` in teloxide-core), so `fail_next(.., 502, ..)` costs 10 s per failure
//! when the request goes through teloxide.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

/// The longest a `getUpdates` long poll waits in the fake, whatever `timeout` says.
const MAX_LONG_POLL: Duration = Duration::from_secs(2);
const FIRST_UPDATE_ID: u32 = 700_000_001;
const FIRST_MESSAGE_ID: i32 = 101;
const USER_FIRST_NAME: &str = "Jan";
const GROUP_TITLE: &str = "Test group";
pub const BOT_USERNAME: &str = "sspr_test_bot";
pub const BOT_FIRST_NAME: &str = "SSPR test bot";

pub const CONFLICT_WEBHOOK: &str =
    "Conflict: can't use getUpdates method while webhook is active; \
                                    use deleteWebhook to delete the webhook first";
pub const CONFLICT_OTHER_POLL: &str =
    "Conflict: terminated by other getUpdates request; make sure \
                                       that only one bot instance is running";

#[derive(Clone, Debug, PartialEq)]
pub struct SentMessage {
    pub chat_id: i64,
    pub message_id: i32,
    /// The text as the user sees it (HTML tags / MarkdownV2 markup removed, entities decoded).
    pub text: String,
    pub buttons: Vec<Vec<(String /*label*/, String /*callback_data*/)>>,
    /// The `text` parameter exactly as the bot sent it.
    pub raw_text: String,
    pub parse_mode: Option<String>,
}

/// A photo the bot sent (sendPhoto with an upload).
#[derive(Clone, Debug, PartialEq)]
pub struct SentPhoto {
    pub chat_id: i64,
    pub message_id: i32,
    /// The uploaded file, as sent.
    pub bytes: Vec<u8>,
    pub file_name: Option<String>,
    pub width: u32,
    pub height: u32,
    pub caption: Option<String>,
    pub has_spoiler: bool,
    pub protect_content: bool,
}

/// A group member who writes or presses buttons ([`FakeTelegram::member_says`]).
#[derive(Clone, Debug)]
pub struct Member {
    pub id: i64,
    pub first_name: String,
    pub last_name: Option<String>,
}

impl Member {
    pub fn new(id: i64, first_name: &str, last_name: Option<&str>) -> Self {
        Self {
            id,
            first_name: first_name.to_owned(),
            last_name: last_name.map(str::to_owned),
        }
    }

    fn json(&self) -> Value {
        let mut from = json!({"id": self.id, "is_bot": false, "first_name": self.first_name});
        if let Some(last) = &self.last_name {
            from["last_name"] = json!(last);
        }
        from
    }
}

/// A multipart part that carried a file.
pub(crate) struct Upload {
    pub(crate) file_name: Option<String>,
    pub(crate) bytes: Vec<u8>,
}

/// The files of one call, by multipart part name.
pub(crate) type Uploads = HashMap<String, Upload>;

pub struct FakeTelegram {
    /// Base URL for teloxide's `set_api_url`, e.g. `http://127.0.0.1:PORT`.
    pub url: String,
    pub token: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

struct Shared {
    token: String,
    bot_id: i64,
    state: Mutex<FakeState>,
    /// Woken whenever an update is queued or a new `getUpdates` starts.
    notify: Notify,
}

struct StoredMessage {
    json: Value,
    from_bot: bool,
    deleted: bool,
}

#[derive(Default)]
struct FakeState {
    next_update_id: u32,
    next_message_id: i32,
    next_callback_id: u64,
    /// Updates not yet confirmed by a `getUpdates` offset, in update_id order.
    pending: VecDeque<Value>,
    chats: HashMap<i64, Value>,
    messages: HashMap<(i64, i32), StoredMessage>,
    /// callback query id -> answered?
    callback_queries: HashMap<String, bool>,
    sent: Vec<SentMessage>,
    photos: Vec<SentPhoto>,
    deleted: Vec<(i64, i32)>,
    keyboards_removed: Vec<(i64, i32)>,
    edits: Vec<SentMessage>,
    callbacks_answered: Vec<String>,
    failures: HashMap<String, VecDeque<(u16, Value)>>,
    blocked: HashSet<i64>,
    admin_in: HashSet<i64>,
    webhook: Option<(String, Option<String>)>,
    calls: HashMap<String, usize>,
    requests: Vec<(String, Value)>,
    poll_generation: u64,
}

struct ApiErr {
    code: u16,
    description: String,
}

type ApiResult = Result<Value, ApiErr>;

/// Inline keyboard rows as (label, callback_data).
type Buttons = Vec<Vec<(String, String)>>;

fn bad(description: impl Into<String>) -> ApiErr {
    ApiErr {
        code: 400,
        description: format!("Bad Request: {}", description.into()),
    }
}

fn api_err(code: u16, description: &str) -> ApiErr {
    ApiErr {
        code,
        description: description.to_owned(),
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_secs() as i64
}

impl FakeTelegram {
    pub async fn start(token: &str) -> FakeTelegram {
        // Real tokens are "<bot user id>:<secret>"; use the id part when there is one.
        let bot_id = token
            .split_once(':')
            .and_then(|(id, _)| id.parse().ok())
            .unwrap_or(7_000_000_001);
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            bot_id,
            state: Mutex::new(FakeState {
                next_update_id: FIRST_UPDATE_ID,
                next_message_id: FIRST_MESSAGE_ID,
                next_callback_id: 4_382_000_000_000_000_001,
                ..FakeState::default()
            }),
            notify: Notify::new(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Telegram");
        let addr = listener.local_addr().expect("fake Telegram address");
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake Telegram server");
        });
        FakeTelegram {
            url: format!("http://{addr}"),
            token: token.to_owned(),
            shared,
            server,
        }
    }

    fn state(&self) -> MutexGuard<'_, FakeState> {
        self.shared.state()
    }

    /// The bot user as getMe and `from` of the bot's messages show it.
    pub fn bot_user(&self) -> Value {
        self.shared.bot_user()
    }

    /// Queues a private-chat text message update (for getUpdates) and returns (update_id, message_id).
    /// In real Telegram a private chat's id equals the user's id.
    pub fn user_says(
        &self,
        chat_id: i64,
        user_id: i64,
        language_code: Option<&str>,
        text: &str,
    ) -> (u32, i32) {
        let (update, update_id, message_id) =
            self.message_update_json(chat_id, user_id, language_code, text);
        // A user who blocked the bot has to unblock it to write to it again.
        self.state().blocked.remove(&chat_id);
        self.queue(update);
        (update_id, message_id)
    }

    /// Same in a group chat (chat type "group", negative chat id).
    pub fn group_says(&self, chat_id: i64, user_id: i64, text: &str) -> (u32, i32) {
        let (update, update_id, message_id) = self.group_update_json(chat_id, user_id, text);
        self.queue(update);
        (update_id, message_id)
    }

    /// Makes a supergroup known (as when the bot is added to it), so the bot can post there
    /// before anyone wrote in it.
    pub fn add_group(&self, chat_id: i64, title: &str) {
        assert!(chat_id < 0, "group chat ids are negative, got {chat_id}");
        self.state().chats.insert(
            chat_id,
            json!({"id": chat_id, "type": "supergroup", "title": title}),
        );
    }

    /// Queues a message from a named member in a group (a supergroup if it was added with
    /// [`FakeTelegram::add_group`]), optionally replying to message `reply_to` of that chat; the
    /// reply carries the replied-to message as Telegram does (without its own
    /// `reply_to_message`). Returns (update_id, message_id).
    pub fn member_says(
        &self,
        chat_id: i64,
        member: &Member,
        reply_to: Option<i32>,
        text: &str,
    ) -> (u32, i32) {
        assert!(chat_id < 0, "group chat ids are negative, got {chat_id}");
        let chat = self
            .state()
            .chats
            .get(&chat_id)
            .cloned()
            .unwrap_or_else(|| json!({"id": chat_id, "type": "group", "title": GROUP_TITLE}));
        let replied = reply_to.map(|id| {
            let st = self.state();
            let mut m = match st.messages.get(&(chat_id, id)) {
                Some(m) if !m.deleted => m.json.clone(),
                _ => panic!("fake Telegram: no message {id} in chat {chat_id} to reply to"),
            };
            if let Some(obj) = m.as_object_mut() {
                obj.remove("reply_to_message");
            }
            m
        });
        let (mut update, update_id, message_id) =
            self.incoming_message(chat.clone(), member.json(), text);
        if let Some(replied) = replied {
            update["message"]["reply_to_message"] = replied.clone();
            let mut st = self.state();
            if let Some(stored) = st.messages.get_mut(&(chat_id, message_id)) {
                stored.json["reply_to_message"] = replied;
            }
        }
        self.queue(update);
        (update_id, message_id)
    }

    /// Queues a callback_query update from a named member: they pressed the button with `data`
    /// on bot message `message_id` in chat `chat_id`. Returns the callback query id.
    pub fn member_presses(
        &self,
        chat_id: i64,
        member: &Member,
        message_id: i32,
        data: &str,
    ) -> String {
        let (mut update, _) = self.callback_update_json(chat_id, member.id, message_id, data);
        update["callback_query"]["from"] = member.json();
        let id = update["callback_query"]["id"]
            .as_str()
            .expect("callback query id")
            .to_owned();
        self.queue(update);
        id
    }

    /// Queues a callback_query update: the user pressed the button with `data` on bot message
    /// `message_id`. `data` is not checked against the message's buttons: modified clients can
    /// send any callback data.
    pub fn user_presses(&self, chat_id: i64, user_id: i64, message_id: i32, data: &str) -> u32 {
        let (update, update_id) = self.callback_update_json(chat_id, user_id, message_id, data);
        self.queue(update);
        update_id
    }

    /// A private message update as JSON without queueing it (the chat becomes known and the
    /// message exists, so the bot can answer and delete it). Returns (update, update_id, message_id).
    pub fn message_update_json(
        &self,
        chat_id: i64,
        user_id: i64,
        language_code: Option<&str>,
        text: &str,
    ) -> (Value, u32, i32) {
        let mut from = json!({"id": user_id, "is_bot": false, "first_name": USER_FIRST_NAME});
        if let Some(lang) = language_code {
            from["language_code"] = json!(lang);
        }
        let chat = json!({"id": chat_id, "type": "private", "first_name": USER_FIRST_NAME});
        self.incoming_message(chat, from, text)
    }

    /// A group message update as JSON without queueing it.
    pub fn group_update_json(&self, chat_id: i64, user_id: i64, text: &str) -> (Value, u32, i32) {
        assert!(chat_id < 0, "group chat ids are negative, got {chat_id}");
        let from = json!({"id": user_id, "is_bot": false, "first_name": USER_FIRST_NAME});
        let chat = json!({"id": chat_id, "type": "group", "title": GROUP_TITLE});
        self.incoming_message(chat, from, text)
    }

    fn incoming_message(&self, chat: Value, from: Value, text: &str) -> (Value, u32, i32) {
        let chat_id = chat["id"].as_i64().unwrap();
        let mut st = self.state();
        let update_id = st.take_update_id();
        let message_id = st.take_message_id();
        let message = json!({
            "message_id": message_id,
            "date": now_unix(),
            "chat": chat.clone(),
            "from": from,
            "text": text,
        });
        st.chats.insert(chat_id, chat);
        st.messages.insert(
            (chat_id, message_id),
            StoredMessage {
                json: message.clone(),
                from_bot: false,
                deleted: false,
            },
        );
        (
            json!({"update_id": update_id, "message": message}),
            update_id,
            message_id,
        )
    }

    /// A callback_query update as JSON without queueing it (its id becomes answerable).
    /// Returns (update, update_id). Panics if `message_id` is not a bot message in that chat.
    pub fn callback_update_json(
        &self,
        chat_id: i64,
        user_id: i64,
        message_id: i32,
        data: &str,
    ) -> (Value, u32) {
        let mut st = self.state();
        let message = match st.messages.get(&(chat_id, message_id)) {
            Some(m) if m.from_bot => m.json.clone(),
            _ => panic!(
                "fake Telegram: no bot message {message_id} in chat {chat_id} to press a button on; \
                 sent so far: {:#?}",
                st.sent
            ),
        };
        let update_id = st.take_update_id();
        let id = st.next_callback_id.to_string();
        st.next_callback_id += 1;
        st.callback_queries.insert(id.clone(), false);
        let chat_instance = (chat_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) as i64;
        let update = json!({
            "update_id": update_id,
            "callback_query": {
                "id": id,
                "from": {"id": user_id, "is_bot": false, "first_name": USER_FIRST_NAME},
                "message": message,
                "chat_instance": chat_instance.to_string(),
                "data": data,
            }
        });
        (update, update_id)
    }

    fn queue(&self, update: Value) {
        self.state().pending.push_back(update);
        self.shared.notify.notify_waiters();
    }

    /// Every message the bot sent, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.state().sent.clone()
    }

    /// Waits (polling every 10 ms, up to `timeout`) until at least `n` messages were sent; returns
    /// them all. Panics with the messages so far on timeout.
    pub async fn wait_for_sent(&self, n: usize, timeout: Duration) -> Vec<SentMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let sent = self.sent();
            if sent.len() >= n {
                return sent;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "fake Telegram: expected at least {n} sent messages within {timeout:?}, got {}: {sent:#?}",
                    sent.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every photo the bot sent, in order.
    pub fn photos(&self) -> Vec<SentPhoto> {
        self.state().photos.clone()
    }

    /// deleteMessage calls that succeeded, as (chat_id, message_id).
    pub fn deleted(&self) -> Vec<(i64, i32)> {
        self.state().deleted.clone()
    }

    /// editMessageReplyMarkup calls without (or with an empty) reply_markup that succeeded.
    pub fn keyboards_removed(&self) -> Vec<(i64, i32)> {
        self.state().keyboards_removed.clone()
    }

    /// editMessageText calls that succeeded: the message as it reads after each edit.
    pub fn edits(&self) -> Vec<SentMessage> {
        self.state().edits.clone()
    }

    /// The text and inline keyboard a bot message shows now (after any edits); None if there
    /// is no such undeleted message.
    pub fn current(&self, chat_id: i64, message_id: i32) -> Option<(String, Buttons)> {
        let st = self.state();
        let m = st
            .messages
            .get(&(chat_id, message_id))
            .filter(|m| !m.deleted)?;
        let text = m.json["text"].as_str().unwrap_or_default().to_owned();
        let buttons = m
            .json
            .get("reply_markup")
            .and_then(|k| inline_keyboard(k).ok().flatten())
            .unwrap_or_default();
        Some((text, buttons))
    }

    /// The `text` of the answer to callback query `id` (None if answered without text); panics
    /// if it was not answered.
    pub fn callback_answer(&self, id: &str) -> Option<String> {
        self.requests("answerCallbackQuery")
            .into_iter()
            .rev()
            .find(|p| p["callback_query_id"].as_str() == Some(id))
            .unwrap_or_else(|| panic!("fake Telegram: callback query {id} was not answered"))
            .get("text")
            .and_then(|t| t.as_str().map(str::to_owned))
    }

    /// callback_query ids answered (successfully), in order.
    pub fn callbacks_answered(&self) -> Vec<String> {
        self.state().callbacks_answered.clone()
    }

    /// The next call of `method` fails with this HTTP status and JSON body. Queues: call it several
    /// times for several failures. The method name is case-insensitive, like Telegram's.
    pub fn fail_next(&self, method: &str, status: u16, body: Value) {
        self.state()
            .failures
            .entry(method.to_ascii_lowercase())
            .or_default()
            .push_back((status, body));
    }

    /// From now on sendMessage to this chat returns 403 "Forbidden: bot was blocked by the user"
    /// ("Forbidden: bot was kicked from the group chat" for a group), until the user writes again.
    pub fn block_chat(&self, chat_id: i64) {
        self.state().blocked.insert(chat_id);
    }

    /// Makes the bot an administrator of this group, so it may delete other people's messages.
    pub fn make_admin(&self, chat_id: i64) {
        self.state().admin_in.insert(chat_id);
    }

    /// The url and secret_token of the last setWebhook (None after deleteWebhook).
    pub fn webhook(&self) -> Option<(String, Option<String>)> {
        self.state().webhook.clone()
    }

    /// How many requests for `method` arrived with the right token (including ones that failed).
    pub fn calls(&self, method: &str) -> usize {
        self.state()
            .calls
            .get(&method.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// The parameters of every `method` call with the right token, in order (values as sent: form
    /// and multipart values are strings).
    pub fn requests(&self, method: &str) -> Vec<Value> {
        let method = method.to_ascii_lowercase();
        self.state()
            .requests
            .iter()
            .filter(|(m, _)| *m == method)
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// Updates queued for getUpdates and not yet confirmed.
    pub fn pending_updates(&self) -> usize {
        self.state().pending.len()
    }

    /// POSTs `update` to the current webhook the way Telegram does (JSON body, the
    /// `X-Telegram-Bot-Api-Secret-Token` header when a secret was set) and returns the HTTP status.
    /// Panics if no webhook is set.
    pub async fn deliver_to_webhook(&self, update: &Value) -> u16 {
        let (url, secret) = self
            .webhook()
            .expect("fake Telegram: no webhook set to deliver to");
        let mut request = reqwest::Client::new().post(url).json(update);
        if let Some(secret) = secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        request
            .send()
            .await
            .expect("fake Telegram: webhook unreachable")
            .status()
            .as_u16()
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeState {
    fn take_update_id(&mut self) -> u32 {
        let id = self.next_update_id;
        self.next_update_id += 1;
        id
    }

    fn take_message_id(&mut self) -> i32 {
        let id = self.next_message_id;
        self.next_message_id += 1;
        id
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bot_user(&self) -> Value {
        json!({
            "id": self.bot_id,
            "is_bot": true,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

fn reply(code: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

fn error_body(code: u16, description: &str) -> Value {
    json!({"ok": false, "error_code": code, "description": description})
}

async fn handle(
    AxumState(shared): AxumState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let not_found = || reply(404, error_body(404, "Not Found"));
    let path = percent_decode(uri.path());
    let Some((token, api_method)) = path
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return not_found();
    };
    if token != shared.token || (method != Method::POST && method != Method::GET) {
        return not_found();
    }
    let api_method = api_method.to_ascii_lowercase();
    let (params, uploads) = match parse_params(uri.query(), &headers, &body) {
        Ok(parsed) => parsed,
        Err(e) => return reply(e.code, error_body(e.code, &e.description)),
    };
    {
        let mut st = shared.state();
        *st.calls.entry(api_method.clone()).or_default() += 1;
        st.requests
            .push((api_method.clone(), Value::Object(params.clone())));
        if let Some((code, body)) = st
            .failures
            .get_mut(&api_method)
            .and_then(VecDeque::pop_front)
        {
            return reply(code, body);
        }
    }
    let result = match api_method.as_str() {
        "getme" => Ok(get_me(&shared)),
        "getupdates" => get_updates(&shared, &params).await,
        "sendmessage" => send_message(&shared, &params),
        "sendphoto" => send_photo(&shared, &params, &uploads),
        "deletemessage" => delete_message(&shared, &params),
        "editmessagereplymarkup" => edit_message_reply_markup(&shared, &params),
        "editmessagetext" => edit_message_text(&shared, &params),
        "answercallbackquery" => answer_callback_query(&shared, &params),
        "setwebhook" | "deletewebhook" => {
            let outcome = if api_method == "setwebhook" {
                set_webhook(&shared, &params)
            } else {
                delete_webhook(&shared, &params)
            };
            // These two also carry a description on success.
            return match outcome {
                Ok(description) => reply(
                    200,
                    json!({"ok": true, "result": true, "description": description}),
                ),
                Err(e) => reply(e.code, error_body(e.code, &e.description)),
            };
        }
        "getwebhookinfo" => Ok(get_webhook_info(&shared)),
        _ => return not_found(),
    };
    match result {
        Ok(result) => reply(200, json!({"ok": true, "result": result})),
        Err(e) => reply(e.code, error_body(e.code, &e.description)),
    }
}

// ---------------------------------------------------------------------------------------------
// Parameters

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len()
                && hex(bytes[i + 1]).is_some()
                && hex(bytes[i + 2]).is_some() =>
            {
                out.push((hex(bytes[i + 1]).unwrap() * 16 + hex(bytes[i + 2]).unwrap()) as u8);
                i += 3;
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
        into.insert(
            percent_decode(&k.replace('+', " ")),
            Value::String(percent_decode(&v.replace('+', " "))),
        );
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

pub(crate) fn parse_multipart(
    body: &[u8],
    boundary: &str,
    into: &mut Map<String, Value>,
    uploads: &mut Uploads,
) -> Option<()> {
    let delimiter = format!("--{boundary}").into_bytes();
    let mut pos = find(body, &delimiter, 0)? + delimiter.len();
    loop {
        if body.get(pos..pos + 2)? == b"--" {
            return Some(());
        }
        let part_start = pos + 2; // CRLF after the delimiter
        let next = find(body, &delimiter, part_start)?;
        let part = &body[part_start..next.checked_sub(2)?]; // CRLF before the delimiter
        let header_end = find(part, b"\r\n\r\n", 0)?;
        let head = String::from_utf8_lossy(&part[..header_end]);
        let value = &part[header_end + 4..];
        let name = head.lines().find_map(|line| {
            let lower = line.to_ascii_lowercase();
            if !lower.starts_with("content-disposition:") {
                return None;
            }
            let at = line.find("; name=\"")? + 8;
            let end = line[at..].find('"')? + at;
            Some(line[at..end].to_owned())
        })?;
        let value = if head.contains("filename=") {
            let file_name = head.lines().find_map(|line| {
                let at = line.find("filename=\"")? + 10;
                let end = line[at..].find('"')? + at;
                Some(line[at..end].to_owned())
            });
            uploads.insert(
                name.clone(),
                Upload {
                    file_name,
                    bytes: value.to_vec(),
                },
            );
            Value::String(format!("<file: {} bytes>", value.len()))
        } else {
            Value::String(String::from_utf8_lossy(value).into_owned())
        };
        into.insert(name, value);
        pos = next + delimiter.len();
    }
}

/// The parameters of a call, and the files uploaded with it (multipart only), by part name.
fn parse_params(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Map<String, Value>, Uploads), ApiErr> {
    let mut params = Map::new();
    let mut uploads = HashMap::new();
    if let Some(query) = query {
        parse_form(query, &mut params);
    }
    if body.is_empty() {
        return Ok((params, uploads));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let lower = content_type.to_ascii_lowercase();
    if lower.starts_with("application/json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => params.extend(map),
            Ok(_) => return Err(bad("parameters must be a JSON object")),
            Err(_) => return Err(bad("can't parse JSON")),
        }
    } else if lower.starts_with("application/x-www-form-urlencoded") {
        parse_form(&String::from_utf8_lossy(body), &mut params);
    } else if lower.starts_with("multipart/form-data") {
        let boundary = content_type
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))
            .map(|b| b.trim_matches('"').to_owned())
            .ok_or_else(|| bad("multipart boundary missing"))?;
        parse_multipart(body, &boundary, &mut params, &mut uploads)
            .ok_or_else(|| bad("can't parse multipart body"))?;
    }
    params.retain(|_, v| !v.is_null());
    Ok((params, uploads))
}

fn str_param(p: &Map<String, Value>, key: &str) -> Option<String> {
    match p.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn int_param(p: &Map<String, Value>, key: &str) -> Result<Option<i64>, ApiErr> {
    match p.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| bad(format!("invalid {key} specified"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| bad(format!("invalid {key} specified"))),
        Some(_) => Err(bad(format!("invalid {key} specified"))),
    }
}

fn bool_param(p: &Map<String, Value>, key: &str) -> bool {
    match p.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1"),
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

/// A structured parameter: a JSON value, or (form / multipart) a JSON-serialised string.
fn json_param(p: &Map<String, Value>, key: &str, what: &str) -> Result<Option<Value>, ApiErr> {
    match p.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => serde_json::from_str(s)
            .map(Some)
            .map_err(|_| bad(format!("can't parse {what} JSON object"))),
        Some(v) => Ok(Some(v.clone())),
    }
}

/// chat_id: an integer (or integer string); "@username" chats are never known to the fake.
fn chat_param(st: &FakeState, p: &Map<String, Value>) -> Result<i64, ApiErr> {
    let id = match p.get("chat_id") {
        None => return Err(bad("chat_id is empty")),
        Some(Value::String(s)) if s.trim().is_empty() => return Err(bad("chat_id is empty")),
        Some(_) => int_param(p, "chat_id").map_err(|_| bad("chat not found"))?,
    }
    .expect("present");
    if st.chats.contains_key(&id) {
        Ok(id)
    } else {
        Err(bad("chat not found"))
    }
}

// ---------------------------------------------------------------------------------------------
// Methods

fn get_me(shared: &Shared) -> Value {
    let mut me = shared.bot_user();
    let extra = json!({
        "can_join_groups": true,
        "can_read_all_group_messages": true,
        "supports_inline_queries": false,
        "can_connect_to_business": false,
        "has_main_web_app": false,
    });
    me.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    me
}

async fn get_updates(shared: &Shared, p: &Map<String, Value>) -> ApiResult {
    let offset = int_param(p, "offset")?.unwrap_or(0);
    let limit = int_param(p, "limit")?.unwrap_or(100).clamp(1, 100) as usize;
    let timeout = int_param(p, "timeout")?.unwrap_or(0).max(0) as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout).min(MAX_LONG_POLL);
    let generation = {
        let mut st = shared.state();
        if st.webhook.is_some() {
            return Err(api_err(409, CONFLICT_WEBHOOK));
        }
        if offset > 0 {
            st.pending
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
        } else if offset < 0 {
            let keep = offset.unsigned_abs() as usize;
            while st.pending.len() > keep {
                st.pending.pop_front();
            }
        }
        st.poll_generation += 1;
        st.poll_generation
    };
    // Ends an older long poll still waiting, like Telegram does.
    shared.notify.notify_waiters();
    loop {
        let notified = shared.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let st = shared.state();
            if st.poll_generation != generation {
                return Err(api_err(409, CONFLICT_OTHER_POLL));
            }
            if st.webhook.is_some() {
                return Err(api_err(409, CONFLICT_WEBHOOK));
            }
            if !st.pending.is_empty() || tokio::time::Instant::now() >= deadline {
                let batch: Vec<Value> = st.pending.iter().take(limit).cloned().collect();
                return Ok(Value::Array(batch));
            }
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

fn send_message(shared: &Shared, p: &Map<String, Value>) -> ApiResult {
    let mut st = shared.state();
    let chat_id = chat_param(&st, p)?;
    if st.blocked.contains(&chat_id) {
        let description = if chat_id < 0 {
            "Forbidden: bot was kicked from the group chat"
        } else {
            "Forbidden: bot was blocked by the user"
        };
        return Err(api_err(403, description));
    }
    let raw_text = str_param(p, "text").unwrap_or_default();
    let parse_mode = str_param(p, "parse_mode").filter(|m| !m.is_empty());
    let text = visible_text(&raw_text, parse_mode.as_deref())?;
    if text.trim().is_empty() {
        return Err(bad("message text is empty"));
    }
    if text.chars().count() > 4096 {
        return Err(bad("message is too long"));
    }
    let markup = json_param(p, "reply_markup", "reply keyboard markup")?;
    let buttons = match &markup {
        Some(markup) => inline_keyboard(markup)?.unwrap_or_default(),
        None => Vec::new(),
    };
    let reply_to = match json_param(p, "reply_parameters", "reply parameters")? {
        Some(rp) => Some((
            rp["message_id"].as_i64(),
            rp["allow_sending_without_reply"].as_bool().unwrap_or(false),
        )),
        None => int_param(p, "reply_to_message_id")?
            .map(|id| (Some(id), bool_param(p, "allow_sending_without_reply"))),
    };
    let mut reply_to_message = None;
    if let Some((id, allow_without)) = reply_to {
        let found = id
            .and_then(|id| st.messages.get(&(chat_id, id as i32)))
            .filter(|m| !m.deleted)
            .map(|m| m.json.clone());
        match found {
            Some(m) => reply_to_message = Some(m),
            None if allow_without => {}
            None => return Err(bad("message to be replied not found")),
        }
    }

    let message_id = st.take_message_id();
    let mut message = json!({
        "message_id": message_id,
        "from": shared.bot_user(),
        "chat": st.chats[&chat_id].clone(),
        "date": now_unix(),
        "text": text,
    });
    if let Some(m) = reply_to_message {
        message["reply_to_message"] = m;
    }
    if !buttons.is_empty() {
        message["reply_markup"] = markup_json(&buttons, markup.as_ref());
    }
    st.messages.insert(
        (chat_id, message_id),
        StoredMessage {
            json: message.clone(),
            from_bot: true,
            deleted: false,
        },
    );
    st.sent.push(SentMessage {
        chat_id,
        message_id,
        text: text.clone(),
        buttons,
        raw_text,
        parse_mode,
    });
    Ok(message)
}

/// The width and height of a PNG (from its IHDR chunk) or a baseline/progressive JPEG (from its
/// SOF marker); None for anything else.
fn image_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.starts_with(PNG_SIGNATURE) {
        if bytes.get(12..16)? != b"IHDR" {
            return None;
        }
        let be = |at: usize| -> Option<u32> {
            Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
        };
        return Some((be(16)?, be(20)?));
    }
    if bytes.starts_with(&[0xFF, 0xD8]) {
        let mut i = 2;
        while i + 9 < bytes.len() {
            if bytes[i] != 0xFF {
                return None;
            }
            let marker = bytes[i + 1];
            let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
            if matches!(marker, 0xC0..=0xC3) {
                let h = u16::from_be_bytes([bytes[i + 5], bytes[i + 6]]) as u32;
                let w = u16::from_be_bytes([bytes[i + 7], bytes[i + 8]]) as u32;
                return Some((w, h));
            }
            i += 2 + len;
        }
    }
    None
}

fn send_photo(shared: &Shared, p: &Map<String, Value>, uploads: &Uploads) -> ApiResult {
    let mut st = shared.state();
    let chat_id = chat_param(&st, p)?;
    if st.blocked.contains(&chat_id) {
        let description = if chat_id < 0 {
            "Forbidden: bot was kicked from the group chat"
        } else {
            "Forbidden: bot was blocked by the user"
        };
        return Err(api_err(403, description));
    }
    let upload = match str_param(p, "photo") {
        None => return Err(bad("there is no photo in the request")),
        Some(value) => {
            let part = value.strip_prefix("attach://").unwrap_or("photo");
            match uploads.get(part) {
                Some(upload) => upload,
                // A file id or URL the fake never issued or cannot fetch.
                None => return Err(bad("wrong file identifier/HTTP URL specified")),
            }
        }
    };
    if upload.bytes.len() > 10 * 1024 * 1024 {
        return Err(api_err(413, "Request Entity Too Large"));
    }
    let (width, height) = image_size(&upload.bytes).ok_or_else(|| bad("IMAGE_PROCESS_FAILED"))?;
    let (long, short) = (width.max(height), width.min(height));
    if width == 0 || height == 0 || width + height > 10_000 || long > 20 * short {
        return Err(bad("PHOTO_INVALID_DIMENSIONS"));
    }
    let caption = str_param(p, "caption").filter(|c| !c.is_empty());
    if caption.as_ref().is_some_and(|c| c.chars().count() > 1024) {
        return Err(bad("message caption is too long"));
    }
    let has_spoiler = bool_param(p, "has_spoiler");
    let protect_content = bool_param(p, "protect_content");

    let message_id = st.take_message_id();
    let file_unique_id = format!("AQAD{message_id}");
    let mut message = json!({
        "message_id": message_id,
        "from": shared.bot_user(),
        "chat": st.chats[&chat_id].clone(),
        "date": now_unix(),
        "photo": [{
            "file_id": format!("AgACAgQAAxkDAAI{message_id}"),
            "file_unique_id": file_unique_id,
            "width": width,
            "height": height,
            "file_size": upload.bytes.len(),
        }],
    });
    if let Some(c) = &caption {
        message["caption"] = json!(c);
    }
    if has_spoiler {
        message["has_media_spoiler"] = json!(true);
    }
    if protect_content {
        message["has_protected_content"] = json!(true);
    }
    st.messages.insert(
        (chat_id, message_id),
        StoredMessage {
            json: message.clone(),
            from_bot: true,
            deleted: false,
        },
    );
    st.photos.push(SentPhoto {
        chat_id,
        message_id,
        bytes: upload.bytes.clone(),
        file_name: upload.file_name.clone(),
        width,
        height,
        caption,
        has_spoiler,
        protect_content,
    });
    Ok(message)
}

/// The reply_markup echoed in a Message: the inline keyboard as given.
fn markup_json(buttons: &[Vec<(String, String)>], given: Option<&Value>) -> Value {
    match given {
        Some(given) if given.get("inline_keyboard").is_some() => {
            json!({"inline_keyboard": given["inline_keyboard"].clone()})
        }
        _ => {
            json!({"inline_keyboard": buttons.iter().map(|row| row.iter().map(|(t, d)| json!({"text": t, "callback_data": d})).collect::<Vec<_>>()).collect::<Vec<_>>()})
        }
    }
}

/// Validates a reply_markup. `Ok(None)` for reply keyboards / ReplyKeyboardRemove / ForceReply
/// (valid, but not echoed in the Message); `Ok(Some(rows))` for an inline keyboard, as
/// (label, callback_data) with "" for non-callback buttons.
fn inline_keyboard(markup: &Value) -> Result<Option<Buttons>, ApiErr> {
    let Some(obj) = markup.as_object() else {
        return Err(bad("can't parse reply keyboard markup JSON object"));
    };
    let Some(rows) = obj.get("inline_keyboard") else {
        if obj.contains_key("keyboard")
            || obj.contains_key("remove_keyboard")
            || obj.contains_key("force_reply")
        {
            return Ok(None);
        }
        return Err(bad("can't parse reply keyboard markup JSON object"));
    };
    let Some(rows) = rows.as_array() else {
        return Err(bad(
            "field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array",
        ));
    };
    const ACTIONS: [&str; 10] = [
        "callback_data",
        "url",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "callback_game",
        "pay",
        "web_app",
        "copy_text",
    ];
    let mut out = Vec::new();
    for row in rows {
        let Some(row) = row.as_array() else {
            return Err(bad(
                "field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays",
            ));
        };
        let mut out_row = Vec::new();
        for button in row {
            let Some(label) = button.get("text").and_then(Value::as_str) else {
                return Err(bad(
                    "can't parse inline keyboard button: Text is not specified",
                ));
            };
            if label.trim().is_empty() {
                return Err(bad("BUTTON_TEXT_INVALID"));
            }
            let actions = ACTIONS.iter().filter(|a| button.get(**a).is_some()).count();
            if actions == 0 {
                return Err(bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"));
            }
            if actions > 1 {
                return Err(bad(
                    "can't parse inline keyboard button: Can't find field \"text\"",
                ));
            }
            let mut data = String::new();
            if let Some(d) = button.get("callback_data") {
                let d = d.as_str().unwrap_or_default();
                if d.is_empty() || d.len() > 64 {
                    return Err(bad("BUTTON_DATA_INVALID"));
                }
                data = d.to_owned();
            }
            if let Some(url) = button.get("url") {
                let url = url.as_str().unwrap_or_default();
                let ok = ["http://", "https://", "tg://"]
                    .iter()
                    .any(|s| url.len() > s.len() && url.to_ascii_lowercase().starts_with(s));
                if !ok {
                    return Err(bad("BUTTON_URL_INVALID"));
                }
            }
            out_row.push((label.to_owned(), data));
        }
        if !out_row.is_empty() {
            out.push(out_row);
        }
    }
    Ok(Some(out))
}

/// The text after entity parsing, or Telegram's "can't parse entities" error.
fn visible_text(text: &str, parse_mode: Option<&str>) -> Result<String, ApiErr> {
    match parse_mode {
        None => Ok(text.to_owned()),
        Some("HTML") | Some("html") | Some("Html") => parse_html(text),
        Some("MarkdownV2") | Some("markdownv2") => parse_markdown_v2(text),
        // Legacy Markdown: only strip the markers.
        Some("Markdown") | Some("markdown") => Ok(text.replace(['*', '_', '`'], "")),
        Some(_) => Err(bad("unsupported parse_mode")),
    }
}

fn entities_error(msg: String) -> ApiErr {
    bad(format!("can't parse entities: {msg}"))
}

fn parse_html(text: &str) -> Result<String, ApiErr> {
    const TAGS: [&str; 15] = [
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
    ];
    let mut out = String::new();
    let mut stack: Vec<String> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let c = rest.chars().next().unwrap();
        if c == '<' {
            let Some(end) = rest.find('>') else {
                return Err(entities_error(format!(
                    "Unclosed start tag at byte offset {i}"
                )));
            };
            let inner = &rest[1..end];
            let (closing, inner) = match inner.strip_prefix('/') {
                Some(inner) => (true, inner),
                None => (false, inner),
            };
            let name = inner
                .split(|c: char| c.is_whitespace())
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if !TAGS.contains(&name.as_str()) && name != "tg-emoji" {
                let kind = if closing { "end" } else { "start" };
                return Err(entities_error(format!(
                    "Unsupported {kind} tag \"{name}\" at byte offset {i}"
                )));
            }
            if closing {
                match stack.pop() {
                    Some(open) if open == name => {}
                    Some(open) => {
                        return Err(entities_error(format!(
                            "Can't find end tag corresponding to start tag \"{open}\""
                        )))
                    }
                    None => {
                        return Err(entities_error(format!(
                            "Unexpected end tag at byte offset {i}"
                        )))
                    }
                }
            } else {
                stack.push(name);
            }
            i += end + 1;
        } else if c == '&' {
            let entity = rest.find(';').map(|end| (&rest[..=end], end));
            let decoded = entity.and_then(|(e, end)| {
                let ch = match e {
                    "&lt;" => Some('<'),
                    "&gt;" => Some('>'),
                    "&amp;" => Some('&'),
                    "&quot;" => Some('"'),
                    _ => e
                        .strip_prefix("&#x")
                        .and_then(|h| u32::from_str_radix(&h[..h.len() - 1], 16).ok())
                        .or_else(|| {
                            e.strip_prefix("&#")
                                .and_then(|d| d[..d.len() - 1].parse().ok())
                        })
                        .and_then(char::from_u32),
                }?;
                Some((ch, end))
            });
            match decoded {
                Some((ch, end)) => {
                    out.push(ch);
                    i += end + 1;
                }
                None => {
                    // Telegram keeps an unknown "&..." literally.
                    out.push('&');
                    i += 1;
                }
            }
        } else if c == '>' {
            out.push(c);
            i += 1;
        } else {
            out.push(c);
            i += c.len_utf8();
        }
    }
    if let Some(open) = stack.pop() {
        return Err(entities_error(format!(
            "Can't find end tag corresponding to start tag \"{open}\""
        )));
    }
    Ok(out)
}

/// MarkdownV2: every one of `_*[]()~`>#+-=|{}.!` that is not markup must be escaped with `\`.
/// Formatting markers (`*`, `_`, `__`, `~`, `||`, `` ` ``, `[text](url)`, `>` at line start) are
/// accepted and removed; the rest must be escaped, like Telegram insists.
fn parse_markdown_v2(text: &str) -> Result<String, ApiErr> {
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut in_code = false;
    let mut in_link_url = false;
    let mut link_open = false;
    let at_line_start = |out: &String| out.is_empty() || out.ends_with('\n');
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            match chars.get(i + 1) {
                Some(next) if (next.is_ascii_punctuation()) => {
                    if !in_link_url {
                        out.push(*next);
                    }
                    i += 2;
                    continue;
                }
                _ => {
                    return Err(entities_error(
                        "Character '\\' is reserved and must be escaped with the preceding '\\'"
                            .to_owned(),
                    ))
                }
            }
        }
        if in_code {
            if c == '`' {
                in_code = false;
            } else {
                out.push(c);
            }
            i += 1;
            continue;
        }
        if in_link_url {
            if c == ')' {
                in_link_url = false;
            }
            i += 1;
            continue;
        }
        match c {
            '`' => in_code = true,
            '*' | '_' | '~' => {}
            '|' if chars.get(i + 1) == Some(&'|') => i += 1,
            '[' => link_open = true,
            ']' if link_open => {
                link_open = false;
                if chars.get(i + 1) == Some(&'(') {
                    in_link_url = true;
                    i += 1;
                }
            }
            '>' if at_line_start(&out) => {}
            ']' | '(' | ')' | '>' | '#' | '+' | '-' | '=' | '|' | '{' | '}' | '.' | '!' => {
                return Err(entities_error(format!(
                    "Character '{c}' is reserved and must be escaped with the preceding '\\'"
                )))
            }
            _ => out.push(c),
        }
        i += 1;
    }
    if in_code || in_link_url || link_open {
        return Err(entities_error(
            "Can't find end of the entity starting at byte offset 0".to_owned(),
        ));
    }
    Ok(out)
}

fn delete_message(shared: &Shared, p: &Map<String, Value>) -> ApiResult {
    let mut st = shared.state();
    let chat_id = chat_param(&st, p)?;
    let message_id = int_param(p, "message_id")?
        .ok_or_else(|| bad("message identifier is not specified"))? as i32;
    let is_group = chat_id < 0;
    let admin = st.admin_in.contains(&chat_id);
    match st.messages.get_mut(&(chat_id, message_id)) {
        Some(m) if !m.deleted => {
            if is_group && !m.from_bot && !admin {
                return Err(bad("message can't be deleted"));
            }
            m.deleted = true;
        }
        _ => return Err(bad("message to delete not found")),
    }
    st.deleted.push((chat_id, message_id));
    Ok(json!(true))
}

fn edit_message_reply_markup(shared: &Shared, p: &Map<String, Value>) -> ApiResult {
    let mut st = shared.state();
    if p.contains_key("inline_message_id") {
        return Err(bad("MESSAGE_ID_INVALID"));
    }
    if !p.contains_key("chat_id") || !p.contains_key("message_id") {
        return Err(bad("message identifier is not specified"));
    }
    let chat_id = chat_param(&st, p)?;
    let message_id = int_param(p, "message_id")?.unwrap_or_default() as i32;
    let markup = json_param(p, "reply_markup", "reply keyboard markup")?;
    let buttons = match &markup {
        Some(m) => match inline_keyboard(m)? {
            Some(b) => b,
            None => return Err(bad("REPLY_MARKUP_INVALID")),
        },
        None => Vec::new(),
    };
    let new_markup = (!buttons.is_empty()).then(|| markup_json(&buttons, markup.as_ref()));
    let bot_user = shared.bot_user();
    let message = match st.messages.get_mut(&(chat_id, message_id)) {
        Some(m) if !m.deleted => m,
        _ => return Err(bad("message to edit not found")),
    };
    if !message.from_bot {
        return Err(bad("message can't be edited"));
    }
    let current = message.json.get("reply_markup").cloned();
    if current == new_markup {
        return Err(bad(
            "message is not modified: specified new message content and reply markup are exactly \
             the same as a current content and reply markup of the message",
        ));
    }
    let obj = message.json.as_object_mut().unwrap();
    match &new_markup {
        Some(m) => {
            obj.insert("reply_markup".into(), m.clone());
        }
        None => {
            obj.remove("reply_markup");
        }
    }
    obj.insert("edit_date".into(), json!(now_unix()));
    obj.insert("from".into(), bot_user);
    let edited = message.json.clone();
    if new_markup.is_none() {
        st.keyboards_removed.push((chat_id, message_id));
    }
    Ok(edited)
}

fn edit_message_text(shared: &Shared, p: &Map<String, Value>) -> ApiResult {
    let mut st = shared.state();
    if p.contains_key("inline_message_id") {
        return Err(bad("MESSAGE_ID_INVALID"));
    }
    if !p.contains_key("chat_id") || !p.contains_key("message_id") {
        return Err(bad("message identifier is not specified"));
    }
    let chat_id = chat_param(&st, p)?;
    let message_id = int_param(p, "message_id")?.unwrap_or_default() as i32;
    let raw_text = str_param(p, "text").unwrap_or_default();
    let parse_mode = str_param(p, "parse_mode").filter(|m| !m.is_empty());
    let text = visible_text(&raw_text, parse_mode.as_deref())?;
    if text.trim().is_empty() {
        return Err(bad("message text is empty"));
    }
    if text.chars().count() > 4096 {
        return Err(bad("MESSAGE_TOO_LONG"));
    }
    let markup = json_param(p, "reply_markup", "reply keyboard markup")?;
    let buttons = match &markup {
        Some(m) => match inline_keyboard(m)? {
            Some(b) => b,
            None => return Err(bad("REPLY_MARKUP_INVALID")),
        },
        None => Vec::new(),
    };
    let new_markup = (!buttons.is_empty()).then(|| markup_json(&buttons, markup.as_ref()));
    let bot_user = shared.bot_user();
    let message = match st.messages.get_mut(&(chat_id, message_id)) {
        Some(m) if !m.deleted => m,
        _ => return Err(bad("message to edit not found")),
    };
    if !message.from_bot {
        return Err(bad("message can't be edited"));
    }
    if message.json.get("text").and_then(Value::as_str) == Some(text.as_str())
        && message.json.get("reply_markup").cloned() == new_markup
    {
        return Err(bad(
            "message is not modified: specified new message content and reply markup are exactly \
             the same as a current content and reply markup of the message",
        ));
    }
    let obj = message.json.as_object_mut().unwrap();
    obj.insert("text".into(), json!(text));
    match &new_markup {
        Some(m) => {
            obj.insert("reply_markup".into(), m.clone());
        }
        None => {
            obj.remove("reply_markup");
        }
    }
    obj.insert("edit_date".into(), json!(now_unix()));
    obj.insert("from".into(), bot_user);
    let edited = message.json.clone();
    st.edits.push(SentMessage {
        chat_id,
        message_id,
        text,
        buttons,
        raw_text,
        parse_mode,
    });
    Ok(edited)
}

fn answer_callback_query(shared: &Shared, p: &Map<String, Value>) -> ApiResult {
    let mut st = shared.state();
    let id = str_param(p, "callback_query_id").unwrap_or_default();
    if let Some(text) = str_param(p, "text") {
        if text.chars().count() > 200 {
            return Err(bad("MESSAGE_TOO_LONG"));
        }
    }
    match st.callback_queries.get_mut(&id) {
        Some(answered) if !*answered => *answered = true,
        _ => {
            return Err(bad(
                "query is too old and response timeout expired or query ID is invalid",
            ))
        }
    }
    st.callbacks_answered.push(id);
    Ok(json!(true))
}

fn valid_secret_token(s: &str) -> bool {
    (1..=256).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn set_webhook(shared: &Shared, p: &Map<String, Value>) -> Result<&'static str, ApiErr> {
    let url = str_param(p, "url").unwrap_or_default();
    if url.is_empty() {
        return delete_webhook(shared, p);
    }
    let parsed = reqwest::Url::parse(&url)
        .map_err(|_| bad("bad webhook: Failed to resolve host: Name or service not known"))?;
    let loopback = matches!(
        parsed.host_str(),
        Some("127.0.0.1") | Some("localhost") | Some("[::1]")
    );
    match parsed.scheme() {
        "https" => {
            // Real Telegram only delivers to these ports; loopback is exempt so tests can use
            // the port the bot's test server got.
            let port = parsed.port_or_known_default().unwrap_or(443);
            if !loopback && ![443, 80, 88, 8443].contains(&port) {
                return Err(bad(
                    "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
                ));
            }
        }
        // Real Telegram requires https. The fake also accepts plain http to 127.0.0.1/localhost so
        // that a test can point the webhook at the bot's in-process HTTP server.
        "http" if loopback => {}
        _ => return Err(bad("bad webhook: HTTPS url must be provided for webhook")),
    }
    let secret = str_param(p, "secret_token");
    if let Some(secret) = &secret {
        if !valid_secret_token(secret) {
            return Err(bad("bad webhook: secret token contains unallowed characters or has an invalid length (1-256 of A-Z, a-z, 0-9, _ and -)"));
        }
    }
    if let Some(n) = int_param(p, "max_connections")? {
        if !(1..=100).contains(&n) {
            return Err(bad(
                "bad webhook: max_connections must be between 1 and 100",
            ));
        }
    }
    let mut st = shared.state();
    if bool_param(p, "drop_pending_updates") {
        st.pending.clear();
    }
    let new = Some((url, secret));
    let description = if st.webhook == new {
        "Webhook is already set"
    } else {
        "Webhook was set"
    };
    st.webhook = new;
    drop(st);
    // A waiting getUpdates now ends with 409.
    shared.notify.notify_waiters();
    Ok(description)
}

fn delete_webhook(shared: &Shared, p: &Map<String, Value>) -> Result<&'static str, ApiErr> {
    let mut st = shared.state();
    if bool_param(p, "drop_pending_updates") {
        st.pending.clear();
    }
    let description = if st.webhook.take().is_some() {
        "Webhook was deleted"
    } else {
        "Webhook is already deleted"
    };
    Ok(description)
}

fn get_webhook_info(shared: &Shared) -> Value {
    let st = shared.state();
    json!({
        "url": st.webhook.as_ref().map(|(u, _)| u.clone()).unwrap_or_default(),
        "has_custom_certificate": false,
        "pending_update_count": st.pending.len(),
    })
}

// ---------------------------------------------------------------------------------------------
// Tests: the fake against teloxide itself.

#[cfg(test)]
mod tests {
    use super::*;
    use teloxide::prelude::*;
    use teloxide::types::{
        CallbackQueryId, ChatKind, InlineKeyboardButton, InlineKeyboardMarkup, InputFile,
        MessageId, ParseMode, PublicChatKind, UpdateKind,
    };
    use teloxide::{ApiError, RequestError};

    const TOKEN: &str = "123456789:AAF7-g0gYncWnm5IyfZlpPRqRRv6kNAGlao";

    fn bot_for(fake: &FakeTelegram) -> Bot {
        Bot::new(&fake.token).set_api_url(reqwest::Url::parse(&fake.url).unwrap())
    }

    fn keyboard(rows: &[&[(&str, &str)]]) -> InlineKeyboardMarkup {
        InlineKeyboardMarkup::new(rows.iter().map(|row| {
            row.iter()
                .map(|(label, data)| InlineKeyboardButton::callback(*label, *data))
                .collect::<Vec<_>>()
        }))
    }

    fn description(err: RequestError) -> String {
        match err {
            RequestError::Api(ApiError::Unknown(d)) => d,
            RequestError::Api(e) => e.to_string(),
            other => panic!("expected an API error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn fake_telegram_get_me() {
        let fake = FakeTelegram::start(TOKEN).await;
        let me = bot_for(&fake).get_me().await.unwrap();
        assert!(me.user.is_bot);
        assert_eq!(me.user.id, UserId(123_456_789));
        assert_eq!(me.username(), BOT_USERNAME);
        assert_eq!(fake.calls("getMe"), 1);
    }

    #[tokio::test]
    async fn fake_telegram_updates_message_and_callback() {
        let fake = FakeTelegram::start(TOKEN).await;
        let bot = bot_for(&fake);
        let (update_id, message_id) = fake.user_says(42, 42, Some("nl"), "/start");

        let updates = bot.get_updates().await.unwrap();
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].id.0, update_id);
        let UpdateKind::Message(msg) = &updates[0].kind else {
            panic!("expected a message, got {:?}", updates[0].kind);
        };
        assert_eq!(msg.chat.id, ChatId(42));
        assert!(msg.chat.is_private());
        assert_eq!(msg.id, MessageId(message_id));
        assert_eq!(msg.text(), Some("/start"));
        let from = msg.from.as_ref().unwrap();
        assert_eq!(from.id, UserId(42));
        assert_eq!(from.language_code.as_deref(), Some("nl"));

        // Not confirmed yet: the same update again.
        assert_eq!(bot.get_updates().await.unwrap().len(), 1);

        let sent = bot
            .send_message(ChatId(42), "Kies:")
            .reply_markup(keyboard(&[&[("Ja", "yes"), ("Nee", "no")]]))
            .await
            .unwrap();
        let cb_update = fake.user_presses(42, 42, sent.id.0, "yes");

        // Offset confirms the message update; only the callback remains.
        let updates = bot
            .get_updates()
            .offset(update_id as i32 + 1)
            .await
            .unwrap();
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].id.0, cb_update);
        let UpdateKind::CallbackQuery(q) = &updates[0].kind else {
            panic!("expected a callback query, got {:?}", updates[0].kind);
        };
        assert_eq!(q.data.as_deref(), Some("yes"));
        assert_eq!(q.from.id, UserId(42));
        let m = q.message.as_ref().unwrap().regular_message().unwrap();
        assert_eq!(m.id, sent.id);
        assert_eq!(m.chat.id, ChatId(42));
        assert!(m.reply_markup().is_some());

        let updates = bot
            .get_updates()
            .offset(cb_update as i32 + 1)
            .await
            .unwrap();
        assert!(updates.is_empty());
        assert_eq!(fake.pending_updates(), 0);
    }

    /// teloxide's own long-polling listener (deleteWebhook, then getUpdates with offsets) and
    /// dispatcher run against the fake.
    #[tokio::test]
    async fn fake_telegram_teloxide_dispatcher_round_trip() {
        let fake = FakeTelegram::start(TOKEN).await;
        let handler = Update::filter_message().endpoint(|bot: Bot, msg: Message| async move {
            let text = format!("echo: {}", msg.text().unwrap_or_default());
            bot.send_message(msg.chat.id, text).await?;
            respond(())
        });
        // A webhook left behind: teloxide's polling sees it (getWebhookInfo) and deletes it.
        bot_for(&fake)
            .set_webhook(reqwest::Url::parse("https://bot.example.com/hook").unwrap())
            .await
            .unwrap();
        let mut dispatcher = Dispatcher::builder(bot_for(&fake), handler).build();
        let shutdown = dispatcher.shutdown_token();
        let task = tokio::spawn(async move { dispatcher.dispatch().await });
        fake.user_says(42, 42, Some("nl"), "hoi");
        fake.user_says(42, 42, Some("nl"), "nog een");
        let sent = fake.wait_for_sent(2, Duration::from_secs(5)).await;
        assert_eq!(sent[0].text, "echo: hoi");
        assert_eq!(sent[1].text, "echo: nog een");
        assert_eq!(fake.calls("getWebhookInfo"), 1);
        assert_eq!(fake.calls("deleteWebhook"), 1);
        assert_eq!(fake.webhook(), None);
        loop {
            match shutdown.shutdown() {
                Ok(done) => break done.await,
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        task.await.unwrap();
        assert_eq!(fake.sent().len(), 2);
    }

    #[tokio::test]
    async fn fake_telegram_group_message() {
        let fake = FakeTelegram::start(TOKEN).await;
        let bot = bot_for(&fake);
        fake.group_says(-4_001_234, 42, "hallo");
        let updates = bot.get_updates().await.unwrap();
        let UpdateKind::Message(msg) = &updates[0].kind else {
            panic!("expected a message");
        };
        assert_eq!(msg.chat.id, ChatId(-4_001_234));
        assert!(matches!(
            &msg.chat.kind,
            ChatKind::Public(p) if matches!(p.kind, PublicChatKind::Group)
        ));
        assert_eq!(msg.from.as_ref().unwrap().id, UserId(42));
        // The bot is no admin: it can't delete the user's group message.
        let err = bot
            .delete_message(ChatId(-4_001_234), msg.id)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            RequestError::Api(ApiError::MessageCantBeDeleted)
        ));
        fake.make_admin(-4_001_234);
        bot.delete_message(ChatId(-4_001_234), msg.id)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn fake_telegram_long_poll_wakes_on_update() {
        let fake = FakeTelegram::start(TOKEN).await;
        let bot = bot_for(&fake);
        let started = std::time::Instant::now();
        let poll = tokio::spawn({
            let bot = bot.clone();
            async move { bot.get_updates().timeout(30).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        fake.user_says(42, 42, None, "hoi");
        let updates = poll.await.unwrap().unwrap();
        assert_eq!(updates.len(), 1);
        assert!(started.elapsed() < Duration::from_millis(1500));

        // Nothing queued: returns empty after the (capped) timeout.
        let started = std::time::Instant::now();
        let offset = updates[0].id.0 as i32 + 1;
        let updates = bot.get_updates().offset(offset).timeout(1).await.unwrap();
        assert!(updates.is_empty());
        assert!(started.elapsed() >= Duration::from_millis(900));
    }

    #[tokio::test]
    async fn fake_telegram_second_poll_terminates_first() {
        let fake = FakeTelegram::start(TOKEN).await;
        let bot = bot_for(&fake);
        let first = tokio::spawn({
            let bot = bot.clone();
            async move { bot.get_updates().timeout(2).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let second = bot.get_updates().timeout(0).await.unwrap();
        assert!(second.is_empty());
        let err = first.await.unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                RequestError::Api(ApiError::TerminatedByOtherGetUpdates)
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn fake_telegram_send_edit_delete_answer() {
        let fake = FakeTelegram::start(TOKEN).await;
        let bot = bot_for(&fake);
        let (_, user_msg) = fake.user_says(42, 42, Some("en"), "reset");

        let sent = bot
            .send_message(ChatId(42), "Pick one")
            .reply_markup(keyboard(&[&[("A", "a")], &[("B", "b")]]))
            .await
            .unwrap();
        assert_eq!(sent.id.0, user_msg + 1, "message ids share one counter");
        assert_eq!(sent.from.as_ref().unwrap().id, UserId(123_456_789));
        assert_eq!(sent.text(), Some("Pick one"));
        let record = fake.wait_for_sent(1, Duration::from_secs(1)).await;
        assert_eq!(
            record[0],
            SentMessage {
                chat_id: 42,
                message_id: sent.id.0,
                text: "Pick one".into(),
                buttons: vec![
                    vec![("A".into(), "a".into())],
                    vec![("B".into(), "b".into())]
                ],
                raw_text: "Pick one".into(),
                parse_mode: None,
            }
        );

        // Remove the keyboard; doing it again is "not modified", like Telegram.
        let edited = bot
            .edit_message_reply_markup(ChatId(42), sent.id)
            .await
            .unwrap();
        assert!(edited.reply_markup().is_none());
        assert_eq!(fake.keyboards_removed(), vec![(42, sent.id.0)]);
        let err = bot
            .edit_message_reply_markup(ChatId(42), sent.id)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            RequestError::Api(ApiError::MessageNotModified)
        ));
        // Editing the user's message is not allowed, an unknown one not found.
        let err = bot
            .edit_message_reply_markup(ChatId(42), MessageId(user_msg))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            RequestError::Api(ApiError::MessageCantBeEdited)
        ));
        let err = bot
            .edit_message_reply_markup(ChatId(42), MessageId(99_999))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            RequestError::Api(ApiError::MessageToEditNotFound)
        ));

        // Delete the user's message (allowed in private chats), twice fails.
        bot.delete_message(ChatId(42), MessageId(user_msg))
            .await
            .unwrap();
        let err = bot
            .delete_message(ChatId(42), MessageId(user_msg))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            RequestError::Api(ApiError::MessageToDeleteNotFound)
        ));
        assert_eq!(fake.deleted(), vec![(42, user_msg)]);

        // Answer a callback query once.
        let (update, _) = fake.callback_update_json(42, 42, sent.id.0, "a");
        let id = update["callback_query"]["id"].as_str().unwrap().to_owned();
        bot.answer_callback_query(CallbackQueryId(id.clone()))
            .await
            .unwrap();
        let err = bot
            .answer_callback_query(CallbackQueryId(id.clone()))
            .await
            .unwrap_err();
        assert!(description(err).contains("query ID is invalid"));
        let err = bot
            .answer_callback_query(CallbackQueryId("nope".into()))
            .await
            .unwrap_err();
        assert!(description(err).contains("query is too old"));
        assert_eq!(fake.callbacks_answered(), vec![id]);
        assert_eq!(fake.calls("answerCallbackQuery"), 3);
    }

    #[tokio::test]
    async fn fake_telegram_send_message_checks() {
        let fake = FakeTelegram::start(TOKEN).await;
        let bot = bot_for(&fake);
        let err = bot.send_message(ChatId(42), "hi").await.unwrap_err();
        assert!(matches!(err, RequestError::Api(ApiError::ChatNotFound)));
        fake.user_says(42, 42, None, "hi");

        let err = bot.send_message(ChatId(42), "  \n").await.unwrap_err();
        assert!(matches!(
            err,
            RequestError::Api(ApiError::MessageTextIsEmpty)
        ));
        bot.send_message(ChatId(42), "é".repeat(4096))
            .await
            .unwrap();
        let err = bot
            .send_message(ChatId(42), "x".repeat(4097))
            .await
            .unwrap_err();
        assert!(matches!(err, RequestError::Api(ApiError::MessageIsTooLong)));

        bot.send_message(ChatId(42), "ok")
            .reply_markup(keyboard(&[&[("x", "d".repeat(64).as_str())]]))
            .await
            .unwrap();
        let err = bot
            .send_message(ChatId(42), "too much data")
            .reply_markup(keyboard(&[&[("x", "d".repeat(65).as_str())]]))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            RequestError::Api(ApiError::ButtonDataInvalid)
        ));

        // Markup is parsed like Telegram does.
        bot.send_message(ChatId(42), "<b>Vet</b> &amp; <i>schuin</i> 1 &lt; 2")
            .parse_mode(ParseMode::Html)
            .await
            .unwrap();
        assert_eq!(fake.sent().last().unwrap().text, "Vet & schuin 1 < 2");
        let err = bot
            .send_message(ChatId(42), "a <blink>b</blink>")
            .parse_mode(ParseMode::Html)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            RequestError::Api(ApiError::CantParseEntities(_))
        ));
        let err = bot
            .send_message(ChatId(42), "<b>open")
            .parse_mode(ParseMode::Html)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            RequestError::Api(ApiError::CantParseEntities(_))
        ));
        bot.send_message(ChatId(42), "*Klaar*\\. Code: `12-34`")
            .parse_mode(ParseMode::MarkdownV2)
            .await
            .unwrap();
        assert_eq!(fake.sent().last().unwrap().text, "Klaar. Code: 12-34");
        let err = bot
            .send_message(ChatId(42), "Klaar.")
            .parse_mode(ParseMode::MarkdownV2)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            RequestError::Api(ApiError::CantParseEntities(_))
        ));
        let err = bot
            .send_message(ChatId(42), "hi")
            .reply_parameters(teloxide::types::ReplyParameters::new(MessageId(99_999)))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            RequestError::Api(ApiError::MessageToReplyNotFound)
        ));
    }

    #[tokio::test]
    async fn fake_telegram_errors_surface_in_teloxide() {
        let fake = FakeTelegram::start(TOKEN).await;
        let bot = bot_for(&fake);
        fake.user_says(42, 42, None, "hi");

        fake.fail_next(
            "sendMessage",
            429,
            json!({"ok": false, "error_code": 429,
                   "description": "Too Many Requests: retry after 1",
                   "parameters": {"retry_after": 1}}),
        );
        let err = bot.send_message(ChatId(42), "hi").await.unwrap_err();
        assert!(
            matches!(err, RequestError::RetryAfter(s) if s.seconds() == 1),
            "{err:?}"
        );
        bot.send_message(ChatId(42), "hi").await.unwrap();
        assert_eq!(fake.calls("sendMessage"), 2);
        assert_eq!(fake.sent().len(), 1);

        fake.block_chat(42);
        let err = bot.send_message(ChatId(42), "hi").await.unwrap_err();
        assert!(
            matches!(err, RequestError::Api(ApiError::BotBlocked)),
            "{err:?}"
        );
        // Writing to the bot again unblocks it.
        fake.user_says(42, 42, None, "sorry");
        bot.send_message(ChatId(42), "welcome back").await.unwrap();

        let wrong =
            Bot::new("123456789:wrong").set_api_url(reqwest::Url::parse(&fake.url).unwrap());
        let err = wrong.get_me().await.unwrap_err();
        assert!(
            matches!(err, RequestError::Api(ApiError::InvalidToken)),
            "{err:?}"
        );
        assert_eq!(fake.calls("getMe"), 0);
    }

    /// 5xx through teloxide costs 10 s (teloxide's DELAY_ON_SERVER_ERROR), so check it raw.
    #[tokio::test]
    async fn fake_telegram_fail_next_queues_raw_failures() {
        let fake = FakeTelegram::start(TOKEN).await;
        let body = json!({"ok": false, "error_code": 502, "description": "Bad Gateway"});
        fake.fail_next("getMe", 502, body.clone());
        fake.fail_next("getMe", 502, body.clone());
        let client = reqwest::Client::new();
        let url = format!("{}/bot{}/getMe", fake.url, fake.token);
        for _ in 0..2 {
            let resp = client.post(&url).send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 502);
            assert_eq!(resp.json::<Value>().await.unwrap(), body);
        }
        let resp = client.get(&url).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(
            resp.json::<Value>().await.unwrap()["result"]["is_bot"],
            true
        );

        // Query-string parameters and a bad token.
        fake.user_says(42, 42, None, "hi");
        let resp = client
            .get(format!(
                "{}/bot{}/sendMessage?chat_id=42&text=h%C3%A9+daar",
                fake.url, fake.token
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(fake.sent()[0].text, "hé daar");
        let resp = client
            .post(format!("{}/bot1:nope/getMe", fake.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404);
        assert_eq!(
            resp.json::<Value>().await.unwrap(),
            json!({"ok": false, "error_code": 404, "description": "Not Found"})
        );
        let resp = client
            .post(format!("{}/bot{}/sendMessages", fake.url, fake.token))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404);
    }

    #[tokio::test]
    async fn fake_telegram_webhook() {
        let fake = FakeTelegram::start(TOKEN).await;
        let bot = bot_for(&fake);
        let url = reqwest::Url::parse("http://127.0.0.1:8088/telegram").unwrap();
        bot.set_webhook(url.clone())
            .secret_token("s3cr3t_-X")
            .await
            .unwrap();
        assert_eq!(
            fake.webhook(),
            Some((url.to_string(), Some("s3cr3t_-X".to_owned())))
        );
        let info = bot.get_webhook_info().await.unwrap();
        assert_eq!(info.url, Some(url.clone()));

        let err = bot.get_updates().await.unwrap_err();
        assert_eq!(description(err), CONFLICT_WEBHOOK);

        let err = bot
            .set_webhook(reqwest::Url::parse("http://bot.example.com/hook").unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(err, RequestError::Api(ApiError::WebhookRequireHttps)),
            "{err:?}"
        );
        let err = bot
            .set_webhook(reqwest::Url::parse("https://bot.example.com:9000/hook").unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(err, RequestError::Api(ApiError::BadWebhookPort)),
            "{err:?}"
        );
        for secret in ["", "has space", &"x".repeat(257)] {
            let err = bot
                .set_webhook(reqwest::Url::parse("https://bot.example.com/hook").unwrap())
                .secret_token(secret)
                .await
                .unwrap_err();
            assert!(description(err).contains("secret token"), "{secret:?}");
        }
        bot.set_webhook(reqwest::Url::parse("https://bot.example.com:8443/hook").unwrap())
            .await
            .unwrap();
        assert_eq!(
            fake.webhook(),
            Some(("https://bot.example.com:8443/hook".to_owned(), None))
        );

        bot.delete_webhook().await.unwrap();
        assert_eq!(fake.webhook(), None);
        assert!(bot.get_updates().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn fake_telegram_deliver_to_webhook() {
        use axum::routing::post;
        let fake = FakeTelegram::start(TOKEN).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Option<String>, Value)>();
        let app = Router::new().route(
            "/hook",
            post(
                move |headers: HeaderMap, axum::Json(update): axum::Json<Value>| {
                    let tx = tx.clone();
                    async move {
                        let secret = headers
                            .get("X-Telegram-Bot-Api-Secret-Token")
                            .map(|v| v.to_str().unwrap().to_owned());
                        tx.send((secret, update)).unwrap();
                        StatusCode::OK
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        bot_for(&fake)
            .set_webhook(reqwest::Url::parse(&hook).unwrap())
            .secret_token("abc")
            .await
            .unwrap();
        let (update, _, _) = fake.message_update_json(42, 42, Some("nl"), "hoi");
        assert_eq!(fake.deliver_to_webhook(&update).await, 200);
        let (secret, got) = rx.recv().await.unwrap();
        assert_eq!(secret.as_deref(), Some("abc"));
        assert_eq!(got, update);
    }

    #[tokio::test]
    async fn fake_telegram_update_json_deserialises() {
        let fake = FakeTelegram::start(TOKEN).await;
        let bot = bot_for(&fake);
        let (update, update_id, message_id) = fake.message_update_json(42, 42, Some("nl"), "Hallo");
        assert_eq!(
            update,
            json!({"update_id": update_id, "message": {
                "message_id": message_id, "date": update["message"]["date"],
                "chat": {"id": 42, "type": "private", "first_name": "Jan"},
                "from": {"id": 42, "is_bot": false, "first_name": "Jan", "language_code": "nl"},
                "text": "Hallo"}})
        );
        // Pitfall: teloxide 0.13's `UpdateKind` deserialiser only works on text input (it asks for
        // a borrowed `&str` key, which `serde_json::Value` can't lend, and then gives up), so
        // `serde_json::from_value::<Update>` yields `UpdateKind::Error`. Parse webhook bodies with
        // `serde_json::from_slice` / `from_str` (as `axum::Json<Update>` does).
        let via_value: teloxide::types::Update = serde_json::from_value(update.clone()).unwrap();
        assert_eq!(via_value.id.0, update_id);
        assert!(matches!(via_value.kind, UpdateKind::Error(_)));
        let parsed: teloxide::types::Update = serde_json::from_str(&update.to_string()).unwrap();
        assert_eq!(parsed.id.0, update_id);
        let UpdateKind::Message(msg) = parsed.kind else {
            panic!("expected a message, got {:?}", parsed.kind);
        };
        assert_eq!(msg.text(), Some("Hallo"));
        assert_eq!(msg.from.unwrap().language_code.as_deref(), Some("nl"));
        // Not queued.
        assert_eq!(fake.pending_updates(), 0);

        // The chat is known now, so the bot can answer (webhook flow).
        let sent = bot
            .send_message(ChatId(42), "Kies")
            .reply_markup(keyboard(&[&[("Ja", "ja")]]))
            .await
            .unwrap();
        let (update, update_id) = fake.callback_update_json(42, 42, sent.id.0, "ja");
        let parsed: teloxide::types::Update =
            serde_json::from_slice(&serde_json::to_vec(&update).unwrap()).unwrap();
        assert_eq!(parsed.id.0, update_id);
        let UpdateKind::CallbackQuery(q) = parsed.kind else {
            panic!("expected a callback query");
        };
        assert_eq!(q.data.as_deref(), Some("ja"));
        assert_eq!(q.message.unwrap().id(), sent.id);
    }

    #[tokio::test]
    async fn fake_telegram_send_photo() {
        let fake = FakeTelegram::start(TOKEN).await;
        let bot = bot_for(&fake);
        let png =
            sspr_bot::channels::qr::png("otpauth://totp/x:y?secret=JBSWY3DPEHPK3PXP").unwrap();
        let photo = || InputFile::memory(png.clone()).file_name("qr.png");
        let err = bot.send_photo(ChatId(42), photo()).await.unwrap_err();
        assert!(matches!(err, RequestError::Api(ApiError::ChatNotFound)));
        let (_, user_msg) = fake.user_says(42, 42, None, "hi");

        let sent = bot
            .send_photo(ChatId(42), photo())
            .protect_content(true)
            .has_spoiler(true)
            .caption("Scan me")
            .await
            .unwrap();
        assert_eq!(sent.id.0, user_msg + 1, "message ids share one counter");
        let sizes = sent.photo().expect("a photo message");
        assert_eq!(sizes.len(), 1);
        assert!(sent.has_media_spoiler());
        assert_eq!(sent.caption(), Some("Scan me"));
        let photos = fake.photos();
        assert_eq!(photos.len(), 1);
        assert_eq!(photos[0].chat_id, 42);
        assert_eq!(photos[0].message_id, sent.id.0);
        assert_eq!(photos[0].bytes, png);
        assert_eq!(photos[0].file_name.as_deref(), Some("qr.png"));
        assert_eq!(
            (photos[0].width, photos[0].height),
            (sizes[0].width, sizes[0].height)
        );
        assert!(photos[0].width > 0 && photos[0].width == photos[0].height);
        assert!(photos[0].has_spoiler && photos[0].protect_content);
        assert!(fake.sent().is_empty(), "photos are not text messages");
        let request = &fake.requests("sendPhoto")[1];
        assert!(
            request["photo"].as_str().unwrap().starts_with("attach://"),
            "teloxide uploads through attach://: {request}"
        );

        // A photo can be deleted like any message of the bot.
        bot.delete_message(ChatId(42), sent.id).await.unwrap();
        assert_eq!(fake.deleted(), vec![(42, sent.id.0)]);

        // What is no picture, or no upload, is refused.
        let err = bot
            .send_photo(ChatId(42), InputFile::memory(b"not a picture".to_vec()))
            .await
            .unwrap_err();
        assert!(description(err).contains("IMAGE_PROCESS_FAILED"));
        let err = bot
            .send_photo(
                ChatId(42),
                InputFile::url(reqwest::Url::parse("https://example.org/qr.png").unwrap()),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, RequestError::Api(ApiError::WrongFileIdOrUrl)),
            "{err:?}"
        );
        fake.block_chat(42);
        let err = bot.send_photo(ChatId(42), photo()).await.unwrap_err();
        assert!(matches!(err, RequestError::Api(ApiError::BotBlocked)));
        assert_eq!(fake.photos().len(), 1);
        assert_eq!(fake.calls("sendPhoto"), 5);
    }
}
