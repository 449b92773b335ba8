//! A deterministic, seeded, in-process network that drives the same
//! [`Instance`] state machines as the daemon.
//!
//! Time is virtual: deliveries and round deadlines are events in a queue
//! ordered by (time, sequence number), and link latency comes from a seeded
//! RNG. The same config and seed always give the same run.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use generals_crypto::InstanceId;
use generals_crypto::{NodeId, NodeKey, Order, SignedOrder};
use generals_wire::{InstanceSpec, MessageCounters, Protocol, RoundFrame};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::protocol::adversary::{other_instance, Coalition, Outgoing, Strategy};
use crate::protocol::oral::logical_formula;
use crate::protocol::{Effect, Instance, Keyring, Limits, SpecError};
pub use crate::report::{
    EvidenceReport, GeneralReport, InstanceReport as SimReport, MessageReport, Role,
};

/// One simulated run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub protocol: Protocol,
    pub n: usize,
    pub m: u8,
    pub commander: NodeId,
    pub order: Order,
    pub traitors: BTreeMap<NodeId, Strategy>,
    /// Receivers that split/partial single out (default: odd ids).
    pub targets: Vec<NodeId>,
    pub seed: u64,
    /// Virtual Δ.
    pub round_timeout: Duration,
    /// Virtual link latency is uniform in [1, max_latency_us] µs.
    pub max_latency_us: u64,
    /// Override the deadline step (default Δ/2); only to show why it exists.
    pub round_step: Option<Duration>,
}

impl SimConfig {
    pub fn new(protocol: Protocol, n: usize, m: u8) -> SimConfig {
        SimConfig {
            protocol,
            n,
            m,
            commander: NodeId(0),
            order: Order::Attack,
            traitors: BTreeMap::new(),
            targets: Vec::new(),
            seed: 0,
            round_timeout: Duration::from_millis(100),
            max_latency_us: 5_000,
            round_step: None,
        }
    }

    pub fn traitors(mut self, ids: impl IntoIterator<Item = u16>, strategy: Strategy) -> SimConfig {
        self.traitors = ids.into_iter().map(|i| (NodeId(i), strategy)).collect();
        self
    }
}

/// Lamport's closed form for a loyal run.
pub fn formula(protocol: Protocol, n: usize, m: u8) -> u64 {
    match protocol {
        Protocol::Oral => logical_formula(n, m).unwrap_or(u64::MAX),
        Protocol::Signed if m == 0 => n as u64 - 1,
        Protocol::Signed => (n as u64 - 1).pow(2),
    }
}

/// Deterministic keys for simulated generals.
pub fn sim_key(seed: u64, id: NodeId) -> NodeKey {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    s[8..10].copy_from_slice(&id.0.to_le_bytes());
    s[31] = 0x5e;
    NodeKey::from_seed(s)
}

struct Delivery {
    at: u64,
    seq: u64,
    to: NodeId,
    from: NodeId,
    frame: RoundFrame,
}

impl PartialEq for Delivery {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Delivery {}
impl PartialOrd for Delivery {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Delivery {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// Runs one instance to completion.
pub fn run(cfg: &SimConfig) -> Result<SimReport, SpecError> {
    let n = cfg.n;
    let ids: Vec<NodeId> = (0..n as u16).map(NodeId).collect();
    let keys: Vec<Arc<NodeKey>> = ids
        .iter()
        .map(|&id| Arc::new(sim_key(cfg.seed, id)))
        .collect();
    let publics: Vec<_> = keys.iter().map(|k| k.public()).collect();
    let rings: Vec<Arc<Keyring>> = ids
        .iter()
        .map(|&id| {
            Arc::new(Keyring {
                me: id,
                key: keys[id.index()].clone(),
                peers: publics.clone(),
            })
        })
        .collect();
    let spec = InstanceSpec {
        id: InstanceId {
            commander: cfg.commander,
            seq: 1,
        },
        protocol: cfg.protocol,
        m: cfg.m,
        n: n as u16,
    };
    let mut limits = Limits::new(cfg.round_timeout, 4 * n * (usize::from(cfg.m) + 1));
    if let Some(step) = cfg.round_step {
        limits.round_step = step;
    }
    let traitor_keys = cfg
        .traitors
        .keys()
        .map(|&id| (id, keys[id.index()].clone()))
        .collect();
    let captured = SignedOrder::new(
        &keys[cfg.commander.index()],
        other_instance(spec.id),
        cfg.m,
        cfg.order,
    );
    let mut coalition = Coalition::new(cfg.traitors.clone(), traitor_keys, cfg.seed)
        .with_targets(cfg.targets.iter().copied())
        .with_captured(captured)
        .with_delay(cfg.round_timeout * (u32::from(cfg.m) + 3) * 2);

    let base = Instant::now();
    let at = |t: Instant| t.saturating_duration_since(base).as_micros() as u64;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x6e65_7477_6f72_6b00);
    let mut queue: BinaryHeap<Reverse<Delivery>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut instances: Vec<Option<Instance>> = (0..n).map(|_| None).collect();
    let mut counters = MessageCounters::default();
    let mut loyal_logical = 0u64;
    let mut rejections: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut now_us = 0u64;

    let (commander, effects) = Instance::commander(
        spec,
        rings[cfg.commander.index()].clone(),
        cfg.order,
        base,
        limits,
    )?;
    instances[cfg.commander.index()] = Some(commander);
    let mut pending = vec![(cfg.commander, effects)];

