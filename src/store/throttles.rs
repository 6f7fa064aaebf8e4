use anyhow::Context;

use super::Store;
use super::{on_db, on_tx};

/// Who a lockout applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockScope {
    /// Recovery of one account (failed checks).
    Recovery,
    /// E-mail to one account's alternate address.
    Email,
    /// One chat user (too many accounts or sends).
    ChatUser,
}

impl LockScope {
    fn id(self) -> &'static str {
        match self {
            LockScope::Recovery => "recovery",
            LockScope::Email => "email",
            LockScope::ChatUser => "chat_user",
        }
    }
}

impl Store {
    /// The end of an active lockout, if any.
    pub async fn lockout_until(
        &self,
        scope: LockScope,
        subject: &str,
        now: i64,
    ) -> anyhow::Result<Option<i64>> {
        let row: Option<(i64,)> = on_db!(&self.db, p => sqlx::query_as(
            "SELECT until FROM lockouts WHERE scope = $1 AND subject = $2 AND until > $3",
        )
        .bind(scope.id())
        .bind(subject)
        .bind(now)
        .fetch_optional(p)
        .await)
        .context("reading lockout")?;
        Ok(row.map(|(u,)| u))
    }

    pub async fn set_lockout(
        &self,
        scope: LockScope,
        subject: &str,
        until: i64,
    ) -> anyhow::Result<()> {
        on_db!(&self.db, p => sqlx::query(
            "INSERT INTO lockouts (scope, subject, until) VALUES ($1, $2, $3)
             ON CONFLICT (scope, subject) DO UPDATE SET until = CASE WHEN excluded.until > lockouts.until THEN excluded.until ELSE lockouts.until END",
        )
        .bind(scope.id())
        .bind(subject)
        .bind(until)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .context("writing lockout")?;
        Ok(())
    }

    /// Records a failed check and returns the failures for the account since `since`.
    pub async fn record_failure(
        &self,
        account: &str,
        method: &str,
        now: i64,
        since: i64,
    ) -> anyhow::Result<i64> {
        let mut tx = self.db.begin().await?;
        // Replicas count one account's failures one at a time, so the third is seen as third.
        tx.lock(&format!("failures:{account}")).await?;
        on_tx!(&mut tx, txc => sqlx::query("INSERT INTO failures (account, method, at) VALUES ($1, $2, $3)")
            .bind(account)
            .bind(method)
            .bind(now)
            .execute(txc)
            .await.map(|r| r.rows_affected()))?;
        let (n,): (i64,) = on_tx!(&mut tx, txc => sqlx::query_as("SELECT COUNT(*) FROM failures WHERE account = $1 AND at > $2")
                .bind(account)
                .bind(since)
                .fetch_one(txc)
                .await)?;
        tx.commit().await.context("recording failure")?;
        Ok(n)
    }

    pub async fn record_send(
        &self,
        account: &str,
        chat_user: &str,
        recovery_id: &str,
        method: &str,
        now: i64,
    ) -> anyhow::Result<()> {
        on_db!(&self.db, p => sqlx::query("INSERT INTO sends (account, chat_user, recovery_id, method, at) VALUES ($1, $2, $3, $4, $5)")
            .bind(account)
            .bind(chat_user)
            .bind(recovery_id)
            .bind(method)
            .bind(now)
            .execute(p)
            .await.map(|r| r.rows_affected()))
            .context("recording send")?;
        Ok(())
    }

    /// The time of the last send of `method` within this recovery.
    pub async fn last_send(&self, recovery_id: &str, method: &str) -> anyhow::Result<Option<i64>> {
        let row: (Option<i64>,) = on_db!(&self.db, p => sqlx::query_as("SELECT MAX(at) FROM sends WHERE recovery_id = $1 AND method = $2")
                .bind(recovery_id)
                .bind(method)
                .fetch_one(p)
                .await)?;
        Ok(row.0)
    }

    pub async fn sends_for_account(
        &self,
        account: &str,
        method: &str,
        since: i64,
    ) -> anyhow::Result<i64> {
        let (n,): (i64,) = on_db!(&self.db, p => sqlx::query_as(
            "SELECT COUNT(*) FROM sends WHERE account = $1 AND method = $2 AND at > $3",
        )
        .bind(account)
        .bind(method)
        .bind(since)
        .fetch_one(p)
        .await)?;
        Ok(n)
    }

    pub async fn sends_for_chat_user(&self, chat_user: &str, since: i64) -> anyhow::Result<i64> {
        let (n,): (i64,) = on_db!(&self.db, p => sqlx::query_as("SELECT COUNT(*) FROM sends WHERE chat_user = $1 AND at > $2")
                .bind(chat_user)
                .bind(since)
                .fetch_one(p)
                .await)?;
        Ok(n)
    }

    /// Records that a chat user asked about an account; returns the distinct accounts since `since`.
    pub async fn record_chat_login(
        &self,
        chat_user: &str,
        account: &str,
        now: i64,
        since: i64,
    ) -> anyhow::Result<i64> {
        let mut tx = self.db.begin().await?;
        tx.lock(&format!("chat_logins:{chat_user}")).await?;
        on_tx!(&mut tx, txc => sqlx::query("INSERT INTO chat_logins (chat_user, account, at) VALUES ($1, $2, $3)")
            .bind(chat_user)
            .bind(account)
            .bind(now)
            .execute(txc)
            .await.map(|r| r.rows_affected()))?;
        let (n,): (i64,) = on_tx!(&mut tx, txc => sqlx::query_as(
            "SELECT COUNT(DISTINCT account) FROM chat_logins WHERE chat_user = $1 AND at > $2",
        )
        .bind(chat_user)
        .bind(since)
        .fetch_one(txc)
        .await)?;
        tx.commit().await.context("recording chat login")?;
        Ok(n)
    }

    /// Accepts TOTP time step `step` for `account` only if it is later than any accepted before.
    /// Atomic: of two racing checks with the same code, one wins.
    pub async fn accept_totp_step(&self, account: &str, step: i64) -> anyhow::Result<bool> {
        let changed = on_db!(&self.db, p => sqlx::query(
            "INSERT INTO totp_steps (account, last_step) VALUES ($1, $2)
             ON CONFLICT (account) DO UPDATE SET last_step = excluded.last_step
             WHERE excluded.last_step > totp_steps.last_step",
        )
        .bind(account)
        .bind(step)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .context("recording TOTP step")?;
        Ok(changed == 1)
    }
}
