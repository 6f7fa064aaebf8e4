//! argon2id hashing of passwords (embedded directory) and security answers, on a bounded pool of
//! blocking threads so a hash never stalls the async threads other conversations run on.
//!
//! Each argon2id run takes ~19 MiB and a core for tens of milliseconds. Left to tokio's blocking
//! pool (up to 512 threads) a burst of security-question checks would take gigabytes and every
//! core at once; here at most [`pool_size`] run together (one per core) and the rest wait their
//! turn. How long they wait shows in `/metrics` as `sspr_argon2_queue_seconds`, and how many
//! wait right now as `sspr_argon2_waiting`.

use std::sync::OnceLock;
use std::time::Instant;

use anyhow::Context;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::Semaphore;

/// The bounded pool and its figures; one per process.
pub struct Pool {
    permits: Semaphore,
    size: usize,
    /// Seconds from asking for a hash to it starting.
    pub queue_seconds: Histogram,
    /// Hashes waiting for a free thread right now.
    pub waiting: Gauge,
}

/// The process's argon2 pool.
pub fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(default_size()))
}

/// How many argon2 runs may go at once: one per available core.
pub fn pool_size() -> usize {
    pool().size
}

fn default_size() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

impl Pool {
    fn new(size: usize) -> Self {
        let size = size.max(1);
        Self {
            permits: Semaphore::new(size),
            size,
            // 1 ms … ~8 s.
            queue_seconds: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 14),
            ),
            waiting: Gauge::default(),
        }
    }

    /// Runs `job` on a blocking thread once one of the pool's places is free.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let asked = Instant::now();
        let permit = {
            // Counted as waiting until a place is free, also if the caller gives up meanwhile.
            let _waiting = WaitingGuard::new(&self.waiting);
            self.permits.acquire().await.context("argon2 pool closed")?
        };
        self.queue_seconds.observe(asked.elapsed().as_secs_f64());
        let out = tokio::task::spawn_blocking(job)
            .await
            .context("argon2 task")?;
        drop(permit);
        Ok(out)
    }
}

struct WaitingGuard<'a>(&'a Gauge);

impl<'a> WaitingGuard<'a> {
    fn new(g: &'a Gauge) -> Self {
        g.inc();
        Self(g)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// An argon2id PHC string of `secret` (default parameters: m=19 MiB, t=2, p=1).
pub async fn hash(secret: String) -> anyhow::Result<String> {
    pool()
        .run(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(secret.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2 hashing: {e}"))
        })
        .await?
}

/// Whether `secret` matches the PHC string `phc`.
pub async fn verify(secret: String, phc: String) -> anyhow::Result<bool> {
    pool()
        .run(move || {
            let parsed = PasswordHash::new(&phc)
                .map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
            Ok(Argon2::default()
                .verify_password(secret.as_bytes(), &parsed)
                .is_ok())
        })
        .await?
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_secret_only() {
        let h = super::hash("Haarlem".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("Haarlem"));
        assert!(super::verify("Haarlem".into(), h.clone()).await.unwrap());
        assert!(!super::verify("Harlem".into(), h).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_the_pool_size_run_at_once_and_the_wait_is_measured() {
        let pool = Arc::new(Pool::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut jobs = Vec::new();
        for _ in 0..8 {
            let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
            jobs.push(tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
                .unwrap()
            }));
        }
        for j in jobs {
            j.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(pool.waiting.get(), 0);
        let mut text = String::new();
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("q", "queue", pool.queue_seconds.clone());
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("q_count 8"), "{text}");
        // Six of the eight waited at least one 20 ms round.
        let waited: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("q_sum "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap();
        assert!(waited >= 0.1, "{waited}");
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_while_waiting_is_no_longer_counted() {
        let pool = Arc::new(Pool::new(1));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = rx.blocking_recv();
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|| ()).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(pool.waiting.get(), 1);
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(pool.waiting.get(), 0);
        tx.send(()).unwrap();
        busy.await.unwrap().unwrap();
    }
}
