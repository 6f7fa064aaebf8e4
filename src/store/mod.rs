//! Persistence on SQLite or PostgreSQL through sqlx: conversation state, recoveries and
//! challenges, throttle counters, the audit log and registered methods. Times are Unix seconds.
//!
//! Both databases run the same SQL text (placeholders `$1`, `$2`, … which sqlx's SQLite driver
//! reads by number too): [`on_db!`] expands a query once per driver, so each runs natively with
//! its own types. Where they differ (row locks, advisory locks) [`Db::is_postgres`] tells.
//!
//! SQLite: one connection does all the writing (SQLite has one writer; several pooled writers
//! only fight over the lock), in WAL mode with `synchronous=NORMAL`; one process owns the file.
//! PostgreSQL: a pool shared by the turns of this process, and any number of replicas on the same
//! database: a conversation's turns are serialised with an advisory lock held for the turn
//! ([`Store::lock_conversation`]), counters and code consumption are single atomic statements or
//! transactions under a per-account lock, processed update ids are one shared table.

mod audit;
mod conversations;
mod enrolments;
mod handoffs;
mod recoveries;
mod registrations;
mod throttles;
mod updates;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use audit::AuditRow;
pub use enrolments::{EnrolmentChallenge, EnrolmentRow, RegField, RegistrationTimes};
pub use handoffs::HandoffRow;
pub use recoveries::{ChallengeRow, RecoveryRow};
pub use registrations::Registration;
pub use throttles::LockScope;
pub use updates::UPDATE_MEMORY_SECS;

/// Runs `$body` with `$pool` bound to the SQLite or the PostgreSQL pool: the same query text,
/// compiled for each driver.
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// [`on_db!`] inside a transaction: `$conn` is the transaction's connection.
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::store::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

/// Where the data lives: `database.url` = `sqlite://PATH` or `postgres://…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    /// Reads a `database.url`: `sqlite://PATH` (or `sqlite:PATH`), `postgres://…` or
    /// `postgresql://…`.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            let path = rest.split('?').next().unwrap_or(rest);
            anyhow::ensure!(!path.is_empty(), "sqlite:// needs a file path");
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            url.parse::<PgConnectOptions>()
                .map_err(|e| anyhow::anyhow!("not a PostgreSQL URL: {}", scrub(&e.to_string())))?;
            return Ok(Self::Postgres(url.to_string()));
        }
        anyhow::bail!("expected sqlite://PATH or postgres://USER@HOST/DATABASE")
    }

    /// The SQLite file, if this is one (the server key and the outbox default to beside it).
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Self::Sqlite(p) => Some(p),
            Self::Postgres(_) => None,
        }
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Self {
        Self::Sqlite(p)
    }
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Self {
        Self::Sqlite(p.to_path_buf())
    }
}

impl std::fmt::Display for Location {
    /// For messages: the file, or the PostgreSQL server and database without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "{}", p.display()),
            Self::Postgres(url) => match url.parse::<PgConnectOptions>() {
                Ok(o) => write!(
                    f,
                    "postgres://{}@{}:{}/{}",
                    o.get_username(),
                    o.get_host(),
                    o.get_port(),
                    o.get_database().unwrap_or("")
                ),
                Err(_) => f.write_str("postgres://…"),
            },
        }
    }
}

/// A message about a URL without what might be a password in it.
fn scrub(message: &str) -> String {
    match (message.find("://"), message.find('@')) {
        (Some(a), Some(b)) if a < b => format!("{}://…{}", &message[..a], &message[b..]),
        _ => message.to_string(),
    }
}

/// The pool of one of the two databases.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    pub fn is_postgres(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    pub(crate) async fn begin(&self) -> sqlx::Result<Tx> {
        Ok(match self {
            Db::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// `" FOR UPDATE"` on PostgreSQL (a row read to be changed in the same transaction is locked
    /// against other replicas); nothing on SQLite, where a write transaction is already alone.
    pub(crate) fn for_update(&self) -> &'static str {
        if self.is_postgres() {
            " FOR UPDATE"
        } else {
            ""
        }
    }
}

