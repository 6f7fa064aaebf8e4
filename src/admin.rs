//! `sspr-bot admin`: registered methods for admins — import from CSV, export, show, clear, and a
//! report of who can recover on their own. Nothing here prints or exports a secret: TOTP secrets
//! and security answers only show as "registered".

use std::fmt::Write as _;

use anyhow::{bail, Context};

use crate::directory::{Account, DirectoryError};
use crate::domain::{EmailAddress, LoginName, Method, PhoneNumber};
use crate::recovery::Keys;
use crate::store::{on_db, AuditRow, RegField, Store};

/// The header an import file must start with.
pub const IMPORT_HEADER: [&str; 3] = ["login", "alternate_email", "mobile"];

/// Security questions asked in one round; fewer registered answers do not make a method.
const QUESTIONS_NEEDED: usize = 3;

/// One import row that could not be taken, by its line in the file (the header is line 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub line: u64,
    pub problem: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportReport {
    pub imported: usize,
    pub bad: Vec<BadRow>,
}

struct Row {
    login: LoginName,
    alternate_email: Option<EmailAddress>,
    mobile: Option<PhoneNumber>,
}

fn parse_row(record: &csv::StringRecord) -> Result<Row, String> {
    if record.len() != IMPORT_HEADER.len() {
        return Err(format!(
            "{} fields, expected {}",
            record.len(),
            IMPORT_HEADER.len()
        ));
    }
    let field = |i: usize| record.get(i).map(str::trim).filter(|s| !s.is_empty());
    let login = field(0).ok_or("login is empty").and_then(|l| {
        LoginName::parse(l).map_err(|_| "login is not a login name like j.k.devries@bedrijf.nl")
    })?;
    let alternate_email = field(1)
        .map(|e| {
            EmailAddress::parse(e)
                .map_err(|_| format!("alternate_email {e:?} is not an e-mail address"))
        })
        .transpose()?;
    let mobile = field(2)
        .map(|m| PhoneNumber::parse(m).map_err(|_| format!("mobile {m:?} is not a phone number")))
        .transpose()?;
    if alternate_email.is_none() && mobile.is_none() {
        return Err("neither alternate_email nor mobile is set".into());
    }
    Ok(Row {
        login,
        alternate_email,
        mobile,
    })
}

/// Imports `login,alternate_email,mobile` rows. Every row is checked first; with a bad row
/// nothing is imported unless `skip_bad`. Other registered methods (TOTP, push, answers) of an
/// account are kept.
pub async fn import(
    store: &Store,
    csv_text: &str,
    skip_bad: bool,
    now: i64,
) -> anyhow::Result<ImportReport> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(csv_text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .context("reading the header line")?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    if header != IMPORT_HEADER {
        bail!(
            "line 1: the header must be `{}`, found `{}`",
            IMPORT_HEADER.join(","),
            header.join(",")
        );
    }
    let mut good = Vec::new();
    let mut report = ImportReport::default();
    for record in reader.records() {
        let (line, parsed) = match record {
            Ok(r) => (r.position().map_or(0, |p| p.line()), parse_row(&r)),
            Err(e) => (
                e.position().map_or(0, |p| p.line()),
                Err(format!("unreadable: {e}")),
            ),
        };
        match parsed {
            Ok(row) => good.push(row),
            Err(problem) => report.bad.push(BadRow { line, problem }),
        }
    }
    if !report.bad.is_empty() && !skip_bad {
        return Ok(report);
    }
    for row in good {
        let account = row.login.as_str();
        if let Some(e) = row.alternate_email {
            store
                .set_registered(account, RegField::AlternateEmail, Some(e.as_str()), now)
                .await?;
        }
        if let Some(m) = row.mobile {
            store
                .set_registered(account, RegField::Mobile, Some(m.as_str()), now)
                .await?;
        }
        audit(store, account, "registration_imported", now).await?;
        report.imported += 1;
    }
    Ok(report)
}

