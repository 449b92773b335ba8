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
//! Speed is measured, never asserted: a run fails only when it is wrong (a
//! general without a decision, IC1 or IC2 broken, an incomplete report) or
//! cannot run.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context};
use generals_crypto::{InstanceId, NodeId, Order};
use generals_wire::Protocol;
use serde::{Deserialize, Serialize};

use crate::cli::client::{check, unexpected, Connection};
use crate::cluster::{ClusterOptions, LocalCluster};
use crate::control::{ControlRequest, ControlResponse, InstanceStatus};
use crate::report::InstanceReport;

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
    pub report: InstanceReport,
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
    ensure!(
        w.bin.is_file(),
        "{} is not a file: the nodes run the generals binary; pass --bin PATH",
        w.bin.display()
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
    let mut cluster = LocalCluster::create(&w.bin, opts)?;
    let t = Instant::now();
    cluster.start_all()?;
    cluster.wait_connected(CONNECT_WAIT).with_context(|| {
        format!(
            "starting {} nodes; node 0 log:\n{}",
            w.nodes,
            cluster.log_tail(COMMANDER, 20)
        )
    })?;
    let links_up = t.elapsed();

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
    let times = decision_times(cluster, &samples).await?;
    let runs = samples
        .into_iter()
        .map(|s| instance_run(s, &times))
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
    if report.complete != Some(true) {
        bail!(
            "instance {id} has no complete report: some general's signed report did not arrive \
             ({:?}); raise --round-timeout-ms or lower --in-flight",
            report
                .generals
                .iter()
                .filter(|g| g.reported != Some(true))
                .map(|g| g.id)
                .collect::<Vec<_>>()
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
                let line = status
                    .instances
                    .into_iter()
                    .find(|s| s.instance == id)
                    .with_context(|| format!("node {} does not list instance {id}", node.id))?;
                found.push(((node.id, id), line));
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
fn instance_run(
    s: Sample,
    times: &BTreeMap<(NodeId, InstanceId), InstanceStatus>,
) -> anyhow::Result<InstanceRun> {
    let Sample {
        id,
        sent,
        done,
        mut report,
    } = s;
    if let Some(v) = report.violation() {
        bail!("instance {id}: {v}");
    }
    ensure!(
        report.ic1 && report.ic2,
        "instance {id}: IC1 {} / IC2 {} in a run without traitors",
        report.ic1,
        report.ic2
    );
    let commander = times
        .get(&(COMMANDER, id))
        .with_context(|| format!("instance {id}: no status from its commander"))?;
    let started = commander.times.started_unix_us.with_context(|| {
        format!("instance {id}: its commander has no start time; is it an older daemon?")
    })?;
    let mut last = started;
    for g in &mut report.generals {
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
    })
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

// ---------------------------------------------------------------- output

/// The report as markdown, the way docs/BENCHMARKS.md records it.
pub fn markdown(r: &BenchReport) -> String {
    let w = &r.workload;
    let mc = &r.machine;
    let name = match w.protocol {
        Protocol::Oral => "OM",
        Protocol::Signed => "SM",
    };
    let load = |l: &[f64; 3]| format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2]);
    let mut s = format!(
        "#### {name}({m}), n = {n}: {k} instances, {j} in flight\n\n\
         `{cmd}`\n\n\
         {version}; {cpus} CPUs, {cpu}, Linux {kernel}; {when}; \
         load average {before} before, {after} after.\n\n",
        m = w.m,
        n = w.nodes,
        k = w.instances,
        j = w.in_flight,
        cmd = r.command,
        version = r.version,
        cpus = mc.cpus,
        cpu = mc.cpu,
        kernel = mc.kernel,
        when = utc(mc.unix_time),
        before = load(&mc.load_before),
        after = load(&mc.load_after),
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
    s
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
