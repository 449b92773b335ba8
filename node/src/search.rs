//! A seeded randomized search over schedules, traitor sets and strategies,
//! in the style of Twins (Bano et al., "Twins: BFT Systems Made Robust",
//! 2022): draw many small cases, run each in the simulator against the node
//! core that ships, and check properties that must hold in every one.
//!
//! A case is a pure function of its seed and the [`Space`], so a violation
//! is reproduced from one line: `--replay SEED` with the space's flags.
//!
//! # What a case draws
//! Protocol; n in the space; m from 1 up to the protocol's bound (OM needs
//! n >= 3m+1, SM n >= m+2) and the space's cap; the commander; up to m
//! traitors (the commander among them half the time), each with a strategy
//! from [`Strategy::ALL`], `precreate` and `hog` included; split/partial
//! targets; the order; a [`Schedule`]: the uniform default (1 in 8) or a
//! timing adversary with δ at the bound (3 in 4) or below it, and the order
//! given at time 0, at a random time, or once the traitors' opening moves
//! have played out; and the node's budgets: a small instance limit of 1 to 3
//! per commander (1, the tightest, half the time).
//!
//! # The synchrony bound
//! Δ = 100 ms and δ <= Δ/5 = 20 ms. Why that is enough, with the deadline
//! of round r being Δ + (r-1)·s and s = Δ/2 ([`round_deadline`]): a loyal
//! lieutenant that joins round 1 through a relay instead of the commander
//! (a traitor commander was silent to it) starts at most δ after the first
//! loyal node entered round 2, and waits Δ, so loyal nodes enter round 2 at
//! most Δ + δ apart; its round-2 frame then takes up to δ more, and must
//! land inside the earliest node's round-2 deadline Δ + s: so s >= 2δ. In
//! later rounds a node that closed early needed every loyal frame of that
//! round, so the spread never exceeds the previous deadline, and each
//! deadline being s >= δ longer than the last is enough. Hence δ <= s/2 =
//! Δ/4; the search stays at Δ/5 to keep a margin, and nothing in it models
//! processing time. `--delta-us` moves δ to probe the bound itself.
//!
//! # What is checked in every case
//! - the run finishes (the network goes quiet before the simulator's horizon);
//! - IC1 and IC2 ([`SimReport::violation`]);
//! - every loyal general decides every instance it holds at most once, and
//!   at most one instance per id of a loyal commander;
//! - the real instance: with a loyal commander every loyal lieutenant
//!   decides it exactly once; with a traitor one, all of them or none;
//! - with a loyal commander, no loyal lieutenant's signed report is lost;
//! - no loyal general's frame reaches a loyal general after it closed that
//!   round (the bound above says this never happens; a late loyal frame is
//!   a timing bug even when the decisions happen to agree).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use generals_crypto::{InstanceId, NodeId, Order, VerifyMemo};
use generals_wire::{InstanceSpec, Protocol};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::protocol::adversary::Strategy;
use crate::protocol::{round_deadline, Limits};
use crate::sim::{run_traced, Schedule, SimConfig, SimReport, Timing, Trace};

/// Δ for every case.
pub const ROUND_TIMEOUT: Duration = Duration::from_millis(100);

/// The cases a search draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Space {
    pub min_n: usize,
    pub max_n: usize,
    /// m never exceeds this (nor the protocol's bound).
    pub max_m: u8,
    /// δ: the longest a loyal message may take, µs.
    pub delta_us: u64,
    /// Overrides the deadline step: only to show the search finds a flat deadline.
    pub round_step: Option<Duration>,
}

impl Default for Space {
    /// n from 4 to 10, any m the protocol allows, δ = Δ/5.
    fn default() -> Space {
        Space {
            min_n: 4,
            max_n: 10,
            max_m: u8::MAX,
            delta_us: ROUND_TIMEOUT.as_micros() as u64 / 5,
            round_step: None,
        }
    }
}

impl Space {
    /// The flags that select this space, for a reproduction line.
    pub fn flags(&self) -> String {
        let d = Space::default();
        let mut s = format!("--min-n {} --max-n {}", self.min_n, self.max_n);
        if self.max_m != d.max_m {
            let _ = write!(s, " --max-m {}", self.max_m);
        }
        if self.delta_us != d.delta_us {
            let _ = write!(s, " --delta-us {}", self.delta_us);
        }
        if let Some(step) = self.round_step {
            let _ = write!(s, " --round-step-us {}", step.as_micros());
        }
        s
    }
}

/// The properties checked in every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    Finishes,
    Agreement,
    DecidesOnce,
    OneSpecPerId,
    RealInstance,
    Reports,
    NoLateLoyalFrame,
}

