//! DESIGN §3, rule by rule: each test drives the real core through conversations, the outbox and
//! the manual clock, and checks what the user reads, what was sent, the audit log and the
//! directory. Replies are checked in Dutch, the default language.

use serde_json::{json, Value};
use sspr_bot::recovery::{PhoneAnswer, Rules};

use crate::support::*;

// ---- phrases (locales/nl/main.ftl) ----

const CHOOSE_FIRST: &str = "Verificatiestap 1 van 2";
const CHOOSE_SECOND: &str = "Verificatiestap 2 van 2";
const METHOD_PASSED: &str = "Gelukt! Kies nu een tweede, andere methode.";
const BOTH_PASSED: &str = "Beide verificatiestappen zijn gelukt.";
const WRONG: &str = "Dat klopt niet.";
const EXPIRED: &str = "Deze code of aanvraag is verlopen.";
const EMAIL_SENT: &str = "We hebben een e-mail met een verificatiecode gestuurd";
const SMS_SENT: &str = "We hebben een sms met een verificatiecode gestuurd";
const CLOSED: &str = "Deze herstelpoging is afgesloten.";
const LOCKED_24H: &str = "Wachtwoordherstel voor dit account is 24 uur geblokkeerd.";
const PAUSED_24H: &str =
    "Vanuit deze chat zijn te veel accounts of codes aangevraagd. Probeer het over 24 uur opnieuw.";
const NUMBER_MISMATCH: &str = "Dat nummer komt niet overeen";
const ASK_LOGIN: &str = "Wat is je loginnaam?";
const NEW_PASSWORD: &str = "Typ je nieuwe wachtwoord";
const CONFIRM_PASSWORD: &str = "Typ hetzelfde wachtwoord nog een keer ter bevestiging.";
const PASSWORD_REJECTED: &str = "Dit wachtwoord kan niet worden gebruikt:";
const RESET_DONE: &str = "Je wachtwoord is gewijzigd.";
const ENTER_CODE: &str = "Typ hier de verificatiecode van zes cijfers.";

const JAN_MOBILE_TYPED: &str = "06 1234 5666";

// ---- helpers ----

/// A six-digit code that is not `code`.
fn wrong(code: &str) -> String {
    let n: u32 = code.parse().expect("a numeric code");
    format!("{:06}", (n + 1) % 1_000_000)
}

/// Starts over in the current chat, whatever state it is in: login name, then reason.
async fn begin(t: &TestApp, login: &str) -> Shown {
    t.say("/opnieuw").await;
    t.say(login).await;
    t.press("reason:forgot").await
}

/// Codes (not notices) sent on `channel` so far.
async fn codes_sent(t: &TestApp, channel: &str) -> usize {
    t.outbox_lines()
        .await
        .iter()
        .filter(|l| l["channel"] == channel && l.get("code").is_some())
        .count()
}

async fn pushes_sent(t: &TestApp) -> usize {
    t.outbox_lines()
        .await
        .iter()
        .filter(|l| l["channel"] == "push")
        .count()
}

/// The stored conversation of the current chat, as JSON.
async fn stored_conversation(t: &TestApp) -> Value {
    let (data,): (String,) = sqlx::query_as("SELECT data FROM conversations WHERE key = ?")
        .bind(&t.chat.conversation)
        .fetch_one(t.app.store.sqlite_pool().unwrap())
        .await
        .unwrap();
    serde_json::from_str(&data).unwrap()
}

/// Overwrites the stored conversation of the current chat, as an attacker with write access to
/// the conversation store (or a bug in the engine) could.
async fn forge_conversation(t: &TestApp, conv: &Value) {
    let changed = sqlx::query("UPDATE conversations SET data = ? WHERE key = ?")
        .bind(conv.to_string())
        .bind(&t.chat.conversation)
        .execute(t.app.store.sqlite_pool().unwrap())
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(changed, 1, "no stored conversation to forge");
}

/// The core's recoveries for an account, oldest first: (status, passed).
async fn recoveries(t: &TestApp, account: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT status, passed FROM recoveries WHERE account = ? ORDER BY created_at, rowid",
    )
    .bind(account)
    .fetch_all(t.app.store.sqlite_pool().unwrap())
    .await
    .unwrap()
}

async fn newest_recovery(t: &TestApp, account: &str) -> (String, String) {
    recoveries(t, account).await.pop().expect("a recovery")
}

/// How many audit rows for `account` are exactly (event, method, outcome).
async fn audited(
    t: &TestApp,
    account: &str,
    event: &str,
    method: Option<&str>,
    outcome: &str,
) -> usize {
    t.audit(account)
        .await
        .iter()
        .filter(|(e, m, o)| e == event && m.as_deref() == method && o == outcome)
        .count()
}

fn has_button(shown: &Shown, id: &str) -> bool {
    shown.buttons().iter().any(|b| b == id)
}

/// The answer to whichever of Jan's questions `shown` asks.
fn jan_answer(shown: &Shown) -> &'static str {
    JAN_ANSWERS
        .iter()
        .find(|(q, _)| shown.has(q))
        .map(|(_, a)| *a)
        .unwrap_or_else(|| panic!("no known question in:\n{}", shown.text()))
}

// ---- methods that must pass: 2, distinct ----

