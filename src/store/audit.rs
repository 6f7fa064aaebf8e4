use anyhow::Context;
use serde::Serialize;

use super::on_db;
use super::Store;

/// One line of the audit log. Never holds a code, answer, password or token.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    pub time: i64,
    pub account: String,
    pub chat_user: String,
    pub event: String,
    pub method: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

impl Store {
    pub async fn append_audit(&self, row: &AuditRow) -> anyhow::Result<()> {
        on_db!(&self.db, p => sqlx::query(
            "INSERT INTO audit (time, account, chat_user, event, method, outcome, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(row.time)
        .bind(&row.account)
        .bind(&row.chat_user)
        .bind(&row.event)
        .bind(&row.method)
        .bind(&row.outcome)
        .bind(&row.detail)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .context("writing audit row")?;
        Ok(())
    }

    /// The audit log, oldest first, optionally for one account.
    pub async fn audit_log(&self, account: Option<&str>) -> anyhow::Result<Vec<AuditRow>> {
        on_db!(&self.db, p => sqlx::query_as(
            "SELECT time, account, chat_user, event, method, outcome, detail FROM audit
             WHERE ($1 IS NULL OR account = $1) ORDER BY id",
        )
        .bind(account)
        .fetch_all(p)
        .await)
        .context("reading audit log")
    }
}
