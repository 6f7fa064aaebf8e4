//! The verification call through Twilio's Programmable Voice.
//!
//! Placing a call is one form-encoded `POST {base}/2010-04-01/Accounts/{sid}/Calls.json` with
//! HTTP Basic auth (account SID and auth token). Twilio then fetches the call's script (TwiML)
//! from sspr-bot's own HTTP server and reports back to it:
//!
//! - `POST /twilio/voice/twiml?call_id=…&lang=…` — the script: a `<Say>` in the user's language
//!   inside a `<Gather>` of one DTMF key;
//! - `POST /twilio/voice/gather?call_id=…` — the key that was pressed (`Digits`), or none;
//! - `POST /twilio/voice/status?call_id=…` — how the call ended (`CallStatus`): busy, no answer
//!   and failed reach the chat, which offers another method.
//!
//! Every callback is checked against `X-Twilio-Signature` before anything else happens: Twilio
//! signs the URL it requested (our public URL, path and query) followed by every POST parameter,
//! sorted by name, as name and value; HMAC-SHA1 keyed with the auth token, base64. A request
//! without a matching signature gets 403 and changes nothing.
//!
//! The router must be *merged* into the main router ([`axum::Router::merge`]), not nested: the
//! signature covers the path exactly as Twilio requested it, and the routes carry the full path.
//!
//! At most one call per request: the POST is never retried, because a timeout does not say
//! whether Twilio already placed the call. A repeated callback is harmless: the core answers a
//! challenge once and ignores answers to a closed one. Errors and logs name the HTTP status and
//! Twilio's error code, never the auth token or the number called.

use std::sync::Arc;

use anyhow::{bail, Context};
use async_trait::async_trait;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha1::Sha1;

use super::{ProviderError, VoiceCaller};
use crate::config::{Secret, TwilioAccount};
use crate::dialogue::{CallEnd, Lang, Text};
use crate::domain::PhoneNumber;
use crate::i18n::Localizer;
use crate::recovery::{Core, PhoneAnswer};

const PROVIDER: &str = "twilio";

/// Where Twilio fetches the call's script.
pub const TWIML_PATH: &str = "/twilio/voice/twiml";
/// Where Twilio posts the key pressed (the `<Gather>` action).
pub const GATHER_PATH: &str = "/twilio/voice/gather";
/// Where Twilio posts how the call ended.
pub const STATUS_PATH: &str = "/twilio/voice/status";

/// The header Twilio signs every request with.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// How long the phone rings before Twilio gives up (`no-answer`).
const RING_SECONDS: u32 = 30;
/// How long the `<Gather>` waits for a key after the prompt.
const GATHER_SECONDS: u32 = 10;
/// The largest callback body read; Twilio's are a few kilobytes.
const MAX_CALLBACK_BYTES: usize = 64 * 1024;

/// What the person called hears.
const PROMPT_ID: &str = "voice-call-prompt";
const THANKS_ID: &str = "voice-call-thanks";
const NO_INPUT_ID: &str = "voice-call-no-input";

pub struct TwilioVoice {
    client: reqwest::Client,
    url: String,
    account_sid: String,
    auth_token: Secret,
    from: String,
    public_url: String,
    timeout_secs: u64,
}

impl std::fmt::Debug for TwilioVoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioVoice")
            .field("url", &self.url)
            .field("public_url", &self.public_url)
            .field("auth_token", &self.auth_token)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Created {
    sid: Option<String>,
}

