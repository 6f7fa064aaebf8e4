//! "This wasn't me" by e-mail (issue 8 item 4): the notice after a reset or unlock links to a page
//! served by the bot; following the link changes nothing, its button blocks recovery of the
//! account and raises an urgent handoff. The router is served on port 0 and the app's
//! `public_url` points at it, so the tests follow the very link the outbox holds.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use sspr_bot::recovery::Rules;

use crate::support::*;

/// The demo app with `public_url` set to its own HTTP server, which it serves until dropped.
struct Served {
    t: TestApp,
    base: String,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn served() -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let rules = Rules {
        // A trailing slash is taken off.
        public_url: Some(format!("{base}/")),
        ..Rules::default()
    };
    let t = TestApp::with_rules(rules).await;
    let router = sspr_bot::http::router(t.app.core.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    Served {
        t,
        base,
        http: reqwest::Client::new(),
        server,
    }
}

/// Jan resets his password in the chat (e-mail code, authenticator code).
async fn jan_resets(t: &TestApp) {
    t.start(JAN, "reason:forgot").await;
    t.pass_email().await;
    t.pass_totp(JAN_TOTP).await;
    t.say(GOOD_PASSWORD).await;
    t.say(GOOD_PASSWORD)
        .await
        .expect("Je wachtwoord is gewijzigd");
}

/// The newest notice in the outbox of kind `notice`.
async fn last_notice(t: &TestApp, notice: &str) -> serde_json::Value {
    t.outbox_lines()
        .await
        .into_iter()
        .rev()
        .find(|l| l["notice"] == notice)
        .unwrap_or_else(|| panic!("no {notice} notice in the outbox"))
}

fn token_of(link: &str) -> String {
    link.split_once("?t=")
        .map(|(_, t)| t.to_string())
        .unwrap_or_else(|| panic!("no token in {link}"))
}

/// Whether a new recovery of `account`, from a chat of its own, gets to the first method.
async fn recovery_possible(t: &mut TestApp, chat: &str, account: &str) -> bool {
    let before = t.chat.clone();
    t.as_chat(&format!("test:{chat}"), &format!("test:{chat}-user"));
    t.say("hoi").await;
    t.say(account).await;
    let shown = t.press("reason:forgot").await;
    t.chat = before;
    if shown.has("geblokkeerd na een melding") {
        return false;
    }
    shown.expect("Verificatiestap 1 van 2");
    true
}

async fn urgent_handoffs(t: &TestApp, account: &str) -> i64 {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM handoffs WHERE kind = 'urgent' AND account = ?")
            .bind(account)
            .fetch_one(t.app.store.sqlite_pool().unwrap())
            .await
            .unwrap();
    n
}

async fn reported(t: &TestApp, account: &str) -> bool {
    t.audit(account)
        .await
        .iter()
        .any(|(event, _, _)| event == "reported_not_me")
}

async fn post(s: &Served, token: &str, lang: &str) -> (StatusCode, String) {
    let r = s
        .http
        .post(format!("{}/not-me", s.base))
        .header("accept-language", lang)
        .form(&[("t", token)])
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn get(
    s: &Served,
    url: &str,
    lang: &str,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let r = s
        .http
        .get(url)
        .header("accept-language", lang)
        .send()
        .await
        .unwrap();
    let headers = r.headers().clone();
    (r.status(), headers, r.text().await.unwrap())
}

#[tokio::test]
async fn the_link_in_the_reset_notice_blocks_recovery_only_when_its_button_is_pressed() {
    let mut s = served().await;
    jan_resets(&s.t).await;
    let notice = last_notice(&s.t, "password_reset").await;
    let link = notice["link"].as_str().expect("the notice has a link");
    assert!(link.starts_with(&format!("{}/not-me?t=", s.base)), "{link}");
    let token = token_of(link);

    // Following the link (as a mail scanner would) shows a page and changes nothing.
    let (status, headers, html) = get(&s, link, "nl-NL,nl;q=0.9,en;q=0.8").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<html lang=\"nl\">"), "{html}");
    assert!(html.contains("Was jij dit niet?"), "{html}");
    assert!(html.contains("<form method=\"post\""), "{html}");
    assert!(
        html.contains("Blokkeer het herstel van mijn account"),
        "{html}"
    );
    assert!(
        !html.contains(JAN),
        "the page does not name the account:\n{html}"
    );
    assert!(!html.contains("<script"), "{html}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none'; style-src 'unsafe-inline'"));
    let (_, _, english) = get(&s, link, "en-GB,en;q=0.9").await;
    assert!(english.contains("Was this not you?"), "{english}");
    assert!(!reported(&s.t, JAN).await);
    assert_eq!(urgent_handoffs(&s.t, JAN).await, 0);
    assert!(recovery_possible(&mut s.t, "before", JAN).await);

    // The button blocks.
    let (status, html) = post(&s, &token, "nl").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Herstel geblokkeerd"), "{html}");
    assert!(html.contains("ICT Servicedesk is gewaarschuwd"), "{html}");
    assert!(!recovery_possible(&mut s.t, "after", JAN).await);
    let audit: Vec<(String, String)> =
        s.t.audit(JAN)
            .await
            .into_iter()
            .map(|(e, _, o)| (e, o))
            .collect();
    assert!(
        audit.contains(&("reported_not_me".into(), "blocked".into())),
        "{audit:?}"
    );
    assert_eq!(urgent_handoffs(&s.t, JAN).await, 1);
    // The token is in no audit row, handoff or other stored text.
    assert!(!s.t.all_stored_text().await.contains(&token));

    // Pressing it again says the same and raises no second alarm.
    let (status, html) = post(&s, &token, "en").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Recovery blocked"), "{html}");
    assert_eq!(urgent_handoffs(&s.t, JAN).await, 1);
}

