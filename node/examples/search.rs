//! The schedule search of `generals_node::search`, for long runs and replays.
//!
//! ```text
//! cargo run --release -p generals-node --example search -- --schedules 10000000
//! cargo run --release -p generals-node --example search -- --replay SEED [space flags]
//! ```
//!
//! Prints the schedules tried and the rate as it goes, then what every check
//! was evaluated on, and for every violation the case and the one command
//! that replays it. Exit status: 0 if nothing was violated, 3 if something
//! was, 1 on error.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::ensure;
use clap::Parser;
use generals_node::protocol::NodeEvent;
use generals_node::search::{self, Check, Space, Tally};
use generals_node::sim::run_traced;

#[derive(Debug, Parser)]
#[command(about = "Seeded search over schedules, traitor sets and strategies")]
struct Args {
    /// How many cases (schedules) to run.
    #[arg(long, default_value_t = 100_000)]
    schedules: u64,
    /// The first case's seed; cases are seeds first, first+1, ...
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Cases between progress lines.
    #[arg(long, default_value_t = 50_000)]
    chunk: u64,
    /// Go on after a chunk with a violation (at most 8 are printed per chunk).
    #[arg(long)]
    keep_going: bool,
    /// Run one case and print everything about it.
    #[arg(long)]
    replay: Option<u64>,
    #[arg(long, default_value_t = Space::default().min_n)]
    min_n: usize,
    #[arg(long, default_value_t = Space::default().max_n)]
    max_n: usize,
    /// Cap on m (the protocol's own bound always applies).
    #[arg(long, default_value_t = Space::default().max_m)]
    max_m: u8,
    /// δ, the longest a loyal message takes, in µs (Δ is 100 ms).
    #[arg(long, default_value_t = Space::default().delta_us)]
    delta_us: u64,
    /// Override the deadline step (µs); 0 is the flat deadline the search must catch.
    #[arg(long)]
    round_step_us: Option<u64>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    ensure!(
        4 <= args.min_n && args.min_n <= args.max_n && args.max_n <= 64,
        "need 4 <= --min-n <= --max-n <= 64"
    );
    ensure!(
        args.max_m >= 1 && args.delta_us >= 1,
        "--max-m and --delta-us must be at least 1"
    );
    let space = Space {
        min_n: args.min_n,
        max_n: args.max_n,
        max_m: args.max_m,
        delta_us: args.delta_us,
        round_step: args.round_step_us.map(Duration::from_micros),
    };
    if let Some(seed) = args.replay {
        return replay(seed, &space);
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!(
        "search: {} schedules from seed {} on {threads} threads; space: {}",
        args.schedules,
        args.first,
        space.flags()
    );
    let start = Instant::now();
    let end = args.first.saturating_add(args.schedules);
    let mut tally = Tally::default();
    let mut at = args.first;
    while at < end {
        let to = at.saturating_add(args.chunk.max(1)).min(end);
        let (t, findings) = search::search(&space, at..to, threads, 8);
        tally.add(&t);
        for f in &findings {
            println!("VIOLATION {}: {}", f.check.name(), f.detail);
            println!("  case:      {}", search::describe(&f.cfg));
            println!("  reproduce: {}", f.reproduction(&space));
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "tried {} of {}  {:.0} schedules/s  {} violations  {secs:.0} s",
            tally.cases,
            args.schedules,
            tally.cases as f64 / secs.max(1e-9),
            tally.violations
        );
        at = to;
        if tally.violations > 0 && !args.keep_going {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "total: {} schedules in {secs:.1} s, {:.0} schedules/s, seeds {}..{}, {} violations",
        tally.cases,
        tally.cases as f64 / secs.max(1e-9),
        args.first,
        args.first + tally.cases,
        tally.violations
    );
    for check in Check::ALL {
        println!(
            "  check {:<20} evaluated {}",
            check.name(),
            tally.evaluated(check)
        );
    }
    for (what, times) in &tally.seen {
        println!("  {what:<40} {times}");
    }
    Ok(if tally.violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

fn replay(seed: u64, space: &Space) -> anyhow::Result<ExitCode> {
    let mut cfg = search::case(seed, space);
    println!("case {seed}: {}", search::describe(&cfg));
    cfg.log_events = true;
    let (report, trace) = run_traced(&cfg)?;
    // What loyal generals did about the ordered instance, in time order.
    for (at, general, event) in &trace.events {
        let about = match event {
            NodeEvent::Issued { spec, .. }
            | NodeEvent::Joined { spec, .. }
            | NodeEvent::Decided { spec, .. }
            | NodeEvent::LateFrames { spec, .. }
            | NodeEvent::FrameTooLarge { spec, .. } => Some(spec.id),
            NodeEvent::Rejected { instance, .. } => *instance,
        };
        let loyal = !cfg.traitors.contains_key(general);
        if loyal
            && (about == trace.spec.map(|s| s.id) || matches!(event, NodeEvent::Rejected { .. }))
        {
            println!(
                "{:>10.3} ms  general {general}: {event:?}",
                *at as f64 / 1000.0
            );
        }
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    for ((node, spec), times) in &trace.decisions {
        if Some(*spec) == trace.spec || *times != 1 {
            println!("decided: general {node} {spec:?} x{times}");
        }
    }
    println!(
        "instances decided in all (every general): {}",
        trace.decisions.len()
    );
    println!(
        "delivered {} messages, dropped {}, stalled: {}",
        trace.delivered, trace.dropped, trace.stalled
    );
    let (_, finding) = search::check(seed, space);
    Ok(match finding {
        Some(f) => {
            println!("VIOLATION {}: {}", f.check.name(), f.detail);
            ExitCode::from(3)
        }
        None => {
            println!("every check holds");
            ExitCode::SUCCESS
        }
    })
}
