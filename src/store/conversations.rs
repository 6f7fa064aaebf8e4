use anyhow::Context;

use super::on_db;
use super::Store;
use crate::dialogue::{Conversation, CONVERSATION_VERSION};

impl Store {
    /// The stored conversation, or `None` when there is none or it is of an older shape.
    pub async fn load_conversation(&self, key: &str) -> anyhow::Result<Option<Conversation>> {
        let row: Option<(String,)> =
            on_db!(&self.db, p => sqlx::query_as("SELECT data FROM conversations WHERE key = $1")
            .bind(key)
            .fetch_optional(p)
            .await)
            .context("loading conversation")?;
        Ok(row.and_then(
            |(data,)| match serde_json::from_str::<Conversation>(&data) {
                Ok(c) if c.version == CONVERSATION_VERSION => Some(c),
                Ok(_) | Err(_) => {
                    tracing::warn!(
                        conversation = key,
                        "stored conversation unreadable; starting over"
                    );
                    None
                }
            },
        ))
    }

    pub async fn save_conversation(
        &self,
        key: &str,
        conv: &Conversation,
        now: i64,
    ) -> anyhow::Result<()> {
        let data = serde_json::to_string(conv).context("serialising conversation")?;
        on_db!(&self.db, p => sqlx::query(
            "INSERT INTO conversations (key, data, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(data)
        .bind(now)
        .execute(p)
        .await.map(|r| r.rows_affected()))
        .context("saving conversation")?;
        Ok(())
    }
}
