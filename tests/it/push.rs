//! Duo push (Auth API v2) against a wiremock fake that checks what Duo checks: a signature made
//! with the secret key (verified here with a signer written from Duo's documentation, not the
//! crate's), the integration key, a recent `Date`, and the fields of the request. Then the
//! answers (allow, deny, Duo's own timeout, no answer in time), failures (wrong credentials
//! without leaking them, a 500, a timeout without a second push), a resumed push after a
//! restart, and one push approval end to end through the core. Registration's question whether
//! the user has a push device (`/preauth`) goes through the same signed fake.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha512;
use sspr_bot::config::{PushConfig, PushProvider, Secret};
use sspr_bot::dialogue::Lang;
use sspr_bot::domain::LoginName;
use sspr_bot::i18n::Localizer;
use sspr_bot::providers::duo::{DuoPush, PendingPush};
use sspr_bot::providers::{Providers, PushSender};
use sspr_bot::recovery::PhoneAnswer;
use tokio::sync::mpsc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::*;

const IKEY: &str = "DIWJ8X6AEYOR5OMC6TQ1";
const SKEY: &str = "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep";
const WRONG_SKEY: &str = "wr0ngS3cretKeyWr0ngS3cretKeyWr0ngS3cret";
const TXID: &str = "45f7c92b-f45f-4862-8545-e0f58e78075a";

type Rx = mpsc::UnboundedReceiver<(String, PhoneAnswer)>;

// ---- an independent Duo signer, from the documented algorithm ----

