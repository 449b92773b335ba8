//! The benchmark harness over real daemons behind `generals bench` (and
//! section d of `examples/bench.rs`): a [`LocalCluster`] of `generals node`
//! processes on loopback, driven in process over their control sockets, so
//! no process spawn is in any measured time.
//!
//! Latency is measured inside the daemons: each node stamps when it opened an
//! instance and when it decided ([`crate::protocol::InstanceTimes`], wall-clock
//! unix µs anchored once per daemon and advanced by its monotonic clock, so
//! the processes of one host agree), and the bench asks every node's control
//! socket for its own times after the run. Order to all decided is the last
//! general's decision minus the commander's order. What the bench itself
//! measures (order sent to complete report back, the run's span) uses its own
//! monotonic clock.
//!
//! With traitors (`[fault]` sections, nodes started with --allow-faults),
//! order to all decided counts the loyal generals only, and each instance's
//! IC1 (and IC2 under a loyal commander) is counted in [`Agreement`].
//!
//! Speed is measured, never asserted: a run fails only when it is wrong (a
//! loyal general without a decision, IC1 or IC2 broken, an incomplete report)
//! or cannot run.
//!
//! [`idle`] measures the other end: every daemon's memory and CPU ticks
//! while no order comes.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context};
use generals_crypto::{InstanceId, NodeId, Order};
use generals_wire::Protocol;
use serde::{Deserialize, Serialize};

use crate::cli::client::{check, unexpected, Connection};
use crate::cluster::{ClusterOptions, Fault, LocalCluster};
use crate::control::{ControlRequest, ControlResponse, InstanceStatus};
use crate::protocol::adversary::Strategy;
use crate::report::{InstanceReport, Role};

/// The commander of every measured instance.
const COMMANDER: NodeId = NodeId(0);
/// How long the cluster may take to bring every link up.
const CONNECT_WAIT: Duration = Duration::from_secs(120);
/// Slots per commander a node gets by default (`max_instances` / n with the
/// default `max_instances`); more in flight raises `max_instances`.
const DEFAULT_MAX_INSTANCES: usize = 256;

/// What to run (and, in the report, what ran).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Workload {
    pub protocol: Protocol,
    pub nodes: usize,
    pub m: u8,
    /// Measured instances.
    pub instances: usize,
    /// Instances kept in flight: a new order goes out as soon as one of
    /// them has its complete report, without waiting for the others.
    pub in_flight: usize,
    /// Instances run one at a time before the measured ones, not counted.
    pub warmup: usize,
    pub round_timeout_ms: u64,
    /// Node i listens on `base_port + i`.
    pub base_port: u16,
    /// The `generals` binary the nodes run.
    pub bin: PathBuf,
    /// Generals that run `strategy` (a `[fault]` section each, started with
    /// --allow-faults); empty in a loyal run. General 0 commands.
    #[serde(default)]
    pub traitors: Vec<NodeId>,
    /// What the traitors do; `None` in a loyal run.
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// Receivers split and partial single out (empty: the odd ids).
    #[serde(default)]
    pub targets: Vec<NodeId>,
    /// Every traitor's `[fault] seed`.
    #[serde(default)]
    pub seed: u64,
}

impl Workload {
    fn traitor_set(&self) -> BTreeSet<NodeId> {
        self.traitors.iter().copied().collect()
    }
}

/// Nearest-rank percentiles of one measure, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub min: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(samples: &[u64]) -> Percentiles {
        let mut s = samples.to_vec();
        s.sort_unstable();
        Percentiles {
            p50: percentile(&s, 50),
            p90: percentile(&s, 90),
            p99: percentile(&s, 99),
            min: s.first().copied().unwrap_or_default(),
            max: s.last().copied().unwrap_or_default(),
        }
    }
}

/// The nearest-rank percentile `p` (0..=100) of sorted samples.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: usize) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = (sorted.len() * p).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The machine and its load, for the record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    pub cpus: usize,
    /// `model name` from /proc/cpuinfo, with "(virtual)" when the CPU
    /// flags say a hypervisor runs it.
    pub cpu: String,
    pub kernel: String,
    /// The 1, 5 and 15 minute load averages (/proc/loadavg).
    pub load_before: [f64; 3],
    pub load_after: [f64; 3],
    pub unix_time: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Latency {
    /// The commander's order to the last general's decision, each stamped
    /// inside its own daemon.
    pub order_to_all_decided_us: Percentiles,
    /// Sending `order` to the commander's complete report arriving (every
    /// general's signed report in), measured by the bench: the control
    /// socket's round trips and the reports' way back included.
    pub order_to_complete_report_us: Percentiles,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Throughput {
    /// The bench's first order sent to its last complete report.
    pub run_us: u64,
    pub instances_per_s: f64,
    /// The first order to the last decision, as the daemons stamped them.
    pub daemons_span_us: u64,
    pub daemons_instances_per_s: f64,
}

/// One measured instance: its report (every general's decision time filled
/// in from that general's daemon) and what was derived from it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstanceRun {
    pub instance: String,
    /// The commander's order, unix µs (its daemon's clock).
    pub started_unix_us: u64,
    /// The last general's decision minus `started_unix_us`.
    pub all_decided_us: u64,
    /// Order sent to complete report back, at the bench.
    pub complete_report_us: u64,
    /// Every general's report, the traitors marked as the bench configured
    /// them (their decisions blanked) and IC1/IC2 computed from that.
    pub report: InstanceReport,
    /// What each traitor's daemon recorded for this instance.
    #[serde(default)]
    pub traitors_recorded: Vec<TraitorRecord>,
}

