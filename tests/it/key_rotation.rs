//! Rotating the server key (README, "Rotating the server key"): `admin rekey` re-encrypts the
//! stored authenticator secrets with a new key, reading them with the previous one.

use std::process::Command;

use sspr_bot::app::default_key_path;

use crate::support::*;

fn rekey(db: &std::path::Path, previous: Option<&std::path::Path>) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sspr-bot"));
    cmd.arg("admin").arg("--db").arg(db).arg("rekey");
    if let Some(p) = previous {
        cmd.arg("--previous-key-file").arg(p);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn stored_secret(t: &TestApp, account: &str) -> String {
    t.app
        .store
        .registration(account)
        .await
        .unwrap()
        .unwrap()
        .totp_secret
        .unwrap()
}

#[tokio::test]
async fn a_new_key_re_encrypts_the_authenticator_secrets_and_they_still_work() {
    let t = TestApp::new().await;
    let before = stored_secret(&t, JAN).await;
    let key = default_key_path(&t.db);
    let old = t.dir.path().join("sspr.key.old");
    std::fs::rename(&key, &old).unwrap();

    // Without the previous key nothing can be read: refused, nothing changed.
    let (ok, out, err) = rekey(&t.db, None);
    assert!(!ok, "{out}{err}");
    assert!(
        out.contains("readable with no key:              3"),
        "{out}"
    );
    assert!(err.contains(JAN), "{err}");
    assert_eq!(stored_secret(&t, JAN).await, before);
    std::fs::remove_file(&key).unwrap();

    let (ok, out, err) = rekey(&t.db, Some(&old));
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("re-encrypted with the current key: 3"),
        "{out}"
    );
    assert!(key.exists(), "a new key file");
    assert_ne!(std::fs::read(&key).unwrap(), std::fs::read(&old).unwrap());
    let after = stored_secret(&t, JAN).await;
    assert_ne!(after, before);
    assert!(!after.contains(JAN_TOTP));

    // Run again: everything is already current.
    let (ok, out, _) = rekey(&t.db, Some(&old));
    assert!(ok);
    assert!(
        out.contains("already with the current key:      3"),
        "{out}"
    );

    // The old key can go: the service, started with only the new key, accepts Jan's app.
    std::fs::remove_file(&old).unwrap();
    let t = t.reopen().await;
    t.start(JAN, "reason:forgot").await;
    t.pass_totp(JAN_TOTP).await.expect("Gelukt!");
    let events: Vec<String> = t.audit(JAN).await.into_iter().map(|(e, _, _)| e).collect();
    assert!(
        events.contains(&"secret_re_encrypted".to_string()),
        "{events:?}"
    );
}
