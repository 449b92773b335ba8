//! One instance at one node: the lock-step round driver around an OM or SM
//! state machine.
//!
//! Round 1: the commander sends to every lieutenant. Rounds 2..=m+1: every
//! lieutenant sends exactly one frame (maybe empty) to every other
//! lieutenant. A round closes when every expected frame has arrived, or at
//! its deadline. Frames for later rounds wait in a bounded buffer; frames for
//! earlier rounds are rejected.

use std::sync::Arc;
use std::time::{Duration, Instant};

use generals_crypto::{EquivocationProof, NodeId, Order};
use generals_wire::{InstanceSpec, InstanceTicket, OralBits, Protocol, RoundBody, RoundFrame};

use super::deadline::{DeadlinePolicy, WorkCosts};
use super::oral::{frame_values, OralTree};
use super::paths::MAX_ORAL_NODES;
use super::signed::{check_shape, SignedState, MAX_CHAINS_PER_FRAME};
use super::{Keyring, Rejection, SpecError};

/// How long round `round` may wait: Δ, plus `step` (Δ/2 by default) for
/// every earlier round.
///
/// Why it grows: a loyal node that waited the full deadline in round r (a
/// traitor was silent to it) enters round r+1 up to one deadline after a node
/// that closed round r early. Its frame must still arrive inside the early
/// node's round r+1, so each deadline has to exceed the previous one by more
/// than two link latencies. Quiet networks never wait at all. With a flat
/// deadline (step 0) the simulator finds runs where a loyal lieutenant's
/// frame lands just after a peer's deadline and IC1 breaks (see
/// `a_flat_round_deadline_breaks_agreement` in tests/bounds_and_counts.rs).
pub fn round_deadline(round: u8, delta: Duration, step: Duration) -> Duration {
    delta + step * u32::from(round.saturating_sub(1))
}

/// Per-node limits on one instance.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Δ: how long round 1 waits.
    pub round_timeout: Duration,
    /// How much longer each later round may wait (see [`round_deadline`]).
    pub round_step: Duration,
    /// What this node's work costs; each round also waits for its work,
    /// `work_factor` times over (see [`DeadlinePolicy`]).
    pub work_costs: WorkCosts,
    pub work_factor: u32,
}

impl Limits {
    /// The limits a node runs with: each round may wait Δ/2 longer than the
    /// last, and no work is charged until [`Limits::with_work`].
    pub fn new(round_timeout: Duration) -> Limits {
        Limits {
            round_timeout,
            round_step: round_timeout / 2,
            work_costs: WorkCosts::ZERO,
            work_factor: 0,
        }
    }

    /// Rounds also wait `factor` times the work they need at `costs`.
    pub fn with_work(self, costs: WorkCosts, factor: u32) -> Limits {
        Limits {
            work_costs: costs,
            work_factor: factor,
            ..self
        }
    }

    pub fn deadline_policy(&self) -> DeadlinePolicy {
        DeadlinePolicy {
            delta: self.round_timeout,
            step: self.round_step,
            costs: self.work_costs,
            work_factor: self.work_factor,
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::new(Duration::from_secs(1))
    }
}

/// What a node is in one instance. Serialized lowercase in reports and status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Commander,
    Lieutenant,
}

/// How an instance ended at this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub decision: Order,
    /// SM only: the values in V_i.
    pub values: Vec<Order>,
    /// SM only: proof that the commander signed both values.
    pub evidence: Option<EquivocationProof>,
}

/// What the driver asks its I/O shell to do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum Effect {
    Send {
        to: NodeId,
        frame: RoundFrame,
    },
    Decided(Outcome),
    Rejected {
        from: NodeId,
        round: u8,
        reason: Rejection,
    },
}

#[derive(Debug)]
enum Machine {
    OralCommander,
    Oral(Box<OralTree>),
    Signed(Box<SignedState>),
    /// Decided: the tree or chains are gone, only the outcome stays.
    Done,
}

