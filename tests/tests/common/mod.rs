//! Shared helpers for the end-to-end tests.
#![allow(dead_code)]

pub mod raw_peer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use generals_config::FaultStrategy;
use generals_crypto::{InstanceId, NodeId, Order};
use generals_node::cluster::{ClusterOptions, Fault, LocalCluster};
use generals_node::control::{ControlRequest, ControlResponse, InstanceStatus, NodeStatus};
use generals_node::report::InstanceReport;
use generals_wire::Protocol;

pub const WAIT: Duration = Duration::from_secs(30);

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_generals-e2e"))
}

/// Options for `n` nodes with the tests' round timeout.
pub fn options(n: usize) -> ClusterOptions {
    let mut opts = ClusterOptions::new(n);
    opts.round_timeout_ms = 400;
    opts
}

/// A cluster of `n` nodes, written but not started, so configs can be edited.
pub fn unstarted(n: usize) -> LocalCluster {
    LocalCluster::create(&bin(), options(n)).expect("create cluster")
}

/// A running cluster of `n` nodes, all links up. Dropping it kills every
/// process and removes its directory, even when the test fails.
pub fn cluster(n: usize, faults: &[(u16, FaultStrategy, &[u16])]) -> LocalCluster {
    let mut opts = options(n);
    opts.faults = faults
        .iter()
        .map(|&(id, strategy, targets)| {
            (
                NodeId(id),
                Fault {
                    strategy,
                    targets: targets.iter().copied().map(NodeId).collect(),
                },
            )
        })
        .collect::<BTreeMap<_, _>>();
    let mut c = LocalCluster::create(&bin(), opts).expect("create cluster");
    c.start_all().expect("start nodes");
    if let Err(e) = c.wait_connected(WAIT) {
        panic!("{e:#}\nnode 0 log:\n{}", c.log_tail(NodeId(0), 30));
    }
    c
}

/// Orders at `commander`, waits for every report, marks the configured
/// traitors and checks IC1/IC2 from the decisions.
pub fn run(
    c: &LocalCluster,
    commander: u16,
    protocol: Protocol,
    m: u8,
    order: Order,
) -> InstanceReport {
    let id = c
        .order(NodeId(commander), protocol, m, order)
        .expect("order");
    finish(c, id)
}

/// Waits for every report of `id` at its commander, marks the configured
/// traitors and checks IC1/IC2 from the decisions.
pub fn finish(c: &LocalCluster, id: InstanceId) -> InstanceReport {
    let mut r = c.wait(id.commander, id, WAIT).expect("wait");
    c.annotate(&mut r);
    assert_eq!(
        r.complete,
        Some(true),
        "not every general reported back: {r:?}"
    );
    assert_ic(&r);
    r
}

/// The instance a report is about.
pub fn instance_of(r: &InstanceReport) -> InstanceId {
    let id = r
        .instance
        .as_deref()
        .expect("the report names its instance");
    id.parse().expect("an instance id")
}

pub fn assert_ic(r: &InstanceReport) {
    if let Some(v) = r.violation() {
        panic!("{v}\n{r:?}");
    }
    assert!(r.ic1 && r.ic2);
}

pub fn status(c: &LocalCluster, id: u16) -> NodeStatus {
    c.status(NodeId(id)).expect("status")
}

/// How many frames or reports node `id` has rejected as `kind`.
pub fn rejections(c: &LocalCluster, id: u16, kind: &str) -> u64 {
    let st = status(c, id);
    st.counters.rejections.get(kind).copied().unwrap_or(0)
}

/// What node `id` knows of `instance`: one line per spec it ran under that
/// id (a traitor may sign two), none if the id is unknown to it.
pub fn instance_at(c: &LocalCluster, id: u16, instance: InstanceId) -> Vec<InstanceStatus> {
    let req = ControlRequest::Status {
        instance: Some(instance),
    };
    match c.call(NodeId(id), req).expect("status") {
        ControlResponse::Status(s) => s
            .instances
            .into_iter()
            .filter(|i| i.instance == instance)
            .collect(),
        // `status --instance` is an error for an id the node never saw.
        ControlResponse::Error { .. } => Vec::new(),
        other => panic!("unexpected {other:?}"),
    }
}

/// Node `id`'s own decision for `instance`, from its control socket.
pub fn decision_at(c: &LocalCluster, id: u16, instance: InstanceId) -> Option<Order> {
    instance_at(c, id, instance).iter().find_map(|i| i.decision)
}

/// Polls node `id` until it has decided `instance` (or `WAIT` passes).
pub fn await_decision(c: &LocalCluster, id: u16, instance: InstanceId) -> Option<Order> {
    let mut d = None;
    eventually_or_not(|| {
        d = decision_at(c, id, instance);
        d.is_some()
    });
    d
}

/// Polls `check` until it holds or `WAIT` passes; whether it held.
pub fn eventually_or_not(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `check` until it holds; fails the test if `WAIT` passes first.
pub fn eventually(what: &str, check: impl FnMut() -> bool) {
    assert!(eventually_or_not(check), "timed out waiting until {what}");
}

/// A listener on a free port of 127.0.0.1 in 30000..32768: local clusters
/// take ports below 30000, outgoing connections above 32767.
pub fn spare_listener() -> std::net::TcpListener {
    let offset = std::process::id() % 2768;
    (0..2768u32)
        .map(|i| 30_000 + (offset + i) % 2768)
        .find_map(|port| std::net::TcpListener::bind(("127.0.0.1", port as u16)).ok())
        .expect("a free port below 32768")
}

/// Replaces the one occurrence of `from` in node `id`'s config with `to`.
pub fn edit_config(c: &LocalCluster, id: u16, from: &str, to: &str) {
    let path = &c.node(NodeId(id)).unwrap().config;
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from} in node {id}'s config"
    );
    std::fs::write(path, text.replace(from, to)).unwrap();
}

/// Node `id`'s whole log so far.
pub fn log(c: &LocalCluster, id: u16) -> String {
    std::fs::read_to_string(&c.node(NodeId(id)).unwrap().log).unwrap()
}

/// A process a test started by hand, killed when the test ends, passed or not.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