/// What a traitor's daemon recorded: its core runs the loyal algorithm on
/// what reaches it and logs that decision, while it lies in what it sends.
/// That decision binds nobody, so it is in no latency and no IC check; it is
/// listed so that nothing is hidden.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TraitorRecord {
    pub id: NodeId,
    /// `None` if the daemon had not decided (or never heard of the instance)
    /// when asked after the run.
    pub decision: Option<Order>,
    pub decided_unix_us: Option<u64>,
}

/// IC1 and IC2 over the measured instances, from the loyal lieutenants'
/// decisions.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Agreement {
    pub instances: usize,
    /// Instances whose loyal lieutenants all decided the same (IC1).
    pub ic1_held: usize,
    pub ic1_violations: usize,
    /// Instances with a loyal commander: IC2 (every loyal lieutenant obeys)
    /// applies to those only.
    pub ic2_instances: usize,
    pub ic2_held: usize,
    pub ic2_violations: usize,
    /// Loyal lieutenants' decisions, summed over the instances.
    pub loyal_attack: u64,
    pub loyal_retreat: u64,
    /// Instances in which some loyal general holds a proof that the
    /// commander signed both orders.
    pub evidence_instances: usize,
    /// Each violation: the instance and what broke.
    pub violations: Vec<String>,
}

impl Agreement {
    pub fn held(&self) -> bool {
        self.ic1_violations == 0 && self.ic2_violations == 0
    }
}

/// What `generals bench --json` prints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    /// The command line that ran the bench.
    pub command: String,
    /// `generals --version` of the bench (the daemons run `workload.bin`,
    /// by default the same binary).
    pub version: String,
    pub commit: String,
    pub machine: Machine,
    pub workload: Workload,
    /// Every node's `max_instances`: raised above the default when
    /// `in_flight` needs more than a commander's default share.
    pub max_instances: usize,
    /// Spawning the nodes to every link authenticated (polled every 50 ms).
    pub links_up_ms: u64,
    pub latency: Latency,
    pub throughput: Throughput,
    /// Logical messages, frames and bytes of the first measured instance.
    pub logical: u64,
    pub frames: u64,
    pub bytes: u64,
    pub instances: Vec<InstanceRun>,
    /// IC1 and IC2 over `instances`; a violation makes the exit status 3.
    #[serde(default)]
    pub agreement: Agreement,
}

/// Checks what can be checked before any process starts.
pub fn validate(w: &Workload) -> anyhow::Result<()> {
    ensure!(
        w.instances >= 1,
        "--instances must be at least 1 (the measured instances)"
    );
    ensure!(
        (1..=w.instances).contains(&w.in_flight),
        "--in-flight must be between 1 and --instances ({}); it is {}",
        w.instances,
        w.in_flight
    );
    crate::cli::order::check_bounds(w.protocol, w.m, w.nodes, false)?;
    let ids: Vec<u16> = w.traitors.iter().chain(&w.targets).map(|t| t.0).collect();
    crate::cli::simulate::check_ids(&ids, w.nodes)?;
    ensure!(
        w.traitors.is_empty() || w.strategy.is_some(),
        "--traitors needs a --strategy"
    );
    check_bin(&w.bin)
}

fn check_bin(bin: &Path) -> anyhow::Result<()> {
    ensure!(
        bin.is_file(),
        "{} is not a file: the nodes run the generals binary; pass --bin PATH",
        bin.display()
    );
    Ok(())
}

/// `max_instances` for every node: the default unless `in_flight` needs
/// more slots per commander (one spare, for a report still on its way).
pub fn max_instances(w: &Workload) -> usize {
    DEFAULT_MAX_INSTANCES.max((w.in_flight + 1).saturating_mul(w.nodes))
}

