//! The console channel's JSON-lines protocol, as scripts use it.

use std::sync::Arc;

use serde_json::Value;
use sspr_bot::channels::console;
use sspr_bot::dialogue::Lang;

use crate::support::*;

async fn json_session(t: &TestApp, lines: &[&str]) -> Vec<Value> {
    let input = lines.join("\n") + "\n";
    let mut output = Vec::new();
    console::run_json(
        Arc::clone(&t.app.core),
        Arc::clone(&t.app.localizer),
        Lang::Nl,
        tokio::io::BufReader::new(input.as_bytes()),
        &mut output,
    )
    .await
    .unwrap();
    String::from_utf8(output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn each_input_line_gets_exactly_one_output_line_of_the_documented_shape() {
    let t = TestApp::new().await;
    let out = json_session(
        &t,
        &[
            r#"{"text":"hoi"}"#,
            "this is not json",
            r#"{"text":"j.k.devries@bedrijf.nl"}"#,
            r#"{"button":"reason:forgot"}"#,
            r##"{"phone":"#"}"##,
            r#"{"text":"a","button":"b"}"#,
        ],
    )
    .await;
    assert_eq!(out.len(), 6);
    for line in &out {
        let replies = line["replies"].as_array().expect("replies array");
        assert!(!replies.is_empty());
        for r in replies {
            assert!(r["text"].is_string());
            assert!(r["secret"].is_boolean());
            for b in r["buttons"].as_array().unwrap() {
                assert!(b["id"].is_string() && b["label"].is_string());
            }
        }
    }
    assert!(out[1]["replies"][0]["text"]
        .as_str()
        .unwrap()
        .contains("begrijp ik niet"));
    assert!(out[4]["replies"][0]["text"]
        .as_str()
        .unwrap()
        .contains("wacht geen oproep"));
    assert_eq!(out[3]["replies"][0]["buttons"][0]["id"], "method:email");
}

#[tokio::test]
async fn the_demo_phone_answers_the_call_and_the_push_over_json() {
    let t = TestApp::new().await;
    // The console channel always talks as the terminal's one chat.
    let mut t = t;
    let chat = console::chat();
    t.as_chat(&chat.conversation, &chat.user);
    t.start(JAN, "reason:forgot").await;
    t.press("method:call").await;
    t.say("0612345666").await;
    let out = json_session(&t, &[r##"{"phone":"#"}"##]).await;
    assert!(out[0]["replies"][0]["text"]
        .as_str()
        .unwrap()
        .contains("Gelukt!"));
    t.press("method:push").await;
    let n = t.last_push_number().await;
    let out = json_session(&t, &[&format!(r#"{{"phone":"approve","number":{n}}}"#)]).await;
    let text = out[0]["replies"].to_string();
    assert!(text.contains("Beide verificatiestappen"), "{text}");
    assert_eq!(
        out[0]["replies"].as_array().unwrap().last().unwrap()["secret"],
        true
    );
}
