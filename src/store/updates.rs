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