impl TwilioVoice {
    /// `public_url` is where Twilio reaches this server (`http.public_url`); the script and the
    /// callbacks live under it. `l10n` is only checked here: the texts spoken are in the router.
    pub fn new(
        account: &TwilioAccount,
        public_url: &str,
        l10n: Arc<Localizer>,
    ) -> anyhow::Result<Self> {
        let account_sid = account.account_sid.trim().to_string();
        if account_sid.is_empty() || !account_sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            bail!("voice.account_sid must be letters and digits only (like AC0123…)");
        }
        if account.auth_token.expose().trim().is_empty() {
            bail!("voice.auth_token is required for Twilio");
        }
        let from = PhoneNumber::parse(&account.from)
            .ok()
            .filter(|_| account.from.trim().starts_with('+'))
            .context("voice.from must be a phone number in E.164 form, like +3197010203040")?
            .as_str()
            .to_string();
        let public_url = checked_public_url(public_url)?;
        check_texts(&l10n)?;
        Ok(Self {
            client: super::twilio::http_client(account.timeout_secs)
                .context("building the voice provider's HTTP client")?,
            url: format!(
                "{}/2010-04-01/Accounts/{account_sid}/Calls.json",
                account.base_url.trim_end_matches('/')
            ),
            account_sid,
            auth_token: account.auth_token.clone(),
            from,
            public_url,
            timeout_secs: account.timeout_secs,
        })
    }
}

#[async_trait]
impl VoiceCaller for TwilioVoice {
    async fn place_call(
        &self,
        to: &PhoneNumber,
        call_id: &str,
        lang: Lang,
    ) -> Result<(), ProviderError> {
        let id = encode_component(call_id);
        let twiml_url = format!(
            "{}{TWIML_PATH}?call_id={id}&lang={}",
            self.public_url,
            lang.code()
        );
        let status_url = format!("{}{STATUS_PATH}?call_id={id}", self.public_url);
        let ring = RING_SECONDS.to_string();
        let form = [
            ("To", to.as_str()),
            ("From", self.from.as_str()),
            ("Url", twiml_url.as_str()),
            ("Method", "POST"),
            ("StatusCallback", status_url.as_str()),
            // Only the end of the call: busy, no-answer, failed, canceled or completed.
            ("StatusCallbackEvent", "completed"),
            ("StatusCallbackMethod", "POST"),
            ("Timeout", ring.as_str()),
        ];
        // One attempt only: a retry after a timeout could ring the phone twice.
        let response = super::twilio::post_form(
            &self.client,
            &self.url,
            &self.account_sid,
            &self.auth_token,
            &form,
        )
        .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                let reason = super::twilio::transport_reason(e, self.timeout_secs, "call");
                tracing::warn!(provider = PROVIDER, %reason, "voice provider unreachable; not retried");
                return Err(fail(reason));
            }
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status == reqwest::StatusCode::CREATED {
            let sid = serde_json::from_str::<Created>(&text)
                .ok()
                .and_then(|c| c.sid)
                .unwrap_or_default();
            tracing::info!(provider = PROVIDER, call_sid = %sid, "call placed");
            return Ok(());
        }
        let secrets = [
            self.auth_token.expose(),
            to.as_str(),
            to.as_str().trim_start_matches('+'),
        ];
        let reason = super::twilio::error_reason(status, &text, &secrets);
        tracing::warn!(provider = PROVIDER, status = status.as_u16(), %reason, "voice provider refused the call");
        Err(fail(reason))
    }
}

fn fail(reason: String) -> ProviderError {
    ProviderError {
        provider: PROVIDER,
        reason,
    }
}

/// Why the request got no HTTP answer, without the URL (which holds the account SID).
/// `http(s)://host[:port][/prefix]`, without a trailing slash, query or fragment.
fn checked_public_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim().trim_end_matches('/');
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        bail!("http.public_url must start with https:// (or http:// for local tests)");
    }
    if url.contains(['?', '#']) || url.chars().any(char::is_whitespace) {
        bail!("http.public_url must be a plain URL without query or fragment");
    }
    Ok(url.to_string())
}

