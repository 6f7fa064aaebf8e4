//! Persistence on SQLite through sqlx: conversation state, recoveries and challenges, throttle
//! counters, the audit log and registered methods. Times are Unix seconds.
//!
//! One connection does all the writing (SQLite has one writer; several pooled writers only fight
//! over the lock), in WAL mode with `synchronous=NORMAL`.

mod audit;
mod conversations;
mod enrolments;
mod handoffs;
mod recoveries;
mod registrations;
mod throttles;
mod updates;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use audit::AuditRow;
pub use enrolments::{EnrolmentChallenge, EnrolmentRow, RegField, RegistrationTimes};
pub use handoffs::HandoffRow;
pub use recoveries::{ChallengeRow, RecoveryRow};
pub use registrations::Registration;
pub use throttles::LockScope;

#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the SQLite file at `path` and runs the migrations.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::connect(options)
            .await
            .with_context(|| format!("opening database {}", path.display()))
    }

    /// Opens an existing SQLite file (for read-mostly commands like `audit`): a missing file is an
    /// error, not a new empty database.
    pub async fn open_existing(path: &Path) -> anyhow::Result<Self> {
        if !path.exists() {
            anyhow::bail!("no database at {}", path.display());
        }
        Self::open(path).await
    }

    async fn connect(options: SqliteConnectOptions) -> anyhow::Result<Self> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .context("connecting to SQLite")?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("running database migrations")?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// For `/readyz` and start-up checks.
    pub async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Joins method ids for the comma-separated columns.
pub(crate) fn join_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    ids.into_iter().collect::<Vec<_>>().join(",")
}

pub(crate) fn split_ids(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}
