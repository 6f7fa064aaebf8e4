//! The LDAP backend against a real OpenLDAP slapd with ppolicy (see `slapd.rs`), bound as the
//! least-privilege service account.

use std::sync::Arc;

use sspr_bot::dialogue::{DirectoryRule, Input};
use sspr_bot::directory::{Directory, DirectoryError, LdapDirectory};
use sspr_bot::domain::{LoginName, NewPassword, PasswordPolicy};
use sspr_bot::providers::{Outbox, Providers};
use sspr_bot::recovery::{ChatRef, Core, Keys, ManualClock, Rules, TurnOutput};
use sspr_bot::store::{Registration, Store};

use crate::slapd::{Slapd, BASE, BERT, EVA, OUD, SERVICE_DN, SERVICE_PASSWORD, SLAPD_MIN_LENGTH};
use crate::support::monday_morning;

const NEW_PASSWORD: &str = "Paars konijn eet 7 wortels";

fn login(s: &str) -> LoginName {
    LoginName::parse(s).unwrap()
}

/// A password that passed the bot's own policy (so only the directory can refuse it).
fn password(raw: &str, who: &str) -> NewPassword {
    NewPassword::parse(raw, &login(who), &PasswordPolicy::default())
        .unwrap_or_else(|e| panic!("{raw:?} fails the bot's own policy: {e:?}"))
}

async fn setup() -> (Slapd, LdapDirectory) {
    let slapd = Slapd::start();
    let dir = LdapDirectory::connect(&slapd.directory_config())
        .await
        .expect("connecting as the service account");
    (slapd, dir)
}

async fn lock_out(slapd: &Slapd, who: &str) {
    for _ in 0..3 {
        assert!(!slapd.bind(who, "verkeerd-wachtwoord").await);
    }
    assert!(
        slapd.locked_time(who).await.is_some(),
        "three wrong passwords lock the account: {}",
        slapd.log()
    );
}

#[tokio::test]
async fn finds_a_user_with_its_attributes_mapped() {
    let (_slapd, dir) = setup().await;
    let eva = dir
        .find(&login(EVA.login))
        .await
        .unwrap()
        .expect("Eva exists");
    assert_eq!(eva.login.as_str(), EVA.login);
    assert_eq!(eva.display_name, EVA.cn);
    assert!(!eva.locked && !eva.disabled && !eva.admin);
    assert_eq!(eva.mobile.unwrap().as_str(), EVA.mobile);
    assert_eq!(eva.alternate_email.unwrap().as_str(), EVA.alternate_email);

    let bert = dir.find(&login(BERT.login)).await.unwrap().unwrap();
    assert!(bert.admin, "a member of the admin group is an admin");
    dir.ping().await.unwrap();
}

/// The admin report's listing: every user under the base, although slapd answers a search with
/// at most two entries (as AD with at most 1000), with work mailbox, department, admin and
/// disabled state as `find` maps them.
#[tokio::test]
async fn list_accounts_pages_through_every_user_with_work_email_and_department() {
    let (slapd, dir) = setup().await;
    // Without paging the service account gets no more than two of the three users.
    let (conn, mut raw) = ldap3::LdapConnAsync::new(&slapd.url).await.unwrap();
    tokio::spawn(conn.drive());
    raw.simple_bind(SERVICE_DN, SERVICE_PASSWORD)
        .await
        .unwrap()
        .success()
        .unwrap();
    let plain = raw
        .search(BASE, ldap3::Scope::Subtree, "(uid=*)", vec!["uid"])
        .await
        .unwrap();
    assert_eq!(plain.1.rc, 4, "sizeLimitExceeded without paging");

    let accounts = dir.list_accounts().await.unwrap();
    let logins: Vec<&str> = accounts.iter().map(|a| a.login.as_str()).collect();
    assert_eq!(logins, [BERT.login, EVA.login, OUD.login], "{accounts:#?}");

    let eva = &accounts[1];
    assert_eq!(eva.work_email.as_ref().map(|e| e.as_str()), Some(EVA.login));
    assert_eq!(
        eva.department.as_deref(),
        Some("Finance"),
        "departmentNumber"
    );
    assert_eq!(
        eva.alternate_email.as_ref().unwrap().as_str(),
        EVA.alternate_email
    );
    assert_eq!(eva.mobile.as_ref().unwrap().as_str(), EVA.mobile);
    assert!(!eva.admin && !eva.disabled && !eva.locked);
    assert_eq!(
        Some(eva),
        dir.find(&login(EVA.login)).await.unwrap().as_ref(),
        "find and the listing agree"
    );

    let bert = &accounts[0];
    assert!(bert.admin, "member of the admin group");
    assert_eq!(bert.department.as_deref(), Some("people"), "the DN's OU");
    assert_eq!(
        Some(bert),
        dir.find(&login(BERT.login)).await.unwrap().as_ref()
    );

    let oud = &accounts[2];
    assert!(oud.disabled, "administrative lock");
    assert_eq!(oud.department.as_deref(), Some("Sales"), "the ou attribute");
}