#[derive(Debug)]
pub struct Instance {
    spec: InstanceSpec,
    /// The commander's signature on `spec`; every frame sent carries it.
    ticket: InstanceTicket,
    me: NodeId,
    role: Role,
    machine: Machine,
    limits: Limits,
    /// Current round, 1..=m+1; m+2 once decided.
    round: u8,
    entered: Instant,
    received: Vec<bool>,
    missing: usize,
    /// (round, sender, body, encoded size of the body)
    future: Vec<(u8, NodeId, RoundBody, usize)>,
    /// Encoded size of `future`'s bodies, kept as they come and go.
    future_bytes: usize,
    outcome: Option<Outcome>,
    signatures_made: u64,
    signatures_verified: u64,
    /// How long each closed round took here, from entering it to closing it.
    round_times: Vec<Duration>,
}

pub(crate) fn validate(spec: &InstanceSpec, keys: &Keyring) -> Result<(), SpecError> {
    let n = keys.n();
    if usize::from(spec.n) != n {
        return Err(SpecError::WrongN {
            got: usize::from(spec.n),
            want: n,
        });
    }
    if spec.id.commander.index() >= n {
        return Err(SpecError::UnknownCommander(spec.id.commander));
    }
    if usize::from(spec.m) + 2 > n {
        return Err(SpecError::MTooLarge { m: spec.m, n });
    }
    if spec.protocol == Protocol::Oral && n > MAX_ORAL_NODES {
        return Err(SpecError::TooManyNodes {
            n,
            max: MAX_ORAL_NODES,
        });
    }
    Ok(())
}

impl Instance {
    /// Starts an instance as its commander. Returns the round-1 frames and the
    /// commander's own outcome (it obeys itself).
    pub fn commander(
        ticket: InstanceTicket,
        keys: Arc<Keyring>,
        order: Order,
        now: Instant,
        limits: Limits,
    ) -> Result<(Instance, Vec<Effect>), SpecError> {
        let spec = ticket.spec;
        validate(&spec, &keys)?;
        let me = keys.me;
        let mut effects = Vec::new();
        let lieutenants = (0..spec.n).map(NodeId).filter(|&j| j != me);
        let machine = match spec.protocol {
            Protocol::Oral => {
                let mut bits = OralBits::zeros(1);
                bits.set(0, order.is_attack());
                for to in lieutenants {
                    let frame = RoundFrame {
                        ticket,
                        round: 1,
                        body: RoundBody::Oral(bits.clone()),
                    };
                    effects.push(Effect::Send { to, frame });
                }
                Machine::OralCommander
            }
            Protocol::Signed => {
                let mut state = SignedState::new(spec, keys.clone());
                let chain = state.command(order);
                for to in lieutenants {
                    let frame = RoundFrame {
                        ticket,
                        round: 1,
                        body: RoundBody::Signed(vec![chain.clone()]),
                    };
                    effects.push(Effect::Send { to, frame });
                }
                Machine::Signed(Box::new(state))
            }
        };
        let outcome = Outcome {
            decision: order,
            values: vec![order],
            evidence: None,
        };
        effects.push(Effect::Decided(outcome.clone()));
        let signatures_made = match &machine {
            Machine::Signed(s) => s.signatures_made,
            _ => 0,
        };
        let instance = Instance {
            spec,
            ticket,
            me,
            role: Role::Commander,
            // The commander's part ends with round 1.
            machine: Machine::Done,
            limits,
            round: spec.m + 2,
            entered: now,
            received: Vec::new(),
            missing: 0,
            future: Vec::new(),
            future_bytes: 0,
            outcome: Some(outcome),
            signatures_made,
            signatures_verified: 0,
            round_times: Vec::new(),
        };
        drop(machine);
        Ok((instance, effects))
    }

