//! Benchmarks for `generals`: what OM(m) and SM(m) cost, side by side.
//!
//! ```text
//! cargo build --release
//! cargo run --release -p generals-node --example bench -- [--quick] [--json]
//! ```
//!
//! Sections (docs/BENCHMARKS.md explains what each measures and what not):
//! a) the simulator, oral vs signed, loyal commander;
//! b) OM core throughput (logical messages per second of sim time);
//! c) signature cost and the SM prefix cache;
//! d) real daemons on loopback (needs target/release/generals).
//!
//! Speed is measured here, never asserted: nothing in this file fails
//! because something is slow. It fails only if a run is wrong (IC1/IC2
//! broken, an incomplete report) or cannot run at all.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context};
use clap::Parser;
use generals_crypto::{InstanceId, NodeId, NodeKey, Order, PrefixCache, PublicKey, SignedOrder};
use generals_node::bench::{
    fmt_ns, group, markdown, markdown_table, percentile, utc, BenchReport, Workload,
};
use generals_node::sim::{formula, run, sim_key, SimConfig, SimReport};
use generals_wire::Protocol;
use serde::Serialize;

#[derive(Debug, Parser)]
#[command(about = "Benchmarks: simulator oral vs signed, OM throughput, signatures, daemons")]
struct Args {
    /// Small budgets, no big SM cells, 5 daemon instances: well under a minute.
    #[arg(long)]
    quick: bool,
    /// Print one JSON document instead of markdown tables.
    #[arg(long)]
    json: bool,
    /// The `generals` binary for the daemon section
    /// [default: $CARGO_TARGET_DIR or <workspace>/target, then release/generals].
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Skip the daemon section (d).
    #[arg(long)]
    no_daemons: bool,
}

/// How much time and work each section may spend.
#[derive(Clone, Copy, Debug)]
struct Budget {
    /// Minimum total time per simulator cell (k runs, k adaptive).
    cell: Duration,
    /// Minimum total time per signature micro-benchmark.
    micro: Duration,
    /// Measured daemon instances per protocol and cluster.
    instances: usize,
    /// Include the big SM cells (22,7), (34,11), (100,33).
    big: bool,
}

impl Budget {
    fn new(quick: bool) -> Budget {
        if quick {
            Budget {
                cell: Duration::from_millis(50),
                micro: Duration::from_millis(50),
                instances: 5,
                big: false,
            }
        } else {
            Budget {
                cell: Duration::from_millis(500),
                micro: Duration::from_millis(500),
                instances: 20,
                big: true,
            }
        }
    }
}

const OM_CELLS: [(usize, u8); 5] = [(4, 1), (7, 2), (10, 3), (13, 4), (16, 5)];
const SM_BIG_CELLS: [(usize, u8); 3] = [(22, 7), (34, 11), (100, 33)];

// ---------------------------------------------------------------- results

#[derive(Debug, Serialize)]
struct Machine {
    cpus: usize,
    rustc: String,
    unix_time: u64,
    quick: bool,
}

#[derive(Debug, Serialize)]
struct SimCell {
    protocol: String,
    n: usize,
    m: u8,
    logical: u64,
    formula: u64,
    frames: u64,
    bytes: u64,
    signatures_made: u64,
    signatures_verified: u64,
    runs: usize,
    median_ns: u64,
}

#[derive(Debug, Serialize)]
struct Ratio {
    n: usize,
    m: u8,
    logical: f64,
    bytes: f64,
    frames: f64,
    wall_time: f64,
}

#[derive(Debug, Serialize)]
struct Throughput {
    n: usize,
    m: u8,
    logical: u64,
    median_ns: u64,
    messages_per_second: f64,
    /// What every sim run spends before the first message: n key
    /// derivations and one signature (the coalition's captured chain).
    setup_ns_estimate: u64,
    messages_per_second_after_setup: f64,
}

#[derive(Debug, Serialize)]
struct SignatureCosts {
    commander_sign_ns: u64,
    relay_sign_ns: u64,
    verify_link_ns: u64,
    cached_link_ns: u64,
    sim_key_ns: u64,
}

#[derive(Debug, Serialize)]
struct CacheRow {
    n: usize,
    m: u8,
    received_chains: u64,
    signatures_in_chains: u64,
    verified_with_cache: u64,
    saved_ns_estimate: u64,
}

