//! `generals compare`: OM(m) and SM(m) on the same scenario, side by side, in
//! the simulator or on a running testnet; a sweep over n = 3m+1; a plot.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use generals_config::NodeConfig;
use generals_crypto::{NodeId, Order};
use generals_wire::Protocol;
use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;
use serde::Serialize;

use super::client;
use crate::control::{ControlRequest, ControlResponse};
use crate::picture::plot_error;
use crate::protocol::adversary::Strategy;
use crate::report::{InstanceReport, Role};
use crate::sim::{run_traced, SimConfig};

/// The simulator refuses OM instances larger than this many logical messages
/// (as `simulate` does): every general's EIG tree lives in this one process.
const SIM_OM_LIMIT: u64 = 200_000_000;

/// Simulated runs shorter than this are run again until their times add up
/// to it (at most 25 runs), and the median is shown.
const SIM_TIMING_BUDGET: Duration = Duration::from_millis(50);

/// How long `--cluster` waits for each instance's report.
const CLUSTER_WAIT_MS: u64 = 300_000;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  generals compare --nodes 7 --m 2
  generals compare --nodes 4 --m 2                  # OM(2) needs 7 generals: only SM(2) runs
  generals compare --nodes 7 --m 2 --traitors 0 --strategy split --json
  generals compare --sweep --plot out.svg           # n = 4, 7, 10
  generals compare --sweep --max-m 6 --plot docs/compare.svg   # the README's picture
  generals compare --nodes 4 --m 1 --cluster testnet   # the running daemons of `generals testnet`

Both algorithms run on the same scenario: commander 0 orders ATTACK, the
--traitors run --strategy (flip by default), seed 0. The closed forms are
Lamport's counts for a loyal run: sum_{k=1..m+1} (n-1)(n-2)...(n-k) values
for OM(m), (n-1)^2 chains for SM(m) (n-1 for m = 0). Where n < 3m+1, OM(m)
is not run (it cannot tolerate m traitors there) and SM(m) still is.

--sim (the default) runs both in the deterministic simulator: every general
runs the daemon's node core in this one process. Wall time is that whole
run (n key derivations, every state machine, the virtual network) on one
core: CPU cost, not network latency. A run shorter than 50 ms is repeated
until the runs add up to 50 ms (at most 25) and the median is shown.
\"rounds\" is the last round in which a frame of the instance was sent,
against the m+1 rounds the algorithm has.

--cluster DIR orders through DIR/node0/config.toml (node 0 is the
commander) on daemons that are already running, OM(m) first and then SM(m),
and waits up to 300 s for each report. Wall time is order to complete report.
A cluster's traitors are its nodes' [fault] sections, so --traitors is
refused there; --nodes must match the cluster's size.

--sweep runs n = 3m+1 for m = 1..--max-m (default 3): OM(m), SM(m) and SM(n-2)
at each n. OM(m) grows exponentially: --max-m 5 (4 million values at
n = 16) takes well under a second, --max-m 6 (175 million at n = 19) a few
seconds; OM beyond 200 million values (OM(7) at n = 22: 8.8 billion) is not
run. --plot FILE.svg draws logical messages, bytes and wall time against n
on log-log axes.

Progress goes to stderr on a terminal only.

Exit status: 0 if IC1 and IC2 held in every run, 3 if not, 1 on error.")]
pub struct CompareArgs {
    /// Number of generals, commander included.
    #[arg(
        long,
        short = 'n',
        required_unless_present = "sweep",
        conflicts_with = "sweep"
    )]
    pub nodes: Option<usize>,
    /// Traitors both algorithms are sized for (OM(m) and SM(m)).
    #[arg(long, required_unless_present = "sweep", conflicts_with = "sweep")]
    pub m: Option<u8>,
    /// Comma-separated traitor ids, e.g. 0,5 (0 is the commander); simulator only.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["sweep", "cluster"])]
    pub traitors: Vec<u16>,
    /// What the traitors do (default flip): flip, split, equivocate, random,
    /// silent, partial, forge, late-reveal, delay, precreate, hog, dup-signer.
    #[arg(long, requires = "traitors")]
    pub strategy: Option<Strategy>,
    /// Run in the deterministic simulator (the default).
    #[arg(long, conflicts_with = "cluster")]
    pub sim: bool,
    /// Run on the running daemons of this `generals testnet` directory.
    #[arg(long, value_name = "DIR", conflicts_with = "sweep")]
    pub cluster: Option<PathBuf>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Draw messages, bytes and wall time against n into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Run n = 3m+1 for m = 1..MAX_M, with SM(n-2) at each n too.
    #[arg(long)]
    pub sweep: bool,
    /// With --sweep: the largest m.
    #[arg(long, default_value_t = 3, requires = "sweep", value_name = "K",
          value_parser = clap::value_parser!(u8).range(1..=42))]
    pub max_m: u8,
}