/// A private address kept in `mail` itself is not taken for the work mailbox.
#[tokio::test]
async fn mail_as_the_alternate_address_is_no_work_mailbox() {
    let slapd = Slapd::start();
    let mut config = slapd.directory_config();
    config.alternate_email_attribute = Some("mail".into());
    let dir = LdapDirectory::connect(&config).await.unwrap();
    let eva = dir.find(&login(EVA.login)).await.unwrap().unwrap();
    assert_eq!(eva.alternate_email.unwrap().as_str(), EVA.login);
    assert_eq!(eva.work_email, None);
}

#[tokio::test]
async fn unknown_logins_and_filter_metacharacters_find_nothing() {
    let (_slapd, dir) = setup().await;
    assert!(dir
        .find(&login("niemand@bedrijf.nl"))
        .await
        .unwrap()
        .is_none());
    for probe in [
        "*)(uid=*",
        "*",
        "e.jansen*",
        "*@bedrijf.nl",
        "e.jansen@bedrijf.nl)(uid=*",
    ] {
        assert!(
            dir.find_text(probe).await.unwrap().is_none(),
            "{probe:?} must match nothing"
        );
    }
    assert!(matches!(
        dir.unlock(&login("niemand@bedrijf.nl")).await,
        Err(DirectoryError::NotFound)
    ));
}

#[tokio::test]
async fn a_locked_out_user_is_seen_locked_and_unlocked() {
    let (slapd, dir) = setup().await;
    lock_out(&slapd, EVA.login).await;
    assert!(
        !slapd.bind(EVA.login, EVA.password).await,
        "locked: even the right password fails"
    );
    let eva = dir.find(&login(EVA.login)).await.unwrap().unwrap();
    assert!(eva.locked && !eva.disabled);

    dir.unlock(&login(EVA.login)).await.unwrap();
    assert_eq!(slapd.locked_time(EVA.login).await, None);
    assert!(!dir.find(&login(EVA.login)).await.unwrap().unwrap().locked);
    assert!(slapd.bind(EVA.login, EVA.password).await);
    // The failure count went with the lock: one more wrong password does not lock again.
    assert!(!slapd.bind(EVA.login, "verkeerd-wachtwoord").await);
    assert_eq!(slapd.locked_time(EVA.login).await, None);
    // Unlocking an unlocked account is fine.
    dir.unlock(&login(EVA.login)).await.unwrap();
}

#[tokio::test]
async fn a_reset_sets_the_password_and_ends_a_lockout() {
    let (slapd, dir) = setup().await;
    lock_out(&slapd, EVA.login).await;
    dir.reset_password(&login(EVA.login), &password(NEW_PASSWORD, EVA.login))
        .await
        .unwrap();
    assert_eq!(slapd.locked_time(EVA.login).await, None);
    assert!(
        slapd.bind(EVA.login, NEW_PASSWORD).await,
        "new password works"
    );
    assert!(
        !slapd.bind(EVA.login, EVA.password).await,
        "old one does not"
    );
}

#[tokio::test]
async fn ppolicy_refusals_are_explained() {
    let (slapd, dir) = setup().await;
    // Passes the bot's policy but is shorter than slapd's pwdMinLength.
    let short = "Gr0te-Kat-Zw3mt";
    assert!(short.chars().count() < SLAPD_MIN_LENGTH);
    match dir
        .reset_password(&login(EVA.login), &password(short, EVA.login))
        .await
    {
        Err(DirectoryError::Rejected(DirectoryRule::TooShort)) => {}
        other => panic!("expected TooShort, got {other:?}"),
    }
    // The current password again, and an old one.
    dir.reset_password(&login(EVA.login), &password(NEW_PASSWORD, EVA.login))
        .await
        .unwrap();
    for again in [NEW_PASSWORD, EVA.password] {
        match dir
            .reset_password(&login(EVA.login), &password(again, EVA.login))
            .await
        {
            Err(DirectoryError::Rejected(DirectoryRule::History)) => {}
            other => panic!("expected History for {again:?}, got {other:?}"),
        }
    }
    assert!(
        slapd.bind(EVA.login, NEW_PASSWORD).await,
        "a refusal changed nothing"
    );
}

