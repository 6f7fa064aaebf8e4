//! The results: one table (a row per metric, a column per bot, and the ratios sspr-bot / peer),
//! the targets, and the same as JSON.

use std::sync::atomic::Ordering;

use serde::Serialize;

use crate::bots::Kind;
use crate::driver::{ErrorCounts, OpenLoop, Saturation, TURNS};

#[derive(Clone, Serialize)]
pub struct Plan {
    pub quick: bool,
    pub conversations: usize,
    pub warmup_s: f64,
    pub saturation_s: f64,
    pub open_s: f64,
    pub rates: Vec<u32>,
    pub grace_s: f64,
    pub rss_conversations: usize,
    pub rss_time_limit_s: f64,
    pub overloaded_open_s: f64,
    pub rss_concurrency: usize,
    pub cold_starts: usize,
    pub clk_tck: u64,
}

#[derive(Serialize)]
pub struct ColdStart {
    pub runs_ms: Vec<f64>,
    pub median_ms: f64,
}

impl ColdStart {
    pub fn new(mut runs_ms: Vec<f64>) -> ColdStart {
        let mut sorted = runs_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let median_ms = if sorted.is_empty() {
            f64::NAN
        } else {
            sorted[sorted.len() / 2]
        };
        runs_ms.shrink_to_fit();
        ColdStart { runs_ms, median_ms }
    }
}

#[derive(Serialize)]
pub struct Rss {
    pub target: usize,
    pub opened: usize,
    pub secs: f64,
    pub vm_hwm_kib: u64,
    pub vm_rss_kib: u64,
}

#[derive(Default, Serialize)]
pub struct Errors {
    pub timeouts: u64,
    pub missing_buttons: u64,
    pub missing_codes: u64,
    pub wrong_flows: u64,
    pub first: Option<String>,
}

impl From<&ErrorCounts> for Errors {
    fn from(e: &ErrorCounts) -> Errors {
        Errors {
            timeouts: e.timeouts.load(Ordering::Relaxed),
            missing_buttons: e.missing_buttons.load(Ordering::Relaxed),
            missing_codes: e.missing_codes.load(Ordering::Relaxed),
            wrong_flows: e.wrong_flows.load(Ordering::Relaxed),
            first: e.first.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }
}

impl Errors {
    fn total(&self) -> u64 {
        self.timeouts + self.missing_buttons + self.missing_codes + self.wrong_flows
    }
}

#[derive(Serialize)]
pub struct BotResult {
    pub id: &'static str,
    pub title: &'static str,
    /// "ok", "skipped: …" or "failed: …".
    pub status: String,
    pub accounts_seeded: usize,
    pub accounts_used: usize,
    pub seed_s: f64,
    pub wall_s: f64,
    pub cold_start: Option<ColdStart>,
    /// sendMessage calls per turn, from calibration.
    pub turn_messages: Option<[u32; TURNS]>,
    /// The calibration conversation.
    pub transcript: Option<String>,
    pub saturation: Option<Saturation>,
    pub open_loop: Vec<OpenLoop>,
    pub rss: Option<Rss>,
    pub errors: Errors,
    pub flows_completed: u64,
    pub stray_messages: u64,
    /// Bot API calls, and those the fake refused (bad parameters) or did not know.
    pub api_requests: u64,
    pub bad_requests: u64,
    pub unknown_methods: u64,
    pub smtp_messages: u64,
    pub smtp_without_code: u64,
    pub exited: Option<String>,
}

impl BotResult {
    pub fn new(kind: Kind) -> BotResult {
        BotResult {
            id: kind.id(),
            title: kind.title(),
            status: "ok".into(),
            accounts_seeded: 0,
            accounts_used: 0,
            seed_s: 0.0,
            wall_s: 0.0,
            cold_start: None,
            turn_messages: None,
            transcript: None,
            saturation: None,
            open_loop: Vec::new(),
            rss: None,
            errors: Errors::default(),
            flows_completed: 0,
            stray_messages: 0,
            api_requests: 0,
            bad_requests: 0,
            unknown_methods: 0,
            smtp_messages: 0,
            smtp_without_code: 0,
            exited: None,
        }
    }
}

/// A number the way a person reads it: 4,512 / 38.2 / 0.412.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        thousands(v.round() as i64)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn thousands(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() && b.is_finite() => {
            let r = a / b;
            if r >= 10.0 {
                format!("{r:.1}×")
            } else if r >= 0.1 || r == 0.0 {
                format!("{r:.2}×")
            } else {
                // Two significant digits: 0.0071×.
                let decimals = (-r.log10()).ceil() as usize + 1;
                format!("{r:.decimals$}×")
            }
        }
        _ => "–".into(),
    }
}

struct Row {
    label: String,
    cells: Vec<String>,
    values: Vec<Option<f64>>,
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn nproc() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0)
}

