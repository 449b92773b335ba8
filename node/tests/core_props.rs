//! Whatever arrives, in whatever order, the protocol core never panics, sends
//! only where the protocol says, and decides exactly once.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;
use std::time::{Duration, Instant};

use generals_crypto::{ChainLink, ClusterId, InstanceId, NodeId, NodeKey, Order, Sig, SignedOrder};
use generals_node::protocol::{Effect, Instance, Keyring, Limits};
use generals_wire::{InstanceSpec, InstanceTicket, OralBits, Protocol, RoundBody, RoundFrame};
use proptest::prelude::*;

const ID: InstanceId = InstanceId {
    commander: NodeId(0),
    seq: 3,
};

#[derive(Debug, Clone)]
enum Step {
    Frame {
        from: u16,
        round: u8,
        body: BodySeed,
    },
    Tick {
        after_ms: u64,
    },
}

#[derive(Debug, Clone)]
enum BodySeed {
    Empty,
    Oral { count: u32, bytes: Vec<u8> },
    Signed(Vec<ChainSeed>),
}

#[derive(Debug, Clone)]
struct ChainSeed {
    other_instance: bool,
    m: u8,
    attack: bool,
    /// (signer, sign for real?) per link.
    links: Vec<(u16, bool)>,
}

fn step() -> impl Strategy<Value = Step> {
    let chain = (
        any::<bool>(),
        0u8..4,
        any::<bool>(),
        proptest::collection::vec((0u16..9, any::<bool>()), 0..5),
    )
        .prop_map(|(other_instance, m, attack, links)| ChainSeed {
            other_instance,
            m,
            attack,
            links,
        });
    let body = prop_oneof![
        Just(BodySeed::Empty),
        (0u32..40, proptest::collection::vec(any::<u8>(), 0..8))
            .prop_map(|(count, bytes)| BodySeed::Oral { count, bytes }),
        proptest::collection::vec(chain, 0..4).prop_map(BodySeed::Signed),
    ];
    prop_oneof![
        4 => (0u16..9, 0u8..6, body).prop_map(|(from, round, body)| Step::Frame { from, round, body }),
        1 => (0u64..3000).prop_map(|after_ms| Step::Tick { after_ms }),
    ]
}

