//! `generals bench`: latency and throughput of real daemons on loopback,
//! measured inside the daemons (the harness is [`crate::bench`]).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use generals_crypto::NodeId;
use generals_wire::Protocol;

use crate::bench::{idle_markdown, markdown, IdleWorkload, Workload};
use crate::protocol::adversary::Strategy;

/// Below 32768, where Linux starts the ephemeral ports of outgoing
/// connections (the dialers'), and away from `testnet`'s default 7000 and
/// the test clusters' 20000..32768.
const DEFAULT_BASE_PORT: u16 = 17_000;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  generals bench --protocol oral --nodes 4 --m 1 --instances 200
      # OM(1) at n = 4, one instance at a time: order to all decided, p50/p90/p99
  generals bench --protocol signed --nodes 4 --m 1 --instances 2000 --in-flight 32
      # SM(1) pipelined: 32 instances in flight, instances/s over the run
  generals bench --protocol signed --nodes 100 --m 33 --instances 5 --json
  generals bench --protocol signed --nodes 4 --m 1 --instances 20 --traitors 0 --strategy equivocate
      # a commander that signs both orders: every loyal lieutenant RETREAT, with the proof
  generals bench --protocol signed --nodes 100 --m 33 --instances 3 --warmup 1 \\
      --traitors $(seq -s, 0 32) --strategy late-reveal --seed 0
      # SM(33) with m traitors: the commander's second order revealed to general 99,
      # 32 traitor lieutenants relaying nothing before round m+1
  generals bench --idle 10 --nodes 4
      # every daemon's RSS and CPU ticks over 10 s without orders

It starts one `generals node` process per general on 127.0.0.1 (ports
BASE_PORT.. BASE_PORT+n-1) in a fresh temporary directory, waits for every link,
runs --warmup instances (not counted), then --instances orders from general 0,
keeping --in-flight of them open: each next order goes out as soon as one has
its complete report. Orders and reports go over the control sockets from this
process, so no process start is in any time. Every general stamps when it
decided; afterwards the bench asks each daemon for its times, so order to all
decided is measured inside the daemons (one host, one clock). The nodes are
stopped and the directory removed at the end.

--traitors LIST --strategy S [--seed N] [--targets LIST] mean what they mean
to `generals simulate` (--strategy on `generals simulate --help` lists them):
each traitor gets a [fault] section and starts with --allow-faults. General 0
commands and may be a traitor. Order to all decided then counts the loyal
generals only; each instance's IC1, and IC2 under a loyal commander, is
counted. A traitor's daemon still logs the decision its loyal core reached
from what arrived; that binds nobody and is listed apart
(traitors_recorded in --json), in no time and no IC count.

--idle SECONDS starts the cluster (no traitors), waits for every link, then
reads each daemon's VmRSS (/proc/PID/status) and utime+stime (/proc/PID/stat)
before and after SECONDS without any order, and prints both; --protocol and
the instance options do not apply.

Markdown (the default) is what docs/BENCHMARKS.md records; --json prints one
object with every instance's report and times (microseconds).

