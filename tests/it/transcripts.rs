//! Every path of the guide as a conversation, in Dutch and in English.

use sspr_bot::dialogue::Lang;
use sspr_bot::recovery::PhoneAnswer;

use crate::support::*;

const BOTH: [Lang; 2] = [Lang::Nl, Lang::En];

async fn app_in(lang: Lang) -> TestApp {
    let t = TestApp::new().await;
    if lang == Lang::En {
        t.say("/taal en").await.expect("English");
    }
    t
}

/// Steps 11a: new password twice, then the directory has it.
async fn set_new_password(t: &TestApp, lang: Lang, login: &str) {
    let before = t.password_hash(login).await;
    let shown = t.say(GOOD_PASSWORD).await;
    assert!(shown.expects_secret);
    shown.expect(tr(lang, "nog een keer", "once more"));
    t.say(GOOD_PASSWORD).await.expect(tr(
        lang,
        "Je wachtwoord is gewijzigd",
        "Your password has been changed",
    ));
    assert_ne!(t.password_hash(login).await, before);
    assert!(t.sign_in(login, GOOD_PASSWORD).await, "new password works");
    let notices: Vec<_> = t
        .outbox_lines()
        .await
        .into_iter()
        .filter(|l| l["notice"] == "password_reset")
        .collect();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0]["to"], "jan.devries@privemail.example");
}

#[tokio::test]
async fn forgot_password_with_email_and_authenticator_code() {
    for lang in BOTH {
        let t = app_in(lang).await;
        let choose = t.start(JAN, "reason:forgot").await;
        choose.expect(tr(
            lang,
            "Verificatiestap 1 van 2",
            "Verification step 1 of 2",
        ));
        for m in ["email", "sms", "call", "questions", "push", "totp"] {
            TestApp::offered(&choose, &format!("method:{m}"));
        }
        // Step 5: to the private address, shown masked, never the work address.
        let sent = t.press("method:email").await;
        sent.expect("ja*****@pr*****.example");
        let line = &t.outbox_lines().await[0];
        assert_eq!(line["channel"], "email");
        assert_eq!(line["to"], "jan.devries@privemail.example");
        let code = t.last_code("email").await;
        assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
        let next = t.say(&code).await;
        next.expect(tr(
            lang,
            "Kies nu een tweede, andere methode",
            "Now choose a second, different method",
        ));
        assert!(
            !next.buttons().contains(&"method:email".to_string()),
            "e-mail passed, not offered again"
        );
        // Step 10.
        let done = t.pass_totp(JAN_TOTP).await;
        done.expect(tr(
            lang,
            "Beide verificatiestappen zijn gelukt",
            "Both verification steps passed",
        ));
        assert!(done.expects_secret);
        set_new_password(&t, lang, JAN).await;
        assert_eq!(
            t.app.core.turn_locks_in_use(),
            0,
            "per-conversation locks are released"
        );
        let audit = t.audit(JAN).await;
        assert!(audit.contains(&("code_checked".into(), Some("email".into()), "passed".into())));
        assert!(audit.contains(&("totp_checked".into(), Some("totp".into()), "passed".into())));
        assert!(audit.contains(&("password_reset".into(), None, "ok".into())));
    }
}

#[tokio::test]
async fn forgot_password_with_sms_and_email() {
    for lang in BOTH {
        let t = app_in(lang).await;
        t.start(JAN, "reason:forgot").await;
        // Step 6a: the full number must be typed; the masked one is shown.
        t.press("method:sms").await.expect("*****66");
        t.say("06 1234 5600")
            .await
            .expect(tr(lang, "komt niet overeen", "does not match"));
        t.say("06-12345666").await.expect("*****66");
        let sms = t.last_code("sms").await;
        assert_eq!(t.outbox_lines().await.last().unwrap()["to"], "+31612345666");
        let next = t.say(&sms).await;
        next.expect(tr(lang, "tweede, andere", "second, different"));
        // A call to the same number proves the same phone again: it is not a second method.
        assert!(
            !next.buttons().contains(&"method:call".to_string()),
            "{:?}",
            next.buttons()
        );
        t.pass_email().await.expect(tr(
            lang,
            "Beide verificatiestappen",
            "Both verification steps",
        ));
        set_new_password(&t, lang, JAN).await;
    }
}

#[tokio::test]
async fn forgot_password_with_a_phone_call_and_an_authenticator_code() {
    for lang in BOTH {
        let t = app_in(lang).await;
        t.start(JAN, "reason:forgot").await;
        // Step 7: the same number check, then a call confirmed with '#'.
        t.press("method:call").await.expect("*****66");
        t.say("+31612345666")
            .await
            .expect(tr(lang, "druk op #", "press #"));
        assert_eq!(t.outbox_lines().await.last().unwrap()["channel"], "voice");
        let next = t.phone(PhoneAnswer::CallKeys('#')).await;
        next.expect(tr(lang, "tweede, andere", "second, different"));
        assert!(
            !next.buttons().contains(&"method:sms".to_string()),
            "{:?}",
            next.buttons()
        );
        t.pass_totp(JAN_TOTP).await.expect(tr(
            lang,
            "Beide verificatiestappen",
            "Both verification steps",
        ));
        set_new_password(&t, lang, JAN).await;
    }
}