#[tokio::test]
async fn a_method_that_passed_is_not_offered_again_so_a_second_distinct_one_is_needed() {
    let t = TestApp::new().await;
    let first = t.start(JAN, "reason:forgot").await;
    first.expect(CHOOSE_FIRST);
    assert!(has_button(&first, "method:email"));

    let after = t.pass_email().await;
    after
        .expect(METHOD_PASSED)
        .expect(CHOOSE_SECOND)
        .expect_not(NEW_PASSWORD);
    assert!(!has_button(&after, "method:email"), "{:?}", after.buttons());
    assert!(has_button(&after, "method:totp"), "{:?}", after.buttons());

    // Asking for e-mail anyway sends nothing and asks for another method.
    let again = t.press("method:email").await;
    again.expect(CHOOSE_SECOND).expect_not(EMAIL_SENT);
    assert_eq!(codes_sent(&t, "email").await, 1);
    assert_eq!(
        newest_recovery(&t, JAN).await,
        ("open".into(), "email".into())
    );
}

#[tokio::test]
async fn a_forged_conversation_claiming_two_passed_methods_cannot_reset_the_password() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.pass_email().await.expect(METHOD_PASSED);
    let before = t.password_hash(JAN).await;

    // The stored conversation says e-mail and TOTP passed; the core knows only e-mail did.
    let mut conv = stored_conversation(&t).await;
    assert_eq!(conv["state"]["step"], "choose_method", "{conv}");
    conv["state"]["step"] = json!("new_password");
    conv["state"]["rec"]["passed"] = json!(["email", "totp"]);
    forge_conversation(&t, &conv).await;
    t.say(GOOD_PASSWORD)
        .await
        .expect(CLOSED)
        .expect_not(CONFIRM_PASSWORD);

    // Straight to the confirmation, with a made-up digest: refused as well.
    conv["state"]["step"] = json!("confirm_password");
    conv["state"]["digest"] = json!("00".repeat(32));
    forge_conversation(&t, &conv).await;
    t.say(GOOD_PASSWORD)
        .await
        .expect(CLOSED)
        .expect_not(RESET_DONE);

    assert_eq!(t.password_hash(JAN).await, before);
    assert!(!t.sign_in(JAN, GOOD_PASSWORD).await);
    assert_eq!(
        audited(&t, JAN, "final_step", None, "refused_not_verified").await,
        2
    );
    assert_eq!(audited(&t, JAN, "password_reset", None, "ok").await, 0);
    assert_eq!(newest_recovery(&t, JAN).await.1, "email");
}

// ---- e-mail / SMS code: 6 digits, random, single use, valid 10 min, bound to its request ----

#[tokio::test]
async fn email_and_sms_codes_have_six_digits_and_are_not_stored_in_plain_text() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:sms").await;
    t.say(JAN_MOBILE_TYPED).await.expect(SMS_SENT);
    let sms = t.last_code("sms").await;
    t.press("other_method").await;
    t.press("method:email").await.expect(EMAIL_SENT);
    let email = t.last_code("email").await;

    let stored = t.all_stored_text().await;
    for code in [&sms, &email] {
        assert_eq!(code.len(), 6, "{code}");
        assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        assert!(
            !stored.contains(code.as_str()),
            "code {code} stored in plain text"
        );
    }
}

#[tokio::test]
async fn a_code_can_be_used_only_once() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:email").await;
    let code = t.last_code("email").await;
    t.say(&code).await.expect(METHOD_PASSED);

    // Put the conversation back at "type the code" and type the same code again.
    let mut conv = stored_conversation(&t).await;
    conv["state"]["step"] = json!("enter_code");
    conv["state"]["method"] = json!("email");
    forge_conversation(&t, &conv).await;
    t.say(&code)
        .await
        .expect(EXPIRED)
        .expect_not(METHOD_PASSED)
        .expect_not(BOTH_PASSED);

    assert_eq!(
        audited(&t, JAN, "code_checked", Some("email"), "passed").await,
        1
    );
    assert_eq!(newest_recovery(&t, JAN).await.1, "email");
}

#[tokio::test]
async fn a_code_is_valid_for_ten_minutes() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:email").await;
    let late = t.last_code("email").await;
    t.advance(10 * 60 + 1);
    t.say(&late).await.expect(EXPIRED).expect_not(METHOD_PASSED);
    assert_eq!(
        audited(&t, JAN, "challenge_expired", Some("email"), "expired").await,
        1
    );

    t.press("resend").await.expect(EMAIL_SENT);
    let in_time = t.last_code("email").await;
    t.advance(10 * 60 - 1);
    t.say(&in_time).await.expect(METHOD_PASSED);
}

#[tokio::test]
async fn a_code_from_an_earlier_recovery_fails_in_a_new_one() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:email").await;
    let earlier = t.last_code("email").await;

    begin(&t, JAN).await.expect(CHOOSE_FIRST);
    t.press("method:email").await.expect(EMAIL_SENT);
    let current = t.last_code("email").await;
    assert_ne!(
        earlier, current,
        "two random codes collided (one in a million): run again"
    );

    t.say(&earlier)
        .await
        .expect(WRONG)
        .expect_not(METHOD_PASSED);
    t.say(&current).await.expect(METHOD_PASSED);
    let all = recoveries(&t, JAN).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].1, "", "the earlier recovery passed nothing");
    assert_ne!(all[0].0, "open");
    assert_eq!(all[1], ("open".into(), "email".into()));
}

