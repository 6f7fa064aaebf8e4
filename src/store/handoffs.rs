//! Helpdesk handoffs and callback requests.

use anyhow::Context;

use super::on_db;
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
        on_db!(&self.db, p => sqlx::query(&format!(
            "INSERT INTO handoffs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
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
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .context("saving handoff")?;
        Ok(())
    }

    pub async fn handoff(&self, id: &str) -> anyhow::Result<Option<HandoffRow>> {
        on_db!(&self.db, p => sqlx::query_as(&format!("SELECT {COLUMNS} FROM handoffs WHERE id = $1"))
            .bind(id)
            .fetch_optional(p)
            .await)
            .context("loading handoff")
    }

    /// The handoff whose card the desk knows as `desk_ref`.
    pub async fn handoff_by_desk_ref(&self, desk_ref: &str) -> anyhow::Result<Option<HandoffRow>> {
        on_db!(&self.db, p => sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM handoffs WHERE desk_ref = $1 ORDER BY created_at DESC LIMIT 1"
        ))
        .bind(desk_ref)
        .fetch_optional(p)
        .await)
        .context("loading handoff by card")
    }

    pub async fn set_handoff_desk_ref(&self, id: &str, desk_ref: &str) -> anyhow::Result<()> {
        on_db!(&self.db, p => sqlx::query("UPDATE handoffs SET desk_ref = $1 WHERE id = $2")
            .bind(desk_ref)
            .bind(id)
            .execute(p)
            .await.map(|r| r.rows_affected()))
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
        Ok(on_db!(&self.db, p => sqlx::query(
            "UPDATE handoffs SET status = 'claimed', agent = $1, agent_name = $2, claimed_at = $3
             WHERE id = $4 AND status = 'waiting'",
        )
        .bind(agent)
        .bind(agent_name)
        .bind(now)
        .bind(id)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .context("claiming handoff")?
            > 0)
    }

    /// Ends a handoff that is still open (`waiting`, `claimed` or `queued`) with `status`.
    pub async fn end_handoff(&self, id: &str, status: &str, now: i64) -> anyhow::Result<bool> {
        Ok(on_db!(&self.db, p => sqlx::query(
            "UPDATE handoffs SET status = $1, closed_at = $2
             WHERE id = $3 AND status IN ('waiting', 'claimed', 'queued')",
        )
        .bind(status)
        .bind(now)
        .bind(id)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .context("ending handoff")?
            > 0)
    }

    /// The conversation's open live handoff, if any.
    pub async fn open_handoff(&self, conversation_key: &str) -> anyhow::Result<Option<HandoffRow>> {
        on_db!(&self.db, p => sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM handoffs WHERE conversation_key = $1 AND kind IN ('live', 'urgent')
             AND status IN ('waiting', 'claimed') ORDER BY created_at DESC LIMIT 1"
        ))
        .bind(conversation_key)
        .fetch_optional(p)
        .await)
        .context("loading open handoff")
    }

    /// Live handoffs nobody claimed before their deadline.
    pub async fn unclaimed_handoffs(&self, now: i64) -> anyhow::Result<Vec<HandoffRow>> {
        on_db!(&self.db, p => sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM handoffs WHERE status = 'waiting' AND due_at IS NOT NULL
             AND due_at <= $1 ORDER BY created_at"
        ))
        .bind(now)
        .fetch_all(p)
        .await)
        .context("loading unclaimed handoffs")
    }

    /// Callback requests whose time has come (the desk is open).
    pub async fn due_callbacks(&self, now: i64) -> anyhow::Result<Vec<HandoffRow>> {
        on_db!(&self.db, p => sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM handoffs WHERE kind = 'callback' AND status = 'queued'
             AND due_at <= $1 ORDER BY created_at"
        ))
        .bind(now)
        .fetch_all(p)
        .await)
        .context("loading due callbacks")
    }

    /// A callback request was posted to the desk: it waits for an agent like a live handoff.
    pub async fn callback_posted(&self, id: &str) -> anyhow::Result<()> {
        on_db!(&self.db, p => sqlx::query("UPDATE handoffs SET status = 'waiting', due_at = NULL WHERE id = $1")
            .bind(id)
            .execute(p)
            .await.map(|r| r.rows_affected()))
            .context("marking callback posted")?;
        Ok(())
    }

    /// An agent finishes this recovery instead of two passed methods (audited by the caller).
    pub async fn approve_recovery(&self, recovery_id: &str, agent: &str) -> anyhow::Result<bool> {
        Ok(
            on_db!(&self.db, p => sqlx::query("UPDATE recoveries SET approved_by = $1 WHERE id = $2 AND status = 'open'")
                .bind(agent)
                .bind(recovery_id)
                .execute(p)
                .await.map(|r| r.rows_affected()))
                .context("approving recovery")?
                > 0,
        )
    }

    pub async fn recovery_approver(&self, recovery_id: &str) -> anyhow::Result<Option<String>> {
        Ok(
            on_db!(&self.db, p => sqlx::query_scalar::<_, Option<String>>(
            "SELECT approved_by FROM recoveries WHERE id = $1",
        )
        .bind(recovery_id)
        .fetch_optional(p)
        .await)
            .context("loading recovery approver")?
            .flatten(),
        )
    }
}

