//! The real SMS providers (Twilio, Bird) against wiremock fakes that check what the real services
//! check: the path, the credentials, the content type and the fields. Then failures (a wrong
//! credential, a 500, a timeout without a retry) and one recovery end to end through the core.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use sspr_bot::config::{Secret, SmsConfig, SmsProvider};
use sspr_bot::dialogue::Lang;
use sspr_bot::domain::{OtpCode, PhoneNumber};
use sspr_bot::i18n::Localizer;
use sspr_bot::providers::bird::BirdSms;
use sspr_bot::providers::twilio::TwilioSms;
use sspr_bot::providers::{Providers, SmsSender};
use wiremock::matchers::{basic_auth, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::*;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "tw-auth-token-5ecr3t-9f8e7d6c";
const SERVICE_SID: &str = "MG0123456789abcdef0123456789abcdef";
const FROM: &str = "+3197010203040";
const BIRD_KEY: &str = "live_b1rdAcc3ssK3y5ecr3t";
const ORIGINATOR: &str = "Bedrijf";
const TO: &str = "+31612345678";
const CODE: &str = "482913";

fn messages_path() -> String {
    format!("/2010-04-01/Accounts/{SID}/Messages.json")
}

fn l10n() -> Arc<Localizer> {
    Arc::new(Localizer::new().unwrap())
}

fn twilio_config(base: &str, token: &str, timeout_secs: u64) -> SmsConfig {
    SmsConfig {
        provider: SmsProvider::Twilio,
        base_url: Some(base.to_string()),
        account_sid: Some(SID.into()),
        auth_token: Some(Secret::new(token)),
        auth_token_file: None,
        from: Some(FROM.into()),
        messaging_service_sid: None,
        access_key: None,
        access_key_file: None,
        originator: None,
        timeout_secs,
    }
}

fn bird_config(base: &str, key: &str, timeout_secs: u64) -> SmsConfig {
    SmsConfig {
        provider: SmsProvider::Bird,
        base_url: Some(base.to_string()),
        account_sid: None,
        auth_token: None,
        auth_token_file: None,
        from: None,
        messaging_service_sid: None,
        access_key: Some(Secret::new(key)),
        access_key_file: None,
        originator: Some(ORIGINATOR.into()),
        timeout_secs,
    }
}

fn twilio(base: &str, token: &str, timeout_secs: u64) -> TwilioSms {
    TwilioSms::new(&twilio_config(base, token, timeout_secs), l10n()).unwrap()
}

fn bird(base: &str, key: &str, timeout_secs: u64) -> BirdSms {
    BirdSms::new(&bird_config(base, key, timeout_secs), l10n()).unwrap()
}

fn to() -> PhoneNumber {
    PhoneNumber::parse(TO).unwrap()
}

fn code() -> OtpCode {
    OtpCode::parse(CODE).unwrap()
}

// ---- the fakes ----

fn twilio_error(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    }))
}

/// Twilio's Messages resource once the credentials matched: checks the form like Twilio does.
struct TwilioMessages;

impl Respond for TwilioMessages {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let content_type = req
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            return twilio_error(400, 20001, "Unsupported content type");
        }
        let fields: HashMap<String, String> = form(&req.body).into_iter().collect();
        let to = fields.get("To").map(String::as_str).unwrap_or_default();
        if !(to.starts_with('+') && to[1..].bytes().all(|b| b.is_ascii_digit()) && to.len() > 8) {
            return twilio_error(400, 21604, "A 'To' phone number is required.");
        }
        if fields.contains_key("From") == fields.contains_key("MessagingServiceSid") {
            return twilio_error(400, 21603, "A 'From' or 'MessagingServiceSid' is required.");
        }
        if fields.get("Body").is_none_or(|b| b.trim().is_empty()) {
            return twilio_error(400, 21602, "Message body is required.");
        }
        ResponseTemplate::new(201).set_body_json(json!({
            "sid": "SM0123456789abcdef0123456789abcdef",
            "account_sid": SID,
            "to": to,
            "status": "queued",
        }))
    }
}

/// A fake Twilio: the right path and Basic auth get [`TwilioMessages`]; wrong credentials get
/// Twilio's 401; any other path a 404.
async fn fake_twilio() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .and(basic_auth(SID, TOKEN))
        .respond_with(TwilioMessages)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .respond_with(twilio_error(401, 20003, "Authenticate"))
        .with_priority(2)
        .mount(&server)
        .await;
    server
}