/// RFC 3986: keep `A-Z a-z 0-9 - . _ ~`, escape every other UTF-8 byte as `%XX`.
fn rfc3986(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn duo_signature(
    skey: &str,
    date: &str,
    method: &str,
    host: &str,
    path: &str,
    params: &[(String, String)],
) -> String {
    let mut encoded: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", rfc3986(k), rfc3986(v)))
        .collect();
    encoded.sort();
    let canon = format!(
        "{date}\n{}\n{}\n{path}\n{}",
        method.to_uppercase(),
        host.to_lowercase(),
        encoded.join("&")
    );
    let mut mac = Hmac::<Sha512>::new_from_slice(skey.as_bytes()).unwrap();
    mac.update(canon.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// The parameters Duo reads: the form body of a POST, the query of a GET.
fn params_of(req: &Request) -> Vec<(String, String)> {
    if req.method.as_str() == "POST" {
        form(&req.body)
    } else {
        req.url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

fn field(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn duo_fail(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "stat": "FAIL", "code": code, "message": message
    }))
}

fn refuse(status: u16, code: i64, message: &str) -> Box<ResponseTemplate> {
    Box::new(duo_fail(status, code, message))
}

/// Checks the credentials the way Duo does; the refusal Duo would send, if any.
fn check_credentials(req: &Request) -> Result<(), Box<ResponseTemplate>> {
    let missing = || refuse(401, 40101, "Missing request credentials");
    let date = header(req, "date").ok_or_else(missing)?;
    let sent = chrono::DateTime::parse_from_rfc2822(&date)
        .map_err(|_| refuse(401, 40105, "Invalid Date header"))?;
    if (chrono::Utc::now().timestamp() - sent.timestamp()).abs() > 300 {
        return Err(refuse(401, 40105, "Request date is too far off"));
    }
    let auth = header(req, "authorization").ok_or_else(missing)?;
    let decoded = auth
        .strip_prefix("Basic ")
        .and_then(base64_decode)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(missing)?;
    let (ikey, sig) = decoded.split_once(':').ok_or_else(missing)?;
    if ikey != IKEY {
        return Err(refuse(
            401,
            40102,
            "Invalid integration key in request credentials",
        ));
    }
    let host = header(req, "host").ok_or_else(missing)?;
    let expected = duo_signature(
        SKEY,
        &date,
        req.method.as_str(),
        &host,
        req.url.path(),
        &params_of(req),
    );
    if sig != expected {
        return Err(refuse(
            401,
            40103,
            "Invalid signature in request credentials",
        ));
    }
    Ok(())
}

// ---- the fake ----

#[derive(Clone, Copy, Debug)]
enum Status {
    /// `auth_status` answers this `result` and `status`.
    Says(&'static str, &'static str),
    /// `auth_status` fails with a 500.
    Broken,
}

/// A push device as `/preauth` lists it.
const PUSH_DEVICE: &str = "DPFZRS9FB0D46QFTM891";

/// Duo's `/auth`, `/auth_status` and `/preauth`. The status script is played in order; the last
/// entry repeats.
#[derive(Clone)]
struct FakeDuo {
    script: Arc<Mutex<VecDeque<Status>>>,
    /// Puts the `Authorization` header it got into its refusal (a careless proxy would).
    echo_credentials: bool,
    /// The `response` of an OK `/preauth`, or the (HTTP status, code, message) of a FAIL.
    preauth: Result<serde_json::Value, (u16, i64, &'static str)>,
}

impl FakeDuo {
    fn new(script: &[Status]) -> Self {
        Self {
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            echo_credentials: false,
            preauth: Ok(preauth_enroll()),
        }
    }

    fn with_preauth(answer: Result<serde_json::Value, (u16, i64, &'static str)>) -> Self {
        Self {
            preauth: answer,
            ..Self::new(&[Status::Says("allow", "allow")])
        }
    }
}

/// `/preauth` for a user with a phone that takes pushes (and a hardware token before it), in
/// the shape of Duo's documented example.
fn preauth_auth_with_push() -> serde_json::Value {
    json!({
        "result": "auth",
        "status_msg": "Account is active",
        "devices": [
            {"device": "DHEKH0JJIYC1LX3AZWO4", "name": "0", "type": "token"},
            {
                "capabilities": ["auto", "push", "sms", "phone", "mobile_otp"],
                "device": PUSH_DEVICE,
                "display_name": "iOS (XXX-XXX-0100)",
                "name": "",
                "number": "XXX-XXX-0100",
                "type": "phone"
            }
        ]
    })
}

/// `/preauth` for a user whose only phone takes calls and text messages.
fn preauth_auth_without_push() -> serde_json::Value {
    json!({
        "result": "auth",
        "status_msg": "Account is active",
        "devices": [{
            "capabilities": ["phone", "sms"],
            "device": "DPFZRS9FB0D46QFTM899",
            "display_name": "Landline (XXX-XXX-0199)",
            "name": "",
            "number": "XXX-XXX-0199",
            "type": "landline"
        }]
    })
}

/// `/preauth` for a user who has to enroll first.
fn preauth_enroll() -> serde_json::Value {
    json!({
        "result": "enroll",
        "status_msg": "Enroll an authentication device to proceed",
        "enroll_portal_url": "https://api-xxxxxxxx.duosecurity.com/portal?12345"
    })
}

impl Respond for FakeDuo {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if let Err(refusal) = check_credentials(req) {
            if self.echo_credentials {
                return ResponseTemplate::new(401).set_body_json(json!({
                    "stat": "FAIL", "code": 40103,
                    "message": "Invalid signature in request credentials",
                    "message_detail": format!("got {}", header(req, "authorization").unwrap_or_default()),
                }));
            }
            return *refusal;
        }
        let params = params_of(req);
        let bad =
            |what: &str| duo_fail(400, 40002, &format!("Invalid request parameters ({what})"));
        match (req.method.as_str(), req.url.path()) {
            ("POST", "/auth/v2/auth") => {
                if header(req, "content-type").as_deref()
                    != Some("application/x-www-form-urlencoded")
                {
                    return bad("content type");
                }
                if field(&params, "factor").as_deref() != Some("push") {
                    return bad("factor");
                }
                if field(&params, "async").as_deref() != Some("1") {
                    return bad("async");
                }
                if field(&params, "username").is_none_or(|u| u.is_empty()) {
                    return bad("username");
                }
                if field(&params, "device").is_none() {
                    return bad("device");
                }
                ResponseTemplate::new(200).set_body_json(json!({
                    "stat": "OK", "response": { "txid": TXID }
                }))
            }
            ("GET", "/auth/v2/auth_status") => {
                if field(&params, "txid").as_deref() != Some(TXID) {
                    return bad("txid");
                }
                let next = {
                    let mut script = self.script.lock().unwrap();
                    if script.len() > 1 {
                        script.pop_front().unwrap()
                    } else {
                        *script.front().expect("a status script")
                    }
                };
                match next {
                    Status::Says(result, status) => {
                        ResponseTemplate::new(200).set_body_json(json!({
                            "stat": "OK",
                            "response": { "result": result, "status": status, "status_msg": "…" }
                        }))
                    }
                    Status::Broken => ResponseTemplate::new(500).set_body_string("oops"),
                }
            }
            ("POST", "/auth/v2/preauth") => {
                if header(req, "content-type").as_deref()
                    != Some("application/x-www-form-urlencoded")
                {
                    return bad("content type");
                }
                if field(&params, "username").is_none_or(|u| u.is_empty()) {
                    return bad("username");
                }
                match &self.preauth {
                    Ok(response) => ResponseTemplate::new(200)
                        .set_body_json(json!({"stat": "OK", "response": response})),
                    Err((status, code, message)) => duo_fail(*status, *code, message),
                }
            }
            _ => duo_fail(404, 40401, "Resource not found"),
        }
    }
}

async fn fake(duo: FakeDuo) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(duo)
        .mount(&server)
        .await;
    server
}

fn config(base: &str, skey: &str, timeout_secs: u64) -> PushConfig {
    PushConfig {
        provider: PushProvider::Duo,
        api_host: base.to_string(),
        integration_key: IKEY.into(),
        secret_key: Some(Secret::new(skey)),
        secret_key_file: None,
        timeout_secs,
    }
}

fn duo(base: &str, skey: &str, timeout_secs: u64) -> (DuoPush, Rx) {
    let (tx, rx) = mpsc::unbounded_channel();
    let l10n = Arc::new(Localizer::new().unwrap());
    (
        DuoPush::new(&config(base, skey, timeout_secs), l10n, tx).unwrap(),
        rx,
    )
}

fn jan() -> LoginName {
    LoginName::parse(JAN).unwrap()
}

async fn next_answer(rx: &mut Rx, within_secs: u64) -> (String, PhoneAnswer) {
    tokio::time::timeout(Duration::from_secs(within_secs), rx.recv())
        .await
        .expect("an answer in time")
        .expect("the channel is open")
}

async fn requests_to(server: &MockServer, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == p)
        .collect()
}

#[track_caller]
fn assert_clean(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{s:?} leaked into:\n{text}");
    }
}

// ---- the provider on its own ----

#[tokio::test]
async fn an_approved_push_reaches_the_results_channel() {
    let server = fake(FakeDuo::new(&[
        Status::Says("waiting", "pushed"),
        Status::Says("allow", "allow"),
    ]))
    .await;
    let (push, mut rx) = duo(&server.uri(), SKEY, 10);
    push.send_push("demo-device-jan", &jan(), "push-1", 42, Lang::Nl)
        .await
        .unwrap();
    assert_eq!(
        next_answer(&mut rx, 5).await,
        ("push-1".to_string(), PhoneAnswer::ApprovedInApp)
    );

    let auths = requests_to(&server, "/auth/v2/auth").await;
    assert_eq!(auths.len(), 1, "one push");
    let fields = params_of(&auths[0]);
    assert_eq!(field(&fields, "username").as_deref(), Some(JAN));
    assert_eq!(field(&fields, "display_username").as_deref(), Some(JAN));
    assert_eq!(field(&fields, "factor").as_deref(), Some("push"));
    assert_eq!(field(&fields, "async").as_deref(), Some("1"));
    assert_eq!(field(&fields, "device").as_deref(), Some("auto"));
    assert_eq!(field(&fields, "type").as_deref(), Some("Wachtwoordherstel"));
    // pushinfo is URL-encoded key=value pairs; Duo Mobile shows "Nummer: 42".
    assert_eq!(field(&fields, "pushinfo").as_deref(), Some("Nummer=42"));
    let date = header(&auths[0], "date").unwrap();
    chrono::DateTime::parse_from_rfc2822(&date).expect("an RFC 2822 Date header");

    let polls = requests_to(&server, "/auth/v2/auth_status").await;
    assert_eq!(polls.len(), 2, "waiting, then allow");
    assert!(polls
        .iter()
        .all(|r| r.method.as_str() == "GET" && r.body.is_empty()));
}

#[tokio::test]
async fn the_number_label_follows_the_language() {
    let server = fake(FakeDuo::new(&[Status::Says("allow", "allow")])).await;
    let (push, mut rx) = duo(&server.uri(), SKEY, 10);
    push.send_push("demo-device-jan", &jan(), "push-en", 7, Lang::En)
        .await
        .unwrap();
    next_answer(&mut rx, 5).await;
    let fields = params_of(&requests_to(&server, "/auth/v2/auth").await[0]);
    assert_eq!(field(&fields, "pushinfo").as_deref(), Some("Number=7"));
    assert_eq!(field(&fields, "type").as_deref(), Some("Password reset"));
}

#[tokio::test]
async fn a_denied_push_is_reported_as_denied() {
    let server = fake(FakeDuo::new(&[
        Status::Says("waiting", "pushed"),
        Status::Says("deny", "deny"),
    ]))
    .await;
    let (push, mut rx) = duo(&server.uri(), SKEY, 10);
    push.send_push("demo-device-jan", &jan(), "push-2", 13, Lang::Nl)
        .await
        .unwrap();
    assert_eq!(
        next_answer(&mut rx, 5).await,
        ("push-2".to_string(), PhoneAnswer::DenyPush)
    );
}

#[tokio::test]
async fn duos_own_push_timeout_is_no_answer_not_a_denial() {
    let server = fake(FakeDuo::new(&[Status::Says("deny", "timeout")])).await;
    let (push, mut rx) = duo(&server.uri(), SKEY, 10);
    push.send_push("demo-device-jan", &jan(), "push-3", 13, Lang::Nl)
        .await
        .unwrap();
    assert_eq!(
        next_answer(&mut rx, 5).await,
        ("push-3".to_string(), PhoneAnswer::PushTimedOut)
    );
}

#[tokio::test]
async fn a_push_left_waiting_times_out_and_polling_stops() {
    let server = fake(FakeDuo::new(&[Status::Says("waiting", "pushed")])).await;
    let (push, mut rx) = duo(&server.uri(), SKEY, 1);
    let started = std::time::Instant::now();
    push.send_push("demo-device-jan", &jan(), "push-4", 55, Lang::Nl)
        .await
        .unwrap();
    assert_eq!(
        next_answer(&mut rx, 4).await,
        ("push-4".to_string(), PhoneAnswer::PushTimedOut)
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "not before the deadline: {took:?}"
    );
    let polls = requests_to(&server, "/auth/v2/auth_status").await.len();
    assert!(polls >= 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        requests_to(&server, "/auth/v2/auth_status").await.len(),
        polls,
        "no polling after the deadline"
    );
    assert!(rx.try_recv().is_err(), "one answer per push");
}

#[tokio::test]
async fn a_failed_poll_is_asked_again() {
    let server = fake(FakeDuo::new(&[
        Status::Broken,
        Status::Says("allow", "allow"),
    ]))
    .await;
    let (push, mut rx) = duo(&server.uri(), SKEY, 10);
    push.send_push("demo-device-jan", &jan(), "push-5", 31, Lang::Nl)
        .await
        .unwrap();
    assert_eq!(
        next_answer(&mut rx, 5).await,
        ("push-5".to_string(), PhoneAnswer::ApprovedInApp)
    );
    assert_eq!(requests_to(&server, "/auth/v2/auth_status").await.len(), 2);
    assert_eq!(
        requests_to(&server, "/auth/v2/auth").await.len(),
        1,
        "never a second push"
    );
}

#[tokio::test]
async fn a_wrong_secret_key_is_refused_without_leaking_it() {
    let server = fake(FakeDuo {
        echo_credentials: true,
        ..FakeDuo::new(&[Status::Says("allow", "allow")])
    })
    .await;
    let (push, mut rx) = duo(&server.uri(), WRONG_SKEY, 5);
    let err = push
        .send_push("demo-device-jan", &jan(), "push-6", 42, Lang::Nl)
        .await
        .unwrap_err();
    assert_eq!(err.provider, "duo");
    let shown = err.to_string();
    assert!(shown.contains("401") && shown.contains("40103"), "{shown}");
    let auths = requests_to(&server, "/auth/v2/auth").await;
    assert_eq!(auths.len(), 1);
    let authorization = header(&auths[0], "authorization").unwrap();
    let token = authorization.trim_start_matches("Basic ");
    let decoded = String::from_utf8(base64_decode(token).unwrap()).unwrap();
    let signature = decoded.split_once(':').unwrap().1.to_string();
    assert_clean(
        &format!("{shown}\n{err:?}\n{push:?}"),
        &[WRONG_SKEY, &authorization, token, &signature],
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        rx.try_recv().is_err(),
        "no answer for a push that was not sent"
    );
    assert!(requests_to(&server, "/auth/v2/auth_status")
        .await
        .is_empty());
}

// ---- registration: is there a device to push to? ----

#[tokio::test]
async fn a_user_with_a_push_phone_has_that_device() {
    let server = fake(FakeDuo::with_preauth(Ok(preauth_auth_with_push()))).await;
    let (push, _rx) = duo(&server.uri(), SKEY, 5);
    assert_eq!(
        push.enrolled_device(&jan()).await.unwrap().as_deref(),
        Some(PUSH_DEVICE)
    );
    let asked = requests_to(&server, "/auth/v2/preauth").await;
    assert_eq!(asked.len(), 1);
    assert_eq!(
        field(&params_of(&asked[0]), "username").as_deref(),
        Some(JAN)
    );
    assert!(
        requests_to(&server, "/auth/v2/auth").await.is_empty(),
        "asking sends no push"
    );
}

#[tokio::test]
async fn a_user_whose_devices_cannot_take_pushes_has_none() {
    let server = fake(FakeDuo::with_preauth(Ok(preauth_auth_without_push()))).await;
    let (push, _rx) = duo(&server.uri(), SKEY, 5);
    assert_eq!(push.enrolled_device(&jan()).await.unwrap(), None);
}

#[tokio::test]
async fn a_user_who_must_enroll_first_has_no_device() {
    let server = fake(FakeDuo::with_preauth(Ok(preauth_enroll()))).await;
    let (push, _rx) = duo(&server.uri(), SKEY, 5);
    assert_eq!(push.enrolled_device(&jan()).await.unwrap(), None);
    // Refused by policy, or no second factor needed: nothing to push to either.
    for result in ["deny", "allow"] {
        let server = fake(FakeDuo::with_preauth(Ok(
            json!({"result": result, "status_msg": "…"}),
        )))
        .await;
        let (push, _rx) = duo(&server.uri(), SKEY, 5);
        assert_eq!(
            push.enrolled_device(&jan()).await.unwrap(),
            None,
            "{result}"
        );
    }
}

#[tokio::test]
async fn a_failed_preauth_is_a_provider_error() {
    let server = fake(FakeDuo::with_preauth(Err((
        400,
        40002,
        "Invalid request parameters (username)",
    ))))
    .await;
    let (push, _rx) = duo(&server.uri(), SKEY, 5);
    let err = push.enrolled_device(&jan()).await.unwrap_err();
    assert_eq!(err.provider, "duo");
    let shown = err.to_string();
    assert!(shown.contains("400") && shown.contains("40002"), "{shown}");
    assert_clean(&format!("{shown}\n{err:?}"), &[SKEY]);
}

#[tokio::test]
async fn a_preauth_with_a_wrong_secret_key_is_refused_without_leaking_it() {
    let server = fake(FakeDuo {
        echo_credentials: true,
        ..FakeDuo::with_preauth(Ok(preauth_auth_with_push()))
    })
    .await;
    let (push, _rx) = duo(&server.uri(), WRONG_SKEY, 5);
    let err = push.enrolled_device(&jan()).await.unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("401") && shown.contains("40103"), "{shown}");
    let asked = requests_to(&server, "/auth/v2/preauth").await;
    assert_eq!(asked.len(), 1);
    let authorization = header(&asked[0], "authorization").unwrap();
    let token = authorization.trim_start_matches("Basic ");
    let decoded = String::from_utf8(base64_decode(token).unwrap()).unwrap();
    let signature = decoded.split_once(':').unwrap().1.to_string();
    assert_clean(
        &format!("{shown}\n{err:?}"),
        &[WRONG_SKEY, SKEY, &authorization, token, &signature],
    );
}

