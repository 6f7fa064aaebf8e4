//! A fake Bot Framework Bot Connector and Entra ID token endpoint (wiremock) for the Teams tests.
//!
//! It checks what the real ones check, so an adapter that passes against the fake is not merely
//! passing against a mock that accepts anything:
//! - token endpoint `POST /{TENANT}/oauth2/v2.0/token`: an `application/x-www-form-urlencoded`
//!   body with `grant_type=client_credentials`, `client_id` = [`APP_ID`],
//!   `client_secret` = [`APP_PASSWORD`] and `scope=https://api.botframework.com/.default`,
//!   each exactly; otherwise Entra's AADSTS errors (`invalid_request` AADSTS900144,
//!   `unsupported_grant_type` AADSTS70003, `unauthorized_client` AADSTS700016, `invalid_scope`
//!   AADSTS70011, and 401 `invalid_client` AADSTS7000215 for a wrong secret). The wrong secret is
//!   echoed in that description, which Entra does not do, so a test can see it scrubbed. A token
//!   (`eyJ0eXAi.connector-token-N.sig`) lives [`FakeConnector::set_expires_in`] seconds
//!   (3599 by default, as Entra's).
//! - connector, under the service URL's own path [`SERVICE_PATH`] (Teams: `/emea/`):
//!   `POST v3/conversations/{conversationId}/activities` (and `…/activities/{replyToId}`),
//!   `PUT` and `DELETE v3/conversations/{conversationId}/activities/{activityId}`. Ids are
//!   percent-decoded from the path. Unless the fake is in emulator mode every call needs
//!   `Authorization: Bearer <a token it issued and did not revoke>` (else 401
//!   `{"message": "Authorization has been denied for this request."}`). Bodies must be JSON
//!   (`Content-Type: application/json`) objects with a `type`; a `message` needs `text` or
//!   `attachments`; an attachment needs a `contentType`, and an Adaptive Card a `type:
//!   AdaptiveCard`, a `version` and a `body` array; more than 100 KB (UTF-16, data URI images not
//!   counted) is 413 `MessageSizeTooBig`. A PUT or DELETE needs an activity the fake handed out
//!   in that conversation (else 404). A POST answers `{"id": "<generated>"}`.
//!
//! Scripted trouble: [`FakeConnector::fail_next`] (a status and maybe a `Retry-After` for the
//! next connector calls), [`FakeConnector::revoke_tokens`] (every token issued so far is
//! refused, as after a key rollover), [`FakeConnector::refuse_all_tokens`].
//!
//! The self-tests at the end drive `sspr_bot::channels::teams::connector::Connector` against it.

#![allow(dead_code)]

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sspr_bot::channels::teams::cards;
use sspr_bot::channels::teams::connector::{self, Connector, ConnectorError, Credentials};
use sspr_bot::config::Secret;
use sspr_bot::dialogue::Lang;
use sspr_bot::i18n::{RenderedButton, RenderedReply};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const TENANT: &str = "0b7c4f3e-1d2a-4b5c-8d9e-112233445566";
pub const APP_ID: &str = "3f2e1d0c-9b8a-4766-8554-433221100fed";
pub const APP_PASSWORD: &str = "Tq8~b0t-4pp-p4ssw0rd.Zz";
pub const SCOPE: &str = "https://api.botframework.com/.default";
/// The path of the service URL Teams hands out (`https://smba.trafficmanager.net/emea/`).
pub const SERVICE_PATH: &str = "/emea/";
/// A personal-chat conversation id as Teams makes them: `:` `;` `@` included.
pub const PERSONAL_CONVERSATION: &str =
    "a:1Xq9-Zk7PmQ_personal;messageid=1732950900000@unq.gbl.spaces";
/// Teams' message size limit (UTF-16, base64 images excluded).
pub const MAX_MESSAGE_BYTES: usize = 100 * 1024;

const DENIED: &str = "Authorization has been denied for this request.";

