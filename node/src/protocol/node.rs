//! The whole node as one sans-IO state machine: every instance it commands
//! or joins, the admission rule, the budgets, reports and evidence.
//!
//! This is the line quinn-proto draws around its `Endpoint`, not only its
//! `Connection`: the tokio daemon and the simulator both drive this one type,
//! so every simulated, searched or fuzzed run exercises the admission and
//! budget code that ships. Inputs are frames and reports from authenticated
//! peers, operator orders and time; outputs ([`Output`]) are sends, records
//! to persist, evidence and log events, to be carried out in order.
//!
//! # Admission
//! A node joins an instance only on a frame whose [`InstanceTicket`] verifies
//! under the commander's key for this cluster. Only the commander can issue a
//! ticket, so no lieutenant starts a round clock, relays or records anything
//! for an instance its commander has not ordered, and round 1 starts at every
//! loyal node no earlier than the commander's send. A frame that is rejected
//! creates nothing: the instance is built, fed the frame, and kept only if
//! the frame was accepted. An id this node has already decided (or that left
//! memory) is never joined again. Two valid tickets with different specs for
//! one id form a [`SpecEquivocationProof`].
//!
//! # Budgets, and why traitors cannot spend a loyal peer's
//! - Undecided instances: each commander may hold `max_instances / n` at this
//!   node. Only a commander can issue tickets, so only its own instances use
//!   its share; a loyal commander never orders beyond it (see [`Node::order`]).
//! - OM trees: each commander's undecided trees share `tree_bytes / n`;
//!   a loyal commander refuses orders that would not fit at its peers.
//! - Frames held for later rounds: no shared budget. A frame is
//!   shape-checked against its spec before it waits, and each sender has one
//!   slot per (instance, round), so what a peer can park is bounded by the
//!   instances that exist (each within its commander's budget), and a
//!   traitor's frames never take a slot a loyal peer needs. (A node-wide
//!   byte budget here let a traitor crowd out a loyal relay; a per-peer one
//!   would refuse a loyal peer that is one round ahead on many instances.)
//! - Decided instances: the newest `keep_decided` stay in memory (without
//!   their trees); older ones are answered from the decision log.
//! - Ids already seen: per commander, a floor plus the seqs above it; a
//!   commander that leaves gaps pays with its own window, not anyone else's.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use generals_crypto::{ClusterId, EquivocationProof, InstanceId, NodeId, Order, PublicKey};
use generals_wire::{
    DecisionReport, InstanceSpec, InstanceTicket, MessageCounters, PeerMessage, Protocol,
    RoundFrame, SpecEquivocationProof,
};
use serde::{Deserialize, Serialize};

use super::adversary::{Coalition, OpeningTarget};
use super::oral::tree_bytes;
use super::{Effect, Instance, Keyring, Limits, Outcome, RejectKind, Rejection, Role};
use crate::control::{InstanceStatus, LinkErrorKind, NodeCounters};
use crate::report::{EvidenceReport, GeneralReport, InstanceReport, MessageReport};

/// Memory all undecided OM trees may take together (one OM(7) at n = 22
/// takes ~53 MB); each commander gets an equal share.
pub const DEFAULT_TREE_BYTES: u64 = 2 << 30;
/// Decided instances kept in memory for `status` and late reports.
pub const DEFAULT_KEEP_DECIDED: usize = 4096;
/// Seqs remembered above a commander's floor before the floor moves up.
const SEEN_WINDOW: usize = 1 << 16;

/// Every bound a node enforces.
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    pub round: Limits,
    /// Undecided instances in all; each commander gets `max_instances / n`.
    pub max_instances: usize,
    /// Largest frame a peer accepts; larger sends are refused here.
    pub max_frame_bytes: usize,
    pub tree_bytes: u64,
    pub keep_decided: usize,
}

impl NodeLimits {
    pub fn new(round: Limits, max_instances: usize, max_frame_bytes: usize) -> NodeLimits {
        NodeLimits {
            round,
            max_instances,
            max_frame_bytes,
            tree_bytes: DEFAULT_TREE_BYTES,
            keep_decided: DEFAULT_KEEP_DECIDED,
        }
    }
}

/// The double-sign guard: what this node has signed as commander. It is
/// persisted ([`Output::SaveSignState`]) before any signature of a new
/// instance leaves the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignState {
    /// The key this state belongs to.
    pub public_key: PublicKey,
    /// Highest instance seq this node has signed/issued as commander;
    /// 0 = none. Sequence numbers start at 1.
    pub last_seq: u64,
    /// The order it signed for `last_seq`.
    pub last_order: Option<Order>,
}

impl SignState {
    /// A state for a node that has never signed anything.
    pub fn fresh(public_key: PublicKey) -> SignState {
        SignState {
            public_key,
            last_seq: 0,
            last_order: None,
        }
    }

    /// The sequence number of the next instance this node may issue.
    pub fn next_seq(&self) -> u64 {
        self.last_seq + 1
    }
}

/// One decision, as it goes into `decisions.log`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub instance: InstanceId,
    pub protocol: Protocol,
    pub m: u8,
    pub role: Role,
    pub decision: Order,
    pub values: Vec<Order>,
    pub evidence: bool,
    /// Filled in by whoever persists it (the core reads no clock).
    pub decided_unix_ms: u64,
    pub counters: MessageCounters,
    /// Filled in by whoever persists it, like `decided_unix_ms`; absent in
    /// lines written before these fields existed.
    #[serde(flatten)]
    pub times: InstanceTimes,
}

/// When an instance ran at one node, as its shell measured it (the core
/// reads no clock). Fields of `decisions.log` lines and of `status`.
///
/// The two `_unix_us` fields are wall-clock microseconds since the Unix
/// epoch, read once when the daemon started and advanced by its monotonic
/// clock since, so they can be compared across the processes of one host
/// (this is how `generals bench` measures order to all decided).
/// `decided_after_us` is measured with the monotonic clock alone, inside
/// one process: use it for anything within one node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceTimes {
    /// When this node opened the instance: the order at its commander, the
    /// first accepted frame at a lieutenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_unix_us: Option<u64>,
    /// When this node computed its decision, before it was made durable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_unix_us: Option<u64>,
    /// From opened to decided at this node (monotonic clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_after_us: Option<u64>,
}