#[tokio::test]
async fn an_unreachable_duo_is_a_provider_error_on_preauth() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let (push, _rx) = duo(&base, SKEY, 2);
    let err = push.enrolled_device(&jan()).await.unwrap_err();
    assert_eq!(err.provider, "duo");
    assert_clean(&format!("{err}\n{err:?}"), &[SKEY]);
}

#[tokio::test]
async fn a_wrong_integration_key_is_refused() {
    let server = fake(FakeDuo::new(&[Status::Says("allow", "allow")])).await;
    let (tx, _rx) = mpsc::unbounded_channel();
    let mut cfg = config(&server.uri(), SKEY, 5);
    cfg.integration_key = "DIXXXXXXXXXXXXXXXXXX".into();
    let push = DuoPush::new(&cfg, Arc::new(Localizer::new().unwrap()), tx).unwrap();
    let err = push
        .send_push("demo-device-jan", &jan(), "push-7", 42, Lang::Nl)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("40102"), "{err}");
    assert_clean(&err.to_string(), &[SKEY]);
}

#[tokio::test]
async fn a_500_is_a_provider_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/v2/auth"))
        .respond_with(
            ResponseTemplate::new(500).set_body_string("<html>Internal Server Error</html>"),
        )
        .mount(&server)
        .await;
    let (push, _rx) = duo(&server.uri(), SKEY, 5);
    let err = push
        .send_push("demo-device-jan", &jan(), "push-8", 42, Lang::Nl)
        .await
        .unwrap_err();
    assert_eq!(err.provider, "duo");
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    assert_eq!(requests_to(&server, "/auth/v2/auth").await.len(), 1);
}