struct State {
    emulator: bool,
    expires_in: u64,
    token_requests: usize,
    bad_token_requests: usize,
    issued: usize,
    valid: HashSet<String>,
    refuse_all: bool,
    next_id: u64,
    /// The id handed out for each of `activities`, in the same order.
    ids: Vec<String>,
    /// (conversation, activity id) of every activity handed out.
    known: HashSet<(String, String)>,
    activities: Vec<(String, Value)>,
    updates: Vec<(String, String, Value)>,
    deletes: Vec<(String, String)>,
    /// The `Authorization` header of every connector call, in order.
    authorizations: Vec<Option<String>>,
    unauthorized: usize,
    script: VecDeque<(u16, Option<String>)>,
}

pub struct FakeConnector {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

struct TokenEndpoint(Arc<Mutex<State>>);
struct ConnectorEndpoint(Arc<Mutex<State>>);

fn aad_error(status: u16, error: &str, description: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": error,
        "error_description": format!(
            "{description}\r\nTrace ID: 6c1f2a7e-0d3b-4a55-9e61-7f0c2d8b1a00\r\n\
             Correlation ID: 2b9d4e11-5c7a-4f02-8a3e-0e6f1b2c3d4e\r\nTimestamp: 2026-11-30 06:55:00Z"
        ),
        "error_codes": [description.split(':').next().unwrap_or("").trim_start_matches("AADSTS").parse::<u64>().unwrap_or(0)],
        "timestamp": "2026-11-30 06:55:00Z",
        "trace_id": "6c1f2a7e-0d3b-4a55-9e61-7f0c2d8b1a00",
        "correlation_id": "2b9d4e11-5c7a-4f02-8a3e-0e6f1b2c3d4e",
    }))
}

fn connector_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": {"code": code, "message": message}}))
}

/// `%XX` decoded (as UTF-8, lossily); `None` for a broken escape.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((
                percent_decode(&k.replace('+', " "))?,
                percent_decode(&v.replace('+', " "))?,
            ))
        })
        .collect()
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        s.token_requests += 1;
        let form = form(&request.body);
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let content_type = header(request, "content-type").unwrap_or("");
        if !content_type.starts_with("application/x-www-form-urlencoded")
            || get("grant_type").is_none()
        {
            s.bad_token_requests += 1;
            return aad_error(
                400,
                "invalid_request",
                "AADSTS900144: The request body must contain the following parameter: 'grant_type'.",
            );
        }
        if get("grant_type") != Some("client_credentials") {
            s.bad_token_requests += 1;
            return aad_error(
                400,
                "unsupported_grant_type",
                "AADSTS70003: The app requested an unsupported grant type.",
            );
        }
        for p in ["client_id", "scope"] {
            if get(p).is_none() {
                s.bad_token_requests += 1;
                return aad_error(
                    400,
                    "invalid_request",
                    &format!("AADSTS900144: The request body must contain the following parameter: '{p}'."),
                );
            }
        }
        if get("client_id") != Some(APP_ID) {
            s.bad_token_requests += 1;
            return aad_error(
                400,
                "unauthorized_client",
                &format!(
                    "AADSTS700016: Application with identifier '{}' was not found in the directory '{TENANT}'.",
                    get("client_id").unwrap_or("")
                ),
            );
        }
        if get("scope") != Some(SCOPE) {
            s.bad_token_requests += 1;
            return aad_error(
                400,
                "invalid_scope",
                &format!(
                    "AADSTS70011: The provided request must include a 'scope' input parameter. \
                     The provided value for the input parameter 'scope' is not valid: '{}'.",
                    get("scope").unwrap_or("")
                ),
            );
        }
        if get("client_secret") != Some(APP_PASSWORD) {
            s.bad_token_requests += 1;
            // Entra does not echo the secret; the fake does, so tests see it scrubbed.
            return aad_error(
                401,
                "invalid_client",
                &format!(
                    "AADSTS7000215: Invalid client secret provided ('{}'). Ensure the secret being \
                     sent in the request is the client secret value, not the client secret ID, \
                     for a secret added to app '{APP_ID}'.",
                    get("client_secret").unwrap_or("")
                ),
            );
        }
        s.issued += 1;
        let token = format!("eyJ0eXAi.connector-token-{}.sig", s.issued);
        s.valid.insert(token.clone());
        ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer",
            "expires_in": s.expires_in,
            "ext_expires_in": s.expires_in,
            "access_token": token,
        }))
    }
}

