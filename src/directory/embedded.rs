use anyhow::Context;
use async_trait::async_trait;
use sqlx::SqlitePool;

use super::{Account, Directory, DirectoryError};
use crate::domain::{LoginName, NewPassword};
use crate::hashing::{hash as hash_password, verify as verify_password};

/// Failed sign-ins after which the embedded directory locks an account, as the guide describes.
pub const SIGN_IN_ATTEMPTS: i64 = 3;

/// A directory in a SQLite table (`directory_accounts`), for the demo and for tests.
#[derive(Clone, Debug)]
pub struct EmbeddedDirectory {
    pool: SqlitePool,
}

#[derive(sqlx::FromRow)]
struct Row {
    login: String,
    display_name: String,
    password_hash: String,
    locked: bool,
    disabled: bool,
    admin: bool,
}

impl EmbeddedDirectory {
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Adds or replaces an account (demo seeding, tests).
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
        sqlx::query(
            "INSERT INTO directory_accounts (login, display_name, password_hash, locked, disabled, admin)
             VALUES (?, ?, ?, ?, ?, ?)
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
        .execute(&self.pool)
        .await
        .context("storing directory account")?;
        Ok(())
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
            sqlx::query("UPDATE directory_accounts SET failed_sign_ins = 0 WHERE login = ?")
                .bind(login.as_str())
                .execute(&self.pool)
                .await?;
        } else {
            sqlx::query(
                "UPDATE directory_accounts SET failed_sign_ins = failed_sign_ins + 1,
                     locked = (failed_sign_ins + 1 >= ?) WHERE login = ?",
            )
            .bind(SIGN_IN_ATTEMPTS)
            .bind(login.as_str())
            .execute(&self.pool)
            .await?;
        }
        Ok(ok)
    }

    async fn row(&self, login: &LoginName) -> Result<Option<Row>, DirectoryError> {
        sqlx::query_as(
            "SELECT login, display_name, password_hash, locked, disabled, admin
             FROM directory_accounts WHERE login = ?",
        )
        .bind(login.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)
    }
}

fn unavailable(e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Unavailable(e.to_string())
}

#[async_trait]
impl Directory for EmbeddedDirectory {
    async fn find(&self, login: &LoginName) -> Result<Option<Account>, DirectoryError> {
        Ok(self.row(login).await?.and_then(|r| {
            Some(Account {
                login: LoginName::parse(&r.login).ok()?,
                display_name: r.display_name,
                locked: r.locked,
                disabled: r.disabled,
                admin: r.admin,
                mobile: None,
                alternate_email: None,
            })
        }))
    }

    async fn reset_password(
        &self,
        login: &LoginName,
        password: &NewPassword,
    ) -> Result<(), DirectoryError> {
        let hash = hash_password(password.expose().to_string())
            .await
            .map_err(unavailable)?;
        let n = sqlx::query(
            "UPDATE directory_accounts SET password_hash = ?, locked = 0, failed_sign_ins = 0
             WHERE login = ? AND disabled = 0",
        )
        .bind(hash)
        .bind(login.as_str())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?
        .rows_affected();
        if n == 1 {
            Ok(())
        } else {
            Err(DirectoryError::NotFound)
        }
    }

    async fn unlock(&self, login: &LoginName) -> Result<(), DirectoryError> {
        let n = sqlx::query(
            "UPDATE directory_accounts SET locked = 0, failed_sign_ins = 0 WHERE login = ? AND disabled = 0",
        )
        .bind(login.as_str())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?
        .rows_affected();
        if n == 1 {
            Ok(())
        } else {
            Err(DirectoryError::NotFound)
        }
    }

    async fn ping(&self) -> Result<(), DirectoryError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