fn bird_error(status: u16, code: i64, description: &str, parameter: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "errors": [{"code": code, "description": description, "parameter": parameter}]
    }))
}

/// Bird's `/messages` once the access key matched: checks the JSON like Bird does.
struct BirdMessages;

impl Respond for BirdMessages {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let content_type = req
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !content_type.starts_with("application/json") {
            return bird_error(422, 9, "no (correct) body given", "body");
        }
        let Ok(v) = serde_json::from_slice::<Value>(&req.body) else {
            return bird_error(422, 9, "no (correct) body given", "body");
        };
        let recipients_ok = v["recipients"].as_array().is_some_and(|r| {
            !r.is_empty()
                && r.iter().all(|x| {
                    x.as_str()
                        .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                })
        });
        if !recipients_ok {
            return bird_error(422, 9, "no (correct) recipients found", "recipients");
        }
        if v["originator"]
            .as_str()
            .is_none_or(|o| o.is_empty() || o.len() > 17)
        {
            return bird_error(422, 9, "no (correct) originator given", "originator");
        }
        if v["body"].as_str().is_none_or(|b| b.trim().is_empty()) {
            return bird_error(422, 9, "no (correct) body given", "body");
        }
        ResponseTemplate::new(201).set_body_json(json!({
            "id": "e8077d803532c0b5937c639b60216938",
            "href": "https://rest.messagebird.com/messages/e8077d803532c0b5937c639b60216938",
            "direction": "mt",
            "type": "sms",
            "originator": v["originator"],
            "body": v["body"],
            "reference": v["reference"],
            "recipients": {"totalCount": 1, "totalSentCount": 1, "items": [{"recipient": 31612345678_i64, "status": "sent"}]},
        }))
    }
}

async fn fake_bird() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/messages"))
        .and(header(
            "authorization",
            format!("AccessKey {BIRD_KEY}").as_str(),
        ))
        .respond_with(BirdMessages)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/messages"))
        .respond_with(bird_error(
            401,
            2,
            "Request not allowed (incorrect access_key)",
            "access_key",
        ))
        .with_priority(2)
        .mount(&server)
        .await;
    server
}

/// A server that answers every request with `response`.
async fn answering(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

#[track_caller]
fn assert_clean(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{s:?} leaked into:\n{text}");
    }
}

/// The GSM 03.38 basic character set (no escape-table characters, so one character = one septet).
fn is_gsm7_basic(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || " @$\n\r_!\"#%&'()*+,-./:;<=>?".contains(c)
        || "£¥èéùìòÇØøÅåÄÖÑÜ§¿äöñüà".contains(c)
}

// ---- Twilio ----

#[tokio::test]
async fn twilio_sends_one_form_post_with_basic_auth() {
    let server = fake_twilio().await;
    let sms = twilio(&server.uri(), TOKEN, 5);
    sms.send_code(&to(), &code(), Lang::Nl).await.unwrap();

    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method.as_str(), "POST");
    assert_eq!(r.url.path(), messages_path());
    assert_eq!(
        r.headers.get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
    let fields = form(&r.body);
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["To", "From", "Body", "ValidityPeriod"]);
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_eq!(get("To"), TO);
    assert_eq!(get("From"), FROM);
    assert_eq!(
        get("Body"),
        format!(
            "Je verificatiecode voor wachtwoordherstel: {CODE}. Geldig 10 minuten. Deel deze code met niemand."
        )
    );
    assert_eq!(get("ValidityPeriod"), "600");
}

#[tokio::test]
async fn twilio_through_a_messaging_service_sends_no_from() {
    let server = fake_twilio().await;
    let mut config = twilio_config(&server.uri(), TOKEN, 5);
    config.from = None;
    config.messaging_service_sid = Some(SERVICE_SID.into());
    let sms = TwilioSms::new(&config, l10n()).unwrap();
    sms.send_code(&to(), &code(), Lang::En).await.unwrap();
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    let fields = form(&reqs[0].body);
    assert!(fields
        .iter()
        .any(|(k, v)| k == "MessagingServiceSid" && v == SERVICE_SID));
    assert!(!fields.iter().any(|(k, _)| k == "From"));

    // Both or neither is a configuration error, found at start-up.
    config.from = Some(FROM.into());
    assert!(TwilioSms::new(&config, l10n()).is_err());
    config.from = None;
    config.messaging_service_sid = None;
    assert!(TwilioSms::new(&config, l10n()).is_err());
}

