//! Inbound authentication of the Teams messaging endpoint: is this request really from the Bot
//! Framework, for this bot, about this conversation's service? (DESIGN §4, row "inbound".)
//!
//! The Bot Framework calls `POST /api/teams/messages` with `Authorization: Bearer <JWT>`. The
//! endpoint is public, so anyone can post an activity to it; without these checks, anyone could
//! drive a password reset and, worse, make the bot send its replies (codes, hints) to a
//! `serviceUrl` of their choosing. [`BotAuth::validate`] carries out Microsoft's "Authentication
//! with the Bot Connector API — Connector to bot" procedure, with what botframework-connector's
//! `JwtTokenExtractor`, `ChannelValidation` and `EndorsementsValidator` add. In order:
//!
//! 1. **`Authorization: Bearer <token>`** (scheme case-insensitive, RFC 7235). Missing or any
//!    other scheme: 401 — the caller did not even try to authenticate.
//! 2. **The JWT header's `alg` is `RS256`**, read before anything else: `none`, `HS256` (the
//!    confusion attack that uses the RSA public key as an HMAC secret), `RS512`, … are refused
//!    without a key lookup, so they cost us no network traffic. Microsoft signs with RS256 only.
//! 3. **The signing key is one the OpenID metadata lists** (`openid_metadata_url` → `jwks_uri`
//!    → JWKS), found by the header's `kid`. Keys are cached. They are fetched again when older
//!    than 24 h (Microsoft rotates them; a failed refresh keeps the old keys and logs a warning)
//!    and when a token names an unknown `kid` (a rotation we have not seen yet) — but at most
//!    once a minute, so tokens with random `kid`s cannot make us hammer the endpoint. If the
//!    metadata also lists `id_token_signing_alg_values_supported` without RS256, RS256 tokens are
//!    refused, as the procedure says to use the algorithm listed there.
//! 4. **The signature** (jsonwebtoken, verified with `ring`). Only then are the claims read.
//! 5. **`iss` is exactly `https://api.botframework.com`**: a token from another Microsoft issuer
//!    (Entra ID, the emulator) is not the Connector speaking.
//! 6. **`aud` is this bot's app id**: a token for another bot, replayed to us, is refused. With
//!    an empty app id nothing passes.
//! 7. **`exp`, and `nbf` if present, with 5 minutes' clock skew**, against the `now` the caller
//!    passes (so tests drive time). A token without `exp` is refused. These are checked here on
//!    typed claims rather than by jsonwebtoken: its checks read the system clock, and in 9.x
//!    skip an `exp`/`nbf` of the wrong JSON type (CVE-2026-25537); here a string `exp` or `nbf`
//!    makes the token malformed.
//! 8. **The key's `endorsements` contain the activity's `channelId`** (when the JWKS key has that
//!    array, as `EndorsementsValidator` does): a key Microsoft endorsed only for, say, Web Chat
//!    cannot vouch for an activity claiming to come from `msteams`. Unlike the SDK, an empty
//!    `channelId` is not waved through.
//! 9. **The `serviceurl` claim equals the activity's `serviceUrl`** (lower-case, as the Bot
//!    Framework sends it; `serviceUrl` is accepted too, and every one present must match),
//!    ignoring one trailing slash. Replies go to the activity's `serviceUrl` with our
//!    credentials; this check stops a valid token from being re-used with a `serviceUrl` that
//!    points somewhere else.
//!
//! Every refusal is an [`AuthError`]; [`AuthError::status`] gives 401 (no usable header), 403 (a
//! token that fails any check) or 503 (the metadata could not be fetched, so we cannot tell).
//! Error texts never contain the token, and nothing in a request can panic this module.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

/// The only issuer of tokens the Bot Connector sends to bots.
pub const ISSUER: &str = "https://api.botframework.com";

/// Microsoft's OpenID metadata document for Bot Connector tokens (public cloud).
pub const DEFAULT_OPENID_METADATA_URL: &str =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";

/// Clock skew allowed on `exp` and `nbf`: "industry-standard clock-skew is 5 minutes".
pub const CLOCK_SKEW_SECS: i64 = 5 * 60;

/// The one algorithm the Bot Framework signs with.
const ACCEPTED_ALG: &str = "RS256";

/// Keys older than this are fetched again before use.
const MAX_KEY_AGE_SECS: i64 = 24 * 60 * 60;

/// At most one fetch of the metadata and keys per this interval, whatever tokens arrive.
const MIN_FETCH_INTERVAL_SECS: u64 = 60;

/// A hanging metadata server must not hold every request (they wait on the cache lock).
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The metadata and the JWKS are a few kB; refuse to buffer anything absurd.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// Why a request was refused. See [`AuthError::status`] for the HTTP status of each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no Authorization header")]
    MissingHeader,
    #[error("the Authorization header is not `Bearer <token>`")]
    MalformedHeader,
    #[error("the bearer token is not a well-formed JWT")]
    MalformedToken,
    /// The `alg` from the token header (sanitised, at most 16 alphanumerics).
    #[error("token algorithm {0:?} is not accepted (only RS256)")]
    UnsupportedAlgorithm(String),
    #[error("the token's signing key is not among the Bot Framework's keys")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token's issuer is not {ISSUER}")]
    WrongIssuer,
    #[error("the token's audience is not this bot's app id")]
    WrongAudience,
    #[error("the token has expired (or has no `exp`)")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's serviceurl claim does not match the activity's serviceUrl")]
    ServiceUrlMismatch,
    /// The activity's `channelId` (sanitised), which the signing key is not endorsed for.
    #[error("the signing key is not endorsed for channel {0:?}")]
    EndorsementMissing(String),
    /// Network error, HTTP error or unexpected JSON, with the URL.
    #[error("Bot Framework OpenID metadata unavailable: {0}")]
    MetadataUnavailable(String),
}