fn build(seed: &BodySeed, keys: &[Arc<NodeKey>], n: u16) -> RoundBody {
    // The cluster the node under test checks chains for.
    let peers: Vec<_> = keys.iter().map(|k| k.public()).collect();
    let cluster = ClusterId::of(&peers);
    match seed {
        BodySeed::Empty => RoundBody::Empty,
        BodySeed::Oral { count, bytes } => {
            RoundBody::Oral(OralBits::from_raw(*count, bytes.clone()))
        }
        BodySeed::Signed(chains) => RoundBody::Signed(
            chains
                .iter()
                .map(|c| {
                    let instance = if c.other_instance {
                        InstanceId { seq: 99, ..ID }
                    } else {
                        ID
                    };
                    let mut chain = SignedOrder {
                        instance,
                        m: c.m,
                        order: Order::from_bit(c.attack),
                        links: Vec::new(),
                    };
                    for &(signer, real) in &c.links {
                        match keys.get(usize::from(signer)).filter(|_| real && signer < n) {
                            Some(k) => chain.push_signature(k, &cluster, NodeId(signer)),
                            None => chain.links.push(ChainLink {
                                signer: NodeId(signer),
                                sig: Sig([signer as u8; 64]),
                            }),
                        }
                    }
                    chain
                })
                .collect(),
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn lieutenants_survive_any_input(
        n in 4u16..8,
        m_pick in 0u8..6,
        signed in any::<bool>(),
        steps in proptest::collection::vec(step(), 0..60),
    ) {
        let m = 1 + m_pick % (n as u8 - 2);
        let protocol = if signed { Protocol::Signed } else { Protocol::Oral };
        let spec = InstanceSpec { id: ID, protocol, m, n };
        let keys: Vec<Arc<NodeKey>> = (0..n).map(|i| Arc::new(NodeKey::from_seed([i as u8 + 1; 32]))).collect();
        let me = NodeId(1);
        let ring = Arc::new(Keyring::new(me, keys[1].clone(), keys.iter().map(|k| k.public()).collect()));
        let mut now = Instant::now();
        let ticket = InstanceTicket::issue(&keys[0], &ClusterId::of(&ring.peers), spec);
        let mut inst = Instance::lieutenant(ticket, ring, now, Limits::new(Duration::from_millis(100))).unwrap();
        let mut effects = Vec::new();
        for s in &steps {
            match s {
                Step::Frame { from, round, body } => {
                    let frame = RoundFrame { ticket, round: *round, body: build(body, &keys, n) };
                    inst.handle_frame(now, NodeId(*from), frame, &mut effects);
                }
                Step::Tick { after_ms } => {
                    now += Duration::from_millis(*after_ms);
                    inst.handle_timeout(now, &mut effects);
                }
            }
        }
        // Silence from here on: the deadlines alone must finish the instance.
        for _ in 0..=m {
            now += Duration::from_secs(10);
            inst.handle_timeout(now, &mut effects);
        }
        let mut decisions = 0;
        for e in &effects {
            match e {
                Effect::Send { to, frame } => {
                    prop_assert!(to.0 < n && *to != me && *to != ID.commander, "sent to {to}");
                    prop_assert!(frame.round >= 2 && frame.round <= m + 1);
                    prop_assert_eq!(frame.ticket, ticket);
                }
                Effect::Decided(_) => decisions += 1,
                Effect::Rejected { .. } => {}
            }
        }
        prop_assert_eq!(decisions, 1, "decided {} times", decisions);
        prop_assert!(inst.outcome().is_some());
    }
}

/// One input to a whole node: a frame under one of a few tickets (real or
/// forged, of several commanders, specs and seqs), or time passing.
#[derive(Debug, Clone)]
enum NodeStep {
    Frame {
        from: u16,
        ticket: (u16, u64, bool, u8, bool),
        round: u8,
        body: BodySeed,
    },
    Tick {
        after_ms: u64,
    },
}

fn node_step() -> impl Strategy<Value = NodeStep> {
    let ticket = (
        0u16..5,
        1u64..4,
        any::<bool>(),
        0u8..4,
        proptest::bool::weighted(0.9),
    );
    prop_oneof![
        4 => (0u16..6, ticket, 0u8..5, step().prop_filter_map("frames only", |s| match s {
            Step::Frame { body, .. } => Some(body),
            Step::Tick { .. } => None,
        }))
        .prop_map(|(from, ticket, round, body)| NodeStep::Frame { from, ticket, round, body }),
        1 => (0u64..3000).prop_map(|after_ms| NodeStep::Tick { after_ms }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// The whole node (admission, budgets, every instance): whatever frames
    /// arrive from whatever peer under whatever ticket, it never panics,
    /// holds no more than its instance budget, never joins under a forged
    /// ticket, and decides every instance it joined exactly once.
    #[test]
    fn a_node_decides_each_instance_once_whatever_arrives(
        steps in proptest::collection::vec(node_step(), 0..80),
    ) {
        use generals_node::protocol::{Node, NodeLimits, Output, SignState};
        use std::collections::BTreeMap;
        let n = 5u16;
        let keys: Vec<Arc<NodeKey>> = (0..n).map(|i| Arc::new(NodeKey::from_seed([i as u8 + 1; 32]))).collect();
        let peers: Vec<_> = keys.iter().map(|k| k.public()).collect();
        let cluster = ClusterId::of(&peers);
        let me = NodeId(1);
        let ring = Arc::new(Keyring::new(me, keys[1].clone(), peers.clone()));
        let limits = NodeLimits::new(Limits::new(Duration::from_millis(100)), 10, 1 << 20);
        let mut node = Node::new(ring, limits, SignState::fresh(peers[1]), Vec::new());
        let mut now = Instant::now();
        let mut decided: BTreeMap<InstanceSpec, u32> = BTreeMap::new();
        let drain = |node: &mut Node, decided: &mut BTreeMap<InstanceSpec, u32>| {
            while let Some(out) = node.poll_output() {
                if let Output::Decided { spec, .. } = out {
                    *decided.entry(spec).or_default() += 1;
                }
            }
        };
        let mut joined = std::collections::BTreeSet::new();
        for s in &steps {
            match s {
                NodeStep::Frame { from, ticket: (c, seq, signed, m, real), round, body } => {
                    let spec = InstanceSpec {
                        id: InstanceId { commander: NodeId(*c), seq: *seq },
                        protocol: if *signed { Protocol::Signed } else { Protocol::Oral },
                        m: 1 + m % 3,
                        n,
                    };
                    let signer = if *real { &keys[usize::from(*c)] } else { &keys[4] };
                    let ticket = InstanceTicket::issue(signer, &cluster, spec);
                    let frame = RoundFrame { ticket, round: *round, body: build(body, &keys, n) };
                    node.handle_frame(now, NodeId(*from), frame);
                    if node.holds(&spec) && !joined.contains(&spec) {
                        prop_assert!(*real || *c == 4, "joined {spec:?} under a forged ticket");
                        joined.insert(spec);
                    }
                }
                NodeStep::Tick { after_ms } => {
                    now += Duration::from_millis(*after_ms);
                    node.handle_timeout(now);
                }
            }
            drain(&mut node, &mut decided);
            prop_assert!(node.active_instances() <= 10, "{} instances held", node.active_instances());
        }
        for _ in 0..5 {
            now += Duration::from_secs(10);
            node.handle_timeout(now);
            drain(&mut node, &mut decided);
        }
        prop_assert_eq!(node.active_instances(), 0);
        for spec in &joined {
            prop_assert_eq!(decided.get(spec).copied(), Some(1), "{:?}", spec);
        }
        prop_assert!(decided.values().all(|&d| d == 1), "{decided:?}");
    }
}