    /// Joins an instance as a lieutenant, on the first frame heard of it
    /// (from the commander, or from a relay if the commander was silent).
    /// The caller has checked the ticket: only the commander can issue one,
    /// so round 1 never starts here before the commander sent its order.
    pub fn lieutenant(
        ticket: InstanceTicket,
        keys: Arc<Keyring>,
        now: Instant,
        limits: Limits,
    ) -> Result<Instance, SpecError> {
        let spec = ticket.spec;
        validate(&spec, &keys)?;
        let me = keys.me;
        let c = spec.id.commander;
        if me == c {
            return Err(SpecError::OwnInstance(spec.id));
        }
        let machine = match spec.protocol {
            Protocol::Oral => Machine::Oral(Box::new(OralTree::new(
                usize::from(spec.n),
                spec.m,
                c.0 as u8,
                me.0 as u8,
            )?)),
            Protocol::Signed => Machine::Signed(Box::new(SignedState::new(spec, keys))),
        };
        let mut instance = Instance {
            spec,
            ticket,
            me,
            role: Role::Lieutenant,
            machine,
            limits,
            round: 1,
            entered: now,
            received: vec![false; usize::from(spec.n)],
            missing: 0,
            future: Vec::new(),
            future_bytes: 0,
            outcome: None,
            signatures_made: 0,
            signatures_verified: 0,
            round_times: Vec::new(),
        };
        instance.missing = instance.expected_senders().count();
        Ok(instance)
    }

    pub fn spec(&self) -> &InstanceSpec {
        &self.spec
    }

    pub fn ticket(&self) -> &InstanceTicket {
        &self.ticket
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// The limits this instance was created with; it keeps them to the end.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The round this node is in (m+2 once it has decided).
    pub fn round(&self) -> u8 {
        self.round
    }

    /// Encoded bytes of the frames waiting for a later round.
    pub fn buffered_bytes(&self) -> usize {
        self.future_bytes
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// How long each round this node closed took, from entering it to
    /// closing it (on its last frame or its deadline); rounds 1..=m+1 once
    /// decided. Their sum is the instance's time here. Empty at a commander,
    /// whose part ends as it sends round 1.
    pub fn round_times(&self) -> &[Duration] {
        &self.round_times
    }

    pub fn signatures_made(&self) -> u64 {
        match &self.machine {
            Machine::Signed(s) => s.signatures_made,
            _ => self.signatures_made,
        }
    }

    pub fn signatures_verified(&self) -> u64 {
        match &self.machine {
            Machine::Signed(s) => s.signatures_verified,
            _ => self.signatures_verified,
        }
    }

    /// When [`Instance::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.outcome.is_some() {
            return None;
        }
        Some(
            self.entered
                + self
                    .limits
                    .deadline_policy()
                    .deadline(&self.spec, self.round),
        )
    }