impl AuthError {
    /// The HTTP status to answer with: 401 when the request carries no bearer token at all, 403
    /// for a token that fails a check, 503 when the keys could not be fetched to check it.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::MissingHeader | AuthError::MalformedHeader => 401,
            AuthError::MetadataUnavailable(_) => 503,
            AuthError::MalformedToken
            | AuthError::UnsupportedAlgorithm(_)
            | AuthError::UnknownKey
            | AuthError::BadSignature
            | AuthError::WrongIssuer
            | AuthError::WrongAudience
            | AuthError::Expired
            | AuthError::NotYetValid
            | AuthError::ServiceUrlMismatch
            | AuthError::EndorsementMissing(_) => 403,
        }
    }
}

/// What a valid token established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The signed `serviceurl` claim, equal to the activity's `serviceUrl` up to a trailing
    /// slash: the Connector to reply to.
    pub service_url: String,
    /// This bot's app id, as found in `aud`.
    pub audience: String,
    /// Always [`ISSUER`].
    pub issuer: String,
    /// The activity's `channelId`, vouched for by the key's endorsements when it has any.
    pub channel_id: String,
    /// The `kid` of the key that signed the token.
    pub key_id: String,
    /// `exp`, in Unix seconds: the token is not accepted after this plus [`CLOCK_SKEW_SECS`].
    pub expires_at: i64,
}

/// Validates the bearer tokens of Bot Framework requests; cheap to clone (shares its key cache).
#[derive(Clone)]
pub struct BotAuth {
    inner: Arc<Inner>,
}

struct Inner {
    metadata_url: String,
    app_id: String,
    http: reqwest::Client,
    /// Held across a fetch, so concurrent requests wait for one fetch instead of each starting
    /// their own.
    cache: Mutex<KeyCache>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, SigningKey>,
    /// Whether the metadata allows RS256 (true when it does not say).
    rs256_listed: bool,
    /// When the keys were last fetched successfully; `None` until then.
    fetched_at: Option<i64>,
    /// When a fetch was last started, successful or not: the rate limit counts from here.
    attempted_at: Option<i64>,
    /// Why the last fetch failed, to report while we may not try again.
    last_error: Option<String>,
}

#[derive(Clone)]
struct SigningKey {
    key: DecodingKey,
    /// The key's `endorsements` array, when the JWKS gives one.
    endorsements: Option<Vec<String>>,
}

impl fmt::Debug for BotAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotAuth")
            .field("metadata_url", &self.inner.metadata_url)
            .field("app_id", &self.inner.app_id)
            .finish_non_exhaustive()
    }
}

impl BotAuth {
    /// `openid_metadata_url` is usually [`DEFAULT_OPENID_METADATA_URL`]; `app_id` is the bot's
    /// Microsoft app id. Nothing is fetched until the first request.
    pub fn new(openid_metadata_url: &str, app_id: &str, http: reqwest::Client) -> Self {
        BotAuth {
            inner: Arc::new(Inner {
                metadata_url: openid_metadata_url.to_owned(),
                app_id: app_id.to_owned(),
                http,
                cache: Mutex::new(KeyCache::default()),
            }),
        }
    }

    /// Checks a request's `Authorization` header against the activity it carries (its
    /// `serviceUrl` and `channelId`) at `now` (Unix seconds). See the module docs for the checks.
    pub async fn validate(
        &self,
        authorization: Option<&str>,
        service_url: &str,
        channel_id: &str,
        now: i64,
    ) -> Result<Claims, AuthError> {
        let token = bearer_token(authorization)?;
        let header = TokenHeader::parse(token)?;
        if header.alg != ACCEPTED_ALG {
            return Err(AuthError::UnsupportedAlgorithm(sanitise(&header.alg)));
        }
        let kid = header.kid.ok_or(AuthError::UnknownKey)?;
        let (signing_key, rs256_listed) = self.inner.key_for(&kid, now).await?;
        if !rs256_listed {
            return Err(AuthError::UnsupportedAlgorithm(ACCEPTED_ALG.to_owned()));
        }
        let raw = verify_signature(token, &signing_key.key)?;

        if raw.iss.as_deref() != Some(ISSUER) {
            return Err(AuthError::WrongIssuer);
        }
        let app_id = self.inner.app_id.as_str();
        let audience_ok = !app_id.is_empty()
            && match &raw.aud {
                Some(OneOrMany::One(aud)) => aud == app_id,
                Some(OneOrMany::Many(auds)) => auds.iter().any(|aud| aud == app_id),
                None => false,
            };
        if !audience_ok {
            return Err(AuthError::WrongAudience);
        }
        let expires_at = raw.exp.ok_or(AuthError::Expired)?;
        if now > expires_at.saturating_add(CLOCK_SKEW_SECS) {
            return Err(AuthError::Expired);
        }
        if let Some(nbf) = raw.nbf {
            if now < nbf.saturating_sub(CLOCK_SKEW_SECS) {
                return Err(AuthError::NotYetValid);
            }
        }
        if let Some(endorsements) = &signing_key.endorsements {
            if !endorsements.iter().any(|e| e == channel_id) {
                return Err(AuthError::EndorsementMissing(sanitise(channel_id)));
            }
        }
        let claimed: Vec<String> = [raw.serviceurl, raw.service_url_camel]
            .into_iter()
            .flatten()
            .collect();
        if claimed.is_empty()
            || !claimed
                .iter()
                .all(|claim| same_service_url(claim, service_url))
        {
            return Err(AuthError::ServiceUrlMismatch);
        }

        Ok(Claims {
            service_url: claimed.into_iter().next().unwrap_or_default(),
            audience: app_id.to_owned(),
            issuer: ISSUER.to_owned(),
            channel_id: channel_id.to_owned(),
            key_id: kid,
            expires_at,
        })
    }
}