#[tokio::test]
async fn twilio_with_a_wrong_token_fails_without_leaking() {
    let server = fake_twilio().await;
    let wrong = "tw-wrong-token-0000aaaa";
    let sms = twilio(&server.uri(), wrong, 5);
    let (result, logs) = logs_of(sms.send_code(&to(), &code(), Lang::Nl)).await;
    let err = result.unwrap_err();
    assert_eq!(err.provider, "twilio");
    let shown = err.to_string();
    assert!(shown.contains("401"), "{shown}");
    assert!(
        shown.contains("20003") && shown.contains("Authenticate"),
        "{shown}"
    );
    let debug = format!("{err:?} {sms:?}");
    for text in [&shown, &debug, &logs] {
        assert_clean(text, &[wrong, TOKEN, CODE, TO, "Authorization", "Basic "]);
    }
    assert!(logs.contains("WARN") && logs.contains("twilio"), "{logs}");
    assert_eq!(requests(&server).await.len(), 1, "no retry");
}

#[tokio::test]
async fn twilio_500_is_a_provider_error_and_a_warning() {
    let server = answering(twilio_error(500, 20500, "Internal Server Error")).await;
    let sms = twilio(&server.uri(), TOKEN, 5);
    let (result, logs) = logs_of(sms.send_code(&to(), &code(), Lang::Nl)).await;
    let err = result.unwrap_err();
    assert_eq!(err.provider, "twilio");
    assert!(err.to_string().contains("500"), "{err}");
    assert!(logs.contains("WARN") && logs.contains("500"), "{logs}");
    assert_clean(&format!("{err} {logs}"), &[TOKEN, CODE, TO]);
    assert_eq!(requests(&server).await.len(), 1, "no retry");

    // A body that is not Twilio's JSON (a proxy's HTML page) still gives the status.
    let server =
        answering(ResponseTemplate::new(502).set_body_string("<html>Bad gateway</html>")).await;
    let err = twilio(&server.uri(), TOKEN, 5)
        .send_code(&to(), &code(), Lang::Nl)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "twilio could not deliver: HTTP 502");
}

#[tokio::test]
async fn twilio_error_messages_that_echo_the_number_are_scrubbed() {
    let server = answering(twilio_error(
        400,
        21211,
        &format!("The 'To' number {TO} is not a valid phone number."),
    ))
    .await;
    let err = twilio(&server.uri(), TOKEN, 5)
        .send_code(&to(), &code(), Lang::Nl)
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("21211") && shown.contains("not a valid phone number"),
        "{shown}"
    );
    assert_clean(&shown, &[TO, &TO[1..]]);
}

#[tokio::test]
async fn twilio_timeout_is_one_request_and_a_provider_error() {
    let server = answering(
        ResponseTemplate::new(201)
            .set_body_json(json!({"sid": "SMlate"}))
            .set_delay(Duration::from_secs(60)),
    )
    .await;
    let sms = twilio(&server.uri(), TOKEN, 1);
    let started = std::time::Instant::now();
    let (result, logs) = logs_of(sms.send_code(&to(), &code(), Lang::Nl)).await;
    let err = result.unwrap_err();
    // Far below the server's 60 s, however loaded the machine: it gave up at its own timeout.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "gave up after the timeout"
    );
    assert_eq!(err.provider, "twilio");
    assert!(err.reason.contains("no answer within 1 s"), "{err}");
    assert!(logs.contains("WARN") && logs.contains("twilio"), "{logs}");
    assert_clean(&format!("{err} {logs}"), &[TOKEN, CODE, TO, SID]);
    // Give a retry every chance to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        requests(&server).await.len(),
        1,
        "exactly one request: no retry"
    );
}

#[tokio::test]
async fn twilio_unreachable_is_a_provider_error() {
    // A port nobody listens on (bound and released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = twilio(&format!("http://127.0.0.1:{port}"), TOKEN, 2)
        .send_code(&to(), &code(), Lang::Nl)
        .await
        .unwrap_err();
    assert_eq!(err.provider, "twilio");
    assert_clean(&err.to_string(), &[TOKEN, CODE, SID, "127.0.0.1"]);
}

// ---- Bird ----

