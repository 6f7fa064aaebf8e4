use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sspr_bot::admin;
use sspr_bot::app::{self, App};
use sspr_bot::channels::console;
use sspr_bot::config::{Config, LogFormat};
use sspr_bot::demo;
use sspr_bot::dialogue::Lang;
use sspr_bot::directory::{Directory, DirectoryError, EmbeddedDirectory};
use sspr_bot::recovery::{Rules, SystemClock};
use sspr_bot::server;
use sspr_bot::store::Store;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Self-service password reset and account unlock through a chat bot.
#[derive(Parser)]
#[command(name = "sspr-bot", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Chat with the bot in this terminal, on a SQLite file with the demo accounts (no setup).
    Demo {
        /// A JSON-lines protocol on stdin/stdout instead of the interactive chat.
        #[arg(long)]
        json: bool,
        /// The SQLite database (created and seeded on first start).
        #[arg(long, default_value = "sspr.db")]
        db: PathBuf,
        /// Where codes, calls and pushes are written (default: outbox.jsonl beside the database).
        #[arg(long)]
        outbox: Option<PathBuf>,
        /// Language of a new conversation.
        #[arg(long, value_parser = parse_lang)]
        lang: Option<Lang>,
    },
    /// Run the service: the HTTP server (/healthz, /readyz, /metrics) and the configured channels.
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// The terminal chat against the configured database, directory and providers.
    Chat {
        #[arg(long)]
        config: PathBuf,
        /// The JSON-lines protocol instead of the interactive chat.
        #[arg(long)]
        json: bool,
        #[arg(long, value_parser = parse_lang)]
        lang: Option<Lang>,
    },
    /// Registered verification methods: import, export, show, clear, report, rekey, unblock.
    Admin {
        /// The SQLite database of the embedded default.
        #[arg(long, default_value = "sspr.db", conflicts_with = "config")]
        db: PathBuf,
        /// Or the database of a configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Show the audit log, oldest first.
    Audit {
        #[arg(long, default_value = "sspr.db", conflicts_with = "config")]
        db: PathBuf,
        /// Or the database of a configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Only this account (login name).
        #[arg(long)]
        account: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

/// The terminal chat, interactive or JSON lines, on an opened app.
async fn run_console(
    app: App,
    json: bool,
    lang: Option<Lang>,
    outbox: Option<&str>,
) -> anyhow::Result<()> {
    let chat = console::chat();
    if let Some(lang) = lang {
        app.core.set_language(&chat, lang).await?;
    }
    let lang = lang.unwrap_or_default();
    if json {
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        console::run_json(app.core, app.localizer, lang, stdin, tokio::io::stdout()).await
    } else {
        console::run_interactive(app.core, app.localizer, lang, outbox).await
    }
}

#[derive(Subcommand)]
enum AdminAction {
    /// Import `login,alternate_email,mobile` rows; nothing is imported if a row is bad.
    Import {
        file: PathBuf,
        /// Import the good rows and report the bad ones.
        #[arg(long)]
        skip_bad: bool,
    },
    /// Every account's registrations as CSV (no secrets).
    Export,
    /// One account's methods and when they last changed.
    Show { upn: String },
    /// Remove one method (email, mobile, totp, push, questions) or all of an account's.
    Clear { upn: String, method: Option<String> },
    /// How many accounts can recover on their own.
    Report,
    /// Allow self-service recovery again after a "this wasn't me" report blocked it.
    Unblock { upn: String },
    /// Re-encrypt every stored authenticator secret with the current server key, reading old
    /// ones with the previous keys (see the README, "Rotating the server key").
    Rekey {
        /// A previous key file (repeatable); `security.previous_key_files` are used too.
        #[arg(long = "previous-key-file")]
        previous_key_files: Vec<PathBuf>,
    },
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    Lang::parse(s).ok_or_else(|| format!("unknown language {s:?}: use nl or en"))
}

/// Libraries that log what goes over the wire at debug or trace level: a Discord gateway frame
/// holds what a user typed, and a handshake the bot token. Never more than `info` from them,
/// whatever `RUST_LOG` says.
const WIRE_LOGGERS: &[&str] = &["tungstenite", "tokio_tungstenite", "serenity"];

/// Logs go to stderr; `RUST_LOG` wins over the configured level (except [`WIRE_LOGGERS`]).
fn init_logging(level: &str, json: bool) {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    for target in WIRE_LOGGERS {
        if let Ok(cap) = format!("{target}=info").parse() {
            filter = filter.add_directive(cap);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn load_config(path: &std::path::Path) -> anyhow::Result<Config> {
    Config::load(path).map_err(|e| anyhow::anyhow!("configuration: {e}"))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sspr-bot: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One readable line (with its causes), never a backtrace: this is for admins.
            eprintln!("sspr-bot: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => {
            let config = load_config(&config)?;
            init_logging(&config.log.level, config.log.format == LogFormat::Json);
            let app = App::from_config(&config, Arc::new(SystemClock)).await?;
            let listener = tokio::net::TcpListener::bind(config.http.listen)
                .await
                .with_context(|| format!("http.listen: cannot listen on {}", config.http.listen))?;
            let shutdown = CancellationToken::new();
            server::cancel_on_signals(shutdown.clone());
            server::serve(app, &config, listener, shutdown).await
        }
        Command::Chat { config, json, lang } => {
            let config = load_config(&config)?;
            // The terminal chat keeps the screen for the conversation: warnings only.
            init_logging("warn", config.log.format == LogFormat::Json);
            let app = App::from_config(&config, Arc::new(SystemClock)).await?;
            let outbox = app.outbox.as_ref().map(|o| o.path().display().to_string());
            run_console(app, json, lang, outbox.as_deref()).await
        }
        Command::Demo {
            json,
            db,
            outbox,
            lang,
        } => {
            init_logging("warn", false);
            let outbox = outbox.unwrap_or_else(|| demo::default_outbox(&db));
            let app = demo::open(&db, &outbox, Arc::new(SystemClock), Rules::default()).await?;
            run_console(app, json, lang, Some(&outbox.display().to_string())).await
        }
        Command::Admin { db, config, action } => {
            init_logging("warn", false);
            let config = config.map(|path| load_config(&path)).transpose()?;
            let db = config.as_ref().map_or(db.into(), Config::database);
            let store = Store::open_existing(&db).await?;
            let now = chrono::Utc::now().timestamp();
            let login = |upn: &str| {
                sspr_bot::domain::LoginName::parse(upn)
                    .map_err(|e| anyhow::anyhow!("{upn:?} is not a login name: {e}"))
            };
            match action {
                AdminAction::Import { file, skip_bad } => {
                    let text = std::fs::read_to_string(&file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    let report = admin::import(&store, &text, skip_bad, now).await?;
                    for bad in &report.bad {
                        eprintln!("{}:{}: {}", file.display(), bad.line, bad.problem);
                    }
                    if !report.bad.is_empty() && !skip_bad {
                        anyhow::bail!(
                            "{} bad row(s): nothing imported (fix them, or use --skip-bad)",
                            report.bad.len()
                        );
                    }
                    println!(
                        "imported {} account(s), skipped {} bad row(s)",
                        report.imported,
                        report.bad.len()
                    );
                    Ok(())
                }
                AdminAction::Export => {
                    print!("{}", admin::export(&store).await?);
                    Ok(())
                }
                AdminAction::Show { upn } => match admin::show(&store, &login(&upn)?).await? {
                    Some(card) => {
                        print!("{card}");
                        Ok(())
                    }
                    None => anyhow::bail!("{upn}: nothing registered"),
                },
                AdminAction::Clear { upn, method } => {
                    let what = match method.as_deref() {
                        Some(m) => Some(admin::Clearable::parse(m).ok_or_else(|| {
                            anyhow::anyhow!(
                                "unknown method {m:?}: use email, mobile, totp, push or questions"
                            )
                        })?),
                        None => None,
                    };
                    if admin::clear(&store, &login(&upn)?, what, now).await? {
                        println!("cleared");
                        Ok(())
                    } else {
                        anyhow::bail!("{upn}: nothing registered to clear")
                    }
                }
                AdminAction::Unblock { upn } => {
                    if admin::unblock(&store, &login(&upn)?, now).await? {
                        println!("unblocked");
                        Ok(())
                    } else {
                        anyhow::bail!("{upn}: recovery was not blocked")
                    }
                }
                AdminAction::Rekey { previous_key_files } => {
                    let (key_file, mut previous) = match &config {
                        Some(c) => {
                            let settings = app::Settings::from_config(c)?;
                            (settings.key_file, settings.previous_key_files)
                        }
                        None => (
                            app::default_key_path(
                                db.sqlite_path().context("--db names a SQLite file")?,
                            ),
                            Vec::new(),
                        ),
                    };
                    previous.extend(previous_key_files);
                    let keys = sspr_bot::recovery::Keys::load_or_create(&key_file)?
                        .with_previous(&previous)?;
                    let done = admin::rekey(&store, &keys, now).await?;
                    println!("re-encrypted with the current key: {}", done.re_encrypted);
                    println!("already with the current key:      {}", done.current);
                    println!(
                        "readable with no key:              {}",
                        done.unreadable.len()
                    );
                    for account in &done.unreadable {
                        eprintln!("{account}: the authenticator secret decrypts with none of the keys; it stays as it is (clear it and let the employee register again)");
                    }
                    if done.unreadable.is_empty() {
                        Ok(())
                    } else {
                        anyhow::bail!("{} secrets could not be read", done.unreadable.len())
                    }
                }
                AdminAction::Report => {
                    // A directory that cannot be set up or read still leaves the registrations'
                    // report, with a line saying why.
                    let accounts = match &config {
                        Some(config) => match app::directory_from_config(config, &store).await {
                            Ok(directory) => directory.list_accounts().await,
                            Err(e) => Err(DirectoryError::Unavailable(format!("{e:#}"))),
                        },
                        None => EmbeddedDirectory::new(&store).list_accounts().await,
                    };
                    print!("{}", admin::report(&store, accounts).await?);
                    Ok(())
                }
            }
        }
        Command::Audit {
            db,
            config,
            account,
            json,
        } => {
            init_logging("warn", false);
            let db = match config {
                Some(path) => load_config(&path)?.database(),
                None => db.into(),
            };
            let store = Store::open_existing(&db).await?;
            let account = match account {
                Some(a) => Some(
                    sspr_bot::domain::LoginName::parse(&a)
                        .map_err(|e| anyhow::anyhow!("--account {a:?}: {e}"))?
                        .to_string(),
                ),
                None => None,
            };
            for row in store.audit_log(account.as_deref()).await? {
                let time = chrono::DateTime::from_timestamp(row.time, 0)
                    .context("audit time out of range")?
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "time": time, "account": row.account, "chat_user": row.chat_user,
                            "event": row.event, "method": row.method, "outcome": row.outcome,
                            "detail": row.detail,
                        })
                    );
                } else {
                    println!(
                        "{time}  {:<28} {:<20} {:<10} {:<24} {}",
                        row.account,
                        row.event,
                        row.method.as_deref().unwrap_or("-"),
                        row.outcome,
                        row.detail.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
    }
}