impl Inner {
    /// The key named `kid`, fetching the keys first when we have none or they are a day old, and
    /// again when `kid` is unknown — each fetch at most once per [`MIN_FETCH_INTERVAL_SECS`].
    async fn key_for(&self, kid: &str, now: i64) -> Result<(SigningKey, bool), AuthError> {
        let mut cache = self.cache.lock().await;
        if cache.is_stale(now) && cache.may_fetch(now) {
            if let Err(err) = self.refresh(&mut cache, now).await {
                if cache.fetched_at.is_none() {
                    return Err(err);
                }
                tracing::warn!(error = %err, "keeping the cached Bot Framework signing keys");
            }
        }
        if cache.fetched_at.is_none() {
            let reason = cache.last_error.clone().unwrap_or_default();
            return Err(AuthError::MetadataUnavailable(format!(
                "{reason} (next try within {MIN_FETCH_INTERVAL_SECS} s)"
            )));
        }
        if let Some(key) = cache.keys.get(kid) {
            return Ok((key.clone(), cache.rs256_listed));
        }
        if !cache.may_fetch(now) {
            return Err(AuthError::UnknownKey);
        }
        tracing::info!("unknown Bot Framework key id; fetching the signing keys again");
        self.refresh(&mut cache, now).await?;
        match cache.keys.get(kid) {
            Some(key) => Ok((key.clone(), cache.rs256_listed)),
            None => Err(AuthError::UnknownKey),
        }
    }

    async fn refresh(&self, cache: &mut KeyCache, now: i64) -> Result<(), AuthError> {
        cache.attempted_at = Some(now);
        match self.fetch_keys().await {
            Ok((keys, rs256_listed)) => {
                tracing::info!(keys = keys.len(), "fetched the Bot Framework signing keys");
                cache.keys = keys;
                cache.rs256_listed = rs256_listed;
                cache.fetched_at = Some(now);
                cache.last_error = None;
                Ok(())
            }
            Err(reason) => {
                tracing::warn!(error = %reason, "could not fetch the Bot Framework signing keys");
                cache.last_error = Some(reason.clone());
                Err(AuthError::MetadataUnavailable(reason))
            }
        }
    }

    /// The OpenID metadata, then the JWKS it points to: the usable keys by `kid`, and whether
    /// RS256 is allowed.
    async fn fetch_keys(&self) -> Result<(HashMap<String, SigningKey>, bool), String> {
        let body = self.get(&self.metadata_url).await?;
        let metadata: OpenIdMetadata = serde_json::from_slice(&body).map_err(|err| {
            format!(
                "{}: not an OpenID metadata document: {err}",
                self.metadata_url
            )
        })?;
        let rs256_listed = metadata
            .id_token_signing_alg_values_supported
            .is_none_or(|algs| algs.iter().any(|alg| alg == ACCEPTED_ALG));
        let body = self.get(&metadata.jwks_uri).await?;
        let jwks: Value = serde_json::from_slice(&body)
            .map_err(|err| format!("{}: not JSON: {err}", metadata.jwks_uri))?;
        let keys = parse_jwks(&jwks).map_err(|err| format!("{}: {err}", metadata.jwks_uri))?;
        Ok((keys, rs256_listed))
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut response = self
            .http
            .get(url)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|err| format!("GET {url}: {}", err.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| format!("GET {url}: {}", err.without_url()))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("GET {url}: more than {MAX_DOCUMENT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

impl KeyCache {
    fn is_stale(&self, now: i64) -> bool {
        self.fetched_at
            .is_none_or(|at| now.saturating_sub(at) >= MAX_KEY_AGE_SECS)
    }

    /// A clock that jumped back counts as time passed, so it cannot freeze the keys.
    fn may_fetch(&self, now: i64) -> bool {
        self.attempted_at
            .is_none_or(|at| now.abs_diff(at) >= MIN_FETCH_INTERVAL_SECS)
    }
}

#[derive(Deserialize)]
struct OpenIdMetadata {
    jwks_uri: String,
    #[serde(default)]
    id_token_signing_alg_values_supported: Option<Vec<String>>,
}

/// The usable keys of a JWKS by `kid`: RSA signing keys (for RS256, when they say). Keys that
/// are something else or malformed are skipped; a JWKS with no usable key at all is an error,
/// so a broken document does not replace good cached keys.
fn parse_jwks(jwks: &Value) -> Result<HashMap<String, SigningKey>, String> {
    let listed = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("no `keys` array")?;
    let mut keys = HashMap::new();
    for jwk in listed {
        if let Some((kid, key)) = parse_jwk(jwk) {
            keys.entry(kid).or_insert(key);
        }
    }
    if keys.is_empty() {
        return Err(format!(
            "none of its {} keys is a usable RSA signing key",
            listed.len()
        ));
    }
    Ok(keys)
}

fn parse_jwk(jwk: &Value) -> Option<(String, SigningKey)> {
    let text = |name: &str| jwk.get(name).and_then(Value::as_str);
    let kid = text("kid")?;
    if text("kty")? != "RSA" {
        return None;
    }
    if jwk.get("use").is_some() && text("use") != Some("sig") {
        return None;
    }
    if jwk.get("alg").is_some() && text("alg") != Some(ACCEPTED_ALG) {
        return None;
    }
    let key = DecodingKey::from_rsa_components(text("n")?, text("e")?).ok()?;
    let endorsements = match jwk.get("endorsements") {
        None | Some(Value::Null) => None,
        // A key whose endorsements we cannot read is not trusted for any channel.
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()?,
        ),
        Some(_) => return None,
    };
    Some((kid.to_owned(), SigningKey { key, endorsements }))
}

/// The token from `Bearer <token>`; the token is one run of non-space characters.
fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    let value = authorization.ok_or(AuthError::MissingHeader)?.trim();
    if value.is_empty() {
        return Err(AuthError::MissingHeader);
    }
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::MalformedHeader)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("Bearer")
        || token.is_empty()
        || token.contains(char::is_whitespace)
    {
        return Err(AuthError::MalformedHeader);
    }
    Ok(token)
}

/// The JWT header fields we need before choosing a key, read without trusting anything.
struct TokenHeader {
    alg: String,
    kid: Option<String>,
}

