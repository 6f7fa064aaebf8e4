//! The benchmark's load generator (issue 9, item 5): plays the Telegram Bot API and an SMTP server
//! for sspr-bot and for the same flow written with python-telegram-bot 22 and aiogram 3
//! (`bench/peers/`), drives scripted password-reset conversations through each, and prints one
//! table. Run it through `bench/run [--quick]`, which builds everything and passes the paths.
//!
//! Per bot: cold start (spawn → first getUpdates), a calibration conversation, saturation
//! (closed loop), open loop at fixed rates, and memory with many open conversations. All on
//! loopback; the generator shares the machine's cores with the bot it measures.

mod bots;
mod driver;
mod fake_tg;
mod report;
mod smtp;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

use bots::{Bot, Env, Kind};
use driver::Ctx;
use fake_tg::Fake;
use report::{BotResult, ColdStart, Plan, Rss};
use smtp::Sink;

#[derive(Parser, Debug)]
#[command(about = "sspr-bot benchmark: load generator, fake Telegram Bot API and SMTP sink")]
struct Args {
    /// Short run (under two minutes for all three bots): fewer conversations, shorter phases.
    #[arg(long)]
    quick: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
    /// The sspr-bot binary (release build).
    #[arg(long, default_value = "target/release/sspr-bot")]
    sspr_bin: PathBuf,
    /// The Python interpreter with the peers' requirements (bench/run's venv).
    #[arg(long, default_value = "target/bench-venv/bin/python")]
    python: PathBuf,
    /// The directory with ptb_bot.py and aiogram_bot.py.
    #[arg(long, default_value = "bench/peers")]
    peers: PathBuf,
    /// Where the bots' databases, configurations and logs go (emptied per bot).
    #[arg(long, default_value = "target/bench/work")]
    workdir: PathBuf,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
    /// Which bots: sspr-bot, ptb, aiogram (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "sspr-bot,ptb,aiogram")]
    bots: Vec<String>,
    /// Concurrent conversations in the closed loop (default 256; quick 128).
    #[arg(long)]
    conversations: Option<usize>,
    /// Measured seconds of the closed loop (default 20; quick 5), after a 2 s warm-up.
    #[arg(long)]
    saturation_secs: Option<f64>,
    /// Seconds per open-loop rate (default 20; quick 3).
    #[arg(long)]
    open_secs: Option<f64>,
    /// Open-loop rates in turns/s.
    #[arg(long, value_delimiter = ',', default_value = "28,85,300,1000")]
    rates: Vec<u32>,
    /// Conversations held open for the memory measurement (default 10000; quick 2000).
    #[arg(long)]
    rss_conversations: Option<usize>,
    /// Cold starts per bot (default 5; quick 2).
    #[arg(long)]
    cold_starts: Option<usize>,
    /// Worker threads of the generator's runtime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

/// A token of the usual shape (bot id, colon, secret).
const TOKEN: &str = "7700000001:AAbenchmarkTokenForTheLoadGenerator01";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

fn plan(args: &Args) -> Plan {
    let q = args.quick;
    Plan {
        quick: q,
        conversations: args.conversations.unwrap_or(if q { 128 } else { 256 }),
        warmup_s: 2.0,
        saturation_s: args.saturation_secs.unwrap_or(if q { 5.0 } else { 20.0 }),
        open_s: args.open_secs.unwrap_or(if q { 3.0 } else { 20.0 }),
        rates: args.rates.clone(),
        grace_s: if q { 5.0 } else { 10.0 },
        rss_conversations: args
            .rss_conversations
            .unwrap_or(if q { 2000 } else { 10_000 }),
        rss_time_limit_s: if q { 5.0 } else { 120.0 },
        overloaded_open_s: if q { 2.0 } else { 5.0 },
        rss_concurrency: if q { 128 } else { 256 },
        cold_starts: args.cold_starts.unwrap_or(if q { 2 } else { 5 }),
        clk_tck: args.clk_tck,
    }
}

fn progress(msg: impl AsRef<str>) {
    eprintln!(
        "[loadgen {}] {}",
        chrono::Local::now().format("%H:%M:%S"),
        msg.as_ref()
    );
}

/// The 1, 5 and 15 minute load averages: other work on the machine distorts every figure.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let wall = Instant::now();
    let load_before = loadavg();
    smtp::self_check().context("SMTP sink self-check")?;
    let plan = plan(&args);
    let abs = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
    let env = Env {
        sspr_bin: abs(&args.sspr_bin),
        python: abs(&args.python),
        peers_dir: abs(&args.peers),
        workdir: abs(&args.workdir),
        token: TOKEN.to_owned(),
    };
    std::fs::create_dir_all(&env.workdir)?;
    let kinds: Vec<Kind> = args
        .bots
        .iter()
        .map(|b| Kind::parse(b).with_context(|| format!("unknown bot {b:?}")))
        .collect::<anyhow::Result<_>>()?;

