//! Scripted conversations and the load phases: calibration, closed loop (saturation), open loop
//! at fixed rates, and opening many conversations for the memory measurement.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::fake_tg::{Done, Fake, QueueError};
use crate::smtp::Sink;

/// Turns of the scripted conversation; after the last one the bot asks for a new password.
pub const TURNS: usize = 7;
pub const TURN_NAMES: [&str; TURNS] = [
    "/start",
    "login",
    "reason:forgot",
    "method:email",
    "e-mail code",
    "method:totp",
    "TOTP code",
];
/// How long a conversation waits for its e-mail code.
const CODE_TIMEOUT: Duration = Duration::from_secs(20);

/// Chat ids (= user ids) are unique over the whole run.
static NEXT_CHAT: AtomicI64 = AtomicI64::new(910_000_001);

#[derive(Debug)]
pub enum TurnError {
    Timeout,
    NoButton(String),
    NoCode,
    /// Turn 7 did not end with the new-password prompt.
    WrongFlow(String),
}

#[derive(Default)]
pub struct ErrorCounts {
    pub timeouts: AtomicU64,
    pub missing_buttons: AtomicU64,
    pub missing_codes: AtomicU64,
    pub wrong_flows: AtomicU64,
    /// The first error that was not a timeout, described.
    pub first: Mutex<Option<String>>,
}

impl ErrorCounts {
    fn count(&self, e: &TurnError) {
        let c = match e {
            TurnError::Timeout => &self.timeouts,
            TurnError::NoButton(_) => &self.missing_buttons,
            TurnError::NoCode => &self.missing_codes,
            TurnError::WrongFlow(_) => &self.wrong_flows,
        };
        c.fetch_add(1, Ordering::Relaxed);
        let described = match e {
            TurnError::Timeout | TurnError::NoCode => return,
            TurnError::NoButton(data) => format!("no message with a {data:?} button"),
            TurnError::WrongFlow(text) => {
                format!("turn 7 ended with {text:?}, not the new-password prompt")
            }
        };
        self.first
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(described);
    }
}

/// One scripted conversation: a fresh account and chat.
pub struct Conv {
    account: usize,
    chat_id: i64,
    /// Index of the next turn (0..TURNS).
    next: usize,
    code: Option<String>,
}

/// What every phase of one bot shares.
pub struct Ctx {
    pub fake: Arc<Fake>,
    pub sink: Arc<Sink>,
    /// sendMessage calls that complete each turn (from calibration).
    pub counts: [u32; TURNS],
    next_account: AtomicUsize,
    pub accounts: usize,
    pub turn_timeout: Duration,
    pub errors: ErrorCounts,
    pub flows_completed: AtomicU64,
}

pub fn totp(secret: &[u8], unix: u64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).expect("any key length");
    mac.update(&(unix / 30).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let o = (h[19] & 15) as usize;
    let v = u32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]) & 0x7fff_ffff;
    format!("{:06}", v % 1_000_000)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn mentions_password(text: &str) -> bool {
    let t = text.to_lowercase();
    t.contains("wachtwoord") || t.contains("password")
}

impl Ctx {
    pub fn new(fake: Arc<Fake>, sink: Arc<Sink>, first_account: usize, accounts: usize) -> Ctx {
        Ctx {
            fake,
            sink,
            counts: [1; TURNS],
            next_account: AtomicUsize::new(first_account),
            accounts,
            turn_timeout: Duration::from_secs(20),
            errors: ErrorCounts::default(),
            flows_completed: AtomicU64::new(0),
        }
    }

    pub fn accounts_used(&self) -> usize {
        self.next_account.load(Ordering::Relaxed).min(self.accounts)
    }

    fn new_conv_inner(&self, record: bool) -> Option<Conv> {
        let account = self.next_account.fetch_add(1, Ordering::Relaxed);
        if account >= self.accounts {
            return None;
        }
        let chat_id = NEXT_CHAT.fetch_add(1, Ordering::Relaxed);
        self.fake.open_chat(chat_id, record);
        Some(Conv {
            account,
            chat_id,
            next: 0,
            code: None,
        })
    }

