//! OM(m) against every traitor set of size <= m (commander included), every
//! oral strategy and both orders, at n = 4 (m = 1) and n = 7 (m = 2).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::{assert_interactive_consistency, check_decisions, subsets};
use generals_crypto::{NodeId, Order};
use generals_node::protocol::adversary::{Strategy, ORAL_STRATEGIES};
use generals_node::sim::{run, SimConfig, SimReport};
use generals_wire::Protocol;

fn exhaust(n: u16, m: u8, commanders: &[u16], seeds: u64) -> usize {
    let mut runs = 0;
    for &c in commanders {
        for traitors in subsets(n, usize::from(m)) {
            for strategy in ORAL_STRATEGIES {
                for order in [Order::Attack, Order::Retreat] {
                    // Random behaviour gets several seeds; the rest are deterministic.
                    let seeds = if strategy == Strategy::Random {
                        seeds
                    } else {
                        1
                    };
                    for seed in 0..seeds {
                        let mut cfg = SimConfig::new(Protocol::Oral, usize::from(n), m)
                            .traitors(traitors.iter().copied(), strategy);
                        cfg.commander = NodeId(c);
                        cfg.order = order;
                        cfg.seed = seed;
                        let r = run(&cfg).unwrap();
                        let what = format!("OM({m}) n={n} c={c} traitors={traitors:?} {strategy} {order} seed={seed}");
                        assert_interactive_consistency(&r, &what);
                        runs += 1;
                    }
                }
            }
        }
    }
    runs
}

// The case counts are written out, not computed from the lists they count,
// so a shrunken traitor-set enumeration or strategy list fails the test.
// Mutations seen to fail them: `Strategy::Partial` dropped from
// ORAL_STRATEGIES (om1 400 runs instead of 420, om2 696 instead of 754,
// mixed 50 instead of 72); `subsets` keeping sets of fewer than m traitors
// only (om1 84, om2 208).

#[test]
fn om1_with_four_generals_survives_every_traitor() {
    let runs = exhaust(4, 1, &[0, 3], 16);
    // 2 commanders x 5 traitor sets (none, or one of 4 generals)
    // x (5 deterministic strategies + 16 seeds of random) x 2 orders.
    assert_eq!(runs, 2 * 5 * (5 + 16) * 2);
}

#[test]
fn om2_with_seven_generals_survives_every_traitor_pair() {
    let runs = exhaust(7, 2, &[0], 8);
    // 29 traitor sets (1 + 7 + 21) x (5 deterministic strategies + 8 seeds
    // of random) x 2 orders.
    assert_eq!(runs, 29 * (5 + 8) * 2);
}

#[test]
fn mixed_strategies_per_traitor() {
    // Different traitors, different lies, at n = 7.
    let mut runs = 0;
    for c_traitor in [true, false] {
        for a in ORAL_STRATEGIES {
            for b in ORAL_STRATEGIES {
                let mut cfg = SimConfig::new(Protocol::Oral, 7, 2);
                let first = if c_traitor { 0 } else { 3 };
                cfg.traitors = [(NodeId(first), a), (NodeId(5), b)].into_iter().collect();
                let r = run(&cfg).unwrap();
                assert_interactive_consistency(&r, &format!("OM(2) n=7 {first}:{a} 5:{b}"));
                runs += 1;
            }
        }
    }
    // 2 traitor pairs (commander or not) x 6 x 6 strategies.
    assert_eq!(runs, 2 * 6 * 6);
}

/// The check every suite here relies on can fail, on its own: it catches a
/// loyal lieutenant without a decision, disagreeing or disobeying loyal
/// lieutenants, and simulator flags that disagree with the decisions, in
/// reports whose simulator verdicts were left saying all is well.
/// Mutations seen to fail it: `check_decisions` reading a missing decision
/// as RETREAT; its IC1 check removed; its IC2 check removed; the flag
/// comparison removed from `assert_interactive_consistency`.
#[test]
fn the_interactive_consistency_check_can_fail() {
    let loyal = run(&SimConfig::new(Protocol::Oral, 4, 1)).unwrap();
    assert_interactive_consistency(&loyal, "a loyal run");
    let edited = |r: &SimReport, edit: &dyn Fn(&mut SimReport)| {
        let mut r = r.clone();
        edit(&mut r);
        r
    };
    let undecided = edited(&loyal, &|r| r.generals[3].decision = None);
    assert_eq!(
        check_decisions(&undecided),
        Err("loyal lieutenant 3 has no decision".into())
    );
    let split = edited(&loyal, &|r| r.generals[2].decision = Some(Order::Retreat));
    assert!(check_decisions(&split).is_err_and(|e| e.starts_with("IC1")));
    let all_retreat = |r: &mut SimReport| {
        for g in &mut r.generals[1..] {
            g.decision = Some(Order::Retreat);
        }
    };
    let disobeyed = edited(&loyal, &all_retreat);
    assert!(check_decisions(&disobeyed).is_err_and(|e| e.starts_with("IC2")));
    // The same decisions under a traitor commander (ordering ATTACK) break nothing.
    let cfg = SimConfig::new(Protocol::Oral, 4, 1).traitors([0], Strategy::Silent);
    let traitor = run(&cfg).unwrap();
    assert_eq!(check_decisions(&edited(&traitor, &all_retreat)), Ok(()));
    // Simulator flags that disagree with sound decisions.
    for flags in [(false, true), (true, false)] {
        let r = edited(&loyal, &|r| (r.ic1, r.ic2) = flags);
        let caught = catch_unwind(AssertUnwindSafe(|| {
            assert_interactive_consistency(&r, "wrong flags")
        }));
        assert!(caught.is_err(), "flags {flags:?} went unnoticed");
    }
}
