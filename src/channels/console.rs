//! The terminal channel behind `sspr-bot demo`: an interactive chat (buttons as numbered choices,
//! secret answers not echoed) and a JSON-lines protocol for scripts, one output line per input:
//!
//! ```text
//! in:  {"text":"…"} | {"button":"<id>"} | {"phone":"#"} | {"phone":"approve","number":N} | {"phone":"deny"}
//! out: {"replies":[{"text":"…","buttons":[{"id":"…","label":"…"}],"secret":false}]}
//! ```
//!
//! A reply that registers an authenticator app also has `"qr":"otpauth://totp/…"` (only then);
//! the interactive terminal draws it as a QR code with the URI below it to paste.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use crate::dialogue::{Input, Lang, Reply, Text};
use crate::i18n::{Localizer, RenderedReply};
use crate::recovery::{ChatRef, Core, PhoneAnswer, TurnOutput};

/// The one conversation a terminal has; the same key after a restart continues it.
pub fn chat() -> ChatRef {
    ChatRef::new("console:local", "console:local")
}

/// One input line of the JSON protocol.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonInput {
    text: Option<String>,
    button: Option<String>,
    phone: Option<String>,
    number: Option<u32>,
}

#[derive(Debug, Serialize)]
struct JsonOutput {
    replies: Vec<RenderedReply>,
}

/// What one line of input asks for, in either mode.
#[derive(Debug, PartialEq)]
enum Request {
    Turn(Input),
    Phone(PhoneAnswer),
    Invalid,
}

fn parse_json(line: &str) -> Request {
    let Ok(input) = serde_json::from_str::<JsonInput>(line) else {
        return Request::Invalid;
    };
    match input {
        JsonInput {
            text: Some(t),
            button: None,
            phone: None,
            number: None,
        } => Request::Turn(Input::Text(t)),
        JsonInput {
            text: None,
            button: Some(b),
            phone: None,
            number: None,
        } => Request::Turn(Input::Button(b)),
        JsonInput {
            text: None,
            button: None,
            phone: Some(p),
            number,
        } => parse_phone(&p, number),
        _ => Request::Invalid,
    }
}

fn parse_phone(what: &str, number: Option<u32>) -> Request {
    let what = what.trim();
    match (what.to_lowercase().as_str(), number) {
        ("approve", Some(n)) => Request::Phone(PhoneAnswer::ApprovePush(n)),
        ("deny", None) => Request::Phone(PhoneAnswer::DenyPush),
        (_, None) if what.chars().count() == 1 => {
            Request::Phone(PhoneAnswer::CallKeys(what.chars().next().unwrap_or(' ')))
        }
        _ => Request::Invalid,
    }
}

/// `/phone #`, `/phone approve 42`, `/phone deny` in the interactive terminal.
fn parse_phone_command(line: &str) -> Option<Request> {
    let rest = line.trim().strip_prefix("/phone")?;
    let mut words = rest.split_whitespace();
    let what = words.next().unwrap_or_default();
    let number = match words.next() {
        Some(n) => match n.parse() {
            Ok(n) => Some(n),
            Err(_) => return Some(Request::Invalid),
        },
        None => None,
    };
    Some(parse_phone(what, number))
}

async fn run_request(core: &Core, chat: &ChatRef, request: Request, lang: Lang) -> TurnOutput {
    let result = match request {
        Request::Turn(input) => core.handle(chat, input).await,
        Request::Phone(answer) => core.phone_answer(chat, answer).await,
        Request::Invalid => {
            return TurnOutput {
                lang,
                replies: vec![Reply::text(Text::new("console-bad-input"))],
                expects_secret: false,
            }
        }
    };
    result.unwrap_or_else(|e| {
        tracing::error!(error = format!("{e:#}"), "turn failed");
        TurnOutput {
            lang,
            replies: vec![Reply::text(Text::new("console-error"))],
            expects_secret: false,
        }
    })
}

/// The JSON-lines protocol: exactly one output line per input line, until end of input.
pub async fn run_json<R, W>(
    core: Arc<Core>,
    l10n: Arc<Localizer>,
    lang: Lang,
    input: R,
    mut output: W,
) -> anyhow::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let chat = chat();
    let mut lines = input.lines();
    while let Some(line) = lines.next_line().await? {
        let lang_now = core.language(&chat, lang).await.unwrap_or(lang);
        let request = parse_json(&line);
        let out = run_request(&core, &chat, request, lang_now).await;
        let mut text = json_line(&l10n, &out)?;
        text.push('\n');
        output.write_all(text.as_bytes()).await?;
        output.flush().await?;
    }
    Ok(())
}

