//! SM(m) signature chains: an order signed by the commander, then by every
//! lieutenant that relays it.
//!
//! Link `t` signs the domain tag, the cluster, the order header and every
//! earlier link, then its own signer id:
//!
//! ```text
//! tag ‖ cluster:32 ‖ commander:u16le ‖ seq:u64le ‖ m:u8 ‖ order:u8 ‖ (signer:u16le ‖ sig:64)* ‖ signer_t:u16le
//! ```
//!
//! So a signature cannot be moved to another instance, another value,
//! another position in the chain, or another cluster that reuses a key.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{ClusterId, Domain, InstanceId, NodeId, NodeKey, Order, PublicKey, Sig};

/// One signature of a chain and who made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChainLink {
    pub signer: NodeId,
    pub sig: Sig,
}

/// `v:c:j1:…:jk`: an order with the commander's signature and the relayers'.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignedOrder {
    pub instance: InstanceId,
    pub m: u8,
    pub order: Order,
    pub links: Vec<ChainLink>,
}

/// Why a chain is not a valid chain of signatures. Protocol rules (which
/// round, which link) are checked by the protocol, not here.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    #[error("the chain has no signatures")]
    Empty,
    #[error("the first signer is {found}, not the instance's commander {commander}")]
    FirstSignerNotCommander { commander: NodeId, found: NodeId },
    #[error("signer {signer} appears twice in the chain")]
    DuplicateSigner { signer: NodeId },
    #[error("signer {signer} is not a peer in the configuration")]
    UnknownSigner { signer: NodeId },
    #[error("signature {position} (by {signer}) does not verify")]
    BadSignature { position: usize, signer: NodeId },
}

/// What one verification cost: signatures checked and cache hits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyStats {
    pub verified: u64,
    pub cached: u64,
}

/// Digests of chain prefixes already verified in one instance. A relay of a
/// chain we have seen repeats its prefix; checking it again is wasted work.
#[derive(Debug, Default, Clone)]
pub struct PrefixCache {
    seen: HashSet<[u8; 32]>,
}

impl PrefixCache {
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

impl SignedOrder {
    /// The commander's signed order: the first link of every chain.
    pub fn new(
        key: &NodeKey,
        cluster: &ClusterId,
        instance: InstanceId,
        m: u8,
        order: Order,
    ) -> SignedOrder {
        let mut chain = SignedOrder {
            instance,
            m,
            order,
            links: Vec::new(),
        };
        chain.push_signature(key, cluster, instance.commander);
        chain
    }

    /// This chain with `signer`'s signature appended (a relay).
    pub fn extended(&self, key: &NodeKey, cluster: &ClusterId, signer: NodeId) -> SignedOrder {
        let mut chain = self.clone();
        chain.push_signature(key, cluster, signer);
        chain
    }

    /// Appends a signature by `key` claiming to be `signer`. Loyal code passes
    /// its own id; adversary strategies may lie, and verification catches it.
    pub fn push_signature(&mut self, key: &NodeKey, cluster: &ClusterId, signer: NodeId) {
        let mut msg = self.header(cluster);
        for link in &self.links {
            push_link(&mut msg, link);
        }
        msg.extend_from_slice(&signer.0.to_le_bytes());
        let sig = key.sign_prepared(&msg);
        self.links.push(ChainLink { signer, sig });
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    pub fn signers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.links.iter().map(|l| l.signer)
    }

    pub fn contains_signer(&self, id: NodeId) -> bool {
        self.signers().any(|s| s == id)
    }

    pub fn last_signer(&self) -> Option<NodeId> {
        self.links.last().map(|l| l.signer)
    }

    /// The commander's signed order alone: the chain cut to its first link.
    pub fn root(&self) -> SignedOrder {
        SignedOrder {
            links: self.links.iter().take(1).copied().collect(),
            ..self.clone()
        }
    }