    /// A new conversation with a fresh account; None when the accounts are used up.
    pub fn new_conv(&self) -> Option<Conv> {
        self.new_conv_inner(false)
    }

    pub fn end_conv(&self, conv: Conv) {
        self.fake.close_chat(conv.chat_id);
    }

    /// Queues the conversation's next turn (expecting `expected` sendMessages; 0: never done).
    fn queue(&self, conv: &Conv, expected: u32) -> Result<oneshot::Receiver<Done>, TurnError> {
        let f = &self.fake;
        let chat = conv.chat_id;
        let want_text = conv.next == TURNS - 1;
        let press = |data: &str| {
            f.queue_press(chat, data, expected, want_text)
                .map_err(|QueueError::NoButton(d)| TurnError::NoButton(d))
        };
        match conv.next {
            0 => Ok(f.queue_text(chat, "/start", expected, want_text)),
            1 => Ok(f.queue_text(
                chat,
                &sspr_bot::demo::load_login(conv.account),
                expected,
                want_text,
            )),
            2 => press("reason:forgot"),
            3 => press("method:email"),
            4 => {
                let code = conv.code.as_deref().ok_or(TurnError::NoCode)?;
                Ok(f.queue_text(chat, code, expected, want_text))
            }
            5 => press("method:totp"),
            _ => {
                let code = totp(&sspr_bot::demo::load_totp_secret(conv.account), unix_now());
                Ok(f.queue_text(chat, &code, expected, want_text))
            }
        }
    }

    /// Starts the conversation's next turn.
    pub fn start_turn(&self, conv: &Conv) -> Result<oneshot::Receiver<Done>, TurnError> {
        self.queue(conv, self.counts[conv.next])
    }

    /// Waits for the turn to complete and moves the conversation on.
    pub async fn finish_turn(
        &self,
        conv: &mut Conv,
        rx: oneshot::Receiver<Done>,
    ) -> Result<Done, TurnError> {
        let done = match tokio::time::timeout(self.turn_timeout, rx).await {
            Ok(Ok(done)) => done,
            _ => return Err(TurnError::Timeout),
        };
        if conv.next == TURNS - 1 {
            let text = done.last_text.as_deref().unwrap_or("");
            if !mentions_password(text) {
                return Err(TurnError::WrongFlow(text.to_owned()));
            }
            self.flows_completed.fetch_add(1, Ordering::Relaxed);
        }
        conv.next += 1;
        Ok(done)
    }

    /// Makes the conversation ready for its next turn: before the code turn, waits for the
    /// e-mail (not part of any turn's latency).
    pub async fn prepare(&self, conv: &mut Conv) -> Result<(), TurnError> {
        if conv.next == 4 && conv.code.is_none() {
            let address = sspr_bot::demo::load_alternate_email(conv.account);
            conv.code = Some(
                self.sink
                    .wait_code(&address, CODE_TIMEOUT)
                    .await
                    .ok_or(TurnError::NoCode)?,
            );
        }
        Ok(())
    }

    /// One whole turn (waiting for the code first when needed).
    pub async fn run_turn(&self, conv: &mut Conv) -> Result<Done, TurnError> {
        self.prepare(conv).await?;
        let rx = self.start_turn(conv)?;
        self.finish_turn(conv, rx).await
    }

    /// Counts an error and ends the conversation.
    pub fn fail(&self, conv: Conv, e: &TurnError) {
        self.errors.count(e);
        self.end_conv(conv);
    }
}

// ---------------------------------------------------------------------------------------------
// Calibration

pub struct Calibration {
    pub counts: [u32; TURNS],
    /// Per turn, the bot's messages (for the report and for errors).
    pub transcript: Vec<Vec<String>>,
}

fn render_transcript(t: &[Vec<String>]) -> String {
    let mut s = String::new();
    for (i, msgs) in t.iter().enumerate() {
        s.push_str(&format!("  turn {} ({}):\n", i + 1, TURN_NAMES[i]));
        if msgs.is_empty() {
            s.push_str("    (no message)\n");
        }
        for m in msgs {
            let one_line: String = m.replace('\n', " ⏎ ").chars().take(300).collect();
            s.push_str(&format!("    bot: {one_line}\n"));
        }
    }
    s
}