/// One output line of the JSON protocol (without the newline).
fn json_line(l10n: &Localizer, out: &TurnOutput) -> anyhow::Result<String> {
    let json = JsonOutput {
        replies: out
            .replies
            .iter()
            .map(|r| l10n.render(out.lang, r))
            .collect(),
    };
    Ok(serde_json::to_string(&json)?)
}

/// The interactive terminal chat.
pub async fn run_interactive(
    core: Arc<Core>,
    l10n: Arc<Localizer>,
    lang: Lang,
    outbox: Option<&str>,
) -> anyhow::Result<()> {
    let chat = chat();
    // Results that arrive later (a real call answered, a push approved) are printed as they come.
    let shown = Arc::new(std::sync::Mutex::new(Shown::default()));
    core.register_outbound(
        "console",
        Arc::new(PrintLate {
            l10n: Arc::clone(&l10n),
            shown: Arc::clone(&shown),
        }),
    );
    let lang_now = core.language(&chat, lang).await?;
    println!(
        "{}\n",
        l10n.text(
            lang_now,
            &match outbox {
                Some(path) => Text::new("console-banner").arg("outbox", path),
                None => Text::new("console-banner-live"),
            }
        )
    );
    if let Some(out) = core.current_prompt(&chat).await? {
        remember(&shown, show(&l10n, &out));
    }
    loop {
        let (buttons, secret) = {
            let s = shown
                .lock()
                .expect("console state is never poisoned: no code panics holding it");
            (s.buttons.clone(), s.secret)
        };
        let lang_now = core.language(&chat, lang).await.unwrap_or(lang);
        if secret {
            println!("{}", l10n.text(lang_now, &Text::new("console-secret")));
        }
        let Some(line) = read_line(secret).await? else {
            break;
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let request = if let Some(r) = parse_phone_command(trimmed) {
            r
        } else if let Some(id) = button_choice(trimmed, &buttons, secret) {
            Request::Turn(Input::Button(id))
        } else {
            Request::Turn(Input::Text(line.clone()))
        };
        let out = run_request(&core, &chat, request, lang_now).await;
        remember(&shown, show(&l10n, &out));
    }
    Ok(())
}

/// What the terminal shows last: the buttons numbers refer to, and whether a secret is expected.
#[derive(Default)]
struct Shown {
    buttons: Vec<String>,
    secret: bool,
}

fn remember(shown: &std::sync::Mutex<Shown>, (buttons, secret): (Vec<String>, bool)) {
    let mut s = shown
        .lock()
        .expect("console state is never poisoned: no code panics holding it");
    s.buttons = buttons;
    s.secret = secret;
}

/// Which button a typed line picks: `N` for button N, or `/N` when a secret is expected (a bare
/// number is then someone's answer or password).
fn button_choice(line: &str, buttons: &[String], secret: bool) -> Option<String> {
    let number = if secret {
        line.strip_prefix('/')?
    } else {
        line
    };
    let n: usize = number.parse().ok()?;
    buttons.get(n.checked_sub(1)?).cloned()
}

/// Prints a late result's replies in the interactive terminal.
struct PrintLate {
    l10n: Arc<Localizer>,
    shown: Arc<std::sync::Mutex<Shown>>,
}

#[async_trait::async_trait]
impl crate::recovery::Outbound for PrintLate {
    async fn deliver(&self, _chat: &ChatRef, out: TurnOutput) {
        println!();
        remember(&self.shown, show(&self.l10n, &out));
        print!("> ");
        let _ = std::io::stdout().flush();
    }
}

/// Prints replies; returns the last buttons shown and whether a secret is expected next.
fn show(l10n: &Localizer, out: &TurnOutput) -> (Vec<String>, bool) {
    let mut buttons = Vec::new();
    let prefix = if out.expects_secret { "/" } else { "" };
    for reply in &out.replies {
        let r = l10n.render(out.lang, reply);
        println!("{}", r.text);
        if let Some(qr) = &r.qr {
            // The code to scan, then the same URI to paste into an authenticator app.
            println!("\n{}\n{}", super::qr::terminal(&qr.0), qr.0);
        }
        if !r.buttons.is_empty() {
            buttons = r.buttons.iter().map(|b| b.id.clone()).collect();
            for (i, b) in r.buttons.iter().enumerate() {
                println!("  {prefix}{}) {}", i + 1, b.label);
            }
        }
        println!();
    }
    (buttons, out.expects_secret)
}

/// One line from the terminal; without echo when `secret` and stdin is a terminal.
async fn read_line(secret: bool) -> anyhow::Result<Option<String>> {
    tokio::task::spawn_blocking(move || -> anyhow::Result<Option<String>> {
        print!("> ");
        std::io::stdout().flush()?;
        if secret && std::io::stdin().is_terminal() {
            return Ok(Some(rpassword::read_password()?));
        }
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line)? == 0 {
            return Ok(None);
        }
        Ok(Some(line.trim_end_matches(['\n', '\r']).to_string()))
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_map_to_requests() {
        assert_eq!(
            parse_json(r#"{"text":"hoi"}"#),
            Request::Turn(Input::Text("hoi".into()))
        );
        assert_eq!(
            parse_json(r#"{"button":"cancel"}"#),
            Request::Turn(Input::Button("cancel".into()))
        );
        assert_eq!(
            parse_json(r##"{"phone":"#"}"##),
            Request::Phone(PhoneAnswer::CallKeys('#'))
        );
        assert_eq!(
            parse_json(r#"{"phone":"approve","number":42}"#),
            Request::Phone(PhoneAnswer::ApprovePush(42))
        );
        assert_eq!(
            parse_json(r#"{"phone":"deny"}"#),
            Request::Phone(PhoneAnswer::DenyPush)
        );
        for bad in [
            "",
            "hoi",
            "{}",
            r#"{"text":"a","button":"b"}"#,
            r#"{"phone":"approve"}"#,
            r#"{"txt":"a"}"#,
            r#"{"text":1}"#,
            "[1,2]",
        ] {
            assert_eq!(parse_json(bad), Request::Invalid, "{bad}");
        }
    }

    #[test]
    fn numbers_pick_buttons_except_where_a_secret_is_expected() {
        let b = vec!["method:email".to_string(), "cancel".to_string()];
        assert_eq!(button_choice("2", &b, false), Some("cancel".into()));
        assert_eq!(button_choice("3", &b, false), None);
        assert_eq!(button_choice("0", &b, false), None);
        assert_eq!(button_choice("123456", &b, false), None);
        assert_eq!(button_choice("2", &b, true), None);
        assert_eq!(button_choice("/2", &b, true), Some("cancel".into()));
    }

    fn output(replies: Vec<Reply>) -> TurnOutput {
        TurnOutput {
            lang: Lang::En,
            replies,
            expects_secret: false,
        }
    }

    #[test]
    fn a_qr_code_appears_in_the_json_only_when_there_is_one() {
        let l10n = Localizer::new().expect("the bundled locales load");
        let uri = "otpauth://totp/Voorbeeld:j.k.devries%40bedrijf.nl?secret=JBSWY3DPEHPK3PXP&issuer=Voorbeeld";
        let with = Reply {
            qr: Some(crate::dialogue::QrCode(uri.to_string())),
            ..Reply::text(Text::new("console-error"))
        };
        let without = Reply::text(Text::new("console-error"));
        let line = json_line(&l10n, &output(vec![with, without])).unwrap();
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        let replies = json["replies"].as_array().unwrap();
        assert_eq!(replies[0]["qr"], serde_json::json!(uri), "{line}");
        assert!(!replies[0]["text"].as_str().unwrap().is_empty());
        assert!(
            replies[1].as_object().unwrap().get("qr").is_none(),
            "no qr key without a QR code: {line}"
        );
        assert!(!line.contains('\n'), "one line");
    }

    #[test]
    fn phone_commands_in_the_terminal() {
        assert_eq!(
            parse_phone_command("/phone #"),
            Some(Request::Phone(PhoneAnswer::CallKeys('#')))
        );
        assert_eq!(
            parse_phone_command("/phone approve 17"),
            Some(Request::Phone(PhoneAnswer::ApprovePush(17)))
        );
        assert_eq!(
            parse_phone_command("/phone approve x"),
            Some(Request::Invalid)
        );
        assert_eq!(parse_phone_command("hoi"), None);
    }
}
