//! Whole conversations on PostgreSQL: the in-process core of `TestApp` on a fresh PostgreSQL
//! database instead of a SQLite file — a reset, an unlock with security answers (argon2id), and
//! a registration — so every query the core makes runs on PostgreSQL too, not only the store's
//! own tests (`store.rs`) and the replica race (`replicas.rs`).

use sspr_bot::channels::console;
use sspr_bot::demo::SANNE;

use crate::support::*;

#[tokio::test]
async fn jan_resets_his_password_on_postgresql() {
    let t = TestApp::postgres().await;
    t.start(JAN, "reason:forgot")
        .await
        .expect("Verificatiestap 1 van 2");
    t.press("method:email")
        .await
        .expect("ja*****@pr*****.example");
    let code = t.last_code("email").await;
    t.say(&code)
        .await
        .expect("Kies nu een tweede, andere methode");
    assert!(t.pass_totp(JAN_TOTP).await.expects_secret);
    t.say(GOOD_PASSWORD).await.expect("nog een keer");
    t.say(GOOD_PASSWORD)
        .await
        .expect("Je wachtwoord is gewijzigd");
    assert!(t.sign_in(JAN, GOOD_PASSWORD).await, "new password works");
    let audit = t.audit(JAN).await;
    assert!(audit.contains(&("code_checked".into(), Some("email".into()), "passed".into())));
    assert!(audit.contains(&("totp_checked".into(), Some("totp".into()), "passed".into())));
    assert!(audit.contains(&("password_reset".into(), None, "ok".into())));
    // The same code cannot be used again, the same TOTP step neither.
    t.start(JAN, "reason:forgot").await;
    t.press("method:totp").await;
    t.say(&t.totp(JAN_TOTP, 0))
        .await
        .expect_not("Kies nu een tweede");
    t.finish().await;
}

#[tokio::test]
async fn anna_unlocks_with_email_and_security_answers_on_postgresql() {
    let t = TestApp::postgres().await;
    assert!(t.is_locked(ANNA).await);
    t.start(ANNA, "reason:locked").await;
    t.press("method:email").await;
    let code = t.last_code("email").await;
    t.say(&code).await;
    t.pass_questions(&ANNA_ANSWERS)
        .await
        .expect("Je account is ontgrendeld");
    assert!(!t.is_locked(ANNA).await);
    t.finish().await;
}

#[tokio::test]
async fn sanne_registers_a_private_address_on_postgresql() {
    let mut t = TestApp::postgres().await;
    let chat = console::chat();
    t.as_chat(&chat.conversation, &chat.user);
    t.say("/registreren").await;
    t.say(SANNE).await.expect("Typ hier de verificatiecode");
    let work_code = t.last_code("email").await;
    t.say(&work_code).await;
    t.press("reg:email").await;
    t.say("sanne.jansen@privemail.example")
        .await
        .expect("sa*****@pr*****.example");
    let code = t.last_code("email").await;
    t.say(&code)
        .await
        .expect("Vastgelegd: je privé e-mailadres");
    let registered = t.app.store.registration(SANNE).await.unwrap().unwrap();
    assert_eq!(
        registered.alternate_email.as_deref(),
        Some("sanne.jansen@privemail.example")
    );
    assert!(t
        .app
        .store
        .registration_times(SANNE)
        .await
        .unwrap()
        .unwrap()
        .alternate_email_at
        .is_some());
    t.finish().await;
}