/// A transaction on either database.
pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    pub(crate) async fn commit(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }

    /// PostgreSQL: waits for, then holds until the end of the transaction, the lock named `key`
    /// (a per-account counter, say), so replicas take turns. SQLite: nothing to do.
    pub(crate) async fn lock(&mut self, key: &str) -> sqlx::Result<()> {
        if let Tx::Postgres(t) = self {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .execute(&mut **t)
                .await?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    /// PostgreSQL: connections that hold conversations' turn locks, apart from the queries'
    /// pool, so turns holding a lock can always get a connection for their queries.
    locks: Option<PgPool>,
}

/// A conversation's turn, held in the database until dropped (PostgreSQL: an advisory lock in
/// a transaction that rolls back when its connection goes back to the pool, also when the turn
/// ends early). On SQLite, where one process owns the file, it holds nothing.
#[derive(Debug)]
pub struct ConversationLock {
    _tx: Option<sqlx::Transaction<'static, sqlx::Postgres>>,
}

/// Connections per process to PostgreSQL for queries (each replica has its own pool).
const PG_MAX_CONNECTIONS: u32 = 16;
/// Connections per process holding turn locks: at most this many conversations take a turn at
/// once in one replica; the others wait for a connection.
const PG_LOCK_CONNECTIONS: u32 = 32;

impl Store {
    /// Opens (creating if needed) the SQLite file at `path` and runs the migrations.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::connect_sqlite(options)
            .await
            .with_context(|| format!("opening database {}", path.display()))
    }

    /// Opens the database at `location` (creating a SQLite file if needed) and runs the
    /// migrations (PostgreSQL: `migrations/postgres`; replicas starting together take turns).
    pub async fn open_at(location: &Location) -> anyhow::Result<Self> {
        match location {
            Location::Sqlite(path) => Self::open(path).await,
            Location::Postgres(url) => Self::connect_postgres(url)
                .await
                .with_context(|| format!("opening database {location}")),
        }
    }

    /// Opens an existing database (for read-mostly commands like `audit`): a missing SQLite file
    /// is an error, not a new empty database.
    pub async fn open_existing(location: &Location) -> anyhow::Result<Self> {
        if let Location::Sqlite(path) = location {
            if !path.exists() {
                anyhow::bail!("no database at {}", path.display());
            }
        }
        Self::open_at(location).await
    }

    async fn connect_sqlite(options: SqliteConnectOptions) -> anyhow::Result<Self> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // The connection is in this process and cannot go stale: no ping before each query
        // (a round trip to sqlx's worker thread per statement).
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.statement_cache_capacity(256))
            .await
            .context("connecting to SQLite")?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("running database migrations")?;
        Ok(Self {
            db: Db::Sqlite(pool),
            locks: None,
        })
    }

    async fn connect_postgres(url: &str) -> anyhow::Result<Self> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| anyhow::anyhow!(scrub(&e.to_string())))?;
        let connect_error =
            |e: sqlx::Error| anyhow::anyhow!("connecting to PostgreSQL: {}", scrub(&e.to_string()));
        let pool = PgPoolOptions::new()
            .max_connections(PG_MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .map_err(connect_error)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .context("running database migrations")?;
        let locks = PgPoolOptions::new()
            .max_connections(PG_LOCK_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy_with(options);
        Ok(Self {
            db: Db::Postgres(pool),
            locks: Some(locks),
        })
    }

    /// The pool, for queries of the crate's own that are not store methods (admin, directory).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The SQLite pool, when this store is SQLite (tests inspect tables with it).
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.db {
            Db::Sqlite(p) => Some(p),
            Db::Postgres(_) => None,
        }
    }

    /// Closes every connection (a process handing its database to the next one).
    pub async fn close(&self) {
        if let Some(locks) = &self.locks {
            locks.close().await;
        }
        on_db!(&self.db, p => p.close().await)
    }

    /// Waits for, then holds, the turn of conversation `key` among all processes on this
    /// database (see [`ConversationLock`]).
    pub async fn lock_conversation(&self, key: &str) -> anyhow::Result<ConversationLock> {
        let Some(locks) = &self.locks else {
            return Ok(ConversationLock { _tx: None });
        };
        let mut tx = locks
            .begin()
            .await
            .context("taking the conversation's turn")?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 1))")
            .bind(key)
            .execute(&mut *tx)
            .await
            .context("taking the conversation's turn")?;
        Ok(ConversationLock { _tx: Some(tx) })
    }

    /// For `/readyz` and start-up checks.
    pub async fn ping(&self) -> anyhow::Result<()> {
        on_db!(&self.db, p => sqlx::query("SELECT 1").execute(p).await.map(|r| r.rows_affected()))?;
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
