//! Random clusters, traitor sets and per-message random behaviour, for both
//! protocols, up to n = 13.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::collections::BTreeMap;

use common::assert_interactive_consistency;
use generals_crypto::{NodeId, Order};
use generals_node::protocol::adversary::{Strategy, ORAL_STRATEGIES, SIGNED_STRATEGIES};
use generals_node::sim::{run, SimConfig};
use generals_wire::Protocol;
use proptest::prelude::*;
use proptest::sample::subsequence;
use proptest::strategy::Strategy as _;

fn strategy_of(i: u8, protocol: Protocol) -> Strategy {
    let pool: &[Strategy] = match protocol {
        Protocol::Oral => &ORAL_STRATEGIES,
        Protocol::Signed => &SIGNED_STRATEGIES,
    };
    pool[usize::from(i) % pool.len()]
}

/// (n, m, commander, traitors, per-traitor strategy picks, seed, order)
fn scenario(protocol: Protocol) -> impl proptest::strategy::Strategy<Value = SimConfig> {
    (4usize..=13)
        .prop_flat_map(move |n| {
            let max_m = match protocol {
                Protocol::Oral => ((n - 1) / 3).min(4) as u8,
                Protocol::Signed => (n - 2).min(5) as u8,
            };
            (Just(n), 1..=max_m)
        })
        .prop_flat_map(|(n, m)| {
            let ids: Vec<u16> = (0..n as u16).collect();
            (
                Just(n),
                Just(m),
                0..n as u16,
                subsequence(ids, 0..=usize::from(m)),
                proptest::collection::vec(any::<u8>(), usize::from(m)),
                any::<u64>(),
                any::<bool>(),
            )
        })
        .prop_map(move |(n, m, commander, traitors, picks, seed, attack)| {
            let mut cfg = SimConfig::new(protocol, n, m);
            cfg.commander = NodeId(commander);
            cfg.order = Order::from_bit(attack);
            cfg.seed = seed;
            // Mostly per-message random behaviour, sometimes a fixed lie.
            cfg.traitors = traitors
                .iter()
                .zip(picks.iter().chain(std::iter::repeat(&0)))
                .map(|(&t, &p)| {
                    (
                        NodeId(t),
                        if p % 2 == 0 {
                            Strategy::Random
                        } else {
                            strategy_of(p / 2, protocol)
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>();
            cfg
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn oral_holds_for_random_traitors(cfg in scenario(Protocol::Oral)) {
        let r = run(&cfg).unwrap();
        assert_interactive_consistency(&r, &format!("{cfg:?}"));
    }

    #[test]
    fn signed_holds_for_random_traitors(cfg in scenario(Protocol::Signed)) {
        let r = run(&cfg).unwrap();
        assert_interactive_consistency(&r, &format!("{cfg:?}"));
    }
}