/// One conversation, slowly: after each turn, waits until no sendMessage came for `quiet`.
pub async fn calibrate(ctx: &Ctx, quiet: Duration) -> Result<Calibration, String> {
    let mut conv = ctx
        .new_conv_inner(true)
        .ok_or("no account left for calibration")?;
    let mut transcript: Vec<Vec<String>> = Vec::new();
    let mut counts = [0u32; TURNS];
    for (t, count) in counts.iter_mut().enumerate() {
        if let Err(e) = ctx.prepare(&mut conv).await {
            return Err(format!(
                "no e-mail code arrived for {} (turn {}): {e:?}\n{}",
                sspr_bot::demo::load_alternate_email(conv.account),
                t + 1,
                render_transcript(&transcript)
            ));
        }
        let before = ctx.fake.recorded(conv.chat_id).len();
        if let Err(e) = ctx.queue(&conv, 0) {
            return Err(format!(
                "turn {} ({}) could not be played: {e:?}\n{}",
                t + 1,
                TURN_NAMES[t],
                render_transcript(&transcript)
            ));
        }
        let started = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let rec = ctx.fake.recorded(conv.chat_id);
            if rec.len() > before {
                if rec.last().is_some_and(|m| m.at.elapsed() >= quiet) {
                    transcript.push(
                        rec[before..]
                            .iter()
                            .map(|m| {
                                if m.buttons.is_empty() {
                                    m.text.clone()
                                } else {
                                    format!("{} [buttons: {}]", m.text, m.buttons.join(", "))
                                }
                            })
                            .collect(),
                    );
                    *count = (rec.len() - before) as u32;
                    break;
                }
            } else if started.elapsed() > Duration::from_secs(30) {
                transcript.push(Vec::new());
                return Err(format!(
                    "no reply to turn {} ({}) within 30 s\n{}",
                    t + 1,
                    TURN_NAMES[t],
                    render_transcript(&transcript)
                ));
            }
        }
        conv.next += 1;
    }
    let last = transcript[TURNS - 1].last().cloned().unwrap_or_default();
    ctx.end_conv(conv);
    if !mentions_password(&last) {
        return Err(format!(
            "the flow did not reach the new-password prompt (the last reply of turn 7 does not \
             mention \"wachtwoord\" or \"password\")\n{}",
            render_transcript(&transcript)
        ));
    }
    Ok(Calibration { counts, transcript })
}

pub fn transcript_text(c: &Calibration) -> String {
    render_transcript(&c.transcript)
}

// ---------------------------------------------------------------------------------------------
// Percentiles

#[derive(Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    pub n: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// Nearest-rank percentiles of latencies in microseconds.
pub fn percentiles(mut us: Vec<u32>) -> Percentiles {
    if us.is_empty() {
        return Percentiles::default();
    }
    us.sort_unstable();
    let n = us.len();
    let at = |q: f64| {
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        us[rank - 1] as f64 / 1000.0
    };
    Percentiles {
        n,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        p999_ms: at(0.999),
        max_ms: us[n - 1] as f64 / 1000.0,
    }
}

