//! The driver: one task owns every instance and carries out their effects.
//!
//! Inputs are link events, control requests and timer expiries. `Send`
//! effects go to the peer's bounded queue (dropped and counted if full);
//! `Decided` effects are appended to the decision log and fsynced before the
//! decision is reported to anyone; equivocation proofs are written to
//! `evidence/`. The commander's sequence number is persisted before it signs.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use generals_config::NodeConfig;
use generals_crypto::{InstanceId, NodeId, Order};
use generals_wire::{
    DecisionReport, InstanceSpec, MessageCounters, PeerMessage, Protocol, RoundFrame,
};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use super::links::LinkEvent;
use super::storage::{DecisionRecord, SignState, Storage};
use crate::control::{
    ControlRequest, ControlResponse, EvidenceSummary, InstanceStatus, LinkState, NodeCounters,
    NodeStatus, PeerStatus,
};
use crate::protocol::adversary::Coalition;
use crate::protocol::{Effect, Instance, Keyring, Limits, Outcome};
use crate::report::{EvidenceReport, GeneralReport, InstanceReport, MessageReport, Role};

/// Decided instances kept in memory for `status` and late reports.
const KEEP_DECIDED: usize = 4096;

/// Bytes of frames a node holds for later rounds, across all instances.
/// Each peer may park at most m+1 frames per instance; this caps the sum.
const FUTURE_BUDGET: usize = 256 << 20;

/// Memory all undecided OM trees of a node may take together. One OM(7) at
/// n = 22 takes ~53 MB; the budget keeps traitors that invent instances
/// (each within its quota) from adding up to gigabytes.
const TREE_BUDGET: u64 = 2 << 30;

pub type ControlCall = (ControlRequest, oneshot::Sender<ControlResponse>);

#[derive(Debug)]
struct Peer {
    addr: String,
    state: LinkState,
    since: Instant,
    link: Option<(u64, mpsc::Sender<PeerMessage>)>,
    stats: PeerStatus,
}

#[derive(Debug)]
struct Entry {
    inst: Instance,
    /// What we ordered, if we are the commander.
    order: Option<Order>,
    /// The peer whose frame made this node join (None: we command it).
    joined_via: Option<NodeId>,
    counters: MessageCounters,
    outcome: Option<Outcome>,
    /// What went into the decision log, kept for eviction into `past`.
    record: Option<DecisionRecord>,
    reports: BTreeMap<NodeId, DecisionReport>,
}

#[derive(Debug)]
struct Waiter {
    key: InstanceSpec,
    deadline: Instant,
    reply: oneshot::Sender<ControlResponse>,
}

#[derive(Debug)]
pub struct Driver {
    cfg: Arc<NodeConfig>,
    keys: Arc<Keyring>,
    storage: Storage,
    sign: SignState,
    limits: Limits,
    peers: Vec<Peer>,
    /// Keyed by the whole spec, not just the id: the spec travels unsigned,
    /// so a traitor that forges one for a real id only creates a separate,
    /// harmless instance, and never displaces the commander's.
    instances: BTreeMap<InstanceSpec, Entry>,
    decided_queue: VecDeque<InstanceSpec>,
    /// Decisions from before this run (the log), so old instances are not rejoined.
    past: BTreeMap<InstanceSpec, DecisionRecord>,
    waiters: Vec<Waiter>,
    coalition: Option<Coalition>,
    fault_name: Option<String>,
    counters: NodeCounters,
    started: Instant,
    /// Delayed sends (the "delay" fault) come back through here.
    delayed_tx: mpsc::Sender<(NodeId, PeerMessage)>,
    /// Stopping: no new orders or instances.
    draining: bool,
    /// See [`TREE_BUDGET`]; a field so tests can shrink it.
    tree_budget: u64,
    /// See [`FUTURE_BUDGET`].
    future_budget: usize,
}

fn reject_kind(c: &mut NodeCounters, kind: &str) {
    *c.rejections.entry(kind.into()).or_default() += 1;
}