#[tokio::test]
async fn bird_sends_one_json_post_with_the_access_key() {
    let server = fake_bird().await;
    let sms = bird(&server.uri(), BIRD_KEY, 5);
    sms.send_code(&to(), &code(), Lang::En).await.unwrap();

    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method.as_str(), "POST");
    assert_eq!(r.url.path(), "/messages");
    assert_eq!(
        r.headers.get("authorization").unwrap(),
        &format!("AccessKey {BIRD_KEY}")
    );
    assert_eq!(r.headers.get("content-type").unwrap(), "application/json");
    let mut body: Value = serde_json::from_slice(&r.body).unwrap();
    let reference = body["reference"].take();
    assert!(
        reference
            .as_str()
            .is_some_and(|s| s.starts_with("sspr-") && s.len() > 20),
        "{reference}"
    );
    assert_eq!(
        body,
        json!({
            "recipients": ["31612345678"],
            "originator": ORIGINATOR,
            "body": format!("Your password reset verification code: {CODE}. Valid for 10 minutes. Do not share this code with anyone."),
            "reference": null,
            "validity": 600,
        })
    );

    // Each request has its own reference.
    sms.send_code(&to(), &code(), Lang::En).await.unwrap();
    let reqs = requests(&server).await;
    let reference_of =
        |r: &Request| serde_json::from_slice::<Value>(&r.body).unwrap()["reference"].clone();
    assert_ne!(reference_of(&reqs[0]), reference_of(&reqs[1]));
}

#[tokio::test]
async fn bird_with_a_wrong_key_fails_without_leaking() {
    let server = fake_bird().await;
    let wrong = "live_wrongKey000000000";
    let sms = bird(&server.uri(), wrong, 5);
    let (result, logs) = logs_of(sms.send_code(&to(), &code(), Lang::Nl)).await;
    let err = result.unwrap_err();
    assert_eq!(err.provider, "bird");
    let shown = err.to_string();
    assert!(shown.contains("401"), "{shown}");
    assert!(shown.contains("incorrect access_key"), "{shown}");
    let debug = format!("{err:?} {sms:?}");
    for text in [&shown, &debug, &logs] {
        assert_clean(text, &[wrong, BIRD_KEY, CODE, TO, &TO[1..], "AccessKey "]);
    }
    assert!(logs.contains("WARN") && logs.contains("bird"), "{logs}");
    assert_eq!(requests(&server).await.len(), 1, "no retry");
}

#[tokio::test]
async fn bird_500_is_a_provider_error_and_a_warning() {
    let server = answering(ResponseTemplate::new(500).set_body_json(json!({
        "errors": [{"code": 99, "description": "Internal error", "parameter": null}]
    })))
    .await;
    let sms = bird(&server.uri(), BIRD_KEY, 5);
    let (result, logs) = logs_of(sms.send_code(&to(), &code(), Lang::Nl)).await;
    let err = result.unwrap_err();
    assert_eq!(err.provider, "bird");
    assert_eq!(
        err.to_string(),
        "bird could not deliver: HTTP 500: error 99: Internal error"
    );
    assert!(logs.contains("WARN") && logs.contains("500"), "{logs}");
    assert_clean(&format!("{err} {logs}"), &[BIRD_KEY, CODE, &TO[1..]]);
    assert_eq!(requests(&server).await.len(), 1, "no retry");
}

#[tokio::test]
async fn bird_timeout_is_one_request_and_a_provider_error() {
    let server = answering(
        ResponseTemplate::new(201)
            .set_body_json(json!({"id": "late"}))
            .set_delay(Duration::from_secs(3)),
    )
    .await;
    let sms = bird(&server.uri(), BIRD_KEY, 1);
    let err = sms.send_code(&to(), &code(), Lang::Nl).await.unwrap_err();
    assert_eq!(err.provider, "bird");
    assert!(err.reason.contains("no answer within 1 s"), "{err}");
    assert_clean(&err.to_string(), &[BIRD_KEY, CODE, &TO[1..]]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        requests(&server).await.len(),
        1,
        "exactly one request: no retry"
    );
}

#[tokio::test]
async fn bird_rejects_a_bad_originator_at_start_up() {
    let mut config = bird_config("http://127.0.0.1:9", BIRD_KEY, 5);
    config.originator = Some("Bedrijf Servicedesk".into()); // more than 11 characters
    assert!(BirdSms::new(&config, l10n()).is_err());
    config.originator = None;
    let err = BirdSms::new(&config, l10n()).unwrap_err();
    assert_clean(&format!("{err:#}"), &[BIRD_KEY]);
}