/// The size Teams counts: UTF-16 bytes of the JSON with image data URIs left out.
fn message_size(body: &Value) -> usize {
    fn strip(v: &Value) -> Value {
        match v {
            Value::String(s) if s.starts_with("data:image/") => Value::String(String::new()),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, v)| (k.clone(), strip(v))).collect())
            }
            other => other.clone(),
        }
    }
    serde_json::to_string(&strip(body))
        .map(|s| s.encode_utf16().count() * 2)
        .unwrap_or(0)
}

/// Why the connector would refuse this activity body, if it would.
fn invalid_activity(body: &Value) -> Option<String> {
    let Some(o) = body.as_object() else {
        return Some("the body is not a JSON object".into());
    };
    let kind = o
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let Some(kind) = kind else {
        return Some("Activity is missing type".into());
    };
    if kind != "message" {
        return None;
    }
    let text = o
        .get("text")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.trim().is_empty());
    let attachments = match o.get("attachments") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => a.as_slice(),
        Some(_) => return Some("attachments must be an array".into()),
    };
    if !text && attachments.is_empty() {
        return Some("Message has no text or attachments".into());
    }
    for a in attachments {
        let content_type = a["contentType"].as_str().unwrap_or("");
        if content_type.is_empty() {
            return Some("Attachment is missing contentType".into());
        }
        if content_type == "application/vnd.microsoft.card.adaptive" {
            let c = &a["content"];
            if c["type"] != "AdaptiveCard" || !c["version"].is_string() || !c["body"].is_array() {
                return Some("Invalid Adaptive Card".into());
            }
        }
    }
    None
}

impl Respond for ConnectorEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let auth = header(request, "authorization").map(str::to_string);
        s.authorizations.push(auth.clone());
        if !s.emulator {
            let token = auth
                .as_deref()
                .and_then(|a| a.strip_prefix("Bearer "))
                .unwrap_or("");
            if s.refuse_all || !s.valid.contains(token) {
                s.unauthorized += 1;
                return ResponseTemplate::new(401).set_body_json(json!({"message": DENIED}));
            }
        }
        if let Some((status, retry_after)) = s.script.pop_front() {
            let mut r = connector_error(status, "TooManyRequests", "Too many requests, slow down.");
            if status != 429 {
                r = connector_error(status, "ServiceError", "The service is unavailable.");
            }
            if let Some(ra) = retry_after {
                r = r.insert_header("Retry-After", ra.as_str());
            }
            return r;
        }
        // "/emea/v3/conversations/{conversation}/activities[/{activity}]"
        let raw = request.url.path();
        let rest = raw
            .strip_prefix(SERVICE_PATH)
            .and_then(|r| r.strip_prefix("v3/conversations/"))
            .unwrap_or("");
        let parts: Vec<&str> = rest.split('/').collect();
        let (conversation, activity) = match parts.as_slice() {
            [c, "activities"] => (percent_decode(c), None),
            [c, "activities", a] => (percent_decode(c), Some(percent_decode(a))),
            _ => return connector_error(404, "NotFound", "No such resource."),
        };
        let Some(conversation) = conversation.filter(|c| !c.is_empty()) else {
            return connector_error(400, "BadArgument", "Invalid conversation id.");
        };
        let activity = match activity {
            None => None,
            Some(Some(a)) if !a.is_empty() => Some(a),
            Some(_) => return connector_error(400, "BadArgument", "Invalid activity id."),
        };
        let method = request.method.as_str().to_string();
        if method == "DELETE" {
            let Some(id) = activity else {
                return connector_error(405, "MethodNotAllowed", "DELETE needs an activity id.");
            };
            if !s.known.remove(&(conversation.clone(), id.clone())) {
                return connector_error(404, "NotFound", "The activity was not found.");
            }
            s.deletes.push((conversation, id));
            return ResponseTemplate::new(200);
        }
        if method != "POST" && method != "PUT" {
            return connector_error(405, "MethodNotAllowed", "Method not allowed.");
        }
        if !header(request, "content-type")
            .unwrap_or("")
            .starts_with("application/json")
        {
            return ResponseTemplate::new(415).set_body_json(json!({
                "message": "The request entity's media type is not supported for this resource."
            }));
        }
        let body: Value = match serde_json::from_slice(&request.body) {
            Ok(v) => v,
            Err(_) => return connector_error(400, "BadSyntax", "Invalid JSON."),
        };
        if let Some(why) = invalid_activity(&body) {
            return connector_error(400, "BadArgument", &why);
        }
        if message_size(&body) > MAX_MESSAGE_BYTES {
            return connector_error(413, "MessageSizeTooBig", "Message size too big.");
        }
        if method == "PUT" {
            let Some(id) = activity else {
                return connector_error(405, "MethodNotAllowed", "PUT needs an activity id.");
            };
            if !s.known.contains(&(conversation.clone(), id.clone())) {
                return connector_error(404, "NotFound", "The activity was not found.");
            }
            s.updates.push((conversation, id.clone(), body));
            return ResponseTemplate::new(200).set_body_json(json!({"id": id}));
        }
        // POST: a new activity (or a reply to `activity`, which Teams treats alike).
        s.next_id += 1;
        let id = format!("1:1{:016x}", 0x5eed_0000_u64 + s.next_id);
        s.known.insert((conversation.clone(), id.clone()));
        s.ids.push(id.clone());
        s.activities.push((conversation, body));
        ResponseTemplate::new(201).set_body_json(json!({"id": id}))
    }
}