/// Starts the cluster, runs the warm-up and the measured instances, asks
/// every node for its times, checks every instance and reports.
pub fn run(w: &Workload, command: String) -> anyhow::Result<BenchReport> {
    validate(w)?;
    let load_before = load_average();
    let mut opts = ClusterOptions::new(w.nodes);
    opts.round_timeout_ms = w.round_timeout_ms;
    opts.base_port = Some(w.base_port);
    let max_instances = max_instances(w);
    if max_instances != DEFAULT_MAX_INSTANCES {
        opts.max_instances = Some(max_instances);
    }
    if let Some(strategy) = w.strategy {
        opts.faults = w
            .traitors
            .iter()
            .map(|&t| {
                let targets = w.targets.clone();
                (t, Fault { strategy, targets })
            })
            .collect();
        opts.fault_seed = w.seed;
    }
    let (mut cluster, links_up) = start(&w.bin, opts)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let measured = runtime.block_on(measure(&cluster, w));
    let measured = measured.map_err(|e| {
        e.context(format!(
            "the cluster's commander log ends with:\n{}",
            cluster.log_tail(COMMANDER, 20)
        ))
    })?;
    cluster.stop_all();
    let load_after = load_average();
    Ok(summarize(
        w,
        command,
        measured,
        machine(load_before, load_after),
        links_up,
        max_instances,
    ))
}

/// Writes and starts the cluster; returns it with the time from the spawn to
/// every link authenticated.
fn start(bin: &Path, opts: ClusterOptions) -> anyhow::Result<(LocalCluster, Duration)> {
    let nodes = opts.nodes;
    let mut cluster = LocalCluster::create(bin, opts)?;
    let t = Instant::now();
    cluster.start_all()?;
    cluster.wait_connected(CONNECT_WAIT).with_context(|| {
        format!(
            "starting {nodes} nodes; node 0 log:\n{}",
            cluster.log_tail(COMMANDER, 20)
        )
    })?;
    Ok((cluster, t.elapsed()))
}

/// One instance as the bench saw it.
struct Sample {
    id: InstanceId,
    sent: Instant,
    done: Instant,
    report: InstanceReport,
}