/// What the node asks its shell to do, in this order.
#[derive(Debug)]
#[must_use]
pub enum Output {
    /// Queue `msg` on the link to `to`, after `delay` (non-zero only for the
    /// "delay" fault).
    Send {
        to: NodeId,
        msg: PeerMessage,
        delay: Duration,
    },
    /// Make this durable before carrying out anything after it: the next
    /// outputs carry the instance's first signatures. If it fails, call
    /// [`Node::abandon`] and drop that instance's sends.
    SaveSignState(SignState),
    /// Append to the decision log before anything after it: the next output
    /// may be the report that tells the commander about it.
    Decided {
        spec: InstanceSpec,
        record: DecisionRecord,
    },
    Evidence(EquivocationProof),
    SpecEvidence(SpecEquivocationProof),
    /// A lieutenant's signed report, accepted here as its commander: keep
    /// it, so the instance's report count survives a restart. Not needed
    /// for safety; nothing waits for it.
    Report(DecisionReport),
    Event(NodeEvent),
}

/// Things worth a log line. The counters already hold the numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    Issued {
        spec: InstanceSpec,
        order: Order,
    },
    Joined {
        spec: InstanceSpec,
        from: NodeId,
    },
    Decided {
        spec: InstanceSpec,
        decision: Order,
        role: Role,
        /// Each round's time here ([`Instance::round_times`]).
        rounds: Vec<Duration>,
    },
    /// A frame or report was refused; `kind` is the counter's key.
    Rejected {
        from: NodeId,
        instance: Option<InstanceId>,
        /// The refused frame's round, once the instance itself read it: a
        /// frame may wait for its round, so the refusal can come later than
        /// its arrival.
        round: Option<u8>,
        kind: RejectKind,
        reason: String,
    },
    /// The first frame of an instance that came after its round closed here:
    /// the deadline was too short for the load, and a RETREAT may come from
    /// timing rather than from the commander. Once per instance.
    LateFrames {
        spec: InstanceSpec,
        from: NodeId,
        round: u8,
    },
    /// A frame this node did not send because it exceeds its own
    /// `max_frame_bytes` (`bytes` includes the length prefix): the receiver
    /// decides with RETREAT for what it carried.
    FrameTooLarge {
        spec: InstanceSpec,
        to: NodeId,
        bytes: usize,
        max: usize,
    },
}

/// Why an operator's order was refused. Nothing was signed or used up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("this node is shutting down; give the order elsewhere or after it restarts")]
    Draining,
    #[error(
        "OM({m}) needs n >= 3m+1 = {need} generals to tolerate {m} traitors; this cluster has {n}. \
         Use --protocol signed (needs only m+2), a smaller --m, or --force for a demonstration"
    )]
    OralBound { m: u8, need: usize, n: usize },
    #[error("{0}")]
    Spec(#[from] super::SpecError),
    #[error(
        "this node already has {active} instances in flight, its share of max_instances; \
         wait for them to finish or raise max_instances on every node"
    )]
    Busy { active: usize },
    #[error(
        "OM({m}) at n = {n} needs {need} bytes of EIG tree at every lieutenant, more than this \
         commander's share ({share} bytes) of the trees budget allows now; wait for running OM \
         instances or use a smaller m"
    )]
    TreeBudget {
        m: u8,
        n: usize,
        need: u64,
        share: u64,
    },
}

#[derive(Debug)]
struct Entry {
    inst: Instance,
    /// What we ordered, if we are the commander.
    order: Option<Order>,
    opened: Instant,
    counters: MessageCounters,
    record: Option<DecisionRecord>,
    reports: BTreeMap<NodeId, DecisionReport>,
    /// Peers whose frames came after their round closed here.
    late: BTreeSet<NodeId>,
    /// The last frame sent to each peer, sent again when its link comes back.
    last_sent: BTreeMap<NodeId, (RoundFrame, Duration)>,
    /// Counted in its commander's share (see [`Node::charge`]).
    charged: bool,
    /// Joined on a relay from this peer, and counted in its relay budget.
    relayer: Option<(NodeId, u64)>,
}

impl Entry {
    /// A new instance, charged to its commander's share (and to `relayer`'s
    /// relay budget, if it was joined on a relay).
    fn new(
        inst: Instance,
        order: Option<Order>,
        opened: Instant,
        relayer: Option<(NodeId, u64)>,
    ) -> Entry {
        Entry {
            inst,
            order,
            opened,
            counters: MessageCounters::default(),
            record: None,
            reports: BTreeMap::new(),
            late: BTreeSet::new(),
            last_sent: BTreeMap::new(),
            charged: true,
            relayer,
        }
    }

    fn outcome(&self) -> Option<&Outcome> {
        self.inst.outcome()
    }
}

/// Seqs of one commander this node has joined: all up to `floor`, and `above`.
#[derive(Debug, Default)]
struct SeenSeqs {
    floor: u64,
    above: BTreeSet<u64>,
}

impl SeenSeqs {
    fn highest(&self) -> u64 {
        self.above.last().copied().unwrap_or(self.floor)
    }

    fn contains(&self, seq: u64) -> bool {
        seq <= self.floor || self.above.contains(&seq)
    }

    fn insert(&mut self, seq: u64) {
        if seq <= self.floor {
            return;
        }
        self.above.insert(seq);
        while self.above.remove(&(self.floor + 1)) {
            self.floor += 1;
        }
        // A commander that leaves gaps gives up its oldest ones.
        while self.above.len() > SEEN_WINDOW {
            if let Some(first) = self.above.pop_first() {
                self.floor = first;
            }
            while self.above.remove(&(self.floor + 1)) {
                self.floor += 1;
            }
        }
    }
}

/// One general's node: all of its instances and everything around them.
#[derive(Debug)]
pub struct Node {
    keys: Arc<Keyring>,
    limits: NodeLimits,
    sign: SignState,
    /// The state before the last order, for [`Node::abandon`].
    sign_before: Option<SignState>,
    /// Keyed by the whole spec: two signed specs for one id are two
    /// instances (and a proof against their commander).
    instances: BTreeMap<InstanceSpec, Entry>,
    decided: VecDeque<InstanceSpec>,
    /// Decisions that left `instances` (or came from the log), newest last,
    /// with how many signed reports this node got for those it commanded.
    past: BTreeMap<InstanceSpec, (DecisionRecord, usize)>,
    past_order: VecDeque<InstanceSpec>,
    seen: BTreeMap<NodeId, SeenSeqs>,
    /// Ids with a spec-equivocation proof already emitted.
    spec_proofs: BTreeSet<InstanceId>,
    /// Undecided instances (lieutenant) or open ones (commander), by commander.
    active: Vec<usize>,
    /// Bytes of undecided OM trees, by commander.
    trees: Vec<u64>,
    /// Instances joined on a peer's relay, and their OM tree bytes, by peer.
    relayed: Vec<(usize, u64)>,
    coalition: Option<Arc<Mutex<Coalition>>>,
    fault_name: Option<String>,
    draining: bool,
    counters: NodeCounters,
    out: VecDeque<Output>,
}