    fn expected_senders(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.spec.n)
            .map(NodeId)
            .filter(|&j| self.sends_in(j, self.round))
    }

    /// Whether `from` has a frame to send this node in `round`: the
    /// commander in round 1, every other lieutenant after it.
    fn sends_in(&self, from: NodeId, round: u8) -> bool {
        let c = self.spec.id.commander;
        from.index() < usize::from(self.spec.n)
            && if round == 1 {
                from == c
            } else {
                from != c && from != self.me
            }
    }

    fn is_expected(&self, from: NodeId) -> bool {
        self.sends_in(from, self.round)
    }

    pub fn handle_frame(
        &mut self,
        now: Instant,
        from: NodeId,
        frame: RoundFrame,
        out: &mut Vec<Effect>,
    ) {
        let round = frame.round;
        let reject = |reason| Effect::Rejected {
            from,
            round,
            reason,
        };
        if frame.ticket != self.ticket {
            out.push(reject(Rejection::SpecMismatch));
            return;
        }
        let last = self.spec.m + 1;
        if round == 0 || round > last {
            out.push(reject(Rejection::RoundOutOfRange { round, last }));
            return;
        }
        if self.role == Role::Commander {
            out.push(reject(Rejection::UnexpectedSender { from, round }));
            return;
        }
        if round < self.round {
            out.push(reject(Rejection::PastRound {
                round,
                current: self.round,
            }));
            return;
        }
        if round > self.round {
            // Checked now, so what waits is only what a loyal sender could
            // send: one frame per (round, sender), of the round's shape.
            if let Err(reason) = self.precheck(from, round, &frame.body) {
                out.push(reject(reason));
            } else if self
                .future
                .iter()
                .any(|(r, f, _, _)| *r == round && *f == from)
            {
                out.push(reject(Rejection::Duplicate { from, round }));
            } else {
                let size = generals_wire::encoded_len(&frame.body);
                self.future_bytes += size;
                self.future.push((round, from, frame.body, size));
            }
            return;
        }
        self.deliver(from, frame.body, out);
        self.advance(now, out);
    }

    /// Whether a frame for a later round has the shape that round needs,
    /// without verifying anything expensive.
    fn precheck(&self, from: NodeId, round: u8, body: &RoundBody) -> Result<(), Rejection> {
        if !self.sends_in(from, round) {
            return Err(Rejection::UnexpectedSender { from, round });
        }
        match (&self.machine, body) {
            (_, RoundBody::Empty) => Ok(()),
            (Machine::Oral(_), RoundBody::Oral(bits)) => {
                bits.check().map_err(Rejection::OralShape)?;
                let expected = frame_values(usize::from(self.spec.n), round).unwrap_or(0);
                if u64::from(bits.len()) != expected {
                    return Err(Rejection::OralCount {
                        expected,
                        got: u64::from(bits.len()),
                    });
                }
                Ok(())
            }
            (Machine::Signed(_), RoundBody::Signed(chains)) => {
                if chains.len() > MAX_CHAINS_PER_FRAME {
                    return Err(Rejection::TooManyChains {
                        got: chains.len(),
                        max: MAX_CHAINS_PER_FRAME,
                    });
                }
                chains
                    .iter()
                    .try_for_each(|chain| check_shape(&self.spec, round, chain))
            }
            _ => Err(Rejection::WrongBodyKind),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Effect>) {
        if self.poll_timeout().is_some_and(|t| now >= t) {
            self.close_round(now, out);
            self.advance(now, out);
        }
    }

    fn deliver(&mut self, from: NodeId, body: RoundBody, out: &mut Vec<Effect>) {
        let round = self.round;
        if !self.is_expected(from) {
            out.push(Effect::Rejected {
                from,
                round,
                reason: Rejection::UnexpectedSender { from, round },
            });
            return;
        }
        if std::mem::replace(&mut self.received[from.index()], true) {
            out.push(Effect::Rejected {
                from,
                round,
                reason: Rejection::Duplicate { from, round },
            });
            return;
        }
        self.missing -= 1;
        let mut rejected = Vec::new();
        match (&mut self.machine, &body) {
            (Machine::Oral(tree), RoundBody::Oral(bits)) => {
                if let Err(reason) = tree.store(round, from.0 as u8, bits) {
                    rejected.push(reason);
                }
            }
            // Nothing to relay: the values stay RETREAT.
            (Machine::Oral(_), RoundBody::Empty) => {}
            (Machine::Signed(state), body) => state.receive(round, from, body, &mut rejected),
            _ => rejected.push(Rejection::WrongBodyKind),
        }
        out.extend(rejected.into_iter().map(|reason| Effect::Rejected {
            from,
            round,
            reason,
        }));
    }

    /// Closes rounds for as long as every expected frame is in.
    fn advance(&mut self, now: Instant, out: &mut Vec<Effect>) {
        while self.outcome.is_none() && self.missing == 0 {
            self.close_round(now, out);
        }
    }

    fn close_round(&mut self, now: Instant, out: &mut Vec<Effect>) {
        if self.outcome.is_some() {
            return;
        }
        self.round_times
            .push(now.saturating_duration_since(self.entered));
        if self.round > self.spec.m {
            let outcome = match &mut self.machine {
                Machine::Oral(tree) => Outcome {
                    decision: tree.decide(),
                    values: Vec::new(),
                    evidence: None,
                },
                Machine::Signed(state) => Outcome {
                    decision: state.decide(),
                    values: state.values().collect(),
                    evidence: state.evidence().cloned(),
                },
                Machine::OralCommander | Machine::Done => return,
            };
            self.round = self.spec.m + 2;
            self.future.clear();
            self.future_bytes = 0;
            self.signatures_made = self.signatures_made();
            self.signatures_verified = self.signatures_verified();
            // The tree (up to a GiB for large OM) is not needed any more.
            self.machine = Machine::Done;
            self.outcome = Some(outcome.clone());
            out.push(Effect::Decided(outcome));
            return;
        }
        self.round += 1;
        self.entered = now;
        self.received.iter_mut().for_each(|r| *r = false);
        self.missing = self.expected_senders().count();
        let round = self.round;
        let frames: Vec<(NodeId, RoundBody)> = match &mut self.machine {
            Machine::Oral(tree) => tree
                .frames(round)
                .into_iter()
                .map(|(j, bits)| (NodeId(u16::from(j)), RoundBody::Oral(bits)))
                .collect(),
            Machine::Signed(state) => state.frames(round),
            Machine::OralCommander | Machine::Done => Vec::new(),
        };
        let ticket = self.ticket;
        out.extend(frames.into_iter().map(|(to, body)| Effect::Send {
            to,
            frame: RoundFrame {
                ticket,
                round,
                body,
            },
        }));
        let (ready, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.future)
            .into_iter()
            .partition(|(r, _, _, _)| *r == round);
        self.future = later;
        self.future_bytes -= ready.iter().map(|(_, _, _, size)| size).sum::<usize>();
        for (_, from, body, _) in ready {
            self.deliver(from, body, out);
        }
    }
}