/// Percentiles per turn of the script, from (turn index, microseconds).
pub fn by_turn(v: &[(u8, u32)]) -> Vec<Percentiles> {
    (0..TURNS)
        .map(|t| {
            percentiles(
                v.iter()
                    .filter(|(i, _)| *i as usize == t)
                    .map(|(_, l)| *l)
                    .collect(),
            )
        })
        .collect()
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

// ---------------------------------------------------------------------------------------------
// Closed loop

#[derive(Default, Serialize)]
pub struct Saturation {
    pub conversations: usize,
    pub warmup_s: f64,
    pub window_s: f64,
    pub turns: u64,
    pub turns_per_s: f64,
    pub cpu_ms_per_turn: Option<f64>,
    pub generator_cpu_ms_per_turn: Option<f64>,
    pub latency: Percentiles,
    /// The same per turn of the script (1–7).
    pub latency_by_turn: Vec<Percentiles>,
    /// The accounts ran out before the window ended (the window was cut there).
    pub accounts_ran_out: bool,
}

/// `conversations` conversations back to back for `warmup` + `window`; turns/s and CPU over the
/// window.
pub async fn saturation(
    ctx: Arc<Ctx>,
    pid: u32,
    clk_tck: u64,
    conversations: usize,
    warmup: Duration,
    window: Duration,
) -> Saturation {
    let stop = Arc::new(AtomicBool::new(false));
    let ran_out: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    // First the conversations are spread evenly over the script (conversation k plays its first
    // k mod 7 turns, unmeasured): otherwise a slow bot would spend the whole window on the
    // first turns of its first conversations, a different mix of turns than a fast one.
    let positioned = Arc::new(tokio::sync::Barrier::new(conversations + 1));
    let (window_tx, window_rx) = tokio::sync::watch::channel(None::<(Instant, Instant)>);
    let mut tasks = Vec::with_capacity(conversations);
    for k in 0..conversations {
        let ctx = Arc::clone(&ctx);
        let stop = Arc::clone(&stop);
        let ran_out = Arc::clone(&ran_out);
        let positioned = Arc::clone(&positioned);
        let mut window_rx = window_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut first = ctx.new_conv();
            if let Some(conv) = &mut first {
                while conv.next < k % TURNS {
                    if let Err(e) = ctx.run_turn(conv).await {
                        ctx.errors.count(&e);
                        break;
                    }
                }
                if conv.next < k % TURNS {
                    ctx.end_conv(first.take().expect("some"));
                }
            }
            positioned.wait().await;
            let (m0, m1) = match window_rx.wait_for(Option::is_some).await {
                Ok(w) => (*w).expect("some"),
                Err(_) => return Vec::new(),
            };
            let mut done_at: Vec<(Instant, u32, u8)> = Vec::new();
            'flows: while !stop.load(Ordering::Relaxed) {
                let Some(mut conv) = first.take().or_else(|| ctx.new_conv()) else {
                    let mut r = ran_out.lock().unwrap_or_else(|e| e.into_inner());
                    r.get_or_insert_with(Instant::now);
                    break;
                };
                while conv.next < TURNS {
                    if stop.load(Ordering::Relaxed) {
                        ctx.end_conv(conv);
                        break 'flows;
                    }
                    let turn = conv.next as u8;
                    match ctx.run_turn(&mut conv).await {
                        Ok(d) => {
                            if d.at >= m0 && d.at <= m1 {
                                done_at.push((d.at, micros(d.latency), turn));
                            }
                        }
                        Err(e) => {
                            ctx.fail(conv, &e);
                            continue 'flows;
                        }
                    }
                }
                ctx.end_conv(conv);
            }
            done_at
        }));
    }
    positioned.wait().await;
    let t0 = Instant::now();
    let m0 = t0 + warmup;
    let m1 = m0 + window;
    let _ = window_tx.send(Some((m0, m1)));
    tokio::time::sleep_until(m0.into()).await;
    let cpu0 = crate::bots::cpu_ticks(pid);
    let own0 = crate::bots::own_cpu_ticks();
    tokio::time::sleep_until(m1.into()).await;
    let cpu1 = crate::bots::cpu_ticks(pid);
    let own1 = crate::bots::own_cpu_ticks();
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<(Instant, u32, u8)> = Vec::new();
    let deadline = tokio::time::Instant::now() + ctx.turn_timeout + Duration::from_secs(2);
    for t in tasks {
        let abort = t.abort_handle();
        match tokio::time::timeout_at(deadline, t).await {
            Ok(Ok(v)) => all.extend(v),
            _ => abort.abort(),
        }
    }
    ctx.fake.close_all_chats();
    let turns_in_window = all.len() as u64;
    let ran_out = *ran_out.lock().unwrap_or_else(|e| e.into_inner());
    let end = match ran_out {
        Some(t) if t < m1 => t.max(m0 + Duration::from_millis(100)),
        _ => m1,
    };
    let counted: Vec<(u8, u32)> = all
        .iter()
        .filter(|(at, _, _)| *at <= end)
        .map(|(_, l, t)| (*t, *l))
        .collect();
    let window_s = (end - m0).as_secs_f64();
    let per_turn = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) if turns_in_window > 0 => {
            Some((b - a) as f64 * 1000.0 / clk_tck as f64 / turns_in_window as f64)
        }
        _ => None,
    };
    Saturation {
        conversations,
        warmup_s: warmup.as_secs_f64(),
        window_s,
        turns: counted.len() as u64,
        turns_per_s: counted.len() as f64 / window_s,
        cpu_ms_per_turn: per_turn(cpu0, cpu1),
        generator_cpu_ms_per_turn: per_turn(own0, own1),
        latency: percentiles(counted.iter().map(|(_, l)| *l).collect()),
        latency_by_turn: by_turn(&counted),
        accounts_ran_out: ran_out.is_some_and(|t| t < m1),
    }
}

