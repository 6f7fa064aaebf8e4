//! The test harness: the demo app on a temporary database, a clock the test moves, and helpers
//! that type, press buttons, answer the demo phone and read codes from the outbox.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use sspr_bot::app::{default_key_path, Settings};
use sspr_bot::demo::{self, App};
use sspr_bot::dialogue::{Input, Lang};
use sspr_bot::domain::LoginName;
use sspr_bot::i18n::Localizer;
use sspr_bot::i18n::RenderedReply;
use sspr_bot::providers::{Outbox, Providers};
use sspr_bot::recovery::{ChatRef, ManualClock, PhoneAnswer, Rules, TurnOutput};

pub use sspr_bot::demo::{ANNA, JAN, PIETER};

pub const JAN_TOTP: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
pub const ANNA_TOTP: &str = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU";
pub const PIETER_TOTP: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
pub const GOOD_PASSWORD: &str = "Paars konijn eet 7 wortels";

/// Monday 30 November 2026, 07:55 in Amsterdam: someone locked out before the desk opens.
pub fn monday_morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 6, 55, 0).unwrap()
}

pub struct TestApp {
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub outbox: PathBuf,
    pub chat: ChatRef,
    /// On PostgreSQL: the test's own database, dropped by [`TestApp::finish`].
    pub pg_database: Option<String>,
}

/// What one turn showed, rendered in the conversation's language.
pub struct Shown {
    pub lang: Lang,
    pub replies: Vec<RenderedReply>,
    pub expects_secret: bool,
}

