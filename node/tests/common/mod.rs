//! Helpers shared by the protocol test suites.
#![allow(dead_code)]

use generals_crypto::{NodeId, Order};
use generals_node::report::Role;
use generals_node::sim::SimReport;

/// Every subset of 0..n with at most `max` elements, the empty set included.
pub fn subsets(n: u16, max: usize) -> Vec<Vec<u16>> {
    let mut out = Vec::new();
    for mask in 0u32..(1 << n) {
        if (mask.count_ones() as usize) <= max {
            out.push((0..n).filter(|i| mask >> i & 1 == 1).collect());
        }
    }
    out
}

/// IC1 and IC2, checked from the decisions themselves (not only the flags
/// the simulator computed), plus: every loyal lieutenant decided.
pub fn assert_interactive_consistency(r: &SimReport, what: &str) {
    let loyal: Vec<(NodeId, Option<Order>)> = r
        .generals
        .iter()
        .filter(|g| !g.traitor && g.role == Role::Lieutenant)
        .map(|g| (g.id, g.decision))
        .collect();
    assert!(
        loyal.iter().all(|(_, d)| d.is_some()),
        "{what}: a loyal lieutenant has no decision: {loyal:?}"
    );
    let first = loyal.first().and_then(|(_, d)| *d);
    assert!(
        loyal.iter().all(|(_, d)| *d == first),
        "{what}: IC1 violated: {loyal:?}"
    );
    let commander_loyal = !r.traitors.contains(&r.commander);
    if commander_loyal {
        assert!(
            loyal.iter().all(|(_, d)| *d == Some(r.order)),
            "{what}: IC2 violated (loyal commander ordered {}): {loyal:?}",
            r.order
        );
    }
    assert!(
        r.ic1 && r.ic2,
        "{what}: simulator flags disagree with the decisions"
    );
}
