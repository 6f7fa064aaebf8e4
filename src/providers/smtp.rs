//! E-mail over SMTP with lettre: codes and notices to the alternate (private) address, in the
//! conversation's language, as a plain-text part and a simple HTML part.
//!
//! Failures come back as a [`ProviderError`] named `smtp`; its reason is lettre's error text (the
//! kind, the server's reply code and words, or the network error), with the SMTP password and the
//! code blanked out in case a server ever echoes either. lettre's `tracing` feature is off, so it
//! logs nothing of its own.

use crate::i18n::escape_html;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{EmailSender, Notice, ProviderError};
use crate::config::{EmailConfig, Secret, SmtpTls};
use crate::dialogue::{Arg, Lang, Text};
use crate::domain::{EmailAddress, LoginName, OtpCode};
use crate::i18n::Localizer;
use crate::recovery::Rules;

const PROVIDER: &str = "smtp";

/// Sends e-mail through one SMTP server (a relay on the same network, or a submission port with
/// STARTTLS or implicit TLS and a login).
pub struct SmtpEmail {
    /// lettre's pooled transport (implicit TLS); `None` for the other modes, and while being
    /// dropped (see `Drop`).
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    /// Plain or STARTTLS: our own pool of lettre connections over sockets with `TCP_NODELAY`.
    direct: Option<Direct>,
    from: Mailbox,
    l10n: Arc<Localizer>,
    /// The most one send may take, connection and dialogue included.
    timeout: Duration,
    /// How long a code stays valid, as the e-mail says.
    code_minutes: i64,
    /// Blanked out of error text.
    password: Option<Secret>,
    host: String,
    port: u16,
}

/// lettre's connection pool spawns a Tokio task when it is built and another when it is dropped;
/// the latter would panic outside a runtime (say, a value dropped after `main`'s runtime is gone),
/// so there the pool is leaked instead — the process is ending anyway.
impl Drop for SmtpEmail {
    fn drop(&mut self) {
        if let Some(transport) = self.transport.take() {
            if tokio::runtime::Handle::try_current().is_err() {
                std::mem::forget(transport);
            }
        }
    }
}

impl fmt::Debug for SmtpEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpEmail")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// The words of one e-mail: three Fluent messages and their arguments.
struct Mail {
    subject: &'static str,
    text: &'static str,
    html: &'static str,
    args: Vec<(&'static str, Arg)>,
}

impl Mail {
    fn code(code: &OtpCode, minutes: i64) -> Self {
        Self {
            subject: "email-code-subject",
            text: "email-code-text",
            html: "email-code-html",
            args: vec![
                ("code", Arg::Str(code.expose().to_string())),
                ("minutes", Arg::Num(minutes)),
            ],
        }
    }