/// The spec a logged decision was made under (n is the cluster's).
fn record_key(r: &DecisionRecord, n: u16) -> InstanceSpec {
    InstanceSpec {
        id: r.instance,
        protocol: r.protocol,
        m: r.m,
        n,
    }
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: Arc<NodeConfig>,
        keys: Arc<Keyring>,
        storage: Storage,
        sign: SignState,
        past: Vec<DecisionRecord>,
        coalition: Option<Coalition>,
        fault_name: Option<String>,
        delayed_tx: mpsc::Sender<(NodeId, PeerMessage)>,
    ) -> Driver {
        let now = Instant::now();
        let n = cfg.n() as u16;
        let peers = cfg
            .peers
            .iter()
            .map(|p| Peer {
                addr: p.addr.to_string(),
                state: if p.id == keys.me {
                    LinkState::Local
                } else {
                    LinkState::Connecting
                },
                since: now,
                link: None,
                stats: PeerStatus {
                    id: p.id,
                    addr: p.addr.to_string(),
                    state: LinkState::Connecting,
                    since_ms: 0,
                    connects: 0,
                    frames_in: 0,
                    frames_out: 0,
                    bytes_in: 0,
                    bytes_out: 0,
                    dropped: 0,
                    last_error: None,
                },
            })
            .collect();
        let limits = super::calibrate::limits(&cfg);
        Driver {
            limits,
            peers,
            instances: BTreeMap::new(),
            decided_queue: VecDeque::new(),
            past: past.into_iter().map(|r| (record_key(&r, n), r)).collect(),
            waiters: Vec::new(),
            coalition,
            fault_name,
            counters: NodeCounters::default(),
            started: now,
            cfg,
            keys,
            storage,
            sign,
            delayed_tx,
            draining: false,
            tree_budget: TREE_BUDGET,
            future_budget: FUTURE_BUDGET,
        }
    }

    /// Bytes of EIG tree held by undecided OM instances.
    fn tree_bytes_in_use(&self) -> u64 {
        self.instances
            .iter()
            .filter(|(k, e)| k.protocol == Protocol::Oral && e.outcome.is_none())
            .filter_map(|(k, _)| crate::protocol::oral::tree_bytes(usize::from(k.n), k.m))
            .sum()
    }

    /// Instances this node has not decided yet.
    pub fn active_instances(&self) -> usize {
        self.instances
            .values()
            .filter(|e| e.outcome.is_none())
            .count()
    }

    /// Stop taking new work; in-flight instances go on.
    pub fn start_draining(&mut self) {
        self.draining = true;
    }

    fn me(&self) -> NodeId {
        self.keys.me
    }

    /// When the driver must next wake up without input.
    pub fn next_deadline(&self) -> Option<Instant> {
        let inst = self
            .instances
            .values()
            .filter_map(|e| e.inst.poll_timeout());
        let wait = self.waiters.iter().map(|w| w.deadline);
        inst.chain(wait).min()
    }

    pub fn on_tick(&mut self, now: Instant) {
        let due: Vec<InstanceSpec> = self
            .instances
            .iter()
            .filter(|(_, e)| e.inst.poll_timeout().is_some_and(|t| t <= now))
            .map(|(key, _)| *key)
            .collect();
        for key in due {
            let mut effects = Vec::new();
            if let Some(e) = self.instances.get_mut(&key) {
                e.inst.handle_timeout(now, &mut effects);
            }
            self.apply(key, effects);
        }
        let (due, keep): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.deadline <= now);
        self.waiters = keep;
        for w in due {
            let resp = self.report_response(w.key);
            let _ = w.reply.send(resp);
        }
    }

    pub fn on_link(&mut self, ev: LinkEvent, now: Instant) {
        match ev {
            LinkEvent::Up { peer, link, tx } => {
                if let Some(p) = self.peers.get_mut(peer.index()) {
                    p.link = Some((link, tx));
                    p.state = LinkState::Up;
                    p.since = now;
                    p.stats.connects += 1;
                    self.counters.links_accepted += 1;
                }
            }
            LinkEvent::Down { peer, link, reason } => {
                if let Some(p) = self.peers.get_mut(peer.index()) {
                    // A replaced link's Down must not tear down its successor.
                    if p.link.as_ref().is_some_and(|(l, _)| *l == link) {
                        p.link = None;
                        p.state = LinkState::Connecting;
                        p.since = now;
                    }
                    if reason.starts_with("closed after a bad frame") {
                        *self
                            .counters
                            .link_errors
                            .entry("bad_frame".into())
                            .or_default() += 1;
                    }
                    p.stats.last_error = Some(reason);
                }
            }
            LinkEvent::Refused { addr, reason } => {
                self.counters.links_refused += 1;
                *self
                    .counters
                    .link_errors
                    .entry("refused".into())
                    .or_default() += 1;
                debug!(%addr, %reason, "link refused");
            }
            LinkEvent::Message {
                peer,
                link: _,
                msg,
                bytes,
            } => {
                self.counters.frames_in += 1;
                self.counters.bytes_in += bytes as u64;
                if let Some(p) = self.peers.get_mut(peer.index()) {
                    p.stats.frames_in += 1;
                    p.stats.bytes_in += bytes as u64;
                }
                match msg {
                    PeerMessage::Round(frame) => self.on_frame(peer, frame, now),
                    PeerMessage::Report(report) => self.on_report(peer, report),
                }
            }
        }
    }

    fn on_frame(&mut self, from: NodeId, frame: RoundFrame, now: Instant) {
        let key = frame.spec;
        let id = key.id;
        if !self.instances.contains_key(&key) {
            if self.past.contains_key(&key) {
                return reject_kind(&mut self.counters, "already_decided");
            }
            if id.commander == self.me() {
                return reject_kind(&mut self.counters, "unknown_own_instance");
            }
            if self.draining {
                return reject_kind(&mut self.counters, "shutting_down");
            }
            let active = self
                .instances
                .values()
                .filter(|e| e.outcome.is_none())
                .count();
            // Each peer may make us join only its share of the instance slots,
            // so one traitor inventing instance ids cannot starve the rest.
            let quota = (self.cfg.max_instances / self.keys.n().saturating_sub(1).max(1)).max(1);
            let via = self
                .instances
                .values()
                .filter(|e| e.outcome.is_none() && e.joined_via == Some(from))
                .count();
            if via >= quota {
                warn!(instance = %id, %from, quota, "peer exceeded its share of concurrent instances; frame dropped");
                return reject_kind(&mut self.counters, "peer_instance_quota");
            }
            if key.protocol == Protocol::Oral {
                let need = crate::protocol::oral::tree_bytes(usize::from(key.n), key.m)
                    .unwrap_or(u64::MAX);
                if self.tree_bytes_in_use().saturating_add(need) > self.tree_budget {
                    warn!(instance = %id, %from, need, "OM trees would exceed this node's memory budget; frame dropped");
                    return reject_kind(&mut self.counters, "memory_budget");
                }
            }
            if active >= self.cfg.max_instances {
                warn!(instance = %id, limit = self.cfg.max_instances, "too many concurrent instances; frame dropped");
                return reject_kind(&mut self.counters, "too_many_instances");
            }
            match Instance::lieutenant(frame.spec, self.keys.clone(), now, self.limits) {
                Ok(inst) => {
                    info!(instance = %id, protocol = %frame.spec.protocol, m = frame.spec.m, %from, "joined instance");
                    self.counters.instances_joined += 1;
                    self.instances.insert(
                        key,
                        Entry {
                            inst,
                            order: None,
                            joined_via: Some(from),
                            counters: MessageCounters::default(),
                            outcome: None,
                            record: None,
                            reports: BTreeMap::new(),
                        },
                    );
                }
                Err(e) => {
                    warn!(instance = %id, %from, error = %e, "refused an instance this node cannot run");
                    return reject_kind(&mut self.counters, "bad_spec");
                }
            }
        }
        let early = self
            .instances
            .get(&key)
            .is_some_and(|e| e.outcome.is_none() && frame.round > e.inst.round());
        if early {
            let held: usize = self
                .instances
                .values()
                .map(|e| e.inst.buffered_bytes())
                .sum();
            if held.saturating_add(generals_wire::encoded_len(&frame.body)) > self.future_budget {
                warn!(instance = %id, %from, held, "frames held for later rounds would exceed this node's budget; frame dropped");
                return reject_kind(&mut self.counters, "memory_budget");
            }
        }
        let mut effects = Vec::new();
        if let Some(e) = self.instances.get_mut(&key) {
            e.inst.handle_frame(now, from, frame, &mut effects);
        }
        self.apply(key, effects);
    }

    fn on_report(&mut self, from: NodeId, report: DecisionReport) {
        let Some(e) = self.instances.get_mut(&report.spec) else {
            return;
        };
        let valid = report.reporter == from
            && e.inst.role() == Role::Commander
            && self
                .keys
                .peers
                .get(from.index())
                .is_some_and(|k| report.verify(k));
        if !valid {
            reject_kind(&mut self.counters, "bad_report");
            warn!(%from, instance = %report.spec.id, "ignored a report that is not signed by its sender");
            return;
        }
        e.reports.insert(from, report);
        self.wake_waiters();
    }

    /// Carries out one instance's effects.
    fn apply(&mut self, key: InstanceSpec, effects: Vec<Effect>) {
        let id = key.id;
        for effect in effects {
            match effect {
                Effect::Send { to, frame } => self.send_frame(key, to, frame),
                Effect::Rejected {
                    from,
                    round,
                    reason,
                } => {
                    reject_kind(&mut self.counters, reason.kind());
                    debug!(instance = %id, %from, round, %reason, "rejected");
                }
                Effect::Decided(outcome) => self.on_decided(key, outcome),
            }
        }
    }

    fn send_frame(&mut self, key: InstanceSpec, to: NodeId, frame: RoundFrame) {
        let spec = frame.spec;
        let round = frame.round;
        let (body, delay) = match self.coalition.as_mut() {
            Some(c) => {
                let out = c.rewrite(&spec, self.keys.me, to, round, frame.body);
                match out.body {
                    Some(b) => (b, out.delay),
                    None => return,
                }
            }
            None => (frame.body, Duration::ZERO),
        };
        let frame = RoundFrame { spec, round, body };
        if let Some(e) = self.instances.get_mut(&key) {
            e.counters.count_sent(&frame);
        }
        let bytes = frame.wire_len() as u64;
        let msg = PeerMessage::Round(frame);
        if delay > Duration::ZERO {
            let tx = self.delayed_tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = tx.send((to, msg)).await;
            });
            return;
        }
        self.send_now(to, msg, bytes);
    }

    /// Queues a message on `to`'s link; a full queue or a missing link drops
    /// it (the receiver treats the frame as missing: RETREAT by default).
    pub fn send_now(&mut self, to: NodeId, msg: PeerMessage, bytes: u64) {
        // Sent anyway, the codec would refuse it and close the whole link.
        if bytes.saturating_sub(generals_wire::LENGTH_PREFIX as u64)
            > self.cfg.max_frame_bytes as u64
        {
            *self
                .counters
                .link_errors
                .entry("frame_too_large".into())
                .or_default() += 1;
            warn!(%to, bytes, max = self.cfg.max_frame_bytes, "frame larger than max_frame_bytes not sent; raise max_frame_bytes on every node");
            return;
        }
        let Some(p) = self.peers.get_mut(to.index()) else {
            return;
        };
        let sent = p
            .link
            .as_ref()
            .is_some_and(|(_, tx)| tx.try_send(msg).is_ok());
        if sent {
            p.stats.frames_out += 1;
            p.stats.bytes_out += bytes;
            self.counters.frames_out += 1;
            self.counters.bytes_out += bytes;
        } else {
            p.stats.dropped += 1;
        }
    }

    fn on_decided(&mut self, key: InstanceSpec, outcome: Outcome) {
        let id = key.id;
        let Some(e) = self.instances.get_mut(&key) else {
            return;
        };
        let spec = *e.inst.spec();
        let role = e.inst.role();
        e.counters.signatures_made = e.inst.signatures_made();
        e.counters.signatures_verified = e.inst.signatures_verified();
        let record = DecisionRecord {
            instance: id,
            protocol: spec.protocol,
            m: spec.m,
            role,
            decision: outcome.decision,
            values: outcome.values.clone(),
            evidence: outcome.evidence.is_some(),
            decided_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            counters: e.counters,
        };
        let counters = e.counters;
        e.outcome = Some(outcome.clone());
        e.record = Some(record.clone());
        // Durable before anyone hears of it.
        if let Err(err) = self.storage.append_decision(&record) {
            error!(instance = %id, error = %err, "could not persist a decision; not reporting it");
            return;
        }
        self.counters.decisions += 1;
        if let Some(proof) = &outcome.evidence {
            self.counters.evidence += 1;
            match self.storage.save_evidence(proof) {
                Ok(path) => {
                    warn!(instance = %id, commander = %id.commander, file = %path.display(), "EQUIVOCATION: the commander signed both ATTACK and RETREAT")
                }
                Err(err) => {
                    error!(instance = %id, error = %err, "could not save an equivocation proof")
                }
            }
        }
        info!(instance = %id, decision = %outcome.decision, ?role, "decided");
        if role == Role::Lieutenant {
            let report = DecisionReport {
                evidence: outcome.evidence.clone(),
                faulty: self.coalition.is_some(),
                ..DecisionReport::new(key, self.me(), outcome.decision, counters)
            }
            .signed_by(&self.keys.key);
            let msg = PeerMessage::Report(report);
            let bytes = msg.wire_len() as u64;
            self.send_now(id.commander, msg, bytes);
        }
        self.decided_queue.push_back(key);
        while self.decided_queue.len() > KEEP_DECIDED {
            if let Some(old) = self.decided_queue.pop_front() {
                if let Some(r) = self.instances.remove(&old).and_then(|e| e.record) {
                    self.past.insert(old, r);
                }
            }
        }
        self.wake_waiters();
    }

    fn is_complete(&self, key: InstanceSpec) -> bool {
        self.instances.get(&key).is_some_and(|e| {
            e.outcome.is_some()
                && (e.inst.role() == Role::Lieutenant || e.reports.len() + 1 >= self.keys.n())
        })
    }

    fn wake_waiters(&mut self) {
        let (done, keep): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| self.is_complete(w.key));
        self.waiters = keep;
        for w in done {
            let resp = self.report_response(w.key);
            let _ = w.reply.send(resp);
        }
    }

    /// The instance an operator means by `id`: the one this node commanded,
    /// else one it decided, else any (a forged spec may share a real id).
    fn resolve(&self, id: InstanceId) -> Option<InstanceSpec> {
        let live = self.instances.iter().filter(|(k, _)| k.id == id);
        let rank = |e: &Entry| (e.inst.role() == Role::Commander, e.outcome.is_some());
        live.max_by_key(|(_, e)| rank(e))
            .map(|(k, _)| *k)
            .or_else(|| self.past.keys().find(|k| k.id == id).copied())
    }

    pub fn on_control(
        &mut self,
        req: ControlRequest,
        reply: oneshot::Sender<ControlResponse>,
        now: Instant,
    ) {
        let resp = match req {
            ControlRequest::Order {
                protocol,
                m,
                value,
                force,
            } => self.order(protocol, m, value, force, now),
            ControlRequest::Wait {
                instance,
                timeout_ms,
            } => {
                let Some(key) = self.resolve(instance) else {
                    let message = format!("instance {instance} is unknown to this node");
                    let _ = reply.send(ControlResponse::Error { message });
                    return;
                };
                if self.is_complete(key) || !self.instances.contains_key(&key) {
                    self.report_response(key)
                } else {
                    let deadline = now + Duration::from_millis(timeout_ms);
                    self.waiters.push(Waiter {
                        key,
                        deadline,
                        reply,
                    });
                    return;
                }
            }
            ControlRequest::Status { instance } => {
                ControlResponse::Status(Box::new(self.status(instance, now)))
            }
            ControlRequest::EvidenceList => match self.storage.list_evidence() {
                Ok(list) => ControlResponse::EvidenceList {
                    proofs: list
                        .into_iter()
                        .map(|(instance, file)| EvidenceSummary {
                            instance,
                            commander: instance.commander,
                            file,
                        })
                        .collect(),
                },
                Err(e) => ControlResponse::Error {
                    message: e.to_string(),
                },
            },
            ControlRequest::EvidenceShow { instance } => match self.storage.load_evidence(instance)
            {
                Ok((file, proof)) => ControlResponse::Evidence { file, proof },
                Err(e) => ControlResponse::Error {
                    message: e.to_string(),
                },
            },
        };
        let _ = reply.send(resp);
    }

    fn order(
        &mut self,
        protocol: Protocol,
        m: u8,
        value: Order,
        force: bool,
        now: Instant,
    ) -> ControlResponse {
        if self.draining {
            return ControlResponse::Error {
                message:
                    "this node is shutting down; give the order elsewhere or after it restarts"
                        .into(),
            };
        }
        let n = self.keys.n();
        if protocol == Protocol::Oral && n < 3 * usize::from(m) + 1 && !force {
            return ControlResponse::Error {
                message: format!(
                    "OM({m}) needs n >= 3m+1 = {} generals to tolerate {m} traitors; this cluster has {n}. \
                     Use --protocol signed (needs only m+2), a smaller --m, or --force for a demonstration",
                    3 * usize::from(m) + 1
                ),
            };
        }
        let seq = self.sign.next_seq();
        let id = InstanceId {
            commander: self.me(),
            seq,
        };
        let spec = InstanceSpec {
            id,
            protocol,
            m,
            n: n as u16,
        };
        // Persist the sequence and the order before signing or sending anything:
        // after a crash this node can never sign a different order for `id`.
        let next = SignState {
            last_seq: seq,
            last_order: Some(value),
            ..self.sign.clone()
        };
        if let Err(e) = self.storage.save_sign_state(&next) {
            return ControlResponse::Error {
                message: format!("could not persist the signing state: {e}"),
            };
        }
        self.sign = next;
        match Instance::commander(spec, self.keys.clone(), value, now, self.limits) {
            Ok((inst, effects)) => {
                info!(instance = %id, %protocol, m, order = %value, "issuing order");
                self.counters.instances_started += 1;
                self.instances.insert(
                    spec,
                    Entry {
                        inst,
                        order: Some(value),
                        joined_via: None,
                        counters: MessageCounters::default(),
                        outcome: None,
                        record: None,
                        reports: BTreeMap::new(),
                    },
                );
                self.apply(spec, effects);
                ControlResponse::Ordered { instance: id }
            }
            Err(e) => ControlResponse::Error {
                message: e.to_string(),
            },
        }
    }

    /// The instance as this node sees it: its own outcome plus, at the
    /// commander, every signed report that came back.
    fn report_response(&self, key: InstanceSpec) -> ControlResponse {
        let id = key.id;
        if let Some(e) = self.instances.get(&key) {
            return ControlResponse::Report(Box::new(self.instance_report(key, e)));
        }
        match self.past.get(&key) {
            Some(r) => ControlResponse::Error {
                message: format!(
                    "instance {id} was decided before this node restarted ({}); its details are in decisions.log",
                    r.decision
                ),
            },
            None => ControlResponse::Error { message: format!("instance {id} is unknown to this node") },
        }
    }

    fn instance_report(&self, key: InstanceSpec, e: &Entry) -> InstanceReport {
        let id = key.id;
        let spec = e.inst.spec();
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
        for j in (0..spec.n).map(NodeId) {
            let role = if j == id.commander {
                Role::Commander
            } else {
                Role::Lieutenant
            };
            if j == self.me() {
                let decision = if faulty_me {
                    None
                } else {
                    e.outcome.as_ref().map(|o| o.decision)
                };
                if e.outcome.as_ref().is_some_and(|o| o.evidence.is_some()) {
                    holders.push(j);
                }
                generals.push(GeneralReport {
                    id: j,
                    role,
                    traitor: faulty_me,
                    decision,
                    reported: Some(true),
                });
                continue;
            }
            let report = e.reports.get(&j);
            if let Some(r) = report {
                messages.add(&r.counters, !r.faulty);
                if r.evidence.is_some() && !r.faulty {
                    holders.push(j);
                }
            }
            let traitor = report.is_some_and(|r| r.faulty);
            generals.push(GeneralReport {
                id: j,
                role,
                traitor,
                decision: report.filter(|r| !r.faulty).map(|r| r.decision),
                reported: Some(report.is_some()),
            });
        }
        let traitors: Vec<NodeId> = generals
            .iter()
            .filter(|g| g.traitor)
            .map(|g| g.id)
            .collect();
        let order = e
            .order
            .or(e.outcome.as_ref().map(|o| o.decision))
            .unwrap_or_default();
        let known: Vec<GeneralReport> = generals
            .iter()
            .filter(|g| g.decision.is_some() || g.traitor)
            .cloned()
            .collect();
        let (ic1, ic2) = InstanceReport::interactive_consistency(
            &known,
            !(faulty_me && id.commander == self.me()),
            order,
        );
        let evidence = if holders.is_empty() {
            Vec::new()
        } else {
            // Ours, or the first one a loyal lieutenant sent in its report.
            let proof = e
                .outcome
                .as_ref()
                .and_then(|o| o.evidence.clone())
                .or_else(|| {
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
        InstanceReport {
            protocol: spec.protocol,
            n,
            m: spec.m,
            commander: id.commander,
            order,
            traitors,
            strategy: self
                .fault_name
                .iter()
                .map(|s| (self.me().to_string(), s.clone()))
                .collect(),
            generals,
            ic1,
            ic2,
            rounds: spec.rounds(),
            messages,
            evidence,
            rejections: BTreeMap::new(),
            instance: Some(id.to_string()),
            complete: Some(self.is_complete(key)),
            virtual_ms: None,
            seed: None,
        }
    }

    fn status(&self, only: Option<InstanceId>, now: Instant) -> NodeStatus {
        let peers = self
            .peers
            .iter()
            .map(|p| PeerStatus {
                state: p.state,
                since_ms: now.saturating_duration_since(p.since).as_millis() as u64,
                addr: p.addr.clone(),
                ..p.stats.clone()
            })
            .collect();
        let instances = self
            .instances
            .iter()
            .filter(|(key, _)| only.is_none_or(|o| o == key.id))
            .map(|(key, e)| InstanceStatus {
                instance: key.id,
                protocol: e.inst.spec().protocol,
                m: e.inst.spec().m,
                role: e.inst.role(),
                round: e.inst.round(),
                decision: e.outcome.as_ref().map(|o| o.decision),
                evidence: e.outcome.as_ref().is_some_and(|o| o.evidence.is_some()),
                reports: e.reports.len(),
                counters: e.counters,
            })
            .chain(
                self.past
                    .values()
                    .filter(|r| only.is_none_or(|o| o == r.instance))
                    .map(|r| InstanceStatus {
                        instance: r.instance,
                        protocol: r.protocol,
                        m: r.m,
                        role: r.role,
                        round: r.m + 2,
                        decision: Some(r.decision),
                        evidence: r.evidence,
                        reports: 0,
                        counters: r.counters,
                    }),
            )
            .collect();
        NodeStatus {
            id: self.me(),
            n: self.keys.n(),
            listen: self.cfg.listen.to_string(),
            uptime_ms: now.saturating_duration_since(self.started).as_millis() as u64,
            fault: self.fault_name.clone(),
            peers,
            instances,
            counters: self.counters.clone(),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.storage.dir().to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use generals_config::{generate_testnet, TestnetOptions};
    use generals_crypto::{NodeKey, SignedOrder};
    use generals_wire::{OralBits, RoundBody};

    struct Rig {
        driver: Driver,
        keys: Vec<NodeKey>,
        _dir: tempfile::TempDir,
        _links: Vec<mpsc::Receiver<PeerMessage>>,
    }

    /// Node 1 of a 4-node testnet, with live (in-memory) links to 0, 2, 3.
    fn node1() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let nodes = generate_testnet(&TestnetOptions::new(4, dir.path().join("tn"))).unwrap();
        let keys: Vec<NodeKey> = nodes
            .iter()
            .map(|n| NodeKey::load(&n.key_path).unwrap())
            .collect();
        let cfg = Arc::new(NodeConfig::load_with_env(&nodes[1].config_path, Vec::new()).unwrap());
        let me = NodeId(1);
        let key = NodeKey::load(&nodes[1].key_path).unwrap();
        let (storage, sign, past) =
            Storage::open(cfg.data_dir(), me, &key.public(), false).unwrap();
        let ring = Arc::new(Keyring {
            me,
            key: Arc::new(key),
            peers: cfg.public_keys(),
        });
        let (delayed_tx, _) = mpsc::channel(8);
        let mut driver = Driver::new(cfg, ring, storage, sign, past, None, None, delayed_tx);
        let mut links = Vec::new();
        for (link, peer) in [0u16, 2, 3].into_iter().enumerate() {
            let (tx, rx) = mpsc::channel(64);
            driver.on_link(
                LinkEvent::Up {
                    peer: NodeId(peer),
                    link: link as u64,
                    tx,
                },
                Instant::now(),
            );
            links.push(rx);
        }
        Rig {
            driver,
            keys,
            _dir: dir,
            _links: links,
        }
    }

    /// An instance of the 4-node test cluster.
    fn spec(commander: u16, seq: u64, protocol: Protocol, m: u8) -> InstanceSpec {
        InstanceSpec {
            id: InstanceId {
                commander: NodeId(commander),
                seq,
            },
            protocol,
            m,
            n: 4,
        }
    }

    /// Delivers a round frame from `from` to node 1's driver.
    fn send(rig: &mut Rig, from: u16, spec: InstanceSpec, round: u8, body: RoundBody) {
        let msg = PeerMessage::Round(RoundFrame { spec, round, body });
        let bytes = msg.wire_len();
        rig.driver.on_link(
            LinkEvent::Message {
                peer: NodeId(from),
                link: 0,
                msg,
                bytes,
            },
            Instant::now(),
        );
    }

    fn rejected(rig: &Rig, kind: &str) -> Option<u64> {
        rig.driver.counters.rejections.get(kind).copied()
    }

    #[test]
    fn one_peer_cannot_take_every_instance_slot() {
        let mut rig = node1();
        let quota = rig.driver.cfg.max_instances / 3;
        // Traitor 2 invents instances "commanded" by 3, one frame each.
        for seq in 1..=(quota as u64 + 5) {
            send(
                &mut rig,
                2,
                spec(3, seq, Protocol::Oral, 1),
                2,
                RoundBody::Empty,
            );
        }
        assert_eq!(rig.driver.active_instances(), quota);
        assert_eq!(rejected(&rig, "peer_instance_quota"), Some(5));
        // The real commander 0 still gets through.
        let real = spec(0, 1, Protocol::Signed, 1);
        let chain = SignedOrder::new(&rig.keys[0], real.id, 1, Order::Attack);
        send(&mut rig, 0, real, 1, RoundBody::Signed(vec![chain]));
        assert!(
            rig.driver.instances.contains_key(&real),
            "a loyal commander was starved"
        );
    }

    #[test]
    fn om_trees_share_a_memory_budget() {
        let mut rig = node1();
        rig.driver.tree_budget = 2 * crate::protocol::oral::tree_bytes(4, 2).unwrap();
        for (from, seq) in [(2u16, 1u64), (3, 2), (2, 3)] {
            send(
                &mut rig,
                from,
                spec(0, seq, Protocol::Oral, 2),
                2,
                RoundBody::Empty,
            );
        }
        assert_eq!(rig.driver.active_instances(), 2);
        assert_eq!(rejected(&rig, "memory_budget"), Some(1));
        // Signed instances hold no tree and are not limited by it.
        send(
            &mut rig,
            2,
            spec(0, 9, Protocol::Signed, 2),
            2,
            RoundBody::Empty,
        );
        assert_eq!(rig.driver.active_instances(), 3);
    }

    #[test]
    fn frames_held_for_later_rounds_share_a_budget() {
        let mut rig = node1();
        let om = spec(0, 1, Protocol::Oral, 2);
        // Frames for rounds 2 and 3 wait while the instance is in round 1.
        let body = || RoundBody::Oral(OralBits::zeros(2));
        rig.driver.future_budget = 2 * generals_wire::encoded_len(&body());
        for from in [2u16, 3] {
            send(&mut rig, from, om, 3, body());
        }
        assert_eq!(rejected(&rig, "memory_budget"), None);
        send(&mut rig, 2, om, 2, body());
        assert_eq!(
            rejected(&rig, "memory_budget"),
            Some(1),
            "a third frame held for later exceeds it"
        );
    }

    #[test]
    fn a_forged_spec_cannot_displace_the_commanders_instance() {
        let mut rig = node1();
        let real = spec(0, 1, Protocol::Signed, 1);
        let forged = InstanceSpec {
            protocol: Protocol::Oral,
            ..real
        };

        // Traitor 2 races the commander with a round-2 frame under a forged spec.
        send(&mut rig, 2, forged, 2, RoundBody::Oral(OralBits::zeros(1)));

        // Then the real instance: the commander's chain, and relays by 2 and 3.
        let chain = SignedOrder::new(&rig.keys[0], real.id, 1, Order::Attack);
        send(&mut rig, 0, real, 1, RoundBody::Signed(vec![chain.clone()]));
        for relayer in [2u16, 3] {
            let relay = chain.extended(&rig.keys[usize::from(relayer)], NodeId(relayer));
            send(&mut rig, relayer, real, 2, RoundBody::Signed(vec![relay]));
        }

        let decided = rig
            .driver
            .instances
            .get(&real)
            .and_then(|e| e.outcome.as_ref())
            .map(|o| o.decision);
        assert_eq!(
            decided,
            Some(Order::Attack),
            "the real instance must obey the loyal commander"
        );
        assert_eq!(rejected(&rig, "spec_mismatch"), None);
        // The forged one is a separate instance that never heard from the commander.
        assert!(rig.driver.instances.contains_key(&forged));
        // The operator's `wait 0-1` resolves to the instance that decided.
        assert_eq!(rig.driver.resolve(real.id), Some(real));
    }
}
