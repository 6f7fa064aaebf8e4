//! `sspr-bot chat --config` against the test suite's slapd: the admin's way to try a real
//! directory from a terminal. The methods come from the directory's own attributes (email,
//! mobile), so nothing is registered in the bot first.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::slapd::{Slapd, BASE, EVA, SERVICE_DN, SERVICE_PASSWORD};

struct Chat {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    outbox: PathBuf,
}

impl Chat {
    fn start(config: &Path, outbox: PathBuf) -> Self {
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

    /// One input line, its one output line, as JSON.
    fn send_json(&mut self, line: Value) -> Value {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        let mut reply = String::new();
        self.stdout.read_line(&mut reply).unwrap();
        serde_json::from_str(&reply).expect("one JSON line")
    }

    /// One input line, its one output line, as text.
    fn send(&mut self, line: Value) -> String {
        self.send_json(line)["replies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["text"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn say(&mut self, text: &str) -> String {
        self.send(json!({ "text": text }))
    }

    fn press(&mut self, id: &str) -> String {
        self.send(json!({ "button": id }))
    }

    fn last_code(&self, channel: &str) -> String {
        let text = std::fs::read_to_string(&self.outbox).unwrap();
        text.lines()
            .rev()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|v| v["channel"] == channel)
            .and_then(|v| v["code"].as_str().map(str::to_string))
            .expect("a code in the outbox")
    }

    /// The newest code the outbox sent to the address `to`.
    fn code_to(&self, to: &str) -> String {
        let text = std::fs::read_to_string(&self.outbox).unwrap();
        text.lines()
            .rev()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|v| v["to"] == to && v.get("code").is_some())
            .and_then(|v| v["code"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("no code to {to} in the outbox"))
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

/// `sspr.toml` in `dir` for the slapd, with the outbox in `dir`: (config, outbox).
fn write_config(dir: &Path, slapd: &Slapd) -> (PathBuf, PathBuf) {
    let outbox = dir.join("outbox.jsonl");
    let config = dir.join("sspr.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{db}\"\n\
             [directory]\nbackend = \"ldap\"\nurl = \"{url}\"\nbind_dn = \"{SERVICE_DN}\"\n\
             bind_password = \"{SERVICE_PASSWORD}\"\nbase_dn = \"{BASE}\"\nallow_plaintext = true\n\
             flavour = \"openldap\"\nmobile_attribute = \"mobile\"\nalternate_email_attribute = \"email\"\n\
             [providers]\noutbox = \"{outbox}\"\n",
            db = dir.join("sspr.db").display(),
            url = slapd.url,
            outbox = outbox.display(),
        ),
    )
    .unwrap();
    (config, outbox)
}

#[tokio::test]
async fn chat_with_an_ldap_configuration_unlocks_and_resets_a_slapd_user() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().unwrap();
    let (config, outbox) = write_config(dir.path(), &slapd);
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

/// The replies of one JSON output line, as text.
fn said(line: &Value) -> String {
    line["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The 30-second TOTP step of the real clock (the chat process keeps real time).
fn current_step() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30
}

/// What an authenticator app shows at `step` for a base32 secret: SHA1, 6 digits, 30 s.
fn totp_at(secret_b32: &str, step: u64) -> String {
    let secret = totp_rs::Secret::Encoded(secret_b32.into())
        .to_bytes()
        .unwrap();
    totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 0, 30, secret).generate(step * 30)
}

/// Eva registers an authenticator app in the chat; her private address and mobile come from
/// slapd's `email` and `mobile`, shown masked. Her next recovery uses the new app and that
/// directory address, and slapd takes the new password. Nothing is set up with `admin` first.
#[tokio::test]
async fn eva_registers_an_authenticator_app_in_chat_and_resets_with_it_and_her_directory_email() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().unwrap();
    let (config, outbox) = write_config(dir.path(), &slapd);
    let mut chat = Chat::start(&config, outbox);

    let asked = chat.say("/registreren");
    assert!(asked.contains("Voor welke loginnaam"), "{asked}");
    let sent = chat.say(EVA.login);
    assert!(sent.contains("zakelijke adres"), "{sent}");
    // The directory's `mail` (for Eva the same as her login) gets the code.
    let work_code = chat.code_to(EVA.login);
    let overview = chat.send_json(json!({ "text": work_code }));
    let shown = said(&overview);
    assert!(
        shown.contains(&format!("Verificatiemethodes voor {}", EVA.login)),
        "{shown}"
    );
    let line = |label: &str| {
        shown
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no {label:?} line in:\n{shown}"))
            .to_string()
    };
    assert!(
        line("Privé (alternatief) e-mailadres")
            .ends_with(": ev*****@pr*****.example (uit de bedrijfsgegevens)"),
        "{shown}"
    );
    assert!(
        line("Mobiel nummer").ends_with(": *****78 (uit de bedrijfsgegevens)"),
        "{shown}"
    );
    assert!(
        line("Code uit de Authenticator-app").ends_with(": niet vastgelegd"),
        "{shown}"
    );
    // Masked everywhere in the output, not only in the text.
    let raw = overview.to_string();
    for full in [EVA.alternate_email, EVA.mobile, "0612345678"] {
        assert!(!raw.contains(full), "{full} shown in full: {raw}");
    }
    assert!(raw.contains("\"reg:totp\""), "{raw}");

    // The authenticator app: the QR code's URI, and one valid code (at the real time).
    let offered = chat.send_json(json!({ "button": "reg:totp" }));
    let uri = offered["replies"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|r| r["qr"].as_str())
        .unwrap_or_else(|| panic!("no qr in {offered}"))
        .to_string();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains("e.jansen%40bedrijf.nl"), "{uri}");
    let secret = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .expect("a secret in the URI")
        .to_string();
    let registered_step = current_step();
    let saved = chat.say(&totp_at(&secret, registered_step));
    assert!(
        saved.contains("Vastgelegd: de Authenticator-app (code)"),
        "{saved}"
    );
    let done = chat.press("reg:done");
    assert!(done.contains("opgeslagen"), "{done}");

    // Eva forgets her password: the new app and the directory's private address.
    chat.say("hoi");
    chat.say(EVA.login);
    let choose = chat.send_json(json!({ "button": "reason:forgot" }));
    let offered = choose.to_string();
    for m in ["method:totp", "method:email", "method:sms"] {
        assert!(offered.contains(m), "{m} in {offered}");
    }
    let sent = chat.press("method:email");
    assert!(sent.contains("ev*****@pr*****.example"), "{sent}");
    let email_code = chat.code_to(EVA.alternate_email);
    let next = chat.say(&email_code);
    assert!(next.contains("Verificatiestap 2 van 2"), "{next}");
    // The code that confirmed the app is spent: the app's next code, half a minute on at most.
    while current_step() <= registered_step {
        std::thread::sleep(Duration::from_millis(200));
    }
    chat.press("method:totp");
    let next = chat.say(&totp_at(&secret, current_step()));
    assert!(next.contains("Beide verificatiestappen"), "{next}");
    let new_password = "Zeven zwanen zwemmen zacht";
    chat.say(new_password);
    let done = chat.say(new_password);
    assert!(done.contains("Je wachtwoord is gewijzigd"), "{done}");
    assert!(slapd.bind(EVA.login, new_password).await);
    assert!(!slapd.bind(EVA.login, EVA.password).await);
}