impl Shown {
    pub fn text(&self) -> String {
        self.replies
            .iter()
            .map(|r| r.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn has(&self, needle: &str) -> bool {
        self.text().contains(needle)
    }

    pub fn buttons(&self) -> Vec<String> {
        self.replies
            .iter()
            .rev()
            .find(|r| !r.buttons.is_empty())
            .map(|r| r.buttons.iter().map(|b| b.id.clone()).collect())
            .unwrap_or_default()
    }

    #[track_caller]
    pub fn expect(&self, needle: &str) -> &Self {
        assert!(self.has(needle), "expected {needle:?} in:\n{}", self.text());
        self
    }

    #[track_caller]
    pub fn expect_not(&self, needle: &str) -> &Self {
        assert!(
            !self.has(needle),
            "did not expect {needle:?} in:\n{}",
            self.text()
        );
        self
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_rules(Rules::default()).await
    }

    pub async fn with_rules(rules: Rules) -> Self {
        Self::build(rules, |outbox, _| outbox).await
    }

    /// The demo app with some providers swapped for real ones: `make` gets the outbox providers
    /// and the localizer, and returns the providers to use.
    pub async fn with_providers(make: impl FnOnce(Providers, Arc<Localizer>) -> Providers) -> Self {
        Self::build(Rules::default(), make).await
    }

    /// The demo app on a fresh PostgreSQL database instead of a SQLite file (the whole core
    /// as `TestApp::new`; helpers that read SQLite tables directly are not for this one).
    pub async fn postgres() -> Self {
        let (name, location) = crate::pg::create_database().await;
        let mut t = Self::build_on(Rules::default(), |outbox, _| outbox, Some(location)).await;
        t.pg_database = Some(name);
        t
    }

    /// Closes the database; on PostgreSQL drops the test's database.
    pub async fn finish(self) {
        self.app.store.close().await;
        if let Some(name) = &self.pg_database {
            crate::pg::drop_database(name).await;
        }
    }

    async fn build(
        rules: Rules,
        make: impl FnOnce(Providers, Arc<Localizer>) -> Providers,
    ) -> Self {
        Self::build_on(rules, make, None).await
    }

    async fn build_on(
        rules: Rules,
        make: impl FnOnce(Providers, Arc<Localizer>) -> Providers,
        location: Option<sspr_bot::store::Location>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sspr.db");
        let outbox = dir.path().join("outbox.jsonl");
        let clock = Arc::new(ManualClock::new(monday_morning()));
        let settings = Settings {
            db: location.unwrap_or_else(|| db.clone().into()),
            outbox: Some(outbox.clone()),
            key_file: default_key_path(&db),
            previous_key_files: Vec::new(),
            seed_demo: true,
        };
        let localizer = Arc::new(Localizer::new().unwrap());
        let sink = Arc::new(Outbox::new(&outbox));
        let providers = make(Providers::outbox(sink.clone()), localizer.clone());
        let app = App::open_with(
            &settings,
            providers,
            Some(sink),
            localizer,
            clock.clone(),
            rules,
        )
        .await
        .unwrap();
        Self {
            app,
            clock,
            dir,
            db,
            outbox,
            chat: ChatRef::new("test:chat-1", "test:user-1"),
            pg_database: None,
        }
    }

    /// The same database and key, opened again as a fresh process would.
    pub async fn reopen(mut self) -> Self {
        // The old process is gone: its connections are closed before the new one opens.
        self.app.store.close().await;
        self.app = demo::open(&self.db, &self.outbox, self.clock.clone(), Rules::default())
            .await
            .unwrap();
        self
    }

    /// Another chat (another user) on the same app.
    pub fn as_chat(&mut self, conversation: &str, user: &str) {
        self.chat = ChatRef::new(conversation, user);
    }

    fn render(&self, out: TurnOutput) -> Shown {
        let l10n = &self.app.localizer;
        let replies = out
            .replies
            .iter()
            .map(|r| {
                // Every message must exist in the conversation's language.
                for t in &r.texts {
                    l10n.try_text(out.lang, t).unwrap_or_else(|e| panic!("{e}"));
                }
                for b in &r.buttons {
                    l10n.try_text(out.lang, &b.label)
                        .unwrap_or_else(|e| panic!("{e}"));
                }
                l10n.render(out.lang, r)
            })
            .collect();
        Shown {
            lang: out.lang,
            replies,
            expects_secret: out.expects_secret,
        }
    }

    pub async fn say(&self, text: &str) -> Shown {
        let out = self
            .app
            .core
            .handle(&self.chat, Input::Text(text.into()))
            .await
            .unwrap();
        self.render(out)
    }

    pub async fn press(&self, button: &str) -> Shown {
        let out = self
            .app
            .core
            .handle(&self.chat, Input::Button(button.into()))
            .await
            .unwrap();
        self.render(out)
    }

    /// Presses a button that must be on offer in `shown`.
    #[track_caller]
    pub fn offered(shown: &Shown, button: &str) {
        assert!(
            shown.buttons().iter().any(|b| b == button),
            "{button} not offered: {:?}\n{}",
            shown.buttons(),
            shown.text()
        );
    }

    pub async fn phone(&self, answer: PhoneAnswer) -> Shown {
        let out = self
            .app
            .core
            .phone_answer(&self.chat, answer)
            .await
            .unwrap();
        self.render(out)
    }

    pub fn advance(&self, secs: i64) {
        self.clock.advance(Duration::seconds(secs));
    }

    pub fn now(&self) -> DateTime<Utc> {
        use sspr_bot::recovery::Clock;
        self.clock.now()
    }

    /// Every outbox line so far.
    pub async fn outbox_lines(&self) -> Vec<serde_json::Value> {
        self.app
            .outbox
            .as_ref()
            .expect("the test app writes to an outbox")
            .lines()
            .await
    }

    /// The newest code sent on `channel` ("email" or "sms").
    pub async fn last_code(&self, channel: &str) -> String {
        self.outbox_lines()
            .await
            .iter()
            .rev()
            .find(|l| l["channel"] == channel && l.get("code").is_some())
            .and_then(|l| l["code"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("no {channel} code in the outbox"))
    }

    /// The newest push's number.
    pub async fn last_push_number(&self) -> u32 {
        self.outbox_lines()
            .await
            .iter()
            .rev()
            .find(|l| l["channel"] == "push")
            .and_then(|l| l["number"].as_u64())
            .expect("a push in the outbox") as u32
    }

    /// The authenticator app's code for `secret` at the test clock's time, `steps` steps away.
    pub fn totp(&self, secret_b32: &str, steps: i64) -> String {
        let secret = totp_rs::Secret::Encoded(secret_b32.into())
            .to_bytes()
            .unwrap();
        let totp = totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 0, 30, secret);
        totp.generate((self.now().timestamp() + steps * 30) as u64)
    }

    pub async fn sign_in(&self, login: &str, password: &str) -> bool {
        self.app
            .embedded
            .as_ref()
            .expect("the test app has the embedded directory")
            .sign_in(&LoginName::parse(login).unwrap(), password)
            .await
            .unwrap()
    }

    pub async fn is_locked(&self, login: &str) -> bool {
        self.app
            .directory
            .find(&LoginName::parse(login).unwrap())
            .await
            .unwrap()
            .expect("the account exists")
            .locked
    }

    pub async fn password_hash(&self, login: &str) -> String {
        let (h,): (String,) =
            sqlx::query_as("SELECT password_hash FROM directory_accounts WHERE login = ?")
                .bind(login)
                .fetch_one(self.app.store.sqlite_pool().unwrap())
                .await
                .unwrap();
        h
    }

    /// Audit rows as (event, method, outcome) for an account.
    pub async fn audit(&self, account: &str) -> Vec<(String, Option<String>, String)> {
        self.app
            .store
            .audit_log(Some(account))
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.event, r.method, r.outcome))
            .collect()
    }