async fn audit(store: &Store, account: &str, event: &str, now: i64) -> anyhow::Result<()> {
    store
        .append_audit(&AuditRow {
            time: now,
            account: account.to_string(),
            chat_user: "admin-cli".into(),
            event: event.into(),
            method: None,
            outcome: "ok".into(),
            detail: None,
        })
        .await
}

/// What an account has registered, without any secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub login: String,
    pub alternate_email: Option<String>,
    pub mobile: Option<String>,
    pub authenticator_code: bool,
    pub push: bool,
    pub security_answers: usize,
    pub updated_at: Option<i64>,
}

impl Summary {
    /// The methods these registrations allow (SMS and call both come from the mobile number).
    pub fn methods(&self) -> Vec<Method> {
        Method::ALL
            .into_iter()
            .filter(|m| match m {
                Method::Email => self.alternate_email.is_some(),
                Method::Sms | Method::Call => self.mobile.is_some(),
                Method::Questions => self.security_answers >= QUESTIONS_NEEDED,
                Method::Push => self.push,
                Method::Totp => self.authenticator_code,
            })
            .collect()
    }

    /// Two different factors: the account can recover without the service desk.
    pub fn can_recover(&self) -> bool {
        Method::distinct_factors(self.methods()) >= 2
    }
}

/// login, alternate e-mail, mobile, TOTP?, push?, last change, number of answers.
type SummaryRow = (
    String,
    Option<String>,
    Option<String>,
    bool,
    bool,
    Option<i64>,
    i64,
);

pub async fn summaries(store: &Store) -> anyhow::Result<Vec<Summary>> {
    let rows: Vec<SummaryRow> = on_db!(store.db(), p => sqlx::query_as(
        "SELECT r.account, r.alternate_email, r.mobile, r.totp_secret IS NOT NULL,
                r.push_device IS NOT NULL, r.updated_at,
                (SELECT COUNT(*) FROM security_answers a WHERE a.account = r.account)
         FROM registrations r
         UNION
         SELECT a.account, NULL, NULL, 0, 0, NULL, COUNT(*) FROM security_answers a
         WHERE a.account NOT IN (SELECT account FROM registrations) GROUP BY a.account
         ORDER BY 1",
    )
    .fetch_all(p)
    .await)
    .context("reading registrations")?;
    Ok(rows
        .into_iter()
        .map(
            |(login, alternate_email, mobile, totp, push, updated_at, answers)| Summary {
                login,
                alternate_email,
                mobile,
                authenticator_code: totp,
                push,
                security_answers: usize::try_from(answers).unwrap_or(0),
                updated_at,
            },
        )
        .collect())
}

/// CSV of every account's registrations: addresses and numbers, and for the secrets only
/// whether they are registered.
pub async fn export(store: &Store) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "login",
        "alternate_email",
        "mobile",
        "authenticator_code",
        "push",
        "security_questions",
    ])?;
    for s in summaries(store).await? {
        w.write_record([
            s.login.as_str(),
            s.alternate_email.as_deref().unwrap_or(""),
            s.mobile.as_deref().unwrap_or(""),
            yes_no(s.authenticator_code),
            yes_no(s.push),
            &s.security_answers.to_string(),
        ])?;
    }
    let bytes = w.into_inner().context("writing CSV")?;
    String::from_utf8(bytes).context("CSV is UTF-8")
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// A readable account card for `admin show`.
pub async fn show(store: &Store, login: &LoginName) -> anyhow::Result<Option<String>> {
    let Some(s) = summaries(store)
        .await?
        .into_iter()
        .find(|s| s.login == login.as_str())
    else {
        return Ok(None);
    };
    let mut out = String::new();
    writeln!(out, "account:            {}", s.login)?;
    writeln!(
        out,
        "alternate e-mail:   {}",
        s.alternate_email.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "mobile (SMS, call): {}",
        s.mobile.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "authenticator code: {}",
        registered(s.authenticator_code)
    )?;
    writeln!(out, "push approval:      {}", registered(s.push))?;
    writeln!(out, "security answers:   {}", s.security_answers)?;
    if let Some(t) = store.registration_times(login.as_str()).await? {
        for (label, at) in [
            ("alternate e-mail registered:", t.alternate_email_at),
            ("mobile registered:          ", t.mobile_at),
            ("authenticator registered:   ", t.totp_at),
            ("push registered:            ", t.push_at),
            ("questions registered:       ", t.questions_at),
            ("last confirmed by employee: ", t.confirmed_at),
        ] {
            if let Some(at) = at {
                writeln!(out, "{label} {}", rfc3339(at))?;
            }
        }
    }
    if let Some(t) = s.updated_at {
        writeln!(out, "last changed:       {}", rfc3339(t))?;
    }
    writeln!(
        out,
        "can recover alone:  {}",
        if s.can_recover() {
            "yes"
        } else {
            "no (fewer than two different methods)"
        }
    )?;
    Ok(Some(out))
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| t.to_string())
}