// ---- the text ----

#[tokio::test]
async fn the_text_follows_the_language_and_fits_one_sms() {
    let server = fake_twilio().await;
    let sms = twilio(&server.uri(), TOKEN, 5);
    sms.send_code(&to(), &code(), Lang::Nl).await.unwrap();
    sms.send_code(&to(), &code(), Lang::En).await.unwrap();
    let bodies: Vec<String> = requests(&server)
        .await
        .iter()
        .map(|r| {
            form(&r.body)
                .into_iter()
                .find(|(k, _)| k == "Body")
                .unwrap()
                .1
        })
        .collect();
    assert!(bodies[0].starts_with("Je verificatiecode"), "{}", bodies[0]);
    assert!(
        bodies[1].starts_with("Your password reset verification code"),
        "{}",
        bodies[1]
    );
    for b in &bodies {
        assert!(b.contains(CODE), "{b}");
        assert!(
            b.chars().count() <= 160,
            "{} characters: {b}",
            b.chars().count()
        );
        assert!(b.chars().all(is_gsm7_basic), "not GSM-7: {b}");
    }
}

// ---- end to end through the core ----

/// The demo app, except that SMS goes to a Twilio fake at `base`.
async fn app_with_twilio(base: &str) -> TestApp {
    let mut t = TestApp::with_providers(|outbox, l10n| Providers {
        sms: Some(Arc::new(
            TwilioSms::new(&twilio_config(base, TOKEN, 2), l10n).unwrap(),
        )),
        ..outbox
    })
    .await;
    t.as_chat("test:sms-1", "test:user-sms-1");
    t
}

#[tokio::test]
async fn jan_passes_sms_through_twilio() {
    let server = fake_twilio().await;
    let t = app_with_twilio(&server.uri()).await;
    let choose = t.start(JAN, "reason:forgot").await;
    TestApp::offered(&choose, "method:sms");
    t.press("method:sms").await.expect("*****66");
    assert!(
        requests(&server).await.is_empty(),
        "nothing sent before the number is checked"
    );
    t.say("0612345666").await.expect("*****66");

    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 1);
    let fields = form(&reqs[0].body);
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_eq!(get("To"), "+31612345666");
    let body = get("Body");
    assert!(body.starts_with("Je verificatiecode"), "{body}");
    let code: String = body.chars().filter(char::is_ascii_digit).take(6).collect();
    assert_eq!(code.len(), 6, "{body}");
    assert!(body.contains(&code));

    t.say(&code).await.expect("tweede, andere");
    let audit = t.audit(JAN).await;
    let sms = Some("sms".to_string());
    assert!(
        audit.contains(&("code_sent".into(), sms.clone(), "ok".into())),
        "{audit:?}"
    );
    assert!(
        audit.iter().any(|(_, m, o)| *m == sms && o == "passed"),
        "{audit:?}"
    );
    assert!(
        !t.outbox_lines().await.iter().any(|l| l["channel"] == "sms"),
        "the SMS went to Twilio, not to the outbox"
    );
    assert_clean(&t.all_stored_text().await, &[TOKEN, &code]);
}

#[tokio::test]
async fn a_twilio_outage_tells_jan_and_is_audited() {
    let server = answering(twilio_error(500, 20500, "Internal Server Error")).await;
    let t = app_with_twilio(&server.uri()).await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:sms").await.expect("*****66");
    let shown = t.say("0612345666").await;
    shown.expect("Het lukt nu even niet");
    // The other methods are offered straight away.
    TestApp::offered(&shown, "method:email");
    shown.expect("Verificatiestap 1 van 2");
    // The outage shows in /metrics.
    let metrics = t.app.core.metrics().encode();
    assert!(
        metrics.contains("sspr_provider_errors_total{provider=\"twilio\",method=\"sms\"} 1"),
        "{metrics}"
    );
    assert_eq!(
        requests(&server).await.len(),
        1,
        "one SMS request, no retry"
    );
    let audit = t.audit(JAN).await;
    assert!(
        audit.contains(&(
            "code_sent".into(),
            Some("sms".into()),
            "provider_error".into()
        )),
        "{audit:?}"
    );
    assert!(
        !audit.iter().any(|(e, _, o)| e == "code_sent" && o == "ok"),
        "{audit:?}"
    );
    assert_clean(&shown.text(), &[TOKEN, "500", "twilio"]);
}
