//! Traitor behaviour, for tests and demonstrations only.
//!
//! A traitor runs the loyal state machine; a [`Coalition`] then rewrites what
//! it sends, as a proxy on its outgoing frames. The protocol code has no
//! `if traitor` branches. The coalition holds every traitor's key, because
//! the model lets traitors collude.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use generals_crypto::{ClusterId, InstanceId, NodeId, NodeKey, Order, Sig, SignedOrder};
use generals_wire::{InstanceSpec, InstanceTicket, OralBits, Protocol, RoundBody, RoundFrame};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// A traitor's strategy: the `[fault] strategy` vocabulary of the config.
///
/// - flip: invert every value sent (SM lieutenant: tamper with the value).
/// - split / equivocate: odd ids (or the targets) get the inverted value; an
///   SM commander signs both values; an SM lieutenant relays to half only.
/// - random: a random choice for every frame, and random values within it.
/// - silent: sends nothing. partial: silent to odd ids (or the targets).
/// - forge: SM chains with a tampered value, a bad signature, a signature
///   under the wrong key, or a signature replayed from another instance; OM
///   frames of the wrong size.
/// - late-reveal: the SM commander and up to m-1 traitor lieutenants hold a
///   second value back and reveal it at the last legal round (even seeds) or
///   only after it (odd seeds). OM: behaves as forge.
/// - delay: everything arrives after the receiver's round deadline.
/// - precreate: before the order, frames for loyal commanders' next
///   instances (see [`Coalition::opening_moves`]); then loyal relays.
/// - hog: before the order, every slot and budget it can reach filled with
///   instances of its own; as commander, its real order to some only.
/// - dup-signer: with a traitor commander, a traitor lieutenant gives one
///   loyal lieutenant, in the last round (m >= 2), a chain for the other
///   value signed by the commander and then by itself again and again
///   (c:t:t…): only the distinct-signers rule refuses it. OM: as forge.
pub use generals_config::FaultStrategy as Strategy;

/// The strategies the exhaustive oral tests enumerate.
pub const ORAL_STRATEGIES: [Strategy; 6] = [
    Strategy::Flip,
    Strategy::Split,
    Strategy::Random,
    Strategy::Silent,
    Strategy::Partial,
    Strategy::Forge,
];

/// The strategies the exhaustive signed tests enumerate.
pub const SIGNED_STRATEGIES: [Strategy; 9] = [
    Strategy::Equivocate,
    Strategy::Flip,
    Strategy::Random,
    Strategy::Silent,
    Strategy::Partial,
    Strategy::Forge,
    Strategy::LateReveal,
    Strategy::Delay,
    Strategy::DupSigner,
];

/// What a traitor actually sends on one link.
#[derive(Debug)]
pub struct Outgoing {
    /// None: nothing at all (the receiver waits for its deadline).
    pub body: Option<RoundBody>,
    /// Extra delay before it is sent.
    pub delay: Duration,
}

/// The traitors of a run, their strategies and keys.
#[derive(Debug)]
pub struct Coalition {
    strategies: BTreeMap<NodeId, Strategy>,
    keys: BTreeMap<NodeId, Arc<NodeKey>>,
    targets: BTreeSet<NodeId>,
    rng: ChaCha8Rng,
    /// A commander signature from another instance, "captured earlier", for
    /// replay forgeries.
    captured: Option<SignedOrder>,
    delay: Duration,
    /// Late reveal: reveal only after the last legal round (odd seeds),
    /// instead of at the last legal round (even seeds).
    too_late_only: bool,
    /// What our own commanders really ordered, seen on their round-1 frames.
    commanded: BTreeMap<InstanceId, Order>,
    /// The cluster the traitors sign in (see [`Coalition::with_cluster`]).
    cluster: ClusterId,
    pub signatures_made: u64,
    /// With [`Coalition::with_log`]: every rewrite, for pictures of a run.
    log: Option<Vec<Rewrite>>,
}

/// One frame a traitor's loyal core wanted to send, and what went out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewrite {
    pub spec: InstanceSpec,
    pub from: NodeId,
    pub to: NodeId,
    pub round: u8,
    /// What the loyal core built from what this traitor had received.
    pub honest: RoundBody,
    /// What the coalition sent instead (None: nothing).
    pub sent: Option<RoundBody>,
}

impl Coalition {
    pub fn new(
        strategies: BTreeMap<NodeId, Strategy>,
        keys: BTreeMap<NodeId, Arc<NodeKey>>,
        seed: u64,
    ) -> Coalition {
        Coalition {
            strategies,
            keys,
            targets: BTreeSet::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            captured: None,
            delay: Duration::from_secs(10),
            too_late_only: seed % 2 == 1,
            commanded: BTreeMap::new(),
            cluster: ClusterId([0; 32]),
            signatures_made: 0,
            log: None,
        }
    }

    /// Keeps every rewrite (see [`Coalition::take_log`]); off by default,
    /// since a long search would keep every frame.
    pub fn with_log(mut self) -> Coalition {
        self.log = Some(Vec::new());
        self
    }