#[derive(Debug, Serialize)]
struct ReceiveRow {
    n: usize,
    chains: usize,
    verified_shared_cache: u64,
    verified_fresh_cache: u64,
    shared_ns: u64,
    fresh_ns: u64,
}

#[derive(Debug, Serialize)]
struct Results {
    machine: Machine,
    sim: Vec<SimCell>,
    ratios: Vec<Ratio>,
    om_throughput: Vec<Throughput>,
    signatures: SignatureCosts,
    prefix_cache: Vec<CacheRow>,
    receive: Vec<ReceiveRow>,
    /// Section d: one `generals bench` run per protocol and cluster.
    daemons: Option<Vec<BenchReport>>,
}

// ---------------------------------------------------------------- main

fn main() -> ExitCode {
    match bench(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn bench(args: &Args) -> anyhow::Result<()> {
    let budget = Budget::new(args.quick);
    let bin = binary_path(args);
    if !args.no_daemons && !bin.is_file() {
        bail!(
            "{} not found: the daemon section runs the release binary. \
             Run `cargo build --release` first (or pass --bin PATH, or --no-daemons).",
            bin.display()
        );
    }
    let machine = machine(args.quick);

    progress("a) simulator cells");
    let sim = sim_section(budget)?;
    let ratios = ratios(&sim);
    progress("c) signature costs");
    let signatures = signature_costs(budget)?;
    let om_throughput = throughput(&sim, &signatures);
    let prefix_cache = prefix_cache_rows(&sim, &signatures);
    let receive = receive_section(budget, args.quick)?;
    let daemons = if args.no_daemons {
        None
    } else {
        progress("d) daemons on loopback");
        Some(daemon_section(&bin, budget)?)
    };

    let results = Results {
        machine,
        sim,
        ratios,
        om_throughput,
        signatures,
        prefix_cache,
        receive,
        daemons,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        print_markdown(&results);
    }
    Ok(())
}

fn progress(what: &str) {
    eprintln!("bench: {what} ...");
}

fn binary_path(args: &Args) -> PathBuf {
    if let Some(bin) = &args.bin {
        return bin.clone();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("release").join("generals")
}

fn machine(quick: bool) -> Machine {
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".to_owned(), |s| s.trim().to_owned());
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        rustc,
        unix_time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        quick,
    }
}

// ---------------------------------------------------------------- timing

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The median of unsorted samples (the upper one for an even count).
fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    percentile(samples, 50)
}

/// Median time per call of `op`, in batches sized to ~1 ms, for at least
/// `target` in total and at least 5 batches.
fn per_op(target: Duration, mut op: impl FnMut()) -> Duration {
    let t = Instant::now();
    op();
    let one = t.elapsed().max(Duration::from_nanos(1));
    let batch = (Duration::from_millis(1).as_nanos() / one.as_nanos()).clamp(1, 100_000) as u32;
    let mut samples = Vec::new();
    let started = Instant::now();
    while samples.len() < 5 || started.elapsed() < target {
        let t = Instant::now();
        for _ in 0..batch {
            op();
        }
        samples.push(t.elapsed() / batch);
    }
    median(&mut samples)
}

// ---------------------------------------------------------------- a) simulator

fn sim_section(budget: Budget) -> anyhow::Result<Vec<SimCell>> {
    let mut signed: Vec<(usize, u8)> = OM_CELLS.to_vec();
    if budget.big {
        signed.extend(SM_BIG_CELLS);
    }
    let mut cells = Vec::new();
    // Oral and signed alternate at each (n, m) so that machine noise hits
    // both sides of a ratio alike.
    for &(n, m) in &signed {
        if OM_CELLS.contains(&(n, m)) {
            cells.push(sim_cell(Protocol::Oral, n, m, budget.cell)?);
        }
        cells.push(sim_cell(Protocol::Signed, n, m, budget.cell)?);
    }
    Ok(cells)
}

/// One warm-up run (checked for IC1/IC2 and Lamport's count), then k timed
/// runs whose times add up to at least `target`; a cell whose warm-up alone
/// took `target` is that one run.
fn sim_cell(protocol: Protocol, n: usize, m: u8, target: Duration) -> anyhow::Result<SimCell> {
    let cfg = SimConfig::new(protocol, n, m);
    let (report, first) = timed_run(&cfg)?;
    check_loyal_run(&report)?;
    let mut samples = if first >= target {
        vec![first]
    } else {
        timed_runs(&cfg, target)?
    };
    let msgs = &report.messages;
    Ok(SimCell {
        protocol: protocol.to_string(),
        n,
        m,
        logical: msgs.logical,
        formula: formula(protocol, n, m),
        frames: msgs.frames,
        bytes: msgs.bytes,
        signatures_made: msgs.signatures_made,
        signatures_verified: msgs.signatures_verified,
        runs: samples.len(),
        median_ns: nanos(median(&mut samples)),
    })
}

/// At least 3 runs, and more until they add up to `target`.
fn timed_runs(cfg: &SimConfig, target: Duration) -> anyhow::Result<Vec<Duration>> {
    let mut samples = Vec::new();
    let mut total = Duration::ZERO;
    while samples.len() < 3 || total < target {
        let (_, t) = timed_run(cfg)?;
        total += t;
        samples.push(t);
    }
    Ok(samples)
}

fn timed_run(cfg: &SimConfig) -> anyhow::Result<(SimReport, Duration)> {
    let t = Instant::now();
    let report = run(cfg).with_context(|| format!("simulating {} n={}", cfg.protocol, cfg.n))?;
    Ok((report, t.elapsed()))
}

fn check_loyal_run(r: &SimReport) -> anyhow::Result<()> {
    let what = format!("{} n={} m={}", r.protocol, r.n, r.m);
    ensure!(r.ic1 && r.ic2, "{what}: IC1/IC2 failed in a loyal run");
    ensure!(
        r.messages.logical == r.messages.formula,
        "{what}: {} logical messages, formula says {}",
        r.messages.logical,
        r.messages.formula
    );
    Ok(())
}

fn find(cells: &[SimCell], protocol: Protocol, n: usize, m: u8) -> Option<&SimCell> {
    let p = protocol.to_string();
    cells
        .iter()
        .find(|c| c.protocol == p && c.n == n && c.m == m)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

fn ratios(cells: &[SimCell]) -> Vec<Ratio> {
    OM_CELLS
        .iter()
        .filter_map(|&(n, m)| {
            let o = find(cells, Protocol::Oral, n, m)?;
            let s = find(cells, Protocol::Signed, n, m)?;
            Some(Ratio {
                n,
                m,
                logical: ratio(o.logical, s.logical),
                bytes: ratio(o.bytes, s.bytes),
                frames: ratio(o.frames, s.frames),
                wall_time: ratio(o.median_ns, s.median_ns),
            })
        })
        .collect()
}

// ---------------------------------------------------------------- b) OM throughput

fn throughput(cells: &[SimCell], sig: &SignatureCosts) -> Vec<Throughput> {
    let oral = Protocol::Oral.to_string();
    let per_second = |msgs: u64, ns: u64| msgs as f64 / (ns.max(1) as f64 / 1e9);
    cells
        .iter()
        .filter(|c| c.protocol == oral)
        .map(|c| {
            let setup = c.n as u64 * sig.sim_key_ns + sig.commander_sign_ns;
            Throughput {
                n: c.n,
                m: c.m,
                logical: c.logical,
                median_ns: c.median_ns,
                messages_per_second: per_second(c.logical, c.median_ns),
                setup_ns_estimate: setup,
                messages_per_second_after_setup: per_second(
                    c.logical,
                    c.median_ns.saturating_sub(setup),
                ),
            }
        })
        .collect()
}

// ---------------------------------------------------------------- c) signatures

/// The cluster every bench chain is signed and checked for.
const BENCH_CLUSTER: generals_crypto::ClusterId = generals_crypto::ClusterId([7; 32]);

const BENCH_INSTANCE: InstanceId = InstanceId {
    commander: NodeId(0),
    seq: 1,
};

fn keys(n: usize) -> (Vec<NodeKey>, Vec<PublicKey>) {
    let keys: Vec<NodeKey> = (0..n as u16).map(|i| sim_key(7, NodeId(i))).collect();
    let publics = keys.iter().map(NodeKey::public).collect();
    (keys, publics)
}

fn verify(chain: &SignedOrder, publics: &[PublicKey], cache: &mut PrefixCache) -> u64 {
    chain
        .verify(&BENCH_CLUSTER, |id| publics.get(id.index()), cache)
        .map_or(0, |s| s.verified)
}

fn signature_costs(budget: Budget) -> anyhow::Result<SignatureCosts> {
    let (keys, publics) = keys(2);
    let root = SignedOrder::new(&keys[0], &BENCH_CLUSTER, BENCH_INSTANCE, 1, Order::Attack);
    let relay = root.extended(&keys[1], &BENCH_CLUSTER, NodeId(1));
    let mut warm = PrefixCache::default();
    ensure!(
        verify(&relay, &publics, &mut warm) == 2,
        "bench chain does not verify"
    );
    let mut root_cached = PrefixCache::default();
    verify(&root, &publics, &mut root_cached);

    let commander_sign = per_op(budget.micro, || {
        black_box(SignedOrder::new(
            &keys[0],
            &BENCH_CLUSTER,
            BENCH_INSTANCE,
            1,
            Order::Attack,
        ));
    });
    let relay_sign = per_op(budget.micro, || {
        black_box(root.extended(&keys[1], &BENCH_CLUSTER, NodeId(1)));
    });
    // The relay chain with its root already cached: exactly one verify_strict.
    let verify_link = per_op(budget.micro, || {
        black_box(verify(&relay, &publics, &mut root_cached.clone()));
    });
    // The root again with the root cached: the digest only, no verify_strict.
    let cached_link = per_op(budget.micro, || {
        black_box(verify(&root, &publics, &mut root_cached));
    });
    let key = per_op(budget.micro, || {
        black_box(sim_key(7, NodeId(3)));
    });
    Ok(SignatureCosts {
        commander_sign_ns: nanos(commander_sign),
        relay_sign_ns: nanos(relay_sign),
        verify_link_ns: nanos(verify_link),
        cached_link_ns: nanos(cached_link),
        sim_key_ns: nanos(key),
    })
}

/// Without the cache a lieutenant of a loyal SM run would verify every
/// signature of every chain it receives: 1 chain of length 1 and n-2 of
/// length 2, so (n-1)(2n-3) in all. The sim reports what it verified.
fn prefix_cache_rows(cells: &[SimCell], sig: &SignatureCosts) -> Vec<CacheRow> {
    let signed = Protocol::Signed.to_string();
    cells
        .iter()
        .filter(|c| c.protocol == signed)
        .map(|c| {
            let n = c.n as u64;
            let without = (n - 1) * (2 * n - 3);
            CacheRow {
                n: c.n,
                m: c.m,
                received_chains: (n - 1) * (n - 1),
                signatures_in_chains: without,
                verified_with_cache: c.signatures_verified,
                saved_ns_estimate: without.saturating_sub(c.signatures_verified)
                    * sig.verify_link_ns,
            }
        })
        .collect()
}

/// Measures what one lieutenant (id 1) does with the chains of a loyal run:
/// the commander's chain, then n-2 relays of it. One shared cache (what the
/// protocol does) against a fresh cache per chain (no cache).
fn receive_section(budget: Budget, quick: bool) -> anyhow::Result<Vec<ReceiveRow>> {
    let sizes: &[usize] = if quick { &[7, 34] } else { &[7, 34, 100] };
    sizes.iter().map(|&n| receive_row(n, budget)).collect()
}

fn received_chains(n: usize) -> (Vec<SignedOrder>, Vec<PublicKey>) {
    let (keys, publics) = keys(n);
    let root = SignedOrder::new(&keys[0], &BENCH_CLUSTER, BENCH_INSTANCE, 1, Order::Attack);
    let mut chains = vec![root.clone()];
    for j in 2..n as u16 {
        chains.push(root.extended(&keys[usize::from(j)], &BENCH_CLUSTER, NodeId(j)));
    }
    (chains, publics)
}

fn verify_all(chains: &[SignedOrder], publics: &[PublicKey], shared: bool) -> u64 {
    let mut cache = PrefixCache::default();
    chains
        .iter()
        .map(|c| {
            if !shared {
                cache = PrefixCache::default();
            }
            verify(c, publics, &mut cache)
        })
        .sum()
}

fn receive_row(n: usize, budget: Budget) -> anyhow::Result<ReceiveRow> {
    let (chains, publics) = received_chains(n);
    let shared = verify_all(&chains, &publics, true);
    let fresh = verify_all(&chains, &publics, false);
    let want = (n as u64 - 1, 2 * n as u64 - 3);
    ensure!(
        (shared, fresh) == want,
        "n={n}: verified {shared}/{fresh}, expected {want:?}"
    );
    let shared_t = per_op(budget.micro, || {
        black_box(verify_all(&chains, &publics, true));
    });
    let fresh_t = per_op(budget.micro, || {
        black_box(verify_all(&chains, &publics, false));
    });
    Ok(ReceiveRow {
        n,
        chains: chains.len(),
        verified_shared_cache: shared,
        verified_fresh_cache: fresh,
        shared_ns: nanos(shared_t),
        fresh_ns: nanos(fresh_t),
    })
}

// ---------------------------------------------------------------- d) daemons

/// `generals bench` for OM(m) and SM(m) at (4, 1) and (7, 2), one instance
/// at a time, with the harness of the command (`generals_node::bench`).
fn daemon_section(bin: &std::path::Path, budget: Budget) -> anyhow::Result<Vec<BenchReport>> {
    let mut out = Vec::new();
    for (i, (n, m)) in [(4usize, 1u8), (7, 2)].into_iter().enumerate() {
        for (k, protocol) in [Protocol::Oral, Protocol::Signed].into_iter().enumerate() {
            progress(&format!("   {protocol} m={m} on {n} daemons"));
            let workload = Workload {
                protocol,
                nodes: n,
                m,
                instances: budget.instances,
                in_flight: 1,
                warmup: 1,
                round_timeout_ms: 500,
                base_port: 17_000 + 20 * (2 * i + k) as u16,
                bin: bin.to_owned(),
                traitors: Vec::new(),
                strategy: None,
                targets: Vec::new(),
                seed: 0,
            };
            let command = format!("examples/bench section d: {protocol} n={n} m={m}");
            let report = generals_node::bench::run(&workload, command)?;
            // A loyal run that breaks IC1 or IC2 is wrong: the bench stops.
            anyhow::ensure!(
                report.agreement.held(),
                "{protocol} n={n} m={m}: {}",
                report.agreement.violations.join("; ")
            );
            out.push(report);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- output

fn fmt_ratio(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}×")
    } else {
        format!("{r:.2}×")
    }
}

fn table(head: &[&str], rows: &[Vec<String>]) {
    print!("{}", markdown_table(head, rows));
}

fn print_markdown(r: &Results) {
    let mc = &r.machine;
    println!(
        "# generals bench{}\n\n{} CPUs, {}, {}\n",
        if mc.quick { " (--quick)" } else { "" },
        mc.cpus,
        mc.rustc,
        utc(mc.unix_time)
    );
    print_sim(&r.sim);
    print_ratios(&r.ratios);
    print_throughput(&r.om_throughput);
    print_signatures(&r.signatures, &r.prefix_cache, &r.receive);
    if let Some(d) = &r.daemons {
        print_daemons(d);
    }
}

fn print_sim(cells: &[SimCell]) {
    println!("## a) Simulator, loyal commander (median wall time of `runs` runs)\n");
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|c| {
            let proto = if c.protocol == Protocol::Oral.to_string() {
                "OM"
            } else {
                "SM"
            };
            vec![
                format!("{proto}({})", c.m),
                c.n.to_string(),
                group(c.logical),
                group(c.formula),
                group(c.frames),
                group(c.bytes),
                group(c.signatures_made),
                group(c.signatures_verified),
                c.runs.to_string(),
                fmt_ns(c.median_ns),
            ]
        })
        .collect();
    table(
        &[
            "algorithm",
            "n",
            "logical msgs",
            "formula",
            "frames",
            "bytes",
            "sigs made",
            "sigs verified",
            "runs",
            "wall/run",
        ],
        &rows,
    );
}

fn print_ratios(ratios: &[Ratio]) {
    println!("### Oral / signed at the same (n, m)\n");
    let rows: Vec<Vec<String>> = ratios
        .iter()
        .map(|r| {
            vec![
                r.n.to_string(),
                r.m.to_string(),
                fmt_ratio(r.logical),
                fmt_ratio(r.bytes),
                fmt_ratio(r.frames),
                fmt_ratio(r.wall_time),
            ]
        })
        .collect();
    table(
        &["n", "m", "logical msgs", "bytes", "frames", "sim wall time"],
        &rows,
    );
}

fn print_throughput(rows: &[Throughput]) {
    println!("## b) OM core throughput (logical messages / sim wall time)\n");
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|t| {
            vec![
                format!("OM({})", t.m),
                t.n.to_string(),
                group(t.logical),
                fmt_ns(t.median_ns),
                format!("{:.1} M/s", t.messages_per_second / 1e6),
                fmt_ns(t.setup_ns_estimate),
                format!("{:.1} M/s", t.messages_per_second_after_setup / 1e6),
            ]
        })
        .collect();
    table(
        &[
            "algorithm",
            "n",
            "logical msgs",
            "wall/run",
            "messages/s",
            "setup (est.)",
            "messages/s after setup",
        ],
        &rows,
    );
}

fn print_signatures(s: &SignatureCosts, cache: &[CacheRow], receive: &[ReceiveRow]) {
    println!("## c) Signature cost (median per operation)\n");
    table(
        &["operation", "time"],
        &[
            vec![
                "commander signs (chain of 1)".into(),
                fmt_ns(s.commander_sign_ns),
            ],
            vec!["relay signs (chain 1 → 2)".into(), fmt_ns(s.relay_sign_ns)],
            vec![
                "verify_strict one link (prefix cached)".into(),
                fmt_ns(s.verify_link_ns),
            ],
            vec!["cached link (digest only)".into(), fmt_ns(s.cached_link_ns)],
            vec!["derive one sim key".into(), fmt_ns(s.sim_key_ns)],
        ],
    );
    println!("### Prefix cache in loyal SM runs (without = derived: (n-1)(2n-3))\n");
    let rows: Vec<Vec<String>> = cache
        .iter()
        .map(|c| {
            vec![
                format!("SM({})", c.m),
                c.n.to_string(),
                group(c.received_chains),
                group(c.signatures_in_chains),
                group(c.verified_with_cache),
                fmt_ratio(ratio(c.signatures_in_chains, c.verified_with_cache)),
                fmt_ns(c.saved_ns_estimate),
            ]
        })
        .collect();
    table(
        &[
            "algorithm",
            "n",
            "chains received",
            "verified without cache",
            "verified with cache (sim)",
            "without/with",
            "CPU saved (est.)",
        ],
        &rows,
    );
    println!("### One lieutenant's loyal-run chains, measured: shared cache vs fresh per chain\n");
    let rows: Vec<Vec<String>> = receive
        .iter()
        .map(|r| {
            vec![
                r.n.to_string(),
                r.chains.to_string(),
                r.verified_shared_cache.to_string(),
                r.verified_fresh_cache.to_string(),
                fmt_ns(r.shared_ns),
                fmt_ns(r.fresh_ns),
                fmt_ratio(ratio(r.fresh_ns, r.shared_ns)),
            ]
        })
        .collect();
    table(
        &[
            "n",
            "chains",
            "verified (cache)",
            "verified (no cache)",
            "time (cache)",
            "time (no cache)",
            "no cache/cache",
        ],
        &rows,
    );
}

fn print_daemons(runs: &[BenchReport]) {
    println!("## d) Daemons on loopback (`generals bench`, one instance at a time)\n");
    for r in runs {
        println!("{}", markdown(r));
    }
    let pairs: Vec<Vec<String>> = runs
        .chunks(2)
        .filter_map(|p| match p {
            [o, s] => {
                let (o, s) = (
                    &o.latency.order_to_all_decided_us,
                    &s.latency.order_to_all_decided_us,
                );
                Some(vec![
                    runs_of(p).0.to_string(),
                    runs_of(p).1.to_string(),
                    fmt_ratio(ratio(o.p50, s.p50)),
                    fmt_ratio(ratio(o.p90, s.p90)),
                ])
            }
            _ => None,
        })
        .collect();
    println!("### Oral / signed daemon latency, order to all decided\n");
    table(&["n", "m", "p50", "p90"], &pairs);
}

fn runs_of(pair: &[BenchReport]) -> (usize, u8) {
    pair.first()
        .map_or((0, 0), |r| (r.workload.nodes, r.workload.m))
}
