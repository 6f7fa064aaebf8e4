//! The Teams channel end to end, in the Bot Framework's wire format: activities in with a signed
//! bearer token (a fake OpenID metadata document and JWKS), replies out through a fake Bot
//! Connector that wants a client-credentials token.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use sspr_bot::channels::teams::auth::BotAuth;
use sspr_bot::channels::teams::Teams;
use sspr_bot::recovery::Outbound;
use tokio_util::sync::CancellationToken;

use crate::fake_botframework::{self as bf, FakeBotFramework};
use crate::fake_connector::{FakeConnector, APP_ID};
use crate::support::*;

const CONVERSATION: &str = "a:1Xk9personalJan";
const USER: &str = "29:1JanTeamsId";
const AAD: &str = "6b1e2f3a-aad-jan";

struct Harness {
    t: TestApp,
    bf: FakeBotFramework,
    fc: FakeConnector,
    teams: Arc<Teams>,
    next: std::sync::atomic::AtomicU32,
}

impl Harness {
    async fn new() -> Self {
        let t = TestApp::new().await;
        let bf = FakeBotFramework::start().await;
        let fc = FakeConnector::start().await;
        let auth = BotAuth::new(&bf.metadata_url(), APP_ID, reqwest::Client::new());
        let teams = Teams::new(
            Arc::clone(&t.app.core),
            Arc::clone(&t.app.localizer),
            Some(auth),
            fc.connector(),
            CancellationToken::new(),
        );
        t.app.core.register_outbound("teams", teams.clone());
        Self {
            t,
            bf,
            fc,
            teams,
            next: 0.into(),
        }
    }

    fn token(&self) -> String {
        bf::authorization(&self.bf.token(
            APP_ID,
            &self.fc.service_url(),
            chrono::Utc::now().timestamp(),
        ))
    }

    /// A message activity from Jan in his personal chat with the bot.
    fn activity(&self, extra: Value) -> Value {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut a = json!({
            "type": "message",
            "id": format!("f:{n:08}"),
            "timestamp": "2026-11-30T06:55:00.000Z",
            "serviceUrl": self.fc.service_url(),
            "channelId": "msteams",
            "from": {"id": USER, "name": "Jan de Vries", "aadObjectId": AAD},
            "conversation": {"id": CONVERSATION, "conversationType": "personal", "tenantId": "t"},
            "recipient": {"id": format!("28:{APP_ID}"), "name": "sspr-bot"},
            "locale": "nl-NL",
        });
        for (k, v) in extra.as_object().unwrap() {
            a[k] = v.clone();
        }
        a
    }

    /// Posts `activity` as the Bot Connector would and waits for the bot's replies to it.
    async fn post(&self, activity: Value) -> Vec<Value> {
        let before = self.fc.activities().len();
        let status = self
            .teams
            .receive(Some(&self.token()), activity.to_string().as_bytes())
            .await;
        assert_eq!(status, 200);
        self.replies_after(before).await
    }

    /// The activities the bot sent after the first `before`, once it has stopped sending.
    async fn replies_after(&self, before: usize) -> Vec<Value> {
        let mut seen = before;
        let mut quiet = 0;
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now = self.fc.activities().len();
            if now > before && now == seen {
                quiet += 1;
                if quiet >= 5 {
                    break;
                }
            } else {
                quiet = 0;
            }
            seen = now;
        }
        self.fc.activities()[before..]
            .iter()
            .map(|(_, a)| a.clone())
            .collect()
    }

    async fn say(&self, text: &str) -> Vec<Value> {
        self.post(self.activity(json!({ "text": text }))).await
    }

    /// Presses button `id` on the newest card that has it.
    async fn press(&self, id: &str) -> Vec<Value> {
        let (card, activity_id) = self.card_with(|a| a["data"]["id"] == id);
        self.post(self.activity(json!({
            "value": {"sspr": "button", "id": id, "card": card},
            "replyToId": activity_id,
        })))
        .await
    }

    /// Types `secret` into the newest card's password field.
    async fn type_secret(&self, secret: &str) -> Vec<Value> {
        let (card, activity_id) = self.card_with(|a| a["data"]["sspr"] == "secret");
        self.post(self.activity(json!({
            "value": {"sspr": "secret", "card": card, "secret": secret},
            "replyToId": activity_id,
        })))
        .await
    }

    /// The card id and activity id of the newest card with an action matching `pick`.
    fn card_with(&self, pick: impl Fn(&Value) -> bool) -> (String, String) {
        let ids = self.fc.activity_ids();
        for (i, (_, a)) in self.fc.activities().iter().enumerate().rev() {
            if let Some(action) = actions(a).into_iter().find(|x| pick(x)) {
                return (
                    action["data"]["card"].as_str().unwrap().to_string(),
                    ids[i].clone(),
                );
            }
        }
        panic!("no card with such an action")
    }
}