// ---------------------------------------------------------------------------------------------
// Open loop

#[derive(Default, Serialize)]
pub struct OpenLoop {
    pub rate: u32,
    pub window_s: f64,
    /// Turns started on schedule.
    pub started: u64,
    /// Scheduled turns not started: too many unanswered turns in flight, or no account left.
    pub not_started: u64,
    /// Turns answered within the window, per second.
    pub achieved_per_s: f64,
    pub latency: Percentiles,
    /// The same per turn of the script (1–7).
    pub latency_by_turn: Vec<Percentiles>,
    /// The window was cut short because the rate is well above the bot's saturation
    /// throughput: it is overloaded by construction.
    pub shortened: bool,
    /// Scheduled turns not started because the seeded accounts ran out (included in
    /// `not_started`).
    pub no_account: u64,
    /// Turns still unanswered when the grace period after the window ended.
    pub unanswered: u64,
    pub overloaded: bool,
    /// Not run (quick mode): the bot was already overloaded at this lower rate.
    pub not_run_overloaded_at: Option<u32>,
}

/// Idle conversations (ready for their next turn), shared by the open-loop phases.
pub type Pool = Arc<Mutex<VecDeque<Conv>>>;

pub fn new_pool() -> Pool {
    Arc::new(Mutex::new(VecDeque::new()))
}

pub fn close_pool(ctx: &Ctx, pool: &Pool) {
    let convs: Vec<Conv> = pool
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
        .collect();
    for c in convs {
        ctx.end_conv(c);
    }
}