/// Fails at start-up, not during the first call, when a spoken text is missing.
fn check_texts(l10n: &Localizer) -> anyhow::Result<()> {
    for lang in [Lang::Nl, Lang::En] {
        for id in [PROMPT_ID, THANKS_ID, NO_INPUT_ID] {
            l10n.try_text(lang, &Text::new(id))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    Ok(())
}

// ---- signatures ----

/// Twilio's request signature: base64(HMAC-SHA1(auth token, url + each parameter's name and
/// value, sorted by name)). Parameters with the same name are sorted by value.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    BASE64.encode(
        signature_mac(auth_token, url, params)
            .finalize()
            .into_bytes(),
    )
}

fn signature_mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac =
        Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// Whether `header` is Twilio's signature of `url` and `params` (compared in constant time).
pub fn signature_matches(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: &str,
) -> bool {
    let Ok(given) = BASE64.decode(header.trim()) else {
        return false;
    };
    signature_mac(auth_token, url, params)
        .verify_slice(&given)
        .is_ok()
}

// ---- the callbacks ----

struct Callbacks {
    core: Arc<Core>,
    l10n: Arc<Localizer>,
    auth_token: Secret,
    public_url: String,
}

/// The callbacks Twilio makes during a call, each refused with 403 unless Twilio signed it.
/// `public_url` must be the one [`TwilioVoice`] was built with: the signature covers it.
pub fn router(
    core: Arc<Core>,
    l10n: Arc<Localizer>,
    auth_token: Secret,
    public_url: String,
) -> Router {
    let public_url = public_url.trim().trim_end_matches('/').to_string();
    let state = Callbacks {
        core,
        l10n,
        auth_token,
        public_url,
    };
    Router::new()
        .route(TWIML_PATH, post(twiml))
        .route(GATHER_PATH, post(gather))
        .route(STATUS_PATH, post(status))
        .with_state(Arc::new(state))
}

/// A request whose `X-Twilio-Signature` matched: its query and form parameters. Taking this as
/// an argument is what makes a handler run only for signed requests.
struct Signed {
    query: Vec<(String, String)>,
    form: Vec<(String, String)>,
}

impl Signed {
    fn query(&self, name: &str) -> Option<&str> {
        lookup(&self.query, name)
    }

    fn form(&self, name: &str) -> Option<&str> {
        lookup(&self.form, name)
    }
}

fn lookup<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

impl FromRequest<Arc<Callbacks>> for Signed {
    type Rejection = Response;

    async fn from_request(req: Request, state: &Arc<Callbacks>) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, MAX_CALLBACK_BYTES)
            .await
            .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE.into_response())?;
        verify(state, &parts.uri, &parts.headers, &body).ok_or_else(|| {
            tracing::warn!(
                provider = PROVIDER,
                path = parts.uri.path(),
                "refused a voice callback without a valid Twilio signature"
            );
            StatusCode::FORBIDDEN.into_response()
        })
    }
}