/// What `admin rekey` did with the stored authenticator secrets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rekeyed {
    /// Decrypted with a previous key and stored again with the current one.
    pub re_encrypted: usize,
    /// Already encrypted with the current key.
    pub current: usize,
    /// Accounts whose secret decrypts with none of the keys (left as they are).
    pub unreadable: Vec<String>,
}

/// Re-encrypts every stored authenticator secret (registered, and waiting for its first code)
/// with the current server key; `keys` holds the previous keys to read the old ones.
pub async fn rekey(store: &Store, keys: &Keys, now: i64) -> anyhow::Result<Rekeyed> {
    let mut done = Rekeyed::default();
    let registered: Vec<(String, String)> = on_db!(store.db(), p => sqlx::query_as(
        "SELECT account, totp_secret FROM registrations WHERE totp_secret IS NOT NULL ORDER BY account",
    )
    .fetch_all(p)
    .await)
    .context("reading registered authenticator secrets")?;
    for (account, stored) in registered {
        if keys.is_current(&stored) {
            done.current += 1;
            continue;
        }
        let Ok(plain) = keys.decrypt(&stored) else {
            done.unreadable.push(account);
            continue;
        };
        on_db!(store.db(), p => sqlx::query(
            "UPDATE registrations SET totp_secret = $1 WHERE account = $2 AND totp_secret = $3",
        )
        .bind(keys.encrypt(&plain))
        .bind(&account)
        .bind(&stored)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .context("storing a re-encrypted secret")?;
        audit(store, &account, "secret_re_encrypted", now).await?;
        done.re_encrypted += 1;
    }
    let pending: Vec<(String, String)> = on_db!(store.db(), p => sqlx::query_as(
        "SELECT id, secret FROM enrolment_challenges
         WHERE kind = 'totp' AND closed_at IS NULL AND secret IS NOT NULL",
    )
    .fetch_all(p)
    .await)
    .context("reading authenticator secrets waiting for their first code")?;
    for (id, stored) in pending {
        if keys.is_current(&stored) {
            continue;
        }
        match keys.decrypt(&stored) {
            Ok(plain) => {
                on_db!(store.db(), p => sqlx::query("UPDATE enrolment_challenges SET secret = $1 WHERE id = $2")
                    .bind(keys.encrypt(&plain))
                    .bind(&id)
                    .execute(p)
                    .await.map(|r| r.rows_affected()))
                    .context("storing a re-encrypted pending secret")?;
            }
            // A registration in progress simply starts over with a new QR code.
            Err(_) => {
                store.close_enrolment_challenge(&id, "expired", now).await?;
            }
        }
    }
    Ok(done)
}

fn registered(b: bool) -> &'static str {
    if b {
        "registered"
    } else {
        "-"
    }
}

/// Which registration `admin clear` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clearable {
    Email,
    Mobile,
    Totp,
    Push,
    Questions,
}

