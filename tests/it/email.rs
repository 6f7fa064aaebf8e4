//! E-mail over SMTP against a real SMTP server: `aiosmtpd` (PyPI; `.ci/run` installs it, or the
//! tests install it once into the target directory) started
//! per test on a free loopback port, with a small handler that writes every received message,
//! decoded by Python's own `email` package, as JSON into a directory the test reads.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sspr_bot::config::{EmailConfig, Secret, SmtpTls};
use sspr_bot::dialogue::Lang;
use sspr_bot::domain::{EmailAddress, OtpCode};
use sspr_bot::i18n::Localizer;
use sspr_bot::providers::smtp::SmtpEmail;
use sspr_bot::providers::{EmailSender, Providers};

use crate::support::*;

const JAN_PRIVATE: &str = "jan.devries@privemail.example";
const FROM: &str = "SSPR <sspr@bedrijf.nl>";
const SMTP_PASSWORD: &str = "Sm7p-wachtwoord-geheim";

/// The aiosmtpd handler: `accept` stores messages; `reject` answers 550 to every recipient.
const SINK_PY: &str = r#"
import email, email.policy, json, os

class JsonSink:
    def __init__(self, out_dir, mode="accept"):
        self.out_dir = out_dir
        self.mode = mode
        self.count = 0

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(*args)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.mode == "reject":
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        sender = msg["From"].addresses[0]
        parts = [
            {"type": p.get_content_type(), "body": p.get_content()}
            for p in msg.walk()
            if not p.is_multipart()
        ]
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from_name": sender.display_name,
            "from_addr": sender.addr_spec,
            "to": [a.addr_spec for a in msg["To"].addresses],
            "cc": msg["Cc"],
            "bcc": msg["Bcc"],
            "subject": str(msg["Subject"]),
            "content_type": msg.get_content_type(),
            "parts": parts,
        }
        self.count += 1
        tmp = os.path.join(self.out_dir, ".%04d.tmp" % self.count)
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.out_dir, "%04d.json" % self.count))
        return "250 Message accepted"
"#;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where Python finds aiosmtpd: installed already (CI installs it), or else installed once by the
/// tests themselves into the target directory, so `cargo test` alone works on a fresh machine.
fn aiosmtpd_dir() -> Option<&'static std::path::Path> {
    static DIR: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let installed = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if installed {
            return None;
        }
        let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("python");
        if !target.join("aiosmtpd").exists() {
            let ok = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "--target"])
                .arg(&target)
                .arg("aiosmtpd")
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "aiosmtpd is not installed and `pip install aiosmtpd` failed"
            );
        }
        Some(target)
    })
    .as_deref()
}

/// The handler's folder, then aiosmtpd's when the tests installed it.
fn python_path(handler: &std::path::Path) -> std::ffi::OsString {
    let mut paths = vec![handler.to_path_buf()];
    paths.extend(aiosmtpd_dir().map(std::path::Path::to_path_buf));
    std::env::join_paths(paths).expect("temporary paths contain no separator")
}

/// A running aiosmtpd; killed when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    fn start() -> Self {
        Self::start_in("accept")
    }

    fn start_in(mode: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sink.py"), SINK_PY).unwrap();
        let out = dir.path().join("received");
        std::fs::create_dir(&out).unwrap();
        let log = std::fs::File::create(dir.path().join("aiosmtpd.log")).unwrap();
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "sink.JsonSink"])
            .arg(&out)
            .arg(mode)
            .env("PYTHONPATH", python_path(dir.path()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("python3 runs (aiosmtpd: python3 -m pip install aiosmtpd)");
        let mut server = Self { child, port, dir };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "aiosmtpd exited ({status}) — is it installed (python3 -m pip install \
                     aiosmtpd)?\n{}",
                    self.log()
                );
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on port {}:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("aiosmtpd.log")).unwrap_or_default()
    }

    fn received_dir(&self) -> PathBuf {
        self.dir.path().join("received")
    }

    /// Every message received so far, oldest first.
    fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.received_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }

    /// Waits (briefly) until `n` messages have arrived, and returns them.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let messages = self.messages();
            if messages.len() >= n || Instant::now() > deadline {
                assert_eq!(messages.len(), n, "messages received:\n{messages:#?}");
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn config(&self) -> EmailConfig {
        config(self.port, SmtpTls::None)
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(port: u16, tls: SmtpTls) -> EmailConfig {
    EmailConfig {
        smtp_host: "127.0.0.1".into(),
        smtp_port: port,
        tls,
        username: None,
        password: None,
        password_file: None,
        from: FROM.into(),
        timeout_secs: 5,
    }
}

/// The demo app with e-mail going out over SMTP (every other method through the outbox).
async fn app_with_smtp(config: &EmailConfig, lang: Lang) -> TestApp {
    let t = TestApp::with_providers(|outbox, l10n| Providers {
        email: Some(Arc::new(SmtpEmail::new(config, l10n).unwrap())),
        ..outbox
    })
    .await;
    if lang == Lang::En {
        t.say("/taal en").await.expect("English");
    }
    t
}

fn part<'a>(message: &'a Value, content_type: &str) -> &'a str {
    let parts = message["parts"].as_array().unwrap();
    parts
        .iter()
        .find(|p| p["type"] == content_type)
        .and_then(|p| p["body"].as_str())
        .unwrap_or_else(|| panic!("no {content_type} part in {message:#}"))
}

