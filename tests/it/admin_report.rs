//! `sspr-bot admin report` with the directory's account list: per department and in total, who
//! has a method, who can recover on their own, who has nothing; disabled accounts left out; a
//! directory that cannot be read still leaves the registrations' report.

use std::path::{Path, PathBuf};
use std::process::Command;

use sspr_bot::admin;
use sspr_bot::directory::{Account, DirectoryError, EmbeddedDirectory};
use sspr_bot::domain::{EmailAddress, LoginName, PhoneNumber};
use sspr_bot::store::{Registration, Store};

use crate::slapd::{Slapd, BASE, SERVICE_DN, SERVICE_PASSWORD};

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// `sspr-bot admin <how…> report`, which must succeed; its standard output and error.
fn report(how: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sspr-bot"))
        .arg("admin")
        .args(how)
        .arg("report")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    (text(&out.stdout), text(&out.stderr))
}

/// The numbers of a department's row (or `total`): accounts, registered, on their own, nothing.
fn row(report: &str, name: &str) -> Vec<usize> {
    let line = report
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .find_map(|l| l.strip_prefix(name).filter(|rest| rest.starts_with("  ")))
        .unwrap_or_else(|| panic!("no row {name:?} in:\n{report}"));
    line.split_whitespace()
        .map(|n| n.parse().unwrap_or_else(|_| panic!("{line:?}")))
        .collect()
}

#[track_caller]
fn has(report: &str, line: &str) {
    assert!(
        report.lines().any(|l| l == line),
        "expected the line {line:?} in:\n{report}"
    );
}

/// A demo database, created as `demo` does on first start.
fn demo_db(dir: &Path) -> PathBuf {
    let db = dir.join("sspr.db");
    let out = Command::new(env!("CARGO_BIN_EXE_sspr-bot"))
        .args(["demo", "--json", "--db"])
        .arg(&db)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    db
}

fn login(s: &str) -> LoginName {
    LoginName::parse(s).unwrap()
}

/// The demo's four accounts (Finance, Sales, ICT, and Sanne in Marketing with nothing
/// registered) and, in the embedded directory, a new
/// colleague with nothing registered, one without a department, and a disabled former colleague
/// whose registrations are still there.
#[tokio::test]
async fn report_splits_directory_accounts_by_department_and_leaves_disabled_ones_out() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    {
        let store = Store::open(&db).await.unwrap();
        let directory = EmbeddedDirectory::new(&store);
        let password = "Nog-niet-gebruikt-1!";
        for (who, department, disabled) in [
            ("e.nieuw@bedrijf.nl", Some("Finance"), false),
            ("g.zonder@bedrijf.nl", None, false),
            ("o.oud@bedrijf.nl", Some("Sales"), true),
        ] {
            let l = login(who);
            directory
                .put_account(&l, who, password, false, disabled, false)
                .await
                .unwrap();
            assert!(directory.set_department(&l, department).await.unwrap());
        }
        store
            .upsert_registration(
                &Registration {
                    account: "o.oud@bedrijf.nl".into(),
                    alternate_email: Some("oud@prive.example".into()),
                    mobile: Some("+31611111111".into()),
                    ..Registration::default()
                },
                0,
            )
            .await
            .unwrap();
        store.close().await;
    }
    let config = dir.path().join("sspr.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n[providers]\noutbox = \"{}\"\n",
            db.display(),
            dir.path().join("outbox.jsonl").display()
        ),
    )
    .unwrap();

    let (by_db, _) = report(&["--db", db.to_str().unwrap()]);
    let (by_config, _) = report(&["--config", config.to_str().unwrap()]);
    assert_eq!(by_db, by_config, "--db and --config read the same");
    let r = by_db;
    // The registrations' lines, as before (the former colleague's are still stored).
    has(&r, "accounts with registrations: 4");
    has(&r, "can recover on their own:    4");
    has(&r, "need the service desk:       0");
    has(&r, "  with email      4");
    // The directory: Jan, Anna, Pieter, Sanne, the new colleague and the one without a
    // department.
    has(&r, "directory accounts (enabled):   6");
    has(&r, "  any method registered:        3");
    has(&r, "  two different factors:        3");
    has(&r, "  nothing registered:           3");
    has(&r, "disabled accounts (left out):   1");
    has(&r, "registrations not in directory: 0");
    assert_eq!(row(&r, "Finance"), [2, 1, 1, 1]);
    assert_eq!(row(&r, "ICT"), [1, 1, 1, 0]);
    assert_eq!(row(&r, "Marketing"), [1, 0, 0, 1]);
    assert_eq!(row(&r, "Sales"), [1, 1, 1, 0], "the disabled one left out");
    assert_eq!(row(&r, "(no department)"), [1, 0, 0, 1]);
    assert_eq!(row(&r, "total"), [6, 3, 3, 3]);
    let lines: Vec<&str> = r.lines().collect();
    let at = |name: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(&format!("  {name} ")))
    };
    assert!(
        at("Finance") < at("ICT")
            && at("ICT") < at("Marketing")
            && at("Marketing") < at("Sales")
            && at("Sales") < at("(no department)")
            && at("(no department)") < at("total"),
        "{r}"
    );
    // Only the method lines start with "  with ": scripts read them by it.
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("  with ")).count(),
        sspr_bot::domain::Method::ALL.len(),
        "{r}"
    );
}

fn account(who: &str, department: Option<&str>) -> Account {
    Account {
        login: login(who),
        display_name: who.into(),
        locked: false,
        disabled: false,
        admin: false,
        mobile: None,
        alternate_email: None,
        work_email: EmailAddress::parse(who).ok(),
        department: department.map(str::to_string),
    }
}

