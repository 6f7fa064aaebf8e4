//! The zero-configuration setup behind `sspr-bot demo`: a SQLite file, the embedded directory with
//! three demo accounts and their registered methods, the development outbox, and a server key in
//! a file beside the database.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

pub use crate::app::App;
use crate::app::Settings;
use crate::directory::EmbeddedDirectory;
use crate::domain::{normalise_answer, LoginName};
use crate::recovery::{Clock, Keys, Rules};
use crate::store::{on_db, RegField, Store};

/// A demo account as documented in the README.
pub struct DemoAccount {
    pub login: &'static str,
    pub display_name: &'static str,
    /// The embedded directory's department, for `admin report`.
    pub department: &'static str,
    pub locked: bool,
    pub admin: bool,
    pub alternate_email: &'static str,
    pub mobile: Option<&'static str>,
    pub totp_secret_base32: &'static str,
    pub push_device: Option<&'static str>,
    pub answers: [(&'static str, &'static str); 3],
}

pub const JAN: &str = "j.k.devries@bedrijf.nl";
pub const ANNA: &str = "a.bakker@bedrijf.nl";
pub const PIETER: &str = "p.smit@bedrijf.nl";

pub const ACCOUNTS: [DemoAccount; 3] = [
    DemoAccount {
        login: JAN,
        display_name: "Jan de Vries",
        department: "Finance",
        locked: false,
        admin: false,
        alternate_email: "jan.devries@privemail.example",
        mobile: Some("+31612345666"),
        totp_secret_base32: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
        push_device: Some("demo-device-jan"),
        answers: [
            ("birth_city", "Haarlem"),
            ("first_pet", "Bello"),
            ("favourite_book", "Max Havelaar"),
        ],
    },
    DemoAccount {
        login: ANNA,
        display_name: "Anna Bakker",
        department: "Sales",
        locked: true,
        admin: false,
        alternate_email: "anna.bakker@privemail.example",
        mobile: None,
        totp_secret_base32: "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU",
        push_device: None,
        answers: [
            ("birth_city", "Amersfoort"),
            ("first_pet", "Minoes"),
            ("favourite_book", "Het Achterhuis"),
        ],
    },
    DemoAccount {
        login: PIETER,
        display_name: "Pieter Smit",
        department: "ICT",
        locked: false,
        admin: true,
        alternate_email: "pieter.smit@privemail.example",
        mobile: Some("+31687654321"),
        totp_secret_base32: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        push_device: None,
        answers: [
            ("birth_city", "Utrecht"),
            ("first_pet", "Rakker"),
            ("favourite_book", "De Avonden"),
        ],
    },
];

/// A new employee in the demo directory with nothing registered yet: the one to try
/// `/registreren` with.
pub const SANNE: &str = "s.jansen@bedrijf.nl";
const SANNE_NAME: &str = "Sanne Jansen";
const SANNE_DEPARTMENT: &str = "Marketing";

/// The outbox path used when none is given: `outbox.jsonl` beside the database.
pub fn default_outbox(db: &Path) -> PathBuf {
    db.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("outbox.jsonl")
}

/// Opens (and on first start seeds) the demo database: the zero-configuration [`App`].
pub async fn open(
    db: &Path,
    outbox: &Path,
    clock: Arc<dyn Clock>,
    rules: Rules,
) -> anyhow::Result<App> {
    App::open(
        &Settings {
            db: db.into(),
            outbox: Some(outbox.to_path_buf()),
            key_file: crate::app::default_key_path(db),
            previous_key_files: Vec::new(),
            seed_demo: true,
        },
        clock,
        rules,
    )
    .await
}

/// Seeds the demo accounts unless the directory already has accounts.
pub async fn seed_if_empty(
    store: &Store,
    directory: &EmbeddedDirectory,
    keys: &Keys,
    now: i64,
) -> anyhow::Result<bool> {
    let (n,): (i64,) = on_db!(store.db(), p => sqlx::query_as("SELECT COUNT(*) FROM directory_accounts")
        .fetch_one(p)
        .await)?;
    if n > 0 {
        return Ok(false);
    }
    for a in &ACCOUNTS {
        seed_account(store, directory, keys, a, now).await?;
    }
    let sanne = LoginName::parse(SANNE).context("demo login")?;
    directory
        .put_account(&sanne, SANNE_NAME, &random_password(), false, false, false)
        .await?;
    directory
        .set_department(&sanne, Some(SANNE_DEPARTMENT))
        .await?;
    Ok(true)
}