#[tokio::test]
async fn a_call_answered_with_another_key_does_not_confirm() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:call").await;
    t.say("0612345666").await;
    t.phone(PhoneAnswer::CallKeys('1'))
        .await
        .expect("Dat klopt niet");
    assert!(t.audit(JAN).await.contains(&(
        "call_answered".into(),
        Some("call".into()),
        "failed".into()
    )));
}

#[tokio::test]
async fn forgot_password_with_security_questions_and_push_approval() {
    for lang in BOTH {
        let t = app_in(lang).await;
        t.start(JAN, "reason:forgot").await;
        // Step 8: three questions, one after another, answers hidden.
        let q1 = t.press("method:questions").await;
        q1.expect(tr(lang, "Vraag 1 van 3", "Question 1 of 3"));
        assert!(q1.expects_secret);
        let after = t.pass_questions(&JAN_ANSWERS).await;
        after.expect(tr(lang, "tweede, andere", "second, different"));
        // Step 9: the chat shows the number the app asks for.
        t.press("method:push").await;
        let number = t.last_push_number().await;
        let line = t.outbox_lines().await.last().unwrap().clone();
        assert_eq!(line["channel"], "push");
        assert_eq!(line["to"], "demo-device-jan");
        t.phone(PhoneAnswer::ApprovePush(number)).await.expect(tr(
            lang,
            "Beide verificatiestappen",
            "Both verification steps",
        ));
        set_new_password(&t, lang, JAN).await;
    }
}

#[tokio::test]
async fn the_push_message_shows_the_number_to_pick() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    let shown = t.press("method:push").await;
    let number = t.last_push_number().await;
    shown.expect(&format!("het nummer {number} naar"));
}

#[tokio::test]
async fn locked_account_is_unlocked_after_two_methods() {
    for lang in BOTH {
        let t = app_in(lang).await;
        assert!(t.is_locked(ANNA).await);
        let choose = t.start(ANNA, "reason:locked").await;
        // Anna has no phone: no SMS, call or push.
        for m in ["sms", "call", "push"] {
            assert!(
                !choose.buttons().contains(&format!("method:{m}")),
                "{m} offered to Anna"
            );
        }
        t.press("method:email")
            .await
            .expect("an*****@pr*****.example");
        let code = t.last_code("email").await;
        t.say(&code).await;
        t.pass_questions(&ANNA_ANSWERS)
            .await
            .expect(tr(
                lang,
                "Je account is ontgrendeld",
                "Your account is unlocked",
            ))
            .expect(tr(lang, "browser opnieuw op", "restart your browser"));
        assert!(!t.is_locked(ANNA).await);
        assert!(t
            .outbox_lines()
            .await
            .iter()
            .any(|l| l["notice"] == "unlocked" && l["to"] == "anna.bakker@privemail.example"));
        assert!(t
            .audit(ANNA)
            .await
            .contains(&("account_unlocked".into(), None, "ok".into())));
    }
}

#[tokio::test]
async fn unlock_with_email_and_authenticator_code() {
    let t = TestApp::new().await;
    t.start(ANNA, "reason:locked").await;
    t.pass_email().await;
    t.pass_totp(ANNA_TOTP)
        .await
        .expect("Je account is ontgrendeld");
    assert!(!t.is_locked(ANNA).await);
}

#[tokio::test]
async fn without_a_phone_only_email_and_questions_are_offered_and_suffice() {
    for lang in BOTH {
        let t = app_in(lang).await;
        t.start(JAN, "reason:forgot").await;
        let choose = t.press("no_phone").await;
        let buttons = choose.buttons();
        assert!(buttons.contains(&"method:email".into()));
        assert!(buttons.contains(&"method:questions".into()));
        for m in ["sms", "call", "push", "totp"] {
            assert!(
                !buttons.contains(&format!("method:{m}")),
                "{m} offered without a phone"
            );
        }
        assert!(buttons.contains(&"with_phone".into()));
        t.pass_email().await;
        let next = t.press("method:totp").await;
        next.expect(tr(
            lang,
            "Verificatiestap 2 van 2",
            "Verification step 2 of 2",
        ));
        t.pass_questions(&JAN_ANSWERS).await;
        set_new_password(&t, lang, JAN).await;
    }
}

