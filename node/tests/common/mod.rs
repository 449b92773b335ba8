//! Helpers shared by the protocol test suites.
#![allow(dead_code)]

use generals_crypto::{NodeId, Order};
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

/// IC1 and IC2, computed here and not by the simulator: from the raw
/// per-general decisions, read against the run's own commander, traitor set
/// and order. Every general 0..n must be listed in its place with the right
/// traitor flag, and every loyal lieutenant must have a decision.
pub fn check_decisions(r: &SimReport) -> Result<(), String> {
    if r.generals.len() != r.n {
        return Err(format!(
            "{} generals listed for n = {}",
            r.generals.len(),
            r.n
        ));
    }
    let mut loyal: Vec<(NodeId, Order)> = Vec::new();
    for (i, g) in r.generals.iter().enumerate() {
        let traitor = r.traitors.contains(&g.id);
        if usize::from(g.id.0) != i || g.traitor != traitor {
            return Err(format!("general {i} is listed as {g:?}"));
        }
        if traitor || g.id == r.commander {
            continue;
        }
        match g.decision {
            Some(d) => loyal.push((g.id, d)),
            None => return Err(format!("loyal lieutenant {} has no decision", g.id)),
        }
    }
    if loyal.windows(2).any(|w| w[0].1 != w[1].1) {
        return Err(format!("IC1: loyal lieutenants disagree: {loyal:?}"));
    }
    let commander_loyal = !r.traitors.contains(&r.commander);
    if commander_loyal && loyal.iter().any(|&(_, d)| d != r.order) {
        return Err(format!(
            "IC2: loyal commander ordered {}: {loyal:?}",
            r.order
        ));
    }
    Ok(())
}

/// [`check_decisions`], then the simulator's own verdicts (`violation()` and
/// the `ic1`/`ic2` flags) must agree with it.
///
/// Mutations seen to fail it: the simulator leaving the last lieutenant's
/// decision empty (every `oral_exhaustive` test: "loyal lieutenant 3 has no
/// decision"); the simulator's own check blinded (`interactive_consistency`
/// always `(true, true)`, `violation()` always `None`) together with the
/// distinct-signers check removed from `SignedOrder::verify`
/// (`signed_exhaustive::sm_n4`, SM(2) n=4 traitors [0, 1] dup-signer: "IC1:
/// loyal lieutenants disagree", lieutenant 2 RETREAT, 3 ATTACK).
/// `the_interactive_consistency_check_can_fail` checks the helper itself.
pub fn assert_interactive_consistency(r: &SimReport, what: &str) {
    if let Err(e) = check_decisions(r) {
        panic!("{what}: {e}");
    }
    assert_eq!(
        r.violation(),
        None,
        "{what}: the simulator sees a violation the decisions do not show"
    );
    assert!(
        r.ic1 && r.ic2,
        "{what}: simulator flags ic1={} ic2={} disagree with the decisions",
        r.ic1,
        r.ic2
    );
}
