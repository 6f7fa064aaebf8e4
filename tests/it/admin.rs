//! `sspr-bot admin` as an admin uses it: import a CSV, look, clear, report.

use std::process::Command;

fn admin(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sspr-bot"))
        .arg("admin")
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// A demo database, created as `demo` does on first start.
fn demo_db(dir: &std::path::Path) -> std::path::PathBuf {
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

#[test]
fn a_bad_row_is_reported_with_its_line_and_nothing_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let csv = dir.path().join("medewerkers.csv");
    std::fs::write(
        &csv,
        "login,alternate_email,mobile\n\
         e.jansen@bedrijf.nl,eva@prive.example,06-11122233\n\
         k.kapot@bedrijf.nl,geen-adres,\n\
         s.smit@bedrijf.nl,,+31644455566\n",
    )
    .unwrap();
    let out = admin(&db, &["import", csv.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("medewerkers.csv:3:") && err.contains("geen-adres"),
        "{err}"
    );
    assert!(err.contains("nothing imported"), "{err}");
    assert!(!text(&admin(&db, &["export"]).stdout).contains("e.jansen@bedrijf.nl"));

    // With --skip-bad the good rows go in, numbers in E.164.
    let out = admin(&db, &["import", "--skip-bad", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("imported 2 account(s), skipped 1"));
    let export = text(&admin(&db, &["export"]).stdout);
    assert!(
        export.contains("e.jansen@bedrijf.nl,eva@prive.example,+31611122233,no,no,0"),
        "{export}"
    );
    assert!(
        export.contains("s.smit@bedrijf.nl,,+31644455566,no,no,0"),
        "{export}"
    );
}

#[test]
fn a_wrong_header_is_refused_on_line_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let csv = dir.path().join("x.csv");
    std::fs::write(&csv, "upn,mail\nx@bedrijf.nl,x@y.nl\n").unwrap();
    let out = admin(&db, &["import", csv.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("line 1"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn export_show_clear_and_report_never_reveal_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = demo_db(dir.path());
    let export = text(&admin(&db, &["export"]).stdout);
    assert!(export
        .starts_with("login,alternate_email,mobile,authenticator_code,push,security_questions\n"));
    assert!(
        export.contains(
            "j.k.devries@bedrijf.nl,jan.devries@privemail.example,+31612345666,yes,yes,3"
        ),
        "{export}"
    );
    for secret in ["JBSWY3DPEHPK3PXP", "Haarlem", "Bello", "argon2"] {
        assert!(!export.contains(secret), "{secret} in the export");
    }
    let card = text(&admin(&db, &["show", "J.K.deVries@bedrijf.nl"]).stdout);
    assert!(card.contains("authenticator code: registered"), "{card}");
    assert!(card.contains("can recover alone:  yes"), "{card}");
    assert!(!card.contains("JBSWY3DPEHPK3PXP"));

    let report = text(&admin(&db, &["report"]).stdout);
    assert!(
        report.contains("accounts with registrations: 3"),
        "{report}"
    );
    assert!(
        report.contains("can recover on their own:    3"),
        "{report}"
    );

    // Anna keeps only her e-mail: one method, so the service desk.
    for m in ["questions", "totp"] {
        let out = admin(&db, &["clear", "a.bakker@bedrijf.nl", m]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let card = text(&admin(&db, &["show", "a.bakker@bedrijf.nl"]).stdout);
    assert!(
        card.contains("security answers:   0") && card.contains("can recover alone:  no"),
        "{card}"
    );
    let report = text(&admin(&db, &["report"]).stdout);
    assert!(
        report.contains("can recover on their own:    2"),
        "{report}"
    );
    assert!(
        report.contains("need the service desk:       1"),
        "{report}"
    );

    // Everything of Pieter's.
    assert!(admin(&db, &["clear", "p.smit@bedrijf.nl"]).status.success());
    assert!(!admin(&db, &["show", "p.smit@bedrijf.nl"]).status.success());
    assert!(!admin(&db, &["clear", "p.smit@bedrijf.nl", "fax"])
        .status
        .success());
}