#[tokio::test]
async fn without_a_phone_and_without_questions_the_helpdesk_is_the_way() {
    let t = TestApp::new().await;
    // Pieter is an admin: no security questions, so no phone-less recovery.
    t.start(PIETER, "reason:forgot").await;
    t.press("no_phone")
        .await
        .expect("twee verschillende methodes")
        .expect("020-40 777 55");
}

#[tokio::test]
async fn an_admin_is_never_offered_security_questions() {
    for lang in BOTH {
        let t = app_in(lang).await;
        let choose = t.start(PIETER, "reason:forgot").await;
        assert!(!choose.buttons().contains(&"method:questions".into()));
        // Typing it does not help either.
        t.say("beveiligingsvragen")
            .await
            .expect_not("Vraag 1 van 3");
        t.pass_email().await;
        t.pass_totp(PIETER_TOTP).await;
        let before = t.password_hash(PIETER).await;
        t.say(GOOD_PASSWORD).await;
        t.say(GOOD_PASSWORD).await;
        assert_ne!(t.password_hash(PIETER).await, before);
    }
}

#[tokio::test]
async fn cancel_works_at_every_step_and_changes_nothing() {
    let steps: [&[&str]; 6] = [
        &["hoi"],
        &["hoi", JAN],
        &["hoi", JAN, "@reason:forgot"],
        &["hoi", JAN, "@reason:forgot", "@method:sms"],
        &["hoi", JAN, "@reason:forgot", "@method:email"],
        &["hoi", JAN, "@reason:forgot", "@method:questions"],
    ];
    for (i, script) in steps.iter().enumerate() {
        for how in ["button", "word", "slash"] {
            let t = TestApp::new().await;
            let before = t.password_hash(JAN).await;
            for step in *script {
                match step.strip_prefix('@') {
                    Some(b) => t.press(b).await,
                    None => t.say(step).await,
                };
            }
            let shown = match how {
                "button" => t.press("cancel").await,
                // In the secret step of the questions plain words are answers; the slash
                // command still cancels.
                "word" if i == 5 => t.say("/stop").await,
                "word" => t.say("annuleren").await,
                _ => t.say("/cancel").await,
            };
            shown.expect("Gestopt. Er is niets gewijzigd.");
            assert_eq!(t.password_hash(JAN).await, before);
            // And it starts afresh.
            t.say("hoi").await.expect("Wat is je loginnaam?");
        }
    }
}

#[tokio::test]
async fn start_over_at_any_point() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.pass_email().await;
    t.say("opnieuw").await.expect("Wat is je loginnaam?");
    // The earlier e-mail pass does not carry over.
    let choose = t.start(JAN, "reason:forgot").await;
    choose.expect("Verificatiestap 1 van 2");
    assert!(choose.buttons().contains(&"method:email".into()));
}

#[tokio::test]
async fn language_can_be_switched_mid_conversation() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:email").await;
    let shown = t.say("/lang en").await;
    assert_eq!(shown.lang, Lang::En);
    shown
        .expect("I will speak English with you now.")
        .expect("Type the six-digit verification code");
    let code = t.last_code("email").await;
    t.say(&code).await.expect("Now choose a second");
    let shown = t.say("nederlands").await;
    assert_eq!(shown.lang, Lang::Nl);
    shown.expect("Verificatiestap 2 van 2");
}

#[tokio::test]
async fn first_message_may_already_be_the_login_name() {
    let t = TestApp::new().await;
    t.say("  J.K.deVries@Bedrijf.nl ")
        .await
        .expect("Waarmee kan ik je helpen voor j.k.devries@bedrijf.nl?");
}

#[tokio::test]
async fn typed_words_work_as_well_as_buttons() {
    let t = TestApp::new().await;
    t.say("hoi").await;
    t.say(JAN).await;
    t.say("ik ben mijn wachtwoord vergeten")
        .await
        .expect("Verificatiestap 1 van 2");
    t.say("e-mail").await.expect("ja*****@pr*****.example");
}

#[tokio::test]
async fn idle_for_fifteen_minutes_starts_over() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:email").await;
    let code = t.last_code("email").await;
    t.advance(15 * 60 + 1);
    t.say(&code)
        .await
        .expect("Je sessie is verlopen")
        .expect("Wat is je loginnaam?");
    assert!(t
        .audit(JAN)
        .await
        .contains(&("recovery_ended".into(), None, "expired".into())));
}

#[tokio::test]
async fn garbage_gets_a_translated_answer_and_changes_nothing() {
    let t = TestApp::new().await;
    t.say("hoi").await;
    t.say("geen loginnaam")
        .await
        .expect("Dat lijkt geen loginnaam");
    t.say(JAN).await;
    t.press("does-not-exist")
        .await
        .expect("Waarmee kan ik je helpen");
    t.press("reason:forgot").await;
    t.press("method:email").await;
    t.say("12ab56").await.expect("precies zes cijfers");
    t.say(&"x".repeat(5000)).await.expect("te lang");
    t.say("\u{0}\u{202e}💥").await.expect("precies zes cijfers");
}