#[tokio::test]
async fn a_resent_code_supersedes_the_older_one() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:email").await;
    let older = t.last_code("email").await;
    t.advance(60);
    t.press("resend").await.expect(EMAIL_SENT);
    let newer = t.last_code("email").await;
    assert_eq!(codes_sent(&t, "email").await, 2);
    assert_ne!(
        older, newer,
        "two random codes collided (one in a million): run again"
    );

    t.say(&older).await.expect(WRONG).expect_not(METHOD_PASSED);
    t.say(&newer).await.expect(METHOD_PASSED);
}

// ---- resending: ≥ 60 s between sends; does not reset the failure count ----

#[tokio::test]
async fn a_code_is_resent_only_after_sixty_seconds() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:email").await.expect(EMAIL_SENT);
    // (The refusal repeats the step's prompt, so only the outbox tells whether a code went out.)
    t.press("resend")
        .await
        .expect("Wacht nog 60 seconden voordat je een nieuwe code aanvraagt.");
    t.advance(45);
    t.press("resend").await.expect("Wacht nog 15 seconden");
    // Going back and choosing e-mail again is a resend too.
    t.press("other_method").await.expect(CHOOSE_FIRST);
    t.press("method:email")
        .await
        .expect("Wacht nog 15 seconden")
        .expect_not(ENTER_CODE);
    assert_eq!(codes_sent(&t, "email").await, 1);
    t.advance(15);
    t.press("method:email").await.expect(EMAIL_SENT);
    assert_eq!(codes_sent(&t, "email").await, 2);
}

#[tokio::test]
async fn resending_a_code_does_not_reset_the_failure_count() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:email").await;
    let first = t.last_code("email").await;
    for _ in 0..3 {
        t.say(&wrong(&first))
            .await
            .expect(WRONG)
            .expect_not(LOCKED_24H);
    }
    t.advance(60);
    t.press("resend").await.expect(EMAIL_SENT);
    let second = t.last_code("email").await;
    t.say(&wrong(&second))
        .await
        .expect(WRONG)
        .expect_not(LOCKED_24H);
    t.say(&wrong(&second)).await.expect(LOCKED_24H);

    assert_eq!(
        audited(&t, JAN, "recovery_locked", Some("email"), "locked").await,
        1
    );
    assert_eq!(newest_recovery(&t, JAN).await.0, "cancelled");
}

// ---- failed checks: 5 per account per hour across methods → recovery locked 24 h ----

#[tokio::test]
async fn fifth_failed_check_within_an_hour_locks_recovery_for_a_day() {
    let mut t = TestApp::new().await;
    // Someone else has a recovery of the same account open, with a good code in hand.
    let mine = t.chat.clone();
    t.as_chat("test:chat-3", "test:user-3");
    t.start(JAN, "reason:forgot").await;
    t.press("method:email").await.expect(EMAIL_SENT);
    let theirs = t.last_code("email").await;
    t.chat = mine;

    t.start(JAN, "reason:forgot").await;
    // Two wrong e-mail codes…
    t.press("method:email").await;
    let code = t.last_code("email").await;
    t.say(&wrong(&code)).await.expect(WRONG);
    t.say(&wrong(&code)).await.expect(WRONG);
    // …two wrong authenticator codes (five steps away: outside the accepted skew)…
    t.press("other_method").await;
    t.press("method:totp").await;
    let far = t.totp(JAN_TOTP, 5);
    assert!(
        (-1..=1).all(|s| t.totp(JAN_TOTP, s) != far),
        "TOTP codes collided: run again"
    );
    t.say(&far).await.expect(WRONG);
    t.say(&far).await.expect(WRONG).expect_not(LOCKED_24H);
    // …and a wrong mobile number: the fifth.
    t.press("other_method").await;
    t.press("method:sms").await;
    t.say("0611111111")
        .await
        .expect(NUMBER_MISMATCH)
        .expect(LOCKED_24H);
    assert_eq!(codes_sent(&t, "sms").await, 0);
    assert_eq!(
        audited(&t, JAN, "recovery_locked", Some("sms"), "locked").await,
        1
    );

    // The recovery already open elsewhere is locked as well: its good code no longer counts.
    t.as_chat("test:chat-3", "test:user-3");
    t.say(&theirs)
        .await
        .expect(LOCKED_24H)
        .expect_not(METHOD_PASSED);
    assert_eq!(
        audited(&t, JAN, "code_checked", Some("email"), "passed").await,
        0
    );

    // Another chat user cannot start a recovery for the account.
    t.as_chat("test:chat-2", "test:user-2");
    let refused = t.start(JAN, "reason:forgot").await;
    refused.expect(LOCKED_24H).expect_not(CHOOSE_FIRST);
    assert!(!refused.buttons().iter().any(|b| b.starts_with("method:")));
    assert_eq!(
        audited(&t, JAN, "recovery_started", None, "refused_recovery_locked").await,
        1
    );

    // The directory account itself is never locked by this.
    assert!(!t.is_locked(JAN).await);

    // A minute before the day is over: still locked.
    t.advance(24 * 60 * 60 - 60);
    t.start(JAN, "reason:forgot")
        .await
        .expect("Wachtwoordherstel voor dit account is 1 uur geblokkeerd.");
    // After the day: recovery works again.
    t.advance(60);
    t.start(JAN, "reason:forgot")
        .await
        .expect(CHOOSE_FIRST)
        .expect_not("geblokkeerd");
}