    // Hard stop against a bug that would loop forever.
    let budget = 50_000_000u64;
    for _ in 0..budget {
        for (id, effects) in pending.drain(..) {
            for effect in effects {
                match effect {
                    Effect::Send { to, frame } => {
                        let out = if coalition.is_traitor(id) {
                            coalition.rewrite(&spec, id, to, frame.round, frame.body)
                        } else {
                            Outgoing {
                                body: Some(frame.body),
                                delay: Duration::ZERO,
                            }
                        };
                        let Some(body) = out.body else { continue };
                        let frame = RoundFrame {
                            spec,
                            round: frame.round,
                            body,
                        };
                        counters.count_sent(&frame);
                        if !coalition.is_traitor(id) {
                            loyal_logical += frame.body.logical_messages();
                        }
                        let latency = 1 + rng.next_u64() % cfg.max_latency_us.max(1);
                        seq += 1;
                        queue.push(Reverse(Delivery {
                            at: now_us + latency + out.delay.as_micros() as u64,
                            seq,
                            to,
                            from: id,
                            frame,
                        }));
                    }
                    Effect::Rejected { reason, .. } => {
                        if !coalition.is_traitor(id) {
                            *rejections.entry(reason.kind()).or_default() += 1;
                        }
                    }
                    Effect::Decided(_) => {}
                }
            }
        }
        let next_timeout = instances
            .iter()
            .enumerate()
            .filter_map(|(i, inst)| {
                inst.as_ref()
                    .and_then(|x| x.poll_timeout())
                    .map(|t| (at(t), i))
            })
            .min();
        let next_delivery = queue.peek().map(|Reverse(d)| d.at);
        match (next_delivery, next_timeout) {
            (Some(d), t) if t.is_none_or(|(t, _)| d <= t) => {
                let Some(Reverse(d)) = queue.pop() else { break };
                now_us = d.at;
                let now = base + Duration::from_micros(now_us);
                let mut out = Vec::new();
                let slot = &mut instances[d.to.index()];
                if slot.is_none() {
                    match Instance::lieutenant(
                        d.frame.spec,
                        rings[d.to.index()].clone(),
                        now,
                        limits,
                    ) {
                        Ok(i) => *slot = Some(i),
                        Err(_) => continue,
                    }
                }
                if let Some(inst) = slot.as_mut() {
                    inst.handle_frame(now, d.from, d.frame, &mut out);
                }
                pending.push((d.to, out));
            }
            (_, Some((t, i))) => {
                now_us = now_us.max(t);
                let mut out = Vec::new();
                if let Some(inst) = instances[i].as_mut() {
                    inst.handle_timeout(base + Duration::from_micros(now_us), &mut out);
                }
                pending.push((NodeId(i as u16), out));
            }
            _ => break,
        }
    }

    for inst in instances.iter().flatten() {
        counters.signatures_made += inst.signatures_made();
        counters.signatures_verified += inst.signatures_verified();
    }
    counters.signatures_made += coalition.signatures_made;

    let generals: Vec<GeneralReport> = ids
        .iter()
        .map(|&id| {
            let traitor = coalition.is_traitor(id);
            let decision = if traitor {
                None
            } else {
                // A lieutenant that never heard of the instance keeps the default.
                Some(
                    instances[id.index()]
                        .as_ref()
                        .and_then(|i| i.outcome())
                        .map_or(Order::Retreat, |o| o.decision),
                )
            };
            GeneralReport {
                id,
                role: if id == cfg.commander {
                    Role::Commander
                } else {
                    Role::Lieutenant
                },
                traitor,
                decision,
                reported: None,
            }
        })
        .collect();
    let (ic1, ic2) = SimReport::interactive_consistency(
        &generals,
        !coalition.is_traitor(cfg.commander),
        cfg.order,
    );

    let mut evidence: Vec<EvidenceReport> = Vec::new();
    for &id in &ids {
        if coalition.is_traitor(id) {
            continue;
        }
        let Some(proof) = instances[id.index()]
            .as_ref()
            .and_then(|i| i.outcome())
            .and_then(|o| o.evidence.clone())
        else {
            continue;
        };
        match evidence
            .iter_mut()
            .find(|e| e.proof.as_ref() == Some(&proof))
        {
            Some(e) => e.holders.push(id),
            None => evidence.push(EvidenceReport {
                instance: proof.instance().to_string(),
                commander: proof.commander(),
                holders: vec![id],
                verified: proof.verify(&publics[proof.commander().index()]).is_ok(),
                proof: Some(proof),
            }),
        }
    }

    Ok(SimReport {
        protocol: cfg.protocol,
        n,
        m: cfg.m,
        commander: cfg.commander,
        order: cfg.order,
        traitors: cfg.traitors.keys().copied().collect(),
        strategy: cfg
            .traitors
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        generals,
        ic1,
        ic2,
        rounds: cfg.m + 1,
        messages: MessageReport {
            logical: counters.logical,
            formula: formula(cfg.protocol, n, cfg.m),
            frames: counters.frames,
            bytes: counters.bytes,
            signatures_made: counters.signatures_made,
            signatures_verified: counters.signatures_verified,
            loyal_logical,
        },
        evidence,
        rejections: rejections
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        instance: None,
        complete: None,
        virtual_ms: Some(now_us / 1000),
        seed: Some(cfg.seed),
    })
}