    fn header(&self, cluster: &ClusterId) -> Vec<u8> {
        let tag = Domain::Chain.tag();
        let mut msg = Vec::with_capacity(tag.len() + 44 + self.links.len() * 66 + 2);
        msg.extend_from_slice(tag);
        msg.extend_from_slice(cluster.as_bytes());
        msg.extend_from_slice(&self.instance.commander.0.to_le_bytes());
        msg.extend_from_slice(&self.instance.seq.to_le_bytes());
        msg.push(self.m);
        msg.push(self.order.as_byte());
        msg
    }

    /// Checks the chain's structure and every signature with `verify_strict`.
    /// `key_of` maps a signer to its configured key (None: not a peer).
    /// Prefixes already in `cache` are not verified again.
    pub fn verify<'k>(
        &self,
        cluster: &ClusterId,
        key_of: impl Fn(NodeId) -> Option<&'k PublicKey>,
        cache: &mut PrefixCache,
    ) -> Result<VerifyStats, ChainError> {
        let first = self.links.first().ok_or(ChainError::Empty)?;
        if first.signer != self.instance.commander {
            return Err(ChainError::FirstSignerNotCommander {
                commander: self.instance.commander,
                found: first.signer,
            });
        }
        let mut stats = VerifyStats::default();
        let mut msg = self.header(cluster);
        let mut digest = Sha256::new();
        digest.update(&msg);
        for (position, link) in self.links.iter().enumerate() {
            if self.links[..position]
                .iter()
                .any(|l| l.signer == link.signer)
            {
                return Err(ChainError::DuplicateSigner {
                    signer: link.signer,
                });
            }
            let key = key_of(link.signer).ok_or(ChainError::UnknownSigner {
                signer: link.signer,
            })?;
            msg.extend_from_slice(&link.signer.0.to_le_bytes());
            digest.update(link.signer.0.to_le_bytes());
            digest.update(link.sig.0);
            let prefix: [u8; 32] = digest.clone().finalize().into();
            if cache.seen.contains(&prefix) {
                stats.cached += 1;
            } else if key.verify_prepared(&msg, &link.sig) {
                stats.verified += 1;
                cache.seen.insert(prefix);
            } else {
                return Err(ChainError::BadSignature {
                    position,
                    signer: link.signer,
                });
            }
            msg.extend_from_slice(&link.sig.0);
        }
        Ok(stats)
    }
}