#[cfg(test)]
mod tests {
    //! Every typed rejection the driver can produce, each provoked on purpose.

    use super::*;
    use generals_crypto::{ChainError, InstanceId, NodeKey, Sig, SignedOrder};

    const N: u16 = 5;
    const ID: InstanceId = InstanceId {
        commander: NodeId(0),
        seq: 1,
    };

    fn keys(me: u16) -> (Arc<Keyring>, Vec<Arc<NodeKey>>) {
        let all: Vec<Arc<NodeKey>> = (0..N)
            .map(|i| Arc::new(NodeKey::from_seed([i as u8 + 1; 32])))
            .collect();
        let peers = all.iter().map(|k| k.public()).collect();
        (
            Arc::new(Keyring::new(
                NodeId(me),
                all[usize::from(me)].clone(),
                peers,
            )),
            all,
        )
    }

    /// The cluster of the N test keys: every chain here is signed for it.
    fn cl() -> generals_crypto::ClusterId {
        let peers: Vec<_> = (0..N)
            .map(|i| NodeKey::from_seed([i as u8 + 1; 32]).public())
            .collect();
        generals_crypto::ClusterId::of(&peers)
    }

    /// Commander 0's ticket for `spec` (the cluster's identity is irrelevant
    /// here: an instance compares tickets, the node verifies them).
    fn tk(spec: InstanceSpec) -> InstanceTicket {
        let c = NodeKey::from_seed([1; 32]);
        InstanceTicket::issue(&c, &generals_crypto::ClusterId([0; 32]), spec)
    }

    fn spec(protocol: Protocol) -> InstanceSpec {
        InstanceSpec {
            id: ID,
            protocol,
            m: 2,
            n: N,
        }
    }

