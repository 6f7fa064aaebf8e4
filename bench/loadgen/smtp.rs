//! An SMTP sink on 127.0.0.1:0 that takes every message, finds the verification code in it and
//! hands it to the conversation waiting for that recipient.
//!
//! Enough SMTP for lettre (sspr-bot) and aiosmtplib (the peers): EHLO/HELO, MAIL, RCPT, DATA,
//! RSET, NOOP, QUIT, no TLS, no AUTH. The code is the first standalone 6-digit number in the
//! decoded text of the message: multipart bodies are split, quoted-printable and base64 parts
//! decoded, text/plain parts searched before the others (HTML tags skipped).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

enum Slot {
    Code(String),
    Waiting(oneshot::Sender<String>),
}

#[derive(Default)]
pub struct Sink {
    pub port: u16,
    slots: Mutex<HashMap<String, Slot>>,
    pub messages: AtomicU64,
    /// Messages in which no code was found.
    pub without_code: AtomicU64,
}

impl Sink {
    pub async fn start() -> anyhow::Result<Arc<Sink>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let sink = Arc::new(Sink {
            port: listener.local_addr()?.port(),
            ..Sink::default()
        });
        let s = Arc::clone(&sink);
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let s = Arc::clone(&s);
                        tokio::spawn(async move {
                            let _ = s.session(stream).await;
                        });
                    }
                    Err(e) => {
                        eprintln!("SMTP sink: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
        Ok(sink)
    }

    /// The code sent to `address`, waiting up to `timeout` for it.
    pub async fn wait_code(&self, address: &str, timeout: Duration) -> Option<String> {
        let key = address.to_ascii_lowercase();
        let rx = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            match slots.remove(&key) {
                Some(Slot::Code(code)) => return Some(code),
                _ => {
                    let (tx, rx) = oneshot::channel();
                    slots.insert(key.clone(), Slot::Waiting(tx));
                    rx
                }
            }
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(code)) => Some(code),
            _ => {
                let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
                match slots.remove(&key) {
                    // Arrived just as we gave up.
                    Some(Slot::Code(code)) => Some(code),
                    _ => None,
                }
            }
        }
    }

    fn deliver(&self, address: &str, code: String) {
        let key = address.to_ascii_lowercase();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots.remove(&key) {
            Some(Slot::Waiting(tx)) => {
                if let Err(code) = tx.send(code) {
                    slots.insert(key, Slot::Code(code));
                }
            }
            // A newer code replaces an unread one.
            _ => {
                slots.insert(key, Slot::Code(code));
            }
        }
    }

    /// Forgets unread codes (between bots).
    pub fn clear(&self) {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    async fn session(&self, stream: TcpStream) -> std::io::Result<()> {
        let _ = stream.set_nodelay(true);
        let (r, mut w) = stream.into_split();
        let mut r = BufReader::new(r);
        w.write_all(b"220 loadgen ESMTP sink\r\n").await?;
        let mut line = Vec::with_capacity(256);
        let mut rcpts: Vec<String> = Vec::new();
        loop {
            line.clear();
            if r.read_until(b'\n', &mut line).await? == 0 {
                return Ok(());
            }
            let cmd = String::from_utf8_lossy(&line);
            let verb = cmd
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            match verb.as_str() {
                "EHLO" => {
                    w.write_all(b"250-loadgen\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n")
                        .await?
                }
                "HELO" => w.write_all(b"250 loadgen\r\n").await?,
                "MAIL" => {
                    rcpts.clear();
                    w.write_all(b"250 OK\r\n").await?
                }
                "RCPT" => {
                    if let Some(addr) = angle_address(&cmd) {
                        rcpts.push(addr);
                    }
                    w.write_all(b"250 OK\r\n").await?
                }
                "DATA" => {
                    w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let mut data = Vec::with_capacity(4096);
                    loop {
                        line.clear();
                        if r.read_until(b'\n', &mut line).await? == 0 {
                            return Ok(());
                        }
                        let trimmed = line.strip_suffix(b"\n").unwrap_or(&line);
                        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
                        if trimmed == b"." {
                            break;
                        }
                        // Dot-unstuffing.
                        let l = if line.starts_with(b"..") {
                            &line[1..]
                        } else {
                            &line[..]
                        };
                        data.extend_from_slice(l);
                    }
                    self.messages.fetch_add(1, Ordering::Relaxed);
                    match find_code(&data) {
                        Some(code) => {
                            for rcpt in &rcpts {
                                self.deliver(rcpt, code.clone());
                            }
                        }
                        None => {
                            self.without_code.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    rcpts.clear();
                    w.write_all(b"250 OK queued\r\n").await?
                }
                "RSET" => {
                    rcpts.clear();
                    w.write_all(b"250 OK\r\n").await?
                }
                "NOOP" => w.write_all(b"250 OK\r\n").await?,
                "QUIT" => {
                    w.write_all(b"221 Bye\r\n").await?;
                    return Ok(());
                }
                _ => w.write_all(b"502 Command not implemented\r\n").await?,
            }
        }
    }
}

fn angle_address(cmd: &str) -> Option<String> {
    let start = cmd.find('<')? + 1;
    let end = cmd[start..].find('>')? + start;
    Some(cmd[start..end].trim().to_ascii_lowercase())
}

/// The first standalone 6-digit number in the decoded text of a message (text/plain first).
pub fn find_code(raw: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    collect_parts(raw, &mut parts, 0);
    parts.sort_by_key(|(plain, _)| !*plain);
    parts.iter().find_map(|(plain, text)| {
        if *plain {
            six_digits(text)
        } else {
            six_digits(&strip_tags(text))
        }
    })
}

/// Header value (unfolded) by name, case-insensitive.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn split_entity(raw: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let (head, body) = match find_bytes(raw, b"\r\n\r\n") {
        Some(i) => (&raw[..i], &raw[i + 4..]),
        None => match find_bytes(raw, b"\n\n") {
            Some(i) => (&raw[..i], &raw[i + 2..]),
            None => (raw, &raw[raw.len()..]),
        },
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in String::from_utf8_lossy(head).lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = headers.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    (headers, body)
}

fn find_bytes(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// (is text/plain, decoded text) of every leaf part.
fn collect_parts(raw: &[u8], out: &mut Vec<(bool, String)>, depth: usize) {
    let (headers, body) = split_entity(raw);
    let ctype = header(&headers, "content-type")
        .unwrap_or("text/plain")
        .to_owned();
    let lower = ctype.to_ascii_lowercase();
    if lower.starts_with("multipart/") && depth < 8 {
        if let Some(boundary) = param(&ctype, "boundary") {
            let open = format!("--{boundary}");
            let close = format!("--{boundary}--");
            let mut current: Option<Vec<u8>> = None;
            for line in body.split_inclusive(|&b| b == b'\n') {
                let t = line.trim_ascii_end();
                if t == close.as_bytes() {
                    break;
                }
                if t == open.as_bytes() {
                    if let Some(part) = current.take() {
                        collect_parts(&part, out, depth + 1);
                    }
                    current = Some(Vec::new());
                } else if let Some(part) = &mut current {
                    part.extend_from_slice(line);
                }
            }
            if let Some(part) = current {
                collect_parts(&part, out, depth + 1);
            }
            return;
        }
    }
    let cte = header(&headers, "content-transfer-encoding")
        .unwrap_or("")
        .to_ascii_lowercase();
    let decoded = match cte.trim() {
        "quoted-printable" => decode_qp(body),
        "base64" => {
            let compact: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(&compact)
                .unwrap_or_default()
        }
        _ => body.to_vec(),
    };
    let plain = lower.starts_with("text/plain");
    out.push((plain, String::from_utf8_lossy(&decoded).into_owned()));
}

fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn decode_qp(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let hex = |b: u8| (b as char).to_digit(16);
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'=' {
            // Soft line break.
            if body.get(i + 1) == Some(&b'\r') && body.get(i + 2) == Some(&b'\n') {
                i += 3;
                continue;
            }
            if body.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            if let (Some(h), Some(l)) = (
                body.get(i + 1).copied().and_then(hex),
                body.get(i + 2).copied().and_then(hex),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(body[i]);
        i += 1;
    }
    out
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// The first run of exactly six ASCII digits with no letter or digit on either side.
fn six_digits(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let before_ok = start == 0 || !b[start - 1].is_ascii_alphanumeric();
            let after_ok = i == b.len() || !b[i].is_ascii_alphanumeric();
            if i - start == 6 && before_ok && after_ok {
                return Some(text[start..i].to_owned());
            }
        } else {
            i += 1;
        }
    }
    None
}

/// Checks the decoder on the shapes lettre and Python's e-mail package produce.
pub fn self_check() -> anyhow::Result<()> {
    let lettre = b"From: a@b\r\nTo: c@d\r\nSubject: =?utf-8?b?SmU=?=\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/alternative;\r\n boundary=\"0123abc\"\r\n\r\n--0123abc\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
Hallo,\r\n\r\nJe verificatiecode is: 482913\r\n\r\nDe code is 10 minuten geldig en werkt maar =C3=\r\n\
=A9=C3=A9n keer. Bel 020-40 777 55.\r\n--0123abc\r\nContent-Type: text/html; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\n<p style=3D\"color:#111111\">Je code: <strong>482913</strong></p>\r\n\
--0123abc--\r\n";
    anyhow::ensure!(find_code(lettre).as_deref() == Some("482913"), "lettre QP");
    let b64 = base64::engine::general_purpose::STANDARD.encode("Uw code is 007311.\n");
    let python = format!(
        "Content-Type: multipart/mixed; boundary=\"===============1==\"\nMIME-Version: 1.0\n\n\
--===============1==\nContent-Type: text/plain; charset=\"utf-8\"\nContent-Transfer-Encoding: base64\n\n{b64}\n\
--===============1==--\n"
    );
    anyhow::ensure!(
        find_code(python.as_bytes()).as_deref() == Some("007311"),
        "python base64"
    );
    let single = b"Subject: x\r\n\r\nCode 1234567 no, 12345 no, ab123456 no; yes: 654321.\r\n";
    anyhow::ensure!(
        find_code(single).as_deref() == Some("654321"),
        "single part"
    );
    Ok(())
}