fn push_link(msg: &mut Vec<u8>, link: &ChainLink) {
    msg.extend_from_slice(&link.signer.0.to_le_bytes());
    msg.extend_from_slice(&link.sig.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    const CL: ClusterId = ClusterId([7; 32]);

    fn keys(n: u8) -> Vec<NodeKey> {
        (0..n).map(|i| NodeKey::from_seed([i + 1; 32])).collect()
    }

    fn pubs(keys: &[NodeKey]) -> Vec<PublicKey> {
        keys.iter().map(NodeKey::public).collect()
    }

    const INST: InstanceId = InstanceId {
        commander: NodeId(0),
        seq: 9,
    };

    fn chain(keys: &[NodeKey], signers: &[u16]) -> SignedOrder {
        let mut c = SignedOrder::new(&keys[0], &CL, INST, 2, Order::Attack);
        for &s in signers {
            c = c.extended(&keys[usize::from(s)], &CL, NodeId(s));
        }
        c
    }

    #[test]
    fn a_chain_signed_in_another_cluster_does_not_verify() {
        let c = NodeKey::from_seed([1; 32]);
        let keys = [c.public()];
        let here = ClusterId([1; 32]);
        let elsewhere = ClusterId([2; 32]);
        let chain = SignedOrder::new(
            &c,
            &elsewhere,
            InstanceId {
                commander: NodeId(0),
                seq: 1,
            },
            1,
            Order::Attack,
        );
        let key_of = |id: NodeId| keys.get(id.index());
        assert!(chain
            .verify(&elsewhere, key_of, &mut PrefixCache::default())
            .is_ok());
        assert_eq!(
            chain.verify(&here, key_of, &mut PrefixCache::default()),
            Err(ChainError::BadSignature {
                position: 0,
                signer: NodeId(0)
            })
        );
    }

    #[test]
    fn valid_chain_verifies_and_cache_skips_known_prefixes() {
        let k = keys(4);
        let p = pubs(&k);
        let mut cache = PrefixCache::default();
        let c = chain(&k, &[1, 2]);
        let stats = c.verify(&CL, |id| p.get(id.index()), &mut cache).unwrap();
        assert_eq!(
            stats,
            VerifyStats {
                verified: 3,
                cached: 0
            }
        );
        let longer = c.extended(&k[3], &CL, NodeId(3));
        let stats = longer
            .verify(&CL, |id| p.get(id.index()), &mut cache)
            .unwrap();
        assert_eq!(
            stats,
            VerifyStats {
                verified: 1,
                cached: 3
            }
        );
    }

    #[test]
    fn every_structural_error_is_named() {
        let k = keys(4);
        let p = pubs(&k);
        let mut cache = PrefixCache::default();
        let mut check = |c: &SignedOrder| {
            c.verify(&CL, |id| p.get(id.index()), &mut cache)
                .unwrap_err()
        };

        let mut empty = chain(&k, &[]);
        empty.links.clear();
        assert_eq!(check(&empty), ChainError::Empty);

        let mut wrong_first = SignedOrder {
            links: vec![],
            ..chain(&k, &[])
        };
        wrong_first.push_signature(&k[1], &CL, NodeId(1));
        assert_eq!(
            check(&wrong_first),
            ChainError::FirstSignerNotCommander {
                commander: NodeId(0),
                found: NodeId(1)
            }
        );

        let dup = chain(&k, &[1, 1]);
        assert_eq!(
            check(&dup),
            ChainError::DuplicateSigner { signer: NodeId(1) }
        );

        let unknown = chain(&k, &[1]).extended(&k[2], &CL, NodeId(9));
        assert_eq!(
            check(&unknown),
            ChainError::UnknownSigner { signer: NodeId(9) }
        );
    }

    #[test]
    fn tampering_is_caught_at_the_right_position() {
        let k = keys(4);
        let p = pubs(&k);
        let good = chain(&k, &[1, 2]);
        let verify =
            |c: &SignedOrder| c.verify(&CL, |id| p.get(id.index()), &mut PrefixCache::default());

        let mut value = good.clone();
        value.order = Order::Retreat;
        assert_eq!(
            verify(&value),
            Err(ChainError::BadSignature {
                position: 0,
                signer: NodeId(0)
            })
        );

        let mut other_instance = good.clone();
        other_instance.instance.seq = 10;
        assert_eq!(
            verify(&other_instance),
            Err(ChainError::BadSignature {
                position: 0,
                signer: NodeId(0)
            })
        );

        let mut other_m = good.clone();
        other_m.m = 3;
        assert!(matches!(
            verify(&other_m),
            Err(ChainError::BadSignature { position: 0, .. })
        ));

        // Node 3 signs but claims to be node 2.
        let impostor = chain(&k, &[1]).extended(&k[3], &CL, NodeId(2));
        assert_eq!(
            verify(&impostor),
            Err(ChainError::BadSignature {
                position: 2,
                signer: NodeId(2)
            })
        );

        let mut garbage = good.clone();
        garbage.links[1].sig = Sig([0x5a; 64]);
        assert_eq!(
            verify(&garbage),
            Err(ChainError::BadSignature {
                position: 1,
                signer: NodeId(1)
            })
        );

        // Swapping relayers' order changes what each signed.
        let mut swapped = good.clone();
        swapped.links.swap(1, 2);
        assert!(matches!(
            verify(&swapped),
            Err(ChainError::BadSignature { position: 1, .. })
        ));
    }

    // The prefix cache's key is SHA-256 over the signed header (tag,
    // cluster, commander, seq, m, order) and every link so far (signer id,
    // signature). Each test below verifies a good chain into a cache, then
    // shows that the cache does not vouch for a chain that differs from it
    // in one field of that key only, reusing the good chain's signatures.
    // The tag is a constant, so no chain can differ in it.

    /// Verifies `good` into a fresh cache (every link checked and cached),
    /// then `other` in `cluster` against that cache.
    fn after_caching(
        good: &SignedOrder,
        other: &SignedOrder,
        cluster: &ClusterId,
    ) -> Result<VerifyStats, ChainError> {
        let p = pubs(&keys(4));
        let mut cache = PrefixCache::default();
        let stats = good.verify(&CL, |id| p.get(id.index()), &mut cache);
        assert_eq!(stats.map(|s| s.verified), Ok(good.len() as u64));
        assert_eq!(cache.len(), good.len());
        other.verify(cluster, |id| p.get(id.index()), &mut cache)
    }

    fn bad_signature(position: usize, signer: u16) -> Result<VerifyStats, ChainError> {
        Err(ChainError::BadSignature {
            position,
            signer: NodeId(signer),
        })
    }

    /// Mutation seen to fail it: the link's signature left out of the cache key.
    #[test]
    fn a_cached_prefix_does_not_vouch_for_a_different_prefix() {
        let good = chain(&keys(4), &[1]);
        let mut forged = good.clone();
        forged.links[1].sig.0[0] ^= 1;
        assert_eq!(after_caching(&good, &forged, &CL), bad_signature(1, 1));
    }

    /// Mutation seen to fail it: the cluster left out of the cache key.
    #[test]
    fn a_cached_prefix_does_not_vouch_for_another_cluster() {
        let good = chain(&keys(4), &[1]);
        let elsewhere = ClusterId([8; 32]);
        assert_eq!(after_caching(&good, &good, &elsewhere), bad_signature(0, 0));
    }

    /// Mutation seen to fail it: the instance's seq left out of the cache key.
    #[test]
    fn a_cached_prefix_does_not_vouch_for_another_instance() {
        let good = chain(&keys(4), &[1]);
        let mut other = good.clone();
        other.instance.seq += 1;
        assert_eq!(after_caching(&good, &other, &CL), bad_signature(0, 0));
    }

    /// The commander is pinned twice: by the first-signer rule to the first
    /// signer id, and by the key. Leaving it alone out of the key is an
    /// equivalent mutant (the first signer id in the key stands for it).
    /// Mutation seen to fail it: the commander and the signer ids both left
    /// out of the cache key.
    #[test]
    fn a_cached_prefix_does_not_vouch_for_another_commander() {
        let good = chain(&keys(4), &[1]);
        let mut other = good.clone();
        other.instance.commander = NodeId(1);
        other.links[0].signer = NodeId(1);
        other.links[1].signer = NodeId(0);
        assert_eq!(after_caching(&good, &other, &CL), bad_signature(0, 1));
    }

    /// Mutation seen to fail it: m left out of the cache key.
    #[test]
    fn a_cached_prefix_does_not_vouch_for_another_m() {
        let good = chain(&keys(4), &[1]);
        let mut other = good.clone();
        other.m += 1;
        assert_eq!(after_caching(&good, &other, &CL), bad_signature(0, 0));
    }

    /// Mutation seen to fail it: the order left out of the cache key.
    #[test]
    fn a_cached_prefix_does_not_vouch_for_another_order() {
        let good = chain(&keys(4), &[1]);
        let mut other = good.clone();
        other.order = Order::Retreat;
        assert_eq!(after_caching(&good, &other, &CL), bad_signature(0, 0));
    }

    /// Lieutenant 1's signature, claimed by lieutenant 2.
    /// Mutation seen to fail it: the signer ids left out of the cache key.
    #[test]
    fn a_cached_prefix_does_not_vouch_for_another_signer_id() {
        let good = chain(&keys(4), &[1]);
        let mut other = good.clone();
        other.links[1].signer = NodeId(2);
        assert_eq!(after_caching(&good, &other, &CL), bad_signature(1, 2));
    }

    /// Link 2 of 0:1:2, moved behind a valid 0:3: the same link after a
    /// different earlier prefix.
    /// Mutation seen to fail it: the key covers the header and the current
    /// link only, not the links before it.
    #[test]
    fn a_cached_link_does_not_vouch_for_it_after_another_prefix() {
        let k = keys(4);
        let good = chain(&k, &[1, 2]);
        let mut other = chain(&k, &[3]);
        other.links.push(good.links[2]);
        assert_eq!(after_caching(&good, &other, &CL), bad_signature(2, 2));
    }
}