impl Check {
    pub const ALL: [Check; 7] = [
        Check::Finishes,
        Check::Agreement,
        Check::DecidesOnce,
        Check::OneSpecPerId,
        Check::RealInstance,
        Check::Reports,
        Check::NoLateLoyalFrame,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Check::Finishes => "finishes",
            Check::Agreement => "ic1-ic2",
            Check::DecidesOnce => "decides-once",
            Check::OneSpecPerId => "one-spec-per-id",
            Check::RealInstance => "real-instance",
            Check::Reports => "reports",
            Check::NoLateLoyalFrame => "no-late-loyal-frame",
        }
    }
}

/// A case that broke a property.
#[derive(Clone, Debug)]
pub struct Finding {
    pub seed: u64,
    pub check: Check,
    pub detail: String,
    pub cfg: SimConfig,
}

impl Finding {
    /// The one command that runs this case again.
    pub fn reproduction(&self, space: &Space) -> String {
        format!(
            "cargo run --release -p generals-node --example search -- --replay {} {}",
            self.seed,
            space.flags()
        )
    }
}

/// What a search ran and checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub cases: u64,
    /// Cases that broke a property (all of them, also those not kept as findings).
    pub violations: u64,
    /// How often each check was evaluated (a case may evaluate one several times).
    pub checks: BTreeMap<Check, u64>,
    /// What the cases drew and what the nodes did: `strategy:hog`,
    /// `protocol:oral`, `rejected:bad_ticket`, ...
    pub seen: BTreeMap<String, u64>,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.cases += other.cases;
        self.violations += other.violations;
        for (k, v) in &other.checks {
            *self.checks.entry(*k).or_default() += v;
        }
        for (k, v) in &other.seen {
            *self.seen.entry(k.clone()).or_default() += v;
        }
    }

    pub fn evaluated(&self, check: Check) -> u64 {
        self.checks.get(&check).copied().unwrap_or(0)
    }

    pub fn seen(&self, key: &str) -> u64 {
        self.seen.get(key).copied().unwrap_or(0)
    }

    fn count(&mut self, check: Check, times: u64) {
        *self.checks.entry(check).or_default() += times;
    }

    fn note(&mut self, key: impl Into<String>, times: u64) {
        if times > 0 {
            *self.seen.entry(key.into()).or_default() += times;
        }
    }
}

/// The instance deadlines of an OM/SM(m) run at Δ, summed.
fn span(space: &Space, m: u8) -> Duration {
    let mut limits = Limits::new(ROUND_TIMEOUT);
    if let Some(step) = space.round_step {
        limits.round_step = step;
    }
    (1..=m.saturating_add(1))
        .map(|r| round_deadline(r, limits.round_timeout, limits.round_step))
        .sum()
}

fn below(rng: &mut ChaCha8Rng, bound: u64) -> u64 {
    rng.next_u64() % bound.max(1)
}

fn coin(rng: &mut ChaCha8Rng) -> bool {
    rng.next_u32() & 1 == 0
}

/// The case for `seed`.
pub fn case(seed: u64, space: &Space) -> SimConfig {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let protocol = if coin(&mut rng) {
        Protocol::Oral
    } else {
        Protocol::Signed
    };
    let n = space.min_n + below(&mut rng, (space.max_n - space.min_n + 1) as u64) as usize;
    let bound = match protocol {
        Protocol::Oral => (n - 1) / 3,
        Protocol::Signed => n - 2,
    };
    let max_m = bound.min(usize::from(space.max_m)).max(1) as u64;
    let m = 1 + below(&mut rng, max_m) as u8;
    let mut cfg = SimConfig::new(protocol, n, m);
    cfg.seed = seed;
    cfg.round_timeout = ROUND_TIMEOUT;
    cfg.round_step = space.round_step;
    cfg.commander = NodeId(below(&mut rng, n as u64) as u16);
    cfg.order = if coin(&mut rng) {
        Order::Attack
    } else {
        Order::Retreat
    };
    let count = below(&mut rng, u64::from(m) + 1) as usize;
    let mut ids: Vec<u16> = (0..n as u16).filter(|&i| i != cfg.commander.0).collect();
    for i in (1..ids.len()).rev() {
        ids.swap(i, below(&mut rng, i as u64 + 1) as usize);
    }
    let mut traitors: Vec<u16> = ids.into_iter().take(count).collect();
    if count > 0 && coin(&mut rng) {
        traitors[0] = cfg.commander.0;
    }
    cfg.traitors = traitors
        .into_iter()
        .map(|t| {
            let s = Strategy::ALL[below(&mut rng, Strategy::ALL.len() as u64) as usize];
            (NodeId(t), s)
        })
        .collect();
    if coin(&mut rng) {
        let mask = rng.next_u64();
        cfg.targets = (0..n as u16)
            .filter(|i| mask >> i & 1 == 1)
            .map(NodeId)
            .collect();
    }
    let delta = if below(&mut rng, 4) == 0 {
        1 + below(&mut rng, space.delta_us)
    } else {
        space.delta_us
    };
    cfg.schedule = if below(&mut rng, 8) == 0 {
        cfg.max_latency_us = delta;
        Schedule::Uniform
    } else {
        let order_at_us = match below(&mut rng, 3) {
            0 => None,
            1 => Some(0),
            _ => Some(below(&mut rng, span(space, m).as_micros() as u64)),
        };
        Schedule::Adversary(Timing {
            seed: rng.next_u64(),
            delta_us: delta,
            order_at_us,
        })
    };
    // A small instance limit keeps `hog` cheap (it opens its share plus three).
    // Half the time the tightest: one instance per commander.
    let per_commander = if coin(&mut rng) {
        1
    } else {
        1 + below(&mut rng, 3) as usize
    };
    cfg.max_instances = Some(n * per_commander);
    cfg
}