/// The measured instances, and the bench's first order to its last report.
async fn measure(
    cluster: &LocalCluster,
    w: &Workload,
) -> anyhow::Result<(Vec<InstanceRun>, Duration)> {
    let config = cluster.node(COMMANDER)?.config.clone();
    let mut warm = Connection::open(&config).await?;
    for _ in 0..w.warmup {
        instance(&mut warm, w).await?;
    }
    drop(warm);
    let left = RefCell::new(w.instances);
    let mut workers = Vec::with_capacity(w.in_flight);
    for _ in 0..w.in_flight {
        workers.push(worker(&config, w, &left));
    }
    let samples: Vec<Sample> = futures::future::try_join_all(workers)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let first = samples.iter().map(|s| s.sent).min();
    let last = samples.iter().map(|s| s.done).max();
    let span = match (first, last) {
        (Some(a), Some(b)) => b.saturating_duration_since(a),
        _ => Duration::ZERO,
    };
    let traitors = w.traitor_set();
    let times = decision_times(cluster, &samples, &traitors).await?;
    let runs = samples
        .into_iter()
        .map(|mut s| {
            // The configured traitors, not only those that said so.
            cluster.annotate(&mut s.report);
            instance_run(s, &times, &traitors)
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((runs, span))
}

/// Orders and waits, one instance at a time, until no instances are left.
async fn worker(config: &Path, w: &Workload, left: &RefCell<usize>) -> anyhow::Result<Vec<Sample>> {
    let mut conn = Connection::open(config).await?;
    let mut samples = Vec::new();
    loop {
        {
            let mut left = left.borrow_mut();
            if *left == 0 {
                return Ok(samples);
            }
            *left -= 1;
        }
        samples.push(instance(&mut conn, w).await?);
    }
}

/// One order at the commander and its complete report.
async fn instance(conn: &mut Connection, w: &Workload) -> anyhow::Result<Sample> {
    let sent = Instant::now();
    let order = ControlRequest::Order {
        protocol: w.protocol,
        m: w.m,
        value: Order::Attack,
        force: false,
    };
    let (id, deadlines_ms) = match check(conn.call(order).await?)? {
        ControlResponse::Ordered {
            instance,
            deadlines_ms,
        } => (instance, deadlines_ms),
        other => return Err(unexpected("order", &other)),
    };
    let wait = ControlRequest::Wait {
        instance: id,
        timeout_ms: crate::cli::order::default_wait_ms(&deadlines_ms),
    };
    let report = match check(conn.call(wait).await?)? {
        ControlResponse::Report(r) => *r,
        other => return Err(unexpected("wait", &other)),
    };
    let done = Instant::now();
    // A traitor may keep its report back; a loyal general's must arrive.
    let traitors = w.traitor_set();
    let missing: Vec<NodeId> = report
        .generals
        .iter()
        .filter(|g| g.reported != Some(true) && !traitors.contains(&g.id))
        .map(|g| g.id)
        .collect();
    if !missing.is_empty() {
        let hint = match w.strategy {
            // A silent (or partial, hog...) commander never sends some
            // lieutenants a frame: they never learn the instance exists.
            Some(strategy) if traitors.contains(&COMMANDER) => format!(
                "the commander is a traitor ({strategy}) and these generals may never have heard \
                 of the instance; the bench measures only instances every loyal general decides"
            ),
            _ => "raise --round-timeout-ms or lower --in-flight".to_owned(),
        };
        bail!(
            "instance {id} has no complete report: the signed report of loyal general(s) \
             {missing:?} did not arrive; {hint}"
        );
    }
    Ok(Sample {
        id,
        sent,
        done,
        report,
    })
}

/// Every general's times of every sampled instance, asked of its own daemon
/// after the run (so the questions load no measured instance).
async fn decision_times(
    cluster: &LocalCluster,
    samples: &[Sample],
    traitors: &BTreeSet<NodeId>,
) -> anyhow::Result<BTreeMap<(NodeId, InstanceId), InstanceStatus>> {
    let ids: Vec<InstanceId> = samples.iter().map(|s| s.id).collect();
    let asks = cluster.nodes.iter().map(|node| {
        let ids = &ids;
        async move {
            let mut conn = Connection::open(&node.config).await?;
            let mut found = Vec::with_capacity(ids.len());
            for &id in ids {
                let req = ControlRequest::Status { instance: Some(id) };
                let status = match check(conn.call(req).await?) {
                    Ok(ControlResponse::Status(s)) => *s,
                    Ok(other) => return Err(unexpected("status", &other)),
                    Err(e) => return Err(e.context(format!("node {}: instance {id}", node.id))),
                };
                let line = status.instances.into_iter().find(|s| s.instance == id);
                match line {
                    Some(line) => found.push(((node.id, id), line)),
                    // A traitor need not have joined the instance at all.
                    None if traitors.contains(&node.id) => {}
                    None => bail!("node {} does not list instance {id}", node.id),
                }
            }
            anyhow::Ok(found)
        }
    });
    Ok(futures::future::try_join_all(asks)
        .await?
        .into_iter()
        .flatten()
        .collect())
}

/// Fills every general's decision time into the report and checks it.
/// Traitors' records are listed apart and count in no time; IC1 and IC2 are
/// left in the report for [`agreement`] to count.
fn instance_run(
    s: Sample,
    times: &BTreeMap<(NodeId, InstanceId), InstanceStatus>,
    traitors: &BTreeSet<NodeId>,
) -> anyhow::Result<InstanceRun> {
    let Sample {
        id,
        sent,
        done,
        mut report,
    } = s;
    // The commander's daemon stamps the order even when it is a traitor:
    // its event loop takes the order like any other.
    let commander = times
        .get(&(COMMANDER, id))
        .with_context(|| format!("instance {id}: no status from its commander"))?;
    let started = commander.times.started_unix_us.with_context(|| {
        format!("instance {id}: its commander has no start time; is it an older daemon?")
    })?;
    let mut last = started;
    let mut traitors_recorded = Vec::new();
    for g in &mut report.generals {
        if traitors.contains(&g.id) {
            let status = times.get(&(g.id, id));
            traitors_recorded.push(TraitorRecord {
                id: g.id,
                decision: status.and_then(|s| s.decision),
                decided_unix_us: status.and_then(|s| s.times.decided_unix_us),
            });
            continue;
        }
        let status = times
            .get(&(g.id, id))
            .with_context(|| format!("instance {id}: no status from general {}", g.id))?;
        ensure!(
            status.decision.is_some() && status.decision == g.decision,
            "instance {id}: general {} reports {:?}, its daemon says {:?}",
            g.id,
            g.decision,
            status.decision
        );
        let decided = status
            .times
            .decided_unix_us
            .with_context(|| format!("instance {id}: general {} has no decision time", g.id))?;
        ensure!(
            decided >= started,
            "instance {id}: general {} decided at {decided} µs, before the order at {started} µs",
            g.id
        );
        g.decided_unix_us = Some(decided);
        last = last.max(decided);
    }
    report.started_unix_us = Some(started);
    Ok(InstanceRun {
        instance: id.to_string(),
        started_unix_us: started,
        all_decided_us: last - started,
        complete_report_us: micros(done.saturating_duration_since(sent)),
        report,
        traitors_recorded,
    })
}

/// Counts IC1 and IC2 over the instances' (annotated) reports.
pub fn agreement(instances: &[InstanceRun]) -> Agreement {
    let mut a = Agreement {
        instances: instances.len(),
        ..Agreement::default()
    };
    for run in instances {
        let r = &run.report;
        if r.ic1 {
            a.ic1_held += 1;
        } else {
            a.ic1_violations += 1;
            a.violations
                .push(format!("{}: IC1: loyal lieutenants disagree", run.instance));
        }
        if !r.traitors.contains(&r.commander) {
            a.ic2_instances += 1;
            if r.ic2 {
                a.ic2_held += 1;
            } else {
                a.ic2_violations += 1;
                a.violations.push(format!(
                    "{}: IC2: a loyal lieutenant disobeyed the loyal commander's {}",
                    run.instance, r.order
                ));
            }
        }
        for g in &r.generals {
            if g.traitor || g.role != Role::Lieutenant {
                continue;
            }
            match g.decision {
                Some(Order::Attack) => a.loyal_attack += 1,
                Some(Order::Retreat) => a.loyal_retreat += 1,
                None => {}
            }
        }
        if r.evidence.iter().any(|e| !e.holders.is_empty()) {
            a.evidence_instances += 1;
        }
    }
    a
}

fn summarize(
    w: &Workload,
    command: String,
    (instances, span): (Vec<InstanceRun>, Duration),
    machine: Machine,
    links_up: Duration,
    max_instances: usize,
) -> BenchReport {
    let decided: Vec<u64> = instances.iter().map(|r| r.all_decided_us).collect();
    let complete: Vec<u64> = instances.iter().map(|r| r.complete_report_us).collect();
    let first = instances.iter().map(|r| r.started_unix_us).min();
    let last = instances
        .iter()
        .map(|r| r.started_unix_us + r.all_decided_us)
        .max();
    let daemons_span_us = last.zip(first).map_or(0, |(b, a)| b - a);
    let run_us = micros(span);
    let messages = instances
        .first()
        .map(|r| r.report.messages.clone())
        .unwrap_or_default();
    BenchReport {
        command,
        version: format!("generals {}", crate::cli::version_text()),
        commit: env!("GENERALS_COMMIT").to_owned(),
        machine,
        workload: w.clone(),
        max_instances,
        links_up_ms: u64::try_from(links_up.as_millis()).unwrap_or(u64::MAX),
        latency: Latency {
            order_to_all_decided_us: Percentiles::of(&decided),
            order_to_complete_report_us: Percentiles::of(&complete),
        },
        throughput: Throughput {
            run_us,
            instances_per_s: per_second(instances.len(), run_us),
            daemons_span_us,
            daemons_instances_per_s: per_second(instances.len(), daemons_span_us),
        },
        logical: messages.logical,
        frames: messages.frames,
        bytes: messages.bytes,
        agreement: agreement(&instances),
        instances,
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn per_second(count: usize, us: u64) -> f64 {
    count as f64 / (us.max(1) as f64 / 1e6)
}

fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut fields = text
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(f64::NAN));
    [(); 3].map(|()| fields.next().unwrap_or(f64::NAN))
}

fn machine(load_before: [f64; 3], load_after: [f64; 3]) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let virtual_cpu = cpuinfo
        .lines()
        .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor"));
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu: if virtual_cpu {
            format!("{model} (virtual)")
        } else {
            model
        },
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_owned(), |k| k.trim().to_owned()),
        load_before,
        load_after,
        unix_time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    }
}

