//! The verification call through Twilio: a wiremock fake of the Calls API that checks what Twilio
//! checks (path, Basic auth, the form), and sspr-bot's callback router on a real listener, called
//! the way Twilio calls it — signed with `X-Twilio-Signature` by a signer written here from
//! Twilio's documentation, independently of the production one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use sspr_bot::config::{Secret, SmsConfig, SmsProvider, TwilioAccount};
use sspr_bot::dialogue::{Lang, State};
use sspr_bot::domain::PhoneNumber;
use sspr_bot::i18n::Localizer;
use sspr_bot::providers::twilio::TwilioSms;
use sspr_bot::providers::twilio_voice::{self, TwilioVoice};
use sspr_bot::providers::{Providers, VoiceCaller};
use sspr_bot::recovery::{ChatRef, Core, Outbound, PhoneAnswer, Rules, TurnOutput};
use wiremock::matchers::{basic_auth, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::*;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "tw-voice-auth-token-5ecr3t-1a2b3c";
const FROM: &str = "+3197010203040";
const JAN_MOBILE: &str = "+31612345666";
/// What Twilio reaches sspr-bot at (behind a proxy): not the address the test server listens on.
const PUBLIC_URL: &str = "https://sspr.bedrijf.example";

fn calls_path() -> String {
    format!("/2010-04-01/Accounts/{SID}/Calls.json")
}

fn messages_path() -> String {
    format!("/2010-04-01/Accounts/{SID}/Messages.json")
}

// ---- Twilio's signature, from its documentation ----

/// `X-Twilio-Signature`: take the full URL Twilio requested (with its query), append every POST
/// parameter sorted by name as name followed by value, HMAC-SHA1 it with the auth token, base64.
fn twilio_sign(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(b.1)));
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[test]
fn the_test_signer_reproduces_twilios_documented_example() {
    let params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675310"),
        ("Digits", "1234"),
        ("From", "+14158675310"),
        ("To", "+18005551212"),
    ];
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    assert_eq!(
        twilio_sign("12345", url, &params),
        "GvWf1cFY/Q7PnoempGyD5oXAezc="
    );
    // And the production verifier agrees with it.
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert!(twilio_voice::signature_matches(
        "12345",
        url,
        &owned,
        "GvWf1cFY/Q7PnoempGyD5oXAezc="
    ));
    assert!(!twilio_voice::signature_matches(
        "12345",
        url,
        &owned[1..],
        "GvWf1cFY/Q7PnoempGyD5oXAezc="
    ));
}

// ---- the fake Calls API ----

fn fields(req: &Request) -> HashMap<String, String> {
    form(&req.body).into_iter().collect()
}

fn twilio_error(status: u16, code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    }))
}

/// Twilio's Calls resource once the credentials matched: checks the form like Twilio does.
struct TwilioCalls;

impl Respond for TwilioCalls {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let content_type = req
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            return twilio_error(400, 20001, "Unsupported content type");
        }
        let f = fields(req);
        let get = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
        let e164 = |n: &str| {
            n.starts_with('+') && n.len() > 8 && n[1..].bytes().all(|b| b.is_ascii_digit())
        };
        if !e164(get("To")) {
            return twilio_error(400, 21201, "No 'To' number is specified");
        }
        if !e164(get("From")) {
            return twilio_error(400, 21213, "No 'From' number is specified");
        }
        if !get("Url").starts_with("https://") {
            return twilio_error(400, 21205, "Url is not a valid URL");
        }
        if !matches!(get("Method"), "" | "GET" | "POST")
            || !matches!(get("StatusCallbackMethod"), "" | "GET" | "POST")
        {
            return twilio_error(400, 21206, "Method is not valid");
        }
        if f.contains_key("StatusCallback") && !get("StatusCallback").starts_with("https://") {
            return twilio_error(400, 21609, "Invalid StatusCallback");
        }
        if get("StatusCallbackEvent")
            .split(' ')
            .any(|e| !["initiated", "ringing", "answered", "completed"].contains(&e))
        {
            return twilio_error(400, 21626, "Invalid StatusCallbackEvent");
        }
        if f.contains_key("Timeout") && get("Timeout").parse::<u32>().is_err() {
            return twilio_error(400, 21216, "Invalid Timeout");
        }
        ResponseTemplate::new(201).set_body_json(json!({
            "sid": "CA0123456789abcdef0123456789abcdef",
            "account_sid": SID,
            "to": get("To"),
            "from": get("From"),
            "status": "queued",
        }))
    }
}

