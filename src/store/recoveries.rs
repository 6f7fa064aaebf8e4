use anyhow::Context;

use super::{join_ids, split_ids, Store};
use super::{on_db, on_tx};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RecoveryRow {
    pub id: String,
    pub conversation_key: String,
    pub chat_user: String,
    pub account: String,
    pub reason: String,
    pub decoy: bool,
    pub lang: String,
    pub offered: String,
    pub passed: String,
    pub phone_confirmed: bool,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl RecoveryRow {
    pub fn offered_ids(&self) -> Vec<String> {
        split_ids(&self.offered)
    }
    pub fn passed_ids(&self) -> Vec<String> {
        split_ids(&self.passed)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ChallengeRow {
    pub id: String,
    pub recovery_id: String,
    pub method: String,
    pub secret_hash: Option<String>,
    pub detail: Option<String>,
    pub progress: i64,
    pub all_ok: bool,
    pub created_at: i64,
    pub expires_at: i64,
    pub closed_at: Option<i64>,
    pub result: Option<String>,
}

impl Store {
    /// Opens a recovery; any other open recovery of the same conversation is superseded.
    pub async fn insert_recovery(&self, r: &RecoveryRow) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        on_tx!(&mut tx, txc => sqlx::query(
            "UPDATE recoveries SET status = 'superseded', updated_at = $1
             WHERE conversation_key = $2 AND status = 'open'",
        )
        .bind(r.created_at)
        .bind(&r.conversation_key)
        .execute(txc)
        .await.map(|r| r.rows_affected()))?;
        on_tx!(&mut tx, txc => sqlx::query(
            "INSERT INTO recoveries (id, conversation_key, chat_user, account, reason, decoy, lang,
                 offered, passed, phone_confirmed, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&r.id)
        .bind(&r.conversation_key)
        .bind(&r.chat_user)
        .bind(&r.account)
        .bind(&r.reason)
        .bind(r.decoy)
        .bind(&r.lang)
        .bind(&r.offered)
        .bind(&r.passed)
        .bind(r.phone_confirmed)
        .bind(&r.status)
        .bind(r.created_at)
        .bind(r.updated_at)
        .execute(txc)
        .await.map(|r| r.rows_affected()))?;
        tx.commit().await.context("opening recovery")?;
        Ok(())
    }

    pub async fn recovery(&self, id: &str) -> anyhow::Result<Option<RecoveryRow>> {
        on_db!(&self.db, p => sqlx::query_as("SELECT * FROM recoveries WHERE id = $1")
            .bind(id)
            .fetch_optional(p)
            .await)
        .context("loading recovery")
    }

    /// Marks activity, so the server-side idle expiry follows the conversation's.
    pub async fn touch_recovery(&self, id: &str, now: i64) -> anyhow::Result<()> {
        on_db!(&self.db, p => sqlx::query("UPDATE recoveries SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(p)
            .await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Records a passed method; returns the passed set afterwards.
    pub async fn add_passed(
        &self,
        id: &str,
        method: &str,
        now: i64,
    ) -> anyhow::Result<Vec<String>> {
        let mut tx = self.db.begin().await?;
        let (passed,): (String,) = on_tx!(&mut tx, txc => sqlx::query_as(&format!(
            "SELECT passed FROM recoveries WHERE id = $1{}",
            self.db.for_update()
        ))
            .bind(id)
            .fetch_one(txc)
            .await)?;
        let mut ids = split_ids(&passed);
        if !ids.iter().any(|m| m == method) {
            ids.push(method.to_string());
        }
        on_tx!(&mut tx, txc => sqlx::query("UPDATE recoveries SET passed = $1, updated_at = $2 WHERE id = $3")
            .bind(join_ids(ids.iter().map(String::as_str)))
            .bind(now)
            .bind(id)
            .execute(txc)
            .await.map(|r| r.rows_affected()))?;
        tx.commit().await.context("recording passed method")?;
        Ok(ids)
    }

    pub async fn set_recovery_reason(&self, id: &str, reason: &str) -> anyhow::Result<()> {
        on_db!(&self.db, p => sqlx::query("UPDATE recoveries SET reason = $1 WHERE id = $2 AND status = 'open'")
            .bind(reason)
            .bind(id)
            .execute(p)
            .await.map(|r| r.rows_affected()))
            .context("changing the recovery's reason")?;
        Ok(())
    }

    pub async fn set_phone_confirmed(&self, id: &str) -> anyhow::Result<()> {
        on_db!(&self.db, p => sqlx::query("UPDATE recoveries SET phone_confirmed = TRUE WHERE id = $1")
            .bind(id)
            .execute(p)
            .await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Closes a recovery and whatever it still had open. Returns false if it was not open.
    pub async fn close_recovery(&self, id: &str, status: &str, now: i64) -> anyhow::Result<bool> {
        let mut tx = self.db.begin().await?;
        let done = on_tx!(&mut tx, txc => sqlx::query(
            "UPDATE recoveries SET status = $1, updated_at = $2 WHERE id = $3 AND status = 'open'",
        )
        .bind(status)
        .bind(now)
        .bind(id)
        .execute(txc)
        .await.map(|r| r.rows_affected()))?
            == 1;
        on_tx!(&mut tx, txc => sqlx::query(
            "UPDATE challenges SET closed_at = $1, result = 'cancelled'
             WHERE recovery_id = $2 AND closed_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(txc)
        .await.map(|r| r.rows_affected()))?;
        tx.commit().await.context("closing recovery")?;
        Ok(done)
    }

    /// After a reset or unlock: every other open recovery for the account is cancelled.
    pub async fn cancel_other_recoveries(
        &self,
        account: &str,
        keep: &str,
        now: i64,
    ) -> anyhow::Result<u64> {
        let mut tx = self.db.begin().await?;
        on_tx!(&mut tx, txc => sqlx::query(
            "UPDATE challenges SET closed_at = $1, result = 'cancelled'
             WHERE closed_at IS NULL AND recovery_id IN
                 (SELECT id FROM recoveries WHERE account = $2 AND status = 'open' AND id != $3)",
        )
        .bind(now)
        .bind(account)
        .bind(keep)
        .execute(txc)
        .await.map(|r| r.rows_affected()))?;
        let n = on_tx!(&mut tx, txc => sqlx::query(
            "UPDATE recoveries SET status = 'cancelled', updated_at = $1
             WHERE account = $2 AND status = 'open' AND id != $3",
        )
        .bind(now)
        .bind(account)
        .bind(keep)
        .execute(txc)
        .await.map(|r| r.rows_affected()))?;
        tx.commit().await.context("cancelling other recoveries")?;
        Ok(n)
    }

    /// Stores a new challenge; open challenges of the same recovery and method are superseded,
    /// so only the newest code counts.
    pub async fn insert_challenge(&self, c: &ChallengeRow) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        on_tx!(&mut tx, txc => sqlx::query(
            "UPDATE challenges SET closed_at = $1, result = 'superseded'
             WHERE recovery_id = $2 AND method = $3 AND closed_at IS NULL",
        )
        .bind(c.created_at)
        .bind(&c.recovery_id)
        .bind(&c.method)
        .execute(txc)
        .await.map(|r| r.rows_affected()))?;
        on_tx!(&mut tx, txc => sqlx::query(
            "INSERT INTO challenges (id, recovery_id, method, secret_hash, detail, progress, all_ok,
                 created_at, expires_at, closed_at, result)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&c.id)
        .bind(&c.recovery_id)
        .bind(&c.method)
        .bind(&c.secret_hash)
        .bind(&c.detail)
        .bind(c.progress)
        .bind(c.all_ok)
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(c.closed_at)
        .bind(&c.result)
        .execute(txc)
        .await.map(|r| r.rows_affected()))?;
        tx.commit().await.context("storing challenge")?;
        Ok(())
    }

    /// The newest challenge of a recovery for a method, open or not.
    pub async fn latest_challenge(
        &self,
        recovery_id: &str,
        method: &str,
    ) -> anyhow::Result<Option<ChallengeRow>> {
        on_db!(&self.db, p => sqlx::query_as(
            "SELECT * FROM challenges WHERE recovery_id = $1 AND method = $2
             ORDER BY created_at DESC, rowid DESC LIMIT 1",
        )
        .bind(recovery_id)
        .bind(method)
        .fetch_optional(p)
        .await)
        .context("loading challenge")
    }

    pub async fn challenge(&self, id: &str) -> anyhow::Result<Option<ChallengeRow>> {
        on_db!(&self.db, p => sqlx::query_as("SELECT * FROM challenges WHERE id = $1")
            .bind(id)
            .fetch_optional(p)
            .await)
        .context("loading challenge")
    }

    /// Closes an open challenge with a result. Returns false if it was already closed, so a code
    /// can be consumed exactly once even when two checks race.
    pub async fn close_challenge(&self, id: &str, result: &str, now: i64) -> anyhow::Result<bool> {
        Ok(on_db!(&self.db, p => sqlx::query(
            "UPDATE challenges SET closed_at = $1, result = $2 WHERE id = $3 AND closed_at IS NULL",
        )
        .bind(now)
        .bind(result)
        .bind(id)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .context("closing challenge")?
            == 1)
    }

    /// Records one security answer's outcome; returns how many were taken and whether all matched.
    pub async fn record_answer(
        &self,
        id: &str,
        expected_index: i64,
        ok: bool,
    ) -> anyhow::Result<Option<(i64, bool)>> {
        let changed = on_db!(&self.db, p => sqlx::query(
            "UPDATE challenges SET progress = progress + 1, all_ok = (all_ok AND $1)
             WHERE id = $2 AND progress = $3 AND closed_at IS NULL",
        )
        .bind(ok)
        .bind(id)
        .bind(expected_index)
        .execute(p)
        .await.map(|r| r.rows_affected()))?;
        if changed == 0 {
            return Ok(None);
        }
        let (progress, all_ok): (i64, bool) = on_db!(&self.db, p => sqlx::query_as("SELECT progress, all_ok FROM challenges WHERE id = $1")
                .bind(id)
                .fetch_one(p)
                .await)?;
        Ok(Some((progress, all_ok)))
    }

    /// Keeps a provider's reference for a challenge (Duo's transaction id for a push).
    pub async fn set_challenge_detail(&self, id: &str, detail: &str) -> anyhow::Result<()> {
        on_db!(&self.db, p => sqlx::query("UPDATE challenges SET detail = $1 WHERE id = $2")
            .bind(detail)
            .bind(id)
            .execute(p)
            .await.map(|r| r.rows_affected()))
        .context("storing a provider reference")?;
        Ok(())
    }

    /// Every open challenge of `method`, oldest first (pushes to resume after a restart).
    pub async fn open_challenges(&self, method: &str) -> anyhow::Result<Vec<ChallengeRow>> {
        on_db!(&self.db, p => sqlx::query_as(
            "SELECT * FROM challenges WHERE method = $1 AND closed_at IS NULL ORDER BY created_at",
        )
        .bind(method)
        .fetch_all(p)
        .await)
        .context("listing open challenges")
    }

    /// The open call or push challenge of the conversation's current recovery (demo phone).
    pub async fn pending_phone_challenge(
        &self,
        conversation_key: &str,
        method: &str,
    ) -> anyhow::Result<Option<ChallengeRow>> {
        on_db!(&self.db, p => sqlx::query_as(
            "SELECT c.* FROM challenges c JOIN recoveries r ON r.id = c.recovery_id
             WHERE r.conversation_key = $1 AND r.status = 'open' AND c.method = $2 AND c.closed_at IS NULL
             ORDER BY c.created_at DESC, c.rowid DESC LIMIT 1",
        )
        .bind(conversation_key)
        .bind(method)
        .fetch_optional(p)
        .await)
        .context("finding pending challenge")
    }
}