// ---------------------------------------------------------------- idle

/// What `generals bench --idle` runs: a loyal cluster that gets no order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IdleWorkload {
    pub nodes: usize,
    /// How long the cluster is left alone between the two readings.
    pub seconds: u64,
    pub round_timeout_ms: u64,
    pub base_port: u16,
    pub bin: PathBuf,
}

/// One daemon's readings from /proc before and after the idle period.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IdleNode {
    pub id: NodeId,
    pub pid: u32,
    /// `VmRSS` of /proc/PID/status, in KiB.
    pub rss_kib_before: u64,
    pub rss_kib_after: u64,
    /// `utime + stime` of /proc/PID/stat, in clock ticks.
    pub cpu_ticks_before: u64,
    pub cpu_ticks_after: u64,
    /// `cpu_ticks_after - cpu_ticks_before`: the CPU the idle period cost.
    pub cpu_ticks_idle: u64,
}

/// What `generals bench --idle SECONDS --json` prints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IdleReport {
    pub command: String,
    pub version: String,
    pub commit: String,
    pub machine: Machine,
    pub workload: IdleWorkload,
    pub links_up_ms: u64,
    /// The idle period as measured between the two readings.
    pub idle_ms: u64,
    /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), the unit of the ticks.
    pub clock_ticks_per_s: u64,
    /// Over the daemons, after the idle period: the median and largest RSS.
    pub rss_kib_p50: u64,
    pub rss_kib_max: u64,
    /// Over the daemons: the median and most ticks one daemon used while
    /// idle, and the sum.
    pub cpu_ticks_idle_p50: u64,
    pub cpu_ticks_idle_max: u64,
    pub cpu_ticks_idle_total: u64,
    pub nodes: Vec<IdleNode>,
}