    /// `link`: the "this wasn't me" link; the reset and unlock texts pick their sentence with
    /// `$has_link` (`yes`/`no`), the methods-changed texts ignore both.
    fn notice(notice: Notice, account: &LoginName, link: Option<&str>) -> Self {
        let (subject, text, html) = match notice {
            Notice::PasswordReset => (
                "email-notice-password-reset-subject",
                "email-notice-password-reset-text",
                "email-notice-password-reset-html",
            ),
            Notice::Unlocked => (
                "email-notice-unlocked-subject",
                "email-notice-unlocked-text",
                "email-notice-unlocked-html",
            ),
            Notice::MethodsChanged => (
                "email-notice-methods-changed-subject",
                "email-notice-methods-changed-text",
                "email-notice-methods-changed-html",
            ),
        };
        Self {
            subject,
            text,
            html,
            args: vec![
                ("account", Arg::Str(account.as_str().to_string())),
                (
                    "has_link",
                    Arg::Str(if link.is_some() { "yes" } else { "no" }.into()),
                ),
                ("link", Arg::Str(link.unwrap_or_default().to_string())),
            ],
        }
    }
}

impl SmtpEmail {
    /// Checks the settings and sets up the connection pool; no connection is made until the
    /// first e-mail. Must be called inside a Tokio runtime (lettre's pool starts a task).
    pub fn new(config: &EmailConfig, l10n: Arc<Localizer>) -> anyhow::Result<Self> {
        tokio::runtime::Handle::try_current()
            .context("the SMTP sender must be set up inside the Tokio runtime")?;
        let host = config.smtp_host.trim();
        anyhow::ensure!(!host.is_empty(), "email.smtp_host is empty");
        let from: Mailbox = config.from.trim().parse().with_context(|| {
            format!(
                "email.from {:?} is not an address like \"SSPR <sspr@bedrijf.nl>\"",
                config.from
            )
        })?;
        let credentials = match (&config.username, &config.password) {
            (Some(user), Some(password)) => Some(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            )),
            (None, None) => None,
            _ => anyhow::bail!("email.username and email.password go together"),
        };
        let timeout = Duration::from_secs(config.timeout_secs.max(1));
        // Plain and STARTTLS: our own connections (see `Direct`); implicit TLS: lettre's pool.
        let (transport, direct) = match config.tls {
            SmtpTls::None | SmtpTls::Starttls => {
                let tls = match config.tls {
                    SmtpTls::Starttls => {
                        Some(TlsParameters::new(host.to_string()).with_context(|| {
                            format!("email.smtp_host {host:?}: cannot set up STARTTLS")
                        })?)
                    }
                    _ => None,
                };
                let direct = Direct {
                    host: host.to_string(),
                    port: config.smtp_port,
                    tls,
                    credentials,
                    hello: ClientId::default(),
                    idle: std::sync::Mutex::new(Vec::new()),
                };
                (None, Some(direct))
            }
            SmtpTls::Tls => {
                let builder = AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                    .with_context(|| format!("email.smtp_host {host:?}: cannot set up TLS"))?;
                let mut builder = builder.port(config.smtp_port).timeout(Some(timeout));
                if let Some(credentials) = credentials {
                    builder = builder.credentials(credentials);
                }
                (Some(builder.build()), None)
            }
        };
        Ok(Self {
            transport,
            direct,
            from,
            l10n,
            timeout,
            code_minutes: Rules::default().code_ttl_secs / 60,
            password: config.password.clone(),
            host: host.to_string(),
            port: config.smtp_port,
        })
    }

    /// The validity the code e-mail states, when the core runs with other than default rules.
    pub fn with_code_minutes(mut self, minutes: i64) -> Self {
        self.code_minutes = minutes;
        self
    }

    fn fail(&self, reason: impl Into<String>, code: Option<&OtpCode>) -> ProviderError {
        let mut reason = reason.into();
        if let Some(p) = self.password.as_ref().map(Secret::expose) {
            if !p.is_empty() {
                reason = reason.replace(p, "******");
            }
        }
        if let Some(c) = code {
            reason = reason.replace(c.expose(), "******");
        }
        ProviderError {
            provider: PROVIDER,
            reason,
        }
    }

    fn render(&self, lang: Lang, id: &'static str, args: &[(&'static str, Arg)]) -> Option<String> {
        let t = Text {
            id,
            args: args.to_vec(),
        };
        match self.l10n.try_text(lang, &t) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "untranslated e-mail message");
                None
            }
        }
    }

    fn build(
        &self,
        to: &EmailAddress,
        lang: Lang,
        mail: &Mail,
        code: Option<&OtpCode>,
    ) -> Result<Message, ProviderError> {
        let address: Address = to
            .as_str()
            .parse()
            .map_err(|_| self.fail("the recipient address is not accepted", code))?;
        let html_args: Vec<(&'static str, Arg)> = mail
            .args
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    Arg::Str(s) => Arg::Str(escape_html(s)),
                    other => other.clone(),
                };
                (*name, value)
            })
            .collect();
        let untranslated = || self.fail("an e-mail text is missing", code);
        let subject = self
            .render(lang, mail.subject, &mail.args)
            .ok_or_else(untranslated)?;
        let text = self
            .render(lang, mail.text, &mail.args)
            .ok_or_else(untranslated)?;
        let body = self
            .render(lang, mail.html, &html_args)
            .ok_or_else(untranslated)?;
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>{title}</title>\n</head>\n<body style=\"font-family:sans-serif\">\n{body}\n\
             </body>\n</html>\n",
            lang = lang.code(),
            title = escape_html(&subject),
        );
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, address))
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| self.fail(format!("cannot build the message: {e}"), code))
    }

    async fn deliver(&self, message: Message, code: Option<&OtpCode>) -> Result<(), ProviderError> {
        let sent = match (&self.direct, &self.transport) {
            (Some(direct), _) => tokio::time::timeout(self.timeout, direct.send(&message)).await,
            (None, Some(transport)) => {
                tokio::time::timeout(self.timeout, async {
                    transport
                        .send(message)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
                .await
            }
            (None, None) => return Err(self.fail("the SMTP sender is shut down", code)),
        };
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.fail(format!("{}:{}: {e}", self.host, self.port), code)),
            Err(_) => Err(self.fail(
                format!(
                    "{}:{}: no answer within {} s",
                    self.host,
                    self.port,
                    self.timeout.as_secs()
                ),
                code,
            )),
        }
    }
}