/// Where the instances run.
#[derive(Debug)]
enum Source {
    Sim(BTreeMap<NodeId, Strategy>),
    /// The commander's config file.
    Cluster(PathBuf),
}

impl Source {
    fn name(&self) -> &'static str {
        match self {
            Source::Sim(_) => "sim",
            Source::Cluster(_) => "cluster",
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Source::Sim(_) => "simulator",
            Source::Cluster(_) => "running cluster",
        }
    }
}

/// One algorithm's run: the report `simulate --json` prints (same fields),
/// plus what compare measures around it; or why it was not run.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Side {
    Ran {
        #[serde(flatten)]
        report: Box<InstanceReport>,
        /// Wall time: the simulated run (the median of `wall_runs`), or
        /// order to report on a cluster.
        wall_ms: f64,
        wall_runs: usize,
        /// Simulator: the last round in which a frame of the instance was
        /// sent (0: none was, e.g. under a silent commander).
        #[serde(skip_serializing_if = "Option::is_none")]
        rounds_seen: Option<u8>,
    },
    NotRun {
        protocol: Protocol,
        n: usize,
        m: u8,
        not_run: String,
    },
}

/// OM(m) and SM(m) at one n; in a sweep, SM(n-2) too.
#[derive(Debug, Serialize)]
pub struct Comparison {
    pub n: usize,
    pub m: u8,
    pub oral: Side,
    pub signed: Side,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_n_minus_2: Option<Side>,
}

#[derive(Debug, Serialize)]
struct Single<'a> {
    source: &'a str,
    #[serde(flatten)]
    comparison: &'a Comparison,
    ok: bool,
}

#[derive(Debug, Serialize)]
struct Sweep<'a> {
    source: &'a str,
    max_m: u8,
    rows: &'a [Comparison],
    ok: bool,
}

pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let source = source(&args)?;
    let plan: Vec<(usize, u8, bool)> = if args.sweep {
        (1..=args.max_m)
            .map(|m| (3 * usize::from(m) + 1, m, true))
            .collect()
    } else {
        let (Some(n), Some(m)) = (args.nodes, args.m) else {
            bail!("--nodes and --m are needed without --sweep");
        };
        vec![(n, m, false)]
    };
    let runs = plan.iter().map(|&(_, _, extra)| 2 + u64::from(extra)).sum();
    let mut runner = Runner::new(source, runs)?;
    let mut rows = Vec::new();
    for (n, m, extra) in plan {
        rows.push(runner.compare(n, m, extra)?);
    }
    runner.progress.finish_and_clear();
    let ok = rows.iter().all(Comparison::ok);
    let source = &runner.source;
    if let Some(path) = &args.plot {
        plot(path, &rows, args.sweep)?;
    }
    if args.json {
        let text = match rows.as_slice() {
            [one] if !args.sweep => serde_json::to_string(&Single {
                source: source.name(),
                comparison: one,
                ok,
            })?,
            _ => serde_json::to_string(&Sweep {
                source: source.name(),
                max_m: args.max_m,
                rows: &rows,
                ok,
            })?,
        };
        println!("{text}");
    } else if args.sweep {
        print!("{}", render_sweep(&rows, source));
    } else {
        for row in &rows {
            print!("{}", render(row, source));
        }
    }
    if let (Some(path), false) = (&args.plot, args.json) {
        println!("plot:       {}", path.display());
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_IC_VIOLATED)
    })
}