impl FakeConnector {
    /// A connector that requires tokens from its token endpoint.
    pub async fn start() -> Self {
        Self::new(false).await
    }

    /// A connector that, like the Emulator and the Agents Playground, takes calls without a token.
    pub async fn emulator() -> Self {
        Self::new(true).await
    }

    async fn new(emulator: bool) -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            emulator,
            expires_in: 3599,
            token_requests: 0,
            bad_token_requests: 0,
            issued: 0,
            valid: HashSet::new(),
            refuse_all: false,
            next_id: 0,
            ids: Vec::new(),
            known: HashSet::new(),
            activities: Vec::new(),
            updates: Vec::new(),
            deletes: Vec::new(),
            authorizations: Vec::new(),
            unauthorized: 0,
            script: VecDeque::new(),
        }));
        Mock::given(method("POST"))
            .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
            .respond_with(TokenEndpoint(state.clone()))
            .mount(&server)
            .await;
        Mock::given(path_regex(format!("^{SERVICE_PATH}v3/conversations/")))
            .respond_with(ConnectorEndpoint(state.clone()))
            .mount(&server)
            .await;
        Self { server, state }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// The conversation's `serviceUrl`, with the trailing slash Teams sends.
    pub fn service_url(&self) -> String {
        format!("{}{SERVICE_PATH}", self.server.uri())
    }

    /// The token URL with the `{tenant}` placeholder, as configured.
    pub fn token_url(&self) -> String {
        format!("{}/{{tenant}}/oauth2/v2.0/token", self.server.uri())
    }

    pub fn credentials(&self) -> Credentials {
        self.credentials_with_password(APP_PASSWORD)
    }

    pub fn credentials_with_password(&self, password: &str) -> Credentials {
        Credentials::new(APP_ID, Secret::new(password), TENANT).with_token_url(self.token_url())
    }

    /// A connector signed in with the right credentials (none in emulator mode).
    pub fn connector(&self) -> Connector {
        let credentials = if self.state().emulator {
            None
        } else {
            Some(self.credentials())
        };
        Connector::new(credentials, connector::http_client().unwrap())
    }

    /// Every activity posted: (conversation id, body).
    pub fn activities(&self) -> Vec<(String, Value)> {
        self.state().activities.clone()
    }

    /// The id the connector gave each of [`Self::activities`], in the same order.
    pub fn activity_ids(&self) -> Vec<String> {
        self.state().ids.clone()
    }

    /// Every activity replaced: (conversation id, activity id, new body).
    pub fn updates(&self) -> Vec<(String, String, Value)> {
        self.state().updates.clone()
    }

    /// Every activity deleted: (conversation id, activity id).
    pub fn deletes(&self) -> Vec<(String, String)> {
        self.state().deletes.clone()
    }

    pub fn token_requests(&self) -> usize {
        self.state().token_requests
    }

    /// Token requests the endpoint refused.
    pub fn bad_token_requests(&self) -> usize {
        self.state().bad_token_requests
    }

    /// The `Authorization` header of each connector call, in order.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.state().authorizations.clone()
    }

    /// Connector calls refused with 401.
    pub fn unauthorized(&self) -> usize {
        self.state().unauthorized
    }

    /// The next authorized connector call answers `status` (429 `TooManyRequests`, else
    /// `ServiceError`), with `Retry-After: retry_after` if given. Calls queue up.
    pub fn fail_next(&self, status: u16, retry_after: Option<&str>) {
        self.state()
            .script
            .push_back((status, retry_after.map(str::to_string)));
    }

    /// Every token issued so far is refused from now on.
    pub fn revoke_tokens(&self) {
        self.state().valid.clear();
    }

    /// Every token is refused (or accepted again).
    pub fn refuse_all_tokens(&self, on: bool) {
        self.state().refuse_all = on;
    }

    /// The `expires_in` of tokens issued from now on.
    pub fn set_expires_in(&self, secs: u64) {
        self.state().expires_in = secs;
    }
}