#[async_trait]
impl EmailSender for SmtpEmail {
    async fn send_code(
        &self,
        to: &EmailAddress,
        code: &OtpCode,
        lang: Lang,
    ) -> Result<(), ProviderError> {
        let mail = Mail::code(code, self.code_minutes);
        let message = self.build(to, lang, &mail, Some(code))?;
        self.deliver(message, Some(code)).await
    }

    async fn send_notice(
        &self,
        to: &EmailAddress,
        account: &LoginName,
        notice: Notice,
        link: Option<&str>,
        lang: Lang,
    ) -> Result<(), ProviderError> {
        let mail = Mail::notice(notice, account, link);
        let message = self.build(to, lang, &mail, None)?;
        self.deliver(message, None).await
    }
}

/// Connections to a relay (no TLS) or a submission port with STARTTLS, made by us so the socket
/// has `TCP_NODELAY`: lettre writes a message and its final `.` in two writes without reading in
/// between, and with Nagle's algorithm the second waits for the server's delayed ACK — about
/// 40 ms on Linux for every e-mail (measured by `bench/run`: the e-mail turn's p50 was 47 ms).
/// Idle connections are kept for the next e-mail and checked with `NOOP` before reuse.
struct Direct {
    host: String,
    port: u16,
    /// STARTTLS with these parameters; `None`: plain (a relay on the same network).
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    hello: ClientId,
    idle: std::sync::Mutex<Vec<AsyncSmtpConnection>>,
}

/// Idle connections kept per server.
const MAX_IDLE: usize = 8;