async fn seed_account(
    store: &Store,
    directory: &EmbeddedDirectory,
    keys: &Keys,
    a: &DemoAccount,
    now: i64,
) -> anyhow::Result<()> {
    let login = LoginName::parse(a.login).context("demo login")?;
    directory
        .put_account(
            &login,
            a.display_name,
            &random_password(),
            a.locked,
            false,
            a.admin,
        )
        .await?;
    directory.set_department(&login, Some(a.department)).await?;
    let secret = totp_rs::Secret::Encoded(a.totp_secret_base32.to_string())
        .to_bytes()
        .map_err(|e| anyhow::anyhow!("demo TOTP secret: {e:?}"))?;
    // The same writes as a registration in chat, so each method has its registration time.
    let account = login.as_str();
    let totp = keys.encrypt(&secret);
    for (field, value) in [
        (RegField::AlternateEmail, Some(a.alternate_email)),
        (RegField::Mobile, a.mobile),
        (RegField::Totp, Some(totp.as_str())),
        (RegField::Push, a.push_device),
    ] {
        if value.is_some() {
            store.set_registered(account, field, value, now).await?;
        }
    }
    let mut answers = Vec::new();
    for (question, answer) in a.answers {
        let hash = crate::hashing::hash(normalise_answer(answer)).await?;
        answers.push((question.to_string(), hash));
    }
    store
        .replace_security_answers(account, &answers, now)
        .await?;
    Ok(())
}

/// Nobody knows the demo accounts' current passwords: the demo is about replacing them.
fn random_password() -> String {
    use rand::Rng;
    let bytes: [u8; 24] = rand::rngs::OsRng.gen();
    hex::encode(bytes)
}

/// The login of load-test account `i` (`load00042@bedrijf.nl`); see [`seed_load_accounts`].
pub fn load_login(i: usize) -> String {
    format!("load{i:05}@bedrijf.nl")
}

/// The alternate e-mail address of load-test account `i` (`load00042@privemail.example`).
pub fn load_alternate_email(i: usize) -> String {
    format!("load{i:05}@privemail.example")
}

/// The 20-byte authenticator secret of load-test account `i`: the ASCII text
/// `load00042secret-key!`. Public by construction — these accounts exist only in benchmark
/// databases.
pub fn load_totp_secret(i: usize) -> Vec<u8> {
    format!("load{i:05}secret-key!").into_bytes()
}

/// Seeds `n` load-test accounts (`bench/run`): enabled, in the embedded directory, each with an
/// alternate e-mail address and an authenticator secret registered ([`load_login`],
/// [`load_alternate_email`], [`load_totp_secret`]). All share one random password hash (nobody
/// signs in with them; hashing 10,000 passwords would take minutes). Accounts already there are
/// replaced. Opens (creating if needed) the database at `db` with its key file beside it.
pub async fn seed_load_accounts(db: &Path, n: usize) -> anyhow::Result<()> {
    let store = Store::open(db).await?;
    let keys = Keys::load_or_create(&crate::app::default_key_path(db))?;
    let directory = EmbeddedDirectory::new(&store);
    let hash = crate::hashing::hash(random_password()).await?;
    let now = chrono::Utc::now().timestamp();
    for i in 0..n {
        let login = LoginName::parse(&load_login(i)).context("load-test login")?;
        directory
            .put_account_hashed(
                &login,
                &format!("Load Test {i}"),
                &hash,
                false,
                false,
                false,
            )
            .await?;
        let email = load_alternate_email(i);
        let totp = keys.encrypt(&load_totp_secret(i));
        store
            .set_registered(login.as_str(), RegField::AlternateEmail, Some(&email), now)
            .await?;
        store
            .set_registered(login.as_str(), RegField::Totp, Some(&totp), now)
            .await?;
    }
    Ok(())
}