impl Clearable {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "email" | "alternate_email" => Some(Self::Email),
            "mobile" | "sms" | "call" => Some(Self::Mobile),
            "totp" | "authenticator_code" => Some(Self::Totp),
            "push" => Some(Self::Push),
            "questions" | "security_questions" => Some(Self::Questions),
            _ => None,
        }
    }
}

/// Removes one registered method, or all of them. False when the account has nothing stored.
pub async fn clear(
    store: &Store,
    login: &LoginName,
    what: Option<Clearable>,
    now: i64,
) -> anyhow::Result<bool> {
    let account = login.as_str();
    let field = match what {
        Some(Clearable::Email) => Some(RegField::AlternateEmail),
        Some(Clearable::Mobile) => Some(RegField::Mobile),
        Some(Clearable::Totp) => Some(RegField::Totp),
        Some(Clearable::Push) => Some(RegField::Push),
        Some(Clearable::Questions) | None => None,
    };
    let mut changed = 0;
    if let Some(field) = field {
        changed += store.clear_registered(account, field, now).await?;
    }
    if matches!(what, Some(Clearable::Questions) | None) {
        changed += on_db!(store.db(), p => sqlx::query("DELETE FROM security_answers WHERE account = $1")
            .bind(account)
            .execute(p)
            .await.map(|r| r.rows_affected()))?;
        on_db!(store.db(), p => sqlx::query("UPDATE registrations SET questions_at = NULL WHERE account = $1")
            .bind(account)
            .execute(p)
            .await.map(|r| r.rows_affected()))?;
    }
    if what.is_none() {
        changed += on_db!(store.db(), p => sqlx::query("DELETE FROM registrations WHERE account = $1")
            .bind(account)
            .execute(p)
            .await.map(|r| r.rows_affected()))?;
    }
    if changed > 0 {
        audit(store, account, "registration_cleared", now).await?;
    }
    Ok(changed > 0)
}

/// Lifts the block a "this wasn't me" report put on self-service recovery of `login` (after the
/// desk spoke to the owner). False when the account was not blocked.
pub async fn unblock(store: &Store, login: &LoginName, now: i64) -> anyhow::Result<bool> {
    let lifted = store.unreport_account(login.as_str()).await?;
    if lifted {
        audit(store, login.as_str(), "recovery_unblocked", now).await?;
    }
    Ok(lifted)
}

/// How many accounts can recover on their own.
///
/// The first lines count the bot's own registrations, as always. Then, from the directory's
/// account list (`Err`: why it could not be read, printed on one line): per department (when any
/// account has one) and in total, enabled accounts, those with any method, those with two
/// different factors, and those with nothing. Methods count as the core counts them: the bot's
/// registrations first, the directory's `mobile` and alternate e-mail attributes as fallback;
/// admins are never offered security questions. Disabled accounts are left out.
pub async fn report(
    store: &Store,
    directory: Result<Vec<Account>, DirectoryError>,
) -> anyhow::Result<String> {
    let all = summaries(store).await?;
    let can = all.iter().filter(|s| s.can_recover()).count();
    let mut out = String::new();
    writeln!(out, "accounts with registrations: {}", all.len())?;
    writeln!(out, "can recover on their own:    {can}")?;
    writeln!(out, "need the service desk:       {}", all.len() - can)?;
    for m in Method::ALL {
        let n = all.iter().filter(|s| s.methods().contains(&m)).count();
        writeln!(out, "  with {:<10} {n}", m.id())?;
    }
    match directory {
        Ok(accounts) => directory_report(&mut out, &all, &accounts)?,
        Err(e) => writeln!(
            out,
            "directory: could not be read ({}); the lines above count registrations only",
            one_line(&e.to_string())
        )?,
    }
    Ok(out)
}

/// Counts for one department, or all.
#[derive(Default)]
struct Tally {
    accounts: usize,
    registered: usize,
    can_recover: usize,
}

impl Tally {
    fn add(&mut self, methods: &[Method]) {
        self.accounts += 1;
        if !methods.is_empty() {
            self.registered += 1;
        }
        if Method::distinct_factors(methods.iter().copied()) >= 2 {
            self.can_recover += 1;
        }
    }
}

