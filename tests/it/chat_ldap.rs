//! `sspr-bot chat --config` against the test suite's slapd: the admin's way to try a real
//! directory from a terminal. The methods come from the directory's own attributes (email,
//! mobile), so nothing is registered in the bot first.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::slapd::{Slapd, BASE, EVA, SERVICE_DN, SERVICE_PASSWORD};

struct Chat {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    outbox: std::path::PathBuf,
}

impl Chat {
    fn start(config: &std::path::Path, outbox: std::path::PathBuf) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sspr-bot"))
            .args(["chat", "--json", "--config"])
            .arg(config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self {
            child,
            stdin,
            stdout,
            outbox,
        }
    }

    /// One input line, its one output line, as text.
    fn send(&mut self, line: serde_json::Value) -> String {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        let mut reply = String::new();
        self.stdout.read_line(&mut reply).unwrap();
        let v: serde_json::Value = serde_json::from_str(&reply).expect("one JSON line");
        v["replies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["text"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn say(&mut self, text: &str) -> String {
        self.send(serde_json::json!({ "text": text }))
    }

    fn press(&mut self, id: &str) -> String {
        self.send(serde_json::json!({ "button": id }))
    }

    fn last_code(&self, channel: &str) -> String {
        let text = std::fs::read_to_string(&self.outbox).unwrap();
        text.lines()
            .rev()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["channel"] == channel)
            .and_then(|v| v["code"].as_str().map(str::to_string))
            .expect("a code in the outbox")
    }

    /// E-mail (the directory's `email`) and SMS (its `mobile`).
    fn verify(&mut self) -> String {
        let sent = self.press("method:email");
        assert!(sent.contains("e-mail met een verificatiecode"), "{sent}");
        let code = self.last_code("email");
        self.say(&code);
        self.press("method:sms");
        self.say("0612345678");
        let code = self.last_code("sms");
        self.say(&code)
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn chat_with_an_ldap_configuration_unlocks_and_resets_a_slapd_user() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let config = dir.path().join("sspr.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{db}\"\n\
             [directory]\nbackend = \"ldap\"\nurl = \"{url}\"\nbind_dn = \"{SERVICE_DN}\"\n\
             bind_password = \"{SERVICE_PASSWORD}\"\nbase_dn = \"{BASE}\"\nallow_plaintext = true\n\
             flavour = \"openldap\"\nmobile_attribute = \"mobile\"\nalternate_email_attribute = \"email\"\n\
             [providers]\noutbox = \"{outbox}\"\n",
            db = dir.path().join("sspr.db").display(),
            url = slapd.url,
            outbox = outbox.display(),
        ),
    )
    .unwrap();
    // Three wrong passwords: the account is locked, as after three failed sign-ins.
    for _ in 0..3 {
        assert!(!slapd.bind(EVA.login, "Verkeerd-wachtwoord-1").await);
    }
    assert!(slapd.locked_time(EVA.login).await.is_some());
    assert!(!slapd.bind(EVA.login, EVA.password).await, "locked");

    let mut chat = Chat::start(&config, outbox);
    chat.say("hoi");
    chat.say(EVA.login);
    let choose = chat.press("reason:locked");
    assert!(choose.contains("Verificatiestap 1 van 2"), "{choose}");
    let done = chat.verify();
    assert!(done.contains("Je account is ontgrendeld"), "{done}");
    assert!(slapd.locked_time(EVA.login).await.is_none());
    assert!(
        slapd.bind(EVA.login, EVA.password).await,
        "unlocked: the old password works"
    );

    let new_password = "Zeven zwanen zwemmen zacht";
    chat.say("hoi");
    chat.say(EVA.login);
    chat.press("reason:forgot");
    let next = chat.verify();
    assert!(next.contains("Beide verificatiestappen"), "{next}");
    chat.say(new_password);
    let done = chat.say(new_password);
    assert!(done.contains("Je wachtwoord is gewijzigd"), "{done}");
    assert!(slapd.bind(EVA.login, new_password).await);
    assert!(!slapd.bind(EVA.login, EVA.password).await);
}