#[tokio::test]
async fn a_stalled_auth_call_is_a_provider_error_and_no_second_push() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/v2/auth"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"stat": "OK", "response": {"txid": TXID}}))
                .set_delay(Duration::from_secs(4)),
        )
        .mount(&server)
        .await;
    let (push, mut rx) = duo(&server.uri(), SKEY, 1);
    let started = std::time::Instant::now();
    let err = push
        .send_push("demo-device-jan", &jan(), "push-9", 42, Lang::Nl)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "gave up in time"
    );
    assert!(err.to_string().contains("no answer"), "{err}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        requests_to(&server, "/auth/v2/auth").await.len(),
        1,
        "a timeout is not retried: Duo may have sent the push"
    );
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn a_resumed_push_is_polled_again_and_an_expired_one_times_out() {
    let server = fake(FakeDuo::new(&[Status::Says("allow", "allow")])).await;
    let (push, mut rx) = duo(&server.uri(), SKEY, 10);
    let now = chrono::Utc::now().timestamp();
    push.resume(vec![
        PendingPush {
            push_id: "old".into(),
            txid: "some-other-txid".into(),
            deadline_unix: now - 5,
        },
        PendingPush {
            push_id: "live".into(),
            txid: TXID.into(),
            deadline_unix: now + 10,
        },
    ])
    .await;
    let mut got = vec![next_answer(&mut rx, 5).await, next_answer(&mut rx, 5).await];
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("live".to_string(), PhoneAnswer::ApprovedInApp),
            ("old".to_string(), PhoneAnswer::PushTimedOut),
        ]
    );
    let polls = requests_to(&server, "/auth/v2/auth_status").await;
    assert!(
        polls
            .iter()
            .all(|r| field(&params_of(r), "txid").as_deref() == Some(TXID)),
        "an expired push is not polled"
    );
    assert!(
        requests_to(&server, "/auth/v2/auth").await.is_empty(),
        "no new push"
    );
}