const NO_DEPARTMENT: &str = "(no department)";

fn directory_report(
    out: &mut String,
    registrations: &[Summary],
    accounts: &[Account],
) -> anyhow::Result<()> {
    use std::collections::{BTreeMap, HashMap, HashSet};
    let by_login: HashMap<String, &Summary> = registrations
        .iter()
        .map(|s| (s.login.to_lowercase(), s))
        .collect();
    let mut total = Tally::default();
    let mut departments: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut disabled = 0;
    for a in accounts {
        if a.disabled {
            disabled += 1;
            continue;
        }
        let methods = account_methods(by_login.get(a.login.as_str()).copied(), a);
        total.add(&methods);
        departments
            .entry(a.department.as_deref().unwrap_or(NO_DEPARTMENT))
            .or_default()
            .add(&methods);
    }
    let listed: HashSet<&str> = accounts.iter().map(|a| a.login.as_str()).collect();
    let unknown = registrations
        .iter()
        .filter(|s| !listed.contains(s.login.to_lowercase().as_str()))
        .count();
    // Not "  with …": scripts read the method lines above by that prefix.
    writeln!(out, "directory accounts (enabled):   {}", total.accounts)?;
    writeln!(out, "  any method registered:        {}", total.registered)?;
    writeln!(out, "  two different factors:        {}", total.can_recover)?;
    writeln!(
        out,
        "  nothing registered:           {}",
        total.accounts - total.registered
    )?;
    writeln!(out, "disabled accounts (left out):   {disabled}")?;
    writeln!(out, "registrations not in directory: {unknown}")?;
    if departments.keys().any(|d| *d != NO_DEPARTMENT) {
        let name = |d: &str| {
            one_line(d)
                .chars()
                .take(DEPARTMENT_WIDTH)
                .collect::<String>()
        };
        writeln!(
            out,
            "{:<w$}  accounts  registered  on their own  nothing",
            "department",
            w = DEPARTMENT_WIDTH + 2
        )?;
        // Named departments alphabetically, the accounts without one last.
        let rows = departments
            .iter()
            .filter(|(d, _)| **d != NO_DEPARTMENT)
            .chain(departments.iter().filter(|(d, _)| **d == NO_DEPARTMENT))
            .map(|(d, t)| (name(d), t))
            .chain([("total".to_string(), &total)]);
        for (d, t) in rows {
            writeln!(
                out,
                "  {d:<w$}  {:>8}  {:>10}  {:>12}  {:>7}",
                t.accounts,
                t.registered,
                t.can_recover,
                t.accounts - t.registered,
                w = DEPARTMENT_WIDTH
            )?;
        }
    }
    Ok(())
}

/// Department names are cut to this many characters in the table.
const DEPARTMENT_WIDTH: usize = 24;

/// The methods an account can use, as the core decides it (`recovery::effects`): the bot's
/// registrations first, the directory's attributes as fallback; no security questions for
/// admins.
fn account_methods(reg: Option<&Summary>, account: &Account) -> Vec<Method> {
    let email = reg
        .and_then(|r| r.alternate_email.as_deref())
        .is_some_and(|e| EmailAddress::parse(e).is_ok())
        || account.alternate_email.is_some();
    let mobile = reg
        .and_then(|r| r.mobile.as_deref())
        .is_some_and(|m| PhoneNumber::parse(m).is_ok())
        || account.mobile.is_some();
    Method::ALL
        .into_iter()
        .filter(|m| match m {
            Method::Email => email,
            Method::Sms | Method::Call => mobile,
            Method::Questions => {
                !account.admin && reg.is_some_and(|r| r.security_answers >= QUESTIONS_NEEDED)
            }
            Method::Push => reg.is_some_and(|r| r.push),
            Method::Totp => reg.is_some_and(|r| r.authenticator_code),
        })
        .collect()
}

/// Text from a directory on one line, without control characters.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}