    fn lieutenant(protocol: Protocol) -> (Instance, Vec<Arc<NodeKey>>, Instant) {
        let (ring, all) = keys(1);
        let now = Instant::now();
        let limits = Limits::new(Duration::from_secs(1));
        (
            Instance::lieutenant(tk(spec(protocol)), ring, now, limits).unwrap(),
            all,
            now,
        )
    }

    /// Feeds one frame and returns the kinds of everything rejected.
    fn reject(inst: &mut Instance, now: Instant, from: u16, frame: RoundFrame) -> Vec<Rejection> {
        let mut out = Vec::new();
        inst.handle_frame(now, NodeId(from), frame, &mut out);
        out.into_iter()
            .filter_map(|e| match e {
                Effect::Rejected { reason, .. } => Some(reason),
                _ => None,
            })
            .collect()
    }

    fn signed(round: u8, chains: Vec<SignedOrder>) -> RoundFrame {
        RoundFrame {
            ticket: tk(spec(Protocol::Signed)),
            round,
            body: RoundBody::Signed(chains),
        }
    }

    /// OM's path index stops at MAX_ORAL_NODES generals; SM has no such
    /// limit. Mutants seen to fail it: the protocol test made `!=`, the
    /// size test made `==` or `>=`.
    #[test]
    fn oral_specs_stop_at_max_oral_nodes_and_signed_specs_do_not() {
        let check = |protocol: Protocol, n: usize| {
            // Seeds [i, 7, 0, ...]: n distinct keys.
            let peers = (0..n)
                .map(|i| {
                    let mut seed = [0u8; 32];
                    seed[0] = i as u8;
                    seed[1] = 7;
                    NodeKey::from_seed(seed).public()
                })
                .collect();
            let ring = Keyring::new(NodeId(0), Arc::new(NodeKey::from_seed([9; 32])), peers);
            let spec = InstanceSpec {
                id: ID,
                protocol,
                m: 1,
                n: n as u16,
            };
            validate(&spec, &ring)
        };
        assert_eq!(check(Protocol::Oral, MAX_ORAL_NODES), Ok(()));
        assert_eq!(
            check(Protocol::Oral, MAX_ORAL_NODES + 1),
            Err(SpecError::TooManyNodes {
                n: MAX_ORAL_NODES + 1,
                max: MAX_ORAL_NODES
            })
        );
        assert_eq!(check(Protocol::Signed, MAX_ORAL_NODES + 1), Ok(()));
    }

    #[test]
    fn round_level_rejections() {
        let (mut l, all, now) = lieutenant(Protocol::Signed);
        let root = SignedOrder::new(&all[0], &cl(), ID, 2, Order::Attack);
        let other = InstanceSpec {
            m: 1,
            ..spec(Protocol::Signed)
        };
        assert_eq!(
            reject(
                &mut l,
                now,
                0,
                RoundFrame {
                    ticket: tk(other),
                    round: 1,
                    body: RoundBody::Empty
                }
            ),
            vec![Rejection::SpecMismatch]
        );
        assert_eq!(
            reject(&mut l, now, 0, signed(4, vec![])),
            vec![Rejection::RoundOutOfRange { round: 4, last: 3 }]
        );
        assert_eq!(
            reject(&mut l, now, 2, signed(1, vec![])),
            vec![Rejection::UnexpectedSender {
                from: NodeId(2),
                round: 1
            }]
        );
        // Future rounds are buffered, up to the limit, once per sender.
        assert!(reject(&mut l, now, 2, signed(2, vec![])).is_empty());
        assert_eq!(
            reject(&mut l, now, 2, signed(2, vec![])),
            vec![Rejection::Duplicate {
                from: NodeId(2),
                round: 2
            }]
        );
        assert!(reject(&mut l, now, 3, signed(2, vec![])).is_empty());
        // A frame for a later round is checked against its round's shape
        // before it may wait: here a chain that breaks the round rule.
        let early = SignedOrder::new(&all[0], &cl(), ID, 2, Order::Attack);
        assert_eq!(
            reject(&mut l, now, 4, signed(3, vec![early])),
            vec![Rejection::WrongRound {
                signatures: 1,
                round: 3
            }]
        );
        assert_eq!(
            l.buffered_bytes(),
            2 * generals_wire::encoded_len(&RoundBody::Signed(vec![]))
        );
        // Round 1 closes on the commander's frame; a second one is then past.
        assert!(reject(&mut l, now, 0, signed(1, vec![root.clone()])).is_empty());
        assert_eq!(l.round(), 2);
        assert_eq!(
            reject(&mut l, now, 0, signed(1, vec![root])),
            vec![Rejection::PastRound {
                round: 1,
                current: 2
            }]
        );
        // The commander sends nothing after round 1.
        assert_eq!(
            reject(&mut l, now, 0, signed(2, vec![])),
            vec![Rejection::UnexpectedSender {
                from: NodeId(0),
                round: 2
            }]
        );
        let oral = RoundFrame {
            ticket: tk(spec(Protocol::Signed)),
            round: 2,
            body: RoundBody::Oral(OralBits::zeros(3)),
        };
        assert_eq!(reject(&mut l, now, 4, oral), vec![Rejection::WrongBodyKind]);
    }

