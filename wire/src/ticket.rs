//! Instance tickets: the commander's signature on the one spec it issued for
//! an instance id.
//!
//! Every round frame carries its instance's ticket, and a node joins an
//! instance only on a ticket that verifies under the commander's key. So a
//! traitor cannot start a loyal commander's next instance before it is
//! ordered (ids are predictable), and cannot invent instances for anyone but
//! itself. The signature covers the cluster's identity, so a ticket from
//! another cluster that reuses a key is worthless here. Two valid tickets for
//! one id with different specs prove the commander equivocated.

use generals_crypto::{ClusterId, Domain, InstanceId, NodeKey, PublicKey, Sig};
use serde::{Deserialize, Serialize};

use crate::InstanceSpec;

/// `sig` = commander's signature over `tag ‖ cluster:32 ‖ encode(spec)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceTicket {
    pub spec: InstanceSpec,
    pub sig: Sig,
}

impl InstanceTicket {
    /// The commander's ticket for `spec` in `cluster`.
    pub fn issue(key: &NodeKey, cluster: &ClusterId, spec: InstanceSpec) -> InstanceTicket {
        let sig = key.sign(Domain::Ticket, &[cluster.as_bytes(), &crate::encode(&spec)]);
        InstanceTicket { spec, sig }
    }

    /// Whether `commander` signed this spec for `cluster`.
    pub fn verify(&self, commander: &PublicKey, cluster: &ClusterId) -> bool {
        commander.verify(
            Domain::Ticket,
            &[cluster.as_bytes(), &crate::encode(&self.spec)],
            &self.sig,
        )
    }
}

/// Two tickets the commander signed for one id with different specs. Anyone
/// with the commander's public key and the cluster's peer table can check it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecEquivocationProof {
    pub first: InstanceTicket,
    pub second: InstanceTicket,
}

/// Why two tickets are not a proof of equivocation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecProofError {
    #[error("the tickets are for different instances ({0} and {1})")]
    DifferentInstances(InstanceId, InstanceId),
    #[error("both tickets name the same spec: that is not equivocation")]
    SameSpec,
    #[error("the {0} ticket is not signed by the commander for this cluster")]
    BadSignature(&'static str),
}

impl SpecEquivocationProof {
    pub fn instance(&self) -> InstanceId {
        self.first.spec.id
    }

    pub fn verify(&self, commander: &PublicKey, cluster: &ClusterId) -> Result<(), SpecProofError> {
        let (a, b) = (&self.first.spec, &self.second.spec);
        if a.id != b.id {
            return Err(SpecProofError::DifferentInstances(a.id, b.id));
        }
        if a == b {
            return Err(SpecProofError::SameSpec);
        }
        if !self.first.verify(commander, cluster) {
            return Err(SpecProofError::BadSignature("first"));
        }
        if !self.second.verify(commander, cluster) {
            return Err(SpecProofError::BadSignature("second"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Protocol;
    use generals_crypto::NodeId;

    fn spec(m: u8) -> InstanceSpec {
        InstanceSpec {
            id: InstanceId {
                commander: NodeId(0),
                seq: 7,
            },
            protocol: Protocol::Oral,
            m,
            n: 4,
        }
    }

    #[test]
    fn a_ticket_binds_key_spec_and_cluster() {
        let c = NodeKey::from_seed([1; 32]);
        let other = NodeKey::from_seed([2; 32]);
        let cluster = ClusterId::of(&[c.public(), other.public()]);
        let elsewhere = ClusterId::of(&[c.public()]);
        let t = InstanceTicket::issue(&c, &cluster, spec(1));
        assert!(t.verify(&c.public(), &cluster));
        assert!(!t.verify(&other.public(), &cluster), "another key");
        assert!(!t.verify(&c.public(), &elsewhere), "another cluster");
        let moved = InstanceTicket { spec: spec(2), ..t };
        assert!(!moved.verify(&c.public(), &cluster), "another spec");
        let seq = InstanceTicket {
            spec: InstanceSpec {
                id: InstanceId {
                    seq: 8,
                    ..spec(1).id
                },
                ..spec(1)
            },
            ..t
        };
        assert!(!seq.verify(&c.public(), &cluster), "another seq");
    }

    #[test]
    fn two_specs_for_one_id_prove_equivocation() {
        let c = NodeKey::from_seed([1; 32]);
        let cluster = ClusterId::of(&[c.public()]);
        let a = InstanceTicket::issue(&c, &cluster, spec(1));
        let b = InstanceTicket::issue(&c, &cluster, spec(2));
        let proof = SpecEquivocationProof {
            first: a,
            second: b,
        };
        assert_eq!(proof.verify(&c.public(), &cluster), Ok(()));
        let same = SpecEquivocationProof {
            first: a,
            second: a,
        };
        assert_eq!(
            same.verify(&c.public(), &cluster),
            Err(SpecProofError::SameSpec)
        );
        let forged = SpecEquivocationProof {
            first: a,
            second: InstanceTicket { spec: spec(3), ..b },
        };
        assert_eq!(
            forged.verify(&c.public(), &cluster),
            Err(SpecProofError::BadSignature("second"))
        );
    }
}
