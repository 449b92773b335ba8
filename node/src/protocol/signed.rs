//! SM(m): signature chains, the set V_i and choice().
//!
//! A chain accepted in round r must have exactly r signatures (the round rule
//! that defeats a late reveal), start with the commander, have distinct
//! configured signers, end with the link peer, and verify. A new value goes
//! into V_i and, if the chain is shorter than m+1, is relayed with our
//! signature appended. A loyal lieutenant relays at most two values: choice()
//! only needs to know whether V_i has one value or more.

use std::sync::Arc;

use generals_crypto::{EquivocationProof, NodeId, Order, PrefixCache, SignedOrder};
use generals_wire::{InstanceSpec, RoundBody};

use super::{Keyring, Rejection};

/// A frame carries at most this many chains: a loyal sender relays at most
/// two values in the whole instance. More is a traitor wasting our CPU.
pub const MAX_CHAINS_PER_FRAME: usize = 2;

/// What can be checked of a chain for `round` without any signature: its
/// instance, its m, and the round rule (exactly `round` signatures).
pub fn check_shape(spec: &InstanceSpec, round: u8, chain: &SignedOrder) -> Result<(), Rejection> {
    if chain.instance != spec.id {
        return Err(Rejection::WrongInstance {
            got: chain.instance,
        });
    }
    if chain.m != spec.m {
        return Err(Rejection::WrongM {
            got: chain.m,
            want: spec.m,
        });
    }
    if chain.len() != usize::from(round) {
        return Err(Rejection::WrongRound {
            signatures: chain.len(),
            round,
        });
    }
    Ok(())
}

#[derive(Debug)]
pub struct SignedState {
    spec: InstanceSpec,
    keys: Arc<Keyring>,
    cache: PrefixCache,
    /// V_i: the first accepted chain for each value (index = order byte).
    values: [Option<SignedOrder>; 2],
    /// Chains accepted this round, relayed next round.
    to_relay: Vec<SignedOrder>,
    evidence: Option<EquivocationProof>,
    pub signatures_made: u64,
    pub signatures_verified: u64,
}

impl SignedState {
    pub fn new(spec: InstanceSpec, keys: Arc<Keyring>) -> SignedState {
        SignedState {
            spec,
            keys,
            cache: PrefixCache::default(),
            values: [None, None],
            to_relay: Vec::new(),
            evidence: None,
            signatures_made: 0,
            signatures_verified: 0,
        }
    }

    /// The commander's round-1 chain.
    pub fn command(&mut self, order: Order) -> SignedOrder {
        self.signatures_made += 1;
        SignedOrder::new(
            &self.keys.key,
            &self.keys.cluster,
            self.spec.id,
            self.spec.m,
            order,
        )
    }

    /// Checks every chain of a round-`round` frame from `from`; accepted new
    /// values are recorded. Returns the rejections (the frame still counts as
    /// received: its bad chains are simply not believed).
    pub fn receive(
        &mut self,
        round: u8,
        from: NodeId,
        body: &RoundBody,
        rejected: &mut Vec<Rejection>,
    ) {
        let chains = match body {
            RoundBody::Empty => return,
            RoundBody::Signed(chains) => chains,
            RoundBody::Oral(_) => {
                rejected.push(Rejection::WrongBodyKind);
                return;
            }
        };
        if chains.len() > MAX_CHAINS_PER_FRAME {
            rejected.push(Rejection::TooManyChains {
                got: chains.len(),
                max: MAX_CHAINS_PER_FRAME,
            });
        }
        for chain in chains.iter().take(MAX_CHAINS_PER_FRAME) {
            if let Err(reason) = self.accept(round, from, chain) {
                rejected.push(reason);
            }
        }
    }

    fn accept(&mut self, round: u8, from: NodeId, chain: &SignedOrder) -> Result<(), Rejection> {
        check_shape(&self.spec, round, chain)?;
        if chain.last_signer() != Some(from) {
            return Err(Rejection::LastSignerNotLink {
                last: chain.last_signer(),
                link: from,
            });
        }
        if chain.contains_signer(self.keys.me) {
            return Err(Rejection::ContainsReceiver);
        }
        let keys = &self.keys.peers;
        let stats = chain
            .verify(
                &self.keys.cluster,
                |id| keys.get(id.index()),
                &mut self.cache,
            )
            .map_err(Rejection::Chain)?;
        self.signatures_verified += stats.verified;
        let slot = usize::from(chain.order.as_byte());
        if self.values[slot].is_some() {
            return Ok(());
        }
        self.values[slot] = Some(chain.clone());
        if usize::from(round) <= usize::from(self.spec.m) {
            self.to_relay.push(chain.clone());
        }
        if let [Some(r), Some(a)] = &self.values {
            if self.evidence.is_none() {
                self.evidence = EquivocationProof::from_chains(&self.keys.cluster, r, a).ok();
            }
        }
        Ok(())
    }

    /// Round `round` (>= 2) frames: last round's new chains, signed by us, to
    /// every lieutenant not already in the chain. Every lieutenant gets a
    /// frame, empty or not.
    pub fn frames(&mut self, _round: u8) -> Vec<(NodeId, RoundBody)> {
        let me = self.keys.me;
        let relays: Vec<SignedOrder> = std::mem::take(&mut self.to_relay)
            .iter()
            .map(|c| {
                self.signatures_made += 1;
                c.extended(&self.keys.key, &self.keys.cluster, me)
            })
            .collect();
        (0..self.spec.n)
            .map(NodeId)
            .filter(|&j| j != me && j != self.spec.id.commander)
            .map(|j| {
                let chains: Vec<SignedOrder> = relays
                    .iter()
                    .filter(|c| !c.contains_signer(j))
                    .cloned()
                    .collect();
                let body = if chains.is_empty() {
                    RoundBody::Empty
                } else {
                    RoundBody::Signed(chains)
                };
                (j, body)
            })
            .collect()
    }

    /// choice(V_i): the single value, else RETREAT. `values` is indexed
    /// [RETREAT, ATTACK], so only V = {ATTACK} gives ATTACK; {RETREAT}, the
    /// empty set and both values give RETREAT.
    pub fn decide(&self) -> Order {
        match &self.values {
            [None, Some(_)] => Order::Attack,
            _ => Order::Retreat,
        }
    }

    pub fn values(&self) -> impl Iterator<Item = Order> + '_ {
        self.values.iter().flatten().map(|c| c.order)
    }

    pub fn evidence(&self) -> Option<&EquivocationProof> {
        self.evidence.as_ref()
    }
}