/// Every action of an activity's Adaptive Cards (the action bar and action sets).
fn actions(a: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for att in a["attachments"].as_array().into_iter().flatten() {
        let content = &att["content"];
        out.extend(content["actions"].as_array().into_iter().flatten().cloned());
        for el in content["body"].as_array().into_iter().flatten() {
            out.extend(el["actions"].as_array().into_iter().flatten().cloned());
        }
    }
    out
}

/// Everything a user sees of some activities, as one string.
fn shown(activities: &[Value]) -> String {
    activities
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
fn expect(activities: &[Value], needle: &str) {
    let s = shown(activities);
    assert!(s.contains(needle), "expected {needle:?} in:\n{s}");
}

#[tokio::test]
async fn jan_resets_his_password_from_teams_with_email_and_authenticator_code() {
    let h = Harness::new().await;
    expect(&h.say("hoi").await, "Wat is je loginnaam?");
    expect(&h.say(JAN).await, "reason:forgot");
    expect(&h.press("reason:forgot").await, "method:email");
    let sent = h.press("method:email").await;
    expect(&sent, "ja*****@pr*****.example");
    let code = h.t.last_code("email").await;
    expect(&h.say(&code).await, "Gelukt!");
    h.press("method:totp").await;
    let asked = h.say(&h.t.totp(JAN_TOTP, 0)).await;
    expect(&asked, "Beide verificatiestappen");
    // The new password goes into a card's password field, never into a chat message.
    let card = asked.last().unwrap();
    let input = &card["attachments"][0]["content"]["body"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "Input.Text")
        .cloned()
        .expect("a password field");
    assert_eq!(input["style"], "password");
    expect(
        &h.type_secret(GOOD_PASSWORD).await,
        "Typ hetzelfde wachtwoord",
    );
    expect(
        &h.type_secret(GOOD_PASSWORD).await,
        "Je wachtwoord is gewijzigd",
    );
    assert!(h.t.sign_in(JAN, GOOD_PASSWORD).await);

    // Used cards were replaced by cards without actions, naming the choice but never a secret.
    let updates = h.fc.updates();
    assert!(updates.len() >= 5, "{updates:?}");
    for (_, _, body) in &updates {
        assert!(actions(body).is_empty(), "{body}");
    }
    let everything = format!(
        "{}\n{:?}",
        shown(
            &h.fc
                .activities()
                .into_iter()
                .map(|a| a.1)
                .collect::<Vec<_>>()
        ),
        updates
    );
    assert!(!everything.contains(GOOD_PASSWORD));
    assert!(!everything.contains(&code));
    // One client-credentials token served every reply.
    assert_eq!(h.fc.token_requests(), 1);
}

#[tokio::test]
async fn tokens_that_are_not_right_are_refused_and_nothing_is_processed() {
    let h = Harness::new().await;
    let now = chrono::Utc::now().timestamp();
    let good = bf::claims(APP_ID, &h.fc.service_url(), now);
    let cases: Vec<(&str, Option<String>, u16)> = vec![
        ("no header", None, 401),
        ("basic", Some("Basic dXNlcjpwYXNz".into()), 401),
        (
            "wrong issuer",
            Some(bf::authorization(&h.bf.sign(&bf::with(
                good.clone(),
                json!({"iss": "https://sts.windows.net/evil/"}),
            )))),
            403,
        ),
        (
            "wrong audience",
            Some(bf::authorization(&h.bf.sign(&bf::with(
                good.clone(),
                json!({"aud": "another-bot"}),
            )))),
            403,
        ),
        (
            "expired",
            Some(bf::authorization(&h.bf.sign(&bf::with(
                good.clone(),
                json!({"exp": now - 600, "nbf": now - 4000}),
            )))),
            403,
        ),
        (
            "unknown key",
            Some(bf::authorization(&bf::sign_with(
                bf::KEY_B_PEM,
                Algorithm::RS256,
                "never-published",
                &good,
            ))),
            403,
        ),
        (
            "alg none",
            Some(bf::authorization(&bf::unsigned_token(
                &json!({"alg": "none", "typ": "JWT", "kid": bf::KID_A}),
                &good,
            ))),
            403,
        ),
        (
            "hs256 with the public key",
            Some(bf::authorization(&bf::hs256_with_public_key(&good))),
            403,
        ),
        (
            "another serviceUrl",
            Some(bf::authorization(&h.bf.sign(&bf::with(
                good.clone(),
                json!({"serviceurl": "https://smba.trafficmanager.net/amer/"}),
            )))),
            403,
        ),
    ];
    for (what, header, status) in cases {
        let activity = h.activity(json!({"text": JAN}));
        let got = h
            .teams
            .receive(header.as_deref(), activity.to_string().as_bytes())
            .await;
        assert_eq!(got.as_u16(), status, "{what}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.fc.activities().is_empty(), "nothing answered");
    assert!(h
        .t
        .app
        .store
        .load_conversation(&format!("teams:{CONVERSATION}"))
        .await
        .unwrap()
        .is_none());
    // The right token for the same activity works.
    expect(&h.say(JAN).await, "reason:forgot");
}

#[tokio::test]
async fn in_a_channel_the_bot_only_points_to_a_private_chat() {
    let h = Harness::new().await;
    let activity = h.activity(json!({
        "text": "<at>sspr-bot</at> wachtwoord vergeten",
        "conversation": {"id": "19:general@thread.tacv2", "conversationType": "channel", "isGroup": true},
    }));
    let replies = h.post(activity).await;
    assert_eq!(replies.len(), 1);
    expect(&replies, "alleen in een privéchat");
    assert!(h
        .t
        .app
        .store
        .load_conversation("teams:19:general@thread.tacv2")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_repeated_activity_and_a_used_card_are_taken_once() {
    let h = Harness::new().await;
    let first = h.activity(json!({"text": "hoi"}));
    h.post(first.clone()).await;
    let n = h.fc.activities().len();
    let again = h
        .teams
        .receive(Some(&h.token()), first.to_string().as_bytes())
        .await;
    assert_eq!(again, 200, "a redelivery is acknowledged");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.fc.activities().len(), n, "and not answered twice");

    h.say(JAN).await;
    let (card, activity_id) = h.card_with(|a| a["data"]["id"] == "reason:forgot");
    let submit = |h: &Harness| {
        h.activity(json!({
            "value": {"sspr": "button", "id": "reason:forgot", "card": card},
            "replyToId": activity_id,
        }))
    };
    expect(&h.post(submit(&h)).await, "method:email");
    let n = h.fc.activities().len();
    let status = h
        .teams
        .receive(Some(&h.token()), submit(&h).to_string().as_bytes())
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        h.fc.activities().len(),
        n,
        "the same card a second time does nothing"
    );
}

#[tokio::test]
async fn a_password_typed_as_a_chat_message_is_not_used() {
    let h = Harness::new().await;
    h.say("hoi").await;
    h.say(JAN).await;
    h.press("reason:forgot").await;
    h.press("method:email").await;
    let code = h.t.last_code("email").await;
    h.say(&code).await;
    h.press("method:totp").await;
    h.say(&h.t.totp(JAN_TOTP, 0)).await;
    let replies = h.say(GOOD_PASSWORD).await;
    expect(&replies, "niet gebruikt");
    // The card with the password field is shown again.
    assert!(actions(replies.last().unwrap())
        .iter()
        .any(|a| a["data"]["sspr"] == "secret"));
    assert!(!h.t.sign_in(JAN, GOOD_PASSWORD).await);
    assert!(!shown(&replies).contains(GOOD_PASSWORD));
    // A slash command still works in that step.
    expect(&h.say("/stop").await, "Gestopt");
}

#[tokio::test]
async fn the_language_comes_from_the_activity_locale() {
    let h = Harness::new().await;
    let replies = h
        .post(h.activity(json!({"text": "hello", "locale": "en-US"})))
        .await;
    expect(&replies, "What is your login name?");
}

#[tokio::test]
async fn a_late_result_goes_to_the_conversation_through_the_connector() {
    let h = Harness::new().await;
    h.say("hoi").await;
    let chat = sspr_bot::recovery::ChatRef::new(format!("teams:{CONVERSATION}"), "teams:user:x");
    let before = h.fc.activities().len();
    h.teams
        .deliver(
            &chat,
            sspr_bot::recovery::TurnOutput {
                lang: sspr_bot::dialogue::Lang::Nl,
                replies: vec![sspr_bot::dialogue::Reply::text(
                    sspr_bot::dialogue::Text::new("push-expired"),
                )],
                expects_secret: false,
            },
        )
        .await;
    let sent = h.fc.activities();
    assert_eq!(sent.len(), before + 1);
    assert_eq!(sent[before].0, CONVERSATION);
    assert!(sent[before].1.to_string().contains("op tijd geen antwoord"));
}

#[tokio::test]
async fn the_endpoint_is_served_over_http_and_refuses_without_a_token() {
    let h = Harness::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = h.teams.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let url = format!("http://{addr}/api/teams/messages");
    let client = reqwest::Client::new();
    let no_token = client
        .post(&url)
        .json(&h.activity(json!({"text": "hoi"})))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    assert!(no_token.text().await.unwrap().is_empty(), "nothing echoed");
    let before = h.fc.activities().len();
    let ok = client
        .post(&url)
        .header("Authorization", h.token())
        .json(&h.activity(json!({"text": "hoi"})))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    expect(&h.replies_after(before).await, "Wat is je loginnaam?");
}

#[tokio::test]
async fn without_an_app_id_only_local_activities_are_taken() {
    let t = TestApp::new().await;
    let fc = FakeConnector::emulator().await;
    let teams = Teams::new(
        Arc::clone(&t.app.core),
        Arc::clone(&t.app.localizer),
        None,
        fc.connector(),
        CancellationToken::new(),
    );
    let activity = |service_url: &str| {
        json!({
            "type": "message", "id": format!("e:{service_url}"), "serviceUrl": service_url,
            "channelId": "msteams", "text": "hoi",
            "from": {"id": "user-1"}, "conversation": {"id": "c-1"}, "recipient": {"id": "bot"},
        })
        .to_string()
    };
    let remote = teams
        .receive(
            None,
            activity("https://smba.trafficmanager.net/emea/").as_bytes(),
        )
        .await;
    assert_eq!(remote, 403);
    let local = teams
        .receive(None, activity(&fc.service_url()).as_bytes())
        .await;
    assert_eq!(local, 200);
    for _ in 0..100 {
        if !fc.activities().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fc.activities()[0]
        .1
        .to_string()
        .contains("Wat is je loginnaam?"));
    assert!(
        fc.authorizations().iter().all(Option::is_none),
        "no token in local testing"
    );
}

fn teams_config(dir: &std::path::Path, listen: &str, teams: &str) -> String {
    format!(
        "[database]\nurl = \"sqlite://{db}\"\n[directory]\nbackend = \"embedded\"\nseed_demo = true\n\
         [providers]\noutbox = \"{outbox}\"\n[http]\nlisten = \"{listen}\"\n[teams]\n{teams}",
        db = dir.join("sspr.db").display(),
        outbox = dir.join("outbox.jsonl").display(),
    )
}

#[tokio::test]
async fn serve_with_a_teams_configuration_checks_tokens_and_replies_through_the_connector() {
    use sspr_bot::config::Config;
    let dir = tempfile::tempdir().unwrap();
    let bf = FakeBotFramework::start().await;
    let fc = FakeConnector::start().await;
    let text = teams_config(
        dir.path(),
        "0.0.0.0:0",
        &format!(
            "app_id = \"{APP_ID}\"\napp_password = \"{pw}\"\ntenant_id = \"{tenant}\"\n\
             openid_metadata_url = \"{meta}\"\ntoken_url = \"{token}\"\n",
            pw = crate::fake_connector::APP_PASSWORD,
            tenant = crate::fake_connector::TENANT,
            meta = bf.metadata_url(),
            token = fc.token_url(),
        ),
    );
    let config = Config::parse(std::path::Path::new("t.toml"), &text, Vec::new()).unwrap();
    let app = sspr_bot::app::App::from_config(&config, Arc::new(sspr_bot::recovery::SystemClock))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/api/teams/messages",
        listener.local_addr().unwrap()
    );
    let shutdown = CancellationToken::new();
    let server = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { sspr_bot::server::serve(app, &config, listener, shutdown).await })
    };
    let activity = json!({
        "type": "message", "id": "s:1", "serviceUrl": fc.service_url(), "channelId": "msteams",
        "from": {"id": USER, "aadObjectId": AAD}, "recipient": {"id": "28:bot"},
        "conversation": {"id": CONVERSATION, "conversationType": "personal"},
        "text": "hoi", "locale": "nl-NL",
    });
    let token =
        bf::authorization(&bf.token(APP_ID, &fc.service_url(), chrono::Utc::now().timestamp()));
    let http = reqwest::Client::new();
    let mut status = None;
    for _ in 0..100 {
        match http
            .post(&url)
            .header("Authorization", &token)
            .json(&activity)
            .send()
            .await
        {
            Ok(r) => {
                status = Some(r.status().as_u16());
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert_eq!(status, Some(200));
    for _ in 0..100 {
        if !fc.activities().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(fc.activities()[0]
        .1
        .to_string()
        .contains("Wat is je loginnaam?"));
    assert_eq!(fc.token_requests(), 1);
    shutdown.cancel();
    server.await.unwrap().unwrap();
}

#[test]
fn teams_without_an_app_id_is_refused_on_a_public_listener() {
    let dir = tempfile::tempdir().unwrap();
    let text = teams_config(dir.path(), "0.0.0.0:8080", "");
    let err = sspr_bot::config::Config::parse(std::path::Path::new("t.toml"), &text, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("teams.app_id"), "{err}");
    let local = teams_config(dir.path(), "127.0.0.1:8080", "");
    assert!(
        sspr_bot::config::Config::parse(std::path::Path::new("t.toml"), &local, Vec::new()).is_ok()
    );
    let half = teams_config(dir.path(), "127.0.0.1:8080", "app_id = \"x\"\n");
    let err = sspr_bot::config::Config::parse(std::path::Path::new("t.toml"), &half, Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("teams.app_password"), "{err}");
}

/// `teams/package.sh` builds an app package whose manifest names the bot, personal scope only,
/// with the commands in Dutch and an English localisation of each.
#[test]
fn the_app_package_is_a_personal_scope_bot_with_commands_in_both_languages() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("app.zip");
    let out = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/teams/package.sh"))
        .args([APP_ID, "sspr.bedrijf.nl"])
        .arg(&zip)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = std::process::Command::new("python3")
        .args(["-c", "import sys,zipfile,json; z=zipfile.ZipFile(sys.argv[1]); print(json.dumps({n: z.read(n).decode('latin-1') for n in z.namelist()}))"])
        .arg(&zip)
        .output()
        .unwrap();
    let files: serde_json::Map<String, Value> =
        serde_json::from_slice(&list.stdout).expect("the package lists as JSON");
    for name in ["manifest.json", "en.json", "color.png", "outline.png"] {
        assert!(files.contains_key(name), "{name} in the package");
    }
    let manifest: Value = serde_json::from_str(files["manifest.json"].as_str().unwrap()).unwrap();
    assert_eq!(manifest["id"], APP_ID);
    assert_eq!(manifest["bots"][0]["botId"], APP_ID);
    assert_eq!(manifest["bots"][0]["scopes"], json!(["personal"]));
    assert_eq!(manifest["validDomains"], json!(["sspr.bedrijf.nl"]));
    assert!(!files["manifest.json"].as_str().unwrap().contains("{{"));
    let commands = manifest["bots"][0]["commandLists"][0]["commands"]
        .as_array()
        .unwrap();
    let en: Value = serde_json::from_str(files["en.json"].as_str().unwrap()).unwrap();
    for i in 0..commands.len() {
        for field in ["title", "description"] {
            let key = format!("bots[0].commandLists[0].commands[{i}].{field}");
            assert!(en[&key].is_string(), "English for {key}");
        }
    }
    // A bad app id is refused before anything is written.
    let bad = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/teams/package.sh"))
        .args(["not a guid; rm -rf /", "sspr.bedrijf.nl"])
        .arg(dir.path().join("bad.zip"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(!dir.path().join("bad.zip").exists());
}