#[tokio::test]
async fn the_configuration_is_checked_at_start() {
    let l10n = Arc::new(Localizer::new().unwrap());
    let (tx, _rx) = mpsc::unbounded_channel();
    let new = |c: PushConfig| DuoPush::new(&c, l10n.clone(), tx.clone());
    assert!(new(config("https://api-xxxxxxxx.duosecurity.com", SKEY, 60)).is_ok());
    // Signed requests in clear text only to this machine.
    assert!(new(config("http://api-xxxxxxxx.duosecurity.com", SKEY, 60)).is_err());
    assert!(new(config(
        "https://api-xxxxxxxx.duosecurity.com/auth",
        SKEY,
        60
    ))
    .is_err());
    assert!(new(config("https://api-xxxxxxxx.duosecurity.com", " ", 60)).is_err());
    let mut no_key = config("https://api-xxxxxxxx.duosecurity.com", SKEY, 60);
    no_key.secret_key = None;
    assert!(new(no_key).is_err());
    let mut bad_ikey = config("https://api-xxxxxxxx.duosecurity.com", SKEY, 60);
    bad_ikey.integration_key = "DI 123".into();
    assert!(new(bad_ikey).is_err());
    let debug = format!(
        "{:?}",
        new(config("https://api-xxxxxxxx.duosecurity.com", SKEY, 60)).unwrap()
    );
    assert_clean(&debug, &[SKEY]);
}

