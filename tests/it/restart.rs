//! Conversation state lives in the database: a new process continues where the old one was.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use crate::support::*;

#[tokio::test]
async fn a_conversation_continues_after_a_restart_in_process() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.pass_email().await;
    t.press("method:totp").await;
    let t = t.reopen().await;
    let code = t.totp(JAN_TOTP, 0);
    t.say(&code)
        .await
        .expect("Beide verificatiestappen zijn gelukt");
}

/// Feeds lines to `sspr-bot demo --json` and returns one output line per input line.
fn run_demo(
    db: &std::path::Path,
    lines: &[String],
    kill_after: Option<usize>,
) -> Vec<serde_json::Value> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sspr-bot"))
        .args(["demo", "--json", "--db"])
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sspr-bot");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        let mut reply = String::new();
        stdout.read_line(&mut reply).unwrap();
        out.push(serde_json::from_str(&reply).expect("one JSON line per input line"));
        if kill_after == Some(i + 1) {
            // No goodbye: the process dies mid-conversation.
            child.kill().unwrap();
            child.wait().unwrap();
            return out;
        }
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    out
}

fn outbox_code(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let last = text.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    v["code"].as_str().unwrap().to_string()
}

#[test]
fn the_demo_process_can_be_killed_mid_conversation_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let first: Vec<String> = [
        r#"{"text":"hoi"}"#,
        r#"{"text":"j.k.devries@bedrijf.nl"}"#,
        r#"{"button":"reason:forgot"}"#,
        r#"{"button":"method:email"}"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = run_demo(&db, &first, Some(4));
    assert_eq!(out.len(), 4);
    let code = outbox_code(&dir.path().join("outbox.jsonl"));
    let out = run_demo(&db, &[format!(r#"{{"text":"{code}"}}"#)], None);
    let text = out[0]["replies"][0]["text"].as_str().unwrap();
    assert!(text.contains("Gelukt!"), "{text}");
}