/// One line that says what a case is.
pub fn describe(cfg: &SimConfig) -> String {
    let name = match cfg.protocol {
        Protocol::Oral => "OM",
        Protocol::Signed => "SM",
    };
    let traitors: Vec<String> = cfg
        .traitors
        .iter()
        .map(|(id, s)| format!("{}:{s}", id.0))
        .collect();
    let targets = if cfg.targets.is_empty() {
        "odd".to_owned()
    } else {
        let t: Vec<String> = cfg.targets.iter().map(|t| t.0.to_string()).collect();
        t.join(",")
    };
    let instances = cfg
        .max_instances
        .map_or("default".to_owned(), |i| i.to_string());
    let budget = format!("{instances} instances");
    let latency = match cfg.schedule {
        Schedule::Uniform => format!(" max_latency={}us", cfg.max_latency_us),
        Schedule::Adversary(_) => String::new(),
    };
    format!(
        "{name}({}) n={} commander={} order={} traitors=[{}] targets={targets} schedule={}{latency} budgets={budget}",
        cfg.m,
        cfg.n,
        cfg.commander.0,
        cfg.order,
        traitors.join(" "),
        cfg.schedule,
    )
}

/// Runs the case for `seed` and checks it.
pub fn check(seed: u64, space: &Space) -> (Tally, Option<Finding>) {
    let cfg = case(seed, space);
    let mut tally = Tally {
        cases: 1,
        ..Tally::default()
    };
    note_case(&mut tally, &cfg);
    // One case's generals share this thread: each signature is checked once
    // here, not once per receiver (see `VerifyMemo`).
    let memo = VerifyMemo::start();
    let verdict = evaluate(&cfg, &mut tally);
    drop(memo);
    tally.violations = u64::from(verdict.is_err());
    let finding = verdict.err().map(|(check, detail)| Finding {
        seed,
        check,
        detail,
        cfg,
    });
    (tally, finding)
}

fn note_case(tally: &mut Tally, cfg: &SimConfig) {
    tally.note(format!("protocol:{}", cfg.protocol), 1);
    tally.note(format!("n:{}", cfg.n), 1);
    tally.note(format!("m:{}", cfg.m), 1);
    for s in cfg.traitors.values() {
        tally.note(format!("strategy:{s}"), 1);
    }
    if cfg.traitors.contains_key(&cfg.commander) {
        tally.note("commander:traitor", 1);
    } else {
        tally.note("commander:loyal", 1);
    }
    let schedule = match cfg.schedule {
        Schedule::Uniform => "schedule:uniform",
        Schedule::Adversary(Timing {
            order_at_us: None, ..
        }) => "schedule:adversary, order when quiet",
        Schedule::Adversary(Timing {
            order_at_us: Some(0),
            ..
        }) => "schedule:adversary, order at 0",
        Schedule::Adversary(_) => "schedule:adversary, order during",
    };
    tally.note(schedule, 1);
    if cfg.max_instances == Some(cfg.n) {
        tally.note("budgets:tight", 1);
    }
}