/// The fake signer agrees with Duo's documented example (HMAC-SHA1 in the documentation gives
/// 2d97d616…; the HMAC-SHA512 value was computed with Python's hmac module).
#[test]
fn the_fake_signer_follows_duos_worked_example() {
    let sig = duo_signature(
        SKEY,
        "Tue, 21 Aug 2012 17:29:18 -0000",
        "POST",
        "api-XXXXXXXX.duosecurity.com",
        "/accounts/v1/account/list",
        &[
            ("username".into(), "root".into()),
            ("realname".into(), "First Last".into()),
        ],
    );
    assert_eq!(
        sig,
        "1bffb8924348f7db7da9e7d7d749ded93aafd02d8e904960da7b96c57510220185a64a2827ee8f24\
         ac5d30802a9ee97e59de44b304b18242f0d596d15a8122af"
    );
}

// ---- end to end through the core ----

/// The demo app with pushes through a Duo fake at `base`, and the late results forwarded into
/// the core as `serve` does.
async fn app_with_duo(base: &str) -> TestApp {
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, PhoneAnswer)>();
    let mut duo = None;
    let mut t = TestApp::with_providers(|outbox, l10n| {
        let push = Arc::new(DuoPush::new(&config(base, SKEY, 10), l10n, tx).unwrap());
        duo = Some(push.clone());
        Providers {
            push: Some(push),
            ..outbox
        }
    })
    .await;
    t.app.duo = duo;
    let forward = t.app.core.clone();
    tokio::spawn(async move {
        while let Some((id, answer)) = rx.recv().await {
            forward.late_result(&id, answer).await.unwrap();
        }
    });
    t.as_chat("test:duo-1", "test:user-duo-1");
    t
}