#[tokio::test]
async fn failed_checks_spread_over_more_than_an_hour_do_not_lock() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:email").await;
    let code = t.last_code("email").await;
    for _ in 0..4 {
        t.say(&wrong(&code))
            .await
            .expect(WRONG)
            .expect_not(LOCKED_24H);
    }

    t.advance(60 * 60 + 1);
    begin(&t, JAN).await.expect(CHOOSE_FIRST);
    t.press("method:email").await;
    let code = t.last_code("email").await;
    for _ in 0..4 {
        t.say(&wrong(&code))
            .await
            .expect(WRONG)
            .expect_not(LOCKED_24H);
    }
    assert_eq!(
        audited(&t, JAN, "recovery_locked", Some("email"), "locked").await,
        0
    );
    // Five within this hour do.
    t.say(&wrong(&code)).await.expect(LOCKED_24H);
}

// ---- e-mails sent: 10 per 10 min per account → 24 h ----

#[tokio::test]
async fn the_eleventh_email_within_ten_minutes_blocks_email_to_the_account_for_a_day() {
    let mut t = TestApp::new().await;
    for i in 1..=11 {
        t.as_chat(
            format!("test:chat-{i}").as_str(),
            format!("test:user-{i}").as_str(),
        );
        t.start(JAN, "reason:forgot").await.expect(CHOOSE_FIRST);
        let shown = t.press("method:email").await;
        if i <= 10 {
            shown.expect(EMAIL_SENT);
        } else {
            shown
                .expect("Er zijn te veel e-mails naar dit account gestuurd. E-mail is 24 uur niet beschikbaar")
                .expect_not(EMAIL_SENT);
        }
        t.advance(30);
    }
    assert_eq!(codes_sent(&t, "email").await, 10);
    assert_eq!(
        audited(&t, JAN, "email_blocked", Some("email"), "blocked").await,
        1
    );

    // The ten-minute window is over, the block is not.
    t.advance(10 * 60);
    t.as_chat("test:chat-12", "test:user-12");
    t.start(JAN, "reason:forgot").await;
    t.press("method:email")
        .await
        .expect("E-mail is 24 uur niet beschikbaar");
    assert_eq!(codes_sent(&t, "email").await, 10);

    t.advance(24 * 60 * 60);
    t.as_chat("test:chat-13", "test:user-13");
    t.start(JAN, "reason:forgot").await;
    t.press("method:email").await.expect(EMAIL_SENT);
    assert_eq!(codes_sent(&t, "email").await, 11);
}

// ---- one chat user, many accounts: ≤ 3 login names and ≤ 10 sends per hour → paused 24 h ----

#[tokio::test]
async fn a_fourth_login_name_within_an_hour_pauses_the_chat_user_for_a_day() {
    let mut t = TestApp::new().await;
    // Three distinct names, one of them asked again in another spelling, are fine.
    for login in [JAN, ANNA, " J.K.deVries@Bedrijf.NL ", PIETER] {
        begin(&t, login).await.expect(CHOOSE_FIRST);
    }
    let fourth = "onbekend@bedrijf.nl";
    begin(&t, fourth)
        .await
        .expect(PAUSED_24H)
        .expect_not(CHOOSE_FIRST);
    assert_eq!(
        audited(&t, fourth, "chat_user_paused", None, "paused").await,
        1
    );
    // Paused for every account, even one asked before.
    begin(&t, JAN)
        .await
        .expect(PAUSED_24H)
        .expect_not(CHOOSE_FIRST);

    // Only this chat user is paused.
    let first_chat = t.chat.clone();
    t.as_chat("test:chat-2", "test:user-2");
    begin(&t, JAN).await.expect(CHOOSE_FIRST);

    t.chat = first_chat;
    t.advance(24 * 60 * 60 + 1);
    begin(&t, JAN)
        .await
        .expect(CHOOSE_FIRST)
        .expect_not("te veel");
}

#[tokio::test]
async fn more_than_ten_sends_within_an_hour_pause_the_chat_user() {
    let mut t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:email").await.expect(EMAIL_SENT);
    for _ in 0..4 {
        t.advance(60);
        t.press("resend").await.expect(EMAIL_SENT);
    }
    t.press("other_method").await;
    t.press("method:sms").await;
    t.advance(60);
    t.say(JAN_MOBILE_TYPED).await.expect(SMS_SENT);
    for _ in 0..4 {
        t.advance(60);
        t.press("resend").await.expect(SMS_SENT);
    }
    assert_eq!(
        codes_sent(&t, "email").await + codes_sent(&t, "sms").await,
        10
    );

    // The eleventh send, for another account, pauses the chat user.
    t.advance(60);
    begin(&t, ANNA).await.expect(CHOOSE_FIRST);
    t.press("method:email")
        .await
        .expect(PAUSED_24H)
        .expect_not(EMAIL_SENT);
    assert_eq!(codes_sent(&t, "email").await, 5);
    assert_eq!(
        audited(&t, ANNA, "chat_user_paused", None, "paused").await,
        1
    );
    begin(&t, ANNA).await.expect(PAUSED_24H);

    // Another chat user can still get Anna a code.
    t.as_chat("test:chat-2", "test:user-2");
    begin(&t, ANNA).await;
    t.press("method:email").await.expect(EMAIL_SENT);
}