/// A fake Twilio: the Calls resource (and Messages, for the whole reset) behind Basic auth;
/// wrong credentials get Twilio's 401.
async fn fake_twilio() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(calls_path()))
        .and(basic_auth(SID, TOKEN))
        .respond_with(TwilioCalls)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .and(basic_auth(SID, TOKEN))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"}),
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(twilio_error(401, 20003, "Authenticate"))
        .with_priority(2)
        .mount(&server)
        .await;
    server
}

async fn answering(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(response)
        .mount(&server)
        .await;
    server
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

fn account(base: &str, token: &str, timeout_secs: u64) -> TwilioAccount {
    TwilioAccount {
        base_url: base.to_string(),
        account_sid: SID.into(),
        auth_token: Secret::new(token),
        from: FROM.into(),
        timeout_secs,
    }
}

fn l10n() -> Arc<Localizer> {
    Arc::new(Localizer::new().unwrap())
}

#[track_caller]
fn assert_clean(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{s:?} leaked into:\n{text}");
    }
}

// ---- the app, its callback server and Twilio's side of a call ----

/// What the core delivered to the chat after a callback (late results).
#[derive(Default)]
struct Delivered(Mutex<Vec<TurnOutput>>);

#[async_trait::async_trait]
impl Outbound for Delivered {
    async fn deliver(&self, _chat: &ChatRef, out: TurnOutput) {
        self.0.lock().unwrap().push(out);
    }
}

struct VoiceApp {
    t: TestApp,
    /// Where the callback router really listens (`http://127.0.0.1:…`).
    local: String,
    http: reqwest::Client,
    delivered: Arc<Delivered>,
}

/// The demo app with calls (and, with `sms`, SMS) through the Twilio fake at `base`, and the
/// callback router served on a local port.
async fn voice_app(base: &str, timeout_secs: u64, sms: bool) -> VoiceApp {
    // The demo app (accounts, outbox), then a second core on the same store with Twilio in it.
    let mut t = TestApp::new().await;
    t.as_chat("test:voice-1", "test:user-voice-1");
    let localizer = t.app.localizer.clone();
    let voice = TwilioVoice::new(
        &account(base, TOKEN, timeout_secs),
        PUBLIC_URL,
        localizer.clone(),
    )
    .unwrap();
    let mut providers = Providers {
        voice: Some(Arc::new(voice)),
        ..Providers::outbox(t.app.outbox.clone().expect("the demo app has an outbox"))
    };
    if sms {
        let config = SmsConfig {
            provider: SmsProvider::Twilio,
            base_url: Some(base.to_string()),
            account_sid: Some(SID.into()),
            auth_token: Some(Secret::new(TOKEN)),
            auth_token_file: None,
            from: Some(FROM.into()),
            messaging_service_sid: None,
            access_key: None,
            access_key_file: None,
            originator: None,
            timeout_secs,
        };
        providers.sms = Some(Arc::new(
            TwilioSms::new(&config, localizer.clone()).unwrap(),
        ));
    }
    let core = Arc::new(Core::new(
        t.app.store.clone(),
        t.app.directory.clone(),
        providers,
        t.app.core.keys().clone(),
        t.clock.clone(),
        Rules::default(),
    ));
    let delivered = Arc::new(Delivered::default());
    core.register_outbound("test", delivered.clone());
    t.app.core = core.clone();

    let router = twilio_voice::router(core, localizer, Secret::new(TOKEN), PUBLIC_URL.to_string());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    VoiceApp {
        t,
        local,
        http: reqwest::Client::new(),
        delivered,
    }
}