// ---------------------------------------------------------------------------------------------
// Self-tests: the connector client against the fake.

fn hello() -> Value {
    json!({"type": "message", "textFormat": "plain", "text": "Hallo Jan."})
}

fn card_reply() -> Value {
    let reply = RenderedReply {
        text: "Waarmee wil je bevestigen dat jij het bent?".into(),
        buttons: vec![
            RenderedButton {
                id: "method:email".into(),
                label: "E-mail naar ja*****@pr*****.example".into(),
            },
            RenderedButton {
                id: "cancel".into(),
                label: "Stoppen".into(),
            },
        ],
        secret: false,
        qr: None,
    };
    cards::reply_activity(&reply, Lang::Nl, "card-1", "Verstuur")
}

#[tokio::test]
async fn an_activity_is_posted_with_a_token_and_gets_an_id() {
    let fake = FakeConnector::start().await;
    let connector = fake.connector();
    let id = connector
        .send(&fake.service_url(), PERSONAL_CONVERSATION, &hello())
        .await
        .unwrap();
    assert!(
        id.as_deref().is_some_and(|i| i.starts_with("1:1")),
        "{id:?}"
    );
    assert_eq!(
        fake.activities(),
        vec![(PERSONAL_CONVERSATION.to_string(), hello())]
    );
    assert_eq!(fake.token_requests(), 1);
    assert_eq!(fake.bad_token_requests(), 0);
    assert_eq!(
        fake.authorizations(),
        vec![Some("Bearer eyJ0eXAi.connector-token-1.sig".to_string())]
    );
}

#[tokio::test]
async fn a_used_card_is_replaced_in_place() {
    let fake = FakeConnector::start().await;
    let connector = fake.connector();
    let id = connector
        .send(&fake.service_url(), PERSONAL_CONVERSATION, &card_reply())
        .await
        .unwrap()
        .expect("an activity id");
    let used = cards::used_card(
        "Waarmee wil je bevestigen dat jij het bent?",
        Some("E-mail"),
    );
    connector
        .update(&fake.service_url(), PERSONAL_CONVERSATION, &id, &used)
        .await
        .unwrap();
    let updates = fake.updates();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].0, PERSONAL_CONVERSATION);
    assert_eq!(updates[0].1, id);
    assert_eq!(updates[0].2["id"], id.as_str());
    assert_eq!(updates[0].2["attachments"], used["attachments"]);

    // An activity the connector never handed out (or in another conversation) is not found.
    let err = connector
        .update(&fake.service_url(), "a:1other", &id, &used)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectorError::Refused { status: 404, .. }),
        "{err}"
    );

    connector
        .delete(&fake.service_url(), PERSONAL_CONVERSATION, &id)
        .await
        .unwrap();
    assert_eq!(
        fake.deletes(),
        vec![(PERSONAL_CONVERSATION.to_string(), id)]
    );
}

