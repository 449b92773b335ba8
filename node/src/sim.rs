//! A deterministic, seeded, in-process network that drives the same
//! [`Instance`] state machines as the daemon.
//!
//! Time is virtual: deliveries and round deadlines are events in a queue
//! ordered by (time, sequence number), and link latency comes from a
//! [`Schedule`]: a seeded uniform RNG by default, or a seeded timing
//! adversary. The same config and seed always give the same run.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use generals_crypto::InstanceId;
use generals_crypto::{ClusterId, NodeId, NodeKey, Order, SignedOrder};
use generals_wire::{InstanceSpec, MessageCounters, PeerMessage, Protocol, RoundBody, RoundFrame};

pub use crate::protocol::adversary::Rewrite;
use crate::protocol::adversary::{other_instance, Coalition, OpeningTarget, Strategy};
use crate::protocol::oral::logical_formula;
use crate::protocol::{
    round_deadline, Keyring, Limits, Node, NodeEvent, NodeLimits, OrderError, Output, RejectKind,
    SignState, SpecError,
};
pub use crate::report::{
    EvidenceReport, GeneralReport, InstanceReport as SimReport, MessageReport, Role,
};
use crate::schedule::{Link, Network};
pub use crate::schedule::{Schedule, Timing};

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
    /// How messages are delayed; the default is uniform in [1, max_latency_us].
    pub schedule: Schedule,
    /// Override the node's instance limit (default 64 per general).
    pub max_instances: Option<usize>,
    /// Keep every node event in [`Trace::events`] (replays).
    pub log_events: bool,
    /// Keep every frame of the ordered instance in [`Trace::frames`], with
    /// what traitors would loyally have sent (pictures).
    pub record_frames: bool,
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
            schedule: Schedule::Uniform,
            max_instances: None,
            log_events: false,
            record_frames: false,
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
    msg: PeerMessage,
    /// Its index in the recorded frames, if frames are recorded.
    record: Option<usize>,
}

fn lock(c: &Mutex<Coalition>) -> std::sync::MutexGuard<'_, Coalition> {
    c.lock().unwrap_or_else(|p| p.into_inner())
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

/// What a run did beyond its report: the checks a schedule search needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The instance the commander ordered (None if it never did).
    pub spec: Option<InstanceSpec>,
    /// How many times each general decided each instance it held.
    pub decisions: BTreeMap<(NodeId, InstanceSpec), u32>,
    /// Messages the schedule never delivered (only traitors' are dropped).
    pub dropped: u64,
    /// Messages delivered, frames and reports.
    pub delivered: u64,
    /// The network was still busy at the run's horizon (20 times an
    /// instance's length and the traitors' longest delay) or after the
    /// simulator's event budget.
    pub stalled: bool,
    /// With [`SimConfig::log_events`]: (virtual µs, general, event).
    pub events: Vec<(u64, NodeId, NodeEvent)>,
    /// Round frames handed to the network, by (instance, round, sender,
    /// receiver), whether or not the schedule then delivered them.
    pub frames_sent: BTreeMap<(InstanceSpec, u8, NodeId, NodeId), u32>,
    /// With [`SimConfig::record_frames`]: every round frame of the ordered
    /// instance, in the order the senders handed them to the network.
    pub frames: Vec<FrameRecord>,
    /// With [`SimConfig::record_frames`]: frames of the ordered instance a
    /// traitor's loyal core built but the coalition never sent.
    pub withheld: Vec<Rewrite>,
    /// With [`SimConfig::record_frames`]: when each general decided the
    /// ordered instance (virtual µs).
    pub decided_us: BTreeMap<NodeId, u64>,
}

/// One round frame, from sender to receiver, as it went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameRecord {
    pub spec: InstanceSpec,
    pub round: u8,
    pub from: NodeId,
    pub to: NodeId,
    /// Virtual µs at which it left (after any delay a traitor added).
    pub sent_us: u64,
    /// None if the schedule never delivered it.
    pub delivered_us: Option<u64>,
    pub body: RoundBody,
    /// A traitor's frame: what its loyal core built from what it had
    /// received, before the coalition rewrote it.
    pub honest: Option<RoundBody>,
    /// The receiver's rejections of this frame or of chains in it, as
    /// (kind, reason): the counters' names and the logged text.
    pub rejected: Vec<(String, String)>,
}

impl FrameRecord {
    /// A traitor's frame that says something other than what its loyal
    /// core would have said.
    pub fn lie(&self) -> bool {
        self.honest.as_ref().is_some_and(|h| *h != self.body)
    }
}

impl Trace {
    fn sent(&mut self, from: NodeId, to: NodeId, frame: &RoundFrame) {
        let key = (frame.ticket.spec, frame.round, from, to);
        *self.frames_sent.entry(key).or_default() += 1;
    }
}