/// A process's resident memory (KiB) and CPU time (ticks) from /proc.
fn proc_sample(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status_path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&status_path)
        .with_context(|| format!("reading {status_path}: has the daemon exited?"))?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("{status_path} has no VmRSS line"))?;
    let stat_path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&stat_path)
        .with_context(|| format!("reading {stat_path}: has the daemon exited?"))?;
    // The command name in parentheses may hold spaces; the fields after the
    // last ')' start with field 3 (state), so utime (14) and stime (15) are
    // the 12th and 13th of them.
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let (Some(utime), Some(stime)) = (tick(11), tick(12)) else {
        bail!("{stat_path} has no utime and stime fields");
    };
    Ok((rss, utime + stime))
}

/// Starts a loyal cluster, waits for its links, and reads every daemon's
/// RSS and CPU ticks before and after `seconds` without orders.
pub fn idle(w: &IdleWorkload, command: String) -> anyhow::Result<IdleReport> {
    ensure!(
        (1..=3600).contains(&w.seconds),
        "--idle must be between 1 and 3600 seconds; it is {}",
        w.seconds
    );
    ensure!(
        (2..=usize::from(u16::MAX)).contains(&w.nodes),
        "--nodes must be at least 2; it is {}",
        w.nodes
    );
    check_bin(&w.bin)?;
    let load_before = load_average();
    let mut opts = ClusterOptions::new(w.nodes);
    opts.round_timeout_ms = w.round_timeout_ms;
    opts.base_port = Some(w.base_port);
    let (mut cluster, links_up) = start(&w.bin, opts)?;
    let pids: Vec<(NodeId, u32)> = cluster
        .nodes
        .iter()
        .map(|n| {
            cluster
                .pid(n.id)
                .map(|p| (n.id, p))
                .with_context(|| format!("node {} is not running", n.id))
        })
        .collect::<anyhow::Result<_>>()?;
    let before: Vec<(u64, u64)> = pids
        .iter()
        .map(|&(_, p)| proc_sample(p))
        .collect::<anyhow::Result<_>>()?;
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(w.seconds));
    let after: Vec<(u64, u64)> = pids
        .iter()
        .map(|&(_, p)| proc_sample(p))
        .collect::<anyhow::Result<_>>()?;
    let idle_for = t.elapsed();
    cluster.stop_all();
    let load_after = load_average();
    let nodes: Vec<IdleNode> = pids
        .iter()
        .zip(before.iter().zip(&after))
        .map(|(&(id, pid), (&(rss0, cpu0), &(rss1, cpu1)))| IdleNode {
            id,
            pid,
            rss_kib_before: rss0,
            rss_kib_after: rss1,
            cpu_ticks_before: cpu0,
            cpu_ticks_after: cpu1,
            cpu_ticks_idle: cpu1.saturating_sub(cpu0),
        })
        .collect();
    let mut rss: Vec<u64> = nodes.iter().map(|n| n.rss_kib_after).collect();
    rss.sort_unstable();
    let mut ticks: Vec<u64> = nodes.iter().map(|n| n.cpu_ticks_idle).collect();
    ticks.sort_unstable();
    Ok(IdleReport {
        command,
        version: format!("generals {}", crate::cli::version_text()),
        commit: env!("GENERALS_COMMIT").to_owned(),
        machine: machine(load_before, load_after),
        workload: w.clone(),
        links_up_ms: u64::try_from(links_up.as_millis()).unwrap_or(u64::MAX),
        idle_ms: u64::try_from(idle_for.as_millis()).unwrap_or(u64::MAX),
        clock_ticks_per_s: rustix::param::clock_ticks_per_second(),
        rss_kib_p50: percentile(&rss, 50),
        rss_kib_max: rss.last().copied().unwrap_or_default(),
        cpu_ticks_idle_p50: percentile(&ticks, 50),
        cpu_ticks_idle_max: ticks.last().copied().unwrap_or_default(),
        cpu_ticks_idle_total: nodes.iter().map(|n| n.cpu_ticks_idle).sum(),
        nodes,
    })
}