    #[test]
    fn chain_rejections_in_round_two() {
        let (mut l, all, now) = lieutenant(Protocol::Signed);
        let root = SignedOrder::new(&all[0], &cl(), ID, 2, Order::Attack);
        assert!(reject(&mut l, now, 0, signed(1, vec![root.clone()])).is_empty());
        let by = |c: &SignedOrder, who: u16| c.extended(&all[usize::from(who)], &cl(), NodeId(who));

        let other_instance = SignedOrder::new(
            &all[0],
            &cl(),
            InstanceId { seq: 9, ..ID },
            2,
            Order::Attack,
        );
        let other_m = SignedOrder::new(&all[0], &cl(), ID, 1, Order::Attack);
        let mut bad_sig = by(&root, 2);
        bad_sig.links[1].sig = Sig([7; 64]);
        let mut foreign = SignedOrder {
            links: vec![],
            ..root.clone()
        };
        foreign.push_signature(&all[3], &cl(), NodeId(3));
        let cases: Vec<(u16, SignedOrder, Rejection)> = vec![
            (
                2,
                by(&other_instance, 2),
                Rejection::WrongInstance {
                    got: other_instance.instance,
                },
            ),
            (2, by(&other_m, 2), Rejection::WrongM { got: 1, want: 2 }),
            (
                2,
                root.clone(),
                Rejection::WrongRound {
                    signatures: 1,
                    round: 2,
                },
            ),
            (
                2,
                by(&root, 3),
                Rejection::LastSignerNotLink {
                    last: Some(NodeId(3)),
                    link: NodeId(2),
                },
            ),
            (
                2,
                by(&by(&root, 1), 2),
                Rejection::WrongRound {
                    signatures: 3,
                    round: 2,
                },
            ),
            (
                2,
                bad_sig,
                Rejection::Chain(ChainError::BadSignature {
                    position: 1,
                    signer: NodeId(2),
                }),
            ),
            (
                3,
                by(&foreign, 3),
                Rejection::Chain(ChainError::FirstSignerNotCommander {
                    commander: NodeId(0),
                    found: NodeId(3),
                }),
            ),
        ];
        for (i, (from, chain, want)) in cases.into_iter().enumerate() {
            let mut fresh = lieutenant(Protocol::Signed).0;
            assert!(reject(&mut fresh, now, 0, signed(1, vec![root.clone()])).is_empty());
            assert_eq!(
                reject(&mut fresh, now, from, signed(2, vec![chain])),
                vec![want],
                "case {i}"
            );
        }
        // A chain that already carries the receiver's own signature.
        let three = by(&by(&root, 1), 2);
        let mut round3 = lieutenant(Protocol::Signed).0;
        assert!(reject(&mut round3, now, 0, signed(1, vec![root.clone()])).is_empty());
        for j in [2u16, 3, 4] {
            assert!(reject(&mut round3, now, j, signed(2, vec![])).is_empty());
        }
        assert_eq!(round3.round(), 3);
        assert_eq!(
            reject(&mut round3, now, 2, signed(3, vec![three])),
            vec![Rejection::ContainsReceiver]
        );
        // More than two chains in one frame: the extras are not even read.
        let many = vec![by(&root, 2), by(&root, 2), by(&root, 2)];
        assert_eq!(
            reject(&mut l, now, 2, signed(2, many)),
            vec![Rejection::TooManyChains {
                got: 3,
                max: super::super::signed::MAX_CHAINS_PER_FRAME
            }]
        );
    }

