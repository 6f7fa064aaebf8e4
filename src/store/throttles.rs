use anyhow::Context;

use super::Store;

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
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT until FROM lockouts WHERE scope = ? AND subject = ? AND until > ?",
        )
        .bind(scope.id())
        .bind(subject)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .context("reading lockout")?;
        Ok(row.map(|(u,)| u))
    }

    pub async fn set_lockout(
        &self,
        scope: LockScope,
        subject: &str,
        until: i64,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO lockouts (scope, subject, until) VALUES (?, ?, ?)
             ON CONFLICT (scope, subject) DO UPDATE SET until = MAX(until, excluded.until)",
        )
        .bind(scope.id())
        .bind(subject)
        .bind(until)
        .execute(&self.pool)
        .await
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
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO failures (account, method, at) VALUES (?, ?, ?)")
            .bind(account)
            .bind(method)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM failures WHERE account = ? AND at > ?")
                .bind(account)
                .bind(since)
                .fetch_one(&mut *tx)
                .await?;
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
        sqlx::query("INSERT INTO sends (account, chat_user, recovery_id, method, at) VALUES (?, ?, ?, ?, ?)")
            .bind(account)
            .bind(chat_user)
            .bind(recovery_id)
            .bind(method)
            .bind(now)
            .execute(&self.pool)
            .await
            .context("recording send")?;
        Ok(())
    }

    /// The time of the last send of `method` within this recovery.
    pub async fn last_send(&self, recovery_id: &str, method: &str) -> anyhow::Result<Option<i64>> {
        let row: (Option<i64>,) =
            sqlx::query_as("SELECT MAX(at) FROM sends WHERE recovery_id = ? AND method = ?")
                .bind(recovery_id)
                .bind(method)
                .fetch_one(&self.pool)
                .await?;
        Ok(row.0)
    }

    pub async fn sends_for_account(
        &self,
        account: &str,
        method: &str,
        since: i64,
    ) -> anyhow::Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM sends WHERE account = ? AND method = ? AND at > ?",
        )
        .bind(account)
        .bind(method)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    pub async fn sends_for_chat_user(&self, chat_user: &str, since: i64) -> anyhow::Result<i64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM sends WHERE chat_user = ? AND at > ?")
                .bind(chat_user)
                .bind(since)
                .fetch_one(&self.pool)
                .await?;
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
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO chat_logins (chat_user, account, at) VALUES (?, ?, ?)")
            .bind(chat_user)
            .bind(account)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(DISTINCT account) FROM chat_logins WHERE chat_user = ? AND at > ?",
        )
        .bind(chat_user)
        .bind(since)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await.context("recording chat login")?;
        Ok(n)
    }

    /// Accepts TOTP time step `step` for `account` only if it is later than any accepted before.
    /// Atomic: of two racing checks with the same code, one wins.
    pub async fn accept_totp_step(&self, account: &str, step: i64) -> anyhow::Result<bool> {
        let changed = sqlx::query(
            "INSERT INTO totp_steps (account, last_step) VALUES (?, ?)
             ON CONFLICT (account) DO UPDATE SET last_step = excluded.last_step
             WHERE excluded.last_step > totp_steps.last_step",
        )
        .bind(account)
        .bind(step)
        .execute(&self.pool)
        .await
        .context("recording TOTP step")?
        .rows_affected();
        Ok(changed == 1)
    }
}
