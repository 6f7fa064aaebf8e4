//! Two `sspr-bot serve` processes on one PostgreSQL database, as two replicas behind a load
//! balancer: Telegram's webhook updates of one conversation are split between them, a double tap
//! and a code typed twice arrive at both at the same moment, and a redelivered update reaches
//! both. Exactly one code passes, exactly one SMS goes out per request, every update is one turn
//! (none lost, none run twice), and the reset completes.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use sspr_bot::directory::EmbeddedDirectory;
use sspr_bot::domain::LoginName;
use sspr_bot::store::Store;
use wiremock::matchers::{basic_auth, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::fake_telegram::{FakeTelegram, SentMessage};
use crate::pg::TestDb;
use crate::support::{form, GOOD_PASSWORD, JAN, JAN_TOTP};

const TOKEN: &str = "123456:replica-test";
const SECRET: &str = "replica-webhook-secret";
const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TWILIO_TOKEN: &str = "tw-auth-token-replicas";
const CHAT: i64 = 5150;

struct Replica {
    child: Child,
    url: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_replica(
    dir: &Path,
    name: &str,
    db_url: &str,
    telegram: &str,
    twilio: &str,
) -> Replica {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let config = format!(
        "[database]\nurl = \"{db_url}\"\n\
         [security]\nkey_file = \"{key}\"\n\
         [directory]\nbackend = \"embedded\"\nseed_demo = true\n\
         [http]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"{url}\"\n\
         [telegram]\ntoken = \"{TOKEN}\"\napi_url = \"{telegram}\"\nmode = \"webhook\"\n\
         webhook_secret = \"{SECRET}\"\n\
         [sms]\nprovider = \"twilio\"\nbase_url = \"{twilio}\"\naccount_sid = \"{SID}\"\n\
         auth_token = \"{TWILIO_TOKEN}\"\nfrom = \"+3197010203040\"\n\
         [log]\nlevel = \"warn\"\n",
        key = dir.join("shared.key").display(),
    );
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, config).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_sspr-bot"))
        .args(["serve", "--config"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let replica = Replica { child, url };
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{}/readyz", replica.url)).send().await {
            if r.status() == 200 {
                return replica;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("replica {name} did not become ready");
}

async fn post(replica: &Replica, update: &Value) {
    let status = reqwest::Client::new()
        .post(format!(
            "{}{}",
            replica.url,
            sspr_bot::channels::telegram::WEBHOOK_PATH
        ))
        .header(sspr_bot::channels::telegram::SECRET_HEADER, SECRET)
        .json(update)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

/// The messages sent since `before`, once no new one came for 400 ms.
async fn settle(fake: &FakeTelegram, before: usize) -> Vec<SentMessage> {
    fake.wait_for_sent(before + 1, Duration::from_secs(15))
        .await;
    let mut seen = fake.sent().len();
    loop {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let now = fake.sent().len();
        if now == seen {
            return fake.sent()[before..].to_vec();
        }
        seen = now;
    }
}

#[track_caller]
fn with_button(msgs: &[SentMessage], data: &str) -> i32 {
    msgs.iter()
        .rev()
        .find(|m| m.buttons.iter().flatten().any(|(_, d)| d == data))
        .unwrap_or_else(|| panic!("no button {data} in {msgs:#?}"))
        .message_id
}

fn count_buttons(msgs: &[SentMessage], data: &str) -> usize {
    msgs.iter()
        .filter(|m| m.buttons.iter().flatten().any(|(_, d)| d == data))
        .count()
}

fn text(msgs: &[SentMessage]) -> String {
    msgs.iter()
        .map(|m| m.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn turns(replica: &Replica) -> u64 {
    let body = reqwest::get(format!("{}/metrics", replica.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix("sspr_turns_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sspr_turns_total in {body}"))
}

fn sms_codes(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .map(|r| {
            let fields: HashMap<String, String> = form(&r.body).into_iter().collect();
            let body = &fields["Body"];
            body.split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 6)
                .unwrap_or_else(|| panic!("no code in {body:?}"))
                .to_string()
        })
        .collect()
}

fn totp_now() -> String {
    let secret = totp_rs::Secret::Encoded(JAN_TOTP.into())
        .to_bytes()
        .unwrap();
    totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 0, 30, secret)
        .generate_current()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_postgresql_share_a_conversation_correctly() {
    let db = TestDb::postgres().await;
    let db_url = match &db.location {
        sspr_bot::store::Location::Postgres(url) => url.clone(),
        other => panic!("{other:?}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeTelegram::start(TOKEN).await;
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{SID}/Messages.json")))
        .and(basic_auth(SID, TWILIO_TOKEN))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"
        })))
        .mount(&twilio)
        .await;

    // The first replica migrates and seeds; the second joins the same database and key.
    let a = start_replica(dir.path(), "a", &db_url, &fake.url, &twilio.uri()).await;
    let b = start_replica(dir.path(), "b", &db_url, &fake.url, &twilio.uri()).await;
    let mut updates = 0u64;

    let say = |text: &str| fake.message_update_json(CHAT, CHAT, Some("nl"), text).0;
    let press = |msg: i32, data: &str| fake.callback_update_json(CHAT, CHAT, msg, data).0;

    let n = fake.sent().len();
    post(&a, &say("hoi")).await;
    updates += 1;
    assert!(text(&settle(&fake, n).await).contains("Wat is je loginnaam?"));

    let n = fake.sent().len();
    post(&b, &say(JAN)).await;
    updates += 1;
    let reason = with_button(&settle(&fake, n).await, "reason:forgot");

    let n = fake.sent().len();
    post(&a, &press(reason, "reason:forgot")).await;
    updates += 1;
    let menu = with_button(&settle(&fake, n).await, "method:sms");

    // A double tap on "SMS": two callbacks, one at each replica, at the same moment. Both are
    // answered (with the question for the full number); nothing is sent yet.
    let n = fake.sent().len();
    let (tap1, tap2) = (press(menu, "method:sms"), press(menu, "method:sms"));
    tokio::join!(post(&a, &tap1), post(&b, &tap2));
    updates += 2;
    let after_taps = settle(&fake, n).await;
    assert!(
        text(&after_taps).contains("volledige nummer"),
        "{after_taps:#?}"
    );
    assert!(twilio.received_requests().await.unwrap().is_empty());

    // The number sent twice (a resend after a slow answer), to both replicas at once: one SMS.
    let n = fake.sent().len();
    let (n1, n2) = (say("0612345666"), say("0612345666"));
    tokio::join!(post(&a, &n1), post(&b, &n2));
    updates += 2;
    let after_number = settle(&fake, n).await;
    let sent = twilio.received_requests().await.unwrap();
    assert_eq!(
        sent.len(),
        1,
        "one SMS for one request: {:#?}",
        text(&after_number)
    );
    let code = sms_codes(&sent).remove(0);

    // The code typed twice, each arriving at another replica at the same moment.
    let n = fake.sent().len();
    let (c1, c2) = (say(&code), say(&code));
    tokio::join!(post(&a, &c1), post(&b, &c2));
    updates += 2;
    let after_codes = settle(&fake, n).await;
    // One passes ("Gelukt!"); the other, run after it, is a message at step 2's menu, which is
    // shown again: both turns are answered.
    assert_eq!(
        after_codes
            .iter()
            .filter(|m| m.text.contains("Gelukt!"))
            .count(),
        1,
        "{after_codes:#?}"
    );
    assert_eq!(
        count_buttons(&after_codes, "method:totp"),
        2,
        "{after_codes:#?}"
    );
    let store = Store::open_at(&db.location).await.unwrap();
    let passed: Vec<_> = store
        .audit_log(Some(JAN))
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_deref() == Some("sms") && r.outcome == "passed")
        .collect();
    assert_eq!(passed.len(), 1, "exactly one code passes: {passed:#?}");
    let step2 = with_button(&after_codes, "method:totp");

    // Telegram redelivers an update (no 200 in time): both replicas get the same update id.
    let n = fake.sent().len();
    let choose_totp = press(step2, "method:totp");
    tokio::join!(post(&a, &choose_totp), post(&b, &choose_totp));
    updates += 1;
    let prompt = settle(&fake, n).await;
    assert_eq!(prompt.len(), 1, "processed once: {prompt:#?}");

    let n = fake.sent().len();
    post(&b, &say(&totp_now())).await;
    updates += 1;
    assert!(
        text(&settle(&fake, n).await).contains("verwijder je bericht"),
        "asks for the new password"
    );

    let n = fake.sent().len();
    post(&a, &say(GOOD_PASSWORD)).await;
    updates += 1;
    settle(&fake, n).await;
    let n = fake.sent().len();
    post(&b, &say(GOOD_PASSWORD)).await;
    updates += 1;
    assert!(text(&settle(&fake, n).await).contains("Je wachtwoord is gewijzigd"));

    let directory = EmbeddedDirectory::new(&store);
    assert!(directory
        .sign_in(&LoginName::parse(JAN).unwrap(), GOOD_PASSWORD)
        .await
        .unwrap());
    assert_eq!(
        turns(&a).await + turns(&b).await,
        updates,
        "every distinct update was one turn at one replica"
    );
    assert_eq!(
        twilio.received_requests().await.unwrap().len(),
        1,
        "still one SMS"
    );

    drop((a, b));

    // `audit --config` reads the configured PostgreSQL database.
    let out = Command::new(env!("CARGO_BIN_EXE_sspr-bot"))
        .args(["audit", "--json", "--account", JAN, "--config"])
        .arg(dir.path().join("a.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "password_reset" || l["outcome"] == "reset"),
        "{lines:#?}"
    );
    assert_eq!(
        lines.len(),
        store.audit_log(Some(JAN)).await.unwrap().len(),
        "every row of the account"
    );
    store.close().await;
    db.finish().await;
}
