//! A fake Bot Framework login service for the Teams tests: the OpenID metadata document and the
//! JWKS it points to, on a wiremock server in the test process, and tokens signed like the Bot
//! Connector signs the requests it sends to a bot.
//!
//! - [`FakeBotFramework::start`] serves key A (`kid` [`KID_A`], endorsed for `msteams`);
//!   [`FakeBotFramework::metadata_url`] goes into `[teams] openid_metadata_url`.
//! - [`FakeBotFramework::token`] signs [`claims`] (or any claims) with key A;
//!   [`authorization`] makes the header value. [`sign_with`] picks the key, `kid` and algorithm;
//!   [`unsigned_token`] and [`hs256_with_public_key`] forge the classic attacks.
//! - [`FakeBotFramework::rotate_in_key_b`] publishes key B as Microsoft does during a rotation,
//!   [`FakeBotFramework::set_keys`] serves any JWKS, [`FakeBotFramework::set_down`] makes both
//!   documents answer 503, and [`FakeBotFramework::fetches`] counts what was fetched.
//!
//! The keys are test-only, in `tests/fixtures/botframework` (see its README); never trust
//! anything they signed outside tests.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const KEY_A_PEM: &str = include_str!("../fixtures/botframework/key_a.pem");
pub const KEY_A_PUBLIC_PEM: &str = include_str!("../fixtures/botframework/key_a.pub.pem");
pub const KEY_B_PEM: &str = include_str!("../fixtures/botframework/key_b.pem");
const KEY_A_N: &str = include_str!("../fixtures/botframework/key_a.n");
const KEY_B_N: &str = include_str!("../fixtures/botframework/key_b.n");

pub const KID_A: &str = "fake-key-a";
pub const KID_B: &str = "fake-key-b";
pub const ISSUER: &str = "https://api.botframework.com";
/// The bot's app id in the Teams tests.
pub const APP_ID: &str = "5b0c1a9e-7d3f-4e62-8a14-93c2f0d6b7e1";
/// Where the fake Connector would be; the Teams tests put their fake connector's URL in the
/// claims instead when replies must arrive somewhere.
pub const SERVICE_URL: &str = "https://smba.trafficmanager.net/emea/";
pub const MSTEAMS: &str = "msteams";

pub const METADATA_PATH: &str = "/v1/.well-known/openidconfiguration";
pub const KEYS_PATH: &str = "/v1/.well-known/keys";

/// A JWKS entry for an RSA key, with its `endorsements` when given.
pub fn jwk(kid: &str, n: &str, endorsements: Option<&[&str]>) -> Value {
    let mut key = json!({
        "kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": n.trim(), "e": "AQAB",
    });
    if let Some(endorsements) = endorsements {
        key["endorsements"] = json!(endorsements);
    }
    key
}

/// Key A as the JWKS lists it: endorsed for Teams and a few other channels.
pub fn key_a() -> Value {
    jwk(KID_A, KEY_A_N, Some(&[MSTEAMS, "skype", "webchat"]))
}

/// Key B as the JWKS lists it once rotated in.
pub fn key_b() -> Value {
    jwk(KID_B, KEY_B_N, Some(&[MSTEAMS, "skype", "webchat"]))
}

/// The claims of a Connector token valid at `now` for `app_id` and `service_url`.
pub fn claims(app_id: &str, service_url: &str, now: i64) -> Value {
    json!({
        "serviceurl": service_url,
        "nbf": now - 10,
        "exp": now + 3590,
        "iss": ISSUER,
        "aud": app_id,
    })
}

/// `claims` with some claims replaced; a `null` removes the claim.
pub fn with(mut claims: Value, changes: Value) -> Value {
    let object = claims.as_object_mut().expect("claims are a JSON object");
    for (name, value) in changes.as_object().expect("changes are a JSON object") {
        if value.is_null() {
            object.remove(name);
        } else {
            object.insert(name.clone(), value.clone());
        }
    }
    claims
}

/// Signs `claims` with a test key (its PEM), under `kid`, with `alg` (an RSA algorithm).
pub fn sign_with(pem: &str, alg: Algorithm, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("the test key is valid PEM");
    jsonwebtoken::encode(&header, claims, &key).expect("signing with the test key works")
}

/// A token with any header and `alg: none`-style empty signature: nothing checks it but us.
pub fn unsigned_token(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// The key-confusion attack: HS256 keyed with key A's public PEM, which anyone can have.
pub fn hs256_with_public_key(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(KID_A.to_owned());
    let key = EncodingKey::from_secret(KEY_A_PUBLIC_PEM.as_bytes());
    jsonwebtoken::encode(&header, claims, &key).expect("HMAC signing works")
}

/// The `Authorization` header value for `token`.
pub fn authorization(token: &str) -> String {
    format!("Bearer {token}")
}

#[derive(Clone)]
struct Documents {
    jwks: Arc<Mutex<Value>>,
    down: Arc<Mutex<bool>>,
    metadata: Value,
}

impl Documents {
    fn down(&self) -> bool {
        *self.down.lock().expect("the fake's lock is never poisoned")
    }
}

struct Serve {
    documents: Documents,
    jwks: bool,
}

impl Respond for Serve {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.documents.down() {
            return ResponseTemplate::new(503);
        }
        if self.jwks {
            let jwks = self
                .documents
                .jwks
                .lock()
                .expect("the fake's lock is never poisoned")
                .clone();
            ResponseTemplate::new(200).set_body_json(jwks)
        } else {
            ResponseTemplate::new(200).set_body_json(self.documents.metadata.clone())
        }
    }
}

/// The Bot Framework's login service (`login.botframework.com`), as far as a bot sees it.
pub struct FakeBotFramework {
    server: MockServer,
    documents: Documents,
}

