//! `sspr-bot serve`: configuration in, HTTP endpoints and the Telegram channel up, a clean stop.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use sspr_bot::app::App;
use sspr_bot::config::Config;
use sspr_bot::recovery::SystemClock;
use tokio_util::sync::CancellationToken;

use crate::fake_telegram::FakeTelegram;

fn config_text(dir: &Path, listen: &str, telegram: Option<&str>) -> String {
    let mut text = format!(
        "[database]\nurl = \"sqlite://{db}\"\n[directory]\nbackend = \"embedded\"\nseed_demo = true\n\
         [providers]\noutbox = \"{outbox}\"\n[http]\nlisten = \"{listen}\"\n[log]\nformat = \"json\"\n",
        db = dir.join("sspr.db").display(),
        outbox = dir.join("outbox.jsonl").display(),
    );
    if let Some(api) = telegram {
        text.push_str(&format!(
            "[telegram]\ntoken = \"123:serve-test\"\napi_url = \"{api}\"\nmode = \"polling\"\n"
        ));
    }
    text
}

#[tokio::test]
async fn serve_answers_health_readiness_and_metrics_and_runs_telegram_until_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeTelegram::start("123:serve-test").await;
    let text = config_text(dir.path(), "127.0.0.1:0", Some(&fake.url));
    let config = Config::parse(Path::new("test.toml"), &text, Vec::new()).unwrap();
    let app = App::from_config(&config, Arc::new(SystemClock))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let server = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { sspr_bot::server::serve(app, &config, listener, shutdown).await })
    };
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            assert_eq!(r.status(), 200);
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the HTTP server came up");
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"database": "ok", "directory": "ok"})
    );

    // A Telegram user is served by the polling channel.
    fake.user_says(77, 77, Some("nl"), "hoi");
    let sent = fake.wait_for_sent(1, Duration::from_secs(10)).await;
    assert!(sent[0].text.contains("Wat is je loginnaam?"));

    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert!(metrics
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = metrics.text().await.unwrap();
    assert!(text.contains("sspr_turns_total 1"), "{text}");
    assert!(text.contains("sspr_errors_total 0"), "{text}");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("serve stops after shutdown")
        .unwrap()
        .unwrap();
}

#[test]
fn the_serve_binary_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("sspr.toml");
    std::fs::write(
        &config,
        config_text(dir.path(), &format!("127.0.0.1:{port}"), None),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_sspr-bot"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(up, "serve listens on the configured address");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit status {:?}", out.status);
    // JSON logs, as configured; the shutdown is logged.
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.lines()
            .any(|l| l.starts_with('{') && l.contains("SIGTERM")),
        "{logs}"
    );
}

