//! The bots under test: how to seed their databases, start and stop them, and read their CPU
//! time and memory from /proc.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use std::process::{Command, ExitStatus};

/// A bot's process (std's, polled: the crate's tokio has no `process` feature, and enabling it
/// for the benchmark alone would rebuild the whole dependency tree). Killed when dropped.
pub struct Child {
    inner: std::process::Child,
    exited: Option<ExitStatus>,
}

impl Child {
    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    /// The exit status, if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.inner.try_wait().ok().flatten();
        }
        self.exited
    }

    /// Waits (polling) until the process exits.
    pub async fn wait(&mut self) -> ExitStatus {
        loop {
            if let Some(s) = self.try_wait() {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.inner.kill();
            let _ = self.inner.wait();
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sspr,
    Ptb,
    Aiogram,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Sspr, Kind::Ptb, Kind::Aiogram];

    /// The short id used on the command line and in the JSON.
    pub fn id(self) -> &'static str {
        match self {
            Kind::Sspr => "sspr-bot",
            Kind::Ptb => "ptb",
            Kind::Aiogram => "aiogram",
        }
    }

    /// The column title.
    pub fn title(self) -> &'static str {
        match self {
            Kind::Sspr => "sspr-bot",
            Kind::Ptb => "python-telegram-bot 22",
            Kind::Aiogram => "aiogram 3",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sspr-bot" | "sspr" => Some(Kind::Sspr),
            "ptb" | "python-telegram-bot" => Some(Kind::Ptb),
            "aiogram" => Some(Kind::Aiogram),
            _ => None,
        }
    }

    fn script(self) -> Option<&'static str> {
        match self {
            Kind::Sspr => None,
            Kind::Ptb => Some("ptb_bot.py"),
            Kind::Aiogram => Some("aiogram_bot.py"),
        }
    }
}

/// Where things are, shared by every bot.
pub struct Env {
    pub sspr_bin: PathBuf,
    pub python: PathBuf,
    pub peers_dir: PathBuf,
    pub workdir: PathBuf,
    pub token: String,
}

/// One bot's files: its database, configuration and log.
pub struct Bot {
    pub kind: Kind,
    pub dir: PathBuf,
    pub db: PathBuf,
    pub log: PathBuf,
}

impl Bot {
    pub fn new(kind: Kind, env: &Env) -> anyhow::Result<Bot> {
        let dir = env.workdir.join(kind.id());
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(Bot {
            kind,
            db: dir.join("bench.db"),
            log: dir.join("bot.log"),
            dir,
        })
    }

    /// Why this bot cannot run here, if it cannot.
    pub fn unavailable(kind: Kind, env: &Env) -> Option<String> {
        match kind.script() {
            None if !env.sspr_bin.is_file() => Some(format!(
                "{} not found (run bench/run, which builds it)",
                env.sspr_bin.display()
            )),
            None => None,
            Some(script) => {
                let path = env.peers_dir.join(script);
                if !path.is_file() {
                    Some(format!("{} is missing", path.display()))
                } else if !env.python.exists() {
                    Some(format!(
                        "{} not found (bench/run creates the venv)",
                        env.python.display()
                    ))
                } else {
                    None
                }
            }
        }
    }

    /// Creates and seeds the bot's database with `n` load-test accounts.
    pub async fn seed(&self, env: &Env, n: usize) -> anyhow::Result<()> {
        match self.kind.script() {
            None => sspr_bot::demo::seed_load_accounts(&self.db, n).await,
            Some(script) => {
                let mut cmd = Command::new(&env.python);
                cmd.arg(env.peers_dir.join(script))
                    .arg("--seed")
                    .arg(n.to_string())
                    .arg("--db")
                    .arg(&self.db)
                    .env("PYTHONUNBUFFERED", "1")
                    .stdin(Stdio::null());
                let out = tokio::task::spawn_blocking(move || cmd.output())
                    .await?
                    .with_context(|| format!("running {script} --seed"))?;
                anyhow::ensure!(
                    out.status.success(),
                    "{script} --seed {n} failed ({}): {}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                Ok(())
            }
        }
    }

    /// Starts the bot against the fake Telegram at `api_url` and the SMTP sink at `smtp_port`.
    pub fn spawn(&self, env: &Env, api_url: &str, smtp_port: u16) -> anyhow::Result<Child> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut cmd = match self.kind.script() {
            None => {
                let http_port = free_port()?;
                let config = self.dir.join("bench.toml");
                std::fs::write(
                    &config,
                    format!(
                        r#"# Written by bench/loadgen for one benchmark run.
[database]
url = "sqlite://{db}"

[directory]
backend = "embedded"
seed_demo = false

[http]
listen = "127.0.0.1:{http_port}"

[log]
level = "warn"

[telegram]
token = "{token}"
api_url = "{api_url}"
mode = "polling"

[email]
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
tls = "none"
from = "SSPR <sspr@bedrijf.nl>"
"#,
                        db = self.db.display(),
                        token = env.token,
                    ),
                )?;
                let mut c = Command::new(&env.sspr_bin);
                c.arg("serve").arg("--config").arg(config);
                c
            }
            Some(script) => {
                let mut c = Command::new(&env.python);
                c.arg(env.peers_dir.join(script))
                    .arg("--base-url")
                    .arg(api_url)
                    .arg("--token")
                    .arg(&env.token)
                    .arg("--db")
                    .arg(&self.db)
                    .arg("--smtp-host")
                    .arg("127.0.0.1")
                    .arg("--smtp-port")
                    .arg(smtp_port.to_string())
                    .env("PYTHONUNBUFFERED", "1");
                c
            }
        };
        // Nothing from the caller's environment may change the configuration or the logging.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SSPR_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env_remove("RUST_LOG");
        cmd.current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let inner = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.kind.title()))?;
        Ok(Child {
            inner,
            exited: None,
        })
    }

    /// The last lines of the bot's log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// SIGTERM, then SIGKILL after `grace`.
pub async fn stop(child: &mut Child, grace: Duration) {
    if child.try_wait().is_some() {
        return;
    }
    let pid = child.id().to_string();
    let _ =
        tokio::task::spawn_blocking(move || Command::new("kill").arg("-TERM").arg(pid).status())
            .await;
    if tokio::time::timeout(grace, child.wait()).await.is_ok() {
        return;
    }
    kill(child).await;
}

pub async fn kill(child: &mut Child) {
    if child.try_wait().is_none() {
        let _ = child.inner.kill();
        child.wait().await;
    }
}

/// utime + stime of a process in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// (VmHWM, VmRSS) of a process in KiB.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|l| {
            l.strip_prefix(name)?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// The CPU time of this process (the generator) in clock ticks.
pub fn own_cpu_ticks() -> Option<u64> {
    cpu_ticks(std::process::id())
}