impl FakeBotFramework {
    /// Serves the metadata and a JWKS with key A.
    pub async fn start() -> FakeBotFramework {
        let server = MockServer::start().await;
        let documents = Documents {
            jwks: Arc::new(Mutex::new(json!({ "keys": [key_a()] }))),
            down: Arc::new(Mutex::new(false)),
            metadata: json!({
                "issuer": ISSUER,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": format!("{}{KEYS_PATH}", server.uri()),
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }),
        };
        for (document, jwks) in [(METADATA_PATH, false), (KEYS_PATH, true)] {
            Mock::given(method("GET"))
                .and(path(document))
                .respond_with(Serve {
                    documents: documents.clone(),
                    jwks,
                })
                .mount(&server)
                .await;
        }
        FakeBotFramework { server, documents }
    }

    /// For `[teams] openid_metadata_url`.
    pub fn metadata_url(&self) -> String {
        format!("{}{METADATA_PATH}", self.server.uri())
    }

    /// A token valid at `now` for `app_id` and `service_url`, signed with key A.
    pub fn token(&self, app_id: &str, service_url: &str, now: i64) -> String {
        sign_with(
            KEY_A_PEM,
            Algorithm::RS256,
            KID_A,
            &claims(app_id, service_url, now),
        )
    }

    /// Any claims, signed with key A.
    pub fn sign(&self, claims: &Value) -> String {
        sign_with(KEY_A_PEM, Algorithm::RS256, KID_A, claims)
    }

    /// Publishes key B next to key A; sign with `sign_with(KEY_B_PEM, RS256, KID_B, ..)`.
    pub fn rotate_in_key_b(&self) {
        self.set_keys(vec![key_a(), key_b()]);
    }

    /// Serves exactly these JWKS entries from now on.
    pub fn set_keys(&self, keys: Vec<Value>) {
        *self
            .documents
            .jwks
            .lock()
            .expect("the fake's lock is never poisoned") = json!({ "keys": keys });
    }

    /// While down, both documents answer 503.
    pub fn set_down(&self, down: bool) {
        *self
            .documents
            .down
            .lock()
            .expect("the fake's lock is never poisoned") = down;
    }

    /// How many times (metadata, JWKS) were requested.
    pub async fn fetches(&self) -> (usize, usize) {
        let requests = self.server.received_requests().await.unwrap_or_default();
        let count = |p: &str| requests.iter().filter(|r| r.url.path() == p).count();
        (count(METADATA_PATH), count(KEYS_PATH))
    }
}

#[cfg(test)]
mod self_test {
    use sspr_bot::channels::teams::auth::{AuthError, BotAuth};

    use super::*;

    /// Monday 30 November 2026, 06:55 UTC.
    const NOW: i64 = 1_796_021_700;

    async fn validate(fake: &FakeBotFramework, token: &str) -> Result<(), AuthError> {
        let auth = BotAuth::new(&fake.metadata_url(), APP_ID, reqwest::Client::new());
        auth.validate(Some(&authorization(token)), SERVICE_URL, MSTEAMS, NOW)
            .await
            .map(|_| ())
    }

    #[tokio::test]
    async fn fake_botframework_tokens_pass_bot_auth() {
        let fake = FakeBotFramework::start().await;
        validate(&fake, &fake.token(APP_ID, SERVICE_URL, NOW))
            .await
            .unwrap();
        assert_eq!(fake.fetches().await, (1, 1));
    }

    #[tokio::test]
    async fn fake_botframework_forgeries_are_refused() {
        let fake = FakeBotFramework::start().await;
        let good = claims(APP_ID, SERVICE_URL, NOW);
        let cases = [
            (
                fake.sign(&with(
                    good.clone(),
                    json!({ "iss": "https://sts.windows.net/x/" }),
                )),
                AuthError::WrongIssuer,
            ),
            (
                fake.sign(&with(good.clone(), json!({ "aud": "another-bot" }))),
                AuthError::WrongAudience,
            ),
            (
                fake.token(APP_ID, SERVICE_URL, NOW - 7200),
                AuthError::Expired,
            ),
            (
                fake.token(APP_ID, "https://attacker.example/", NOW),
                AuthError::ServiceUrlMismatch,
            ),
            (
                sign_with(KEY_B_PEM, Algorithm::RS256, KID_A, &good),
                AuthError::BadSignature,
            ),
            (
                unsigned_token(&json!({ "alg": "none", "kid": KID_A }), &good),
                AuthError::UnsupportedAlgorithm("none".into()),
            ),
            (
                hs256_with_public_key(&good),
                AuthError::UnsupportedAlgorithm("HS256".into()),
            ),
        ];
        for (token, expected) in cases {
            let refused = validate(&fake, &token).await;
            assert_eq!(refused, Err(expected));
        }
    }

    #[tokio::test]
    async fn fake_botframework_rotates_keys_and_goes_down() {
        let fake = FakeBotFramework::start().await;
        let rotated = sign_with(
            KEY_B_PEM,
            Algorithm::RS256,
            KID_B,
            &claims(APP_ID, SERVICE_URL, NOW),
        );
        assert_eq!(
            validate(&fake, &rotated).await.unwrap_err(),
            AuthError::UnknownKey
        );
        fake.rotate_in_key_b();
        validate(&fake, &rotated).await.unwrap();

        fake.set_down(true);
        let err = validate(&fake, &fake.token(APP_ID, SERVICE_URL, NOW))
            .await
            .unwrap_err();
        assert_eq!(err.status(), 503);
        fake.set_down(false);
        validate(&fake, &fake.token(APP_ID, SERVICE_URL, NOW))
            .await
            .unwrap();
    }
}