/// The parameters Twilio sends with every voice request about Jan's call.
fn call_params(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut p = vec![
        ("AccountSid", SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("Called", JAN_MOBILE),
        ("Caller", FROM),
        ("Direction", "outbound-api"),
        ("From", FROM),
        ("To", JAN_MOBILE),
    ];
    p.extend_from_slice(extra);
    p
}

impl VoiceApp {
    /// POSTs to `public_url` (a URL under [`PUBLIC_URL`]) as Twilio would: the form `params`, and
    /// the signature `signature` (None: no header at all).
    async fn post_as_twilio(
        &self,
        public_url: &str,
        params: &[(&str, &str)],
        signature: Option<String>,
    ) -> reqwest::Response {
        let path_and_query = public_url
            .strip_prefix(PUBLIC_URL)
            .unwrap_or_else(|| panic!("{public_url} is not under {PUBLIC_URL}"));
        let mut req = self
            .http
            .post(format!("{}{path_and_query}", self.local))
            .form(params);
        if let Some(s) = signature {
            req = req.header("X-Twilio-Signature", s);
        }
        req.send().await.unwrap()
    }

    /// A request Twilio signed.
    async fn signed(&self, public_url: &str, params: &[(&str, &str)]) -> reqwest::Response {
        let sig = twilio_sign(TOKEN, public_url, params);
        self.post_as_twilio(public_url, params, Some(sig)).await
    }

    /// The one call placed so far: its form fields.
    async fn the_call(&self, server: &MockServer) -> HashMap<String, String> {
        let calls = requests_to(server, &calls_path()).await;
        assert_eq!(calls.len(), 1, "exactly one call");
        fields(&calls[0])
    }

    /// Twilio fetching the script of `call`: returns the TwiML and the gather action URL.
    async fn fetch_twiml(&self, call: &HashMap<String, String>) -> (String, String) {
        let resp = self
            .signed(&call["Url"], &call_params(&[("CallStatus", "in-progress")]))
            .await;
        assert_eq!(resp.status(), 200);
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with("text/xml"), "{content_type}");
        let twiml = resp.text().await.unwrap();
        let action = attribute(&twiml, "Gather", "action");
        (twiml, action)
    }

    /// The chat messages delivered after callbacks, rendered; empty deliveries left out.
    fn chat(&self) -> Vec<String> {
        let l10n = &self.t.app.localizer;
        self.delivered
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|out| !out.replies.is_empty())
            .map(|out| {
                out.replies
                    .iter()
                    .map(|r| {
                        for t in &r.texts {
                            l10n.try_text(out.lang, t).unwrap_or_else(|e| panic!("{e}"));
                        }
                        let rendered = l10n.render(out.lang, r);
                        let buttons: Vec<_> =
                            rendered.buttons.iter().map(|b| b.id.clone()).collect();
                        format!("{} {buttons:?}", rendered.text)
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect()
    }

    async fn state(&self) -> State {
        self.t
            .app
            .store
            .load_conversation(&self.t.chat.conversation)
            .await
            .unwrap()
            .unwrap()
            .state
    }

    async fn call_audit(&self) -> Vec<(String, String)> {
        self.t
            .audit(JAN)
            .await
            .into_iter()
            .filter(|(_, m, _)| m.as_deref() == Some("call"))
            .map(|(e, _, o)| (e, o))
            .collect()
    }

    /// Steps 1–6: Jan forgot his password, picks the call and types his number.
    async fn jan_asks_for_a_call(&self, server: &MockServer) -> crate::support::Shown {
        let choose = self.t.start(JAN, "reason:forgot").await;
        TestApp::offered(&choose, "method:call");
        self.t.press("method:call").await.expect("*****66");
        assert!(
            requests_to(server, &calls_path()).await.is_empty(),
            "no call before the number is checked"
        );
        self.t.say("0612345666").await
    }
}

/// The value of `attr` on the first `<element …>` in `xml`, XML entities decoded.
fn attribute(xml: &str, element: &str, attr: &str) -> String {
    let start = xml
        .find(&format!("<{element} "))
        .unwrap_or_else(|| panic!("no <{element}> in {xml}"));
    let tag = &xml[start..start + xml[start..].find('>').unwrap()];
    let key = format!(" {attr}=\"");
    let from = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {attr} in {tag}"))
        + key.len();
    let value = &tag[from..from + tag[from..].find('"').unwrap()];
    value
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The outcomes of the `call_placed` audit rows.
fn placed(audit: &[(String, String)]) -> Vec<&str> {
    audit
        .iter()
        .filter(|(e, _)| e == "call_placed")
        .map(|(_, o)| o.as_str())
        .collect()
}

fn count(audit: &[(String, String)], event: &str) -> usize {
    audit.iter().filter(|(e, _)| e == event).count()
}

// ---- placing the call ----

#[tokio::test]
async fn jan_is_called_once_with_the_script_and_status_urls_on_the_public_address() {
    let server = fake_twilio().await;
    let v = voice_app(&server.uri(), 5, false).await;
    v.jan_asks_for_a_call(&server)
        .await
        .expect("We bellen je nu op *****66");

    let call = v.the_call(&server).await;
    assert_eq!(call["To"], JAN_MOBILE);
    assert_eq!(call["From"], FROM);
    assert_eq!(call["Method"], "POST");
    assert_eq!(call["StatusCallbackEvent"], "completed");
    assert_eq!(call["StatusCallbackMethod"], "POST");
    assert_eq!(call["Timeout"], "30");
    let twiml_url = &call["Url"];
    let id = twiml_url
        .strip_prefix(&format!("{PUBLIC_URL}/twilio/voice/twiml?call_id="))
        .and_then(|rest| rest.strip_suffix("&lang=nl"))
        .unwrap_or_else(|| panic!("{twiml_url}"));
    assert!(
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{id}"
    );
    assert_eq!(
        call["StatusCallback"],
        format!("{PUBLIC_URL}/twilio/voice/status?call_id={id}")
    );
    assert!(matches!(v.state().await, State::AwaitCall { .. }));
    assert_eq!(placed(&v.call_audit().await), ["ok"]);
    assert_clean(&v.t.all_stored_text().await, &[TOKEN]);
}

#[tokio::test]
async fn a_wrong_token_is_twilios_401_and_no_secret_in_the_error() {
    let server = fake_twilio().await;
    let voice = TwilioVoice::new(
        &account(&server.uri(), "wrong-token-0000", 5),
        PUBLIC_URL,
        l10n(),
    )
    .unwrap();
    let to = PhoneNumber::parse(JAN_MOBILE).unwrap();
    let (result, logs) = logs_of(voice.place_call(&to, "c0ffee", Lang::En)).await;
    let err = result.unwrap_err();
    assert_eq!(err.provider, "twilio");
    assert!(
        err.reason.contains("401") && err.reason.contains("20003"),
        "{err}"
    );
    assert_eq!(requests_to(&server, &calls_path()).await.len(), 1);
    for text in [
        err.to_string(),
        format!("{err:?}"),
        format!("{voice:?}"),
        logs,
    ] {
        assert_clean(
            &text,
            &["wrong-token-0000", TOKEN, JAN_MOBILE, "31612345666"],
        );
    }
}

#[tokio::test]
async fn a_twilio_500_tells_jan_and_is_audited_without_a_retry() {
    let server = answering(twilio_error(
        500,
        20500,
        "Internal Server Error for +31612345666",
    ))
    .await;
    let v = voice_app(&server.uri(), 5, false).await;
    let (shown, logs) = logs_of(v.jan_asks_for_a_call(&server)).await;
    shown.expect("Het lukt nu even niet");
    assert_eq!(
        requests_to(&server, &calls_path()).await.len(),
        1,
        "one call request, no retry"
    );
    assert_eq!(
        placed(&v.call_audit().await),
        ["provider_error"],
        "audited once, as a provider error"
    );
    assert!(logs.contains("HTTP 500: error 20500"), "{logs}");
    assert_clean(&logs, &[TOKEN, JAN_MOBILE, "31612345666"]);
    assert_clean(&shown.text(), &[TOKEN, "500", "twilio"]);
}

#[tokio::test]
async fn a_twilio_timeout_is_one_request_and_the_same_apology() {
    let server = answering(
        ResponseTemplate::new(201)
            .set_body_json(json!({"sid": "CA0123456789abcdef0123456789abcdef"}))
            .set_delay(Duration::from_secs(3)),
    )
    .await;
    let v = voice_app(&server.uri(), 1, false).await;
    let started = std::time::Instant::now();
    let (shown, logs) = logs_of(v.jan_asks_for_a_call(&server)).await;
    shown.expect("Het lukt nu even niet");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "gave up after the 1 s timeout"
    );
    // Let a retry, if there were one, reach the fake.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        requests_to(&server, &calls_path()).await.len(),
        1,
        "exactly one request"
    );
    assert_eq!(
        placed(&v.call_audit().await),
        ["provider_error"],
        "audited once, as a provider error"
    );
    assert!(logs.contains("not retried"), "{logs}");
    assert_clean(&logs, &[TOKEN, JAN_MOBILE]);
}

// ---- the callbacks ----

#[tokio::test]
async fn the_script_is_a_dutch_gather_of_one_key_and_hash_confirms() {
    let server = fake_twilio().await;
    let v = voice_app(&server.uri(), 5, false).await;
    v.jan_asks_for_a_call(&server).await;
    let call = v.the_call(&server).await;

    let (twiml, action) = v.fetch_twiml(&call).await;
    assert!(
        twiml.contains("<Response>") && twiml.contains("</Response>"),
        "{twiml}"
    );
    assert_eq!(attribute(&twiml, "Gather", "input"), "dtmf");
    assert_eq!(attribute(&twiml, "Gather", "numDigits"), "1");
    assert_eq!(attribute(&twiml, "Gather", "method"), "POST");
    assert_eq!(attribute(&twiml, "Gather", "actionOnEmptyResult"), "true");
    // `#` is the key we want, so it must not end the input (Twilio's default finishOnKey).
    assert_eq!(attribute(&twiml, "Gather", "finishOnKey"), "");
    assert_eq!(attribute(&twiml, "Say", "language"), "nl-NL");
    assert!(
        twiml.contains("Druk op hekje om te bevestigen dat jij dit bent"),
        "{twiml}"
    );
    assert!(
        action.starts_with(&format!("{PUBLIC_URL}/twilio/voice/gather?call_id=")),
        "{action}"
    );

    let resp = v
        .signed(
            &action,
            &call_params(&[("Digits", "#"), ("CallStatus", "in-progress")]),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let reply = resp.text().await.unwrap();
    assert!(
        reply.contains("<Hangup/>") && reply.contains("Bedankt"),
        "{reply}"
    );

    let audit = v.call_audit().await;
    assert!(
        audit.contains(&("call_answered".into(), "passed".into())),
        "{audit:?}"
    );
    let chat = v.chat();
    assert_eq!(chat.len(), 1, "{chat:?}");
    assert!(
        chat[0].contains("Gelukt! Kies nu een tweede, andere methode"),
        "{chat:?}"
    );
    assert!(
        !chat[0].contains("method:call"),
        "the call passed: not offered again\n{chat:?}"
    );
    match v.state().await {
        State::ChooseMethod { rec } => assert_eq!(rec.passed, [sspr_bot::domain::Method::Call]),
        other => panic!("{other:?}"),
    }

    // Twilio then reports the end of the call: nothing new.
    let status_url = &call["StatusCallback"];
    let resp = v
        .signed(
            status_url,
            &call_params(&[("CallStatus", "completed"), ("CallDuration", "14")]),
        )
        .await;
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(v.call_audit().await, audit);
    assert_eq!(v.chat().len(), 1);
}

#[tokio::test]
async fn a_repeated_gather_callback_is_processed_once() {
    let server = fake_twilio().await;
    let v = voice_app(&server.uri(), 5, false).await;
    v.jan_asks_for_a_call(&server).await;
    let call = v.the_call(&server).await;
    let (_, action) = v.fetch_twiml(&call).await;
    let params = call_params(&[("Digits", "#"), ("CallStatus", "in-progress")]);
    for _ in 0..2 {
        let resp = v.signed(&action, &params).await;
        assert_eq!(resp.status(), 200);
    }
    // And once more straight into the core, as a third delivery.
    let id = call["StatusCallback"]
        .rsplit("call_id=")
        .next()
        .unwrap()
        .to_string();
    assert!(v
        .t
        .app
        .core
        .late_result(&id, PhoneAnswer::CallKeys('#'))
        .await
        .unwrap());

    let audit = v.call_audit().await;
    assert_eq!(count(&audit, "call_answered"), 1, "{audit:?}");
    let passed =
        v.t.audit(JAN)
            .await
            .into_iter()
            .filter(|(_, _, o)| o == "passed")
            .count();
    assert_eq!(passed, 1);
    assert_eq!(v.chat().len(), 1, "the chat heard it once: {:?}", v.chat());
}

#[tokio::test]
async fn another_key_or_silence_does_not_confirm() {
    for (digits, said) in [(Some("1"), "Bedankt"), (None, "geen toets gehoord")] {
        let server = fake_twilio().await;
        let v = voice_app(&server.uri(), 5, false).await;
        v.jan_asks_for_a_call(&server).await;
        let call = v.the_call(&server).await;
        let (_, action) = v.fetch_twiml(&call).await;
        let extra: Vec<(&str, &str)> = match digits {
            Some(d) => vec![("Digits", d), ("CallStatus", "in-progress")],
            // Silence: Twilio posts to the action without digits (actionOnEmptyResult).
            None => vec![("CallStatus", "in-progress")],
        };
        let mut params = call_params(&[]);
        params.extend(extra);
        let resp = v.signed(&action, &params).await;
        assert_eq!(resp.status(), 200);
        let reply = resp.text().await.unwrap();
        assert!(
            reply.contains(said) && reply.contains("<Hangup/>"),
            "{reply}"
        );
        let audit = v.call_audit().await;
        assert!(
            audit.contains(&("call_answered".into(), "failed".into())),
            "{digits:?}: {audit:?}"
        );
        assert!(!audit.iter().any(|(_, o)| o == "passed"), "{audit:?}");
        let chat = v.chat();
        assert!(
            chat.len() == 1 && chat[0].contains("Dat klopt niet"),
            "{chat:?}"
        );
    }
}

#[tokio::test]
async fn forged_callbacks_are_refused_and_change_nothing() {
    let server = fake_twilio().await;
    let v = voice_app(&server.uri(), 5, false).await;
    v.jan_asks_for_a_call(&server).await;
    let call = v.the_call(&server).await;
    let (_, action) = v.fetch_twiml(&call).await;
    let status_url = call["StatusCallback"].clone();
    let hash = call_params(&[("Digits", "#"), ("CallStatus", "in-progress")]);
    let one = call_params(&[("Digits", "1"), ("CallStatus", "in-progress")]);
    let busy = call_params(&[("CallStatus", "busy")]);
    let local_url = action.replace(PUBLIC_URL, &v.local);
    /// What is wrong with it, the URL posted to, the form, the signature header.
    type Forgery<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Option<String>);
    let forgeries: Vec<Forgery> = vec![
        ("no signature", action.as_str(), &hash[..], None),
        (
            "empty signature",
            action.as_str(),
            &hash[..],
            Some(String::new()),
        ),
        (
            "garbage",
            action.as_str(),
            &hash[..],
            Some("not-a-signature".into()),
        ),
        (
            "another token",
            action.as_str(),
            &hash[..],
            Some(twilio_sign("another-token", &action, &hash)),
        ),
        (
            "signed '1', sent '#'",
            action.as_str(),
            &hash[..],
            Some(twilio_sign(TOKEN, &action, &one)),
        ),
        (
            "signed for the listen address",
            action.as_str(),
            &hash[..],
            Some(twilio_sign(TOKEN, &local_url, &hash)),
        ),
        (
            "signed for the twiml URL",
            action.as_str(),
            &hash[..],
            Some(twilio_sign(TOKEN, &call["Url"], &hash)),
        ),
        (
            "signed without parameters",
            action.as_str(),
            &hash[..],
            Some(twilio_sign(TOKEN, &action, &[])),
        ),
        (
            "status without signature",
            status_url.as_str(),
            &busy[..],
            None,
        ),
        (
            "status signed for completed",
            status_url.as_str(),
            &busy[..],
            Some(twilio_sign(
                TOKEN,
                &status_url,
                &call_params(&[("CallStatus", "completed")]),
            )),
        ),
        (
            "script without signature",
            call["Url"].as_str(),
            &hash[..],
            None,
        ),
    ];
    let before = v.t.audit(JAN).await;
    for (what, url, params, sig) in forgeries {
        let resp = v.post_as_twilio(url, params, sig).await;
        assert_eq!(resp.status(), 403, "{what}");
        let body = resp.text().await.unwrap();
        assert!(
            !body.contains("Gather") && !body.contains("Bedankt"),
            "{what}: {body}"
        );
    }
    assert_eq!(v.t.audit(JAN).await, before, "nothing was audited");
    assert!(
        v.chat().is_empty(),
        "nothing reached the chat: {:?}",
        v.chat()
    );
    assert!(matches!(v.state().await, State::AwaitCall { .. }));

    // The call is still open: Twilio's own callback still counts.
    let resp = v.signed(&action, &hash).await;
    assert_eq!(resp.status(), 200);
    assert!(v
        .call_audit()
        .await
        .contains(&("call_answered".into(), "passed".into())));
}

#[tokio::test]
async fn a_busy_phone_reaches_the_chat_and_offers_another_method() {
    let server = fake_twilio().await;
    let v = voice_app(&server.uri(), 5, false).await;
    v.jan_asks_for_a_call(&server).await;
    let call = v.the_call(&server).await;
    let resp = v
        .signed(
            &call["StatusCallback"],
            &call_params(&[("CallStatus", "busy")]),
        )
        .await;
    assert!(resp.status().is_success(), "{}", resp.status());

    let audit = v.call_audit().await;
    assert!(
        audit.contains(&("call_ended".into(), "busy".into())),
        "{audit:?}"
    );
    assert!(
        !audit.iter().any(|(_, o)| o == "failed"),
        "busy is not a failed check: {audit:?}"
    );
    let chat = v.chat();
    assert_eq!(chat.len(), 1, "{chat:?}");
    assert!(chat[0].contains("in gesprek"), "{chat:?}");
    assert!(
        chat[0].contains("method:email") && chat[0].contains("method:call"),
        "{chat:?}"
    );
    assert!(matches!(v.state().await, State::ChooseMethod { .. }));

    // Twilio repeats the callback: processed once.
    let resp = v
        .signed(
            &call["StatusCallback"],
            &call_params(&[("CallStatus", "busy")]),
        )
        .await;
    assert!(resp.status().is_success());
    assert_eq!(count(&v.call_audit().await, "call_ended"), 1);
    assert_eq!(v.chat().len(), 1);
}

#[tokio::test]
async fn no_answer_failed_and_canceled_reach_the_chat_too() {
    for (status, outcome, said) in [
        ("no-answer", "no_answer", "niet opgenomen"),
        ("failed", "failed", "lukte niet om je te bellen"),
        ("canceled", "failed", "lukte niet om je te bellen"),
    ] {
        let server = fake_twilio().await;
        let v = voice_app(&server.uri(), 5, false).await;
        v.jan_asks_for_a_call(&server).await;
        let call = v.the_call(&server).await;
        let resp = v
            .signed(
                &call["StatusCallback"],
                &call_params(&[("CallStatus", status)]),
            )
            .await;
        assert!(resp.status().is_success(), "{status}: {}", resp.status());
        let audit = v.call_audit().await;
        assert!(
            audit.contains(&("call_ended".into(), outcome.into())),
            "{status}: {audit:?}"
        );
        let chat = v.chat();
        assert!(
            chat.len() == 1 && chat[0].contains(said),
            "{status}: {chat:?}"
        );
        assert!(
            matches!(v.state().await, State::ChooseMethod { .. }),
            "{status}"
        );
    }
}

#[tokio::test]
async fn an_english_conversation_gets_an_english_call() {
    let server = fake_twilio().await;
    let v = voice_app(&server.uri(), 5, false).await;
    v.t.say("/taal en").await.expect("English");
    let choose = v.t.start(JAN, "reason:forgot").await;
    TestApp::offered(&choose, "method:call");
    v.t.press("method:call").await;
    v.t.say("0612345666").await.expect("*****66");
    let call = v.the_call(&server).await;
    assert!(call["Url"].ends_with("&lang=en"), "{}", call["Url"]);
    let (twiml, action) = v.fetch_twiml(&call).await;
    assert_eq!(attribute(&twiml, "Say", "language"), "en-GB");
    assert!(twiml.contains("Press the hash key"), "{twiml}");
    let reply = v
        .signed(&action, &call_params(&[("Digits", "#")]))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        reply.contains("Thank you") && reply.contains("en-GB"),
        "{reply}"
    );
    assert!(
        v.chat()[0].contains("second, different method"),
        "{:?}",
        v.chat()
    );
}

// ---- a whole reset ----

#[tokio::test]
async fn jan_resets_his_password_with_a_call_through_twilio_and_an_email_code() {
    let server = fake_twilio().await;
    let v = voice_app(&server.uri(), 5, true).await;
    v.jan_asks_for_a_call(&server).await.expect("*****66");
    let call = v.the_call(&server).await;
    let (_, action) = v.fetch_twiml(&call).await;
    assert_eq!(
        v.signed(&action, &call_params(&[("Digits", "#")]))
            .await
            .status(),
        200
    );
    assert_eq!(
        v.signed(
            &call["StatusCallback"],
            &call_params(&[("CallStatus", "completed")])
        )
        .await
        .status()
        .as_u16()
            / 100,
        2
    );
    assert!(v.chat()[0].contains("tweede, andere"), "{:?}", v.chat());

    // The call and an SMS to the same number are one method: the second is the e-mail code.
    assert!(
        !v.chat()[0].contains("Sms naar mijn telefoon"),
        "{:?}",
        v.chat()
    );
    v.t.press("method:email").await;
    let code = v.t.last_code("email").await;
    v.t.say(&code)
        .await
        .expect("Beide verificatiestappen zijn gelukt");
    v.t.say(GOOD_PASSWORD).await;
    v.t.say(GOOD_PASSWORD)
        .await
        .expect("Je wachtwoord is gewijzigd");
    assert!(v.t.sign_in(JAN, GOOD_PASSWORD).await);
    assert_eq!(
        requests_to(&server, &calls_path()).await.len(),
        1,
        "one call in the whole reset"
    );

    let audit = v.t.audit(JAN).await;
    let passed: Vec<_> = audit
        .iter()
        .filter(|(_, _, o)| o == "passed")
        .filter_map(|(_, m, _)| m.clone())
        .collect();
    assert!(
        passed.contains(&"call".to_string()) && passed.contains(&"email".to_string()),
        "{audit:?}"
    );
    assert!(
        !v.t.outbox_lines()
            .await
            .iter()
            .any(|l| l["channel"] == "voice"),
        "the call went to Twilio, not to the outbox"
    );
    assert_clean(&v.t.all_stored_text().await, &[TOKEN, &code, GOOD_PASSWORD]);
}
