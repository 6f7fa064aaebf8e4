//! Unknown and disabled accounts: the same conversation as a real account, nothing sent, every
//! check failing (DESIGN §3, OWASP forgot-password).

use sspr_bot::domain::LoginName;
use sspr_bot::store::Registration;

use crate::support::*;

const REAL: &str = "e.jansen@bedrijf.nl";
const DISABLED: &str = "o.oud@bedrijf.nl";
const UNKNOWN: &str = "niemand@bedrijf.nl";

/// A real account with exactly what a decoy pretends to have: e-mail, mobile, authenticator.
async fn add_account(t: &TestApp, login: &str, disabled: bool) {
    let l = LoginName::parse(login).unwrap();
    t.app
        .embedded
        .as_ref()
        .expect("the test app has the embedded directory")
        .put_account(&l, "Test", "Oud-wachtwoord-123!", false, disabled, false)
        .await
        .unwrap();
    let secret = totp_rs::Secret::Encoded(JAN_TOTP.into())
        .to_bytes()
        .unwrap();
    t.app
        .store
        .upsert_registration(
            &Registration {
                account: login.into(),
                alternate_email: Some("eva.jansen@privemail.example".into()),
                mobile: Some("+31611122233".into()),
                totp_secret: Some(t.app.core.keys().encrypt(&secret)),
                push_device: None,
            },
            0,
        )
        .await
        .unwrap();
}

/// Masked values differ by design; everything else must not.
fn normalise(text: &str) -> String {
    text.split_whitespace()
        .map(|w| if w.contains("*****") { "<masked>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The same script an attacker would run, returning what they would see.
async fn probe(t: &mut TestApp, login: &str, chat: &str) -> Vec<(String, Vec<String>)> {
    t.as_chat(chat, chat);
    let mut seen = Vec::new();
    let mut record =
        |s: Shown| seen.push((normalise(&s.text().replace(login, "<login>")), s.buttons()));
    record(t.say("hoi").await);
    record(t.say(login).await);
    record(t.press("reason:forgot").await);
    record(t.press("method:email").await);
    record(t.say("000000").await);
    record(t.press("resend").await);
    record(t.press("other_method").await);
    record(t.press("method:sms").await);
    record(t.say("0687878787").await);
    record(t.press("other_method").await);
    record(t.press("method:totp").await);
    record(t.say("123456").await);
    record(t.press("other_method").await);
    record(t.press("no_phone").await);
    record(t.press("cancel").await);
    seen
}

#[tokio::test]
async fn unknown_and_disabled_accounts_get_the_same_replies_as_a_real_one() {
    let mut t = TestApp::new().await;
    add_account(&t, REAL, false).await;
    add_account(&t, DISABLED, true).await;
    let real = probe(&mut t, REAL, "chat-real").await;
    let before = t.outbox_lines().await.len();
    let unknown = probe(&mut t, UNKNOWN, "chat-unknown").await;
    let disabled = probe(&mut t, DISABLED, "chat-disabled").await;
    assert_eq!(real, unknown);
    assert_eq!(real, disabled);
    // Nothing was sent for the unknown or disabled account.
    assert_eq!(t.outbox_lines().await.len(), before);
    // The masks look like the real thing.
    let shown = {
        t.as_chat("chat-again", "chat-again");
        t.start(UNKNOWN, "reason:forgot").await
    };
    let labels = shown.text();
    assert!(labels.contains("Verificatiestap 1 van 2"));
}

#[tokio::test]
async fn unknown_account_masks_are_stable_and_plausible() {
    let mut t = TestApp::new().await;
    let mut masks = Vec::new();
    for chat in ["a", "b"] {
        t.as_chat(chat, chat);
        t.start(UNKNOWN, "reason:forgot").await;
        let shown = t.press("method:email").await;
        let mask = shown
            .text()
            .split_whitespace()
            .find(|w| w.contains("*****@"))
            .map(str::to_string)
            .expect("a masked address");
        masks.push(mask);
    }
    assert_eq!(
        masks[0], masks[1],
        "the same name shows the same mask every time"
    );
    let m = &masks[0];
    assert!(m.len() > "ab*****@gm*****.com".len() - 3, "{m}");
}

#[tokio::test]
async fn every_check_fails_for_an_unknown_account_and_the_admin_sees_why_in_the_audit() {
    let t = TestApp::new().await;
    t.start(UNKNOWN, "reason:forgot").await;
    t.press("method:totp").await;
    // Even a code that is right for some real secret gets nowhere.
    let code = t.totp(JAN_TOTP, 0);
    t.say(&code).await.expect("Dat klopt niet");
    let audit = t.app.store.audit_log(Some(UNKNOWN)).await.unwrap();
    assert!(audit
        .iter()
        .any(|r| r.event == "recovery_started"
            && r.detail.as_deref().unwrap_or("").contains("unknown")));
    assert!(audit.iter().all(|r| r.outcome != "passed"));
}
