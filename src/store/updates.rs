use anyhow::Context;

use super::Store;

/// How long a processed update id is remembered; platforms redeliver within minutes, not days.
pub const UPDATE_MEMORY_SECS: i64 = 7 * 24 * 60 * 60;

impl Store {
    /// Records that `channel` took update `id`. False if it was taken before: drop it.
    pub async fn first_delivery(&self, channel: &str, id: &str, now: i64) -> anyhow::Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO processed_updates (channel, update_id, at) VALUES (?, ?, ?)
             ON CONFLICT (channel, update_id) DO NOTHING",
        )
        .bind(channel)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("recording update id")?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// Forgets update ids older than [`UPDATE_MEMORY_SECS`].
    pub async fn prune_updates(&self, now: i64) -> anyhow::Result<u64> {
        Ok(sqlx::query("DELETE FROM processed_updates WHERE at < ?")
            .bind(now - UPDATE_MEMORY_SECS)
            .execute(&self.pool)
            .await
            .context("pruning update ids")?
            .rows_affected())
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
        sqlx::query(
            "INSERT INTO chat_addresses (conversation_key, address, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (conversation_key) DO UPDATE SET address = excluded.address,
                 updated_at = excluded.updated_at",
        )
        .bind(conversation_key)
        .bind(address)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("saving chat address")?;
        Ok(())
    }

    pub async fn chat_address(&self, conversation_key: &str) -> anyhow::Result<Option<String>> {
        sqlx::query_scalar("SELECT address FROM chat_addresses WHERE conversation_key = ?")
            .bind(conversation_key)
            .fetch_optional(&self.pool)
            .await
            .context("loading chat address")
    }
}