impl Store {
    /// Blocks self-service recovery of `account` after "this wasn't me"; false if already.
    pub async fn report_account(&self, account: &str, via: &str, now: i64) -> anyhow::Result<bool> {
        Ok(on_db!(&self.db, p => sqlx::query(
            "INSERT INTO reported_accounts (account, reported_at, via) VALUES ($1, $2, $3)
             ON CONFLICT (account) DO NOTHING",
        )
        .bind(account)
        .bind(now)
        .bind(via)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .context("blocking a reported account")?
            > 0)
    }

    pub async fn is_reported(&self, account: &str) -> anyhow::Result<bool> {
        Ok(on_db!(&self.db, p => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM reported_accounts WHERE account = $1",
            )
            .bind(account)
            .fetch_one(p)
            .await)
        .context("checking reported accounts")?
            > 0)
    }

    /// Lifts the block (an admin, after talking to the owner); false if there was none.
    pub async fn unreport_account(&self, account: &str) -> anyhow::Result<bool> {
        Ok(
            on_db!(&self.db, p => sqlx::query("DELETE FROM reported_accounts WHERE account = $1")
                .bind(account)
                .execute(p)
                .await.map(|r| r.rows_affected()))
            .context("unblocking an account")?
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
        on_db!(&self.db, p => sqlx::query_scalar(
            "SELECT account FROM recoveries WHERE conversation_key = $1 AND status = 'done'
             AND updated_at >= $2 ORDER BY updated_at DESC LIMIT 1",
        )
        .bind(conversation_key)
        .bind(since)
        .fetch_optional(p)
        .await)
        .context("loading the last finished recovery")
    }
}

impl Store {
    /// The user said they do not have their phone in this recovery.
    pub async fn set_phone_lost(&self, recovery_id: &str) -> anyhow::Result<()> {
        on_db!(&self.db, p => sqlx::query("UPDATE recoveries SET phone_lost = TRUE WHERE id = $1")
            .bind(recovery_id)
            .execute(p)
            .await.map(|r| r.rows_affected()))
        .context("recording a lost phone")?;
        Ok(())
    }

    pub async fn phone_lost(&self, recovery_id: &str) -> anyhow::Result<bool> {
        Ok(
            on_db!(&self.db, p => sqlx::query_scalar::<_, bool>("SELECT phone_lost FROM recoveries WHERE id = $1")
                .bind(recovery_id)
                .fetch_optional(p)
                .await)
                .context("loading the lost-phone flag")?
                .unwrap_or(false),
        )
    }

    /// Methods of `account` suspended after a recovery without the phone.
    pub async fn suspended_methods(&self, account: &str) -> anyhow::Result<Vec<String>> {
        Ok(self.registration_with_suspended(account).await?.1)
    }

    pub async fn set_suspended_methods(
        &self,
        account: &str,
        methods: &[String],
        now: i64,
    ) -> anyhow::Result<()> {
        let list = methods.join(",");
        on_db!(&self.db, p => sqlx::query(
            "INSERT INTO registrations (account, suspended, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (account) DO UPDATE SET suspended = excluded.suspended",
        )
        .bind(account)
        .bind((!list.is_empty()).then_some(list))
        .bind(now)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .context("saving suspended methods")?;
        Ok(())
    }
}