#[test]
fn a_bad_configuration_file_stops_serve_with_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sspr.toml");
    std::fs::write(
        &config,
        "[http]\nlisten = \"127.0.0.1:1\"\n[telegram]\ntoken = \"1:a\"\nmode = \"pigeon\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sspr-bot"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 5") && err.contains("telegram.mode"),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn an_unreachable_telegram_stops_serve_without_printing_the_token() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("sspr.toml");
    let text = config_text(
        dir.path(),
        "127.0.0.1:0",
        Some(&format!("http://127.0.0.1:{closed}")),
    );
    std::fs::write(&config, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sspr-bot"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("getMe failed"), "{err}");
    assert!(
        !err.contains("serve-test"),
        "the bot token leaked into the output:\n{err}"
    );
}

const DISCORD_TOKEN: &str = "MTIz.serve-discord-token.xyz";

#[tokio::test]
async fn serve_runs_discord_with_its_helpdesk_channel_until_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let fake = crate::fake_discord::FakeDiscord::start(DISCORD_TOKEN).await;
    let (user, dm) = fake.dm_user("jan");
    let desk = fake.server_channel();
    let mut text = config_text(dir.path(), "127.0.0.1:0", None);
    text.push_str(&format!(
        "[helpdesk]\nagents = [\"discord:42\"]\ndiscord_channel_id = {desk}\n\
         [discord]\ntoken = \"{DISCORD_TOKEN}\"\napi_url = \"{}\"\n",
        fake.api_url
    ));
    let config = Config::parse(Path::new("test.toml"), &text, Vec::new()).unwrap();
    let app = App::from_config(&config, Arc::new(SystemClock))
        .await
        .unwrap();
    // An event id remembered eight days ago: serve forgets it at start.
    let core = Arc::clone(&app.core);
    let now = chrono::Utc::now().timestamp();
    assert!(core
        .store()
        .first_delivery("discord-message", "42", now - 8 * 24 * 3600)
        .await
        .unwrap());
    assert!(!core
        .store()
        .first_delivery("discord-message", "42", now)
        .await
        .unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    let server = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { sspr_bot::server::serve(app, &config, listener, shutdown).await })
    };
    fake.wait_ready(Duration::from_secs(10)).await;
    let mut forgotten = false;
    for _ in 0..100 {
        // Once pruned, the id is new again (and is remembered anew).
        if core
            .store()
            .first_delivery("discord-message", "42", now)
            .await
            .unwrap()
        {
            forgotten = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(forgotten, "old event ids are pruned when serve starts");
    fake.dm(user, "hoi");
    assert!(fake.wait_sent(dm, 1, Duration::from_secs(10)).await);
    assert!(fake.sent_in(dm)[0].content.contains("Wat is je loginnaam?"));
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("serve stops after shutdown")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_wrong_discord_token_stops_serve_without_printing_it() {
    let dir = tempfile::tempdir().unwrap();
    // The fake knows another token: GET /users/@me answers 401.
    let fake = crate::fake_discord::FakeDiscord::start("the-right-token").await;
    let config = dir.path().join("sspr.toml");
    let mut text = config_text(dir.path(), "127.0.0.1:0", None);
    text.push_str(&format!(
        "[discord]\ntoken = \"{DISCORD_TOKEN}\"\napi_url = \"{}\"\n",
        fake.api_url
    ));
    std::fs::write(&config, text).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sspr-bot"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "trace")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is discord.token right?") && err.contains("HTTP 401"),
        "{err}"
    );
    let all = format!("{err}{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        !all.contains("serve-discord-token"),
        "the bot token leaked into the output:\n{all}"
    );
}

#[tokio::test]
async fn discords_gateway_session_logs_no_token_or_message_text() {
    let dir = tempfile::tempdir().unwrap();
    let fake = crate::fake_discord::FakeDiscord::start(DISCORD_TOKEN).await;
    let (user, dm) = fake.dm_user("jan");
    let config = dir.path().join("sspr.toml");
    let mut text = config_text(dir.path(), "127.0.0.1:0", None);
    text.push_str(&format!(
        "[discord]\ntoken = \"{DISCORD_TOKEN}\"\napi_url = \"{}\"\n",
        fake.api_url
    ));
    std::fs::write(&config, text).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sspr-bot"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "trace,tungstenite=trace,serenity=trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Read both pipes as the process writes (trace logging fills a pipe's buffer fast).
    let read = |pipe: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text).await;
            }
            text
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    fake.wait_ready(Duration::from_secs(20)).await;
    fake.dm(user, "secret-looking-text-4711");
    assert!(fake.wait_sent(dm, 1, Duration::from_secs(10)).await);
    let pid = child.id().unwrap();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("serve stops on SIGTERM")
        .unwrap();
    let out = (
        status,
        format!("{}{}", stdout.await.unwrap(), stderr.await.unwrap()),
    );
    assert!(out.0.success(), "{}", out.1);
    assert!(
        !out.1.contains("serve-discord-token"),
        "the token was logged:\n{}",
        out.1
    );
    assert!(
        !out.1.contains("secret-looking-text-4711"),
        "message text was logged:\n{}",
        out.1
    );
}