/// Checks the scenario against where it runs.
fn source(a: &CompareArgs) -> anyhow::Result<Source> {
    let strategy = a.strategy.unwrap_or(Strategy::Flip);
    let traitors = a.traitors.iter().map(|&t| (NodeId(t), strategy)).collect();
    let Some(dir) = &a.cluster else {
        if let Some(n) = a.nodes {
            super::simulate::check_ids(&a.traitors, n)?;
        }
        return Ok(Source::Sim(traitors));
    };
    let config = dir.join("node0").join("config.toml");
    if !config.is_file() {
        bail!(
            "{} is not a testnet directory: it has no node0/config.toml (write one with \
             `generals testnet --nodes N --out {}`)",
            dir.display(),
            dir.display()
        );
    }
    let n = NodeConfig::load(&config)?.n();
    if a.nodes.is_some_and(|want| want != n) {
        bail!(
            "--nodes {} does not match the cluster in {}, which has {n} generals",
            a.nodes.unwrap_or(n),
            dir.display()
        );
    }
    Ok(Source::Cluster(config))
}

/// Runs instances from a [`Source`] and shows progress.
struct Runner {
    source: Source,
    progress: ProgressBar,
    /// For `--cluster`: one runtime for every control request.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Runner {
    fn new(source: Source, runs: u64) -> anyhow::Result<Runner> {
        let progress = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(runs);
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg} ({elapsed})")
            {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            ProgressBar::hidden()
        };
        let runtime = match source {
            Source::Sim(_) => None,
            Source::Cluster(_) => Some(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting the tokio runtime")?,
            ),
        };
        Ok(Runner {
            source,
            progress,
            runtime,
        })
    }

    fn compare(&mut self, n: usize, m: u8, with_n_minus_2: bool) -> anyhow::Result<Comparison> {
        if !(3..=128).contains(&n) {
            bail!("--nodes must be between 3 and 128 (got {n})");
        }
        if usize::from(m) + 2 > n {
            bail!(
                "SM({m}) needs at least m+2 = {} generals and OM({m}) 3m+1 = {}; \
                 use a smaller --m or more --nodes",
                usize::from(m) + 2,
                3 * usize::from(m) + 1
            );
        }
        let oral = match self.oral_refusal(n, m) {
            Some(why) => {
                self.progress.inc(1);
                Side::NotRun {
                    protocol: Protocol::Oral,
                    n,
                    m,
                    not_run: why,
                }
            }
            None => self.side(Protocol::Oral, n, m)?,
        };
        let signed = self.side(Protocol::Signed, n, m)?;
        let signed_n_minus_2 = match with_n_minus_2 {
            true => Some(self.side(Protocol::Signed, n, (n - 2) as u8)?),
            false => None,
        };
        Ok(Comparison {
            n,
            m,
            oral,
            signed,
            signed_n_minus_2,
        })
    }

    /// Why OM(m) is not run at n, if it is not.
    fn oral_refusal(&self, n: usize, m: u8) -> Option<String> {
        let needed = 3 * usize::from(m) + 1;
        if n < needed {
            return Some(format!(
                "OM({m}) needs n >= 3m+1 = {needed} generals to tolerate {m} traitor{s}, \
                 and n = {n}; SM({m}) needs only m+2 = {}",
                usize::from(m) + 2,
                s = if m == 1 { "" } else { "s" },
            ));
        }
        let values = crate::protocol::oral::logical_formula(n, m).unwrap_or(u64::MAX);
        match self.source {
            Source::Sim(_) if values > SIM_OM_LIMIT => Some(format!(
                "OM({m}) at n = {n} is {values} logical messages; the simulator stops at \
                 200 million (run it on daemons with --cluster)"
            )),
            _ => None,
        }
    }

    fn side(&mut self, protocol: Protocol, n: usize, m: u8) -> anyhow::Result<Side> {
        let name = short_name(protocol);
        self.progress.set_message(format!("{name}({m}) at n = {n}"));
        let start = Instant::now();
        let (report, rounds_seen, times) = match (&self.source, &self.runtime) {
            (Source::Sim(traitors), _) => {
                let mut cfg = SimConfig::new(protocol, n, m);
                cfg.traitors = traitors.clone();
                let refused = || format!("the simulator refused {name}({m}) at n = {n}");
                let (report, trace) = run_traced(&cfg).with_context(refused)?;
                let mut times = vec![start.elapsed()];
                // Short runs again, for a median: the run is deterministic,
                // only its time varies.
                while times.iter().sum::<Duration>() < SIM_TIMING_BUDGET && times.len() < 25 {
                    let again = Instant::now();
                    run_traced(&cfg).with_context(refused)?;
                    times.push(again.elapsed());
                }
                let spec = trace.spec;
                let seen = trace
                    .frames_sent
                    .keys()
                    .filter(|(s, ..)| Some(*s) == spec)
                    .map(|&(_, round, ..)| round)
                    .max()
                    .unwrap_or(0);
                (report, Some(seen), times)
            }
            (Source::Cluster(config), Some(rt)) => {
                let report = rt
                    .block_on(order_and_wait(config, protocol, m))
                    .with_context(|| {
                        format!("{name}({m}) on the cluster of {}", config.display())
                    })?;
                (report, None, vec![start.elapsed()])
            }
            (Source::Cluster(_), None) => bail!("no runtime for the cluster's control sockets"),
        };
        self.progress.inc(1);
        Ok(Side::Ran {
            report: Box::new(report),
            wall_runs: times.len(),
            wall_ms: median(times).as_secs_f64() * 1e3,
            rounds_seen,
        })
    }
}