/// The six-digit code in an e-mail's plain text: the only run of exactly six digits.
fn code_in(text: &str) -> String {
    let runs: Vec<&str> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() == 6)
        .collect();
    assert_eq!(runs.len(), 1, "one six-digit code in:\n{text}");
    runs[0].to_string()
}

#[track_caller]
fn assert_sent_to_jan_only(m: &Value) {
    assert_eq!(m["rcpt_tos"], serde_json::json!([JAN_PRIVATE]), "{m:#}");
    assert_eq!(m["to"], serde_json::json!([JAN_PRIVATE]), "{m:#}");
    assert!(m["cc"].is_null() && m["bcc"].is_null(), "{m:#}");
    assert_eq!(m["mail_from"], "sspr@bedrijf.nl");
    assert_eq!(m["from_addr"], "sspr@bedrijf.nl");
    assert_eq!(m["from_name"], "SSPR");
    assert_eq!(m["content_type"], "multipart/alternative", "{m:#}");
}

#[tokio::test]
async fn a_code_email_reaches_the_alternate_address_in_the_conversations_language() {
    let server = SmtpServer::start();
    for (i, lang) in [Lang::Nl, Lang::En].into_iter().enumerate() {
        let t = app_with_smtp(&server.config(), lang).await;
        t.start(JAN, "reason:forgot").await;
        t.press("method:email").await.expect(tr(
            lang,
            "We hebben een e-mail met een verificatiecode gestuurd",
            "We sent an e-mail",
        ));
        let messages = server.wait_for(i + 1).await;
        let m = &messages[i];
        assert_sent_to_jan_only(m);
        assert_eq!(
            m["subject"],
            tr(
                lang,
                "Je verificatiecode voor wachtwoordherstel",
                "Your password reset verification code"
            )
        );
        let text = part(m, "text/plain");
        let html = part(m, "text/html");
        let code = code_in(text);
        assert!(html.contains(&code), "{html}");
        assert!(
            text.contains(tr(lang, "10 minuten geldig", "valid for 10 minutes")),
            "{text}"
        );
        assert!(text.contains("020-40 777 55"), "{text}");
        assert!(
            html.contains(&format!("<html lang=\"{}\">", lang.code())),
            "{html}"
        );
        assert!(html.contains("<strong"), "{html}");
        // Nothing went to the outbox: e-mail left over SMTP.
        assert!(
            !t.outbox_lines()
                .await
                .iter()
                .any(|l| l["channel"] == "email"),
            "{:?}",
            t.outbox_lines().await
        );
        assert!(t.audit(JAN).await.contains(&(
            "code_sent".into(),
            Some("email".into()),
            "ok".into()
        )));
    }
}

#[tokio::test]
async fn jan_resets_his_password_with_the_code_from_the_email_and_is_told_by_email() {
    let server = SmtpServer::start();
    let t = app_with_smtp(&server.config(), Lang::Nl).await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:email").await;
    let messages = server.wait_for(1).await;
    let code = code_in(part(&messages[0], "text/plain"));
    t.say(&code)
        .await
        .expect("Gelukt! Kies nu een tweede, andere methode.");
    t.pass_totp(JAN_TOTP)
        .await
        .expect("Beide verificatiestappen zijn gelukt.");
    t.say(GOOD_PASSWORD)
        .await
        .expect("Typ hetzelfde wachtwoord nog een keer ter bevestiging.");
    t.say(GOOD_PASSWORD)
        .await
        .expect("Je wachtwoord is gewijzigd.");
    assert!(
        t.sign_in(JAN, GOOD_PASSWORD).await,
        "the new password works"
    );

    let messages = server.wait_for(2).await;
    let notice = &messages[1];
    assert_sent_to_jan_only(notice);
    assert_eq!(
        notice["subject"],
        "Het wachtwoord van je account is gewijzigd"
    );
    for body in [part(notice, "text/plain"), part(notice, "text/html")] {
        assert!(body.contains(JAN), "{body}");
        assert!(body.contains("020-40 777 55"), "{body}");
        assert!(!body.contains(GOOD_PASSWORD), "{body}");
        assert!(!body.contains(&code), "{body}");
    }
    let audit = t.audit(JAN).await;
    assert!(
        audit.contains(&(
            "notification_sent".into(),
            Some("email".into()),
            "ok".into()
        )),
        "{audit:?}"
    );
    assert!(
        audit.contains(&("password_reset".into(), None, "ok".into())),
        "{audit:?}"
    );
}