    #[test]
    fn a_node_cannot_join_its_own_instance_as_a_lieutenant() {
        let (ring, _) = keys(0);
        let err = Instance::lieutenant(
            tk(spec(Protocol::Oral)),
            ring,
            Instant::now(),
            Limits::default(),
        )
        .unwrap_err();
        assert_eq!(err, SpecError::OwnInstance(ID));
        assert!(
            err.to_string().contains("commander of instance 0-1"),
            "{err}"
        );
    }

    #[test]
    fn buffered_bytes_follow_frames_in_and_out() {
        let (mut l, all, now) = lieutenant(Protocol::Signed);
        assert_eq!(l.buffered_bytes(), 0);
        let early = signed(2, vec![]);
        let size = generals_wire::encoded_len(&early.body);
        assert!(reject(&mut l, now, 2, early).is_empty());
        assert!(reject(&mut l, now, 3, signed(2, vec![])).is_empty());
        assert_eq!(l.buffered_bytes(), 2 * size);
        // The commander's frame opens round 2, which consumes both.
        let root = SignedOrder::new(&all[0], &cl(), ID, 2, Order::Attack);
        assert!(reject(&mut l, now, 0, signed(1, vec![root])).is_empty());
        assert_eq!(l.round(), 2);
        assert_eq!(
            l.buffered_bytes(),
            0,
            "delivered frames must leave the count"
        );
    }

    #[test]
    fn every_rejection_has_a_distinct_stable_kind() {
        let samples = [
            Rejection::PastRound {
                round: 1,
                current: 2,
            },
            Rejection::RoundOutOfRange { round: 9, last: 3 },
            Rejection::UnexpectedSender {
                from: NodeId(1),
                round: 1,
            },
            Rejection::Duplicate {
                from: NodeId(1),
                round: 1,
            },
            Rejection::SpecMismatch,
            Rejection::WrongBodyKind,
            Rejection::OralShape(generals_wire::OralBitsError::Padding),
            Rejection::OralCount {
                expected: 1,
                got: 2,
            },
            Rejection::TooManyChains { got: 3, max: 2 },
            Rejection::WrongInstance { got: ID },
            Rejection::WrongM { got: 1, want: 2 },
            Rejection::WrongRound {
                signatures: 1,
                round: 2,
            },
            Rejection::LastSignerNotLink {
                last: None,
                link: NodeId(1),
            },
            Rejection::ContainsReceiver,
            Rejection::Chain(ChainError::BadSignature {
                position: 0,
                signer: NodeId(0),
            }),
            Rejection::Chain(ChainError::UnknownSigner { signer: NodeId(9) }),
            Rejection::Chain(ChainError::DuplicateSigner { signer: NodeId(1) }),
            Rejection::Chain(ChainError::FirstSignerNotCommander {
                commander: NodeId(0),
                found: NodeId(1),
            }),
        ];
        let kinds: std::collections::BTreeSet<&str> =
            samples.iter().map(|r| r.kind().as_str()).collect();
        assert_eq!(
            kinds.len(),
            samples.len(),
            "two rejections share a metrics label"
        );
        assert!(kinds
            .iter()
            .all(|k| k.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    }
}