fn evaluate(cfg: &SimConfig, tally: &mut Tally) -> Result<(), (Check, String)> {
    tally.count(Check::Finishes, 1);
    let (report, trace) =
        run_traced(cfg).map_err(|e| (Check::Finishes, format!("the simulator refused it: {e}")))?;
    tally.note("messages:delivered", trace.delivered);
    tally.note("messages:dropped", trace.dropped);
    for (kind, times) in &report.rejections {
        tally.note(format!("rejected:{kind}"), *times);
    }
    if trace.stalled {
        return Err((
            Check::Finishes,
            "the run never went quiet (the simulator's horizon passed)".into(),
        ));
    }
    let Some(spec) = trace.spec else {
        return Err((Check::Finishes, "the commander never gave its order".into()));
    };
    tally.count(Check::Agreement, 1);
    if let Some(v) = report.violation() {
        return Err((Check::Agreement, v));
    }
    decided_once(cfg, &trace, tally)?;
    real_instance(cfg, &report, &trace, spec, tally)?;
    if !cfg.traitors.contains_key(&cfg.commander) {
        tally.count(Check::Reports, 1);
        if !report.reports_missing.is_empty() {
            return Err((
                Check::Reports,
                format!("reports never arrived from {:?}", report.reports_missing),
            ));
        }
    }
    tally.count(Check::NoLateLoyalFrame, 1);
    let late: Vec<NodeId> = report
        .late_frames_from
        .iter()
        .copied()
        .filter(|id| !cfg.traitors.contains_key(id))
        .collect();
    if !late.is_empty() {
        return Err((
            Check::NoLateLoyalFrame,
            format!("frames of loyal {late:?} came after a loyal peer closed their round"),
        ));
    }
    Ok(())
}

fn decided_once(cfg: &SimConfig, trace: &Trace, tally: &mut Tally) -> Result<(), (Check, String)> {
    let mut per_id: BTreeMap<(NodeId, InstanceId), Vec<InstanceSpec>> = BTreeMap::new();
    for (&(node, spec), &times) in &trace.decisions {
        if cfg.traitors.contains_key(&node) {
            continue;
        }
        tally.count(Check::DecidesOnce, 1);
        if times != 1 {
            return Err((
                Check::DecidesOnce,
                format!("general {node} decided {spec:?} {times} times"),
            ));
        }
        if !cfg.traitors.contains_key(&spec.id.commander) {
            per_id.entry((node, spec.id)).or_default().push(spec);
        }
    }
    for ((node, id), specs) in per_id {
        tally.count(Check::OneSpecPerId, 1);
        if specs.len() > 1 {
            return Err((
                Check::OneSpecPerId,
                format!(
                    "general {node} decided {} instances with id {id}: {specs:?}",
                    specs.len()
                ),
            ));
        }
    }
    Ok(())
}

fn real_instance(
    cfg: &SimConfig,
    report: &SimReport,
    trace: &Trace,
    spec: InstanceSpec,
    tally: &mut Tally,
) -> Result<(), (Check, String)> {
    tally.count(Check::RealInstance, 1);
    let loyal: Vec<NodeId> = report
        .generals
        .iter()
        .filter(|g| !g.traitor && g.id != cfg.commander)
        .map(|g| g.id)
        .collect();
    let decided: Vec<NodeId> = loyal
        .iter()
        .copied()
        .filter(|&j| trace.decisions.contains_key(&(j, spec)))
        .collect();
    let all = decided.len() == loyal.len();
    let ok = if cfg.traitors.contains_key(&cfg.commander) {
        all || decided.is_empty()
    } else {
        all
    };
    if ok {
        Ok(())
    } else {
        Err((
            Check::RealInstance,
            format!("of the loyal lieutenants {loyal:?} only {decided:?} decided {spec:?}"),
        ))
    }
}

/// Runs the cases `seeds` on `threads` threads. Findings come sorted by
/// seed; at most `max_findings` are kept.
pub fn search(
    space: &Space,
    seeds: Range<u64>,
    threads: usize,
    max_findings: usize,
) -> (Tally, Vec<Finding>) {
    let next = AtomicU64::new(seeds.start);
    let total = Mutex::new((Tally::default(), Vec::new()));
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                let mut tally = Tally::default();
                let mut findings: Vec<Finding> = Vec::new();
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= seeds.end {
                        break;
                    }
                    let (t, f) = check(seed, space);
                    tally.add(&t);
                    if findings.len() < max_findings {
                        findings.extend(f);
                    }
                }
                let mut total = total.lock().unwrap_or_else(|p| p.into_inner());
                total.0.add(&tally);
                total.1.extend(findings);
            });
        }
    });
    let (tally, mut findings) = total.into_inner().unwrap_or_else(|p| p.into_inner());
    findings.sort_by_key(|f| f.seed);
    findings.truncate(max_findings);
    (tally, findings)
}