    /// The rewrites kept since [`Coalition::with_log`], oldest first.
    pub fn take_log(&mut self) -> Vec<Rewrite> {
        self.log.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Receivers that split and partial single out, instead of odd ids.
    pub fn with_targets(mut self, targets: impl IntoIterator<Item = NodeId>) -> Coalition {
        self.targets = targets.into_iter().collect();
        self
    }

    /// The cluster whose peer table the traitors' chains are signed for;
    /// without it their forgeries would fail for the wrong reason.
    pub fn with_cluster(mut self, cluster: ClusterId) -> Coalition {
        self.cluster = cluster;
        self
    }

    pub fn with_captured(mut self, chain: SignedOrder) -> Coalition {
        self.captured = Some(chain);
        self
    }

    /// How late "delay" frames are (should exceed the receiver's deadline).
    pub fn with_delay(mut self, delay: Duration) -> Coalition {
        self.delay = delay;
        self
    }

    pub fn strategy_of(&self, id: NodeId) -> Option<Strategy> {
        self.strategies.get(&id).copied()
    }

    pub fn is_traitor(&self, id: NodeId) -> bool {
        self.strategies.contains_key(&id)
    }

    pub fn traitors(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.strategies.keys().copied()
    }

    fn singled_out(&self, to: NodeId) -> bool {
        if self.targets.is_empty() {
            to.0 % 2 == 1
        } else {
            self.targets.contains(&to)
        }
    }

    /// Rewrites the frame traitor `from` would loyally send `to` in `round`.
    pub fn rewrite(
        &mut self,
        spec: &InstanceSpec,
        from: NodeId,
        to: NodeId,
        round: u8,
        body: RoundBody,
    ) -> Outgoing {
        let honest = self.log.is_some().then(|| body.clone());
        let out = self.rewrite_frame(spec, from, to, round, body);
        if let (Some(log), Some(honest)) = (self.log.as_mut(), honest) {
            log.push(Rewrite {
                spec: *spec,
                from,
                to,
                round,
                honest,
                sent: out.body.clone(),
            });
        }
        out
    }

    fn rewrite_frame(
        &mut self,
        spec: &InstanceSpec,
        from: NodeId,
        to: NodeId,
        round: u8,
        body: RoundBody,
    ) -> Outgoing {
        let send = |body| Outgoing {
            body: Some(body),
            delay: Duration::ZERO,
        };
        let Some(&strategy) = self.strategies.get(&from) else {
            return send(body);
        };
        if from == spec.id.commander {
            let order = match &body {
                RoundBody::Oral(bits) => Some(Order::from_bit(bits.get(0))),
                RoundBody::Signed(chains) => chains.first().map(|c| c.order),
                RoundBody::Empty => None,
            };
            if let Some(order) = order {
                self.commanded.entry(spec.id).or_insert(order);
            }
        }
        let strategy = match strategy {
            Strategy::Random => self.random_strategy(spec.protocol),
            s => s,
        };
        match strategy {
            Strategy::Silent => Outgoing {
                body: None,
                delay: Duration::ZERO,
            },
            Strategy::Partial if self.singled_out(to) => Outgoing {
                body: None,
                delay: Duration::ZERO,
            },
            Strategy::Partial => send(body),
            // A hogging commander then gives its real order to some only
            // (the shared-buffer attack): the rest must learn it from relays.
            Strategy::Hog if from == spec.id.commander && self.singled_out(to) => Outgoing {
                body: None,
                delay: Duration::ZERO,
            },
            // Their harm is in what they send before the order (see
            // `opening_moves`); their relays are honest.
            Strategy::Hog | Strategy::Precreate => send(body),
            Strategy::Delay => Outgoing {
                body: Some(body),
                delay: self.delay,
            },
            _ => match spec.protocol {
                Protocol::Oral => send(self.oral(strategy, to, body)),
                Protocol::Signed => match self.signed(spec, strategy, from, to, round, body) {
                    Some(b) => send(b),
                    None => Outgoing {
                        body: None,
                        delay: Duration::ZERO,
                    },
                },
            },
        }
    }

    fn random_strategy(&mut self, protocol: Protocol) -> Strategy {
        // Per-frame choice; Random itself is re-read below as per-value noise.
        let pool: &[Strategy] = match protocol {
            Protocol::Oral => &[
                Strategy::Flip,
                Strategy::Split,
                Strategy::Silent,
                Strategy::Random,
                Strategy::Forge,
            ],
            Protocol::Signed => &[
                Strategy::Flip,
                Strategy::Equivocate,
                Strategy::Silent,
                Strategy::Forge,
                Strategy::Delay,
                Strategy::Random,
            ],
        };
        pool[(self.rng.next_u32() as usize) % pool.len()]
    }

    fn oral(&mut self, strategy: Strategy, to: NodeId, body: RoundBody) -> RoundBody {
        let RoundBody::Oral(mut bits) = body else {
            return body;
        };
        match strategy {
            Strategy::Flip => bits.invert(),
            Strategy::Split | Strategy::Equivocate if self.singled_out(to) => bits.invert(),
            Strategy::Random => {
                for i in 0..bits.len() as usize {
                    bits.set(i, self.rng.next_u32() & 1 == 1);
                }
            }
            Strategy::Forge | Strategy::LateReveal | Strategy::DupSigner => {
                return RoundBody::Oral(OralBits::zeros(bits.len() + 1 + self.rng.next_u32() % 8));
            }
            _ => {}
        }
        RoundBody::Oral(bits)
    }

    fn key(&self, id: NodeId) -> Option<Arc<NodeKey>> {
        self.keys.get(&id).cloned()
    }

    /// A fresh commander-signed order, if the commander is one of us.
    fn commander_chain(&mut self, spec: &InstanceSpec, order: Order) -> Option<SignedOrder> {
        let key = self.key(spec.id.commander)?;
        self.signatures_made += 1;
        Some(SignedOrder::new(
            &key,
            &self.cluster,
            spec.id,
            spec.m,
            order,
        ))
    }

    fn signed(
        &mut self,
        spec: &InstanceSpec,
        strategy: Strategy,
        from: NodeId,
        to: NodeId,
        round: u8,
        body: RoundBody,
    ) -> Option<RoundBody> {
        let chains = match body {
            RoundBody::Signed(c) => c,
            RoundBody::Empty => Vec::new(),
            other => return Some(other),
        };
        let commander = from == spec.id.commander;
        let out: Vec<SignedOrder> = match strategy {
            Strategy::Split | Strategy::Equivocate if commander => {
                let order = chains.first().map(|c| c.order).unwrap_or_default();
                if self.singled_out(to) {
                    self.commander_chain(spec, order.flipped())
                        .into_iter()
                        .collect()
                } else {
                    chains
                }
            }
            Strategy::Split | Strategy::Equivocate => {
                if self.singled_out(to) {
                    Vec::new()
                } else {
                    chains
                }
            }
            Strategy::Flip if commander => {
                let order = chains.first().map(|c| c.order).unwrap_or_default();
                self.commander_chain(spec, order.flipped())
                    .into_iter()
                    .collect()
            }
            Strategy::Flip => chains
                .into_iter()
                .map(|c| SignedOrder {
                    order: c.order.flipped(),
                    ..c
                })
                .collect(),
            Strategy::Forge => self.forge(spec, from, to, round, chains),
            Strategy::LateReveal => self.late_reveal(spec, from, to, round, chains),
            Strategy::DupSigner => self.dup_signer(spec, from, to, round, chains),
            Strategy::Random => {
                // Per-chain noise: drop, keep or corrupt each chain.
                chains
                    .into_iter()
                    .filter_map(|mut c| match self.rng.next_u32() % 3 {
                        0 => None,
                        1 => Some(c),
                        _ => {
                            if let Some(l) = c.links.last_mut() {
                                l.sig.0[0] ^= 0x80;
                            }
                            Some(c)
                        }
                    })
                    .collect()
            }
            _ => chains,
        };
        Some(if out.is_empty() {
            RoundBody::Empty
        } else {
            RoundBody::Signed(out)
        })
    }

    /// Replaces the frame with one forged chain (rotating through the kinds
    /// of forgery), keeping at most one genuine chain beside it.
    fn forge(
        &mut self,
        spec: &InstanceSpec,
        from: NodeId,
        to: NodeId,
        round: u8,
        mut chains: Vec<SignedOrder>,
    ) -> Vec<SignedOrder> {
        let Some(my_key) = self.key(from) else {
            return chains;
        };
        let base = chains.first().cloned();
        let order = base.as_ref().map(|c| c.order).unwrap_or(Order::Attack);
        let kind = (u32::from(round) + u32::from(to.0)) % 4;
        let forged = match (kind, base) {
            // The value changed under genuine signatures.
            (0, Some(c)) => Some(SignedOrder {
                order: c.order.flipped(),
                ..c
            }),
            // Our own link replaced by garbage.
            (1, Some(mut c)) => {
                if let Some(l) = c.links.last_mut() {
                    l.sig = Sig([0xa5; 64]);
                }
                Some(c)
            }
            // The commander's signature made with our key, at the right length.
            (2, _) | (0 | 1, None) => {
                let mut c = SignedOrder {
                    instance: spec.id,
                    m: spec.m,
                    order: order.flipped(),
                    links: Vec::new(),
                };
                c.push_signature(&my_key, &self.cluster, spec.id.commander);
                self.signatures_made += 1;
                for pad in (0..spec.n)
                    .map(NodeId)
                    .filter(|&j| j != spec.id.commander && j != from && j != to)
                {
                    if c.len() + 1 >= usize::from(round) {
                        break;
                    }
                    c.push_signature(&my_key, &self.cluster, pad);
                    self.signatures_made += 1;
                }
                if from != spec.id.commander {
                    c.push_signature(&my_key, &self.cluster, from);
                    self.signatures_made += 1;
                }
                Some(c)
            }
            // A genuine commander signature from another instance.
            _ => self.captured.clone().map(|c| {
                self.signatures_made += 1;
                c.extended(&my_key, &self.cluster, from)
            }),
        };
        chains.truncate(1);
        chains.extend(forged);
        chains
    }

    /// A chain for the value the commander did not order, of the right
    /// length for the last round, whose signers repeat: the commander, then
    /// `from` for every other link. Sent to the lowest-id loyal lieutenant
    /// only, when no loyal lieutenant could relay it any more.
    fn dup_signer(
        &mut self,
        spec: &InstanceSpec,
        from: NodeId,
        to: NodeId,
        round: u8,
        mut chains: Vec<SignedOrder>,
    ) -> Vec<SignedOrder> {
        let c = spec.id.commander;
        let target = (0..spec.n)
            .map(NodeId)
            .find(|&j| j != c && !self.is_traitor(j));
        if from == c || round != spec.m + 1 || round < 3 || Some(to) != target {
            return chains;
        }
        let (Some(&order), Some(key)) = (self.commanded.get(&spec.id), self.key(from)) else {
            return chains;
        };
        let Some(mut forged) = self.commander_chain(spec, order.flipped()) else {
            return chains;
        };
        while forged.len() < usize::from(round) {
            forged.push_signature(&key, &self.cluster, from);
            self.signatures_made += 1;
        }
        chains.truncate(1);
        chains.push(forged);
        chains
    }

    /// The late reveal: the commander and traitor lieutenants t1..tk (k <=
    /// m-1) sign a second value. With an even seed, tk delivers it in round
    /// k+1 to one loyal lieutenant, the latest round the rule allows (relays
    /// then defeat it). With an odd seed, tk delivers it only in round m+1,
    /// when no loyal lieutenant could relay it any more: only the round rule
    /// stops that one.
    fn late_reveal(
        &mut self,
        spec: &InstanceSpec,
        from: NodeId,
        to: NodeId,
        round: u8,
        chains: Vec<SignedOrder>,
    ) -> Vec<SignedOrder> {
        let c = spec.id.commander;
        let traitor_lts: Vec<NodeId> = self
            .strategies
            .iter()
            .filter(|(id, s)| **id != c && **s == Strategy::LateReveal)
            .map(|(id, _)| *id)
            .take(usize::from(spec.m.saturating_sub(1)))
            .collect();
        let loyal: Vec<NodeId> = (0..spec.n)
            .map(NodeId)
            .filter(|&j| j != c && !self.is_traitor(j))
            .collect();
        let (Some(&first_target), Some(&late_target)) = (loyal.last(), loyal.first()) else {
            return chains;
        };
        if !self.is_traitor(c) {
            // Without the commander's key there is no second value: hold our
            // relays back and try to deliver them in the last round, too late.
            return if round == spec.m + 1 {
                chains
            } else {
                Vec::new()
            };
        }
        let revealer = traitor_lts.last().copied().unwrap_or(c);
        if from != revealer {
            return chains;
        }
        let Some(&order) = self.commanded.get(&spec.id) else {
            return chains;
        };
        let reveal_round = traitor_lts.len() as u8 + 1;
        let mut out = chains;
        let on_time = !self.too_late_only && round == reveal_round && to == first_target;
        let too_late =
            self.too_late_only && round == spec.m + 1 && to == late_target && round != reveal_round;
        if on_time || too_late {
            let hidden = order.flipped();
            if let Some(mut chain) = self.commander_chain(spec, hidden) {
                for t in &traitor_lts {
                    if let Some(k) = self.key(*t) {
                        chain.push_signature(&k, &self.cluster, *t);
                        self.signatures_made += 1;
                    }
                }
                out.truncate(1);
                out.push(chain);
            }
        }
        out
    }
}

/// What traitors need to know to act before an order: the cluster, and
/// whose instances to go after.
#[derive(Clone, Debug)]
pub struct OpeningTarget {
    pub cluster: ClusterId,
    pub n: usize,
    pub protocol: Protocol,
    pub m: u8,
    /// Instances a commander may hold at a node (`max_instances / n`).
    pub quota: usize,
    /// Loyal commanders' next instance ids.
    pub victims: Vec<InstanceId>,
}

impl Coalition {
    /// The frames traitor `from` sends `to` before anyone orders.
    ///
    /// - precreate: frames for the victims' next instances, before they
    ///   exist, once per protocol and for a couple of m, with the ticket
    ///   signed by the traitor (it has no other key to sign with) or copied
    ///   from another spec.
    /// - hog: its own instances, more than its quota, as large as a node
    ///   allows, each with the largest frames the rounds allow: round-1
    ///   frames as their commander, and frames for the last round (which
    ///   must wait) as a relayer of a fellow traitor's instances.
    pub fn opening_moves(
        &mut self,
        from: NodeId,
        to: NodeId,
        target: &OpeningTarget,
    ) -> Vec<RoundFrame> {
        let Some(&strategy) = self.strategies.get(&from) else {
            return Vec::new();
        };
        let Some(key) = self.key(from) else {
            return Vec::new();
        };
        let n = target.n as u16;
        let mut out = Vec::new();
        match strategy {
            Strategy::Precreate => {
                for &victim in &target.victims {
                    for protocol in [Protocol::Oral, Protocol::Signed] {
                        for m in [1, target.m] {
                            let spec = InstanceSpec {
                                id: victim,
                                protocol,
                                m,
                                n,
                            };
                            let forged = InstanceTicket::issue(&key, &target.cluster, spec);
                            for round in [2u8, m.saturating_add(1)] {
                                out.push(RoundFrame {
                                    ticket: forged,
                                    round,
                                    body: RoundBody::Empty,
                                });
                            }
                        }
                    }
                }
            }
            Strategy::Hog => {
                let fellows: Vec<NodeId> = self
                    .strategies
                    .iter()
                    .filter(|(&id, &s)| id != from && s == Strategy::Hog)
                    .map(|(&id, _)| id)
                    .collect();
                let count = target.quota as u64 + 3;
                for seq in 1..=count {
                    // As commander: round 1 of our own instance.
                    let spec = InstanceSpec {
                        id: InstanceId {
                            commander: from,
                            seq: HOG_SEQ + seq,
                        },
                        protocol: target.protocol,
                        m: target.m,
                        n,
                    };
                    let ticket = InstanceTicket::issue(&key, &target.cluster, spec);
                    if let Some(body) = self.hog_body(&spec, 1) {
                        out.push(RoundFrame {
                            ticket,
                            round: 1,
                            body,
                        });
                    }
                    // As relayer of fellow traitors' instances: the last
                    // round's frame, which waits at the receiver.
                    for &c in &fellows {
                        let Some(ck) = self.key(c) else { continue };
                        let spec = InstanceSpec {
                            id: InstanceId {
                                commander: c,
                                seq: HOG_SEQ + seq,
                            },
                            ..spec
                        };
                        let ticket = InstanceTicket::issue(&ck, &target.cluster, spec);
                        let last = spec.m.saturating_add(1);
                        if c != to && last >= 2 {
                            if let Some(body) = self.hog_body(&spec, last) {
                                out.push(RoundFrame {
                                    ticket,
                                    round: last,
                                    body,
                                });
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        out
    }

    /// The largest body a round of `spec` may carry, well formed in shape.
    fn hog_body(&mut self, spec: &InstanceSpec, round: u8) -> Option<RoundBody> {
        match spec.protocol {
            Protocol::Oral => {
                let count = super::oral::frame_values(usize::from(spec.n), round)?;
                Some(RoundBody::Oral(OralBits::zeros(u32::try_from(count).ok()?)))
            }
            Protocol::Signed => {
                let key = self.key(spec.id.commander)?;
                let mut chains = Vec::new();
                for order in [Order::Attack, Order::Retreat] {
                    let mut c = SignedOrder::new(&key, &self.cluster, spec.id, spec.m, order);
                    self.signatures_made += 1;
                    // Padding links: the shape is right, the signatures are not.
                    for j in (0..spec.n).map(NodeId).filter(|&j| j != spec.id.commander) {
                        if c.len() >= usize::from(round) {
                            break;
                        }
                        c.links.push(generals_crypto::ChainLink {
                            signer: j,
                            sig: Sig([0x5a; 64]),
                        });
                    }
                    chains.push(c);
                }
                Some(RoundBody::Signed(chains))
            }
        }
    }
}

/// Hog instances use seqs far above any a test orders.
const HOG_SEQ: u64 = 1 << 40;

/// The instance a captured commander signature is replayed from.
pub fn other_instance(id: InstanceId) -> InstanceId {
    InstanceId {
        commander: id.commander,
        seq: id.seq.wrapping_add(1_000_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Instance 1 of `commander`, with m = 1.
    fn spec(commander: u16, protocol: Protocol, n: u16) -> InstanceSpec {
        InstanceSpec {
            id: InstanceId {
                commander: NodeId(commander),
                seq: 1,
            },
            protocol,
            m: 1,
            n,
        }
    }

    /// General 3, the only traitor, playing `strategy`.
    fn lone_traitor_3(strategy: Strategy, seed: u64) -> Coalition {
        let key = Arc::new(NodeKey::from_seed([4; 32]));
        Coalition::new(
            [(NodeId(3), strategy)].into(),
            [(NodeId(3), key)].into(),
            seed,
        )
    }

    fn key(i: u8) -> Arc<NodeKey> {
        Arc::new(NodeKey::from_seed([i + 1; 32]))
    }

    /// Generals 0 and 3, traitors playing `s0` and `s3`.
    fn traitors_0_and_3(s0: Strategy, s3: Strategy) -> Coalition {
        Coalition::new(
            [(NodeId(0), s0), (NodeId(3), s3)].into(),
            [(NodeId(0), key(0)), (NodeId(3), key(3))].into(),
            0,
        )
    }

    fn coalition() -> Coalition {
        traitors_0_and_3(Strategy::Split, Strategy::Silent)
    }

    /// Mutants seen to fail it: `is_traitor` constant, `traitors` empty.
    #[test]
    fn the_coalition_knows_exactly_its_traitors() {
        let c = coalition();
        let traitors: Vec<NodeId> = c.traitors().collect();
        assert_eq!(traitors, [NodeId(0), NodeId(3)]);
        for i in 0..5 {
            assert_eq!(c.is_traitor(NodeId(i)), i == 0 || i == 3, "general {i}");
        }
        assert_eq!(c.strategy_of(NodeId(3)), Some(Strategy::Silent));
        assert_eq!(c.strategy_of(NodeId(1)), None);
    }

    /// The log keeps what each traitor would have sent and what it sent,
    /// and is emptied by being taken; without `with_log` it keeps nothing.
    /// Mutant seen to fail it: `take_log` returning nothing.
    #[test]
    fn the_rewrite_log_keeps_the_honest_and_the_sent_body() {
        let spec = spec(1, Protocol::Signed, 4);
        let mut c = coalition().with_log();
        c.rewrite(&spec, NodeId(3), NodeId(2), 2, RoundBody::Empty);
        c.rewrite(&spec, NodeId(2), NodeId(0), 2, RoundBody::Empty);
        let log = c.take_log();
        assert_eq!(log.len(), 2);
        assert_eq!(
            (log[0].from, log[0].to, log[0].round),
            (NodeId(3), NodeId(2), 2)
        );
        assert_eq!(log[0].honest, RoundBody::Empty);
        assert_eq!(log[0].sent, None, "silent sends nothing");
        assert_eq!(
            log[1].sent,
            Some(RoundBody::Empty),
            "a loyal sender's frame passes"
        );
        assert!(c.take_log().is_empty());
        let mut quiet = coalition();
        quiet.rewrite(&spec, NodeId(3), NodeId(2), 2, RoundBody::Empty);
        assert!(quiet.take_log().is_empty());
    }

    /// `split` inverts an OM commander's value for the odd ids, or for the
    /// targets when there are any. Mutants seen to fail it: `singled_out`'s
    /// `% 2 == 1` made `/` or `!=`.
    #[test]
    fn split_singles_out_odd_ids_or_the_targets() {
        let spec = spec(0, Protocol::Oral, 7);
        let attack = || {
            let mut bits = generals_wire::OralBits::zeros(1);
            bits.set(0, true);
            RoundBody::Oral(bits)
        };
        let sent = |c: &mut Coalition, to: u16| -> bool {
            match c.rewrite(&spec, NodeId(0), NodeId(to), 1, attack()).body {
                Some(RoundBody::Oral(bits)) => bits.get(0),
                other => panic!("to {to}: {other:?}"),
            }
        };
        let mut odd = coalition();
        let got: Vec<bool> = (1..7).map(|to| sent(&mut odd, to)).collect();
        assert_eq!(got, [false, true, false, true, false, true]);
        let mut targeted = coalition().with_targets([NodeId(2), NodeId(5)]);
        let got: Vec<bool> = (1..7).map(|to| sent(&mut targeted, to)).collect();
        assert_eq!(got, [true, false, true, true, false, true]);
    }

    /// `partial` sends nothing to the odd ids and the loyal frame, untouched,
    /// to the rest. (Deleting the `Partial` arm for the rest is an
    /// equivalent mutant: both protocol rewrites pass an unknown strategy's
    /// frame through unchanged.)
    #[test]
    fn partial_is_silent_to_odd_ids_and_loyal_to_the_rest() {
        let spec = spec(1, Protocol::Oral, 7);
        let mut c = lone_traitor_3(Strategy::Partial, 0);
        let mut bits = generals_wire::OralBits::zeros(1);
        bits.set(0, true);
        let body = RoundBody::Oral(bits);
        for to in [0u16, 2, 4, 5, 6] {
            let out = c.rewrite(&spec, NodeId(3), NodeId(to), 2, body.clone());
            let want = (to % 2 == 0).then(|| body.clone());
            assert_eq!(out.body, want, "to {to}");
            assert_eq!(out.delay, Duration::ZERO);
        }
    }

    /// `delay` sends the loyal frame, late by the coalition's delay; `hog`
    /// and `precreate` relay loyally, on time. Mutant seen to fail it: the
    /// `Delay` arm deleted (its frames then left on time). Deleting the
    /// `Hog | Precreate` arm is equivalent: the protocol rewrites pass an
    /// unknown strategy's frame through unchanged.
    #[test]
    fn delay_sends_the_loyal_frame_late_and_hog_relays_on_time() {
        let spec = spec(1, Protocol::Signed, 4);
        for (strategy, delay) in [
            (Strategy::Delay, Duration::from_millis(2500)),
            (Strategy::Hog, Duration::ZERO),
            (Strategy::Precreate, Duration::ZERO),
        ] {
            let mut c = lone_traitor_3(strategy, 0).with_delay(Duration::from_millis(2500));
            let out = c.rewrite(&spec, NodeId(3), NodeId(2), 2, RoundBody::Empty);
            assert_eq!(out.body, Some(RoundBody::Empty), "{strategy:?}");
            assert_eq!(out.delay, delay, "{strategy:?}");
        }
    }

    /// A `hog` commander gives its order to the even ids only (the rest must
    /// learn it from relays); a `hog` lieutenant relays to everyone. Mutants
    /// seen to fail it: that guard made constant, its `&&` made `||`, its
    /// `==` made `!=`.
    #[test]
    fn a_hog_commander_orders_the_even_ids_only_and_a_hog_lieutenant_relays_to_all() {
        let mut c = traitors_0_and_3(Strategy::Hog, Strategy::Hog);
        let s = spec(0, Protocol::Signed, 6);
        let got: Vec<bool> = (1..6)
            .map(|to| {
                c.rewrite(&s, NodeId(0), NodeId(to), 1, RoundBody::Empty)
                    .body
                    .is_some()
            })
            .collect();
        assert_eq!(
            got,
            [false, true, false, true, false],
            "the commander, to 1..5"
        );
        let got: Vec<bool> = [1u16, 2, 4, 5]
            .into_iter()
            .map(|to| {
                c.rewrite(&s, NodeId(3), NodeId(to), 2, RoundBody::Empty)
                    .body
                    .is_some()
            })
            .collect();
        assert_eq!(got, [true; 4], "lieutenant 3, to 1, 2, 4, 5");
    }

    /// `random` in OM picks per frame among flip, split, silent, forge and a
    /// coin per value: over 64 frames of 64 values (seed 7), the frames that
    /// keep their size carry both values in about equal numbers. Mutants seen to fail it:
    /// the coin's `& 1` made `|` or `^` (nearly always RETREAT). Its `== 1`
    /// made `!=` is equivalent: the other face of the same fair coin.
    #[test]
    fn random_om_values_are_a_fair_coin() {
        let mut c = lone_traitor_3(Strategy::Random, 7);
        let s = spec(1, Protocol::Oral, 7);
        let (mut attack, mut total) = (0u32, 0u32);
        for _ in 0..64 {
            let bits = generals_wire::OralBits::zeros(64);
            if let Some(RoundBody::Oral(out)) = c
                .rewrite(&s, NodeId(3), NodeId(2), 2, RoundBody::Oral(bits))
                .body
            {
                if out.len() == 64 {
                    attack += (0..64).filter(|&i| out.get(i)).count() as u32;
                    total += 64;
                }
            }
        }
        assert!(
            total >= 64 * 8,
            "few frames kept their size: {total} values"
        );
        let share = f64::from(attack) / f64::from(total);
        assert!((0.4..0.6).contains(&share), "{attack} ATTACK of {total}");
    }

    /// `forge` in OM sends frames of a wrong size, 1 to 8 values too long,
    /// never the right one (a frame of the right size would be a lie, not a
    /// forgery). Mutants seen to fail it: the size's `+`s made `-` or `*`.
    #[test]
    fn forged_om_frames_are_one_to_eight_values_too_long() {
        let mut c = lone_traitor_3(Strategy::Forge, 0);
        let s = spec(1, Protocol::Oral, 7);
        let mut sizes = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let bits = generals_wire::OralBits::zeros(5);
            match c
                .rewrite(&s, NodeId(3), NodeId(2), 2, RoundBody::Oral(bits))
                .body
            {
                Some(RoundBody::Oral(out)) => sizes.insert(out.len()),
                other => panic!("{other:?}"),
            };
        }
        assert_eq!(
            sizes.into_iter().collect::<Vec<_>>(),
            (6..=13).collect::<Vec<u32>>()
        );
    }

    /// An SM traitor lieutenant's relays: `split` relays to the even ids
    /// only, `flip` relays the other value, `forge` adds a forged chain of
    /// the kind `(round + to) % 4` picks. Mutants seen to fail it: each of
    /// those arms of `Coalition::signed` deleted (the loyal frame then went
    /// out), `forge` returning nothing, its kind's arithmetic mutated, its
    /// `(0, Some(c))` arm deleted.
    #[test]
    fn sm_lieutenant_strategies_change_what_they_relay() {
        let s = spec(1, Protocol::Signed, 6);
        let commander = NodeKey::from_seed([2; 32]);
        let cluster = ClusterId([0; 32]);
        let genuine = SignedOrder::new(&commander, &cluster, s.id, s.m, Order::Attack).extended(
            &NodeKey::from_seed([4; 32]),
            &cluster,
            NodeId(3),
        );
        let body = RoundBody::Signed(vec![genuine.clone()]);
        let relay = |strategy: Strategy, to: u16| {
            lone_traitor_3(strategy, 0)
                .rewrite(&s, NodeId(3), NodeId(to), 2, body.clone())
                .body
        };
        assert_eq!(relay(Strategy::Split, 2), Some(body.clone()));
        assert_eq!(relay(Strategy::Split, 5), Some(RoundBody::Empty));
        let flipped = SignedOrder {
            order: Order::Retreat,
            ..genuine.clone()
        };
        assert_eq!(
            relay(Strategy::Flip, 2),
            Some(RoundBody::Signed(vec![flipped]))
        );
        // Forgery kind (round + to) mod 4. To 2, kind 0: the genuine chain
        // and beside it the same signatures under the other value.
        let value_changed = SignedOrder {
            order: Order::Retreat,
            ..genuine.clone()
        };
        assert_eq!(
            relay(Strategy::Forge, 2),
            Some(RoundBody::Signed(vec![genuine.clone(), value_changed]))
        );
        // To 4, kind 2: beside it, the other value "signed by the commander"
        // with the traitor's own key, then by the traitor.
        let Some(RoundBody::Signed(chains)) = relay(Strategy::Forge, 4) else {
            panic!("forge to 4 sent no chains");
        };
        assert_eq!(chains.len(), 2);
        assert_eq!(chains[0], genuine);
        let signers: Vec<NodeId> = chains[1].links.iter().map(|l| l.signer).collect();
        assert_eq!(
            (chains[1].order, signers),
            (Order::Retreat, vec![NodeId(1), NodeId(3)])
        );
        assert_ne!(chains[1].links, genuine.links, "signed afresh, not kind 0");
        // To 5, kind 3: a chain captured from another instance, and this
        // coalition has none, so the genuine frame goes alone.
        assert_eq!(relay(Strategy::Forge, 5), Some(body.clone()));
    }

    /// `random` in SM sometimes picks per-chain noise, which corrupts the
    /// last signature's first bit. Mutant seen to fail it: the noise arm of
    /// `Coalition::signed` deleted (the chain then went out untouched).
    #[test]
    fn sm_random_noise_corrupts_a_signature_bit() {
        let s = spec(1, Protocol::Signed, 6);
        let cluster = ClusterId([0; 32]);
        let genuine = SignedOrder::new(
            &NodeKey::from_seed([2; 32]),
            &cluster,
            s.id,
            s.m,
            Order::Attack,
        )
        .extended(&NodeKey::from_seed([4; 32]), &cluster, NodeId(3));
        let mut corrupted = genuine.clone();
        if let Some(l) = corrupted.links.last_mut() {
            l.sig.0[0] ^= 0x80;
        }
        let mut c = lone_traitor_3(Strategy::Random, 0);
        let noisy = (0..300)
            .filter(|_| {
                let body = RoundBody::Signed(vec![genuine.clone()]);
                c.rewrite(&s, NodeId(3), NodeId(2), 2, body).body
                    == Some(RoundBody::Signed(vec![corrupted.clone()]))
            })
            .count();
        assert!(
            noisy > 0,
            "no chain came out with its signature bit flipped"
        );
    }

    /// A `split` lieutenant withholds its relay from the odd ids even when
    /// the commander is in its coalition: only the commander itself signs
    /// the other value. Mutant seen to fail it: the `commander` guard of
    /// the commander's arm in `Coalition::signed` made `true`.
    #[test]
    fn a_split_lieutenant_never_signs_as_its_commander() {
        let mut c = traitors_0_and_3(Strategy::Split, Strategy::Split);
        let s = spec(0, Protocol::Signed, 6);
        let cluster = ClusterId([0; 32]);
        let genuine = SignedOrder::new(&key(0), &cluster, s.id, s.m, Order::Attack).extended(
            &key(3),
            &cluster,
            NodeId(3),
        );
        let body = RoundBody::Signed(vec![genuine]);
        let out = c.rewrite(&s, NodeId(3), NodeId(5), 2, body).body;
        assert_eq!(out, Some(RoundBody::Empty));
    }

    /// A `flip` commander signs the other value afresh (a valid chain), not
    /// the genuine chain with its value changed (a forgery anyone refuses).
    /// Mutant seen to fail it: the `commander` guard of `Flip` made `false`.
    #[test]
    fn a_flip_commander_signs_the_other_value_afresh() {
        let mut c = traitors_0_and_3(Strategy::Flip, Strategy::Flip);
        let s = spec(0, Protocol::Signed, 6);
        let cluster = ClusterId([0; 32]);
        let genuine = SignedOrder::new(&key(0), &cluster, s.id, s.m, Order::Attack);
        let retreat = SignedOrder::new(&key(0), &cluster, s.id, s.m, Order::Retreat);
        let out = c.rewrite(
            &s,
            NodeId(0),
            NodeId(2),
            1,
            RoundBody::Signed(vec![genuine]),
        );
        assert_eq!(out.body, Some(RoundBody::Signed(vec![retreat])));
    }
}