    let fake = Fake::start(TOKEN).await?;
    let sink = Sink::start().await?;
    progress(format!(
        "fake Telegram at {}, SMTP sink at 127.0.0.1:{}",
        fake.base_url, sink.port
    ));

    // Seed every bot's database first, all at once, before anything is measured.
    let mut results: Vec<BotResult> = Vec::new();
    let mut seeding = Vec::new();
    for &kind in &kinds {
        let mut r = BotResult::new(kind);
        if let Some(why) = Bot::unavailable(kind, &env) {
            progress(format!("{}: skipped: {why}", kind.title()));
            r.status = format!("skipped: {why}");
            results.push(r);
            continue;
        }
        let bot = Bot::new(kind, &env)?;
        // Enough accounts for a bot this fast (a faster one ends its closed loop early, †).
        let assumed_max = match (kind, plan.quick) {
            (Kind::Sspr, false) => 6_000.0,
            (Kind::Sspr, true) => 4_000.0,
            _ => 3_000.0,
        };
        let n = driver::accounts_needed(
            plan.conversations,
            assumed_max,
            plan.warmup_s + plan.saturation_s,
            &plan.rates,
            plan.open_s,
            plan.rss_conversations,
        );
        r.accounts_seeded = n;
        results.push(r);
        seeding.push((kind, bot, n));
    }
    let env = Arc::new(env);
    let mut handles = Vec::new();
    for (kind, bot, n) in seeding {
        let env = Arc::clone(&env);
        handles.push(tokio::spawn(async move {
            let t = Instant::now();
            progress(format!("{}: seeding {n} accounts", kind.title()));
            let res = bot.seed(&env, n).await;
            (kind, bot, res, t.elapsed())
        }));
    }
    let mut ready = Vec::new();
    for h in handles {
        let (kind, bot, res, took) = h.await?;
        let r = results
            .iter_mut()
            .find(|r| r.id == kind.id())
            .expect("listed");
        r.seed_s = took.as_secs_f64();
        match res {
            Ok(()) => {
                progress(format!("{}: seeded in {:.1} s", kind.title(), r.seed_s));
                ready.push(bot);
            }
            Err(e) => {
                progress(format!("{}: seeding failed: {e:#}", kind.title()));
                r.status = format!("failed: seeding: {e:#}");
            }
        }
    }

    for bot in ready {
        let r = results
            .iter_mut()
            .find(|r| r.id == bot.kind.id())
            .expect("listed");
        let t = Instant::now();
        if let Err(e) = run_bot(&bot, &env, &plan, &fake, &sink, r).await {
            progress(format!("{}: {e:#}", bot.kind.title()));
            if r.status == "ok" {
                r.status = format!("failed: {e:#}");
            }
        }
        r.wall_s = t.elapsed().as_secs_f64();
        fake.close_all_chats();
        fake.clear_updates();
        sink.clear();
    }

    let wall_s = wall.elapsed().as_secs_f64();
    let software = format!(
        "{}\nload average (1/5/15 min) at the start: {load_before}; at the end: {} (other \
         processes on the machine distort every figure)",
        software(&env),
        loadavg()
    );
    let text = report::render(&plan, &results, wall_s, &software);
    println!("{text}");
    if let Some(path) = &args.json {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, report::json(&plan, &results, wall_s, &software)?)
            .with_context(|| format!("writing {}", path.display()))?;
        progress(format!("results written to {}", path.display()));
    }
    Ok(())
}

