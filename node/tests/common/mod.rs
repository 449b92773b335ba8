//! Helpers shared by the protocol test suites.
#![allow(dead_code)]

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
    if let Some(v) = r.violation() {
        panic!("{what}: {v}");
    }
    assert!(
        r.ic1 && r.ic2,
        "{what}: simulator flags disagree with the decisions"
    );
}
