//! Helpdesk handoffs and callback requests.

use anyhow::Context;

use super::Store;

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct HandoffRow {
    pub id: String,
    pub kind: String,
    pub conversation_key: String,
    pub chat_user: String,
    pub account: Option<String>,
    pub recovery_id: Option<String>,
    /// Why the user asked (`asked`, `callback`, …): a word, never user text.
    pub reason: String,
    pub lang: String,
    pub status: String,
    pub agent: Option<String>,
    pub agent_name: Option<String>,
    pub desk_ref: Option<String>,
    pub created_at: i64,
    pub due_at: Option<i64>,
    pub claimed_at: Option<i64>,
    pub closed_at: Option<i64>,
}

const COLUMNS: &str =
    "id, kind, conversation_key, chat_user, account, recovery_id, reason, lang, status, \
     agent, agent_name, desk_ref, created_at, due_at, claimed_at, closed_at";

impl Store {
    pub async fn insert_handoff(&self, h: &HandoffRow) -> anyhow::Result<()> {
        sqlx::query(&format!(
            "INSERT INTO handoffs ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&h.id)
        .bind(&h.kind)
        .bind(&h.conversation_key)
        .bind(&h.chat_user)
        .bind(&h.account)
        .bind(&h.recovery_id)
        .bind(&h.reason)
        .bind(&h.lang)
        .bind(&h.status)
        .bind(&h.agent)
        .bind(&h.agent_name)
        .bind(&h.desk_ref)
        .bind(h.created_at)
        .bind(h.due_at)
        .bind(h.claimed_at)
        .bind(h.closed_at)
        .execute(&self.pool)
        .await
        .context("saving handoff")?;
        Ok(())
    }

    pub async fn handoff(&self, id: &str) -> anyhow::Result<Option<HandoffRow>> {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM handoffs WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("loading handoff")
    }

    /// The handoff whose card the desk knows as `desk_ref`.
    pub async fn handoff_by_desk_ref(&self, desk_ref: &str) -> anyhow::Result<Option<HandoffRow>> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM handoffs WHERE desk_ref = ? ORDER BY created_at DESC LIMIT 1"
        ))
        .bind(desk_ref)
        .fetch_optional(&self.pool)
        .await
        .context("loading handoff by card")
    }

    pub async fn set_handoff_desk_ref(&self, id: &str, desk_ref: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE handoffs SET desk_ref = ? WHERE id = ?")
            .bind(desk_ref)
            .bind(id)
            .execute(&self.pool)
            .await
            .context("saving the handoff's card")?;
        Ok(())
    }

    /// Claims a waiting handoff for `agent`; false if it is not waiting (someone was first).
    pub async fn claim_handoff(
        &self,
        id: &str,
        agent: &str,
        agent_name: &str,
        now: i64,
    ) -> anyhow::Result<bool> {
        Ok(sqlx::query(
            "UPDATE handoffs SET status = 'claimed', agent = ?, agent_name = ?, claimed_at = ?
             WHERE id = ? AND status = 'waiting'",
        )
        .bind(agent)
        .bind(agent_name)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await
        .context("claiming handoff")?
        .rows_affected()
            > 0)
    }

    /// Ends a handoff that is still open (`waiting`, `claimed` or `queued`) with `status`.
    pub async fn end_handoff(&self, id: &str, status: &str, now: i64) -> anyhow::Result<bool> {
        Ok(sqlx::query(
            "UPDATE handoffs SET status = ?, closed_at = ?
             WHERE id = ? AND status IN ('waiting', 'claimed', 'queued')",
        )
        .bind(status)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await
        .context("ending handoff")?
        .rows_affected()
            > 0)
    }

    /// The conversation's open live handoff, if any.
    pub async fn open_handoff(&self, conversation_key: &str) -> anyhow::Result<Option<HandoffRow>> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM handoffs WHERE conversation_key = ? AND kind IN ('live', 'urgent')
             AND status IN ('waiting', 'claimed') ORDER BY created_at DESC LIMIT 1"
        ))
        .bind(conversation_key)
        .fetch_optional(&self.pool)
        .await
        .context("loading open handoff")
    }

    /// Live handoffs nobody claimed before their deadline.
    pub async fn unclaimed_handoffs(&self, now: i64) -> anyhow::Result<Vec<HandoffRow>> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM handoffs WHERE status = 'waiting' AND due_at IS NOT NULL
             AND due_at <= ? ORDER BY created_at"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .context("loading unclaimed handoffs")
    }

    /// Callback requests whose time has come (the desk is open).
    pub async fn due_callbacks(&self, now: i64) -> anyhow::Result<Vec<HandoffRow>> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM handoffs WHERE kind = 'callback' AND status = 'queued'
             AND due_at <= ? ORDER BY created_at"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .context("loading due callbacks")
    }

    /// A callback request was posted to the desk: it waits for an agent like a live handoff.
    pub async fn callback_posted(&self, id: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE handoffs SET status = 'waiting', due_at = NULL WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .context("marking callback posted")?;
        Ok(())
    }

    /// An agent finishes this recovery instead of two passed methods (audited by the caller).
    pub async fn approve_recovery(&self, recovery_id: &str, agent: &str) -> anyhow::Result<bool> {
        Ok(
            sqlx::query("UPDATE recoveries SET approved_by = ? WHERE id = ? AND status = 'open'")
                .bind(agent)
                .bind(recovery_id)
                .execute(&self.pool)
                .await
                .context("approving recovery")?
                .rows_affected()
                > 0,
        )
    }

    pub async fn recovery_approver(&self, recovery_id: &str) -> anyhow::Result<Option<String>> {
        Ok(sqlx::query_scalar::<_, Option<String>>(
            "SELECT approved_by FROM recoveries WHERE id = ?",
        )
        .bind(recovery_id)
        .fetch_optional(&self.pool)
        .await
        .context("loading recovery approver")?
        .flatten())
    }
}