    /// Every text value stored anywhere in the database, for "no secret stored" checks.
    pub async fn all_stored_text(&self) -> String {
        let tables: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(self.app.store.sqlite_pool().unwrap())
                .await
                .unwrap();
        let mut all = String::new();
        for (t,) in tables {
            let rows = sqlx::query(&format!("SELECT * FROM \"{t}\""))
                .fetch_all(self.app.store.sqlite_pool().unwrap())
                .await
                .unwrap();
            use sqlx::Row;
            for row in rows {
                for i in 0..row.len() {
                    if let Ok(Some(s)) = row.try_get::<Option<String>, _>(i) {
                        all.push_str(&s);
                        all.push('\n');
                    }
                }
            }
        }
        all
    }

    // ---- whole steps of the guide ----

    /// Steps 1–3: greet, login name, reason. Returns the method choice.
    pub async fn start(&self, login: &str, reason: &str) -> Shown {
        self.say("hoi").await;
        self.say(login).await;
        self.press(reason).await
    }

    /// Step 5: e-mail code, read from the outbox.
    pub async fn pass_email(&self) -> Shown {
        self.press("method:email").await;
        let code = self.last_code("email").await;
        self.say(&code).await
    }

    /// Step 10: authenticator code at the current time.
    pub async fn pass_totp(&self, secret: &str) -> Shown {
        self.press("method:totp").await;
        let code = self.totp(secret, 0);
        self.say(&code).await
    }

    /// Step 8: three answers from the account's registered ones.
    pub async fn pass_questions(&self, answers: &[(&str, &str)]) -> Shown {
        let mut shown = self.press("method:questions").await;
        for _ in 0..3 {
            let answer = answers
                .iter()
                .find(|(q, _)| shown.has(q))
                .map(|(_, a)| *a)
                .unwrap_or_else(|| panic!("no known question in:\n{}", shown.text()));
            shown = self.say(answer).await;
        }
        shown
    }
}

/// Jan's questions and answers in both languages (a question is found by its words).
pub const JAN_ANSWERS: [(&str, &str); 6] = [
    ("In welke stad", "Haarlem"),
    ("eerste huisdier", "Bello"),
    ("favoriete boek", "Max Havelaar"),
    ("In which city", "Haarlem"),
    ("first pet", "Bello"),
    ("favourite book", "Max Havelaar"),
];

pub const ANNA_ANSWERS: [(&str, &str); 6] = [
    ("In welke stad", "Amersfoort"),
    ("eerste huisdier", "Minoes"),
    ("favoriete boek", "Het Achterhuis"),
    ("In which city", "Amersfoort"),
    ("first pet", "Minoes"),
    ("favourite book", "Het Achterhuis"),
];

/// Picks the Dutch or English variant of an expected phrase.
pub fn tr(lang: Lang, nl: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Nl => nl,
        Lang::En => en,
    }
}

/// `application/x-www-form-urlencoded` into (name, value) pairs, in order: what the provider
/// fakes read from a request body.
pub fn form(body: &[u8]) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("percent escape"));
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).expect("utf-8 form value")
    }
    std::str::from_utf8(body)
        .expect("utf-8 form")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Everything logged (any level) while `f` runs, for "no secret in the logs" checks.
pub async fn logs_of<F: std::future::Future>(f: F) -> (F::Output, String) {
    use std::io::Write;
    use std::sync::Mutex;
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // `#[tokio::test]` runs on one thread, so a thread-local default sees the whole future.
    let guard = tracing::subscriber::set_default(subscriber);
    let out = f.await;
    drop(guard);
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (out, text)
}
