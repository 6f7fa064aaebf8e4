//! Registration sessions ("enrolments") and what they are verifying, and the changes they make
//! to `registrations` and `security_answers`.

use anyhow::Context;

use super::Store;
use super::{on_db, on_tx};

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct EnrolmentRow {
    pub id: String,
    pub conversation_key: String,
    pub chat_user: String,
    pub account: String,
    pub decoy: bool,
    /// The work mailbox was proven (or the enrolment follows a verified recovery).
    pub proven: bool,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct EnrolmentChallenge {
    pub id: String,
    pub enrolment_id: String,
    pub kind: String,
    pub target: Option<String>,
    pub secret: Option<String>,
    pub position: i64,
    pub attempts: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub closed_at: Option<i64>,
    pub result: Option<String>,
}

/// A registered method that one enrolment step changes; each maps to its own columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegField {
    AlternateEmail,
    Mobile,
    Totp,
    Push,
}

impl RegField {
    /// The name in `registrations.suspended` (the e-mail address is never suspended).
    pub fn suspension_name(self) -> &'static str {
        match self {
            RegField::AlternateEmail => "email",
            RegField::Mobile => "mobile",
            RegField::Totp => "totp",
            RegField::Push => "push",
        }
    }

    fn columns(self) -> (&'static str, &'static str) {
        match self {
            RegField::AlternateEmail => ("alternate_email", "alternate_email_at"),
            RegField::Mobile => ("mobile", "mobile_at"),
            RegField::Totp => ("totp_secret", "totp_at"),
            RegField::Push => ("push_device", "push_at"),
        }
    }
}

/// When each method was registered and when all were last confirmed (Unix seconds).
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct RegistrationTimes {
    pub alternate_email_at: Option<i64>,
    pub mobile_at: Option<i64>,
    pub totp_at: Option<i64>,
    pub push_at: Option<i64>,
    pub questions_at: Option<i64>,
    pub confirmed_at: Option<i64>,
    pub updated_at: i64,
}

impl RegistrationTimes {
    /// The last time the employee looked at their methods: an explicit confirmation, or the last
    /// change they made (they saw the whole list while making it).
    pub fn last_confirmed(&self) -> i64 {
        self.confirmed_at.unwrap_or(0).max(self.updated_at)
    }
}

const ENROLMENT_COLUMNS: &str =
    "id, conversation_key, chat_user, account, decoy, proven, status, created_at, updated_at";
const CHALLENGE_COLUMNS: &str =
    "id, enrolment_id, kind, target, secret, position, attempts, created_at, expires_at, closed_at, result";