async fn audit_shows(t: &TestApp, row: (&str, &str), within: Duration) -> bool {
    let until = std::time::Instant::now() + within;
    loop {
        let audit = t.audit(JAN).await;
        if audit
            .iter()
            .any(|(e, m, o)| e == row.0 && m.as_deref() == Some("push") && o == row.1)
        {
            return true;
        }
        if std::time::Instant::now() > until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn jan_approves_a_duo_push_and_the_core_counts_it() {
    let server = fake(FakeDuo::new(&[
        Status::Says("waiting", "pushed"),
        Status::Says("allow", "allow"),
    ]))
    .await;
    let t = app_with_duo(&server.uri()).await;
    let choose = t.start(JAN, "reason:forgot").await;
    TestApp::offered(&choose, "method:push");
    let shown = t.press("method:push").await;

    let auths = requests_to(&server, "/auth/v2/auth").await;
    assert_eq!(auths.len(), 1);
    let pushinfo = field(&params_of(&auths[0]), "pushinfo").unwrap();
    let number = pushinfo
        .strip_prefix("Nummer=")
        .expect("the number in the push");
    assert!(number.parse::<u32>().is_ok(), "{pushinfo}");
    // The chat shows the same number as the push.
    shown.expect(&format!("het nummer {number} naar"));
    assert!(
        t.outbox_lines()
            .await
            .iter()
            .all(|l| l["channel"] != "push"),
        "the push went to Duo, not the outbox"
    );

    assert!(
        audit_shows(&t, ("push_answered", "passed"), Duration::from_secs(5)).await,
        "{:?}",
        t.audit(JAN).await
    );
    let audit = t.audit(JAN).await;
    assert!(audit
        .iter()
        .any(|(e, m, o)| e == "push_sent" && m.as_deref() == Some("push") && o == "ok"));
    // The conversation goes on from a passed method: a second, different one is asked for.
    let prompt = t.app.core.current_prompt(&t.chat).await.unwrap().unwrap();
    let text: String = prompt
        .replies
        .iter()
        .map(|r| t.app.localizer.render(prompt.lang, r).text)
        .collect();
    assert!(text.contains("stap 2 van 2"), "{text}");
}

#[tokio::test]
async fn jan_denies_a_duo_push_and_it_is_audited() {
    let server = fake(FakeDuo::new(&[Status::Says("deny", "deny")])).await;
    let t = app_with_duo(&server.uri()).await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:push").await;
    assert!(
        audit_shows(&t, ("push_answered", "denied"), Duration::from_secs(5)).await,
        "{:?}",
        t.audit(JAN).await
    );
}

#[tokio::test]
async fn a_push_waiting_when_the_process_stopped_is_resumed_after_a_restart() {
    let server = fake(FakeDuo::new(&[Status::Says("allow", "allow")])).await;
    // The first process: its answers go nowhere, as if it died right after sending the push.
    let (gone, dropped) = mpsc::unbounded_channel::<(String, PhoneAnswer)>();
    drop(dropped);
    let t = TestApp::with_providers(|outbox, l10n| Providers {
        push: Some(Arc::new(
            DuoPush::new(&config(&server.uri(), SKEY, 10), l10n, gone).unwrap(),
        )),
        ..outbox
    })
    .await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:push").await;
    let open = t.app.store.open_challenges("push").await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        open[0].detail.as_deref(),
        Some(TXID),
        "Duo's reference is kept"
    );

    // The next process on the same database and key.
    t.app.store.close().await;
    let settings = sspr_bot::app::Settings {
        db: t.db.clone().into(),
        outbox: Some(t.outbox.clone()),
        key_file: sspr_bot::app::default_key_path(&t.db),
        previous_key_files: Vec::new(),
        seed_demo: true,
    };
    let l10n = Arc::new(Localizer::new().unwrap());
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, PhoneAnswer)>();
    let duo = Arc::new(DuoPush::new(&config(&server.uri(), SKEY, 10), l10n.clone(), tx).unwrap());
    let sink = Arc::new(sspr_bot::providers::Outbox::new(&t.outbox));
    let mut app = sspr_bot::app::App::open_with(
        &settings,
        Providers {
            push: Some(duo.clone()),
            ..Providers::outbox(sink.clone())
        },
        Some(sink),
        l10n,
        t.clock.clone(),
        sspr_bot::recovery::Rules::default(),
    )
    .await
    .unwrap();
    app.duo = Some(duo);
    assert_eq!(app.resume_pushes().await.unwrap(), 1);
    let (id, answer) = next_answer(&mut rx, 5).await;
    assert_eq!(
        (id.as_str(), answer),
        (open[0].id.as_str(), PhoneAnswer::ApprovedInApp)
    );
    assert!(app.core.late_result(&id, answer).await.unwrap());
    let audit = app.store.audit_log(Some(JAN)).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.event == "push_answered" && r.outcome == "passed"),
        "{audit:?}"
    );
}