#[tokio::test]
async fn the_token_is_fetched_once_for_several_sends() {
    let fake = FakeConnector::start().await;
    let connector = fake.connector();
    for _ in 0..2 {
        connector
            .send(&fake.service_url(), PERSONAL_CONVERSATION, &hello())
            .await
            .unwrap();
    }
    assert_eq!(fake.activities().len(), 2);
    assert_eq!(fake.token_requests(), 1);
}

#[tokio::test]
async fn concurrent_sends_share_one_token_request() {
    let fake = FakeConnector::start().await;
    let connector = Arc::new(fake.connector());
    let url = fake.service_url();
    let sends = (0..5).map(|_| {
        let (c, url) = (connector.clone(), url.clone());
        tokio::spawn(async move { c.send(&url, PERSONAL_CONVERSATION, &hello()).await })
    });
    for s in sends.collect::<Vec<_>>() {
        s.await.unwrap().unwrap();
    }
    assert_eq!(fake.activities().len(), 5);
    assert_eq!(fake.token_requests(), 1);
}

#[tokio::test]
async fn the_token_is_renewed_before_it_expires() {
    let fake = FakeConnector::start().await;
    // Two seconds: renewed at half its life.
    fake.set_expires_in(2);
    let connector = fake.connector();
    connector
        .send(&fake.service_url(), PERSONAL_CONVERSATION, &hello())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    connector
        .send(&fake.service_url(), PERSONAL_CONVERSATION, &hello())
        .await
        .unwrap();
    assert_eq!(fake.token_requests(), 2);
    assert_eq!(fake.unauthorized(), 0);
}

#[tokio::test]
async fn a_refused_token_is_replaced_once() {
    let fake = FakeConnector::start().await;
    let connector = fake.connector();
    let url = fake.service_url();
    connector
        .send(&url, PERSONAL_CONVERSATION, &hello())
        .await
        .unwrap();
    fake.revoke_tokens();
    connector
        .send(&url, PERSONAL_CONVERSATION, &hello())
        .await
        .unwrap();
    assert_eq!(fake.token_requests(), 2, "a new token after the 401");
    assert_eq!(fake.unauthorized(), 1);
    assert_eq!(fake.activities().len(), 2);
    assert_eq!(
        fake.authorizations().last().unwrap().as_deref(),
        Some("Bearer eyJ0eXAi.connector-token-2.sig")
    );

    // A connector that refuses every token: one renewal, then an error (no loop).
    fake.refuse_all_tokens(true);
    let err = connector
        .send(&url, PERSONAL_CONVERSATION, &hello())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectorError::Refused { status: 401, .. }),
        "{err}"
    );
    assert_eq!(fake.token_requests(), 3);
    assert_eq!(fake.unauthorized(), 3);
    let text = err.to_string();
    assert!(
        text.contains("denied") && !text.contains("connector-token"),
        "{text}"
    );
}

#[tokio::test]
async fn throttling_is_waited_out_once() {
    let fake = FakeConnector::start().await;
    let connector = fake.connector();
    let url = fake.service_url();
    fake.fail_next(429, Some("1"));
    let started = Instant::now();
    connector
        .send(&url, PERSONAL_CONVERSATION, &hello())
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(fake.activities().len(), 1);

    // Throttled twice: one wait, then the error.
    fake.fail_next(429, Some("1"));
    fake.fail_next(429, Some("1"));
    let err = connector
        .send(&url, PERSONAL_CONVERSATION, &hello())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectorError::Refused { status: 429, .. }),
        "{err}"
    );
    assert_eq!(fake.activities().len(), 1);

    // A wait longer than a chat turn can afford fails at once.
    fake.fail_next(503, Some("60"));
    let started = Instant::now();
    let err = connector
        .send(&url, PERSONAL_CONVERSATION, &hello())
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(err, ConnectorError::Refused { status: 503, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("retry after 60 s"), "{err}");
}