impl Direct {
    /// Sends `message`; the error is lettre's or the network's text.
    async fn send(&self, message: &Message) -> Result<(), String> {
        let mut conn = match self.reuse().await {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        match conn.send(message.envelope(), &message.formatted()).await {
            Ok(_) => {
                let mut idle = self
                    .idle
                    .lock()
                    .expect("the idle list is never poisoned: nothing panics holding it");
                if idle.len() < MAX_IDLE {
                    idle.push(conn);
                }
                Ok(())
            }
            Err(e) => {
                conn.abort().await;
                Err(e.to_string())
            }
        }
    }

    async fn reuse(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let mut conn = self
                .idle
                .lock()
                .expect("the idle list is never poisoned: nothing panics holding it")
                .pop()?;
            if conn.test_connected().await {
                return Some(conn);
            }
            conn.abort().await;
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, String> {
        let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("Connection error: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("Connection error: {e}"))?;
        let text = |e: lettre::transport::smtp::Error| e.to_string();
        let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
            .await
            .map_err(text)?;
        let ready = async {
            if let Some(tls) = &self.tls {
                conn.starttls(tls.clone(), &self.hello).await?;
            }
            if let Some(credentials) = &self.credentials {
                conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                    .await?;
            }
            Ok::<_, lettre::transport::smtp::Error>(())
        };
        match ready.await {
            Ok(()) => Ok(conn),
            Err(e) => {
                conn.abort().await;
                Err(text(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EmailConfig {
        EmailConfig {
            smtp_host: "127.0.0.1".into(),
            smtp_port: 2525,
            tls: SmtpTls::None,
            username: None,
            password: None,
            password_file: None,
            from: "SSPR <sspr@bedrijf.nl>".into(),
            timeout_secs: 5,
        }
    }

    fn smtp() -> SmtpEmail {
        SmtpEmail::new(&config(), Arc::new(Localizer::new().unwrap())).unwrap()
    }

    #[test]
    fn html_special_characters_are_escaped() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[tokio::test]
    async fn a_bad_from_address_or_half_a_login_is_refused() {
        let l10n = Arc::new(Localizer::new().unwrap());
        let mut c = config();
        c.from = "not an address".into();
        let e = SmtpEmail::new(&c, l10n.clone()).unwrap_err();
        assert!(e.to_string().contains("email.from"), "{e}");
        let mut c = config();
        c.username = Some("sspr".into());
        let e = SmtpEmail::new(&c, l10n.clone()).unwrap_err();
        assert!(e.to_string().contains("go together"), "{e}");
        assert!(SmtpEmail::new(&config(), l10n).is_ok());
    }

    #[test]
    fn outside_a_runtime_setting_up_is_an_error_not_a_panic() {
        let l10n = Arc::new(Localizer::new().unwrap());
        let e = SmtpEmail::new(&config(), l10n).unwrap_err();
        assert!(e.to_string().contains("Tokio runtime"), "{e}");
    }

    #[test]
    fn dropping_outside_a_runtime_does_not_panic() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let s = rt.block_on(async { smtp() });
        drop(rt);
        drop(s);
    }

    #[tokio::test]
    async fn every_email_renders_in_both_languages_with_its_arguments() {
        let s = smtp();
        let to = EmailAddress::parse("jan.devries@privemail.example").unwrap();
        let account = LoginName::parse("j.k.devries@bedrijf.nl").unwrap();
        let code = OtpCode::parse("123456").unwrap();
        for lang in [Lang::Nl, Lang::En] {
            let mails = [
                (Mail::code(&code, 10), "123456"),
                (
                    Mail::notice(Notice::PasswordReset, &account, None),
                    account.as_str(),
                ),
                (
                    Mail::notice(Notice::Unlocked, &account, None),
                    account.as_str(),
                ),
                (
                    Mail::notice(Notice::MethodsChanged, &account, None),
                    account.as_str(),
                ),
                (
                    Mail::notice(Notice::PasswordReset, &account, Some(LINK)),
                    LINK,
                ),
                (Mail::notice(Notice::Unlocked, &account, Some(LINK)), LINK),
            ];
            for (mail, needle) in mails {
                for id in [mail.subject, mail.text, mail.html] {
                    assert!(s.render(lang, id, &mail.args).is_some(), "{id} in {lang:?}");
                }
                for id in [mail.text, mail.html] {
                    let shown = s.render(lang, id, &mail.args).unwrap();
                    assert!(shown.contains(needle), "{id}: {shown}");
                    assert!(shown.contains("020-40 777 55"), "{id}: {shown}");
                }
                let m = s.build(&to, lang, &mail, Some(&code)).unwrap();
                let raw = String::from_utf8(m.formatted()).unwrap();
                assert!(raw.contains("multipart/alternative"), "{raw}");
                assert!(
                    raw.contains("text/plain") && raw.contains("text/html"),
                    "{raw}"
                );
            }
        }
    }

    const LINK: &str = "https://sspr.bedrijf.nl/not-me?t=amFu.bWFj";

    #[tokio::test]
    async fn the_reset_and_unlock_notices_offer_the_link_only_when_there_is_one() {
        let s = smtp();
        let account = LoginName::parse("j.k.devries@bedrijf.nl").unwrap();
        for lang in [Lang::Nl, Lang::En] {
            for notice in [Notice::PasswordReset, Notice::Unlocked] {
                let with = Mail::notice(notice, &account, Some(LINK));
                let text = s.render(lang, with.text, &with.args).unwrap();
                assert!(text.contains(LINK), "{text}");
                let html = s.render(lang, with.html, &with.args).unwrap();
                assert!(html.contains(&format!("href=\"{LINK}\"")), "{html}");
                let without = Mail::notice(notice, &account, None);
                for id in [without.text, without.html] {
                    let shown = s.render(lang, id, &without.args).unwrap();
                    assert!(
                        !shown.contains("not-me") && !shown.contains("href"),
                        "{shown}"
                    );
                    assert!(shown.contains("020-40 777 55"), "{shown}");
                }
            }
        }
    }

    #[tokio::test]
    async fn the_password_and_the_code_are_blanked_out_of_errors() {
        let mut c = config();
        c.tls = SmtpTls::Starttls;
        c.username = Some("sspr".into());
        c.password = Some(Secret::new("hunter2-geheim"));
        let s = SmtpEmail::new(&c, Arc::new(Localizer::new().unwrap())).unwrap();
        let code = OtpCode::parse("654321").unwrap();
        let e = s.fail("535 bad login hunter2-geheim for 654321", Some(&code));
        let shown = e.to_string();
        assert!(!shown.contains("hunter2-geheim"), "{shown}");
        assert!(!shown.contains("654321"), "{shown}");
        assert!(shown.starts_with("smtp could not deliver"), "{shown}");
    }
}
