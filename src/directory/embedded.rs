use anyhow::Context;
use async_trait::async_trait;

use super::{Account, Directory, DirectoryError};
use crate::domain::{EmailAddress, LoginName, NewPassword};
use crate::hashing::{hash as hash_password, verify as verify_password};
use crate::store::{on_db, Db, Store};

/// Failed sign-ins after which the embedded directory locks an account, as the guide describes.
pub const SIGN_IN_ATTEMPTS: i64 = 3;

/// A directory in a SQLite table (`directory_accounts`), for the demo and for tests.
#[derive(Clone, Debug)]
pub struct EmbeddedDirectory {
    db: Db,
}

#[derive(sqlx::FromRow)]
struct Row {
    login: String,
    display_name: String,
    password_hash: String,
    locked: bool,
    disabled: bool,
    admin: bool,
    department: Option<String>,
}

impl Row {
    /// `None` when the stored login is not a login name (a hand-edited table).
    fn account(self) -> Option<Account> {
        let login = LoginName::parse(&self.login).ok()?;
        Some(Account {
            // Demo logins such as j.k.devries@bedrijf.nl are the employees' work addresses.
            work_email: EmailAddress::parse(login.as_str()).ok(),
            login,
            display_name: self.display_name,
            locked: self.locked,
            disabled: self.disabled,
            admin: self.admin,
            mobile: None,
            alternate_email: None,
            department: self.department.as_deref().and_then(super::department),
        })
    }
}

const COLUMNS: &str = "login, display_name, password_hash, locked, disabled, admin, department";

impl EmbeddedDirectory {
    /// The `directory_accounts` table in `store`'s database.
    pub fn new(store: &Store) -> Self {
        Self {
            db: store.db().clone(),
        }
    }

    /// Adds or replaces an account (demo seeding, tests). A replaced account keeps its
    /// department ([`Self::set_department`]).
    pub async fn put_account(
        &self,
        login: &LoginName,
        display_name: &str,
        password: &str,
        locked: bool,
        disabled: bool,
        admin: bool,
    ) -> anyhow::Result<()> {
        let hash = hash_password(password.to_string()).await?;
        self.put_account_hashed(login, display_name, &hash, locked, disabled, admin)
            .await
    }

    /// [`Self::put_account`] with the argon2id PHC string of the password already computed
    /// (seeding many accounts for the load benchmark with one hash).
    pub async fn put_account_hashed(
        &self,
        login: &LoginName,
        display_name: &str,
        hash: &str,
        locked: bool,
        disabled: bool,
        admin: bool,
    ) -> anyhow::Result<()> {
        on_db!(&self.db, p => sqlx::query(
            "INSERT INTO directory_accounts (login, display_name, password_hash, locked, disabled, admin)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (login) DO UPDATE SET display_name = excluded.display_name,
                 password_hash = excluded.password_hash, locked = excluded.locked,
                 disabled = excluded.disabled, admin = excluded.admin, failed_sign_ins = 0",
        )
        .bind(login.as_str())
        .bind(display_name)
        .bind(hash)
        .bind(locked)
        .bind(disabled)
        .bind(admin)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .context("storing directory account")?;
        Ok(())
    }

    /// Sets or (with `None`) clears an account's department. False when there is no such account.
    pub async fn set_department(
        &self,
        login: &LoginName,
        department: Option<&str>,
    ) -> anyhow::Result<bool> {
        let n = on_db!(&self.db, p => sqlx::query("UPDATE directory_accounts SET department = $1 WHERE login = $2")
            .bind(department.and_then(super::department))
            .bind(login.as_str())
            .execute(p)
            .await.map(|r| r.rows_affected()))
            .context("storing the department")?;
        Ok(n == 1)
    }

    /// A sign-in as the company's login page would do it: the right password on an unlocked
    /// account succeeds; three wrong ones in a row lock the account.
    pub async fn sign_in(&self, login: &LoginName, password: &str) -> anyhow::Result<bool> {
        let Some(row) = self.row(login).await? else {
            return Ok(false);
        };
        let ok = verify_password(password.to_string(), row.password_hash).await?;
        if row.locked || row.disabled {
            return Ok(false);
        }
        if ok {
            on_db!(&self.db, p => sqlx::query("UPDATE directory_accounts SET failed_sign_ins = 0 WHERE login = $1")
                .bind(login.as_str())
                .execute(p)
                .await.map(|r| r.rows_affected()))?;
        } else {
            on_db!(&self.db, p => sqlx::query(
                "UPDATE directory_accounts SET failed_sign_ins = failed_sign_ins + 1,
                     locked = (failed_sign_ins + 1 >= $1) WHERE login = $2",
            )
            .bind(SIGN_IN_ATTEMPTS)
            .bind(login.as_str())
            .execute(p)
            .await.map(|r| r.rows_affected()))?;
        }
        Ok(ok)
    }

    async fn row(&self, login: &LoginName) -> Result<Option<Row>, DirectoryError> {
        on_db!(&self.db, p => sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM directory_accounts WHERE login = $1"
        ))
        .bind(login.as_str())
        .fetch_optional(p)
        .await)
        .map_err(unavailable)
    }
}

fn unavailable(e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Unavailable(e.to_string())
}

#[async_trait]
impl Directory for EmbeddedDirectory {
    async fn find(&self, login: &LoginName) -> Result<Option<Account>, DirectoryError> {
        Ok(self.row(login).await?.and_then(Row::account))
    }

    async fn reset_password(
        &self,
        login: &LoginName,
        password: &NewPassword,
    ) -> Result<(), DirectoryError> {
        let hash = hash_password(password.expose().to_string())
            .await
            .map_err(unavailable)?;
        let n = on_db!(&self.db, p => sqlx::query(
            "UPDATE directory_accounts SET password_hash = $1, locked = FALSE, failed_sign_ins = 0
             WHERE login = $2 AND NOT disabled",
        )
        .bind(hash)
        .bind(login.as_str())
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .map_err(unavailable)?;
        if n == 1 {
            Ok(())
        } else {
            Err(DirectoryError::NotFound)
        }
    }

    async fn unlock(&self, login: &LoginName) -> Result<(), DirectoryError> {
        let n = on_db!(&self.db, p => sqlx::query(
            "UPDATE directory_accounts SET locked = FALSE, failed_sign_ins = 0 WHERE login = $1 AND NOT disabled",
        )
        .bind(login.as_str())
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .map_err(unavailable)?;
        if n == 1 {
            Ok(())
        } else {
            Err(DirectoryError::NotFound)
        }
    }

    async fn ping(&self) -> Result<(), DirectoryError> {
        on_db!(&self.db, p => sqlx::query("SELECT 1")
            .execute(p)
            .await.map(|r| r.rows_affected()))
        .map_err(unavailable)?;
        Ok(())
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, DirectoryError> {
        let rows: Vec<Row> = on_db!(&self.db, p => sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM directory_accounts ORDER BY login"
        ))
        .fetch_all(p)
        .await)
        .map_err(unavailable)?;
        Ok(rows.into_iter().filter_map(Row::account).collect())
    }
}