/// Orders ATTACK at the commander whose config is `config`, and waits for
/// the instance's report.
async fn order_and_wait(
    config: &Path,
    protocol: Protocol,
    m: u8,
) -> anyhow::Result<InstanceReport> {
    let order = ControlRequest::Order {
        protocol,
        m,
        value: Order::Attack,
        force: false,
    };
    let instance = match client::check(client::request(config, order).await?)? {
        ControlResponse::Ordered { instance, .. } => instance,
        other => return Err(client::unexpected("order", &other)),
    };
    let wait = ControlRequest::Wait {
        instance,
        timeout_ms: CLUSTER_WAIT_MS,
    };
    match client::check(client::request(config, wait).await?)? {
        ControlResponse::Report(report) => Ok(*report),
        other => Err(client::unexpected("wait", &other)),
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn short_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Oral => "OM",
        Protocol::Signed => "SM",
    }
}

impl Side {
    fn ran(&self) -> Option<(&InstanceReport, f64, Option<u8>)> {
        match self {
            Side::Ran {
                report,
                wall_ms,
                rounds_seen,
                ..
            } => Some((report, *wall_ms, *rounds_seen)),
            Side::NotRun { .. } => None,
        }
    }

    fn name(&self) -> String {
        let (protocol, m) = match self {
            Side::Ran { report, .. } => (report.protocol, report.m),
            Side::NotRun { protocol, m, .. } => (*protocol, *m),
        };
        format!("{}({m})", short_name(protocol))
    }

    fn ok(&self) -> bool {
        self.ran().is_none_or(|(r, ..)| r.ic1 && r.ic2)
    }

    /// The rounds measured (or reported) against the m+1 the algorithm has.
    fn rounds(&self) -> String {
        match self.ran() {
            Some((r, _, seen)) => format!("{} of {}", seen.unwrap_or(r.rounds), r.m + 1),
            None => "-".to_owned(),
        }
    }
}

impl Comparison {
    fn sides(&self) -> impl Iterator<Item = &Side> {
        [&self.oral, &self.signed]
            .into_iter()
            .chain(self.signed_n_minus_2.as_ref())
    }

    fn ok(&self) -> bool {
        self.sides().all(Side::ok)
    }

    /// "logical messages 4.33x, bytes 0.60x, ..." (oral / signed) when both ran.
    fn ratios(&self) -> Option<String> {
        let ((o, ow, _), (s, sw, _)) = (self.oral.ran()?, self.signed.ran()?);
        let x = |a: u64, b: u64| ratio(a as f64, b as f64);
        Some(format!(
            "logical messages {}, bytes {}, wall time {}",
            x(o.messages.logical, s.messages.logical),
            x(o.messages.bytes, s.messages.bytes),
            ratio(ow, sw)
        ))
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "-".to_owned()
    }
}

fn wall(ms: f64) -> String {
    match ms {
        ms if ms < 10.0 => format!("{ms:.2} ms"),
        ms if ms < 1000.0 => format!("{ms:.1} ms"),
        ms => format!("{:.2} s", ms / 1e3),
    }
}

fn holds(b: bool) -> &'static str {
    if b {
        "holds"
    } else {
        "VIOLATED"
    }
}

/// One general's decision as a cell.
fn decision(r: &InstanceReport, id: NodeId) -> String {
    let Some(g) = r.generals.iter().find(|g| g.id == id) else {
        return "-".to_owned();
    };
    match (g.traitor, g.decision) {
        (true, _) => "traitor".to_owned(),
        (false, Some(d)) if g.role == Role::Commander => format!("{d} (its order)"),
        (false, Some(d)) => d.to_string(),
        (false, None) => "none".to_owned(),
    }
}

