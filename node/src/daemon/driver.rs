//! The driver: the tokio side of one [`Node`].
//!
//! The node core decides everything (admission, budgets, rounds, reports,
//! evidence); the driver feeds it link events, control requests and timer
//! expiries, and carries out its [`Output`]s in order: the signing state and
//! decisions are made durable before the sends that follow them, frames go
//! to the peer's bounded queue (dropped and counted if full), and evidence is
//! written to `evidence/`.

use std::collections::{BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use generals_config::NodeConfig;
use generals_crypto::{InstanceId, NodeId};
use generals_wire::{InstanceSpec, PeerMessage};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use super::links::LinkEvent;
use super::log_limit::LogLimiter;
use super::metrics::{Equivocation, Metrics, Traffic};
use super::storage::{Storage, StorageError};
use crate::control::{
    ControlRequest, ControlResponse, EvidenceSummary, InstanceStatus, LinkErrorKind, LinkState,
    NodeStatus, PeerStatus,
};
use crate::protocol::{DecisionRecord, InstanceTimes, Node, NodeEvent, Output, RejectKind};

/// Decided instances `status` lists (undecided ones are always listed).
const STATUS_RECENT: usize = 100;

/// How soon a peer's backlog is offered to its link again.
const BACKLOG_RETRY: Duration = Duration::from_millis(2);

pub type ControlCall = (ControlRequest, oneshot::Sender<ControlResponse>);

#[derive(Debug)]
struct Peer {
    addr: String,
    state: LinkState,
    since: Instant,
    link: Option<(u64, mpsc::Sender<PeerMessage>)>,
    /// Messages the link's queue had no room for, oldest first. They wait
    /// here instead of being dropped: a traitor's instances that fill a
    /// loyal peer's queue must not cost that peer the frames of others.
    /// What waits is bounded by what the node sends, which its instance
    /// budgets bound.
    backlog: VecDeque<PeerMessage>,
    stats: PeerStatus,
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
    node: Node,
    storage: Storage,
    peers: Vec<Peer>,
    waiters: Vec<Waiter>,
    started: Instant,
    /// Delayed sends (the "delay" fault) come back through here.
    delayed_tx: mpsc::Sender<(NodeId, PeerMessage)>,
    /// Log lines for refused frames, per peer and kind (the counters count
    /// every one).
    rejections: LogLimiter<(NodeId, RejectKind)>,
    metrics: Arc<Metrics>,
    clock: WallClock,
}

/// Wall-clock time for records other processes compare (`generals bench`
/// takes every general's decision time from its own daemon): the Unix time
/// read once at start, advanced by the monotonic clock, so a clock step
/// during a run moves no decision before its order.
#[derive(Clone, Copy, Debug)]
struct WallClock {
    at: Instant,
    unix_us: u64,
}

impl WallClock {
    fn now() -> WallClock {
        let unix_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        WallClock {
            at: Instant::now(),
            unix_us,
        }
    }

    fn unix_us(&self, t: Instant) -> u64 {
        let after = t.saturating_duration_since(self.at).as_micros();
        self.unix_us
            .saturating_add(u64::try_from(after).unwrap_or(u64::MAX))
    }

    /// Fills in when `record`'s instance was opened here and decided (now).
    fn stamp(&self, record: &mut DecisionRecord, opened: Option<Instant>) {
        let decided = Instant::now();
        let decided_us = self.unix_us(decided);
        record.decided_unix_ms = decided_us / 1000;
        record.times = InstanceTimes {
            started_unix_us: opened.map(|o| self.unix_us(o)),
            decided_unix_us: Some(decided_us),
            decided_after_us: opened
                .map(|o| u64::try_from(decided.saturating_duration_since(o).as_micros()))
                .and_then(Result::ok),
        };
    }
}

impl Driver {
    pub fn new(
        cfg: Arc<NodeConfig>,
        node: Node,
        storage: Storage,
        delayed_tx: mpsc::Sender<(NodeId, PeerMessage)>,
        metrics: Arc<Metrics>,
    ) -> Driver {
        let now = Instant::now();
        let me = node.me();
        let peers = cfg
            .peers
            .iter()
            .map(|p| Peer {
                addr: p.addr.to_string(),
                state: if p.id == me {
                    LinkState::Local
                } else {
                    LinkState::Connecting
                },
                since: now,
                link: None,
                backlog: VecDeque::new(),
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
        // The driver exists once the node is set up: from here it takes
        // frames and orders, which is what /healthz calls ready.
        metrics.set_ready();
        Driver {
            cfg,
            node,
            storage,
            peers,
            waiters: Vec::new(),
            started: now,
            delayed_tx,
            rejections: LogLimiter::default(),
            metrics,
            clock: WallClock::now(),
        }
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Instances this node has not decided yet.
    pub fn active_instances(&self) -> usize {
        self.node.active_instances()
    }

    /// Stop taking new work; in-flight instances go on.
    pub fn start_draining(&mut self) {
        self.node.start_draining();
        self.metrics.set_draining();
    }

    /// A reload moved `peer` to `addr`: `status` shows the new address.
    pub fn set_peer_addr(&mut self, peer: NodeId, addr: std::net::SocketAddr) {
        if let Some(p) = self.peers.get_mut(peer.index()) {
            p.addr = addr.to_string();
        }
    }

    /// A reload changed the round timeouts: instances created from now on
    /// take `round`, those in flight keep theirs.
    pub fn set_round_limits(&mut self, round: crate::protocol::Limits) {
        self.node.set_round_limits(round);
    }

    /// When the driver must next wake up without input.
    pub fn next_deadline(&self) -> Option<Instant> {
        let wait = self.waiters.iter().map(|w| w.deadline);
        // A backlog is retried soon: the link writer frees room as it sends.
        let backlog = self
            .peers
            .iter()
            .any(|p| p.link.is_some() && !p.backlog.is_empty())
            .then(|| Instant::now() + BACKLOG_RETRY);
        self.node
            .poll_timeout()
            .into_iter()
            .chain(wait)
            .chain(backlog)
            .min()
    }

    pub fn on_tick(&mut self, now: Instant) {
        self.drain_all();
        self.node.handle_timeout(now);
        self.flush();
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
                    self.node.counters_mut().links_accepted += 1;
                    self.metrics.link(peer, true);
                    // Frames of rounds still open go out again on the new link.
                    self.node.link_up(now, peer);
                }
            }
            LinkEvent::Down { peer, link, reason } => {
                if let Some(p) = self.peers.get_mut(peer.index()) {
                    // A replaced link's Down must not tear down its successor.
                    if p.link.as_ref().is_some_and(|(l, _)| *l == link) {
                        p.link = None;
                        p.state = LinkState::Connecting;
                        p.since = now;
                        self.metrics.link(peer, false);
                    }
                    let kind = reason.kind();
                    *self
                        .node
                        .counters_mut()
                        .link_errors
                        .entry(kind)
                        .or_default() += 1;
                    self.metrics.link_error(kind);
                    p.stats.last_error = Some(reason.to_string());
                }
            }
            LinkEvent::Refused { addr, peer, reason } => {
                let c = self.node.counters_mut();
                c.links_refused += 1;
                *c.link_errors.entry(LinkErrorKind::Refused).or_default() += 1;
                self.metrics.link_error(LinkErrorKind::Refused);
                self.metrics.handshake_refused(reason.kind());
                // Only a peer this node dialled: a listener has only a claim.
                if let Some(p) = peer.and_then(|id| self.peers.get_mut(id.index())) {
                    p.stats.last_error = Some(reason.to_string());
                }
                debug!(%addr, %reason, "link refused");
            }
            LinkEvent::Message {
                peer,
                link: _,
                msg,
                bytes,
            } => {
                let c = self.node.counters_mut();
                c.frames_in += 1;
                c.bytes_in += bytes as u64;
                if let Some(p) = self.peers.get_mut(peer.index()) {
                    p.stats.frames_in += 1;
                    p.stats.bytes_in += bytes as u64;
                }
                self.metrics.received(Traffic::read(&msg, bytes));
                match msg {
                    PeerMessage::Round(frame) => self.node.handle_frame(now, peer, frame),
                    PeerMessage::Report(report) => self.node.handle_report(peer, report),
                }
            }
        }
        self.flush();
    }

    /// Counts a proof of equivocation and says where it was kept.
    fn evidence_kept(
        &self,
        kind: Equivocation,
        id: InstanceId,
        saved: Result<PathBuf, StorageError>,
    ) {
        self.metrics.equivocation(kind);
        let what = match kind {
            Equivocation::Order => "the commander signed both ATTACK and RETREAT",
            Equivocation::Spec => "the commander signed two different specs for one instance id",
        };
        match saved {
            Ok(path) => {
                warn!(instance = %id, commander = %id.commander, file = %path.display(), "EQUIVOCATION: {what}")
            }
            Err(err) => {
                error!(instance = %id, error = %err, "could not save a proof that {what}")
            }
        }
    }

    /// Carries out the node's outputs in order. An instance whose signing
    /// state or decision could not be made durable sends nothing more.
    fn flush(&mut self) {
        let mut blocked: BTreeSet<InstanceId> = BTreeSet::new();
        // Whether the number of undecided instances may have changed.
        let mut recount = false;
        while let Some(out) = self.node.poll_output() {
            match out {
                Output::SaveSignState(state) => {
                    if let Err(e) = self.storage.save_sign_state(&state) {
                        error!(error = %e, "could not persist the signing state; the order is abandoned");
                        let id = InstanceId {
                            commander: self.node.me(),
                            seq: state.last_seq,
                        };
                        blocked.insert(id);
                        if let Some(spec) = self.node.resolve(id) {
                            self.node.abandon(spec);
                        }
                        recount = true;
                    }
                }
                Output::Decided { spec, mut record } => {
                    self.clock.stamp(&mut record, self.node.opened(&spec));
                    self.node.record_stamped(&spec, &record);
                    recount = true;
                    if let Err(err) = self.storage.append_decision(&record) {
                        error!(instance = %spec.id, error = %err, "could not persist a decision; not reporting it");
                        blocked.insert(spec.id);
                    }
                }
                Output::Evidence(proof) => {
                    let saved = self.storage.save_evidence(&proof);
                    self.evidence_kept(Equivocation::Order, proof.instance(), saved);
                }
                Output::SpecEvidence(proof) => {
                    let saved = self.storage.save_spec_evidence(&proof);
                    self.evidence_kept(Equivocation::Spec, proof.instance(), saved);
                }
                Output::Send { to, msg, delay } => {
                    let id = match &msg {
                        PeerMessage::Round(f) => f.spec().id,
                        PeerMessage::Report(r) => r.spec.id,
                    };
                    if blocked.contains(&id) {
                        continue;
                    }
                    if delay > Duration::ZERO {
                        let tx = self.delayed_tx.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = tx.send((to, msg)).await;
                        });
                    } else {
                        self.send_now(to, msg);
                    }
                }
                Output::Report(report) => {
                    if let Err(err) = self.storage.append_report(&report) {
                        warn!(instance = %report.spec.id, error = %err, "could not keep a signed report; its instance shows one report fewer after a restart");
                    }
                }
                Output::Event(ev) => {
                    recount |= self.observe(&ev);
                    log_event(&mut self.rejections, &ev);
                }
            }
        }
        if recount {
            self.metrics.instances_active(self.node.active_instances());
        }
        self.wake_waiters();
    }

    /// Carries an event into the metrics; whether it may change the number
    /// of undecided instances.
    fn observe(&self, ev: &NodeEvent) -> bool {
        match ev {
            NodeEvent::Rejected { kind, .. } => self.metrics.rejected(*kind),
            NodeEvent::Decided {
                spec,
                decision,
                rounds,
                ..
            } => {
                let c = self.node.instance_counters(spec).unwrap_or_default();
                let signatures = (c.signatures_made, c.signatures_verified);
                self.metrics
                    .decided(spec.protocol, *decision, signatures, rounds);
            }
            NodeEvent::Issued { .. } | NodeEvent::Joined { .. } => return true,
            NodeEvent::FrameTooLarge { .. } => {
                self.metrics.link_error(LinkErrorKind::FrameTooLarge)
            }
            NodeEvent::LateFrames { .. } => {}
        }
        false
    }

    /// Queues a message on `to`'s link; a full queue or a missing link drops
    /// it (the receiver treats the frame as missing, and it is sent again if
    /// the link comes back while its round is open).
    pub fn send_now(&mut self, to: NodeId, msg: PeerMessage) {
        let Some(p) = self.peers.get_mut(to.index()) else {
            return;
        };
        if p.link.is_none() {
            p.stats.dropped += 1;
            return;
        }
        p.backlog.push_back(msg);
        self.drain(to);
    }

    /// Moves what waits for `to` into its link's queue, as far as it has room.
    fn drain(&mut self, to: NodeId) {
        let Some(p) = self.peers.get_mut(to.index()) else {
            return;
        };
        let Some((_, tx)) = p.link.as_ref() else {
            return;
        };
        let (mut frames, mut bytes) = (0u64, 0u64);
        while let Some(msg) = p.backlog.pop_front() {
            let traffic = Traffic::of(&msg);
            match tx.try_send(msg) {
                Ok(()) => {
                    frames += 1;
                    bytes += traffic.bytes;
                    self.metrics.sent(traffic);
                }
                Err(mpsc::error::TrySendError::Full(msg)) => {
                    p.backlog.push_front(msg);
                    break;
                }
                // The link is closing; its Down event follows, and open
                // rounds are sent again on the next link.
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    p.stats.dropped += 1;
                }
            }
        }
        p.stats.frames_out += frames;
        p.stats.bytes_out += bytes;
        let c = self.node.counters_mut();
        c.frames_out += frames;
        c.bytes_out += bytes;
    }

    /// Drains every peer's backlog; called on every event the driver handles.
    fn drain_all(&mut self) {
        for j in 0..self.peers.len() {
            if !self.peers[j].backlog.is_empty() {
                self.drain(NodeId(j as u16));
            }
        }
    }

    fn wake_waiters(&mut self) {
        let (done, keep): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| self.node.is_complete(&w.key));
        self.waiters = keep;
        for w in done {
            let resp = self.report_response(w.key);
            let _ = w.reply.send(resp);
        }
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
            } => match self.node.order(now, protocol, m, value, force) {
                Ok(instance) => {
                    self.flush();
                    // The order was abandoned if its signing state could not be saved.
                    if let Some(spec) = self.node.resolve(instance) {
                        let deadlines_ms = self
                            .node
                            .round_deadlines(&spec)
                            .iter()
                            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                            .collect();
                        ControlResponse::Ordered {
                            instance,
                            deadlines_ms,
                        }
                    } else {
                        ControlResponse::Error {
                            message: "could not persist the signing state; nothing was signed or sent (see the node's log)".into(),
                        }
                    }
                }
                Err(e) => ControlResponse::Error {
                    message: e.to_string(),
                },
            },
            ControlRequest::Wait {
                instance,
                timeout_ms,
            } => {
                let Some(key) = self.node.resolve(instance) else {
                    let message = format!("instance {instance} is unknown to this node");
                    let _ = reply.send(ControlResponse::Error { message });
                    return;
                };
                if self.node.is_complete(&key) || !self.node.holds(&key) {
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
            ControlRequest::Status { instance } => self.status_response(instance, now),
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

    /// The instance as this node sees it: its own outcome plus, at the
    /// commander, every signed report that came back.
    fn report_response(&self, key: InstanceSpec) -> ControlResponse {
        let id = key.id;
        if let Some(report) = self.node.instance_report(&key) {
            return ControlResponse::Report(Box::new(report));
        }
        match self.node.past(&key) {
            Some(r) => ControlResponse::Error {
                message: format!(
                    "instance {id} was decided earlier ({}) and has left memory; its details are in decisions.log",
                    r.decision
                ),
            },
            None => ControlResponse::Error {
                message: format!("instance {id} is unknown to this node"),
            },
        }
    }

    /// `status`, or `status --instance ID`, which also looks in the log
    /// for instances that left memory and is an error for unknown ones.
    fn status_response(&self, only: Option<InstanceId>, now: Instant) -> ControlResponse {
        let mut st = self.status(only, now);
        if let Some(id) = only.filter(|_| st.instances.is_empty()) {
            match self.storage.find_decisions(id) {
                Ok(records) if !records.is_empty() => {
                    let n = self.cfg.n() as u16;
                    let mut lines = Vec::with_capacity(records.len());
                    for r in &records {
                        let spec = InstanceSpec {
                            id: r.instance,
                            protocol: r.protocol,
                            m: r.m,
                            n,
                        };
                        let reports = match r.role {
                            crate::report::Role::Commander => self.storage.count_reports(&spec),
                            crate::report::Role::Lieutenant => Ok(0),
                        };
                        match reports {
                            Ok(reports) => lines.push(InstanceStatus::from_record(r, reports)),
                            Err(e) => {
                                return ControlResponse::Error {
                                    message: e.to_string(),
                                }
                            }
                        }
                    }
                    st.instances = lines;
                }
                Ok(_) => {
                    return ControlResponse::Error {
                        message: format!(
                            "instance {id} is unknown to this node (not in memory, not in decisions.log); \
                             `generals status` lists the instances it knows"
                        ),
                    }
                }
                Err(e) => {
                    return ControlResponse::Error {
                        message: e.to_string(),
                    }
                }
            }
        }
        ControlResponse::Status(Box::new(st))
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
        NodeStatus {
            id: self.node.me(),
            n: self.cfg.n(),
            listen: self.cfg.listen.to_string(),
            uptime_ms: now.saturating_duration_since(self.started).as_millis() as u64,
            fault: self.node.fault_name().map(str::to_owned),
            peers,
            instances: self.node.instance_statuses(only, STATUS_RECENT),
            counters: self.node.counters().clone(),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.storage.dir().to_path_buf()
    }
}

/// One log line per event; the counters hold the numbers. Refused frames
/// are logged per peer and kind on the limiter's steps, each line with how
/// many it held back; the ones held back go to debug.
fn log_event(rejections: &mut LogLimiter<(NodeId, RejectKind)>, ev: &NodeEvent) {
    match ev {
        NodeEvent::Issued { spec, order } => {
            info!(instance = %spec.id, protocol = %spec.protocol, m = spec.m, %order, "issuing order")
        }
        NodeEvent::Joined { spec, from } => {
            info!(instance = %spec.id, protocol = %spec.protocol, m = spec.m, %from, "joined instance")
        }
        NodeEvent::Decided {
            spec,
            decision,
            role,
            ..
        } => info!(instance = %spec.id, %decision, ?role, "decided"),
        NodeEvent::Rejected {
            from,
            instance,
            round,
            kind,
            reason,
        } => {
            let instance = instance.map(|i| i.to_string());
            let loud = kind.is_loud();
            let (key, kind) = ((*from, *kind), kind.as_str());
            match rejections.admit(key, Instant::now()) {
                Some(suppressed) if loud => {
                    warn!(%from, instance = ?instance, round = *round, kind, suppressed, %reason, "frame refused")
                }
                Some(suppressed) => {
                    debug!(%from, instance = ?instance, round = *round, kind, suppressed, %reason, "rejected")
                }
                None => {
                    debug!(%from, instance = ?instance, round = *round, kind, %reason, "rejected (held back)")
                }
            }
        }
        NodeEvent::FrameTooLarge {
            spec,
            to,
            bytes,
            max,
        } => warn!(
            instance = %spec.id, %to, bytes, max,
            "frame larger than max_frame_bytes not sent; raise max_frame_bytes on every node"
        ),
        NodeEvent::LateFrames { spec, from, round } => warn!(
            instance = %spec.id, %from, round,
            "TIMING: a frame arrived after its round closed here; a RETREAT may come from timing, \
             not from the commander. Raise round_timeout_ms (or round_work_factor) on every node"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Keyring, Limits, NodeLimits};
    use generals_config::{generate_testnet, TestnetOptions};
    use generals_crypto::NodeKey;
    use generals_wire::Protocol;

    /// Node 0 of a 4-node testnet with a live link to node 1 whose queue
    /// holds one frame.
    fn node0(dir: &std::path::Path) -> (Driver, mpsc::Receiver<PeerMessage>) {
        let nodes = generate_testnet(&TestnetOptions::new(4, dir.join("tn"))).unwrap();
        let cfg = Arc::new(NodeConfig::load_with_env(&nodes[0].config_path, Vec::new()).unwrap());
        let key = NodeKey::load(&nodes[0].key_path).unwrap();
        let (storage, sign, past) =
            Storage::open(cfg.data_dir(), NodeId(0), &key.public(), false).unwrap();
        let keys = Arc::new(Keyring::new(NodeId(0), Arc::new(key), cfg.public_keys()));
        let limits = NodeLimits::new(Limits::new(cfg.round_timeout()), 256, 16 << 20);
        let node = Node::new(keys, limits, sign, past);
        let (delayed_tx, _) = mpsc::channel(1);
        let metrics = Arc::new(Metrics::new(NodeId(0), 4));
        let mut d = Driver::new(cfg, node, storage, delayed_tx, metrics);
        let (tx, rx) = mpsc::channel(1);
        let up = LinkEvent::Up {
            peer: NodeId(1),
            link: 1,
            tx,
        };
        d.on_link(up, Instant::now());
        (d, rx)
    }

    /// Stamps come from one anchor and the monotonic clock: the start is
    /// never after the decision, and the wall-clock difference is the
    /// monotonic one (to rounding).
    #[test]
    fn decisions_are_stamped_after_their_start_on_one_clock() {
        let clock = WallClock::now();
        let opened = Instant::now();
        let mut record = DecisionRecord {
            instance: InstanceId {
                commander: NodeId(0),
                seq: 1,
            },
            protocol: Protocol::Signed,
            m: 1,
            role: crate::report::Role::Commander,
            decision: generals_crypto::Order::Attack,
            values: Vec::new(),
            evidence: false,
            decided_unix_ms: 0,
            counters: Default::default(),
            times: InstanceTimes::default(),
        };
        clock.stamp(&mut record, Some(opened));
        let t = record.times;
        let (started, decided) = (t.started_unix_us.unwrap(), t.decided_unix_us.unwrap());
        assert!(clock.unix_us <= started && started <= decided, "{t:?}");
        assert!(
            (decided - started).abs_diff(t.decided_after_us.unwrap()) <= 1,
            "{t:?}"
        );
        assert_eq!(record.decided_unix_ms, decided / 1000);
        // Without a known start, only the decision is stamped.
        clock.stamp(&mut record, None);
        assert!(record.times.decided_unix_us.is_some());
        assert_eq!(record.times.started_unix_us, None);
        assert_eq!(record.times.decided_after_us, None);
    }

    /// A full link queue holds frames back instead of dropping them: a
    /// traitor's load on a queue must not cost a peer its frames.
    #[test]
    fn a_full_link_queue_delays_frames_and_drops_none() {
        let dir = tempfile::tempdir().unwrap();
        let (mut d, mut rx) = node0(dir.path());
        let now = Instant::now();
        for _ in 0..3 {
            d.node
                .order(
                    now,
                    Protocol::Signed,
                    1,
                    generals_crypto::Order::Attack,
                    false,
                )
                .unwrap();
        }
        d.flush();
        let p = &d.peers[1];
        assert_eq!(p.stats.dropped, 0);
        assert_eq!(p.backlog.len(), 2, "one frame in the queue, two waiting");
        let mut got = 0;
        while rx.try_recv().is_ok() {
            got += 1;
            d.on_tick(Instant::now());
        }
        assert_eq!(got, 3, "every frame reached the link");
        assert_eq!(d.peers[1].stats.frames_out, 3);
    }
}