impl Store {
    /// Opens an enrolment; any other open enrolment of the same conversation is superseded.
    pub async fn insert_enrolment(&self, e: &EnrolmentRow) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        on_tx!(&mut tx, txc => sqlx::query(
            "UPDATE enrolments SET status = 'superseded', updated_at = $1
             WHERE conversation_key = $2 AND status = 'open'",
        )
        .bind(e.created_at)
        .bind(&e.conversation_key)
        .execute(txc)
        .await.map(|r| r.rows_affected()))?;
        on_tx!(&mut tx, txc => sqlx::query(
            "INSERT INTO enrolments (id, conversation_key, chat_user, account, decoy, proven, status,
                 created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&e.id)
        .bind(&e.conversation_key)
        .bind(&e.chat_user)
        .bind(&e.account)
        .bind(e.decoy)
        .bind(e.proven)
        .bind(&e.status)
        .bind(e.created_at)
        .bind(e.updated_at)
        .execute(txc)
        .await.map(|r| r.rows_affected()))?;
        tx.commit().await.context("opening enrolment")?;
        Ok(())
    }

    pub async fn enrolment(&self, id: &str) -> anyhow::Result<Option<EnrolmentRow>> {
        on_db!(&self.db, p => sqlx::query_as(&format!(
            "SELECT {ENROLMENT_COLUMNS} FROM enrolments WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(p)
        .await)
        .context("loading enrolment")
    }

    pub async fn touch_enrolment(&self, id: &str, now: i64) -> anyhow::Result<()> {
        on_db!(&self.db, p => sqlx::query("UPDATE enrolments SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(p)
            .await.map(|r| r.rows_affected()))
        .context("touching enrolment")?;
        Ok(())
    }

    pub async fn set_enrolment_proven(&self, id: &str, now: i64) -> anyhow::Result<()> {
        on_db!(&self.db, p => sqlx::query("UPDATE enrolments SET proven = TRUE, updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(p)
            .await.map(|r| r.rows_affected()))
            .context("marking enrolment proven")?;
        Ok(())
    }

    /// Closes an open enrolment and its open challenges; false if it was not open.
    pub async fn close_enrolment(&self, id: &str, status: &str, now: i64) -> anyhow::Result<bool> {
        let mut tx = self.db.begin().await?;
        let closed = on_tx!(&mut tx, txc => sqlx::query(
            "UPDATE enrolments SET status = $1, updated_at = $2 WHERE id = $3 AND status = 'open'",
        )
        .bind(status)
        .bind(now)
        .bind(id)
        .execute(txc)
        .await.map(|r| r.rows_affected()))?
            > 0;
        on_tx!(&mut tx, txc => sqlx::query(
            "UPDATE enrolment_challenges SET closed_at = $1, result = 'cancelled'
             WHERE enrolment_id = $2 AND closed_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(txc)
        .await.map(|r| r.rows_affected()))?;
        tx.commit().await.context("closing enrolment")?;
        Ok(closed)
    }

    /// Adds a challenge; open challenges of the same kind in the enrolment are superseded (a new
    /// code replaces the old one; a new round of answers starts over).
    pub async fn insert_enrolment_challenge(
        &self,
        c: &EnrolmentChallenge,
        supersede: bool,
    ) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        if supersede {
            on_tx!(&mut tx, txc => sqlx::query(
                "UPDATE enrolment_challenges SET closed_at = $1, result = 'superseded'
                 WHERE enrolment_id = $2 AND kind = $3 AND closed_at IS NULL",
            )
            .bind(c.created_at)
            .bind(&c.enrolment_id)
            .bind(&c.kind)
            .execute(txc)
            .await.map(|r| r.rows_affected()))?;
        }
        on_tx!(&mut tx, txc => sqlx::query(&format!(
            "INSERT INTO enrolment_challenges ({CHALLENGE_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&c.id)
        .bind(&c.enrolment_id)
        .bind(&c.kind)
        .bind(&c.target)
        .bind(&c.secret)
        .bind(c.position)
        .bind(c.attempts)
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(c.closed_at)
        .bind(&c.result)
        .execute(txc)
        .await.map(|r| r.rows_affected()))?;
        tx.commit().await.context("saving enrolment challenge")?;
        Ok(())
    }

    /// The open challenges of one kind, oldest first.
    pub async fn open_enrolment_challenges(
        &self,
        enrolment_id: &str,
        kind: &str,
    ) -> anyhow::Result<Vec<EnrolmentChallenge>> {
        on_db!(&self.db, p => sqlx::query_as(&format!(
            "SELECT {CHALLENGE_COLUMNS} FROM enrolment_challenges
             WHERE enrolment_id = $1 AND kind = $2 AND closed_at IS NULL ORDER BY position, created_at"
        ))
        .bind(enrolment_id)
        .bind(kind)
        .fetch_all(p)
        .await)
        .context("loading enrolment challenges")
    }

    /// The newest challenge of one kind, open or not.
    pub async fn last_enrolment_challenge(
        &self,
        enrolment_id: &str,
        kind: &str,
    ) -> anyhow::Result<Option<EnrolmentChallenge>> {
        on_db!(&self.db, p => sqlx::query_as(&format!(
            "SELECT {CHALLENGE_COLUMNS} FROM enrolment_challenges
             WHERE enrolment_id = $1 AND kind = $2 ORDER BY created_at DESC, rowid DESC LIMIT 1"
        ))
        .bind(enrolment_id)
        .bind(kind)
        .fetch_optional(p)
        .await)
        .context("loading enrolment challenge")
    }

    /// Counts one wrong attempt; returns the attempts so far.
    pub async fn count_enrolment_attempt(&self, id: &str) -> anyhow::Result<i64> {
        on_db!(&self.db, p => sqlx::query_scalar(
            "UPDATE enrolment_challenges SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts",
        )
        .bind(id)
        .fetch_one(p)
        .await)
        .context("counting enrolment attempt")
    }

    /// Closes one challenge; false if it was already closed (single use under races).
    pub async fn close_enrolment_challenge(
        &self,
        id: &str,
        result: &str,
        now: i64,
    ) -> anyhow::Result<bool> {
        Ok(on_db!(&self.db, p => sqlx::query(
            "UPDATE enrolment_challenges SET closed_at = $1, result = $2
             WHERE id = $3 AND closed_at IS NULL",
        )
        .bind(now)
        .bind(result)
        .bind(id)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .context("closing enrolment challenge")?
            > 0)
    }

    /// Sets (or with `None` removes) one registered method of `account`.
    pub async fn set_registered(
        &self,
        account: &str,
        field: RegField,
        value: Option<&str>,
        now: i64,
    ) -> anyhow::Result<()> {
        let (column, at) = field.columns();
        on_db!(&self.db, p => sqlx::query(&format!(
            "INSERT INTO registrations (account, {column}, {at}, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (account) DO UPDATE SET {column} = excluded.{column}, {at} = excluded.{at},
                 updated_at = excluded.updated_at"
        ))
        .bind(account)
        .bind(value)
        .bind(value.map(|_| now))
        .bind(now)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .with_context(|| format!("saving registered {column}"))?;
        // Registered again: no longer suspended after a recovery without the phone.
        if value.is_some() {
            let name = field.suspension_name();
            let suspended = self.suspended_methods(account).await?;
            if suspended.iter().any(|m| m == name) {
                let rest: Vec<String> = suspended.into_iter().filter(|m| m != name).collect();
                self.set_suspended_methods(account, &rest, now).await?;
            }
        }
        Ok(())
    }

    /// Removes one registered method; the number of rows changed.
    pub async fn clear_registered(
        &self,
        account: &str,
        field: RegField,
        now: i64,
    ) -> anyhow::Result<u64> {
        let (column, at) = field.columns();
        on_db!(&self.db, p => sqlx::query(&format!(
            "UPDATE registrations SET {column} = NULL, {at} = NULL, updated_at = $1
             WHERE account = $2 AND {column} IS NOT NULL"
        ))
        .bind(now)
        .bind(account)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .with_context(|| format!("clearing registered {column}"))
    }

    /// Replaces all security answers of `account` with `answers` (question id, argon2id hash).
    pub async fn replace_security_answers(
        &self,
        account: &str,
        answers: &[(String, String)],
        now: i64,
    ) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        on_tx!(&mut tx, txc => sqlx::query("DELETE FROM security_answers WHERE account = $1")
            .bind(account)
            .execute(txc)
            .await.map(|r| r.rows_affected()))?;
        for (question, hash) in answers {
            on_tx!(&mut tx, txc => sqlx::query(
                "INSERT INTO security_answers (account, question_id, answer_hash) VALUES ($1, $2, $3)",
            )
            .bind(account)
            .bind(question)
            .bind(hash)
            .execute(txc)
            .await.map(|r| r.rows_affected()))?;
        }
        on_tx!(&mut tx, txc => sqlx::query(
            "INSERT INTO registrations (account, questions_at, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (account) DO UPDATE SET questions_at = excluded.questions_at,
                 updated_at = excluded.updated_at",
        )
        .bind(account)
        .bind(now)
        .bind(now)
        .execute(txc)
        .await.map(|r| r.rows_affected()))?;
        tx.commit().await.context("saving security answers")?;
        Ok(())
    }

    /// The employee confirmed their methods are still right.
    pub async fn confirm_registration(&self, account: &str, now: i64) -> anyhow::Result<bool> {
        Ok(
            on_db!(&self.db, p => sqlx::query("UPDATE registrations SET confirmed_at = $1 WHERE account = $2")
                .bind(now)
                .bind(account)
                .execute(p)
                .await.map(|r| r.rows_affected()))
                .context("confirming registration")?
                > 0,
        )
    }

    pub async fn registration_times(
        &self,
        account: &str,
    ) -> anyhow::Result<Option<RegistrationTimes>> {
        on_db!(&self.db, p => sqlx::query_as(
            "SELECT alternate_email_at, mobile_at, totp_at, push_at, questions_at, confirmed_at,
                    updated_at
             FROM registrations WHERE account = $1",
        )
        .bind(account)
        .fetch_optional(p)
        .await)
        .context("loading registration times")
    }
}