/// Starts `rate` turns per second for `window` on a fixed schedule, whatever the replies do;
/// while `cap` turns are unanswered, scheduled turns are not started (each would take a fresh
/// account, and the backlog would spill into the next phase).
pub async fn open_loop(
    ctx: Arc<Ctx>,
    pool: Pool,
    rate: u32,
    window: Duration,
    grace: Duration,
    cap: usize,
) -> OpenLoop {
    struct Shared {
        latencies: Mutex<Vec<(u8, u32)>>,
        in_window: AtomicU64,
        in_flight: AtomicUsize,
        closed: AtomicBool,
    }
    let sh = Arc::new(Shared {
        latencies: Mutex::new(Vec::with_capacity(
            (rate as f64 * window.as_secs_f64()) as usize + 16,
        )),
        in_window: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
    });
    let total = (rate as f64 * window.as_secs_f64()).round() as u64;
    let start = Instant::now() + Duration::from_millis(5);
    let end = start + window;
    let mut started = 0u64;
    let mut not_started = 0u64;
    let mut no_account = 0u64;
    for k in 0..total {
        let due = start + Duration::from_nanos(k * 1_000_000_000 / rate as u64);
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        if sh.in_flight.load(Ordering::Relaxed) >= cap {
            not_started += 1;
            continue;
        }
        let popped = pool.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
        let Some(mut conv) = popped.or_else(|| ctx.new_conv()) else {
            not_started += 1;
            no_account += 1;
            continue;
        };
        let turn = conv.next as u8;
        let rx = match ctx.start_turn(&conv) {
            Ok(rx) => rx,
            Err(e) => {
                ctx.fail(conv, &e);
                not_started += 1;
                continue;
            }
        };
        started += 1;
        sh.in_flight.fetch_add(1, Ordering::Relaxed);
        let (ctx, pool, sh) = (Arc::clone(&ctx), Arc::clone(&pool), Arc::clone(&sh));
        tokio::spawn(async move {
            let res = ctx.finish_turn(&mut conv, rx).await;
            sh.in_flight.fetch_sub(1, Ordering::Relaxed);
            match res {
                Ok(d) => {
                    if !sh.closed.load(Ordering::Relaxed) {
                        sh.latencies
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((turn, micros(d.latency)));
                        if d.at <= end {
                            sh.in_window.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Err(e) => {
                    ctx.fail(conv, &e);
                    return;
                }
            }
            if conv.next >= TURNS {
                ctx.end_conv(conv);
                return;
            }
            match ctx.prepare(&mut conv).await {
                Ok(()) => pool
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_back(conv),
                Err(e) => ctx.fail(conv, &e),
            }
        });
    }
    // Let the turns in flight finish, within the grace period.
    let give_up = end.max(Instant::now()) + grace;
    while sh.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sh.closed.store(true, Ordering::Relaxed);
    let unanswered = sh.in_flight.load(Ordering::Relaxed) as u64;
    let latencies = std::mem::take(&mut *sh.latencies.lock().unwrap_or_else(|e| e.into_inner()));
    let achieved = sh.in_window.load(Ordering::Relaxed) as f64 / window.as_secs_f64();
    OpenLoop {
        rate,
        window_s: window.as_secs_f64(),
        started,
        not_started,
        achieved_per_s: achieved,
        latency: percentiles(latencies.iter().map(|(_, l)| *l).collect()),
        latency_by_turn: by_turn(&latencies),
        shortened: false,
        no_account,
        unanswered,
        overloaded: unanswered > 0
            || not_started > no_account
            || achieved < 0.9 * rate as f64 && no_account == 0,
        not_run_overloaded_at: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Open conversations

/// Opens up to `n` conversations (turns 1–3: each leaves a recovery in progress) with
/// `concurrency` at a time, stopping at `time_limit`. Returns how many were opened.
pub async fn open_conversations(
    ctx: Arc<Ctx>,
    n: usize,
    concurrency: usize,
    time_limit: Duration,
) -> usize {
    let deadline = Instant::now() + time_limit;
    let next = Arc::new(AtomicUsize::new(0));
    let opened = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.min(n) {
        let (ctx, next, opened) = (Arc::clone(&ctx), Arc::clone(&next), Arc::clone(&opened));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline && next.fetch_add(1, Ordering::Relaxed) < n {
                let Some(mut conv) = ctx.new_conv() else {
                    return;
                };
                let mut ok = true;
                while conv.next < 3 {
                    if let Err(e) = ctx.run_turn(&mut conv).await {
                        ctx.errors.count(&e);
                        ok = false;
                        break;
                    }
                }
                if ok {
                    opened.fetch_add(1, Ordering::Relaxed);
                }
                ctx.end_conv(conv);
            }
        }));
    }
    let until = tokio::time::Instant::from_std(deadline) + ctx.turn_timeout;
    for t in tasks {
        let abort = t.abort_handle();
        if tokio::time::timeout_at(until, t).await.is_err() {
            abort.abort();
        }
    }
    opened.load(Ordering::Relaxed)
}

/// Accounts one bot needs for the phases, at most.
pub fn accounts_needed(
    conversations: usize,
    assumed_max_rate: f64,
    sat_secs: f64,
    rates: &[u32],
    open_secs: f64,
    rss_conversations: usize,
) -> usize {
    let sat = conversations + (assumed_max_rate * sat_secs / TURNS as f64) as usize;
    // Conversations in flight or idle at the end of a rate carry over to the next one.
    let open: usize = rates
        .iter()
        .map(|&r| (r as f64 * open_secs / TURNS as f64) as usize)
        .sum();
    // (At most the in-flight cap: the conversations, or two seconds at the highest rate.)
    let carried = conversations.max(2 * rates.iter().copied().max().unwrap_or(0) as usize);
    16 + sat + open + carried + rss_conversations
}