/// Runs one instance to completion: n [`Node`]s over a virtual network, the
/// same node core the daemon runs, traitors included.
pub fn run(cfg: &SimConfig) -> Result<SimReport, SpecError> {
    run_traced(cfg).map(|(report, _)| report)
}

/// [`run`], and what happened on the way.
pub fn run_traced(cfg: &SimConfig) -> Result<(SimReport, Trace), SpecError> {
    let n = cfg.n;
    let ids: Vec<NodeId> = (0..n as u16).map(NodeId).collect();
    let keys: Vec<Arc<NodeKey>> = ids
        .iter()
        .map(|&id| Arc::new(sim_key(cfg.seed, id)))
        .collect();
    let publics: Vec<_> = keys.iter().map(|k| k.public()).collect();
    let mut limits = Limits::new(cfg.round_timeout);
    if let Some(step) = cfg.round_step {
        limits.round_step = step;
    }
    // A small default quota keeps hog runs short; loyal commanders here order once.
    let node_limits = NodeLimits::new(
        limits,
        cfg.max_instances.unwrap_or(4 * n),
        generals_wire::HARD_MAX_FRAME,
    );
    let traitor_keys = cfg
        .traitors
        .keys()
        .map(|&id| (id, keys[id.index()].clone()))
        .collect();
    let first = InstanceId {
        commander: cfg.commander,
        seq: 1,
    };
    let cluster = ClusterId::of(&publics);
    let captured = SignedOrder::new(
        &keys[cfg.commander.index()],
        &cluster,
        other_instance(first),
        cfg.m,
        cfg.order,
    );
    let coalition_delay = cfg.round_timeout * (u32::from(cfg.m) + 3) * 2;
    let mut coalition = Coalition::new(cfg.traitors.clone(), traitor_keys, cfg.seed)
        .with_targets(cfg.targets.iter().copied())
        .with_captured(captured)
        .with_cluster(cluster)
        .with_delay(coalition_delay);
    if cfg.record_frames {
        coalition = coalition.with_log();
    }
    let coalition = Arc::new(Mutex::new(coalition));
    let mut nodes: Vec<Node> = ids
        .iter()
        .map(|&id| {
            let ring = Arc::new(Keyring::new(id, keys[id.index()].clone(), publics.clone()));
            let node = Node::new(
                ring,
                node_limits,
                SignState::fresh(publics[id.index()]),
                Vec::new(),
            );
            match cfg.traitors.get(&id) {
                Some(s) => node.with_coalition(coalition.clone(), s.to_string()),
                None => node,
            }
        })
        .collect();

    let base = Instant::now();
    let at = |t: Instant| t.saturating_duration_since(base).as_micros() as u64;
    // Traitors' messages may come as late as twice the longest instance.
    let span: Duration = (1..=cfg.m.saturating_add(1))
        .map(|r| round_deadline(r, limits.round_timeout, limits.round_step))
        .sum();
    let mut net = Network::new(
        cfg.schedule,
        cfg.seed,
        cfg.max_latency_us,
        n,
        cfg.m.saturating_add(1),
        2 * span.as_micros() as u64,
    );
    let order_at = match cfg.schedule {
        Schedule::Adversary(t) => t.order_at_us,
        Schedule::Uniform => None,
    };
    let mut trace = Trace::default();
    let mut queue: BinaryHeap<Reverse<Delivery>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut now_us = 0u64;

    // Traitors act first (precreate, hog). Unless the schedule sets a time,
    // the order comes once everything they started has played out, so a
    // pre-created instance would have timed out and decided by then.
    let target = OpeningTarget {
        cluster: *nodes[0].cluster(),
        n,
        protocol: cfg.protocol,
        m: cfg.m,
        quota: node_limits.max_instances / n,
        victims: vec![first],
    };
    for &t in cfg.traitors.keys() {
        for &to in ids.iter().filter(|&&j| j != t) {
            for frame in lock(&coalition).opening_moves(t, to, &target) {
                trace.sent(t, to, &frame);
                let link = Link {
                    from: t,
                    to,
                    round: frame.round,
                    traitor: true,
                    until_deadline: None,
                };
                let Some(latency) = net.latency(link) else {
                    trace.dropped += 1;
                    continue;
                };
                seq += 1;
                let msg = PeerMessage::Round(frame);
                queue.push(Reverse(Delivery {
                    at: latency,
                    seq,
                    to,
                    from: t,
                    msg,
                    record: None,
                }));
            }
        }
    }
    let mut ordered: Option<InstanceId> = None;
    // Recorded frames of every instance (filtered to the ordered one at the
    // end) and decision times.
    let mut records: Vec<FrameRecord> = Vec::new();
    let mut decided_at: BTreeMap<(NodeId, InstanceSpec), u64> = BTreeMap::new();
    // Which record is the frame (instance, round, sender, receiver): a
    // refusal names all four.
    let mut record_of: BTreeMap<(InstanceId, u8, NodeId, NodeId), usize> = BTreeMap::new();

    // Everything a run starts is over long before this virtual time: the
    // traitors' opening moves and their instances, the order, frames held
    // back up to twice an instance's length, and a late joiner's own rounds.
    // A run still busy here never goes quiet (instances that beget instances,
    // say), and the event budget is the last stop against a loop in virtual
    // time itself.
    let horizon_us = 20 * (span + coalition_delay).as_micros() as u64 + order_at.unwrap_or(0);
    let budget = 50_000_000u64;
    trace.stalled = true;
    for _ in 0..budget {
        if now_us > horizon_us {
            break;
        }
        let mut sends = Vec::new();
        for (i, node) in nodes.iter_mut().enumerate() {
            let me = NodeId(i as u16);
            while let Some(out) = node.poll_output() {
                match out {
                    Output::Send { to, msg, delay } => {
                        sends.push((me, to, msg, delay));
                    }
                    Output::Decided { spec, .. } => {
                        *trace.decisions.entry((me, spec)).or_default() += 1;
                        decided_at.entry((me, spec)).or_insert(now_us);
                    }
                    Output::Event(e) => {
                        if let NodeEvent::Rejected {
                            from,
                            instance: Some(id),
                            round: Some(round),
                            kind,
                            reason,
                        } = &e
                        {
                            let k = record_of.get(&(*id, *round, *from, me));
                            if let Some(f) = k.and_then(|&k| records.get_mut(k)) {
                                f.rejected.push((kind.as_str().to_owned(), reason.clone()));
                            }
                        }
                        if cfg.log_events {
                            trace.events.push((now_us, me, e));
                        }
                    }
                    _ => {}
                }
            }
        }
        for (from, to, msg, delay) in sends {
            let mut record = None;
            if let PeerMessage::Round(frame) = &msg {
                trace.sent(from, to, frame);
                if cfg.record_frames {
                    record = Some(records.len());
                    record_of.insert((frame.ticket.spec.id, frame.round, from, to), records.len());
                    records.push(FrameRecord {
                        spec: frame.ticket.spec,
                        round: frame.round,
                        from,
                        to,
                        sent_us: now_us + delay.as_micros() as u64,
                        delivered_us: None,
                        body: frame.body.clone(),
                        honest: None,
                        rejected: Vec::new(),
                    });
                }
            }
            let until_deadline = if net.adaptive() {
                nodes
                    .get(to.index())
                    .and_then(Node::poll_timeout)
                    .map(|t| at(t).saturating_sub(now_us))
            } else {
                None
            };
            let link = Link {
                from,
                to,
                round: match &msg {
                    PeerMessage::Round(frame) => frame.round,
                    PeerMessage::Report(_) => 0,
                },
                traitor: cfg.traitors.contains_key(&from),
                until_deadline,
            };
            let Some(latency) = net.latency(link) else {
                trace.dropped += 1;
                continue;
            };
            seq += 1;
            queue.push(Reverse(Delivery {
                at: now_us + latency + delay.as_micros() as u64,
                seq,
                to,
                from,
                msg,
                record,
            }));
        }
        let next_timeout = nodes
            .iter()
            .enumerate()
            .filter_map(|(i, node)| node.poll_timeout().map(|t| (at(t), i)))
            .min();
        let next_delivery = queue.peek().map(|Reverse(d)| d.at);
        let next_event = match (next_delivery, next_timeout) {
            (Some(d), Some((t, _))) => Some(d.min(t)),
            (d, t) => d.or(t.map(|(t, _)| t)),
        };
        let order_now = ordered.is_none()
            && match order_at {
                Some(t) => next_event.is_none_or(|e| t <= e),
                None => next_event.is_none(),
            };
        if order_now {
            now_us = now_us.max(order_at.unwrap_or(0));
            let c = &mut nodes[cfg.commander.index()];
            let now = base + Duration::from_micros(now_us);
            let id = c
                .order(now, cfg.protocol, cfg.m, cfg.order, true)
                .map_err(|e| match e {
                    OrderError::Spec(e) => e,
                    other => SpecError::Refused(other.to_string()),
                })?;
            ordered = Some(id);
            continue;
        }
        match (next_delivery, next_timeout) {
            (Some(d), t) if t.is_none_or(|(t, _)| d <= t) => {
                let Some(Reverse(d)) = queue.pop() else { break };
                now_us = now_us.max(d.at);
                trace.delivered += 1;
                let now = base + Duration::from_micros(now_us);
                let Some(node) = nodes.get_mut(d.to.index()) else {
                    continue;
                };
                if let Some(f) = d.record.and_then(|k| records.get_mut(k)) {
                    f.delivered_us = Some(now_us);
                }
                match d.msg {
                    PeerMessage::Round(frame) => node.handle_frame(now, d.from, frame),
                    PeerMessage::Report(report) => node.handle_report(d.from, report),
                }
            }
            (_, Some((t, i))) => {
                now_us = now_us.max(t);
                nodes[i].handle_timeout(base + Duration::from_micros(now_us));
            }
            _ => {
                trace.stalled = false;
                break;
            }
        }
    }
    let id = ordered.unwrap_or(first);
    let spec = InstanceSpec {
        id,
        protocol: cfg.protocol,
        m: cfg.m,
        n: n as u16,
    };
    trace.spec = ordered.map(|_| spec);
    if cfg.record_frames {
        keep_frames(
            &mut trace,
            spec,
            records,
            decided_at,
            lock(&coalition).take_log(),
        );
    }

    let mut counters = MessageCounters::default();
    let mut loyal_logical = 0u64;
    let mut rejections: BTreeMap<RejectKind, u64> = BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        let traitor = cfg.traitors.contains_key(&NodeId(i as u16));
        if let Some(c) = node.instance_counters(&spec) {
            counters.add(&c);
            if !traitor {
                loyal_logical += c.logical;
            }
        }
        if !traitor {
            for (k, v) in &node.counters().rejections {
                *rejections.entry(*k).or_default() += v;
            }
        }
    }
    counters.signatures_made += lock(&coalition).signatures_made;
    let loyal_ids: Vec<NodeId> = ids
        .iter()
        .copied()
        .filter(|id| !cfg.traitors.contains_key(id) && *id != cfg.commander)
        .collect();
    let commander_node = &nodes[cfg.commander.index()];
    let reports_missing: Vec<NodeId> = if cfg.traitors.contains_key(&cfg.commander) {
        Vec::new()
    } else {
        loyal_ids
            .iter()
            .copied()
            .filter(|j| {
                commander_node
                    .reports(&spec)
                    .is_none_or(|r| !r.contains_key(j))
            })
            .collect()
    };
    let late: BTreeSet<NodeId> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| !cfg.traitors.contains_key(&NodeId(*i as u16)))
        .flat_map(|(_, node)| node.late_from(&spec))
        .collect();
    let spec_equivocated = nodes.iter().any(|node| node.spec_equivocated(id));
    let generals: Vec<GeneralReport> = ids
        .iter()
        .map(|&id| {
            let traitor = cfg.traitors.contains_key(&id);
            let decision = if traitor {
                None
            } else {
                // A lieutenant that never heard of the instance keeps the default.
                Some(
                    nodes[id.index()]
                        .outcome(&spec)
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
                decided_unix_us: None,
            }
        })
        .collect();
    let (ic1, ic2) = SimReport::interactive_consistency(
        &generals,
        !cfg.traitors.contains_key(&cfg.commander),
        cfg.order,
    );

    let mut evidence: Vec<EvidenceReport> = Vec::new();
    for &id in &ids {
        if cfg.traitors.contains_key(&id) {
            continue;
        }
        let Some(proof) = nodes[id.index()]
            .outcome(&spec)
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

    let report = SimReport {
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
        rejections,
        instance: None,
        complete: None,
        virtual_ms: Some(now_us / 1000),
        seed: Some(cfg.seed),
        late_frames_from: late.into_iter().collect(),
        spec_equivocation: spec_equivocated,
        reports_missing,
        started_unix_us: None,
    };
    Ok((report, trace))
}

/// Keeps the recorded frames of `spec`, with the honest body of each
/// traitor's frame, and what traitors withheld.
fn keep_frames(
    trace: &mut Trace,
    spec: InstanceSpec,
    records: Vec<FrameRecord>,
    decided_at: BTreeMap<(NodeId, InstanceSpec), u64>,
    rewrites: Vec<Rewrite>,
) {
    trace.frames = records.into_iter().filter(|f| f.spec == spec).collect();
    // A traitor sends one frame per (round, receiver) of an instance.
    let index: BTreeMap<(u8, NodeId, NodeId), usize> = trace
        .frames
        .iter()
        .enumerate()
        .map(|(k, f)| ((f.round, f.from, f.to), k))
        .collect();
    for w in rewrites.into_iter().filter(|w| w.spec == spec) {
        match index.get(&(w.round, w.from, w.to)) {
            Some(&k) if w.sent.is_some() => trace.frames[k].honest = Some(w.honest),
            _ => trace.withheld.push(w),
        }
    }
    trace.decided_us = decided_at
        .into_iter()
        .filter(|((_, s), _)| *s == spec)
        .map(|((id, _), t)| (id, t))
        .collect();
}