/// The side-by-side table of one comparison.
fn render(c: &Comparison, source: &Source) -> String {
    let sides: Vec<&Side> = c.sides().collect();
    let first = sides.iter().find_map(|s| s.ran()).map(|(r, ..)| r);
    let mut s = String::new();
    let (order, traitors) = first.map_or(("ATTACK".to_owned(), String::new()), |r| {
        let list: Vec<String> = r
            .traitors
            .iter()
            .map(|t| match r.strategy.get(&t.to_string()) {
                Some(k) => format!("{t} ({k})"),
                None => t.to_string(),
            })
            .collect();
        (r.order.as_str().to_uppercase(), list.join(", "))
    });
    let _ = writeln!(
        s,
        "OM({m}) against SM({m}) with {n} generals ({where_}); commander 0 orders {order}; \
         traitors: {}",
        if traitors.is_empty() {
            "none"
        } else {
            &traitors
        },
        m = c.m,
        n = c.n,
        where_ = source.describe(),
    );
    if first.is_some_and(|r| r.traitors.len() > usize::from(r.m)) {
        let _ = writeln!(
            s,
            "note: more traitors than m = {}; the guarantees do not hold",
            c.m
        );
    }
    let _ = writeln!(s);
    let cell = |f: &dyn Fn(&InstanceReport) -> String| -> Vec<String> {
        sides
            .iter()
            .map(|side| side.ran().map_or_else(|| "-".to_owned(), |(r, ..)| f(r)))
            .collect()
    };
    let mut rows: Vec<(String, Vec<String>)> = vec![
        (
            "logical messages".into(),
            cell(&|r| r.messages.logical.to_string()),
        ),
        (
            "closed form (loyal run)".into(),
            cell(&|r| r.messages.formula.to_string()),
        ),
        ("frames".into(), cell(&|r| r.messages.frames.to_string())),
        (
            "bytes on the wire".into(),
            cell(&|r| r.messages.bytes.to_string()),
        ),
        (
            "signatures made".into(),
            cell(&|r| r.messages.signatures_made.to_string()),
        ),
        (
            "signatures verified".into(),
            cell(&|r| r.messages.signatures_verified.to_string()),
        ),
        (
            match source {
                Source::Sim(_) => "rounds with frames, of m+1",
                Source::Cluster(_) => "rounds, of m+1",
            }
            .into(),
            sides.iter().map(|side| side.rounds()).collect(),
        ),
        (
            "wall time".into(),
            sides
                .iter()
                .map(|side| {
                    side.ran()
                        .map_or_else(|| "-".to_owned(), |(_, w, _)| wall(w))
                })
                .collect(),
        ),
    ];
    if let Source::Cluster(_) = source {
        rows.insert(
            0,
            (
                "instance".into(),
                cell(&|r| r.instance.clone().unwrap_or_else(|| "-".to_owned())),
            ),
        );
    }
    for id in (0..c.n as u16).map(NodeId) {
        let role = if id.0 == 0 { " (commander)" } else { "" };
        rows.push((format!("general {id}{role}"), cell(&|r| decision(r, id))));
    }
    rows.push((
        "IC1 (loyal lieutenants agree)".into(),
        cell(&|r| holds(r.ic1).to_owned()),
    ));
    rows.push((
        "IC2 (loyal commander obeyed)".into(),
        cell(&|r| holds(r.ic2).to_owned()),
    ));
    rows.push((
        "evidence (proofs)".into(),
        cell(&|r| r.evidence.len().to_string()),
    ));
    rows.push((
        "rejected at loyal generals".into(),
        cell(&|r| r.rejections.values().sum::<u64>().to_string()),
    ));
    let names: Vec<String> = sides
        .iter()
        .map(|side| match side {
            Side::Ran { .. } => side.name(),
            Side::NotRun { .. } => format!("{} (not run)", side.name()),
        })
        .collect();
    let mut headers: Vec<&str> = vec![""];
    headers.extend(names.iter().map(String::as_str));
    let table: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(label, cells)| std::iter::once(label).chain(cells).collect())
        .collect();
    s.push_str(&super::status::table(&headers, &table));
    let _ = writeln!(s);
    for side in &sides {
        if let Side::NotRun { not_run, .. } = side {
            let _ = writeln!(s, "{} not run: {not_run}", side.name());
        }
        if let Some((r, ..)) = side.ran() {
            cluster_notes(&mut s, &side.name(), r);
        }
    }
    if let Some(text) = c.ratios() {
        let _ = writeln!(s, "oral / signed: {text}");
    }
    s
}

