use anyhow::Context;

use super::on_db;
use super::Store;

/// How long a processed update id is remembered; platforms redeliver within minutes, not days.
pub const UPDATE_MEMORY_SECS: i64 = 7 * 24 * 60 * 60;

impl Store {
    /// Records that `channel` took update `id`. False if it was taken before: drop it.
    pub async fn first_delivery(&self, channel: &str, id: &str, now: i64) -> anyhow::Result<bool> {
        let inserted = on_db!(&self.db, p => sqlx::query(
            "INSERT INTO processed_updates (channel, update_id, at) VALUES ($1, $2, $3)
             ON CONFLICT (channel, update_id) DO NOTHING",
        )
        .bind(channel)
        .bind(id)
        .bind(now)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .context("recording update id")?;
        Ok(inserted == 1)
    }

    /// Forgets update ids older than [`UPDATE_MEMORY_SECS`].
    pub async fn prune_updates(&self, now: i64) -> anyhow::Result<u64> {
        on_db!(&self.db, p => sqlx::query("DELETE FROM processed_updates WHERE at < $1")
            .bind(now - UPDATE_MEMORY_SECS)
            .execute(p)
            .await.map(|r| r.rows_affected()))
        .context("pruning update ids")
    }
}

impl Store {
    /// Remembers where replies for `conversation_key` go (Teams' `serviceUrl`), for messages
    /// the bot sends without being written to first.
    pub async fn set_chat_address(
        &self,
        conversation_key: &str,
        address: &str,
        now: i64,
    ) -> anyhow::Result<()> {
        on_db!(&self.db, p => sqlx::query(
            "INSERT INTO chat_addresses (conversation_key, address, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (conversation_key) DO UPDATE SET address = excluded.address,
                 updated_at = excluded.updated_at",
        )
        .bind(conversation_key)
        .bind(address)
        .bind(now)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .context("saving chat address")?;
        Ok(())
    }

    pub async fn chat_address(&self, conversation_key: &str) -> anyhow::Result<Option<String>> {
        on_db!(&self.db, p => sqlx::query_scalar("SELECT address FROM chat_addresses WHERE conversation_key = $1")
            .bind(conversation_key)
            .fetch_optional(p)
            .await)
            .context("loading chat address")
    }
}
