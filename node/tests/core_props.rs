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
                            Some(k) => chain.push_signature(k, NodeId(signer)),
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
        let ring = Arc::new(Keyring { me, key: keys[1].clone(), peers: keys.iter().map(|k| k.public()).collect() });
        let mut now = Instant::now();
        let ticket = InstanceTicket::issue(&keys[0], &ClusterId::of(&ring.peers), spec);
        let mut inst = Instance::lieutenant(ticket, ring, now, Limits::new(Duration::from_millis(100), 16)).unwrap();
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
