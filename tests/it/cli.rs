//! The `sspr-bot` binary as an admin uses it.

use std::io::Write;
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sspr-bot"))
}

#[test]
fn audit_lists_a_demo_session_as_json_lines_for_one_account() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let mut demo = bin()
        .args(["demo", "--json", "--lang", "en", "--db"])
        .arg(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let script = [
        r#"{"text":"hello"}"#,
        r#"{"text":"j.k.devries@bedrijf.nl"}"#,
        r#"{"button":"reason:forgot"}"#,
        r#"{"button":"method:email"}"#,
        r#"{"text":"000000"}"#,
    ];
    {
        let mut stdin = demo.stdin.take().unwrap();
        for line in script {
            writeln!(stdin, "{line}").unwrap();
        }
    }
    let out = demo.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), script.len());
    assert!(stdout.contains("Hello!"), "--lang en is honoured: {stdout}");
    // The outbox went beside the database by default.
    assert!(dir.path().join("outbox.jsonl").exists());

    let audit = bin()
        .args([
            "audit",
            "--json",
            "--account",
            "J.K.deVries@bedrijf.nl",
            "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert!(audit.status.success());
    let rows: Vec<serde_json::Value> = String::from_utf8(audit.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<&str> = rows.iter().map(|r| r["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["recovery_started", "code_sent", "code_checked"]);
    for r in &rows {
        assert_eq!(r["account"], "j.k.devries@bedrijf.nl");
        assert!(r["time"].as_str().unwrap().ends_with('Z'));
        assert!(r["outcome"].is_string());
    }
    assert_eq!(rows[2]["outcome"], "failed");
    assert!(!serde_json::to_string(&rows).unwrap().contains("000000"));

    // The same log through a configuration file naming that database.
    let config = dir.path().join("sspr.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n[providers]\noutbox = \"o.jsonl\"\n",
            db.display()
        ),
    )
    .unwrap();
    let via_config = bin()
        .args(["audit", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        via_config.status.success(),
        "{}",
        String::from_utf8_lossy(&via_config.stderr)
    );
    assert_eq!(
        String::from_utf8(via_config.stdout)
            .unwrap()
            .lines()
            .count(),
        rows.len()
    );
}

#[test]
fn audit_of_a_missing_database_says_so_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none.db");
    let out = bin().args(["audit", "--db"]).arg(&db).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database at"));
    assert!(!db.exists());
}

#[test]
fn a_bad_language_flag_is_refused_with_a_clear_message() {
    let out = bin()
        .args(["demo", "--lang", "fr"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("use nl or en"));
}

#[test]
fn chat_with_a_configuration_uses_its_database_and_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sspr.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n[directory]\nseed_demo = true\n[providers]\noutbox = \"{}\"\n",
            dir.path().join("conf.db").display(),
            dir.path().join("mail.jsonl").display()
        ),
    )
    .unwrap();
    let mut chat = bin()
        .args(["chat", "--json", "--config"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = chat.stdin.take().unwrap();
        for line in [
            r#"{"text":"j.k.devries@bedrijf.nl"}"#,
            r#"{"button":"reason:forgot"}"#,
            r#"{"button":"method:email"}"#,
        ] {
            writeln!(stdin, "{line}").unwrap();
        }
    }
    let out = chat.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 3);
    assert!(dir.path().join("conf.db").exists());
    let mail = std::fs::read_to_string(dir.path().join("mail.jsonl")).unwrap();
    assert!(mail.contains("jan.devries@privemail.example"));
}

/// The interactive terminal shows an authenticator's QR code as text blocks, with the
/// `otpauth://` URI below it to paste into an app.
#[test]
fn the_interactive_demo_shows_the_authenticator_qr_code_and_uri() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.db");
    let session = |lines: &[&str]| -> String {
        let mut demo = bin()
            .args(["demo", "--db"])
            .arg(&db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        {
            let mut stdin = demo.stdin.take().unwrap();
            for line in lines {
                writeln!(stdin, "{line}").unwrap();
            }
        }
        let out = demo.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    session(&["/registreren", sspr_bot::demo::SANNE]);
    let outbox = std::fs::read_to_string(dir.path().join("outbox.jsonl")).unwrap();
    let code = outbox
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["to"] == sspr_bot::demo::SANNE)
        .find_map(|v| v["code"].as_str().map(str::to_string))
        .expect("the work-mailbox code");
    // The overview's buttons: 1) e-mail 2) mobile 3) questions 4) authenticator code 5) push.
    let shown = session(&[&code, "4"]);
    assert!(
        shown.contains("4) Authenticator-app instellen (code)"),
        "{shown}"
    );
    let uri_line = shown
        .lines()
        .find(|l| l.starts_with("otpauth://totp/"))
        .unwrap_or_else(|| panic!("no otpauth URI line in:\n{shown}"));
    assert!(uri_line.contains("secret="), "{uri_line}");
    let blocks = shown
        .lines()
        .filter(|l| l.contains('█') || l.contains('▀') || l.contains('▄'))
        .count();
    assert!(blocks > 10, "a QR code of text blocks:\n{shown}");
}