/// The idle report as markdown: a summary, and each daemon up to 16 of them.
pub fn idle_markdown(r: &IdleReport) -> String {
    let w = &r.workload;
    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    let mut s = format!(
        "#### Idle daemons, n = {}: {} s without orders\n\n{}",
        w.nodes,
        w.seconds,
        preamble(&r.command, &r.version, &r.machine)
    );
    s.push_str(&markdown_table(
        &["per daemon", "median", "max", "sum"],
        &[
            vec![
                "RSS after the idle period".to_owned(),
                mib(r.rss_kib_p50),
                mib(r.rss_kib_max),
                mib(r.nodes.iter().map(|n| n.rss_kib_after).sum()),
            ],
            vec![
                format!("CPU ticks in {} s", w.seconds),
                r.cpu_ticks_idle_p50.to_string(),
                r.cpu_ticks_idle_max.to_string(),
                r.cpu_ticks_idle_total.to_string(),
            ],
        ],
    ));
    if r.nodes.len() <= 16 {
        let rows: Vec<Vec<String>> = r
            .nodes
            .iter()
            .map(|n| {
                vec![
                    n.id.to_string(),
                    mib(n.rss_kib_before),
                    mib(n.rss_kib_after),
                    n.cpu_ticks_before.to_string(),
                    n.cpu_ticks_after.to_string(),
                    n.cpu_ticks_idle.to_string(),
                ]
            })
            .collect();
        s.push_str(&markdown_table(
            &[
                "general",
                "RSS before",
                "RSS after",
                "CPU ticks before",
                "CPU ticks after",
                "CPU ticks idle",
            ],
            &rows,
        ));
    }
    s.push_str(&format!(
        "RSS is VmRSS (/proc/PID/status); CPU ticks are utime + stime (/proc/PID/stat), \
         {} per second; \"before\" includes the start-up. Links up {} ms after the spawn; \
         measured idle {} ms; round timeout {} ms.\n",
        r.clock_ticks_per_s, r.links_up_ms, r.idle_ms, w.round_timeout_ms
    ));
    s
}

// ---------------------------------------------------------------- output

/// The report as markdown, the way docs/BENCHMARKS.md records it.
pub fn markdown(r: &BenchReport) -> String {
    let w = &r.workload;
    let mc = &r.machine;
    let name = match w.protocol {
        Protocol::Oral => "OM",
        Protocol::Signed => "SM",
    };
    let traitors = match w.strategy {
        Some(strategy) if !w.traitors.is_empty() => {
            format!(", traitors {} ({strategy})", id_list(&w.traitors))
        }
        _ => String::new(),
    };
    let mut s = format!(
        "#### {name}({m}), n = {n}: {k} instances, {j} in flight{traitors}\n\n{}",
        preamble(&r.command, &r.version, mc),
        m = w.m,
        n = w.nodes,
        k = w.instances,
        j = w.in_flight,
    );
    let us = |v: u64| fmt_ns(v.saturating_mul(1000));
    let row = |what: &str, p: &Percentiles| {
        vec![
            what.to_owned(),
            us(p.p50),
            us(p.p90),
            us(p.p99),
            us(p.min),
            us(p.max),
        ]
    };
    s.push_str(&markdown_table(
        &["order to", "p50", "p90", "p99", "min", "max"],
        &[
            row(
                "all decided (in the daemons)",
                &r.latency.order_to_all_decided_us,
            ),
            row(
                "complete report (at the bench)",
                &r.latency.order_to_complete_report_us,
            ),
        ],
    ));
    let t = &r.throughput;
    s.push_str(&markdown_table(
        &["throughput", "span", "instances/s"],
        &[
            vec![
                "bench: first order sent to last complete report".to_owned(),
                us(t.run_us),
                rate(t.instances_per_s),
            ],
            vec![
                "daemons: first order to last decision".to_owned(),
                us(t.daemons_span_us),
                rate(t.daemons_instances_per_s),
            ],
        ],
    ));
    s.push_str(&format!(
        "Per instance: {} logical messages, {} frames, {} bytes. Links up {} ms after the \
         spawn; round timeout {} ms; {} warm-up instance(s) not counted; max_instances {}.\n",
        group(r.logical),
        group(r.frames),
        group(r.bytes),
        r.links_up_ms,
        w.round_timeout_ms,
        w.warmup,
        r.max_instances,
    ));
    s.push_str(&agreement_text(r));
    s
}

/// The command, the version and the machine: the lines under a heading.
fn preamble(command: &str, version: &str, mc: &Machine) -> String {
    let load = |l: &[f64; 3]| format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2]);
    format!(
        "`{command}`\n\n\
         {version}; {cpus} CPUs, {cpu}, Linux {kernel}; {when}; \
         load average {before} before, {after} after.\n\n",
        cpus = mc.cpus,
        cpu = mc.cpu,
        kernel = mc.kernel,
        when = utc(mc.unix_time),
        before = load(&mc.load_before),
        after = load(&mc.load_after),
    )
}

