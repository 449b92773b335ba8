//! Shared helpers for the end-to-end tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use generals_config::FaultStrategy;
use generals_crypto::{InstanceId, NodeId, Order};
use generals_node::cluster::{ClusterOptions, Fault, LocalCluster};
use generals_node::control::{ControlRequest, ControlResponse, NodeStatus};
use generals_node::report::InstanceReport;
use generals_wire::Protocol;

pub const WAIT: Duration = Duration::from_secs(30);

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_generals-e2e"))
}

/// A running cluster of `n` nodes, all links up. Dropping it kills every
/// process and removes its directory, even when the test fails.
pub fn cluster(n: usize, faults: &[(u16, FaultStrategy, &[u16])]) -> LocalCluster {
    let mut opts = ClusterOptions::new(n);
    opts.round_timeout_ms = 400;
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
    let mut r = c.wait(NodeId(commander), id, WAIT).expect("wait");
    c.annotate(&mut r);
    assert_eq!(
        r.complete,
        Some(true),
        "not every general reported back: {r:?}"
    );
    assert_ic(&r);
    r
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

/// Node `id`'s own decision for `instance`, from its control socket.
pub fn decision_at(c: &LocalCluster, id: u16, instance: InstanceId) -> Option<Order> {
    match c
        .call(
            NodeId(id),
            ControlRequest::Status {
                instance: Some(instance),
            },
        )
        .expect("status")
    {
        ControlResponse::Status(s) => s
            .instances
            .iter()
            .find(|i| i.instance == instance)
            .and_then(|i| i.decision),
        other => panic!("unexpected {other:?}"),
    }
}

/// Polls node `id` until it has decided `instance` (or `WAIT` passes).
pub fn await_decision(c: &LocalCluster, id: u16, instance: InstanceId) -> Option<Order> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let d = decision_at(c, id, instance);
        if d.is_some() || std::time::Instant::now() > deadline {
            return d;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