#[tokio::test]
async fn an_smtp_server_that_is_down_gives_the_unavailable_reply_and_no_password_in_errors() {
    let port = free_port(); // nothing listens here
    let mut cfg = config(port, SmtpTls::Starttls);
    cfg.username = Some("sspr".into());
    cfg.password = Some(Secret::new(SMTP_PASSWORD));

    let t = app_with_smtp(&cfg, Lang::Nl).await;
    t.start(JAN, "reason:forgot").await;
    t.press("method:email")
        .await
        .expect("Het lukt nu even niet")
        .expect_not("We hebben een e-mail met een verificatiecode gestuurd");
    let audit = t.audit(JAN).await;
    assert!(
        audit.contains(&(
            "code_sent".into(),
            Some("email".into()),
            "provider_error".into()
        )),
        "{audit:?}"
    );
    assert!(!t.all_stored_text().await.contains(SMTP_PASSWORD));

    let smtp = SmtpEmail::new(&cfg, Arc::new(Localizer::new().unwrap())).unwrap();
    let code = OtpCode::parse("246810").unwrap();
    let to = EmailAddress::parse(JAN_PRIVATE).unwrap();
    let e = smtp.send_code(&to, &code, Lang::Nl).await.unwrap_err();
    let shown = e.to_string();
    assert_eq!(e.provider, "smtp");
    assert!(shown.contains(&port.to_string()), "{shown}");
    assert!(!shown.contains(SMTP_PASSWORD), "{shown}");
    assert!(!shown.contains("246810"), "{shown}");
    assert!(!format!("{e:?}").contains(SMTP_PASSWORD));
}

#[tokio::test]
async fn a_5xx_answer_is_a_provider_error() {
    let server = SmtpServer::start_in("reject");
    let smtp = SmtpEmail::new(&server.config(), Arc::new(Localizer::new().unwrap())).unwrap();
    let code = OtpCode::parse("135790").unwrap();
    let to = EmailAddress::parse(JAN_PRIVATE).unwrap();
    let e = smtp.send_code(&to, &code, Lang::En).await.unwrap_err();
    let shown = e.to_string();
    assert!(shown.contains("550"), "{shown}");
    assert!(!shown.contains("135790"), "{shown}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_a_provider_error() {
    // Accepts the connection and then says nothing, not even the greeting.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut cfg = config(port, SmtpTls::None);
    cfg.timeout_secs = 1;
    let smtp = SmtpEmail::new(&cfg, Arc::new(Localizer::new().unwrap())).unwrap();
    let code = OtpCode::parse("975310").unwrap();
    let to = EmailAddress::parse(JAN_PRIVATE).unwrap();
    let started = Instant::now();
    let e = smtp.send_code(&to, &code, Lang::Nl).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{e}");
    assert_eq!(e.provider, "smtp");
    drop(silent);
}

/// A minimal SMTP server on a Tokio listener that counts connections and messages, and closes
/// every connection after `per_connection` messages (0: never), like a server's idle timeout.
async fn counting_smtp(
    per_connection: usize,
) -> (
    u16,
    Arc<std::sync::atomic::AtomicUsize>,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let messages = Arc::new(AtomicUsize::new(0));
    let (c, m) = (connections.clone(), messages.clone());
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            c.fetch_add(1, Ordering::SeqCst);
            let m = m.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 counting ESMTP\r\n").await.unwrap();
                let mut in_data = false;
                let mut here = 0;
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply: &[u8] = if in_data {
                        if line != "." {
                            continue;
                        }
                        in_data = false;
                        m.fetch_add(1, Ordering::SeqCst);
                        here += 1;
                        b"250 queued\r\n"
                    } else {
                        match line.get(..4).unwrap_or("").to_ascii_uppercase().as_str() {
                            "EHLO" => b"250-counting\r\n250 8BITMIME\r\n",
                            "DATA" => {
                                in_data = true;
                                b"354 go ahead\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                return;
                            }
                            _ => b"250 ok\r\n",
                        }
                    };
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                    if per_connection > 0 && here == per_connection && !in_data {
                        return; // the server hangs up on an idle connection
                    }
                }
            });
        }
    });
    (port, connections, messages)
}

#[tokio::test]
async fn one_connection_carries_several_emails_and_a_closed_one_is_replaced() {
    use std::sync::atomic::Ordering;
    let to = EmailAddress::parse(JAN_PRIVATE).unwrap();
    let code = OtpCode::parse("975310").unwrap();

    let (port, connections, messages) = counting_smtp(0).await;
    let smtp = SmtpEmail::new(
        &config(port, SmtpTls::None),
        Arc::new(Localizer::new().unwrap()),
    )
    .unwrap();
    for _ in 0..3 {
        smtp.send_code(&to, &code, Lang::Nl).await.unwrap();
    }
    assert_eq!(messages.load(Ordering::SeqCst), 3);
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "the connection is reused"
    );

    // A server that hangs up after each message: the stale connection is noticed, not used.
    let (port, connections, messages) = counting_smtp(1).await;
    let smtp = SmtpEmail::new(
        &config(port, SmtpTls::None),
        Arc::new(Localizer::new().unwrap()),
    )
    .unwrap();
    for _ in 0..3 {
        smtp.send_code(&to, &code, Lang::Nl).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(messages.load(Ordering::SeqCst), 3, "no e-mail lost");
    assert_eq!(connections.load(Ordering::SeqCst), 3);
}