fn verify(state: &Callbacks, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Option<Signed> {
    let header = headers.get(SIGNATURE_HEADER)?.to_str().ok()?;
    let path_and_query = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let url = format!("{}{path_and_query}", state.public_url);
    // Twilio posts `application/x-www-form-urlencoded`; every parameter is signed.
    let form = parse_form(std::str::from_utf8(body).ok()?);
    if !signature_matches(state.auth_token.expose(), &url, &form, header) {
        return None;
    }
    Some(Signed {
        query: parse_form(uri.query().unwrap_or_default()),
        form,
    })
}

/// `application/x-www-form-urlencoded` (and query strings) into (name, value) pairs.
fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push((hi << 4) | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-encodes everything but unreserved characters, for a query value.
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `language` and `voice` of a `<Say>` in `lang` (Amazon Polly voices Twilio offers).
fn say_attributes(lang: Lang) -> &'static str {
    match lang {
        Lang::Nl => r#"language="nl-NL" voice="Polly.Lotte""#,
        Lang::En => r#"language="en-GB" voice="Polly.Amy""#,
    }
}

fn say(l10n: &Localizer, lang: Lang, id: &'static str) -> String {
    format!(
        "<Say {}>{}</Say>",
        say_attributes(lang),
        xml_escape(&l10n.text(lang, &Text::new(id)))
    )
}

fn twiml_response(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        format!(r#"<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>"#),
    )
        .into_response()
}

/// The call's script. The `<Gather>` takes one key; `finishOnKey=""` makes `#` a key like any
/// other (by default `#` would end the input and arrive as no digits at all). With
/// `actionOnEmptyResult` Twilio posts to the action after silence too, so silence is reported;
/// should it not, the `<Redirect>` after the `<Gather>` (where Twilio goes when it times out)
/// posts to the same action without digits, which is reported the same way.
async fn twiml(State(state): State<Arc<Callbacks>>, signed: Signed) -> Response {
    let Some(call_id) = signed.query("call_id").filter(|id| !id.is_empty()) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let lang = signed
        .query("lang")
        .and_then(Lang::parse)
        .unwrap_or_default();
    // The language travels in the (signed) action URL, for the words after the key.
    let action = xml_escape(&format!(
        "{}{GATHER_PATH}?call_id={}&lang={}",
        state.public_url,
        encode_component(call_id),
        lang.code()
    ));
    twiml_response(format!(
        r#"<Gather input="dtmf" numDigits="1" timeout="{GATHER_SECONDS}" finishOnKey="" actionOnEmptyResult="true" action="{action}" method="POST">{prompt}</Gather><Redirect method="POST">{action}</Redirect>"#,
        prompt = say(&state.l10n, lang, PROMPT_ID),
    ))
}

/// The key pressed (`Digits`): `#` confirms, any other key or none does not.
async fn gather(State(state): State<Arc<Callbacks>>, signed: Signed) -> Response {
    let Some(call_id) = signed.query("call_id").filter(|id| !id.is_empty()) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let key = signed.form("Digits").and_then(|d| d.trim().chars().next());
    let answer = key.map_or(PhoneAnswer::NoKeys, PhoneAnswer::CallKeys);
    if !report(&state.core, call_id, answer).await {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let lang = signed
        .query("lang")
        .and_then(Lang::parse)
        .unwrap_or_default();
    let text = if key.is_some() {
        THANKS_ID
    } else {
        NO_INPUT_ID
    };
    twiml_response(format!("{}<Hangup/>", say(&state.l10n, lang, text)))
}

/// How the call ended. After `completed`, a call whose key already came with the gather is
/// closed and the core ignores this; a call hung up during the prompt (the prompt says: hang up
/// if you did not ask for this) counts as not confirmed.
async fn status(State(state): State<Arc<Callbacks>>, signed: Signed) -> Response {
    let Some(call_id) = signed.query("call_id").filter(|id| !id.is_empty()) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let answer = match signed.form("CallStatus").unwrap_or_default() {
        "busy" => PhoneAnswer::CallEnded(CallEnd::Busy),
        "no-answer" => PhoneAnswer::CallEnded(CallEnd::NoAnswer),
        "failed" | "canceled" => PhoneAnswer::CallEnded(CallEnd::Failed),
        "completed" => PhoneAnswer::NoKeys,
        _ => return StatusCode::NO_CONTENT.into_response(),
    };
    if !report(&state.core, call_id, answer).await {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Hands a result to the core; false when the core failed (logged). An unknown or already
/// answered call is not a failure: a repeated callback is answered like the first.
async fn report(core: &Core, call_id: &str, answer: PhoneAnswer) -> bool {
    match core.late_result(call_id, answer).await {
        Ok(true) => true,
        Ok(false) => {
            tracing::warn!(provider = PROVIDER, "a voice callback for an unknown call");
            true
        }
        Err(e) => {
            tracing::error!(
                provider = PROVIDER,
                error = format!("{e:#}"),
                "handling a voice callback failed"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Twilio's webhook security documentation (auth token `12345`).
    const DOC_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const DOC_SIGNATURE: &str = "GvWf1cFY/Q7PnoempGyD5oXAezc=";

    fn doc_params() -> Vec<(String, String)> {
        [
            ("To", "+18005551212"),
            ("From", "+14158675310"),
            ("Digits", "1234"),
            ("Caller", "+14158675310"),
            ("CallSid", "CA1234567890ABCDE"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn twilios_documented_example_verifies() {
        let params = doc_params();
        assert_eq!(signature("12345", DOC_URL, &params), DOC_SIGNATURE);
        assert!(signature_matches("12345", DOC_URL, &params, DOC_SIGNATURE));
        // The order the parameters arrive in does not matter.
        let mut reversed = params.clone();
        reversed.reverse();
        assert!(signature_matches(
            "12345",
            DOC_URL,
            &reversed,
            DOC_SIGNATURE
        ));
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let params = doc_params();
        assert!(!signature_matches("12346", DOC_URL, &params, DOC_SIGNATURE));
        let http = DOC_URL.replace("https", "http");
        assert!(!signature_matches("12345", &http, &params, DOC_SIGNATURE));
        assert!(!signature_matches(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &params,
            DOC_SIGNATURE
        ));
        let mut changed = params.clone();
        changed[2].1 = "#".into();
        assert!(!signature_matches(
            "12345",
            DOC_URL,
            &changed,
            DOC_SIGNATURE
        ));
        let mut extra = params.clone();
        extra.push(("CallStatus".into(), "busy".into()));
        assert!(!signature_matches("12345", DOC_URL, &extra, DOC_SIGNATURE));
        assert!(!signature_matches(
            "12345",
            DOC_URL,
            &params[1..],
            DOC_SIGNATURE
        ));
        for bad in [
            "",
            "GvWf1cFY/Q7PnoempGyD5oXAezc",
            "GvWf1cFY/Q7PnoempGyD5oXAezd=",
            "not base64!",
            "AAAA",
        ] {
            assert!(
                !signature_matches("12345", DOC_URL, &params, bad),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn forms_and_queries_decode_like_twilio_encodes_them() {
        assert_eq!(
            parse_form(
                "Digits=%23&To=%2B31612345666&Caller=a+b&Empty=&Odd=%2&Bad=%zz&%C3%A9=%E2%82%AC"
            ),
            [
                ("Digits", "#"),
                ("To", "+31612345666"),
                ("Caller", "a b"),
                ("Empty", ""),
                ("Odd", "%2"),
                ("Bad", "%zz"),
                ("é", "€"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(
            encode_component("ab12-._~ #&?+é"),
            "ab12-._~%20%23%26%3F%2B%C3%A9"
        );
        assert_eq!(decode_component(&encode_component("a #&+é")), "a #&+é");
    }

    #[test]
    fn text_in_twiml_is_escaped() {
        assert_eq!(xml_escape(r#"<Say>&"'"#), "&lt;Say&gt;&amp;&quot;&apos;");
    }

    #[test]
    fn the_public_url_must_be_plain_http() {
        assert_eq!(
            checked_public_url("https://sspr.bedrijf.nl/").unwrap(),
            "https://sspr.bedrijf.nl"
        );
        assert_eq!(
            checked_public_url("http://127.0.0.1:8080/sspr").unwrap(),
            "http://127.0.0.1:8080/sspr"
        );
        assert!(checked_public_url("sspr.bedrijf.nl").is_err());
        assert!(checked_public_url("https://sspr.bedrijf.nl/?x=1").is_err());
    }

    #[test]
    fn scrubbing_removes_the_token_and_the_number() {
        let out = crate::providers::scrub(
            "token s3cr3t-token for +31612345666 (31612345666)",
            &["s3cr3t-token", "+31612345666", "31612345666"],
        );
        assert!(
            !out.contains("s3cr3t") && !out.contains("612345666"),
            "{out}"
        );
    }
}