#[tokio::test]
async fn the_unlock_notice_carries_the_link_too() {
    let s = served().await;
    let t = &s.t;
    t.start(ANNA, "reason:locked").await;
    t.pass_email().await;
    t.pass_totp(ANNA_TOTP)
        .await
        .expect("Je account is ontgrendeld");
    let notice = last_notice(t, "unlocked").await;
    let link = notice["link"].as_str().expect("the notice has a link");
    let (status, _) = post(&s, &token_of(link), "nl").await;
    assert_eq!(status, StatusCode::OK);
    assert!(reported(t, ANNA).await);
    assert_eq!(urgent_handoffs(t, ANNA).await, 1);
}

#[tokio::test]
async fn a_tampered_token_is_refused_and_blocks_nothing() {
    let mut s = served().await;
    jan_resets(&s.t).await;
    let link = last_notice(&s.t, "password_reset").await["link"]
        .as_str()
        .unwrap()
        .to_string();
    let token = token_of(&link);
    let (payload, mac) = token.split_once('.').unwrap();
    let claimed = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let (account, expires) = claimed.rsplit_once('|').unwrap();
    assert_eq!(account, JAN);
    let forge = |p: String| format!("{}.{mac}", URL_SAFE_NO_PAD.encode(p));
    let later: i64 = expires.parse::<i64>().unwrap() + 365 * 24 * 60 * 60;
    let mut bad = vec![
        forge(format!("{ANNA}|{expires}")),
        forge(format!("{JAN}|{later}")),
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode([0u8; 32])),
        "".to_string(),
        "<script>alert(1)</script>".to_string(),
    ];
    bad.push(token[..token.len() - 1].to_string());
    for forged in &bad {
        let url = format!("{}/not-me?t={}", s.base, urlencode(forged));
        let (status, headers, page) = get(&s, &url, "nl").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{forged}");
        assert_eq!(headers["cache-control"], "no-store");
        assert!(page.contains("Deze link is niet geldig"), "{page}");
        assert!(!page.contains("<form"), "{page}");
        let (status, html) = post(&s, forged, "en").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{forged}");
        assert!(html.contains("This link is not valid"), "{html}");
        for shown in [&page, &html] {
            assert!(!shown.contains(JAN) && !shown.contains(ANNA), "{shown}");
            assert!(!shown.contains("<script>"), "{shown}");
        }
    }
    // A POST without any token, and a GET without a query.
    let r = s
        .http
        .post(format!("{}/not-me", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (status, _, _) = get(&s, &format!("{}/not-me", s.base), "nl").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for account in [JAN, ANNA] {
        assert!(!reported(&s.t, account).await, "{account}");
        assert_eq!(urgent_handoffs(&s.t, account).await, 0);
    }
    assert!(recovery_possible(&mut s.t, "anna", ANNA).await);
    assert!(recovery_possible(&mut s.t, "jan", JAN).await);
}

#[tokio::test]
async fn an_expired_link_is_refused_after_a_week() {
    let mut s = served().await;
    jan_resets(&s.t).await;
    let link = last_notice(&s.t, "password_reset").await["link"]
        .as_str()
        .unwrap()
        .to_string();
    // Six days on it still works (shown, not pressed) ...
    s.t.advance(6 * 24 * 60 * 60);
    assert_eq!(get(&s, &link, "nl").await.0, StatusCode::OK);
    // ... eight days on it does not.
    s.t.advance(2 * 24 * 60 * 60);
    let (status, _, html) = get(&s, &link, "nl").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("Deze link is niet geldig"), "{html}");
    let (status, _) = post(&s, &token_of(&link), "nl").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!reported(&s.t, JAN).await);
    assert_eq!(urgent_handoffs(&s.t, JAN).await, 0);
    assert!(recovery_possible(&mut s.t, "later", JAN).await);
}

#[tokio::test]
async fn without_a_public_url_the_notice_has_no_link() {
    let t = TestApp::new().await;
    jan_resets(&t).await;
    let notice = last_notice(&t, "password_reset").await;
    assert!(notice["link"].is_null(), "{notice}");
    assert!(!t.all_stored_text().await.contains("not-me"));
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}
