//! A database for one test: a SQLite file in a temporary directory, or a fresh PostgreSQL
//! database on the server named by `SSPR_TEST_POSTGRES_URL` (default: the development machine's
//! `postgres://root@127.0.0.1:5432/postgres`, trust auth), created for the test and dropped by
//! [`TestDb::finish`]. A test that panics leaves its `sspr_test_…` database behind; the next
//! run drops those older than an hour.

#![allow(dead_code)]

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use sspr_bot::store::{Location, Store};

pub const DEFAULT_ADMIN_URL: &str = "postgres://root@127.0.0.1:5432/postgres";

pub fn admin_url() -> String {
    std::env::var("SSPR_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_string())
}

pub struct TestDb {
    pub store: Store,
    pub location: Location,
    /// PostgreSQL: the database's name, dropped by `finish`.
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::Sqlite(dir.path().join("sspr.db"));
        Self {
            store: Store::open_at(&location).await.unwrap(),
            location,
            pg_name: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Self {
        let (name, location) = create_database().await;
        Self {
            store: Store::open_at(&location).await.unwrap(),
            location,
            pg_name: Some(name),
            _dir: None,
        }
    }

    /// Closes the store and drops the PostgreSQL database.
    pub async fn finish(self) {
        self.store.close().await;
        if let Some(name) = self.pg_name {
            drop_database(&name).await;
        }
    }
}

async fn admin() -> sqlx::PgConnection {
    let options: PgConnectOptions = admin_url().parse().expect("SSPR_TEST_POSTGRES_URL");
    options.connect().await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {} ({e}); .ci/run starts it",
            admin_url()
        )
    })
}

/// A new, empty database: its name and its URL.
pub async fn create_database() -> (String, Location) {
    let mut conn = admin().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Leftovers of runs that panicked more than an hour ago.
    let old: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'sspr\\_test\\_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    for (name,) in old {
        let created: u64 = name
            .split('_')
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if created + 3600 < now {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
    }
    let name = format!("sspr_test_{now}_{:08x}", rand::random::<u32>());
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    // The admin URL with the new database's name as its path (credentials and options kept).
    let admin = admin_url();
    let (base, rest) = admin.rsplit_once('/').expect("a postgres:// URL");
    let query = rest
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    let url = format!("{base}/{name}{query}");
    (name, Location::Postgres(url))
}

pub async fn drop_database(name: &str) {
    let mut conn = admin().await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
}
