use anyhow::Context;

use super::on_db;
use super::Store;

/// The verification methods an account registered. Sensitive parts are stored protected: the TOTP
/// secret encrypted, security answers as argon2id hashes (in `security_answers`).
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Registration {
    pub account: String,
    pub alternate_email: Option<String>,
    pub mobile: Option<String>,
    pub totp_secret: Option<String>,
    pub push_device: Option<String>,
}

impl Store {
    pub async fn registration(&self, account: &str) -> anyhow::Result<Option<Registration>> {
        Ok(self.registration_with_suspended(account).await?.0)
    }

    /// [`Self::registration`] and [`Self::suspended_methods`] in one read (every recovery turn
    /// that looks at the methods needs both).
    pub async fn registration_with_suspended(
        &self,
        account: &str,
    ) -> anyhow::Result<(Option<Registration>, Vec<String>)> {
        type Row = (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let row: Option<Row> = on_db!(&self.db, p => sqlx::query_as(
            "SELECT account, alternate_email, mobile, totp_secret, push_device, suspended
             FROM registrations WHERE account = $1",
        )
        .bind(account)
        .fetch_optional(p)
        .await)
        .context("loading registration")?;
        Ok(match row {
            None => (None, Vec::new()),
            Some((account, alternate_email, mobile, totp_secret, push_device, suspended)) => (
                Some(Registration {
                    account,
                    alternate_email,
                    mobile,
                    totp_secret,
                    push_device,
                }),
                super::split_ids(&suspended.unwrap_or_default()),
            ),
        })
    }

    pub async fn upsert_registration(&self, r: &Registration, now: i64) -> anyhow::Result<()> {
        on_db!(&self.db, p => sqlx::query(
            "INSERT INTO registrations (account, alternate_email, mobile, totp_secret, push_device, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (account) DO UPDATE SET alternate_email = excluded.alternate_email,
                 mobile = excluded.mobile, totp_secret = excluded.totp_secret,
                 push_device = excluded.push_device, updated_at = excluded.updated_at",
        )
        .bind(&r.account)
        .bind(&r.alternate_email)
        .bind(&r.mobile)
        .bind(&r.totp_secret)
        .bind(&r.push_device)
        .bind(now)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .context("saving registration")?;
        Ok(())
    }

    /// (question id, argon2id hash) pairs, in registration order.
    pub async fn security_answers(&self, account: &str) -> anyhow::Result<Vec<(String, String)>> {
        on_db!(&self.db, p => sqlx::query_as("SELECT question_id, answer_hash FROM security_answers WHERE account = $1 ORDER BY rowid")
            .bind(account)
            .fetch_all(p)
            .await)
            .context("loading security answers")
    }

    pub async fn set_security_answer(
        &self,
        account: &str,
        question_id: &str,
        answer_hash: &str,
    ) -> anyhow::Result<()> {
        on_db!(&self.db, p => sqlx::query(
            "INSERT INTO security_answers (account, question_id, answer_hash) VALUES ($1, $2, $3)
             ON CONFLICT (account, question_id) DO UPDATE SET answer_hash = excluded.answer_hash",
        )
        .bind(account)
        .bind(question_id)
        .bind(answer_hash)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .context("saving security answer")?;
        Ok(())
    }
}