#[tokio::test]
async fn a_stopped_directory_is_unavailable() {
    let (mut slapd, dir) = setup().await;
    dir.ping().await.unwrap();
    slapd.stop();
    let err = dir.ping().await.unwrap_err();
    assert!(matches!(err, DirectoryError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains(crate::slapd::SERVICE_PASSWORD));
    for r in [
        dir.find(&login(EVA.login)).await.map(|_| ()),
        dir.unlock(&login(EVA.login)).await,
        dir.reset_password(&login(EVA.login), &password(NEW_PASSWORD, EVA.login))
            .await,
        dir.list_accounts().await.map(|_| ()),
    ] {
        match r {
            Err(DirectoryError::Unavailable(msg)) => {
                assert!(!msg.contains(crate::slapd::SERVICE_PASSWORD), "{msg}")
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_down_directory_at_start_is_not_fatal_but_a_wrong_service_password_is() {
    let mut slapd = Slapd::start();
    let config = slapd.directory_config();
    let mut wrong = config.clone();
    wrong.bind_password = Some(sspr_bot::config::Secret::new("fout"));
    let err = LdapDirectory::connect(&wrong)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("refused"), "{err}");
    slapd.stop();
    let dir = LdapDirectory::connect(&config).await.unwrap();
    assert!(matches!(
        dir.ping().await,
        Err(DirectoryError::Unavailable(_))
    ));
}

fn said(out: &TurnOutput, id: &str) -> bool {
    out.replies
        .iter()
        .flat_map(|r| &r.texts)
        .any(|t| t.id == id)
}

/// The whole guide through the core, with the slapd user: "account locked" unlocks it, then
/// "forgot my password" sets a new one the user can sign in with.
#[tokio::test]
async fn conversations_unlock_and_reset_an_openldap_account() {
    const TOTP: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let (slapd, dir) = setup().await;
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("sspr.db")).await.unwrap();
    let outbox = Arc::new(Outbox::new(tmp.path().join("outbox.jsonl")));
    let keys = Keys::random();
    let now = monday_morning();
    let clock = Arc::new(ManualClock::new(now));
    let secret = totp_rs::Secret::Encoded(TOTP.into()).to_bytes().unwrap();
    store
        .upsert_registration(
            &Registration {
                account: EVA.login.into(),
                alternate_email: Some(EVA.alternate_email.into()),
                mobile: None,
                totp_secret: Some(keys.encrypt(&secret)),
                push_device: None,
            },
            now.timestamp(),
        )
        .await
        .unwrap();
    let core = Core::new(
        store,
        Arc::new(dir),
        Providers::outbox(outbox.clone()),
        keys,
        clock.clone(),
        Rules::default(),
    );
    let totp = || {
        let t = totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 0, 30, secret.clone());
        t.generate(now.timestamp() as u64)
    };
    let last_email_code = || async {
        outbox
            .lines()
            .await
            .iter()
            .rev()
            .find(|l| l["channel"] == "email" && l.get("code").is_some())
            .and_then(|l| l["code"].as_str().map(str::to_string))
            .expect("an e-mail code in the outbox")
    };

    lock_out(&slapd, EVA.login).await;
    let chat = ChatRef::new("test:ldap-1", "test:user-1");
    let text = |s: &str| Input::Text(s.into());
    let button = |s: &str| Input::Button(s.into());
    for input in [
        text("hoi"),
        text(EVA.login),
        button("reason:locked"),
        button("method:email"),
    ] {
        core.handle(&chat, input).await.unwrap();
    }
    core.handle(&chat, text(&last_email_code().await))
        .await
        .unwrap();
    core.handle(&chat, button("method:totp")).await.unwrap();
    let out = core.handle(&chat, text(&totp())).await.unwrap();
    assert_eq!(
        slapd.locked_time(EVA.login).await,
        None,
        "the conversation unlocked the account: {out:?}"
    );
    assert!(said(&out, "unlocked-done"), "{out:?}");
    assert!(slapd.bind(EVA.login, EVA.password).await);

    // A later, separate conversation: forgot the password.
    clock.advance(chrono::Duration::hours(2));
    let now = now + chrono::Duration::hours(2);
    let totp = || {
        let t = totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 0, 30, secret.clone());
        t.generate(now.timestamp() as u64)
    };
    let chat = ChatRef::new("test:ldap-2", "test:user-1");
    for input in [
        text("hoi"),
        text(EVA.login),
        button("reason:forgot"),
        button("method:email"),
    ] {
        core.handle(&chat, input).await.unwrap();
    }
    core.handle(&chat, text(&last_email_code().await))
        .await
        .unwrap();
    core.handle(&chat, button("method:totp")).await.unwrap();
    core.handle(&chat, text(&totp())).await.unwrap();
    core.handle(&chat, text(NEW_PASSWORD)).await.unwrap();
    let out = core.handle(&chat, text(NEW_PASSWORD)).await.unwrap();
    assert!(said(&out, "password-reset-done"), "{out:?}");
    assert!(
        slapd.bind(EVA.login, NEW_PASSWORD).await,
        "the new password works: {out:?}"
    );
    assert!(!slapd.bind(EVA.login, EVA.password).await);
}