// ---- TOTP: ±1 step; a step once accepted is never accepted again ----

#[tokio::test]
async fn totp_accepts_one_step_of_skew_either_way_but_not_two() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:totp").await;
    let window: Vec<String> = (-1..=1).map(|s| t.totp(JAN_TOTP, s)).collect();
    for steps in [-2, 2] {
        let code = t.totp(JAN_TOTP, steps);
        assert!(!window.contains(&code), "TOTP codes collided: run again");
        t.say(&code).await.expect(WRONG).expect_not(METHOD_PASSED);
    }
    t.say(&t.totp(JAN_TOTP, -1)).await.expect(METHOD_PASSED);

    begin(&t, JAN).await;
    t.press("method:totp").await;
    t.say(&t.totp(JAN_TOTP, 1)).await.expect(METHOD_PASSED);
    assert_eq!(
        audited(&t, JAN, "totp_checked", Some("totp"), "passed").await,
        2
    );
    assert_eq!(
        audited(&t, JAN, "totp_checked", Some("totp"), "failed").await,
        2
    );
}

#[tokio::test]
async fn a_totp_code_once_accepted_is_refused_the_second_time() {
    let mut t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    let code = t.totp(JAN_TOTP, 0);
    t.press("method:totp").await;
    t.say(&code).await.expect(METHOD_PASSED);

    // Same 30-second step, another recovery for the same account.
    t.as_chat("test:chat-2", "test:user-2");
    t.start(JAN, "reason:forgot").await;
    t.press("method:totp").await;
    assert_eq!(t.totp(JAN_TOTP, 0), code, "the clock did not move");
    t.say(&code).await.expect(WRONG).expect_not(METHOD_PASSED);
    assert_eq!(
        audited(&t, JAN, "totp_replayed", Some("totp"), "refused").await,
        1
    );
    assert_eq!(newest_recovery(&t, JAN).await.1, "");
}

// ---- push: number matching; capped per hour; a deny is reported ----

#[tokio::test]
async fn a_push_needs_the_matching_number_and_a_deny_is_reported() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;

    let shown = t.press("method:push").await;
    let n = t.last_push_number().await;
    assert!((10..100).contains(&n), "{n}");
    shown.expect(&format!("met het nummer {n} naar je Authenticator-app"));
    t.phone(PhoneAnswer::DenyPush)
        .await
        .expect("Je hebt de melding afgewezen.")
        .expect_not(METHOD_PASSED);
    assert_eq!(
        audited(&t, JAN, "push_answered", Some("push"), "denied").await,
        1
    );

    t.advance(60);
    t.press("method:push").await;
    let n = t.last_push_number().await;
    let other = if n == 99 { 98 } else { n + 1 };
    t.phone(PhoneAnswer::ApprovePush(other))
        .await
        .expect(WRONG)
        .expect_not(METHOD_PASSED);
    assert_eq!(
        audited(&t, JAN, "push_answered", Some("push"), "failed").await,
        1
    );

    t.advance(60);
    t.press("method:push").await;
    let n = t.last_push_number().await;
    t.phone(PhoneAnswer::ApprovePush(n))
        .await
        .expect(METHOD_PASSED);
    assert_eq!(newest_recovery(&t, JAN).await.1, "push");
}

#[tokio::test]
async fn the_sixth_push_within_an_hour_is_refused() {
    let mut t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:push")
        .await
        .expect("naar je Authenticator-app gestuurd");
    for _ in 2..=5 {
        t.advance(60);
        t.press("resend")
            .await
            .expect("naar je Authenticator-app gestuurd");
    }
    assert_eq!(pushes_sent(&t).await, 5);
    t.advance(60);
    t.press("resend")
        .await
        .expect("Er zijn dit uur te veel meldingen verstuurd.");
    assert_eq!(pushes_sent(&t).await, 5);

    // The cap is per account: a new recovery from another chat does not reset it.
    t.as_chat("test:chat-2", "test:user-2");
    t.start(JAN, "reason:forgot").await;
    t.press("method:push").await.expect("te veel meldingen");
    assert_eq!(pushes_sent(&t).await, 5);
}

// ---- security questions ----

#[tokio::test]
async fn three_security_questions_are_asked_in_turn_with_one_verdict_after_the_third() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    let q1 = t.press("method:questions").await;
    q1.expect("Vraag 1 van 3");
    assert!(q1.expects_secret);
    let first = jan_answer(&q1);

    // A wrong first answer gets no verdict yet.
    let q2 = t.say("Amsterdam").await;
    assert_ne!(first, "Amsterdam");
    q2.expect("Vraag 2 van 3")
        .expect_not(WRONG)
        .expect_not(METHOD_PASSED);
    let q3 = t.say(jan_answer(&q2)).await;
    q3.expect("Vraag 3 van 3")
        .expect_not(WRONG)
        .expect_not(METHOD_PASSED);
    let verdict = t.say(jan_answer(&q3)).await;
    verdict.expect(WRONG).expect_not(METHOD_PASSED);

    let asked: Vec<&str> = [&q1, &q2, &q3].iter().map(|s| jan_answer(s)).collect();
    let mut distinct = asked.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "three different questions: {asked:?}");
    assert_eq!(
        audited(&t, JAN, "questions_checked", Some("questions"), "failed").await,
        1
    );
    assert_eq!(
        audited(&t, JAN, "questions_checked", Some("questions"), "passed").await,
        0
    );
    assert_eq!(newest_recovery(&t, JAN).await.1, "");
}