/// Each round's deadline (rounds 1..=m+1), work included, as the
/// lieutenants' own deadlines count it.
fn round_deadlines(limits: &Limits, spec: &InstanceSpec) -> Vec<Duration> {
    let policy = limits.deadline_policy();
    (1..=spec.m.saturating_add(1))
        .map(|r| policy.deadline(spec, r))
        .collect()
}

/// How long an instance can run at a lieutenant that joined when it was issued.
fn instance_span(limits: &Limits, spec: &InstanceSpec) -> Duration {
    round_deadlines(limits, spec).into_iter().sum()
}

impl Node {
    /// A node with `sign` as its signing state and `past` the decisions in its log.
    pub fn new(
        keys: Arc<Keyring>,
        limits: NodeLimits,
        sign: SignState,
        past: Vec<DecisionRecord>,
    ) -> Node {
        let n = keys.n();
        let mut node = Node {
            limits,
            sign,
            sign_before: None,
            instances: BTreeMap::new(),
            decided: VecDeque::new(),
            past: BTreeMap::new(),
            past_order: VecDeque::new(),
            seen: BTreeMap::new(),
            spec_proofs: BTreeSet::new(),
            active: vec![0; n],
            trees: vec![0; n],
            relayed: vec![(0, 0); n],
            coalition: None,
            fault_name: None,
            draining: false,
            counters: NodeCounters::default(),
            out: VecDeque::new(),
            keys,
        };
        for r in past {
            let spec = InstanceSpec {
                id: r.instance,
                protocol: r.protocol,
                m: r.m,
                n: n as u16,
            };
            node.seen
                .entry(r.instance.commander)
                .or_default()
                .insert(r.instance.seq);
            node.remember_past(spec, r, 0);
        }
        node
    }

    /// Restores the report counts of decided instances this node commanded
    /// (what `reports.log` holds), so `status` shows them after a restart.
    pub fn restore_report_counts(&mut self, counts: &BTreeMap<InstanceSpec, usize>) {
        for (spec, (_, reports)) in &mut self.past {
            if let Some(&n) = counts.get(spec) {
                *reports = n;
            }
        }
    }

    /// Makes this node a traitor that runs `coalition`'s strategy on its sends
    /// (tests and demonstrations only).
    pub fn with_coalition(mut self, coalition: Arc<Mutex<Coalition>>, name: String) -> Node {
        self.coalition = Some(coalition);
        self.fault_name = Some(name);
        self
    }

    pub fn me(&self) -> NodeId {
        self.keys.me
    }

    pub fn cluster(&self) -> &ClusterId {
        &self.keys.cluster
    }

    pub fn sign_state(&self) -> &SignState {
        &self.sign
    }

    pub fn counters(&self) -> &NodeCounters {
        &self.counters
    }

    /// Link-level counters live here too, so `status` has one source.
    pub fn counters_mut(&mut self) -> &mut NodeCounters {
        &mut self.counters
    }

    pub fn fault_name(&self) -> Option<&str> {
        self.fault_name.as_deref()
    }

    /// The next thing the shell must do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Instances this node has not decided yet.
    pub fn active_instances(&self) -> usize {
        self.instances
            .values()
            .filter(|e| e.outcome().is_none())
            .count()
    }

    /// Stop taking new work; in-flight instances go on.
    pub fn start_draining(&mut self) {
        self.draining = true;
    }

    /// The round limits of instances created from now on (a config
    /// reload); each instance in flight keeps the limits it started with.
    pub fn set_round_limits(&mut self, round: Limits) {
        self.limits.round = round;
    }

    /// Each commander's share of the instance slots at this node.
    fn quota(&self) -> usize {
        (self.limits.max_instances / self.keys.n().max(1)).max(1)
    }

    fn tree_share(&self) -> u64 {
        self.limits.tree_bytes / self.keys.n().max(1) as u64
    }