Exit status: 0 when every instance was decided by every loyal general with IC1
and IC2; 3 when IC1 or IC2 broke (the report is printed and names the
instances); 1 when the run failed (the error says which instance and why).
Nothing fails for being slow.")]
pub struct BenchArgs {
    /// oral (OM(m), needs n >= 3m+1) or signed (SM(m), needs n >= m+2).
    #[arg(long, value_parser = parse_protocol, required_unless_present = "idle")]
    pub protocol: Option<Protocol>,
    /// Generals, each its own process.
    #[arg(long, default_value_t = 4)]
    pub nodes: usize,
    /// Traitors the algorithm is sized for (OM(m) / SM(m)); --traitors run.
    #[arg(long, default_value_t = 1)]
    pub m: u8,
    /// Measured instances.
    #[arg(long, default_value_t = 100)]
    pub instances: usize,
    /// Instances kept open at once (1: one after another).
    #[arg(long, default_value_t = 1, value_name = "J")]
    pub in_flight: usize,
    /// Instances run first, one at a time, and not counted.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Every node's round_timeout_ms (Δ).
    #[arg(long, default_value_t = generals_config::DEFAULT_ROUND_TIMEOUT_MS)]
    pub round_timeout_ms: u64,
    /// Node i listens on 127.0.0.1:BASE_PORT+i; keep the range below 32768.
    #[arg(long, default_value_t = DEFAULT_BASE_PORT)]
    pub base_port: u16,
    /// Comma-separated traitor ids, e.g. 0,5 (0 is the commander).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub traitors: Vec<u16>,
    /// What the traitors do: the names of `generals simulate` and of a
    /// config's [fault] strategy.
    #[arg(long, default_value = "flip", requires = "traitors",
          value_parser = super::simulate::strategy_parser())]
    pub strategy: Strategy,
    /// Receivers that split/partial single out (default: odd ids).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "LIST",
        requires = "traitors"
    )]
    pub targets: Vec<u16>,
    /// The traitors' [fault] seed (random strategies; late-reveal: even
    /// reveals on time, odd too late).
    #[arg(long, default_value_t = 0, requires = "traitors")]
    pub seed: u64,
    /// Measure idle daemons instead: RSS and CPU ticks over SECONDS without orders.
    #[arg(long, value_name = "SECONDS",
          conflicts_with_all = ["protocol", "instances", "in_flight", "warmup", "traitors"])]
    pub idle: Option<u64>,
    /// The generals binary the nodes run [default: this one].
    #[arg(long, value_name = "PATH")]
    pub bin: Option<PathBuf>,
    /// Print one JSON object instead of markdown.
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print markdown (the default).
    #[arg(long)]
    pub markdown: bool,
}

fn parse_protocol(s: &str) -> Result<Protocol, String> {
    s.parse()
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let bin = match args.bin {
        Some(bin) => bin,
        None => std::env::current_exe().context("locating the generals binary")?,
    };
    let print = |json: String, text: String| {
        if args.json {
            println!("{json}");
        } else {
            print!("{text}");
        }
    };
    if let Some(seconds) = args.idle {
        let w = IdleWorkload {
            nodes: args.nodes,
            seconds,
            round_timeout_ms: args.round_timeout_ms,
            base_port: args.base_port,
            bin,
        };
        let report = crate::bench::idle(&w, command_line())?;
        print(
            serde_json::to_string_pretty(&report)?,
            idle_markdown(&report),
        );
        return Ok(ExitCode::SUCCESS);
    }
    let Some(protocol) = args.protocol else {
        anyhow::bail!("--protocol is required: oral or signed (or --idle SECONDS)");
    };
    let ids = |list: &[u16]| list.iter().copied().map(NodeId).collect();
    let workload = Workload {
        protocol,
        nodes: args.nodes,
        m: args.m,
        instances: args.instances,
        in_flight: args.in_flight,
        warmup: args.warmup,
        round_timeout_ms: args.round_timeout_ms,
        base_port: args.base_port,
        bin,
        traitors: ids(&args.traitors),
        strategy: (!args.traitors.is_empty()).then_some(args.strategy),
        targets: ids(&args.targets),
        seed: args.seed,
    };
    let report = crate::bench::run(&workload, command_line())?;
    print(serde_json::to_string_pretty(&report)?, markdown(&report));
    if report.agreement.held() {
        Ok(ExitCode::SUCCESS)
    } else {
        for v in &report.agreement.violations {
            eprintln!("error: {v}");
        }
        Ok(ExitCode::from(super::EXIT_IC_VIOLATED))
    }
}

/// The command as typed, with the program's own path shortened to its name.
fn command_line() -> String {
    let mut args = std::env::args();
    let program = args
        .next()
        .and_then(|p| {
            PathBuf::from(p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "generals".to_owned());
    std::iter::once(program)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}
