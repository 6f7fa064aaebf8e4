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

impl Store {
    /// Blocks self-service recovery of `account` after "this wasn't me"; false if already.
    pub async fn report_account(&self, account: &str, via: &str, now: i64) -> anyhow::Result<bool> {
        Ok(sqlx::query(
            "INSERT INTO reported_accounts (account, reported_at, via) VALUES (?, ?, ?)
             ON CONFLICT (account) DO NOTHING",
        )
        .bind(account)
        .bind(now)
        .bind(via)
        .execute(&self.pool)
        .await
        .context("blocking a reported account")?
        .rows_affected()
            > 0)
    }

    pub async fn is_reported(&self, account: &str) -> anyhow::Result<bool> {
        Ok(
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM reported_accounts WHERE account = ?",
            )
            .bind(account)
            .fetch_one(&self.pool)
            .await
            .context("checking reported accounts")?
                > 0,
        )
    }

    /// Lifts the block (an admin, after talking to the owner); false if there was none.
    pub async fn unreport_account(&self, account: &str) -> anyhow::Result<bool> {
        Ok(
            sqlx::query("DELETE FROM reported_accounts WHERE account = ?")
                .bind(account)
                .execute(&self.pool)
                .await
                .context("unblocking an account")?
                .rows_affected()
                > 0,
        )
    }

    /// The newest finished recovery of a conversation since `since` (what "this wasn't me"
    /// in that chat is about).
    pub async fn last_finished_recovery(
        &self,
        conversation_key: &str,
        since: i64,
    ) -> anyhow::Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT account FROM recoveries WHERE conversation_key = ? AND status = 'done'
             AND updated_at >= ? ORDER BY updated_at DESC LIMIT 1",
        )
        .bind(conversation_key)
        .bind(since)
        .fetch_optional(&self.pool)
        .await
        .context("loading the last finished recovery")
    }
}

impl Store {
    /// The user said they do not have their phone in this recovery.
    pub async fn set_phone_lost(&self, recovery_id: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE recoveries SET phone_lost = 1 WHERE id = ?")
            .bind(recovery_id)
            .execute(&self.pool)
            .await
            .context("recording a lost phone")?;
        Ok(())
    }

    pub async fn phone_lost(&self, recovery_id: &str) -> anyhow::Result<bool> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT phone_lost FROM recoveries WHERE id = ?")
                .bind(recovery_id)
                .fetch_optional(&self.pool)
                .await
                .context("loading the lost-phone flag")?
                .unwrap_or(0)
                != 0,
        )
    }

    /// Methods of `account` suspended after a recovery without the phone.
    pub async fn suspended_methods(&self, account: &str) -> anyhow::Result<Vec<String>> {
        let list: Option<Option<String>> =
            sqlx::query_scalar("SELECT suspended FROM registrations WHERE account = ?")
                .bind(account)
                .fetch_optional(&self.pool)
                .await
                .context("loading suspended methods")?;
        Ok(super::split_ids(&list.flatten().unwrap_or_default()))
    }

    pub async fn set_suspended_methods(
        &self,
        account: &str,
        methods: &[String],
        now: i64,
    ) -> anyhow::Result<()> {
        let list = methods.join(",");
        sqlx::query(
            "INSERT INTO registrations (account, suspended, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (account) DO UPDATE SET suspended = excluded.suspended",
        )
        .bind(account)
        .bind((!list.is_empty()).then_some(list))
        .bind(now)
        .execute(&self.pool)
        .await
        .context("saving suspended methods")?;
        Ok(())
    }
}