/// What was measured: the sspr-bot commit and the peers' versions.
fn software(env: &Env) -> String {
    let run = |cmd: &mut std::process::Command| {
        cmd.output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = run(std::process::Command::new("git")
        .arg("-C")
        .arg(env!("CARGO_MANIFEST_DIR"))
        .args(["describe", "--always", "--dirty"]))
    .unwrap_or_else(|| "?".into());
    let mut s = format!("sspr-bot {} (git {commit})", env!("CARGO_PKG_VERSION"));
    if let Some(v) = run(std::process::Command::new(&env.python).args([
        "-c",
        "import importlib.metadata as m, platform\n\
         print('python-telegram-bot', m.version('python-telegram-bot'), '· aiogram', \
         m.version('aiogram'), '· Python', platform.python_version())",
    ])) {
        s.push_str(" · ");
        s.push_str(&v);
    }
    s
}

/// Waits for the next getUpdates after `polls` was last seen, or for the child to exit.
async fn first_poll(
    polls: &mut tokio::sync::watch::Receiver<u64>,
    child: &mut bots::Child,
    timeout: Duration,
) -> anyhow::Result<()> {
    tokio::select! {
        r = tokio::time::timeout(timeout, polls.changed()) => match r {
            Ok(Ok(())) => Ok(()),
            _ => anyhow::bail!("no getUpdates within {} s", timeout.as_secs()),
        },
        status = child.wait() => {
            anyhow::bail!("the bot exited before its first getUpdates ({status})")
        }
    }
}

async fn run_bot(
    bot: &Bot,
    env: &Env,
    plan: &Plan,
    fake: &Arc<Fake>,
    sink: &Arc<Sink>,
    r: &mut BotResult,
) -> anyhow::Result<()> {
    let title = bot.kind.title();
    let with_log = |e: anyhow::Error| {
        anyhow::anyhow!(
            "{e:#}\n--- last lines of {} ---\n{}",
            bot.log.display(),
            bot.log_tail(25)
        )
    };

    // 1. Cold starts: separate starts, killed once they poll; the start of the process for the
    // load phases (below) is measured the same way and is the last sample.
    let mut cold = Vec::new();
    for i in 0..plan.cold_starts.saturating_sub(1) {
        let mut polls = fake.polls();
        polls.borrow_and_update();
        let t = Instant::now();
        let mut child = bot.spawn(env, &fake.base_url, sink.port)?;
        let res = first_poll(&mut polls, &mut child, Duration::from_secs(60)).await;
        let took = t.elapsed();
        bots::kill(&mut child).await;
        res.map_err(with_log)?;
        cold.push(took.as_secs_f64() * 1000.0);
        progress(format!(
            "{title}: cold start {}: {:.1} ms",
            i + 1,
            took.as_secs_f64() * 1000.0
        ));
    }
    fake.clear_updates();

    // 2. The process for the load phases.
    let mut polls = fake.polls();
    polls.borrow_and_update();
    let t = Instant::now();
    let mut child = bot.spawn(env, &fake.base_url, sink.port)?;
    let pid = child.id();
    first_poll(&mut polls, &mut child, Duration::from_secs(60))
        .await
        .map_err(with_log)?;
    let took = t.elapsed().as_secs_f64() * 1000.0;
    if plan.cold_starts > 0 {
        cold.push(took);
        progress(format!(
            "{title}: cold start {} (the process for the load phases): {took:.1} ms",
            cold.len()
        ));
    }
    r.cold_start = Some(ColdStart::new(cold));
    let outcome = load_phases(bot, env, plan, fake, sink, r, pid, &mut child).await;
    if let Some(status) = child.try_wait() {
        r.exited = Some(format!(
            "the bot exited during the run ({status}); last lines of its log:\n{}",
            bot.log_tail(25)
        ));
    }
    progress(format!("{title}: stopping"));
    bots::stop(&mut child, Duration::from_secs(5)).await;
    let take = |c: &std::sync::atomic::AtomicU64| c.swap(0, std::sync::atomic::Ordering::Relaxed);
    r.stray_messages = take(&fake.stats.stray_messages);
    r.api_requests = take(&fake.stats.requests);
    r.bad_requests = take(&fake.stats.bad_requests);
    r.unknown_methods = take(&fake.stats.unknown_methods);
    take(&fake.stats.get_updates);
    take(&fake.stats.send_message);
    outcome.map_err(with_log)
}

#[allow(clippy::too_many_arguments)]
async fn load_phases(
    bot: &Bot,
    env: &Env,
    plan: &Plan,
    fake: &Arc<Fake>,
    sink: &Arc<Sink>,
    r: &mut BotResult,
    mut pid: u32,
    child: &mut bots::Child,
) -> anyhow::Result<()> {
    let title = bot.kind.title();
    let mut ctx = Ctx::new(Arc::clone(fake), Arc::clone(sink), 0, r.accounts_seeded);

    // Calibration: how many sendMessages each turn takes, and that the flow works.
    progress(format!("{title}: calibrating"));
    // (A bot that dies here ends the calibration at once; the load phases are bounded in time
    // and checked between phases.)
    let cal = tokio::select! {
        cal = driver::calibrate(&ctx, Duration::from_millis(250)) => cal,
        status = child.wait() => Err(format!("the bot exited ({status})")),
    }
    .map_err(|e| anyhow::anyhow!("calibration failed: {e}"))?;
    r.turn_messages = Some(cal.counts);
    r.transcript = Some(driver::transcript_text(&cal));
    progress(format!(
        "{title}: sendMessages per turn {:?}",
        cal.counts.to_vec()
    ));
    ctx.counts = cal.counts;
    let ctx = Arc::new(ctx);
    let alive = |child: &mut bots::Child| -> anyhow::Result<()> {
        match child.try_wait() {
            Some(status) => anyhow::bail!("the bot exited ({status})"),
            None => Ok(()),
        }
    };

    // Saturation.
    progress(format!(
        "{title}: closed loop, {} conversations (spread over the turns first), {:.0}+{:.0} s",
        plan.conversations, plan.warmup_s, plan.saturation_s
    ));
    let sat = driver::saturation(
        Arc::clone(&ctx),
        pid,
        plan.clk_tck,
        plan.conversations,
        Duration::from_secs_f64(plan.warmup_s),
        Duration::from_secs_f64(plan.saturation_s),
    )
    .await;
    progress(format!(
        "{title}: {:.0} turns/s, {} CPU-ms/turn, p50 {:.1} ms",
        sat.turns_per_s,
        sat.cpu_ms_per_turn
            .map(|c| format!("{c:.3}"))
            .unwrap_or("?".into()),
        sat.latency.p50_ms
    ));
    let sat_tps = sat.turns_per_s;
    r.saturation = Some(sat);
    alive(child)?;

    // Open loop. At most about two seconds of the bot's work may be unanswered at a time; a
    // rate well above the saturation throughput is overloaded by construction and gets a
    // shorter window.
    let pool = driver::new_pool();
    let cap = plan.conversations.max((2.0 * sat_tps) as usize);
    let mut overloaded_at: Option<u32> = None;
    for &rate in &plan.rates {
        if let (true, Some(at)) = (plan.quick, overloaded_at) {
            // Quick mode: a higher rate than one the bot could not keep up with is not run.
            r.open_loop.push(driver::OpenLoop {
                rate,
                overloaded: true,
                not_run_overloaded_at: Some(at),
                ..Default::default()
            });
            continue;
        }
        let shortened = rate as f64 > 1.25 * sat_tps && plan.overloaded_open_s < plan.open_s;
        let window = if shortened {
            plan.overloaded_open_s
        } else {
            plan.open_s
        };
        let mut o = driver::open_loop(
            Arc::clone(&ctx),
            Arc::clone(&pool),
            rate,
            Duration::from_secs_f64(window),
            Duration::from_secs_f64(plan.grace_s),
            cap,
        )
        .await;
        o.shortened = shortened;
        if o.overloaded && overloaded_at.is_none() {
            overloaded_at = Some(rate);
        }
        progress(format!(
            "{title}: open loop {rate}/s: achieved {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms{}",
            o.achieved_per_s,
            o.latency.p50_ms,
            o.latency.p99_ms,
            o.latency.p999_ms,
            if o.overloaded { " (overloaded)" } else { "" }
        ));
        r.open_loop.push(o);
        alive(child)?;
    }
    driver::close_pool(&ctx, &pool);
    fake.close_all_chats();

    // Memory with many conversations open, in a fresh process on the same database: the
    // high-water mark is then that of the open conversations, not of the overloaded open-loop
    // backlog before (a process keeps the peak of its whole life in VmHWM).
    progress(format!("{title}: restarting for the memory measurement"));
    bots::stop(child, Duration::from_secs(5)).await;
    let mut polls = fake.polls();
    polls.borrow_and_update();
    *child = bot.spawn(env, &fake.base_url, sink.port)?;
    pid = child.id();
    first_poll(&mut polls, child, Duration::from_secs(60)).await?;
    progress(format!(
        "{title}: opening {} conversations (turns 1–3)",
        plan.rss_conversations
    ));
    let t = Instant::now();
    let opened = driver::open_conversations(
        Arc::clone(&ctx),
        plan.rss_conversations,
        plan.rss_concurrency,
        Duration::from_secs_f64(plan.rss_time_limit_s),
    )
    .await;
    let secs = t.elapsed().as_secs_f64();
    alive(child)?;
    let (hwm, rss) = bots::memory_kib(pid).unwrap_or((0, 0));
    progress(format!(
        "{title}: {opened} conversations open after {secs:.1} s: VmHWM {:.1} MB, VmRSS {:.1} MB",
        hwm as f64 / 1024.0,
        rss as f64 / 1024.0
    ));
    r.rss = Some(Rss {
        target: plan.rss_conversations,
        opened,
        secs,
        vm_hwm_kib: hwm,
        vm_rss_kib: rss,
    });
    r.errors = report::Errors::from(&ctx.errors);
    r.flows_completed = ctx
        .flows_completed
        .load(std::sync::atomic::Ordering::Relaxed);
    r.accounts_used = ctx.accounts_used();
    r.smtp_messages = sink.messages.swap(0, std::sync::atomic::Ordering::Relaxed);
    r.smtp_without_code = sink
        .without_code
        .swap(0, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}