#[tokio::test]
async fn security_answers_are_compared_after_normalising_case_spaces_and_accents() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    let sloppy = [
        ("In welke stad", " HAARLEM "),
        ("eerste huisdier", "BÉLLO"),
        ("favoriete boek", "max  havelaar"),
    ];
    t.pass_questions(&sloppy).await.expect(METHOD_PASSED);
    assert_eq!(newest_recovery(&t, JAN).await.1, "questions");
}

#[tokio::test]
async fn security_answers_are_stored_only_as_argon2id_hashes() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.pass_questions(&JAN_ANSWERS).await.expect(METHOD_PASSED);

    let hashes: Vec<(String,)> =
        sqlx::query_as("SELECT answer_hash FROM security_answers WHERE account = ?")
            .bind(JAN)
            .fetch_all(t.app.store.sqlite_pool().unwrap())
            .await
            .unwrap();
    assert_eq!(hashes.len(), 3);
    for (h,) in &hashes {
        assert!(h.starts_with("$argon2id$"), "{h}");
    }
    let stored = t.all_stored_text().await;
    for answer in [
        "Haarlem",
        "haarlem",
        "Bello",
        "bello",
        "Max Havelaar",
        "max havelaar",
        "Havelaar",
        "havelaar",
    ] {
        assert!(!stored.contains(answer), "answer {answer:?} stored");
    }
}

#[tokio::test]
async fn security_questions_are_never_offered_to_an_admin_account() {
    let t = TestApp::new().await;
    let admin = t.start(PIETER, "reason:forgot").await;
    admin.expect(CHOOSE_FIRST);
    assert!(has_button(&admin, "method:email"), "{:?}", admin.buttons());
    assert!(
        !has_button(&admin, "method:questions"),
        "{:?}",
        admin.buttons()
    );
    // Asking for them anyway asks no question.
    t.press("method:questions")
        .await
        .expect_not("Vraag 1 van 3")
        .expect(CHOOSE_FIRST);
    t.say("beveiligingsvragen")
        .await
        .expect_not("Vraag 1 van 3");
    assert_eq!(
        audited(&t, PIETER, "questions_asked", Some("questions"), "ok").await,
        0
    );

    // A regular account does get them.
    let jan = begin(&t, JAN).await;
    assert!(has_button(&jan, "method:questions"), "{:?}", jan.buttons());
}

// ---- session: a recovery expires after 15 min idle ----

#[tokio::test]
async fn a_recovery_expires_after_fifteen_idle_minutes() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:email").await;
    // Fourteen minutes and fifty-nine seconds idle is still fine.
    t.advance(15 * 60 - 1);
    t.press("resend").await.expect(EMAIL_SENT);
    let code = t.last_code("email").await;

    t.advance(15 * 60 + 1);
    t.say(&code)
        .await
        .expect("Je sessie is verlopen na 15 minuten zonder activiteit")
        .expect(ASK_LOGIN)
        .expect_not(METHOD_PASSED)
        .expect_not(EXPIRED);
    let (status, passed) = newest_recovery(&t, JAN).await;
    assert!(status == "expired" || status == "cancelled", "{status}");
    assert_eq!(passed, "");
    assert_eq!(
        audited(&t, JAN, "code_checked", Some("email"), "passed").await,
        0
    );
    // The conversation asks for the login name again.
    t.say(JAN).await.expect("Waarmee kan ik je helpen");
}

// ---- unknown / disabled account: same replies as a real one ----

#[tokio::test]
async fn an_unknown_account_gets_the_same_conversation_and_lockout_as_a_real_one() {
    let t = TestApp::new().await;
    let unknown = "onbekend@bedrijf.nl";
    let shown = t.start(unknown, "reason:forgot").await;
    shown.expect(CHOOSE_FIRST);
    assert!(has_button(&shown, "method:email"), "{:?}", shown.buttons());

    // It reads as if a code went out; nothing did.
    t.press("method:email")
        .await
        .expect(EMAIL_SENT)
        .expect(ENTER_CODE);
    assert!(t.outbox_lines().await.is_empty());
    t.advance(60);
    t.press("resend").await.expect(EMAIL_SENT);
    assert!(t.outbox_lines().await.is_empty());

    // Every code is wrong, and the fifth wrong one locks, as for a real account.
    for n in 0..4 {
        t.say(&format!("{n:06}"))
            .await
            .expect(WRONG)
            .expect_not(LOCKED_24H);
    }
    t.say("123456").await.expect(LOCKED_24H);
    assert_eq!(
        audited(&t, unknown, "recovery_locked", Some("email"), "locked").await,
        1
    );
}