fn ok(r: &BotResult) -> bool {
    r.status == "ok"
}

pub fn render(plan: &Plan, results: &[BotResult], wall_s: f64, software: &str) -> String {
    let mut out = String::new();
    let mode = if plan.quick { "quick" } else { "full" };
    out.push_str(&format!(
        "\nsspr-bot benchmark — {}\n{software}\nmachine: {} cores ({}), {}\nmode: {mode}; closed loop {} conversations ({:.0} s warm-up + {:.0} s), open loop {:.0} s per rate, {} open conversations for memory, {} cold start(s); wall time {:.0} s\n",
        chrono::Local::now().format("%Y-%m-%d %H:%M:%S %z"),
        nproc(),
        cpu_model(),
        std::env::consts::ARCH,
        plan.conversations,
        plan.warmup_s,
        plan.saturation_s,
        plan.open_s,
        thousands(plan.rss_conversations as i64),
        plan.cold_starts,
        wall_s
    ));
    out.push_str(
        "flow: 7 turns per conversation (/start, login, reason:forgot, method:email, e-mail code, \
         method:totp, TOTP code), each with a fresh account; it ends at the new-password prompt: \
         the password turns (argon2id) are excluded by definition.\n\n",
    );

    let cols: Vec<&BotResult> = Kind::ALL
        .iter()
        .filter_map(|k| results.iter().find(|r| r.id == k.id()))
        .collect();
    let get = |kind: Kind| results.iter().find(|r| r.id == kind.id() && ok(r));
    let mut rows: Vec<Row> = Vec::new();
    let mut add = |label: String, f: &dyn Fn(&BotResult) -> Option<(f64, String)>| {
        let mut cells = Vec::new();
        let mut values = Vec::new();
        for r in &cols {
            match f(r) {
                Some((v, s)) => {
                    values.push(Some(v));
                    cells.push(s);
                }
                None => {
                    values.push(None);
                    cells.push("–".into());
                }
            }
        }
        rows.push(Row {
            label,
            cells,
            values,
        });
    };
    add(
        format!(
            "turns/s at saturation (closed loop, {} conv.)",
            plan.conversations
        ),
        &|r| {
            r.saturation.as_ref().map(|s| {
                let mark = if s.accounts_ran_out { "†" } else { "" };
                (s.turns_per_s, format!("{}{mark}", num(s.turns_per_s)))
            })
        },
    );
    add("  turn latency at saturation p50 (ms)".into(), &|r| {
        r.saturation
            .as_ref()
            .map(|s| (s.latency.p50_ms, num(s.latency.p50_ms)))
    });
    add("  turn latency at saturation p99 (ms)".into(), &|r| {
        r.saturation
            .as_ref()
            .map(|s| (s.latency.p99_ms, num(s.latency.p99_ms)))
    });
    add("CPU-ms per turn (at saturation)".into(), &|r| {
        r.saturation
            .as_ref()
            .and_then(|s| s.cpu_ms_per_turn)
            .map(|c| (c, num(c)))
    });
    for &rate in &plan.rates {
        fn at(r: &BotResult, rate: u32) -> Option<&OpenLoop> {
            r.open_loop.iter().find(|o| o.rate == rate)
        }
        add(format!("open loop {rate}/s: achieved turns/s"), &|r| {
            let o = at(r, rate)?;
            if let Some(lower) = o.not_run_overloaded_at {
                return Some((f64::NAN, format!("not run (✗ at {lower}/s)")));
            }
            Some(o).map(|o| {
                let mark = match (o.overloaded, o.shortened) {
                    (false, false) => "",
                    (false, true) => "‡",
                    (true, false) => " ✗ overloaded",
                    (true, true) => " ✗ overloaded‡",
                };
                (o.achieved_per_s, format!("{}{mark}", num(o.achieved_per_s)))
            })
        });
        for (name, pick) in [
            (
                "p50",
                (|o: &OpenLoop| o.latency.p50_ms) as fn(&OpenLoop) -> f64,
            ),
            ("p99", |o: &OpenLoop| o.latency.p99_ms),
            ("p99.9", |o: &OpenLoop| o.latency.p999_ms),
        ] {
            add(format!("  {rate}/s turn latency {name} (ms)"), &|r| {
                at(r, rate).filter(|o| o.latency.n > 0).map(|o| {
                    let v = pick(o);
                    let mark = if o.overloaded { "*" } else { "" };
                    (v, format!("{}{mark}", num(v)))
                })
            });
        }
    }
    let rss_label = format!(
        "peak RSS (VmHWM), {} open conv. (MB)",
        thousands(plan.rss_conversations as i64)
    );
    add(rss_label, &|r| {
        r.rss.as_ref().map(|m| {
            let v = m.vm_hwm_kib as f64 / 1024.0;
            let mark = if m.opened < m.target {
                format!(" ({} open)", thousands(m.opened as i64))
            } else {
                String::new()
            };
            (v, format!("{}{mark}", num(v)))
        })
    });
    add("  RSS now (VmRSS) (MB)".into(), &|r| {
        r.rss.as_ref().map(|m| {
            let v = m.vm_rss_kib as f64 / 1024.0;
            (v, num(v))
        })
    });
    add(
        format!(
            "cold start to first getUpdates (ms, median of {})",
            plan.cold_starts
        ),
        &|r| {
            r.cold_start
                .as_ref()
                .map(|c| (c.median_ms, num(c.median_ms)))
        },
    );

    // Render: label column, one column per bot, then the ratios.
    let sspr_col = cols.iter().position(|r| r.id == Kind::Sspr.id());
    let peer_cols: Vec<(usize, &str)> = [(Kind::Ptb, "sspr/PTB"), (Kind::Aiogram, "sspr/aiogram")]
        .iter()
        .filter_map(|(k, name)| cols.iter().position(|r| r.id == k.id()).map(|i| (i, *name)))
        .collect();
    let mut header: Vec<String> = vec!["metric".into()];
    header.extend(cols.iter().map(|r| r.title.to_string()));
    if sspr_col.is_some() {
        header.extend(peer_cols.iter().map(|(_, n)| n.to_string()));
    }
    let mut table: Vec<Vec<String>> = vec![header];
    for row in &rows {
        let mut line = vec![row.label.clone()];
        line.extend(row.cells.iter().cloned());
        if let Some(s) = sspr_col {
            for (p, _) in &peer_cols {
                line.push(ratio(row.values[s], row.values[*p]));
            }
        }
        table.push(line);
    }
    let ncols = table[0].len();
    let width: Vec<usize> = (0..ncols)
        .map(|c| {
            table
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (i, line) in table.iter().enumerate() {
        let mut s = String::new();
        for (c, cell) in line.iter().enumerate() {
            let pad = width[c] - cell.chars().count();
            if c == 0 {
                s.push_str(cell);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str(" | ");
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&"-".repeat(width.iter().sum::<usize>() + 3 * (ncols - 1)));
            out.push('\n');
        }
    }

    // Per bot: status, calibration, errors.
    out.push('\n');
    for r in &cols {
        let mut line = format!("{}: ", r.title);
        if !ok(r) {
            line.push_str(&r.status);
        } else {
            if let Some(c) = &r.turn_messages {
                line.push_str(&format!(
                    "sendMessages per turn {}; ",
                    c.iter().map(u32::to_string).collect::<Vec<_>>().join("/")
                ));
            }
            line.push_str(&format!(
                "{} flows completed, {} accounts used of {}; errors: {} (unanswered within 20 s {}, missing buttons {}, missing e-mail codes {}, wrong flows {}); late/stray sendMessages {}; e-mails {} ({} without a code); generator CPU-ms per turn {}",
                thousands(r.flows_completed as i64),
                thousands(r.accounts_used as i64),
                thousands(r.accounts_seeded as i64),
                r.errors.total(),
                r.errors.timeouts,
                r.errors.missing_buttons,
                r.errors.missing_codes,
                r.errors.wrong_flows,
                r.stray_messages,
                thousands(r.smtp_messages as i64),
                r.smtp_without_code,
                r.saturation
                    .as_ref()
                    .and_then(|s| s.generator_cpu_ms_per_turn)
                    .map(num)
                    .unwrap_or("–".into()),
            ));
            if r.bad_requests + r.unknown_methods > 0 {
                line.push_str(&format!(
                    "; Bot API calls the fake refused: {} bad, {} unknown methods (of {})",
                    r.bad_requests,
                    r.unknown_methods,
                    thousands(r.api_requests as i64)
                ));
            }
            if let Some(first) = &r.errors.first {
                line.push_str(&format!("; first error: {first}"));
            }
            if let Some(m) = &r.rss {
                if m.opened < m.target {
                    line.push_str(&format!(
                        "; only {} of {} conversations opened within {:.0} s",
                        thousands(m.opened as i64),
                        thousands(m.target as i64),
                        m.secs
                    ));
                }
            }
        }
        if let Some(x) = &r.exited {
            line.push_str(&format!("\n  {x}"));
        }
        out.push_str(&line);
        out.push('\n');
    }

    // Targets.
    out.push_str("\ntargets (2-core machine):\n");
    let sspr = get(Kind::Sspr);
    let sat = |r: Option<&BotResult>| r.and_then(|r| r.saturation.as_ref()).map(|s| s.turns_per_s);
    let mut target = |ok: Option<bool>, what: &str, value: String| {
        let mark = match ok {
            Some(true) => "✓",
            Some(false) => "✗",
            None => "–",
        };
        out.push_str(&format!("  {mark} {what:<58} {value}\n"));
    };
    let t = sat(sspr);
    target(
        t.map(|v| v >= 3000.0),
        "≥ 3,000 turns/s at saturation (no argon2, state written each turn)",
        t.map(|v| format!("{} turns/s", num(v)))
            .unwrap_or("not measured".into()),
    );
    let p99 = sspr.and_then(|r| r.open_loop.iter().find(|o| o.rate == 1000));
    target(
        p99.map(|o| !o.overloaded && o.latency.p99_ms < 50.0),
        "p99 < 50 ms at 1,000 turns/s open loop",
        p99.map(|o| {
            format!(
                "{} ms{}",
                num(o.latency.p99_ms),
                if o.overloaded {
                    format!(" (overloaded: {} turns/s achieved)", num(o.achieved_per_s))
                } else {
                    String::new()
                }
            )
        })
        .unwrap_or("not measured".into()),
    );
    let rss = sspr.and_then(|r| r.rss.as_ref());
    target(
        rss.map(|m| (m.vm_hwm_kib as f64 / 1024.0) < 100.0 && m.opened >= 10_000),
        "peak RSS < 100 MB with 10,000 open conversations",
        rss.map(|m| {
            let mut s = format!("{} MB", num(m.vm_hwm_kib as f64 / 1024.0));
            if m.opened < 10_000 {
                s.push_str(&format!(
                    " with {} open conversations{} — not the target's 10,000",
                    thousands(m.opened as i64),
                    if plan.quick { " (quick mode)" } else { "" }
                ));
            }
            s
        })
        .unwrap_or("not measured".into()),
    );
    let cold = sspr
        .and_then(|r| r.cold_start.as_ref())
        .map(|c| c.median_ms);
    target(
        cold.map(|c| c < 100.0),
        "cold start < 100 ms (to the first getUpdates)",
        cold.map(|c| format!("{} ms", num(c)))
            .unwrap_or("not measured".into()),
    );
    for (kind, factor, what) in [
        (
            Kind::Ptb,
            10.0,
            "≥ 10× python-telegram-bot's turns/s (same run)",
        ),
        (Kind::Aiogram, 4.0, "≥ 4× aiogram's turns/s (same run)"),
    ] {
        let peer = sat(get(kind));
        let r = match (t, peer) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        target(
            r.map(|r| r >= factor),
            what,
            r.map(|r| format!("{r:.1}×"))
                .unwrap_or_else(|| "not measured".into()),
        );
    }

    out.push_str(&format!(
        "\nnotes:\n\
         - everything runs on loopback on this machine: the generator (fake Telegram Bot API, SMTP sink, conversations) shares the {} cores with the bot it measures; its own CPU per turn is shown above.\n\
         - turn latency: from the moment the update is queued in the fake (a waiting getUpdates wakes at once) to the arrival of the turn's last sendMessage; waiting for the e-mail is not part of any turn.\n\
         - CPU-ms per turn: utime+stime of the bot's process (/proc/<pid>/stat, {} ticks/s) over the measured window ÷ turns completed in it.\n\
         - open loop: turns start on a fixed schedule whatever the replies do; * = the bot could not keep up (✗ overloaded: turns unanswered {:.0} s after the window, turns not started because {} were unanswered, or achieved < 90% of the rate); its percentiles are of the answered turns only. ‡ = the rate is over 1.25× the bot's saturation throughput, so the window was cut to {:.0} s.\n\
         - closed loop: the conversations are first spread evenly over the 7 turns (unmeasured), so every bot is measured on the same mix of turns.\n\
         - peak RSS is the process's high-water mark over the whole run (VmHWM), read after opening the conversations (each did turns 1–3, leaving a recovery in progress).\n\
         - † = the seeded accounts ran out before the window ended; the window was cut there.\n",
        nproc(),
        plan.clk_tck,
        plan.grace_s,
        "more than max(closed-loop conversations, 2 s of saturation throughput)",
        plan.overloaded_open_s,
    ));
    if plan.quick {
        out.push_str(&format!(
            "- quick mode runs no open-loop rate above one a bot could not keep up with (\"not run\"), \
             and opens only the conversations it can in {:.0} s for the memory figure.\n",
            plan.rss_time_limit_s
        ));
    }
    out
}

pub fn json(
    plan: &Plan,
    results: &[BotResult],
    wall_s: f64,
    software: &str,
) -> anyhow::Result<String> {
    let v = serde_json::json!({
        "software": software,
        "date": chrono::Local::now().to_rfc3339(),
        "nproc": nproc(),
        "cpu_model": cpu_model(),
        "mode": if plan.quick { "quick" } else { "full" },
        "plan": plan,
        "wall_s": wall_s,
        "bots": results,
    });
    Ok(serde_json::to_string_pretty(&v)?)
}