/// As the core: the bot's registrations first, the directory's `mobile` and alternate e-mail as
/// fallback; SMS and call from one number are one factor; admins get no security questions.
#[tokio::test]
async fn directory_attributes_count_as_methods_as_in_a_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("sspr.db")).await.unwrap();
    let phone = || PhoneNumber::parse("+31612345678").ok();
    let private = || EmailAddress::parse("iemand@prive.example").ok();

    // E-mail and mobile from the directory only: two factors.
    let mut both = account("a.beide@bedrijf.nl", None);
    both.mobile = phone();
    both.alternate_email = private();
    // Only a mobile number: SMS and call are one factor.
    let mut mobile = account("b.mobiel@bedrijf.nl", None);
    mobile.mobile = phone();
    // Three answers and a directory mobile: two factors, but not for an admin.
    let mut asker = account("c.vragen@bedrijf.nl", None);
    asker.mobile = phone();
    let mut admin = account("d.beheer@bedrijf.nl", None);
    admin.mobile = phone();
    admin.admin = true;
    for who in ["c.vragen@bedrijf.nl", "d.beheer@bedrijf.nl"] {
        for q in ["birth_city", "first_pet", "favourite_book"] {
            store
                .set_security_answer(who, q, "$argon2id$x")
                .await
                .unwrap();
        }
    }
    // The bot's own e-mail registration and the directory's mobile: two factors.
    let mut mixed = account("e.mix@bedrijf.nl", None);
    mixed.mobile = phone();
    store
        .upsert_registration(
            &Registration {
                account: "e.mix@bedrijf.nl".into(),
                alternate_email: Some("mix@prive.example".into()),
                ..Registration::default()
            },
            0,
        )
        .await
        .unwrap();
    let nothing = account("f.niets@bedrijf.nl", None);

    let r = admin::report(&store, Ok(vec![both, mobile, asker, admin, mixed, nothing]))
        .await
        .unwrap();
    has(&r, "directory accounts (enabled):   6");
    has(&r, "  any method registered:        5");
    // both, the non-admin with questions, mixed.
    has(&r, "  two different factors:        3");
    has(&r, "  nothing registered:           1");
    // No department anywhere: no table.
    assert!(!r.contains("department"), "{r}");
}

#[tokio::test]
async fn an_unreadable_directory_leaves_the_registrations_report_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let secret = "bind-wachtwoord-dat-nergens-mag-staan";
    let config = dir.path().join("sspr.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{db}\"\n\
             [directory]\nbackend = \"ldap\"\nurl = \"ldap://127.0.0.1:{port}\"\n\
             bind_dn = \"cn=sspr,dc=bedrijf,dc=nl\"\nbind_password = \"{secret}\"\n\
             base_dn = \"dc=bedrijf,dc=nl\"\nallow_plaintext = true\nflavour = \"openldap\"\n\
             timeout_secs = 2\n[providers]\noutbox = \"{outbox}\"\n",
            db = db.display(),
            outbox = dir.path().join("outbox.jsonl").display(),
        ),
    )
    .unwrap();
    let (r, err) = report(&["--config", config.to_str().unwrap()]);
    has(&r, "accounts with registrations: 3");
    has(&r, "can recover on their own:    3");
    let why: Vec<&str> = r
        .lines()
        .filter(|l| l.starts_with("directory: could not be read"))
        .collect();
    assert_eq!(why.len(), 1, "{r}");
    assert!(why[0].contains(&format!("127.0.0.1:{port}")), "{r}");
    assert!(!r.contains("directory accounts"), "{r}");
    assert!(!r.contains(secret) && !err.contains(secret), "{r}\n{err}");
}

/// Through `--config` against the test suite's slapd: nothing registered in the bot, the
/// methods are the directory's attributes; the disabled former colleague is left out.
#[tokio::test]
async fn report_from_an_ldap_directory_counts_its_attributes() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sspr.db");
    Store::open(&db).await.unwrap().close().await;
    let config = dir.path().join("sspr.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{db}\"\n\
             [directory]\nbackend = \"ldap\"\nurl = \"{url}\"\nbind_dn = \"{SERVICE_DN}\"\n\
             bind_password = \"{SERVICE_PASSWORD}\"\nbase_dn = \"{BASE}\"\nallow_plaintext = true\n\
             flavour = \"openldap\"\nmobile_attribute = \"mobile\"\nalternate_email_attribute = \"email\"\n\
             [providers]\noutbox = \"{outbox}\"\n",
            db = db.display(),
            url = slapd.url,
            outbox = dir.path().join("outbox.jsonl").display(),
        ),
    )
    .unwrap();
    let (r, err) = report(&["--config", config.to_str().unwrap()]);
    has(&r, "accounts with registrations: 0");
    has(&r, "directory accounts (enabled):   2");
    has(&r, "  two different factors:        2");
    has(&r, "disabled accounts (left out):   1");
    assert_eq!(row(&r, "Finance"), [1, 1, 1, 0], "departmentNumber");
    assert_eq!(row(&r, "people"), [1, 1, 1, 0], "the OU of the DN");
    assert_eq!(row(&r, "total"), [2, 2, 2, 0]);
    assert!(
        !r.contains(SERVICE_PASSWORD) && !err.contains(SERVICE_PASSWORD),
        "{r}\n{err}"
    );
}

/// What `DirectoryError` the report shows is its own text, on one line.
#[tokio::test]
async fn the_reason_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("sspr.db")).await.unwrap();
    let r = admin::report(
        &store,
        Err(DirectoryError::Unavailable(
            "account list: result 50\ninsufficient access".into(),
        )),
    )
    .await
    .unwrap();
    has(
        &r,
        "directory: could not be read (directory unavailable: account list: result 50 \
         insufficient access); the lines above count registrations only",
    );
}