// ---- new password: ≥ 12 chars, ≤ 256, not common, no login name ----

#[tokio::test]
async fn a_new_password_is_checked_against_the_policy_and_each_rejection_explained() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.pass_email().await;
    t.pass_totp(JAN_TOTP)
        .await
        .expect(BOTH_PASSED)
        .expect(NEW_PASSWORD);
    let before = t.password_hash(JAN).await;

    let cases: [(&str, &str); 3] = [
        ("Kort1!", "het is korter dan 12 tekens"),
        ("password1234", "het is te makkelijk te raden"),
        ("DeVries-Zomer-2024-vakantie", "het bevat je loginnaam"),
    ];
    for (pw, why) in cases {
        t.say(pw)
            .await
            .expect(PASSWORD_REJECTED)
            .expect(why)
            .expect(NEW_PASSWORD)
            .expect_not(CONFIRM_PASSWORD);
        assert_eq!(t.password_hash(JAN).await, before, "{pw}");
    }
    // "password1234" is long enough: only the reason that applies is given.
    t.say("password1234").await.expect_not("korter dan");

    let too_long = "x".repeat(257);
    t.say(&too_long)
        .await
        .expect("het is langer dan 256 tekens")
        .expect_not(CONFIRM_PASSWORD);
    assert_eq!(t.password_hash(JAN).await, before);
    assert_eq!(
        audited(&t, JAN, "password_rejected", None, "policy").await,
        5
    );

    // 256 characters are fine, and all of them count.
    let longest = format!("{}Zq7!", "Vlinder-bos-regen ".repeat(14));
    assert_eq!(longest.chars().count(), 256);
    t.say(&longest).await.expect(CONFIRM_PASSWORD);
    t.say(&longest).await.expect(RESET_DONE);
    assert_ne!(t.password_hash(JAN).await, before);
    assert!(t.sign_in(JAN, &longest).await);
    assert!(
        !t.sign_in(JAN, &longest[..255]).await,
        "the password was truncated"
    );
}

#[tokio::test]
async fn a_good_new_password_is_set_after_confirmation() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.pass_email().await;
    t.pass_totp(JAN_TOTP).await.expect(NEW_PASSWORD);
    let before = t.password_hash(JAN).await;
    t.say(GOOD_PASSWORD).await.expect(CONFIRM_PASSWORD);
    t.say("Paars konijn eet 8 wortels")
        .await
        .expect("De twee wachtwoorden zijn niet gelijk.")
        .expect(NEW_PASSWORD);
    assert_eq!(t.password_hash(JAN).await, before);
    t.say(GOOD_PASSWORD).await.expect(CONFIRM_PASSWORD);
    t.say(GOOD_PASSWORD).await.expect(RESET_DONE);
    assert!(t.sign_in(JAN, GOOD_PASSWORD).await);
    assert_eq!(audited(&t, JAN, "password_reset", None, "ok").await, 1);
}

// ---- after a reset: user notified; other recoveries for the account cancelled ----

#[tokio::test]
async fn after_a_reset_the_user_is_notified_and_other_recoveries_are_cancelled() {
    let mut t = TestApp::new().await;
    // Someone else is halfway a recovery of Jan's account in another chat.
    let mine = t.chat.clone();
    t.as_chat("test:chat-2", "test:user-2");
    t.start(JAN, "reason:forgot").await;
    t.press("method:email").await.expect(EMAIL_SENT);
    let theirs = t.last_code("email").await;

    t.chat = mine;
    t.start(JAN, "reason:forgot").await;
    t.pass_email().await.expect(METHOD_PASSED);
    t.pass_totp(JAN_TOTP).await.expect(BOTH_PASSED);
    t.say(GOOD_PASSWORD).await.expect(CONFIRM_PASSWORD);
    t.say(GOOD_PASSWORD).await.expect(RESET_DONE);

    let notices: Vec<Value> = t
        .outbox_lines()
        .await
        .into_iter()
        .filter(|l| l.get("notice").is_some())
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["channel"], "email");
    assert_eq!(notices[0]["notice"], "password_reset");
    assert_eq!(notices[0]["to"], "jan.devries@privemail.example");
    assert_eq!(notices[0]["account"], JAN);
    assert_eq!(
        audited(&t, JAN, "notification_sent", Some("email"), "ok").await,
        1
    );

    let all = recoveries(&t, JAN).await;
    assert_eq!(all[0].0, "cancelled", "{all:?}");
    assert_eq!(all[1].0, "done", "{all:?}");

    // The other chat's code no longer counts.
    t.as_chat("test:chat-2", "test:user-2");
    t.say(&theirs)
        .await
        .expect(CLOSED)
        .expect_not(METHOD_PASSED);
    assert_eq!(
        audited(&t, JAN, "code_checked", Some("email"), "passed").await,
        1
    );
}

