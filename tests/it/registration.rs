//! Registering verification methods in chat (issue 6): the work mailbox first, then each method
//! verified before it counts; re-confirmation after the configured days.

use std::sync::Arc;

use serde_json::Value;
use sspr_bot::channels::console;
use sspr_bot::dialogue::Lang;
use sspr_bot::recovery::Rules;

use crate::support::*;

/// Sanne Jansen, the demo's new employee: in the directory, nothing registered yet.
use sspr_bot::demo::SANNE;
const SANNE_PRIVATE: &str = "sanne.jansen@privemail.example";

async fn json_session(t: &TestApp, lines: &[String]) -> Vec<Value> {
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

fn text(s: &str) -> String {
    serde_json::json!({ "text": s }).to_string()
}

fn button(s: &str) -> String {
    serde_json::json!({ "button": s }).to_string()
}

/// One JSON line's replies, as one string.
fn said(line: &Value) -> String {
    line["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The code the outbox sent to `to`, newest first.
async fn code_to(t: &TestApp, to: &str) -> String {
    t.outbox_lines()
        .await
        .iter()
        .rev()
        .find(|l| l["to"] == to && l.get("code").is_some())
        .and_then(|l| l["code"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no code to {to} in the outbox"))
}

/// The base32 secret inside an `otpauth://` URI.
fn secret_of(uri: &str) -> String {
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    uri.split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .expect("a secret parameter")
        .to_string()
}

/// The QR payload of the last reply that carried one.
fn qr_of(line: &Value) -> Option<String> {
    line["replies"]
        .as_array()?
        .iter()
        .rev()
        .find_map(|r| r["qr"].as_str().map(str::to_string))
}

/// In the terminal's chat: `/registreren`, the login name, and the code from the work mailbox.
async fn proven_registration(t: &mut TestApp, login: &str) -> Shown {
    let chat = console::chat();
    t.as_chat(&chat.conversation, &chat.user);
    t.say("/registreren")
        .await
        .expect("Voor welke loginnaam wil je methodes vastleggen?");
    t.say(login)
        .await
        .expect("zakelijke adres")
        .expect("Typ hier de verificatiecode");
    let code = code_to(t, login).await;
    t.say(&code).await
}

#[tokio::test]
async fn registration_over_the_json_protocol_ends_in_a_recovery_with_the_new_methods() {
    let t = TestApp::new().await;
    let out = json_session(&t, &[text("/registreren"), text(SANNE)]).await;
    assert!(
        said(&out[1]).contains("s.*****@be*****.nl"),
        "{}",
        said(&out[1])
    );
    let work_code = code_to(&t, SANNE).await;

    let out = json_session(
        &t,
        &[text(&work_code), button("reg:email"), text(SANNE_PRIVATE)],
    )
    .await;
    assert!(
        said(&out[0]).contains("zakelijke mailbox"),
        "{}",
        said(&out[0])
    );
    assert!(said(&out[0]).contains("niet vastgelegd"));
    let buttons = out[0]["replies"].to_string();
    assert!(buttons.contains("reg:totp") && buttons.contains("reg:questions"));
    assert!(
        said(&out[2]).contains("sa*****@pr*****.example"),
        "{}",
        said(&out[2])
    );

    let email_code = code_to(&t, SANNE_PRIVATE).await;
    let out = json_session(&t, &[text(&email_code), button("reg:totp")]).await;
    assert!(
        said(&out[0]).contains("Vastgelegd: je privé e-mailadres"),
        "{}",
        said(&out[0])
    );
    let uri = qr_of(&out[1]).expect("the QR code in the JSON reply");
    assert!(uri.contains("s.jansen%40bedrijf.nl"), "{uri}");
    let secret = secret_of(&uri);

    let out = json_session(
        &t,
        &[
            text(&t.totp(&secret, 0)),
            button("reg:questions"),
            button("q:birth_city"),
            button("q:first_pet"),
            button("q:first_concert"),
            text("Zwolle"),
            text("Snuffie"),
            text("Doe Maar in Ahoy"),
            button("reg:done"),
        ],
    )
    .await;
    assert!(
        said(&out[0]).contains("Vastgelegd: de Authenticator-app"),
        "{}",
        said(&out[0])
    );
    assert_eq!(
        out[5]["replies"].as_array().unwrap().last().unwrap()["secret"],
        true
    );
    assert!(
        said(&out[7]).contains("Vastgelegd: je beveiligingsvragen"),
        "{}",
        said(&out[7])
    );
    assert!(said(&out[8]).contains("opgeslagen"));

    // Half a minute later (the confirming code is spent), Sanne forgets her password.
    t.advance(31);
    let out = json_session(
        &t,
        &[
            text("hoi"),
            text(SANNE),
            button("reason:forgot"),
            button("method:email"),
        ],
    )
    .await;
    let offered = out[2]["replies"].to_string();
    for m in ["method:email", "method:totp", "method:questions"] {
        assert!(offered.contains(m), "{m} in {offered}");
    }
    assert!(!offered.contains("method:sms"));
    let code = code_to(&t, SANNE_PRIVATE).await;
    let out = json_session(
        &t,
        &[
            text(&code),
            button("method:totp"),
            text(&t.totp(&secret, 0)),
            text(GOOD_PASSWORD),
            text(GOOD_PASSWORD),
        ],
    )
    .await;
    assert!(
        said(&out[2]).contains("Beide verificatiestappen"),
        "{}",
        said(&out[2])
    );
    assert!(
        said(&out[4]).contains("Je wachtwoord is gewijzigd"),
        "{}",
        said(&out[4])
    );
    assert!(t.sign_in(SANNE, GOOD_PASSWORD).await);
}

#[tokio::test]
async fn an_authenticator_app_counts_only_after_a_valid_code() {
    let mut t = TestApp::new().await;
    proven_registration(&mut t, SANNE).await;
    let chat = console::chat();
    let out = json_session(&t, &[button("reg:totp"), text("000000"), text("123456")]).await;
    let secret = secret_of(&qr_of(&out[0]).unwrap());
    for wrong in [&out[1], &out[2]] {
        // (A random secret could produce one of these by chance once in 500,000 runs.)
        assert!(
            said(wrong).contains("Die code klopt niet"),
            "{}",
            said(wrong)
        );
    }
    let reg = t.app.store.registration(SANNE).await.unwrap();
    assert!(reg.is_none_or(|r| r.totp_secret.is_none()));
    t.as_chat(&chat.conversation, &chat.user);
    t.say(&t.totp(&secret, 0))
        .await
        .expect("Vastgelegd: de Authenticator-app");
    let reg = t.app.store.registration(SANNE).await.unwrap().unwrap();
    assert!(reg.totp_secret.is_some());
    let events: Vec<String> = t
        .audit(SANNE)
        .await
        .into_iter()
        .map(|(e, _, o)| format!("{e}:{o}"))
        .collect();
    assert!(
        events.contains(&"enrolment_code_checked:failed".to_string()),
        "{events:?}"
    );
    assert!(
        events.contains(&"method_registered:ok".to_string()),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_new_authenticator_secret_is_not_readable_in_the_database_files() {
    let mut t = TestApp::new().await;
    proven_registration(&mut t, SANNE).await;
    let out = json_session(&t, &[button("reg:totp")]).await;
    let secret = secret_of(&qr_of(&out[0]).unwrap());
    let out = json_session(&t, &[text(&t.totp(&secret, 0))]).await;
    assert!(said(&out[0]).contains("Vastgelegd"));
    let raw = totp_rs::Secret::Encoded(secret.clone()).to_bytes().unwrap();
    let stored = t.all_stored_text().await;
    assert!(!stored.contains(&secret));
    assert!(!stored.to_lowercase().contains(&hex::encode(&raw)));
    // The files themselves, the write-ahead log included.
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", t.db.display());
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let needle = secret.as_bytes();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{path}");
        assert!(
            !bytes.windows(raw.len()).any(|w| w == raw.as_slice()),
            "{path}"
        );
    }
}

#[tokio::test]
async fn reconfirmation_is_asked_after_the_configured_days_and_not_before() {
    let rules = Rules {
        reconfirm_after_secs: 30 * 24 * 60 * 60,
        ..Rules::default()
    };
    let t = TestApp::with_rules(rules).await;
    // 29 days after the demo accounts registered: nothing is asked.
    t.advance(29 * 24 * 60 * 60);
    t.start(JAN, "reason:forgot").await;
    t.pass_email().await;
    t.pass_totp(JAN_TOTP).await;
    t.say(GOOD_PASSWORD).await;
    t.say(GOOD_PASSWORD)
        .await
        .expect("Je wachtwoord is gewijzigd")
        .expect_not("Kloppen ze allemaal nog?");
    // Two more days: after the next recovery Jan is asked, with his methods shown masked.
    t.advance(2 * 24 * 60 * 60);
    t.start(JAN, "reason:forgot").await;
    t.pass_email().await;
    t.pass_totp(JAN_TOTP).await;
    t.say("Nog een heel ander wachtwoord 42").await;
    let shown = t.say("Nog een heel ander wachtwoord 42").await;
    shown
        .expect("Je wachtwoord is gewijzigd")
        .expect("Kloppen ze allemaal nog?")
        .expect("ja*****@pr*****.example")
        .expect("*****66");
    assert!(shown.buttons().contains(&"reg:confirm".to_string()));
    t.press("reg:confirm")
        .await
        .expect("Dank je voor het controleren");
    let card = sspr_bot::admin::show(
        &t.app.store,
        &sspr_bot::domain::LoginName::parse(JAN).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    let confirmed = t.now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        card.contains(&format!("last confirmed by employee:  {confirmed}")),
        "{card}"
    );
    let events: Vec<String> = t.audit(JAN).await.into_iter().map(|(e, _, _)| e).collect();
    assert!(events.contains(&"reconfirmation_asked".to_string()));
    assert!(events.contains(&"methods_confirmed".to_string()));
    // Confirmed: 29 days later nothing is asked again.
    t.advance(29 * 24 * 60 * 60);
    t.start(JAN, "reason:forgot").await;
    t.pass_email().await;
    t.pass_totp(JAN_TOTP).await;
    t.say("Derde wachtwoord voor Jan 2027").await;
    t.say("Derde wachtwoord voor Jan 2027")
        .await
        .expect_not("Kloppen ze allemaal nog?");
}

#[tokio::test]
async fn registering_in_chat_also_asks_for_reconfirmation_when_it_is_due() {
    let mut t = TestApp::new().await;
    t.advance(181 * 24 * 60 * 60);
    proven_registration(&mut t, JAN)
        .await
        .expect("Verificatiemethodes voor j.k.devries@bedrijf.nl")
        .expect("Kloppen ze allemaal nog?");
}

#[tokio::test]
async fn answers_follow_the_rules_and_only_hashes_are_stored() {
    let mut t = TestApp::new().await;
    proven_registration(&mut t, SANNE).await;
    t.press("reg:questions").await;
    t.press("q:birth_city").await;
    t.press("q:first_pet").await;
    t.press("q:favourite_book")
        .await
        .expect("Je antwoord op vraag 1 van 3");
    t.say("Ed").await.expect("te kort");
    t.say("stad").await.expect("staat in de vraag zelf");
    t.say("Zwolle").await.expect("vraag 2 van 3");
    t.say("ZWOLLE!").await.expect("al bij een andere vraag");
    t.say("Snuffie").await.expect("vraag 3 van 3");
    t.say(&"x".repeat(41)).await.expect("te lang");
    t.say("De ontdekking van de hemel")
        .await
        .expect("Vastgelegd: je beveiligingsvragen");
    let stored = t.all_stored_text().await.to_lowercase();
    for answer in ["zwolle", "snuffie", "ontdekking"] {
        assert!(!stored.contains(answer), "{answer} stored in plain text");
    }
    let answers = t.app.store.security_answers(SANNE).await.unwrap();
    let ids: Vec<&str> = answers.iter().map(|(q, _)| q.as_str()).collect();
    assert_eq!(ids, ["birth_city", "first_pet", "favourite_book"]);
    assert!(answers.iter().all(|(_, h)| h.starts_with("$argon2id$")));
    // Questions alone are one method; a recovery needs two different ones.
    t.say("/stop").await;
    let shown = t.start(SANNE, "reason:forgot").await;
    shown.expect("niet zelf herstellen");
    assert!(shown.buttons().contains(&"register".to_string()));
}

#[tokio::test]
async fn the_alternate_address_must_not_be_a_work_address_and_changes_are_notified() {
    let mut t = TestApp::new().await;
    proven_registration(&mut t, SANNE).await;
    t.press("reg:email").await;
    t.say("sanne@bedrijf.nl")
        .await
        .expect("Dat is een zakelijk adres");
    t.say("geen adres")
        .await
        .expect("Dat lijkt geen e-mailadres");
    t.say(SANNE_PRIVATE).await.expect("sa*****@pr*****.example");
    let code = code_to(&t, SANNE_PRIVATE).await;
    t.say(&code)
        .await
        .expect("Vastgelegd: je privé e-mailadres");
    let notices: Vec<String> = t
        .outbox_lines()
        .await
        .iter()
        .filter(|l| l["notice"] == "methods_changed")
        .map(|l| l["to"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(notices, [SANNE_PRIVATE, SANNE]);
    let reg = t.app.store.registration(SANNE).await.unwrap().unwrap();
    assert_eq!(reg.alternate_email.as_deref(), Some(SANNE_PRIVATE));
    let card = sspr_bot::admin::show(
        &t.app.store,
        &sspr_bot::domain::LoginName::parse(SANNE).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        card.contains("alternate e-mail registered: 2026-11-30T06:55:00Z"),
        "{card}"
    );
    assert!(!card.contains("last confirmed"), "{card}");
}

#[tokio::test]
async fn a_mobile_number_is_verified_by_sms_and_stored_in_e164() {
    let mut t = TestApp::new().await;
    proven_registration(&mut t, SANNE).await;
    t.press("reg:mobile").await;
    t.say("020-40 777 55")
        .await
        .expect("Naar dat nummer kunnen we geen sms sturen");
    t.say("06-1234 5678").await.expect("*****78");
    let code = code_to(&t, "+31612345678").await;
    t.say("999999").await.expect("Die code klopt niet");
    t.say(&code).await.expect("Vastgelegd: je mobiele nummer");
    let reg = t.app.store.registration(SANNE).await.unwrap().unwrap();
    assert_eq!(reg.mobile.as_deref(), Some("+31612345678"));
}

#[tokio::test]
async fn push_enrolment_is_read_from_the_push_provider() {
    let mut t = TestApp::new().await;
    proven_registration(&mut t, SANNE).await;
    t.press("reg:push")
        .await
        .expect("Vastgelegd: de Authenticator-app (melding)");
    let reg = t.app.store.registration(SANNE).await.unwrap().unwrap();
    assert!(reg.push_device.is_some());
}

#[tokio::test]
async fn the_register_button_after_an_impossible_recovery_goes_straight_to_the_work_mailbox() {
    let t = TestApp::new().await;
    let shown = t.start(SANNE, "reason:locked").await;
    shown
        .expect("niet zelf herstellen")
        .expect("zakelijke mailbox");
    t.press("register")
        .await
        .expect("zakelijke adres s.*****@be*****.nl");
    let code = code_to(&t, SANNE).await;
    t.say(&code)
        .await
        .expect("Verificatiemethodes voor s.jansen@bedrijf.nl");
}

#[tokio::test]
async fn an_unknown_account_looks_the_same_and_guessing_the_work_code_locks() {
    let mut t = TestApp::new().await;
    let chat = console::chat();
    t.as_chat(&chat.conversation, &chat.user);
    t.say("/register").await;
    t.say("x.niemand@bedrijf.nl")
        .await
        .expect("zakelijke adres x.*****@be*****.nl");
    assert!(
        t.outbox_lines().await.is_empty(),
        "nothing is sent for an unknown account"
    );
    for _ in 0..4 {
        t.say("123456").await.expect("Die code klopt niet");
    }
    t.say("123456")
        .await
        .expect("Die code klopt niet")
        .expect("24 uur");
    let events: Vec<String> = t
        .audit("x.niemand@bedrijf.nl")
        .await
        .into_iter()
        .map(|(e, _, o)| format!("{e}:{o}"))
        .collect();
    assert!(
        events.contains(&"recovery_locked:locked".to_string()),
        "{events:?}"
    );
}

#[tokio::test]
async fn registration_speaks_english_too() {
    let mut t = TestApp::new().await;
    let chat = console::chat();
    t.as_chat(&chat.conversation, &chat.user);
    t.say("/lang en").await;
    t.say("/register").await.expect("For which login name");
    t.say(SANNE).await.expect("work address");
    let code = code_to(&t, SANNE).await;
    t.say(&code)
        .await
        .expect("Verification methods for s.jansen@bedrijf.nl")
        .expect("not registered");
}

#[tokio::test]
async fn the_core_refuses_changes_for_an_enrolment_whose_work_mailbox_was_not_proven() {
    use sspr_bot::dialogue::{Conversation, Enrol, Registered, Registering, State};
    let mut t = TestApp::new().await;
    let chat = console::chat();
    t.as_chat(&chat.conversation, &chat.user);
    t.say("/registreren").await;
    t.say(SANNE).await;
    // A conversation that skipped the work-mailbox step (a bug, or a tampered store): the
    // engine would go on, the core's own record says no.
    let conv = t
        .app
        .store
        .load_conversation(&chat.conversation)
        .await
        .unwrap()
        .unwrap();
    let State::RegProveWork { reg, .. } = conv.state else {
        panic!("expected the work-mailbox step, got {:?}", conv.state);
    };
    let forged = Conversation {
        state: State::RegMenu {
            reg: Registering {
                methods: Enrol::ALL
                    .into_iter()
                    .map(|what| Registered {
                        what,
                        registered: false,
                        hint: None,
                        from_directory: false,
                    })
                    .collect(),
                ..reg
            },
        },
        ..conv
    };
    t.app
        .store
        .save_conversation(&chat.conversation, &forged, t.now().timestamp())
        .await
        .unwrap();
    t.press("reg:email").await;
    t.say(SANNE_PRIVATE).await.expect("afgesloten");
    t.press("reg:push").await;
    assert!(t.app.store.registration(SANNE).await.unwrap().is_none());
    assert!(
        !t.outbox_lines()
            .await
            .iter()
            .any(|l| l["to"] == SANNE_PRIVATE),
        "no code to an address registered without the work mailbox"
    );
}

/// The "done when": an admin imports a CSV, the employee registers the rest in chat,
/// and `admin report` counts her among those who can recover on their own.
#[tokio::test]
async fn import_then_register_in_chat_then_the_report_counts_her() {
    let mut t = TestApp::new().await;
    let db = t.db.clone();
    let admin = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sspr-bot"))
            .arg("admin")
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let row = |report: &str, name: &str| -> Vec<String> {
        report
            .lines()
            .find(|l| l.starts_with(&format!("  {name} ")))
            .unwrap_or_else(|| panic!("no {name} row in:\n{report}"))
            .split_whitespace()
            .skip(1)
            .map(str::to_string)
            .collect()
    };
    // Marketing: Sanne, accounts / registered / on their own / nothing.
    assert_eq!(row(&admin(&["report"]), "Marketing"), ["1", "0", "0", "1"]);
    let csv = t.dir.path().join("medewerkers.csv");
    std::fs::write(
        &csv,
        format!("login,alternate_email,mobile\n{SANNE},{SANNE_PRIVATE},\n"),
    )
    .unwrap();
    admin(&["import", csv.to_str().unwrap()]);
    assert_eq!(row(&admin(&["report"]), "Marketing"), ["1", "1", "0", "0"]);

    // In chat, the imported address shows as registered; she adds her authenticator app.
    proven_registration(&mut t, SANNE)
        .await
        .expect("sa*****@pr*****.example");
    let out = json_session(&t, &[button("reg:totp")]).await;
    let secret = secret_of(&qr_of(&out[0]).unwrap());
    t.say(&t.totp(&secret, 0))
        .await
        .expect("Vastgelegd: de Authenticator-app");
    assert_eq!(row(&admin(&["report"]), "Marketing"), ["1", "1", "1", "0"]);
}