/// IC1, IC2 and (with traitors) what the traitors were and did.
fn agreement_text(r: &BenchReport) -> String {
    let a = &r.agreement;
    let w = &r.workload;
    let mut s = format!(
        "\nAgreement: IC1 held in {} of {} instances; ",
        a.ic1_held, a.instances
    );
    if a.ic2_instances == 0 {
        s.push_str("IC2 does not apply (the commander is a traitor).");
    } else {
        s.push_str(&format!(
            "IC2 held in {} of {} (loyal commander).",
            a.ic2_held, a.ic2_instances
        ));
    }
    s.push_str(&format!(
        " Loyal lieutenants decided ATTACK {} times, RETREAT {} times",
        a.loyal_attack, a.loyal_retreat
    ));
    if a.evidence_instances > 0 {
        s.push_str(&format!(
            "; proof of an equivocating commander in {} instance(s)",
            a.evidence_instances
        ));
    }
    s.push_str(".\n");
    for v in &a.violations {
        s.push_str(&format!("VIOLATION {v}\n"));
    }
    if let (Some(strategy), false) = (w.strategy, w.traitors.is_empty()) {
        let recorded = r
            .instances
            .iter()
            .flat_map(|i| &i.traitors_recorded)
            .filter(|t| t.decision.is_some())
            .count();
        let targets = if w.targets.is_empty() {
            String::new()
        } else {
            format!(", targets {}", id_list(&w.targets))
        };
        s.push_str(&format!(
            "\nTraitors {} run `{strategy}` (seed {}{targets}, --allow-faults); order to all \
             decided counts the loyal generals only. A traitor's daemon logs what its loyal \
             core decided from what reached it, which binds nobody: {recorded} of {} such \
             records (--json `traitors_recorded`), in no time and no IC count.\n",
            id_list(&w.traitors),
            w.seed,
            w.traitors.len() * r.instances.len(),
        ));
        if w.traitors.len() > usize::from(w.m) {
            s.push_str(&format!(
                "Note: {} traitors, more than m = {}: the algorithm promises nothing.\n",
                w.traitors.len(),
                w.m
            ));
        }
    }
    s
}

/// 0,5,7
fn id_list(ids: &[NodeId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Instances per second: whole above 10, two decimals below.
fn rate(per_s: f64) -> String {
    if per_s >= 10.0 {
        format!("{per_s:.0}")
    } else {
        format!("{per_s:.2}")
    }
}

/// A markdown table: the first column left-aligned, the others right.
pub fn markdown_table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = format!("| {} |\n", head.join(" | "));
    s.push_str(&format!(
        "|---|{}\n",
        "---:|".repeat(head.len().saturating_sub(1))
    ));
    for row in rows {
        s.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    s.push('\n');
    s
}

/// Nanoseconds with a unit that keeps 3 or 4 significant digits.
pub fn fmt_ns(ns: u64) -> String {
    let ns = ns as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC` (proleptic Gregorian calendar).
pub fn utc(unix: u64) -> String {
    let (days, secs) = (unix / 86_400, unix % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 >= 0.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// 1234567 → "1,234,567".
pub fn group(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = Percentiles::of(&[5, 1, 4, 2, 3, 10, 9, 8, 7, 6]);
        assert_eq!((p.p50, p.p90, p.p99, p.min, p.max), (5, 9, 10, 1, 10));
        assert_eq!(Percentiles::of(&[7]).p99, 7);
        assert_eq!(Percentiles::of(&[]), Percentiles::default());
        let many: Vec<u64> = (1..=1000).collect();
        let p = Percentiles::of(&many);
        assert_eq!((p.p50, p.p90, p.p99), (500, 900, 990));
    }

    #[test]
    fn numbers_read_naturally() {
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(999), "999");
        assert_eq!(fmt_ns(2_410_000), "2.41 ms");
        assert_eq!(fmt_ns(1_500), "1.5 µs");
        assert_eq!(
            (rate(145.4), rate(0.41)),
            ("145".to_owned(), "0.41".to_owned())
        );
        assert_eq!(utc(1_795_000_000), "2026-11-18 11:06 UTC");
    }

    #[test]
    fn proc_sample_reads_this_process() {
        let (rss, _ticks) = proc_sample(std::process::id()).unwrap();
        assert!(rss > 0);
        let e = proc_sample(u32::MAX).unwrap_err().to_string();
        assert!(e.contains("has the daemon exited"), "{e}");
    }

    #[test]
    fn in_flight_raises_max_instances_only_when_needed() {
        let mut w = Workload {
            protocol: Protocol::Signed,
            nodes: 4,
            m: 1,
            instances: 100,
            in_flight: 1,
            warmup: 0,
            round_timeout_ms: 1000,
            base_port: 17_000,
            bin: PathBuf::from("/nonexistent"),
            traitors: Vec::new(),
            strategy: None,
            targets: Vec::new(),
            seed: 0,
        };
        assert_eq!(max_instances(&w), DEFAULT_MAX_INSTANCES);
        w.in_flight = 100;
        assert_eq!(max_instances(&w), 404);
        // Checked before anything starts, with the fix in the message.
        let e = validate(&w).unwrap_err().to_string();
        assert!(e.contains("--bin"), "{e}");
        w.in_flight = 101;
        let e = validate(&w).unwrap_err().to_string();
        assert!(e.contains("--in-flight"), "{e}");
        w.in_flight = 1;
        w.protocol = Protocol::Oral;
        w.m = 2;
        let e = validate(&w).unwrap_err().to_string();
        assert!(e.contains("3m+1"), "{e}");
    }
}