#[tokio::test]
async fn after_an_unlock_the_user_is_notified_and_the_account_is_unlocked() {
    let t = TestApp::new().await;
    assert!(t.is_locked(ANNA).await);
    t.start(ANNA, "reason:locked").await.expect(CHOOSE_FIRST);
    t.pass_email().await.expect(METHOD_PASSED);
    t.pass_questions(&ANNA_ANSWERS)
        .await
        .expect(BOTH_PASSED)
        .expect("Je account is ontgrendeld.");
    assert!(!t.is_locked(ANNA).await);

    let notices: Vec<Value> = t
        .outbox_lines()
        .await
        .into_iter()
        .filter(|l| l.get("notice").is_some())
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["notice"], "unlocked");
    assert_eq!(notices[0]["to"], "anna.bakker@privemail.example");
    assert_eq!(audited(&t, ANNA, "account_unlocked", None, "ok").await, 1);
    assert_eq!(newest_recovery(&t, ANNA).await.0, "done");
}

// ---- logs: no code, answer, password or token anywhere stored ----

#[tokio::test]
async fn no_code_answer_or_password_is_stored_after_a_full_reset() {
    let t = TestApp::new().await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:email").await;
    let code = t.last_code("email").await;
    let mistyped = wrong(&code);
    t.say(&mistyped).await.expect(WRONG);
    t.say(&code).await.expect(METHOD_PASSED);
    t.pass_questions(&JAN_ANSWERS).await.expect(BOTH_PASSED);
    let rejected = "DeVries-Zomer-2024-vakantie";
    t.say(rejected).await.expect(PASSWORD_REJECTED);
    t.say(GOOD_PASSWORD).await.expect(CONFIRM_PASSWORD);
    t.say(GOOD_PASSWORD).await.expect(RESET_DONE);
    assert!(t.sign_in(JAN, GOOD_PASSWORD).await);

    let secrets = [
        code.as_str(),
        mistyped.as_str(),
        "Haarlem",
        "haarlem",
        "Bello",
        "bello",
        "Max Havelaar",
        "max havelaar",
        GOOD_PASSWORD,
        "konijn",
        rejected,
        "Zomer-2024",
    ];
    let audit: String = t
        .app
        .store
        .audit_log(None)
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{r:?}\n"))
        .collect();
    assert!(
        audit.contains("password_reset"),
        "the audit log is read: {audit}"
    );
    let stored = t.all_stored_text().await;
    for secret in secrets {
        assert!(!audit.contains(secret), "{secret:?} in the audit log");
        assert!(!stored.contains(secret), "{secret:?} stored");
    }
}

// ---- breached passwords (k-anonymity range API) ----

#[tokio::test]
async fn a_password_from_a_breach_list_is_refused_and_only_a_hash_prefix_leaves() {
    use sha1::{Digest, Sha1};
    use wiremock::matchers::{header, method, path_regex};
    let breached = "Correct Horse Battery Staple 1";
    let digest = hex::encode_upper(Sha1::digest(breached.as_bytes()));
    let (prefix, suffix) = digest.split_at(5);
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("GET"))
        .and(path_regex(r"^/range/[0-9A-F]{5}$"))
        .and(header("Add-Padding", "true"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_string(format!(
            "0018A45C4D1DEF81644B54AB7F969B88D65:0\r\n{suffix}:3861493\r\n00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2\r\n"
        )))
        .mount(&server)
        .await;
    let rules = Rules {
        breach_check_url: Some(server.uri()),
        ..Rules::default()
    };
    let t = TestApp::with_rules(rules).await;
    t.start(JAN, "reason:forgot").await;
    t.pass_email().await;
    t.pass_totp(JAN_TOTP).await;
    let before = t.password_hash(JAN).await;
    t.say(breached)
        .await
        .expect("uitgelekte wachtwoorden")
        .expect("Typ je nieuwe wachtwoord");
    assert_eq!(t.password_hash(JAN).await, before);
    // Only the five-character prefix was sent, never the password or its full hash.
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].url.path(), format!("/range/{prefix}"));
    assert!(!format!("{:?}", requests[0]).contains(suffix));
    // A password the list does not hold goes through.
    t.say(GOOD_PASSWORD).await.expect("nog een keer");
}

#[tokio::test]
async fn an_unreachable_breach_list_does_not_block_a_reset() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rules = Rules {
        breach_check_url: Some(format!("http://127.0.0.1:{closed}")),
        ..Rules::default()
    };
    let t = TestApp::with_rules(rules).await;
    t.start(JAN, "reason:forgot").await;
    t.pass_email().await;
    t.pass_totp(JAN_TOTP).await;
    t.say(GOOD_PASSWORD).await.expect("nog een keer");
    t.say(GOOD_PASSWORD)
        .await
        .expect("Je wachtwoord is gewijzigd");
}

#[tokio::test]
async fn an_sms_and_a_call_to_the_same_number_are_one_method_not_two() {
    let t = TestApp::new().await;
    // An account with nothing but a mobile number.
    let login = sspr_bot::domain::LoginName::parse("m.alleenmobiel@bedrijf.nl").unwrap();
    t.app
        .embedded
        .as_ref()
        .unwrap()
        .put_account(&login, "Mo", "Oud-wachtwoord-123!", false, false, false)
        .await
        .unwrap();
    t.app
        .store
        .upsert_registration(
            &sspr_bot::store::Registration {
                account: login.to_string(),
                mobile: Some("+31611111111".into()),
                ..Default::default()
            },
            0,
        )
        .await
        .unwrap();
    t.start(login.as_str(), "reason:forgot")
        .await
        .expect("twee verschillende methodes")
        .expect("020-40 777 55");
}