/// What only a daemon's report can say: reports missing, late frames.
fn cluster_notes(s: &mut String, name: &str, r: &InstanceReport) {
    if r.complete == Some(false) {
        let _ = writeln!(
            s,
            "{name}: INCOMPLETE: not every general's signed report arrived; see `generals status`"
        );
    }
    if !r.late_frames_from.is_empty() {
        let late: Vec<String> = r.late_frames_from.iter().map(|j| j.to_string()).collect();
        let _ = writeln!(
            s,
            "{name}: late frames from [{}]: a RETREAT may come from timing, not from the commander",
            late.join(", ")
        );
    }
}

/// The sweep: one line per algorithm run.
fn render_sweep(rows: &[Comparison], source: &Source) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "n = 3m+1 for m = 1..{} ({}); commander 0 orders ATTACK; no traitors",
        rows.last().map_or(0, |c| c.m),
        source.describe()
    );
    let _ = writeln!(s);
    let headers = [
        "n",
        "algorithm",
        "logical",
        "closed form",
        "frames",
        "bytes",
        "signed",
        "verified",
        "rounds",
        "wall time",
        "decisions (loyal lieutenants)",
        "IC1",
        "IC2",
    ];
    let mut table = Vec::new();
    let mut notes = Vec::new();
    for c in rows {
        for side in c.sides() {
            let mut row = vec![c.n.to_string(), side.name()];
            match side.ran() {
                Some((r, w, _)) => {
                    let m = &r.messages;
                    row.extend(
                        [
                            m.logical,
                            m.formula,
                            m.frames,
                            m.bytes,
                            m.signatures_made,
                            m.signatures_verified,
                        ]
                        .map(|v| v.to_string()),
                    );
                    row.extend([
                        side.rounds(),
                        wall(w),
                        decisions(r),
                        holds(r.ic1).to_owned(),
                        holds(r.ic2).to_owned(),
                    ]);
                }
                None => row.push("not run".to_owned()),
            }
            if let Side::NotRun { not_run, .. } = side {
                notes.push(format!(
                    "{} at n = {}: not run: {not_run}",
                    side.name(),
                    c.n
                ));
            }
            table.push(row);
        }
    }
    s.push_str(&super::status::table(&headers, &table));
    let _ = writeln!(s);
    for note in notes {
        let _ = writeln!(s, "{note}");
    }
    let _ = writeln!(s, "oral / signed at the same (n, m):");
    for c in rows {
        if let Some(text) = c.ratios() {
            let _ = writeln!(s, "  n = {:<3} m = {}: {text}", c.n, c.m);
        }
    }
    s
}