#[tokio::test]
async fn emulator_mode_sends_no_authorization_header() {
    let fake = FakeConnector::emulator().await;
    let connector = fake.connector();
    assert!(connector.is_emulator());
    let id = connector
        .send(&fake.service_url(), PERSONAL_CONVERSATION, &card_reply())
        .await
        .unwrap();
    assert!(id.is_some());
    assert_eq!(fake.authorizations(), vec![None]);
    assert_eq!(fake.token_requests(), 0);

    // Against a connector that wants a token, emulator mode is refused (and not retried).
    let real = FakeConnector::start().await;
    let err = Connector::new(None, connector::http_client().unwrap())
        .send(&real.service_url(), PERSONAL_CONVERSATION, &hello())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectorError::Refused { status: 401, .. }),
        "{err}"
    );
    assert_eq!(real.authorizations(), vec![None]);
}

#[tokio::test]
async fn a_wrong_app_password_is_an_error_without_the_password() {
    let fake = FakeConnector::start().await;
    let wrong = "Wr0ng~p4ssw0rd.typed-by-admin";
    let connector = Connector::new(
        Some(fake.credentials_with_password(wrong)),
        connector::http_client().unwrap(),
    );
    let err = connector
        .send(&fake.service_url(), PERSONAL_CONVERSATION, &hello())
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Token(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        !text.contains(wrong) && !text.contains(APP_PASSWORD),
        "{text}"
    );
    assert!(
        text.contains("invalid_client") && text.contains("AADSTS7000215"),
        "{text}"
    );
    assert!(!text.contains("Trace ID"), "only the first line: {text}");
    assert!(!format!("{err:?}").contains(wrong));
    assert!(fake.activities().is_empty());
    assert!(
        fake.authorizations().is_empty(),
        "nothing sent without a token"
    );
}

#[tokio::test]
async fn a_service_url_without_trailing_slash_reaches_the_same_place() {
    let fake = FakeConnector::start().await;
    let connector = fake.connector();
    let url = fake.service_url();
    connector
        .send(url.trim_end_matches('/'), PERSONAL_CONVERSATION, &hello())
        .await
        .unwrap();
    assert_eq!(fake.activities()[0].0, PERSONAL_CONVERSATION);
}

#[tokio::test]
async fn the_fake_refuses_what_teams_refuses() {
    let fake = FakeConnector::start().await;
    let connector = fake.connector();
    let url = fake.service_url();
    for bad in [
        json!({"text": "no type"}),
        json!({"type": "message"}),
        json!({"type": "message", "attachments": [{"content": {}}]}),
        json!({"type": "message", "attachments": [{"contentType": cards::CONTENT_TYPE, "content": {"type": "AdaptiveCard"}}]}),
    ] {
        let err = connector
            .send(&url, PERSONAL_CONVERSATION, &bad)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ConnectorError::Refused { status: 400, .. }),
            "{bad}: {err}"
        );
    }
    let huge = json!({"type": "message", "text": "x".repeat(60 * 1024)});
    let err = connector
        .send(&url, PERSONAL_CONVERSATION, &huge)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Refused { status: 413, code: Some(c), .. } if c == "MessageSizeTooBig"),
        "{err}"
    );
    assert!(fake.activities().is_empty());

    // A QR card fits: the base64 image is not counted.
    let reply = RenderedReply {
        text: "Scan deze code.".into(),
        buttons: vec![],
        secret: false,
        qr: Some(sspr_bot::dialogue::QrCode(
            "otpauth://totp/SSPR:jan%40bedrijf.nl?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=SSPR"
                .into(),
        )),
    };
    let card = cards::reply_activity(&reply, Lang::Nl, "card-qr", "Verstuur");
    connector
        .send(&url, PERSONAL_CONVERSATION, &card)
        .await
        .unwrap();
    assert_eq!(fake.activities().len(), 1);
}