    /// When [`Node::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.instances
            .values()
            .filter_map(|e| e.inst.poll_timeout())
            .min()
    }

    fn reject(
        &mut self,
        from: NodeId,
        instance: Option<InstanceId>,
        kind: RejectKind,
        reason: String,
    ) {
        self.reject_in_round(from, instance, None, kind, reason);
    }

    fn reject_in_round(
        &mut self,
        from: NodeId,
        instance: Option<InstanceId>,
        round: Option<u8>,
        kind: RejectKind,
        reason: String,
    ) {
        *self.counters.rejections.entry(kind).or_default() += 1;
        self.out.push_back(Output::Event(NodeEvent::Rejected {
            from,
            instance,
            round,
            kind,
            reason,
        }));
    }

    // ---- operator orders ------------------------------------------------

    /// Issues an order as commander. Everything is checked before a seq is
    /// taken, so a refused order uses nothing up. The outputs start with the
    /// new [`SignState`], then the round-1 frames.
    pub fn order(
        &mut self,
        now: Instant,
        protocol: Protocol,
        m: u8,
        value: Order,
        force: bool,
    ) -> Result<InstanceId, OrderError> {
        if self.draining {
            return Err(OrderError::Draining);
        }
        let n = self.keys.n();
        if protocol == Protocol::Oral && n < 3 * usize::from(m) + 1 && !force {
            return Err(OrderError::OralBound {
                m,
                need: 3 * usize::from(m) + 1,
                n,
            });
        }
        let me = self.me();
        let spec = InstanceSpec {
            id: InstanceId {
                commander: me,
                seq: self.sign.next_seq(),
            },
            protocol,
            m,
            n: n as u16,
        };
        super::instance::validate(&spec, &self.keys)?;
        self.expire_own(now);
        let active = self.active[me.index()];
        if active >= self.quota() {
            return Err(OrderError::Busy { active });
        }
        if protocol == Protocol::Oral {
            let need = tree_bytes(n, m).unwrap_or(u64::MAX);
            let share = self.tree_share();
            if self.trees[me.index()].saturating_add(need) > share {
                return Err(OrderError::TreeBudget { m, n, need, share });
            }
        }
        let ticket = InstanceTicket::issue(&self.keys.key, &self.keys.cluster, spec);
        let (inst, effects) =
            Instance::commander(ticket, self.keys.clone(), value, now, self.limits.round)?;
        // The double-sign guard goes first: after a crash this node can never
        // sign a different order for this seq.
        self.sign_before = Some(self.sign.clone());
        self.sign = SignState {
            last_seq: spec.id.seq,
            last_order: Some(value),
            ..self.sign.clone()
        };
        self.out.push_back(Output::SaveSignState(self.sign.clone()));
        self.out
            .push_back(Output::Event(NodeEvent::Issued { spec, order: value }));
        self.counters.instances_started += 1;
        self.seen.entry(me).or_default().insert(spec.id.seq);
        self.charge(&spec, 1);
        self.instances
            .insert(spec, Entry::new(inst, Some(value), now, None));
        self.apply(spec, effects);
        Ok(spec.id)
    }

    /// Undoes an order whose signing state could not be made durable. The
    /// shell has dropped its sends, so nothing it signed has left the node.
    pub fn abandon(&mut self, spec: InstanceSpec) {
        self.release(spec);
        self.instances.remove(&spec);
        if let Some(previous) = self.sign_before.take() {
            if self.sign.last_seq == spec.id.seq {
                self.sign = previous;
            }
        }
    }

    /// Adds (`+1`) or releases (`-1`) what `spec` holds of its commander's share.
    fn charge(&mut self, spec: &InstanceSpec, sign: i8) {
        let c = spec.id.commander.index();
        let tree = if spec.protocol == Protocol::Oral {
            tree_bytes(usize::from(spec.n), spec.m).unwrap_or(0)
        } else {
            0
        };
        if let (Some(a), Some(t)) = (self.active.get_mut(c), self.trees.get_mut(c)) {
            if sign > 0 {
                *a += 1;
                *t = t.saturating_add(tree);
            } else {
                *a = a.saturating_sub(1);
                *t = t.saturating_sub(tree);
            }
        }
    }

    /// Our own instances stay charged until every report is in, or until
    /// twice the time any lieutenant can take: only then are we sure no
    /// peer still counts them against our share.
    fn expire_own(&mut self, now: Instant) {
        let me = self.me();
        let done: Vec<InstanceSpec> = self
            .instances
            .iter()
            .filter(|(k, e)| {
                k.id.commander == me
                    && e.charged
                    && (e.reports.len() + 1 >= usize::from(k.n)
                        || now >= e.opened + 2 * instance_span(&e.inst.limits(), k))
            })
            .map(|(k, _)| *k)
            .collect();
        for spec in done {
            self.release(spec);
        }
    }

    /// Gives back what `spec` holds of its commander's share, once.
    fn release(&mut self, spec: InstanceSpec) {
        let Some(e) = self.instances.get_mut(&spec) else {
            return;
        };
        e.last_sent.clear();
        let relayer = e.relayer.take();
        if std::mem::replace(&mut e.charged, false) {
            self.charge(&spec, -1);
            if let Some((j, tree)) = relayer {
                self.charge_relayer(j, tree, -1);
            }
        }
    }

    // ---- frames from peers ----------------------------------------------

    /// A round frame from the authenticated link peer `from`.
    pub fn handle_frame(&mut self, now: Instant, from: NodeId, frame: RoundFrame) {
        let spec = *frame.spec();
        if let Some(e) = self.instances.get(&spec) {
            if e.inst.ticket().sig != frame.ticket.sig {
                return self.reject(
                    from,
                    Some(spec.id),
                    RejectKind::BadTicket,
                    "ticket differs from the one this instance was joined with".into(),
                );
            }
            return self.deliver(now, from, frame);
        }
        self.admit(now, from, frame);
    }

    /// A frame for an instance this node does not hold: join it if, and only
    /// if, its commander issued it and the frame itself is accepted.
    fn admit(&mut self, now: Instant, from: NodeId, frame: RoundFrame) {
        let spec = *frame.spec();
        let id = spec.id;
        if id.commander == self.me() {
            return self.reject(
                from,
                Some(id),
                RejectKind::UnknownOwnInstance,
                "frame for an instance this node never issued".into(),
            );
        }
        if let Err(e) = super::instance::validate(&spec, &self.keys) {
            return self.reject(from, Some(id), RejectKind::BadSpec, e.to_string());
        }
        if self.draining {
            return self.reject(
                from,
                Some(id),
                RejectKind::ShuttingDown,
                "node is draining".into(),
            );
        }
        let Some(commander) = self.keys.peers.get(id.commander.index()) else {
            return self.reject(
                from,
                Some(id),
                RejectKind::BadSpec,
                "unknown commander".into(),
            );
        };
        if !frame.ticket.verify(commander, &self.keys.cluster) {
            return self.reject(
                from,
                Some(id),
                RejectKind::BadTicket,
                "ticket is not the commander's signature on this spec for this cluster".into(),
            );
        }
        // Another spec for a live id: both are real instances, and together
        // they prove the commander signed two specs for one id.
        let other = self
            .instances
            .iter()
            .find(|(k, _)| k.id == id && **k != spec)
            .map(|(_, e)| *e.inst.ticket());
        if let Some(first) = other {
            if self.spec_proofs.insert(id) {
                self.counters.evidence += 1;
                self.out
                    .push_back(Output::SpecEvidence(SpecEquivocationProof {
                        first,
                        second: frame.ticket,
                    }));
            }
        } else if self
            .seen
            .get(&id.commander)
            .is_some_and(|s| s.contains(id.seq))
        {
            return self.reject(
                from,
                Some(id),
                RejectKind::AlreadyDecided,
                "instance was already run here".into(),
            );
        }
        let need = if spec.protocol == Protocol::Oral {
            tree_bytes(usize::from(spec.n), spec.m).unwrap_or(u64::MAX)
        } else {
            0
        };
        let relayer = (from != id.commander).then_some(from);
        if let Some((kind, reason)) = self.over_budget(&spec, relayer, need) {
            return self.reject(from, Some(id), kind, reason);
        }
        let mut inst =
            match Instance::lieutenant(frame.ticket, self.keys.clone(), now, self.limits.round) {
                Ok(inst) => inst,
                Err(e) => return self.reject(from, Some(id), RejectKind::BadSpec, e.to_string()),
            };
        let mut effects = Vec::new();
        inst.handle_frame(now, from, frame, &mut effects);
        // A rejected frame creates nothing: no instance, no relay, no record.
        if let Some(Effect::Rejected { reason, round, .. }) = effects
            .iter()
            .find(|e| matches!(e, Effect::Rejected { .. }))
        {
            let (kind, text) = (reason.kind(), reason.to_string());
            return self.reject_in_round(from, Some(id), Some(*round), kind, text);
        }
        self.counters.instances_joined += 1;
        self.seen.entry(id.commander).or_default().insert(id.seq);
        self.charge(&spec, 1);
        if let Some(j) = relayer {
            self.charge_relayer(j, need, 1);
        }
        self.out
            .push_back(Output::Event(NodeEvent::Joined { spec, from }));
        self.precreate_next(id);
        self.instances.insert(
            spec,
            Entry::new(inst, None, now, relayer.map(|j| (j, need))),
        );
        self.apply(spec, effects);
    }

    /// Whether joining `spec` would exceed a budget, and which.
    ///
    /// A frame from the commander itself counts against the commander's
    /// share. A relay does not: it is charged to the relaying peer instead,
    /// up to the node's whole budget. Refusing a relay because the commander
    /// is over its share would let a traitor commander split the loyal
    /// lieutenants: fill its share at lieutenant 1, then give its order to
    /// lieutenant 2 alone, whose relay 1 would then refuse (the schedule
    /// search found exactly this). A refused direct frame is harmless, since
    /// the lieutenant still joins on the relays of those who accepted it.
    fn over_budget(
        &self,
        spec: &InstanceSpec,
        relayer: Option<NodeId>,
        need: u64,
    ) -> Option<(RejectKind, String)> {
        let c = spec.id.commander;
        match relayer {
            None => {
                let active = self.active.get(c.index()).copied().unwrap_or(0);
                if active >= self.quota() {
                    return Some((
                        RejectKind::CommanderQuota,
                        format!("commander {c} already has {active} instances in flight here"),
                    ));
                }
                let trees = self.trees.get(c.index()).copied().unwrap_or(0);
                (trees.saturating_add(need) > self.tree_share()).then(|| {
                    (
                        RejectKind::MemoryBudget,
                        format!("commander {c}'s OM trees would exceed its share"),
                    )
                })
            }
            Some(j) => {
                let (count, trees) = self.relayed.get(j.index()).copied().unwrap_or_default();
                if count >= self.limits.max_instances {
                    return Some((
                        RejectKind::RelayQuota,
                        format!("peer {j} already made this node join {count} instances"),
                    ));
                }
                (trees.saturating_add(need) > self.limits.tree_bytes).then(|| {
                    (
                        RejectKind::MemoryBudget,
                        format!("OM trees joined on peer {j}'s relays would exceed the budget"),
                    )
                })
            }
        }
    }

    fn charge_relayer(&mut self, j: NodeId, tree: u64, sign: i8) {
        if let Some((count, trees)) = self.relayed.get_mut(j.index()) {
            if sign > 0 {
                *count += 1;
                *trees = trees.saturating_add(tree);
            } else {
                *count = count.saturating_sub(1);
                *trees = trees.saturating_sub(tree);
            }
        }
    }

    fn deliver(&mut self, now: Instant, from: NodeId, frame: RoundFrame) {
        let spec = *frame.spec();
        self.step(spec, |inst, effects| {
            inst.handle_frame(now, from, frame, effects)
        });
    }

    /// Runs one input through an instance and carries out its effects.
    fn step(&mut self, spec: InstanceSpec, input: impl FnOnce(&mut Instance, &mut Vec<Effect>)) {
        let mut effects = Vec::new();
        if let Some(e) = self.instances.get_mut(&spec) {
            input(&mut e.inst, &mut effects);
        }
        self.apply(spec, effects);
    }

    /// Round deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<InstanceSpec> = self
            .instances
            .iter()
            .filter(|(_, e)| e.inst.poll_timeout().is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        for spec in due {
            self.step(spec, |inst, effects| inst.handle_timeout(now, effects));
        }
        self.expire_own(now);
    }

    /// A new authenticated link to `peer`: what it may have missed while the
    /// link was down (frames of rounds still open) is sent again. A frame it
    /// already has is refused there as a duplicate, harmlessly.
    pub fn link_up(&mut self, now: Instant, peer: NodeId) {
        self.expire_own(now);
        let again: Vec<(RoundFrame, Duration)> = self
            .instances
            .values()
            .filter(|e| e.charged)
            .filter_map(|e| e.last_sent.get(&peer).cloned())
            .collect();
        for (frame, delay) in again {
            self.out.push_back(Output::Send {
                to: peer,
                msg: PeerMessage::Round(frame),
                delay,
            });
        }
        self.open_attack(peer);
    }

    /// A precreating traitor that sees a commander's instance goes after
    /// that commander's next one, at every peer.
    fn precreate_next(&mut self, id: InstanceId) {
        let Some(coalition) = self.coalition.clone() else {
            return;
        };
        let me = self.me();
        let Ok(mut c) = coalition.lock() else { return };
        if c.strategy_of(me) != Some(super::adversary::Strategy::Precreate) {
            return;
        }
        let n = self.keys.n();
        let target = OpeningTarget {
            cluster: self.keys.cluster,
            n,
            protocol: Protocol::Oral,
            m: 1,
            quota: self.quota(),
            victims: vec![InstanceId {
                seq: id.seq + 1,
                ..id
            }],
        };
        for to in (0..n as u16).map(NodeId).filter(|&j| j != me) {
            for frame in c.opening_moves(me, to, &target) {
                self.out.push_back(Output::Send {
                    to,
                    msg: PeerMessage::Round(frame),
                    delay: Duration::ZERO,
                });
            }
        }
    }

    /// A traitor daemon's moves before any order (precreate, hog), played
    /// on every new link: what the simulator plays before the order.
    fn open_attack(&mut self, to: NodeId) {
        let Some(coalition) = self.coalition.clone() else {
            return;
        };
        let me = self.me();
        let n = self.keys.n();
        let victims = (0..n as u16)
            .map(NodeId)
            .filter(|&c| c != me)
            .flat_map(|c| {
                let next = self.seen.get(&c).map_or(0, SeenSeqs::highest) + 1;
                [next, next + 1].map(|seq| InstanceId { commander: c, seq })
            })
            .collect();
        let target = OpeningTarget {
            cluster: self.keys.cluster,
            n,
            protocol: Protocol::Oral,
            m: (n.saturating_sub(1) / 3).max(1) as u8,
            quota: self.quota(),
            victims,
        };
        let Ok(mut c) = coalition.lock() else { return };
        for frame in c.opening_moves(me, to, &target) {
            self.out.push_back(Output::Send {
                to,
                msg: PeerMessage::Round(frame),
                delay: Duration::ZERO,
            });
        }
    }

    // ---- reports ----------------------------------------------------------

    /// A signed decision report from `from`, for an instance we command.
    pub fn handle_report(&mut self, from: NodeId, report: DecisionReport) {
        let spec = report.spec;
        let Some(e) = self.instances.get(&spec) else {
            return self.reject(
                from,
                Some(spec.id),
                RejectKind::ReportUnknownInstance,
                "report for an instance this node does not hold".into(),
            );
        };
        let me = self.me();
        let signed = report.reporter == from
            && e.inst.role() == Role::Commander
            && self
                .keys
                .peers
                .get(from.index())
                .is_some_and(|k| report.verify(k));
        // A proof in a report must be a real one against this commander.
        let proof_ok = report.evidence.as_ref().is_none_or(|p| {
            p.instance() == spec.id
                && p.cluster == self.keys.cluster
                && self
                    .keys
                    .peers
                    .get(me.index())
                    .is_some_and(|k| p.verify(k).is_ok())
        });
        if !signed || !proof_ok {
            let why = if signed {
                "report carries an equivocation proof that does not verify"
            } else {
                "report is not signed by its sender"
            };
            return self.reject(from, Some(spec.id), RejectKind::BadReport, why.into());
        }
        if let Some(e) = self.instances.get_mut(&spec) {
            if let std::collections::btree_map::Entry::Vacant(slot) = e.reports.entry(from) {
                slot.insert(report.clone());
                self.out.push_back(Output::Report(report));
            }
        }
    }

    // ---- effects of one instance -----------------------------------------

    fn apply(&mut self, spec: InstanceSpec, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Send { to, frame } => self.send_frame(spec, to, frame),
                Effect::Rejected {
                    from,
                    round,
                    reason,
                } => {
                    if matches!(reason, Rejection::PastRound { .. }) {
                        self.late_frame(spec, from, round);
                    }
                    let (kind, text) = (reason.kind(), reason.to_string());
                    self.reject_in_round(from, Some(spec.id), Some(round), kind, text);
                }
                Effect::Decided(outcome) => self.on_decided(spec, outcome),
            }
        }
    }

    fn late_frame(&mut self, spec: InstanceSpec, from: NodeId, round: u8) {
        let Some(e) = self.instances.get_mut(&spec) else {
            return;
        };
        let first = e.late.is_empty();
        if e.late.insert(from) && first {
            self.out
                .push_back(Output::Event(NodeEvent::LateFrames { spec, from, round }));
        }
    }

    fn send_frame(&mut self, spec: InstanceSpec, to: NodeId, frame: RoundFrame) {
        let RoundFrame {
            ticket,
            round,
            body,
        } = frame;
        let (body, delay) = match &self.coalition {
            Some(c) => {
                let Ok(mut c) = c.lock() else { return };
                let out = c.rewrite(&spec, self.keys.me, to, round, body);
                match out.body {
                    Some(b) => (b, out.delay),
                    None => return,
                }
            }
            None => (body, Duration::ZERO),
        };
        let frame = RoundFrame {
            ticket,
            round,
            body,
        };
        let bytes = frame.wire_len();
        if bytes.saturating_sub(generals_wire::LENGTH_PREFIX) > self.limits.max_frame_bytes {
            *self
                .counters
                .link_errors
                .entry(LinkErrorKind::FrameTooLarge)
                .or_default() += 1;
            let max = self.limits.max_frame_bytes;
            let ev = NodeEvent::FrameTooLarge {
                spec,
                to,
                bytes,
                max,
            };
            self.out.push_back(Output::Event(ev));
            return;
        }
        if let Some(e) = self.instances.get_mut(&spec) {
            e.counters.count_sent(&frame);
            e.last_sent.insert(to, (frame.clone(), delay));
        }
        self.out.push_back(Output::Send {
            to,
            msg: PeerMessage::Round(frame),
            delay,
        });
    }

    fn on_decided(&mut self, spec: InstanceSpec, outcome: Outcome) {
        let me = self.me();
        let faulty = self.coalition.is_some();
        let Some(e) = self.instances.get_mut(&spec) else {
            return;
        };
        let role = e.inst.role();
        e.counters.signatures_made = e.inst.signatures_made();
        e.counters.signatures_verified = e.inst.signatures_verified();
        let record = DecisionRecord {
            instance: spec.id,
            protocol: spec.protocol,
            m: spec.m,
            role,
            decision: outcome.decision,
            values: outcome.values.clone(),
            evidence: outcome.evidence.is_some(),
            decided_unix_ms: 0,
            counters: e.counters,
            times: InstanceTimes::default(),
        };
        e.record = Some(record.clone());
        if role == Role::Lieutenant {
            e.last_sent.clear();
        }
        let late: Vec<NodeId> = e.late.iter().copied().collect();
        let counters = e.counters;
        let rounds = e.inst.round_times().to_vec();
        // Durable before anyone hears of it.
        self.out.push_back(Output::Decided { spec, record });
        self.counters.decisions += 1;
        if let Some(proof) = &outcome.evidence {
            self.counters.evidence += 1;
            self.out.push_back(Output::Evidence(proof.clone()));
        }
        self.out.push_back(Output::Event(NodeEvent::Decided {
            spec,
            decision: outcome.decision,
            role,
            rounds,
        }));
        if role == Role::Lieutenant {
            self.release(spec);
            let report = DecisionReport {
                evidence: outcome.evidence.clone(),
                faulty,
                late,
                ..DecisionReport::new(spec, me, outcome.decision, counters)
            }
            .signed_by(&self.keys.key);
            self.out.push_back(Output::Send {
                to: spec.id.commander,
                msg: PeerMessage::Report(report),
                delay: Duration::ZERO,
            });
        }
        self.decided.push_back(spec);
        self.evict();
    }

    /// Keeps the newest `keep_decided` decided instances in memory.
    fn evict(&mut self) {
        while self.decided.len() > self.limits.keep_decided {
            let Some(old) = self.decided.pop_front() else {
                break;
            };
            self.release(old);
            let Some(e) = self.instances.remove(&old) else {
                continue;
            };
            if let Some(r) = e.record {
                self.remember_past(old, r, e.reports.len());
            }
        }
    }

    fn remember_past(&mut self, spec: InstanceSpec, record: DecisionRecord, reports: usize) {
        if self.past.insert(spec, (record, reports)).is_none() {
            self.past_order.push_back(spec);
        }
        while self.past_order.len() > self.limits.keep_decided {
            if let Some(old) = self.past_order.pop_front() {
                self.past.remove(&old);
            }
        }
    }

    // ---- queries ------------------------------------------------------------

    /// Whether this node has decided and, as commander, heard from everyone.
    pub fn is_complete(&self, spec: &InstanceSpec) -> bool {
        self.instances.get(spec).is_some_and(|e| {
            e.outcome().is_some()
                && (e.inst.role() == Role::Lieutenant || e.reports.len() + 1 >= self.keys.n())
        })
    }

    /// Each round's deadline for `spec` at this node (rounds 1..=m+1), work
    /// part included. Their sum is the longest the instance can run at a
    /// lieutenant that joined when it was issued.
    pub fn round_deadlines(&self, spec: &InstanceSpec) -> Vec<Duration> {
        round_deadlines(&self.limits.round, spec)
    }

    /// When this node opened `spec` (its order, or the frame that joined it).
    pub fn opened(&self, spec: &InstanceSpec) -> Option<Instant> {
        self.instances.get(spec).map(|e| e.opened)
    }

    /// Keeps `record` with the times the shell stamped on it (just before it
    /// appends it to `decisions.log`), so `status` answers from memory what
    /// the log holds.
    pub fn record_stamped(&mut self, spec: &InstanceSpec, record: &DecisionRecord) {
        if let Some(e) = self.instances.get_mut(spec) {
            e.record = Some(record.clone());
        }
    }

    pub fn holds(&self, spec: &InstanceSpec) -> bool {
        self.instances.contains_key(spec)
    }

    pub fn outcome(&self, spec: &InstanceSpec) -> Option<&Outcome> {
        self.instances.get(spec).and_then(|e| e.outcome())
    }

    /// Signed reports received for an instance we command.
    pub fn reports(&self, spec: &InstanceSpec) -> Option<&BTreeMap<NodeId, DecisionReport>> {
        self.instances.get(spec).map(|e| &e.reports)
    }

    /// A decision that left memory but is still in the recent window.
    pub fn past(&self, spec: &InstanceSpec) -> Option<&DecisionRecord> {
        self.past.get(spec).map(|(r, _)| r)
    }

    /// The instance an operator means by `id`: the one this node commanded,
    /// else one it decided, else any (two signed specs may share an id).
    pub fn resolve(&self, id: InstanceId) -> Option<InstanceSpec> {
        let live = self.instances.iter().filter(|(k, _)| k.id == id);
        let rank = |e: &Entry| (e.inst.role() == Role::Commander, e.outcome().is_some());
        live.max_by_key(|(_, e)| rank(e))
            .map(|(k, _)| *k)
            .or_else(|| self.past.keys().find(|k| k.id == id).copied())
    }

    /// What this node sent in an instance, signatures included.
    pub fn instance_counters(&self, spec: &InstanceSpec) -> Option<MessageCounters> {
        self.instances.get(spec).map(|e| MessageCounters {
            signatures_made: e.inst.signatures_made(),
            signatures_verified: e.inst.signatures_verified(),
            ..e.counters
        })
    }

    /// Peers whose frames came after their round closed here.
    pub fn late_from(&self, spec: &InstanceSpec) -> Vec<NodeId> {
        self.instances
            .get(spec)
            .map(|e| e.late.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Whether the commander of `id` was proven to sign two specs for it.
    pub fn spec_equivocated(&self, id: InstanceId) -> bool {
        self.spec_proofs.contains(&id)
    }

    /// Per-instance status lines: every undecided instance and the newest
    /// `recent` decided ones (or just `only`'s).
    pub fn instance_statuses(
        &self,
        only: Option<InstanceId>,
        recent: usize,
    ) -> Vec<InstanceStatus> {
        let live = self.instances.iter().map(|(key, e)| InstanceStatus {
            instance: key.id,
            protocol: key.protocol,
            m: key.m,
            role: e.inst.role(),
            round: e.inst.round(),
            decision: e.outcome().map(|o| o.decision),
            evidence: e.outcome().is_some_and(|o| o.evidence.is_some()),
            reports: e.reports.len(),
            counters: e.counters,
            times: e.record.as_ref().map(|r| r.times).unwrap_or_default(),
        });
        let past = self
            .past
            .values()
            .map(|(r, reports)| InstanceStatus::from_record(r, *reports));
        let all = live.chain(past);
        match only {
            Some(id) => all.filter(|s| s.instance == id).collect(),
            None => {
                let (open, done): (Vec<_>, Vec<_>) = all.partition(|s| s.decision.is_none());
                let skip = done.len().saturating_sub(recent);
                open.into_iter()
                    .chain(done.into_iter().skip(skip))
                    .collect()
            }
        }
    }

    /// The instance as this node sees it: its own outcome plus, at the
    /// commander, every signed report that came back.
    pub fn instance_report(&self, spec: &InstanceSpec) -> Option<InstanceReport> {
        let e = self.instances.get(spec)?;
        let id = spec.id;
        let me = self.me();
        let n = usize::from(spec.n);
        let faulty_me = self.coalition.is_some();
        let mut generals = Vec::with_capacity(n);
        let mut messages = MessageReport {
            formula: crate::sim::formula(spec.protocol, n, spec.m),
            ..MessageReport::default()
        };
        let mut own = e.counters;
        own.signatures_made = e.inst.signatures_made();
        own.signatures_verified = e.inst.signatures_verified();
        messages.add(&own, !faulty_me);
        let mut holders = Vec::new();
        let mut late: BTreeSet<NodeId> = e.late.clone();
        let times = e.record.as_ref().map(|r| r.times).unwrap_or_default();
        for j in (0..spec.n).map(NodeId) {
            let role = if j == id.commander {
                Role::Commander
            } else {
                Role::Lieutenant
            };
            if j == me {
                let decision = if faulty_me {
                    None
                } else {
                    e.outcome().map(|o| o.decision)
                };
                if e.outcome().is_some_and(|o| o.evidence.is_some()) {
                    holders.push(j);
                }
                generals.push(GeneralReport {
                    id: j,
                    role,
                    traitor: faulty_me,
                    decision,
                    reported: Some(true),
                    decided_unix_us: times.decided_unix_us,
                });
                continue;
            }
            let report = e.reports.get(&j);
            if let Some(r) = report {
                messages.add(&r.counters, !r.faulty);
                if r.evidence.is_some() && !r.faulty {
                    holders.push(j);
                }
                if !r.faulty {
                    late.extend(r.late.iter().copied().filter(|&l| usize::from(l.0) < n));
                }
            }
            let traitor = report.is_some_and(|r| r.faulty);
            generals.push(GeneralReport {
                id: j,
                role,
                traitor,
                decision: report.filter(|r| !r.faulty).map(|r| r.decision),
                reported: Some(report.is_some()),
                decided_unix_us: None,
            });
        }
        let traitors: Vec<NodeId> = generals
            .iter()
            .filter(|g| g.traitor)
            .map(|g| g.id)
            .collect();
        let order = e
            .order
            .or(e.outcome().map(|o| o.decision))
            .unwrap_or_default();
        let known: Vec<GeneralReport> = generals
            .iter()
            .filter(|g| g.decision.is_some() || g.traitor)
            .cloned()
            .collect();
        let (ic1, ic2) = InstanceReport::interactive_consistency(
            &known,
            !(faulty_me && id.commander == me),
            order,
        );
        let evidence = if holders.is_empty() {
            Vec::new()
        } else {
            // Ours, or the first one a loyal lieutenant sent in its report.
            let proof = e.outcome().and_then(|o| o.evidence.clone()).or_else(|| {
                e.reports
                    .values()
                    .filter(|r| !r.faulty)
                    .find_map(|r| r.evidence.clone())
            });
            let verified = proof.as_ref().is_some_and(|p| {
                self.keys
                    .peers
                    .get(id.commander.index())
                    .is_some_and(|k| p.verify(k).is_ok())
            });
            vec![EvidenceReport {
                instance: id.to_string(),
                commander: id.commander,
                holders,
                verified,
                proof,
            }]
        };
        Some(InstanceReport {
            protocol: spec.protocol,
            n,
            m: spec.m,
            commander: id.commander,
            order,
            traitors,
            strategy: self
                .fault_name
                .iter()
                .map(|s| (me.to_string(), s.clone()))
                .collect(),
            generals,
            ic1,
            ic2,
            rounds: spec.rounds(),
            messages,
            evidence,
            rejections: BTreeMap::new(),
            instance: Some(id.to_string()),
            complete: Some(self.is_complete(spec)),
            virtual_ms: None,
            seed: None,
            late_frames_from: late.into_iter().collect(),
            spec_equivocation: self.spec_proofs.contains(&id),
            reports_missing: Vec::new(),
            started_unix_us: times.started_unix_us,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(seqs: impl IntoIterator<Item = u64>) -> SeenSeqs {
        let mut s = SeenSeqs::default();
        for q in seqs {
            s.insert(q);
        }
        s
    }

    /// A reload's new round limits reach the instances a lieutenant joins
    /// after it; an instance in flight keeps its own, in later rounds too.
    #[test]
    fn new_round_limits_apply_to_new_instances_only() {
        let keys: Vec<Arc<generals_crypto::NodeKey>> = (0..4u8)
            .map(|i| Arc::new(generals_crypto::NodeKey::from_seed([i + 1; 32])))
            .collect();
        let publics: Vec<PublicKey> = keys.iter().map(|k| k.public()).collect();
        let second = Duration::from_secs(1);
        let node = |id: u16| {
            let ring = Keyring::new(NodeId(id), keys[usize::from(id)].clone(), publics.clone());
            let limits = NodeLimits::new(Limits::new(second), 256, 1 << 20);
            let sign = SignState::fresh(publics[usize::from(id)]);
            Node::new(Arc::new(ring), limits, sign, Vec::new())
        };
        let (mut commander, mut lieutenant) = (node(0), node(1));
        let t0 = Instant::now();
        // The commander's round-1 frame of a new order, delivered to node 1.
        let mut deliver = |lieutenant: &mut Node, value| {
            commander
                .order(t0, Protocol::Signed, 1, value, false)
                .unwrap();
            while let Some(out) = commander.poll_output() {
                if let Output::Send {
                    to: NodeId(1),
                    msg: PeerMessage::Round(f),
                    ..
                } = out
                {
                    lieutenant.handle_frame(t0, NodeId(0), f);
                }
            }
        };
        deliver(&mut lieutenant, Order::Attack);
        lieutenant.set_round_limits(Limits::new(5 * second));
        deliver(&mut lieutenant, Order::Retreat);
        // With the commander's frame in, a lieutenant is in round 2, which
        // waits Δ·1.5 from its start: 1.5 s for the old instance, 7.5 s for
        // the new one.
        assert_eq!(lieutenant.poll_timeout(), Some(t0 + second * 3 / 2));
        lieutenant.handle_timeout(t0 + second * 3 / 2);
        assert_eq!(lieutenant.active_instances(), 1, "the old instance decided");
        assert_eq!(lieutenant.poll_timeout(), Some(t0 + second * 15 / 2));
    }

    /// A commander's seqs in order fold into the floor: memory stays flat.
    #[test]
    fn contiguous_seqs_fold_into_the_floor() {
        let s = seen(1..=1000);
        assert_eq!((s.floor, s.above.len()), (1000, 0));
        assert_eq!(s.highest(), 1000);
        assert!(s.contains(1) && s.contains(1000) && !s.contains(1001));
        let s = seen([3, 1, 5]);
        assert_eq!((s.floor, s.above.len(), s.highest()), (1, 2, 5));
        assert!(s.contains(3) && !s.contains(2) && !s.contains(4));
        assert_eq!(SeenSeqs::default().highest(), 0);
    }

    /// Gaps are kept up to SEEN_WINDOW seqs; one more gives up the oldest,
    /// which then reads as seen (refused as already decided, never rerun),
    /// and the floor runs on over any seqs that follow it.
    #[test]
    fn gaps_are_kept_up_to_the_window() {
        let window = SEEN_WINDOW as u64;
        // 2, 3, then odd seqs from 5: SEEN_WINDOW seqs, none folded.
        let seqs = [2, 3].into_iter().chain((2..window).map(|i| 2 * i + 1));
        let mut s = seen(seqs);
        assert_eq!((s.floor, s.above.len()), (0, SEEN_WINDOW));
        assert!(!s.contains(1));
        s.insert(2 * window + 1);
        // 2 is given up, and 3 folds in after it.
        assert_eq!((s.floor, s.above.len()), (3, SEEN_WINDOW - 1));
        assert!(s.contains(1) && !s.contains(4) && s.contains(5));
    }
}
