//! Proof that a commander signed two different orders for one instance.
//!
//! It holds the two commander-signed roots and nothing else, so anyone with
//! the commander's public key can check it offline.

use serde::{Deserialize, Serialize};

use crate::{ChainError, ClusterId, InstanceId, NodeId, PrefixCache, PublicKey, SignedOrder};

/// Two commander signatures on different orders for the same instance.
/// `retreat` and `attack` are the commander's one-link chains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquivocationProof {
    /// The cluster both orders were signed in: it is part of what each
    /// signature covers, so the proof checks with the commander's key alone.
    pub cluster: ClusterId,
    pub retreat: SignedOrder,
    pub attack: SignedOrder,
}

/// Why two orders are not (or no longer) a proof of equivocation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    #[error("the two orders are for different instances ({0} and {1})")]
    DifferentInstances(InstanceId, InstanceId),
    #[error("the two orders carry different m ({0} and {1})")]
    DifferentM(u8, u8),
    #[error("both orders say {0}: that is not equivocation")]
    SameOrder(crate::Order),
    #[error("the {which} order is not signed by the commander: {source}")]
    BadRoot {
        which: &'static str,
        source: ChainError,
    },
}

impl EquivocationProof {
    /// Builds a proof from any two chains whose commander roots disagree.
    /// The signatures are not checked here; call [`EquivocationProof::verify`].
    pub fn from_chains(
        cluster: &ClusterId,
        a: &SignedOrder,
        b: &SignedOrder,
    ) -> Result<EquivocationProof, ProofError> {
        if a.instance != b.instance {
            return Err(ProofError::DifferentInstances(a.instance, b.instance));
        }
        if a.m != b.m {
            return Err(ProofError::DifferentM(a.m, b.m));
        }
        if a.order == b.order {
            return Err(ProofError::SameOrder(a.order));
        }
        let (retreat, attack) = if a.order.is_attack() { (b, a) } else { (a, b) };
        Ok(EquivocationProof {
            cluster: *cluster,
            retreat: retreat.root(),
            attack: attack.root(),
        })
    }

    pub fn instance(&self) -> InstanceId {
        self.attack.instance
    }

    pub fn commander(&self) -> NodeId {
        self.attack.instance.commander
    }

    /// Checks the proof with only the commander's public key.
    pub fn verify(&self, commander: &PublicKey) -> Result<(), ProofError> {
        let again = EquivocationProof::from_chains(&self.cluster, &self.retreat, &self.attack)?;
        let key_of = |id: NodeId| (id == self.commander()).then_some(commander);
        for (which, root) in [("retreat", &again.retreat), ("attack", &again.attack)] {
            if root.len() != 1 {
                return Err(ProofError::BadRoot {
                    which,
                    source: ChainError::Empty,
                });
            }
            root.verify(&self.cluster, key_of, &mut PrefixCache::default())
                .map_err(|source| ProofError::BadRoot { which, source })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NodeKey, Order, Sig};

    const CL: ClusterId = ClusterId([7; 32]);

    const INST: InstanceId = InstanceId {
        commander: NodeId(2),
        seq: 5,
    };

    #[test]
    fn proof_from_relayed_chains_verifies_offline_after_serialization() {
        let commander = NodeKey::from_seed([3; 32]);
        let relayer = NodeKey::from_seed([4; 32]);
        let a = SignedOrder::new(&commander, &CL, INST, 1, Order::Attack).extended(
            &relayer,
            &CL,
            NodeId(0),
        );
        let r = SignedOrder::new(&commander, &CL, INST, 1, Order::Retreat);
        let proof = EquivocationProof::from_chains(&CL, &a, &r).unwrap();
        assert_eq!(proof.attack.len(), 1);
        assert_eq!(proof.commander(), NodeId(2));

        let json = serde_json::to_string(&proof).unwrap();
        let back: EquivocationProof = serde_json::from_str(&json).unwrap();
        back.verify(&commander.public()).unwrap();

        let cfg = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&proof, cfg).unwrap();
        let (back, _): (EquivocationProof, usize) =
            bincode::serde::decode_from_slice(&bytes, cfg).unwrap();
        back.verify(&commander.public()).unwrap();
    }

    #[test]
    fn non_proofs_are_refused_with_reasons() {
        let c = NodeKey::from_seed([3; 32]);
        let a = SignedOrder::new(&c, &CL, INST, 1, Order::Attack);
        let a2 = SignedOrder::new(&c, &CL, INST, 1, Order::Attack);
        assert_eq!(
            EquivocationProof::from_chains(&CL, &a, &a2),
            Err(ProofError::SameOrder(Order::Attack))
        );
        let other = SignedOrder::new(&c, &CL, InstanceId { seq: 6, ..INST }, 1, Order::Retreat);
        assert!(matches!(
            EquivocationProof::from_chains(&CL, &a, &other),
            Err(ProofError::DifferentInstances(..))
        ));
        let other_m = SignedOrder::new(&c, &CL, INST, 2, Order::Retreat);
        assert_eq!(
            EquivocationProof::from_chains(&CL, &a, &other_m),
            Err(ProofError::DifferentM(1, 2))
        );
    }

    #[test]
    fn wrong_key_or_forged_signature_fails_verification() {
        let c = NodeKey::from_seed([3; 32]);
        let a = SignedOrder::new(&c, &CL, INST, 1, Order::Attack);
        let r = SignedOrder::new(&c, &CL, INST, 1, Order::Retreat);
        let proof = EquivocationProof::from_chains(&CL, &a, &r).unwrap();
        let stranger = NodeKey::from_seed([9; 32]).public();
        let err = proof.verify(&stranger).unwrap_err();
        assert!(
            matches!(
                err,
                ProofError::BadRoot {
                    source: ChainError::BadSignature { .. },
                    ..
                }
            ),
            "{err}"
        );

        let mut forged = proof.clone();
        forged.retreat.links[0].sig = Sig([1; 64]);
        let err = forged.verify(&c.public()).unwrap_err();
        assert_eq!(
            err,
            ProofError::BadRoot {
                which: "retreat",
                source: ChainError::BadSignature {
                    position: 0,
                    signer: NodeId(2)
                }
            }
        );
    }
}