impl TokenHeader {
    fn parse(token: &str) -> Result<TokenHeader, AuthError> {
        let mut parts = token.split('.');
        let (Some(header), Some(_payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::MalformedToken);
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| AuthError::MalformedToken)?;
        let header: Value =
            serde_json::from_slice(&bytes).map_err(|_| AuthError::MalformedToken)?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(AuthError::MalformedToken)?;
        Ok(TokenHeader {
            alg: alg.to_owned(),
            kid: header.get("kid").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

/// The claims we check, typed: a claim of the wrong JSON type makes the token malformed rather
/// than absent.
#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    aud: Option<OneOrMany>,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    serviceurl: Option<String>,
    #[serde(default, rename = "serviceUrl")]
    service_url_camel: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// The signature check only: jsonwebtoken's claim checks are all off, we make them ourselves.
fn verify_signature(token: &str, key: &DecodingKey) -> Result<RawClaims, AuthError> {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<RawClaims>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|err| match err.kind() {
            ErrorKind::InvalidSignature | ErrorKind::InvalidRsaKey(_) | ErrorKind::Crypto(_) => {
                AuthError::BadSignature
            }
            ErrorKind::InvalidAlgorithm => AuthError::UnsupportedAlgorithm(ACCEPTED_ALG.to_owned()),
            _ => AuthError::MalformedToken,
        })
}

/// Equal, ignoring one trailing slash on either; never equal when empty.
fn same_service_url(claim: &str, activity: &str) -> bool {
    let claim = claim.strip_suffix('/').unwrap_or(claim);
    let activity = activity.strip_suffix('/').unwrap_or(activity);
    !claim.is_empty() && claim == activity
}

/// An attacker-chosen value made safe to put in an error text and a log line.
fn sanitise(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(16)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    use super::*;

    // Test-only keys (tests/fixtures/botframework/README.md): never trust them anywhere else.
    const KEY_A_PEM: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/botframework/key_a.pem"
    ));
    const KEY_A_N: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/botframework/key_a.n"
    ));
    const KEY_A_PUBLIC_PEM: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/botframework/key_a.pub.pem"
    ));
    const KEY_B_PEM: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/botframework/key_b.pem"
    ));
    const KEY_B_N: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/botframework/key_b.n"
    ));

    const KID_A: &str = "key-a";
    const KID_B: &str = "key-b";
    const APP_ID: &str = "8f3a1c52-6e0b-4d7a-9b1e-2c5d7f0a4e13";
    const SERVICE_URL: &str = "https://smba.trafficmanager.net/emea/";
    const MSTEAMS: &str = "msteams";
    /// Monday 30 November 2026, 06:55 UTC.
    const NOW: i64 = 1_796_021_700;

    const METADATA_PATH: &str = "/v1/.well-known/openidconfiguration";
    const KEYS_PATH: &str = "/v1/.well-known/keys";

    fn jwk(kid: &str, n: &str, endorsements: Option<&[&str]>) -> Value {
        let mut key = json!({
            "kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": n.trim(), "e": "AQAB",
        });
        if let Some(endorsements) = endorsements {
            key["endorsements"] = json!(endorsements);
        }
        key
    }

    fn key_a() -> Value {
        jwk(KID_A, KEY_A_N, Some(&[MSTEAMS, "skype", "webchat"]))
    }

    fn key_b() -> Value {
        jwk(KID_B, KEY_B_N, Some(&[MSTEAMS]))
    }

    /// Serves a JWKS that a test can change between requests (a key rotation).
    #[derive(Clone)]
    struct Jwks(Arc<StdMutex<Value>>);

    impl Respond for Jwks {
        fn respond(&self, _: &Request) -> ResponseTemplate {
            let keys = self
                .0
                .lock()
                .expect("the JWKS lock is never poisoned")
                .clone();
            ResponseTemplate::new(200).set_body_json(keys)
        }
    }

    /// The Bot Framework's login service: OpenID metadata and a JWKS.
    struct Fake {
        server: MockServer,
        jwks: Jwks,
    }

    impl Fake {
        async fn start(keys: Vec<Value>) -> Fake {
            Fake::start_with_algs(keys, json!(["RS256"])).await
        }

        async fn start_with_algs(keys: Vec<Value>, algs: Value) -> Fake {
            let server = MockServer::start().await;
            let jwks = Jwks(Arc::new(StdMutex::new(json!({ "keys": keys }))));
            Mock::given(method("GET"))
                .and(path(METADATA_PATH))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                    "issuer": ISSUER,
                    "authorization_endpoint": "https://invalid.botframework.com",
                    "jwks_uri": format!("{}{KEYS_PATH}", server.uri()),
                    "id_token_signing_alg_values_supported": algs,
                    "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                })))
                .mount(&server)
                .await;
            Mock::given(method("GET"))
                .and(path(KEYS_PATH))
                .respond_with(jwks.clone())
                .mount(&server)
                .await;
            Fake { server, jwks }
        }

        fn set_keys(&self, keys: Vec<Value>) {
            *self.jwks.0.lock().expect("the JWKS lock is never poisoned") = json!({ "keys": keys });
        }

        fn auth(&self) -> BotAuth {
            BotAuth::new(
                &format!("{}{METADATA_PATH}", self.server.uri()),
                APP_ID,
                reqwest::Client::new(),
            )
        }

        /// How many times the metadata and the JWKS were fetched.
        async fn fetches(&self) -> (usize, usize) {
            let requests = self.server.received_requests().await.unwrap_or_default();
            let count = |p: &str| requests.iter().filter(|r| r.url.path() == p).count();
            (count(METADATA_PATH), count(KEYS_PATH))
        }
    }

    fn claims() -> Value {
        json!({
            "serviceurl": SERVICE_URL,
            "nbf": NOW - 10,
            "exp": NOW + 3590,
            "iss": ISSUER,
            "aud": APP_ID,
        })
    }

    fn claims_with(changes: Value) -> Value {
        let mut claims = claims();
        for (name, value) in changes.as_object().expect("changes are an object") {
            if value.is_null() {
                claims
                    .as_object_mut()
                    .expect("claims are an object")
                    .remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        claims
    }

    fn sign_with(pem: &str, alg: Algorithm, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("the test key is valid PEM");
        jsonwebtoken::encode(&header, claims, &key).expect("signing with the test key works")
    }

    fn sign(claims: &Value) -> String {
        sign_with(KEY_A_PEM, Algorithm::RS256, KID_A, claims)
    }

    /// A token built by hand: any header, any signature.
    fn forge(header: &Value, claims: &Value, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    async fn check(auth: &BotAuth, token: &str, now: i64) -> Result<Claims, AuthError> {
        let result = auth
            .validate(Some(&bearer(token)), SERVICE_URL, MSTEAMS, now)
            .await;
        if let Err(err) = &result {
            assert!(
                !format!("{err} {err:?}").contains(token),
                "the error text contains the token: {err}"
            );
        }
        result
    }

    #[tokio::test]
    async fn a_valid_token_passes() {
        let fake = Fake::start(vec![key_a()]).await;
        let claims = check(&fake.auth(), &sign(&claims()), NOW).await.unwrap();
        assert_eq!(
            claims,
            Claims {
                service_url: SERVICE_URL.to_owned(),
                audience: APP_ID.to_owned(),
                issuer: ISSUER.to_owned(),
                channel_id: MSTEAMS.to_owned(),
                key_id: KID_A.to_owned(),
                expires_at: NOW + 3590,
            }
        );
        assert_eq!(fake.fetches().await, (1, 1));
    }

    #[tokio::test]
    async fn keys_are_cached_between_requests() {
        let fake = Fake::start(vec![key_a()]).await;
        let auth = fake.auth();
        let token = sign(&claims());
        for minutes in 0..5 {
            check(&auth, &token, NOW + minutes * 60).await.unwrap();
        }
        assert_eq!(fake.fetches().await, (1, 1));
    }

    #[tokio::test]
    async fn a_token_from_another_issuer_is_refused() {
        let fake = Fake::start(vec![key_a()]).await;
        let auth = fake.auth();
        for iss in [
            json!("https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/"),
            json!("https://api.botframework.com/"),
            json!("https://API.botframework.com"),
            json!(null),
        ] {
            let err = check(&auth, &sign(&claims_with(json!({ "iss": iss }))), NOW)
                .await
                .unwrap_err();
            assert_eq!(err, AuthError::WrongIssuer, "iss {iss}");
            assert_eq!(err.status(), 403);
        }
    }

    #[tokio::test]
    async fn a_token_for_another_bot_is_refused() {
        let fake = Fake::start(vec![key_a()]).await;
        let auth = fake.auth();
        for aud in [
            json!("00000000-0000-0000-0000-000000000000"),
            json!(["00000000-0000-0000-0000-000000000000"]),
            json!(APP_ID.to_uppercase()),
            json!(null),
        ] {
            let err = check(&auth, &sign(&claims_with(json!({ "aud": aud }))), NOW)
                .await
                .unwrap_err();
            assert_eq!(err, AuthError::WrongAudience, "aud {aud}");
            assert_eq!(err.status(), 403);
        }
        // An audience list that names us is fine.
        let listed = claims_with(json!({ "aud": ["https://api.botframework.com", APP_ID] }));
        check(&auth, &sign(&listed), NOW).await.unwrap();
    }

    #[tokio::test]
    async fn without_an_app_id_no_token_passes() {
        let fake = Fake::start(vec![key_a()]).await;
        let auth = BotAuth::new(
            &format!("{}{METADATA_PATH}", fake.server.uri()),
            "",
            reqwest::Client::new(),
        );
        let token = sign(&claims_with(json!({ "aud": "" })));
        let err = check(&auth, &token, NOW).await.unwrap_err();
        assert_eq!(err, AuthError::WrongAudience);
    }

    #[tokio::test]
    async fn a_token_expired_more_than_five_minutes_ago_is_refused() {
        let fake = Fake::start(vec![key_a()]).await;
        let token = sign(&claims_with(json!({ "nbf": NOW - 3600, "exp": NOW - 301 })));
        let err = check(&fake.auth(), &token, NOW).await.unwrap_err();
        assert_eq!(err, AuthError::Expired);
        assert_eq!(err.status(), 403);
    }

    #[tokio::test]
    async fn a_token_expired_two_minutes_ago_still_passes() {
        let fake = Fake::start(vec![key_a()]).await;
        let token = sign(&claims_with(json!({ "nbf": NOW - 3600, "exp": NOW - 120 })));
        check(&fake.auth(), &token, NOW).await.unwrap();
        // Exactly at the edge of the skew, too.
        let token = sign(&claims_with(json!({ "nbf": NOW - 3600, "exp": NOW - 300 })));
        check(&fake.auth(), &token, NOW).await.unwrap();
    }

    #[tokio::test]
    async fn a_token_not_valid_yet_is_refused_beyond_the_skew() {
        let fake = Fake::start(vec![key_a()]).await;
        let auth = fake.auth();
        let early = sign(&claims_with(json!({ "nbf": NOW + 301, "exp": NOW + 3600 })));
        let err = check(&auth, &early, NOW).await.unwrap_err();
        assert_eq!(err, AuthError::NotYetValid);
        assert_eq!(err.status(), 403);
        let skewed = sign(&claims_with(json!({ "nbf": NOW + 120, "exp": NOW + 3600 })));
        check(&auth, &skewed, NOW).await.unwrap();
        let without_nbf = sign(&claims_with(json!({ "nbf": null })));
        check(&auth, &without_nbf, NOW).await.unwrap();
    }

    #[tokio::test]
    async fn a_token_without_expiry_is_refused() {
        let fake = Fake::start(vec![key_a()]).await;
        let token = sign(&claims_with(json!({ "exp": null })));
        let err = check(&fake.auth(), &token, NOW).await.unwrap_err();
        assert_eq!(err, AuthError::Expired);
    }

    /// CVE-2026-25537: jsonwebtoken 9 treats a mistyped `exp`/`nbf` as absent.
    #[tokio::test]
    async fn lifetimes_of_the_wrong_type_are_refused() {
        let fake = Fake::start(vec![key_a()]).await;
        let auth = fake.auth();
        for changes in [
            json!({ "exp": "99999999999" }),
            json!({ "exp": (NOW + 60) as f64 + 0.5 }),
            json!({ "nbf": "99999999999" }),
            json!({ "nbf": [NOW] }),
            json!({ "aud": 42 }),
            json!({ "serviceurl": { "href": SERVICE_URL } }),
        ] {
            let token = sign(&claims_with(changes.clone()));
            let err = check(&auth, &token, NOW).await.unwrap_err();
            assert_eq!(err, AuthError::MalformedToken, "{changes}");
            assert_eq!(err.status(), 403);
        }
    }

    #[tokio::test]
    async fn an_unknown_kid_refreshes_the_keys_once_and_finds_a_rotated_key() {
        let fake = Fake::start(vec![key_a()]).await;
        let auth = fake.auth();
        check(&auth, &sign(&claims()), NOW).await.unwrap();
        assert_eq!(fake.fetches().await, (1, 1));

        // Microsoft publishes key B after our first fetch and starts signing with it.
        fake.set_keys(vec![key_a(), key_b()]);
        let rotated = sign_with(KEY_B_PEM, Algorithm::RS256, KID_B, &claims());
        let later = NOW + MIN_FETCH_INTERVAL_SECS as i64;
        let claims = check(&auth, &rotated, later).await.unwrap();
        assert_eq!(claims.key_id, KID_B);
        assert_eq!(fake.fetches().await, (2, 2), "exactly one refresh");

        // Both keys are cached now.
        check(&auth, &rotated, later + 1).await.unwrap();
        check(&auth, &sign(&claims_with(json!({}))), later + 2)
            .await
            .unwrap();
        assert_eq!(fake.fetches().await, (2, 2));
    }

    #[tokio::test]
    async fn unknown_kids_refresh_the_keys_at_most_once_a_minute() {
        let fake = Fake::start(vec![key_a()]).await;
        let auth = fake.auth();
        let random_kid =
            |n: i64| sign_with(KEY_B_PEM, Algorithm::RS256, &format!("kid-{n}"), &claims());

        // The first request fetches the keys; its unknown kid does not fetch them again.
        let err = check(&auth, &random_kid(0), NOW).await.unwrap_err();
        assert_eq!(err, AuthError::UnknownKey);
        assert_eq!(err.status(), 403);
        assert_eq!(fake.fetches().await, (1, 1));
        for second in 1..60 {
            let err = check(&auth, &random_kid(second), NOW + second)
                .await
                .unwrap_err();
            assert_eq!(err, AuthError::UnknownKey);
        }
        assert_eq!(fake.fetches().await, (1, 1));

        // A minute later one more refresh is allowed, then none for another minute.
        for second in 60..120 {
            let err = check(&auth, &random_kid(second), NOW + second)
                .await
                .unwrap_err();
            assert_eq!(err, AuthError::UnknownKey);
        }
        assert_eq!(fake.fetches().await, (2, 2));
    }

    #[tokio::test]
    async fn keys_are_fetched_again_after_a_day() {
        let fake = Fake::start(vec![key_a()]).await;
        let auth = fake.auth();
        let at = |t: i64| sign(&claims_with(json!({ "nbf": t - 10, "exp": t + 3590 })));
        check(&auth, &at(NOW), NOW).await.unwrap();
        check(&auth, &at(NOW + 23 * 3600), NOW + 23 * 3600)
            .await
            .unwrap();
        assert_eq!(fake.fetches().await, (1, 1));
        check(&auth, &at(NOW + 24 * 3600), NOW + 24 * 3600)
            .await
            .unwrap();
        assert_eq!(fake.fetches().await, (2, 2));
    }

    #[tokio::test]
    async fn old_keys_are_kept_when_the_daily_refresh_fails() {
        let fake = Fake::start(vec![key_a()]).await;
        let auth = fake.auth();
        check(&auth, &sign(&claims()), NOW).await.unwrap();
        fake.set_keys(vec![]);
        let day = NOW + 24 * 3600;
        let token = sign(&claims_with(json!({ "nbf": day - 10, "exp": day + 3590 })));
        check(&auth, &token, day).await.unwrap();
        assert_eq!(fake.fetches().await, (2, 2));
    }

    #[tokio::test]
    async fn alg_none_is_refused_before_any_key_lookup() {
        let fake = Fake::start(vec![key_a()]).await;
        let auth = fake.auth();
        for alg in ["none", "None", "NONE", ""] {
            let token = forge(
                &json!({ "alg": alg, "typ": "JWT", "kid": KID_A }),
                &claims(),
                b"",
            );
            let err = check(&auth, &token, NOW).await.unwrap_err();
            assert!(
                matches!(err, AuthError::UnsupportedAlgorithm(_)),
                "{alg}: {err}"
            );
            assert_eq!(err.status(), 403);
        }
        assert_eq!(fake.fetches().await, (0, 0));
    }

    /// The classic key confusion: an HMAC keyed with the RSA public key, which anyone can fetch.
    #[tokio::test]
    async fn hs256_signed_with_the_public_key_is_refused_before_any_key_lookup() {
        let fake = Fake::start(vec![key_a()]).await;
        let auth = fake.auth();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(KID_A.to_owned());
        for secret in [KEY_A_PUBLIC_PEM.as_bytes(), KEY_A_N.trim().as_bytes()] {
            let token = jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(secret))
                .unwrap();
            let err = check(&auth, &token, NOW).await.unwrap_err();
            assert_eq!(err, AuthError::UnsupportedAlgorithm("HS256".into()));
        }
        assert_eq!(fake.fetches().await, (0, 0));
    }

    #[tokio::test]
    async fn other_rsa_algorithms_are_refused_too() {
        let fake = Fake::start(vec![key_a()]).await;
        let auth = fake.auth();
        for alg in [Algorithm::RS512, Algorithm::PS256] {
            let token = sign_with(KEY_A_PEM, alg, KID_A, &claims());
            let err = check(&auth, &token, NOW).await.unwrap_err();
            assert!(
                matches!(err, AuthError::UnsupportedAlgorithm(_)),
                "{alg:?}: {err}"
            );
        }
        assert_eq!(fake.fetches().await, (0, 0));
    }

    #[tokio::test]
    async fn rs256_is_refused_when_the_metadata_no_longer_lists_it() {
        let fake = Fake::start_with_algs(vec![key_a()], json!(["RS512"])).await;
        let err = check(&fake.auth(), &sign(&claims()), NOW)
            .await
            .unwrap_err();
        assert_eq!(err, AuthError::UnsupportedAlgorithm("RS256".into()));
    }

    #[tokio::test]
    async fn a_signature_by_another_key_is_refused() {
        let fake = Fake::start(vec![key_a(), key_b()]).await;
        let auth = fake.auth();
        // Signed with B, claiming to be A.
        let token = sign_with(KEY_B_PEM, Algorithm::RS256, KID_A, &claims());
        let err = check(&auth, &token, NOW).await.unwrap_err();
        assert_eq!(err, AuthError::BadSignature);
        assert_eq!(err.status(), 403);

        // A genuine token whose claims were edited afterwards.
        let genuine = sign(&claims());
        let (head, rest) = genuine.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let edited = claims_with(json!({ "serviceurl": "https://attacker.example/" }));
        let tampered = format!(
            "{head}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(edited.to_string())
        );
        let err = check(&auth, &tampered, NOW).await.unwrap_err();
        assert_eq!(err, AuthError::BadSignature);
    }

    #[tokio::test]
    async fn a_mismatched_service_url_is_refused() {
        let fake = Fake::start(vec![key_a()]).await;
        let auth = fake.auth();
        let token = sign(&claims());
        for activity_url in [
            "https://attacker.example/emea/",
            "https://smba.trafficmanager.net/amer/",
            "https://smba.trafficmanager.net/emea/x",
            "",
        ] {
            let err = auth
                .validate(Some(&bearer(&token)), activity_url, MSTEAMS, NOW)
                .await
                .unwrap_err();
            assert_eq!(err, AuthError::ServiceUrlMismatch, "{activity_url:?}");
            assert_eq!(err.status(), 403);
        }
        // One trailing slash either way is the same URL.
        let bare = SERVICE_URL.trim_end_matches('/');
        auth.validate(Some(&bearer(&token)), bare, MSTEAMS, NOW)
            .await
            .unwrap();
        let bare_claim = sign(&claims_with(json!({ "serviceurl": bare })));
        check(&auth, &bare_claim, NOW).await.unwrap();
    }

    #[tokio::test]
    async fn the_service_url_claim_is_required_and_may_be_camel_case() {
        let fake = Fake::start(vec![key_a()]).await;
        let auth = fake.auth();
        let missing = sign(&claims_with(json!({ "serviceurl": null })));
        let err = check(&auth, &missing, NOW).await.unwrap_err();
        assert_eq!(err, AuthError::ServiceUrlMismatch);

        let camel = sign(&claims_with(
            json!({ "serviceurl": null, "serviceUrl": SERVICE_URL }),
        ));
        check(&auth, &camel, NOW).await.unwrap();

        // Both spellings present: both must match.
        let both = sign(&claims_with(
            json!({ "serviceUrl": "https://attacker.example/" }),
        ));
        let err = check(&auth, &both, NOW).await.unwrap_err();
        assert_eq!(err, AuthError::ServiceUrlMismatch);
    }

    #[tokio::test]
    async fn a_key_not_endorsed_for_the_channel_is_refused() {
        let webchat_only = jwk(KID_A, KEY_A_N, Some(&["webchat", "directline"]));
        let fake = Fake::start(vec![webchat_only]).await;
        let auth = fake.auth();
        let err = check(&auth, &sign(&claims()), NOW).await.unwrap_err();
        assert_eq!(err, AuthError::EndorsementMissing(MSTEAMS.into()));
        assert_eq!(err.status(), 403);
        // The same token for a channel the key is endorsed for passes.
        auth.validate(Some(&bearer(&sign(&claims()))), SERVICE_URL, "webchat", NOW)
            .await
            .unwrap();
        // An empty channel id is endorsed by nothing.
        let err = auth
            .validate(Some(&bearer(&sign(&claims()))), SERVICE_URL, "", NOW)
            .await
            .unwrap_err();
        assert_eq!(err, AuthError::EndorsementMissing(String::new()));
    }

    #[tokio::test]
    async fn a_key_without_endorsements_vouches_for_any_channel() {
        let fake = Fake::start(vec![jwk(KID_A, KEY_A_N, None)]).await;
        check(&fake.auth(), &sign(&claims()), NOW).await.unwrap();
    }

    #[tokio::test]
    async fn a_key_with_unreadable_endorsements_is_not_used() {
        let mut odd = key_a();
        odd["endorsements"] = json!("msteams");
        let fake = Fake::start(vec![odd, key_b()]).await;
        let err = check(&fake.auth(), &sign(&claims()), NOW)
            .await
            .unwrap_err();
        assert_eq!(err, AuthError::UnknownKey);
    }

    #[tokio::test]
    async fn a_missing_or_non_bearer_header_is_401() {
        let fake = Fake::start(vec![key_a()]).await;
        let auth = fake.auth();
        let token = sign(&claims());
        let cases: Vec<(Option<String>, AuthError)> = vec![
            (None, AuthError::MissingHeader),
            (Some(String::new()), AuthError::MissingHeader),
            (Some("   ".into()), AuthError::MissingHeader),
            (Some(format!("Basic {token}")), AuthError::MalformedHeader),
            (
                Some("Basic Ym90OnNlY3JldA==".into()),
                AuthError::MalformedHeader,
            ),
            (Some("Bearer".into()), AuthError::MalformedHeader),
            (Some("Bearer    ".into()), AuthError::MalformedHeader),
            (Some(format!("Bearer{token}")), AuthError::MalformedHeader),
            (
                Some(format!("Bearer {token} {token}")),
                AuthError::MalformedHeader,
            ),
            (Some(token.clone()), AuthError::MalformedHeader),
        ];
        for (header, expected) in cases {
            let err = auth
                .validate(header.as_deref(), SERVICE_URL, MSTEAMS, NOW)
                .await
                .unwrap_err();
            assert_eq!(err, expected, "{header:?}");
            assert_eq!(err.status(), 401);
            assert!(!err.to_string().contains(&token));
        }
        // The scheme is case-insensitive.
        auth.validate(Some(&format!("bearer {token}")), SERVICE_URL, MSTEAMS, NOW)
            .await
            .unwrap();
        assert_eq!(fake.fetches().await, (1, 1));
    }

    #[tokio::test]
    async fn garbage_tokens_are_refused_without_panicking() {
        let fake = Fake::start(vec![key_a()]).await;
        let auth = fake.auth();
        let signature = sign(&claims()).rsplit('.').next().unwrap().to_owned();
        let kid_a = json!({ "alg": "RS256", "kid": KID_A });
        let garbage = vec![
            "x".to_owned(),
            "a.b".to_owned(),
            "a.b.c".to_owned(),
            "a.b.c.d".to_owned(),
            "..".to_owned(),
            "....".to_owned(),
            "%%%.%%%.%%%".to_owned(),
            format!("{}.e30.{signature}", URL_SAFE_NO_PAD.encode("[]")),
            format!("{}.e30.{signature}", URL_SAFE_NO_PAD.encode("{\"alg\":7}")),
            format!(
                "{}.e30.{signature}",
                URL_SAFE_NO_PAD.encode([0xff, 0xfe, 0x00])
            ),
            format!(
                "{}.e30.{signature}",
                URL_SAFE_NO_PAD.encode("{\"alg\":\"RS256\"")
            ),
            forge(&kid_a, &claims(), b""),
            forge(&kid_a, &claims(), &[0u8; 4096]),
            format!(
                "{}.%%%.{signature}",
                URL_SAFE_NO_PAD.encode(kid_a.to_string())
            ),
            format!(
                "{}.{}.%%%",
                URL_SAFE_NO_PAD.encode(kid_a.to_string()),
                URL_SAFE_NO_PAD.encode("{}")
            ),
            forge(&json!({ "alg": "RS256", "kid": 7 }), &claims(), b"sig"),
            forge(&json!({ "alg": "RS256" }), &claims(), b"sig"),
            forge(
                &json!({ "alg": "RS256", "kid": "\u{202e}\n../../etc" }),
                &claims(),
                b"sig",
            ),
            forge(&json!({ "alg": "x".repeat(100_000) }), &claims(), b"sig"),
        ];
        for token in &garbage {
            let err = check(&auth, token, NOW).await.unwrap_err();
            assert_eq!(err.status(), 403, "{err}");
            assert!(err.to_string().len() < 200, "{err}");
        }
    }

    #[tokio::test]
    async fn metadata_that_cannot_be_fetched_is_503() {
        let token = sign(&claims());
        // Down: the server answers 500.
        let down = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(500))
            .mount(&down)
            .await;
        // The metadata is fine, but the JWKS is not a JWKS, or has no usable key.
        let bad_jwks = Fake::start(vec![]).await;
        *bad_jwks.jwks.0.lock().unwrap() = json!("<html>maintenance</html>");
        let no_keys = Fake::start(vec![json!({ "kty": "EC", "kid": KID_A })]).await;
        // A server that hangs up on every connection. (Not a dropped MockServer: wiremock pools
        // its servers, so another test may be answering on that port already.)
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hang_up_url = format!("http://{}{METADATA_PATH}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((connection, _)) = listener.accept().await {
                drop(connection);
            }
        });

        let urls = [
            format!("{}{METADATA_PATH}", down.uri()),
            format!("{}/no-such-document", bad_jwks.server.uri()),
            format!("{}{METADATA_PATH}", bad_jwks.server.uri()),
            format!("{}{METADATA_PATH}", no_keys.server.uri()),
            hang_up_url,
        ];
        for url in urls {
            let auth = BotAuth::new(&url, APP_ID, reqwest::Client::new());
            let err = check(&auth, &token, NOW).await.unwrap_err();
            assert!(
                matches!(err, AuthError::MetadataUnavailable(_)),
                "{url}: {err}"
            );
            assert_eq!(err.status(), 503);
            // While we may not try again, it stays 503 rather than claiming the key is unknown.
            let err = check(&auth, &token, NOW + 1).await.unwrap_err();
            assert_eq!(err.status(), 503, "{url}: {err}");
        }
    }

    #[tokio::test]
    async fn the_metadata_is_fetched_again_a_minute_after_a_failure() {
        let fake = Fake::start(vec![]).await;
        let auth = fake.auth();
        let token = sign(&claims());
        let err = check(&auth, &token, NOW).await.unwrap_err();
        assert_eq!(err.status(), 503);
        fake.set_keys(vec![key_a()]);
        let err = check(&auth, &token, NOW + 30).await.unwrap_err();
        assert_eq!(err.status(), 503);
        assert_eq!(fake.fetches().await, (1, 1));
        check(&auth, &token, NOW + 60).await.unwrap();
        assert_eq!(fake.fetches().await, (2, 2));
    }

    #[test]
    fn statuses_split_missing_credentials_bad_tokens_and_outages() {
        use AuthError::*;
        for err in [MissingHeader, MalformedHeader] {
            assert_eq!(err.status(), 401, "{err}");
        }
        for err in [
            MalformedToken,
            UnsupportedAlgorithm("none".into()),
            UnknownKey,
            BadSignature,
            WrongIssuer,
            WrongAudience,
            Expired,
            NotYetValid,
            ServiceUrlMismatch,
            EndorsementMissing(MSTEAMS.into()),
        ] {
            assert_eq!(err.status(), 403, "{err}");
        }
        assert_eq!(MetadataUnavailable("down".into()).status(), 503);
    }

    #[test]
    fn attacker_chosen_values_are_sanitised_in_error_texts() {
        assert_eq!(sanitise("none"), "none");
        assert_eq!(sanitise("HS256\n<script>"), "HS256script");
        assert_eq!(sanitise(&"A".repeat(1000)).len(), 16);
    }
}