/// A directory that, like Entra ID, cannot clear a lockout.
struct CannotUnlock(std::sync::Arc<sspr_bot::directory::EmbeddedDirectory>);

#[async_trait::async_trait]
impl sspr_bot::directory::Directory for CannotUnlock {
    async fn find(
        &self,
        login: &sspr_bot::domain::LoginName,
    ) -> Result<Option<sspr_bot::directory::Account>, sspr_bot::directory::DirectoryError> {
        self.0.find(login).await
    }
    async fn reset_password(
        &self,
        login: &sspr_bot::domain::LoginName,
        password: &sspr_bot::domain::NewPassword,
    ) -> Result<(), sspr_bot::directory::DirectoryError> {
        self.0.reset_password(login, password).await
    }
    async fn unlock(
        &self,
        _: &sspr_bot::domain::LoginName,
    ) -> Result<(), sspr_bot::directory::DirectoryError> {
        Err(sspr_bot::directory::DirectoryError::UnlockUnsupported)
    }
    async fn ping(&self) -> Result<(), sspr_bot::directory::DirectoryError> {
        self.0.ping().await
    }
    async fn list_accounts(
        &self,
    ) -> Result<Vec<sspr_bot::directory::Account>, sspr_bot::directory::DirectoryError> {
        self.0.list_accounts().await
    }
}

#[tokio::test]
async fn a_directory_that_cannot_unlock_offers_a_new_password_instead() {
    let mut t = TestApp::new().await;
    let embedded = t.app.embedded.clone().unwrap();
    t.app.core = std::sync::Arc::new(sspr_bot::recovery::Core::new(
        t.app.store.clone(),
        std::sync::Arc::new(CannotUnlock(embedded)),
        sspr_bot::providers::Providers::outbox(t.app.outbox.clone().unwrap()),
        t.app.core.keys().clone(),
        t.clock.clone(),
        sspr_bot::recovery::Rules::default(),
    ));
    t.start(ANNA, "reason:locked").await;
    t.pass_email().await;
    let shown = t.pass_questions(&ANNA_ANSWERS).await;
    shown
        .expect("kan hier niet direct worden ontgrendeld")
        .expect_not("Je account is ontgrendeld");
    TestApp::offered(&shown, "reset_instead");
    assert!(t.is_locked(ANNA).await);
    let shown = t.press("reset_instead").await;
    assert!(shown.expects_secret);
    t.say(GOOD_PASSWORD).await;
    t.say(GOOD_PASSWORD)
        .await
        .expect("Je wachtwoord is gewijzigd");
    assert!(!t.is_locked(ANNA).await, "a reset ends the lockout");
    assert!(t.sign_in(ANNA, GOOD_PASSWORD).await);
    assert!(t
        .audit(ANNA)
        .await
        .contains(&("reason_changed".into(), None, "ok".into())));
}

/// Collects what the core hands a channel for results that arrive later.
#[derive(Default)]
struct Captured(std::sync::Mutex<Vec<sspr_bot::recovery::TurnOutput>>);

#[async_trait::async_trait]
impl sspr_bot::recovery::Outbound for Captured {
    async fn deliver(&self, _: &sspr_bot::recovery::ChatRef, out: sspr_bot::recovery::TurnOutput) {
        self.0.lock().unwrap().push(out);
    }
}

#[tokio::test]
async fn a_call_status_arriving_after_the_reset_says_nothing_to_the_user() {
    let t = TestApp::new().await;
    let captured = std::sync::Arc::new(Captured::default());
    t.app.core.register_outbound("test", captured.clone());
    t.start(JAN, "reason:forgot").await;
    t.press("method:call").await;
    t.say("0612345666").await;
    t.phone(PhoneAnswer::CallKeys('#')).await;
    t.pass_email().await;
    t.say(GOOD_PASSWORD).await;
    t.say(GOOD_PASSWORD)
        .await
        .expect("Je wachtwoord is gewijzigd");
    let (call_id,): (String,) = sqlx::query_as("SELECT id FROM challenges WHERE method = 'call'")
        .fetch_one(t.app.store.sqlite_pool().unwrap())
        .await
        .unwrap();
    // Twilio's final "completed" status (no key pressed as far as it knows) comes in late.
    assert!(t
        .app
        .core
        .late_result(&call_id, PhoneAnswer::NoKeys)
        .await
        .unwrap());
    {
        let delivered = captured.0.lock().unwrap();
        assert!(
            delivered.iter().all(|out| out.replies.is_empty()),
            "{:?}",
            delivered.iter().map(|o| &o.replies).collect::<Vec<_>>()
        );
    }
    // And the reset stands.
    assert!(t.sign_in(JAN, GOOD_PASSWORD).await);
}