/// "6 attack" or "4 attack, 2 retreat".
fn decisions(r: &InstanceReport) -> String {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for d in r.loyal_decisions() {
        *count.entry(d.to_string()).or_default() += 1;
    }
    let parts: Vec<String> = count.iter().map(|(d, k)| format!("{k} {d}")).collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

/// One panel of the plot: a title, an axis label and the measured value.
struct Metric {
    title: &'static str,
    axis: &'static str,
    value: fn(&InstanceReport, f64) -> f64,
}

const METRICS: [Metric; 3] = [
    Metric {
        title: "logical messages",
        axis: "messages (log)",
        value: |r, _| r.messages.logical as f64,
    },
    Metric {
        title: "bytes on the wire",
        axis: "bytes (log)",
        value: |r, _| r.messages.bytes as f64,
    },
    Metric {
        title: "wall time",
        axis: "milliseconds (log)",
        value: |_, ms| ms,
    },
];

/// Each series: its label, its colour, and which side of a comparison it plots.
type Series = (String, RGBColor, fn(&Comparison) -> Option<&Side>);

fn series(sweep: bool) -> Vec<Series> {
    let (om, sm) = if sweep {
        ("OM(m), n = 3m+1", "SM(m), same m")
    } else {
        ("OM(m)", "SM(m)")
    };
    // SM(n-2) sends as many messages as SM(m): drawn first and wider, it
    // shows around SM(m)'s line instead of hiding it.
    vec![
        (om.to_owned(), RGBColor(200, 40, 40), |c| Some(&c.oral)),
        ("SM(n-2)".to_owned(), RGBColor(120, 190, 120), |c| {
            c.signed_n_minus_2.as_ref()
        }),
        (sm.to_owned(), RGBColor(30, 90, 200), |c| Some(&c.signed)),
    ]
}

/// Draws messages, bytes and wall time against n, log-log, one panel each.
fn plot(path: &Path, rows: &[Comparison], sweep: bool) -> anyhow::Result<()> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1260, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let title = if sweep {
            "Oral OM(m) against signed SM(m), loyal runs, n = 3m+1 (markers: measured; x: closed form)"
        } else {
            "Oral OM(m) against signed SM(m) (markers: measured; x: closed form)"
        };
        let root = root.titled(title, ("sans-serif", 20)).map_err(plot_error)?;
        let series = series(sweep);
        for (area, metric) in root.split_evenly((1, 3)).iter().zip(&METRICS) {
            panel(area, metric, rows, &series)?;
        }
        root.present().map_err(plot_error)?;
    }
    std::fs::write(path, svg).with_context(|| format!("writing the plot to {}", path.display()))
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    metric: &Metric,
    rows: &[Comparison],
    series: &[Series],
) -> anyhow::Result<()> {
    let points = |pick: fn(&Comparison) -> Option<&Side>| -> Vec<(f64, f64)> {
        rows.iter()
            .filter_map(|c| {
                let (r, w, _) = pick(c)?.ran()?;
                Some((c.n as f64, (metric.value)(r, w)))
            })
            .filter(|&(_, v)| v > 0.0)
            .collect()
    };
    let all: Vec<(f64, f64)> = series.iter().flat_map(|s| points(s.2)).collect();
    let (x0, x1) = span(all.iter().map(|p| p.0), 1.15);
    let (y0, y1) = span(all.iter().map(|p| p.1), 3.0);
    let ns: Vec<f64> = rows.iter().map(|c| c.n as f64).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(metric.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (x0..x1).log_scale().with_key_points(ns),
            (y0..y1).log_scale(),
        )
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .light_line_style(BLACK.mix(0.03))
        .x_desc("n (generals, log)")
        .y_desc(metric.axis)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| si(*v))
        .draw()
        .map_err(plot_error)?;
    for (label, color, pick) in series {
        let pts = points(*pick);
        if pts.is_empty() {
            continue;
        }
        let color = *color;
        let width = if label == "SM(n-2)" { 6 } else { 2 };
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(width)))
            .map_err(plot_error)?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(width))
            });
        chart
            .draw_series(
                pts.iter()
                    .map(|&p| Circle::new(p, width + 2, color.filled())),
            )
            .map_err(plot_error)?;
        if metric.title == "logical messages" {
            let formula: Vec<(f64, f64)> = rows
                .iter()
                .filter_map(|c| {
                    let (r, ..) = pick(c)?.ran()?;
                    Some((c.n as f64, r.messages.formula as f64))
                })
                .filter(|&(_, v)| v > 0.0)
                .collect();
            chart
                .draw_series(
                    formula
                        .iter()
                        .map(|&p| Cross::new(p, 7, BLACK.stroke_width(1))),
                )
                .map_err(plot_error)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

/// A log axis's range around the values, widened by `pad` each way.
fn span(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        (1.0, 10.0)
    } else {
        (lo / pad, hi * pad)
    }
}

/// 1500 → "1.5k", 2e6 → "2M", 0.25 → "0.25".
fn si(v: f64) -> String {
    let (scaled, unit) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let text = format!("{scaled:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_labels_read_naturally() {
        assert_eq!(si(1.0), "1");
        assert_eq!(si(0.25), "0.25");
        assert_eq!(si(1500.0), "1.5k");
        assert_eq!(si(2e6), "2M");
        assert_eq!(si(8.8e9), "8.8G");
    }

    #[test]
    fn wall_times_keep_three_figures() {
        assert_eq!(wall(0.4321), "0.43 ms");
        assert_eq!(wall(43.21), "43.2 ms");
        assert_eq!(wall(4321.0), "4.32 s");
    }
}
