//! Signed decision reports: how a commander learns what its lieutenants
//! decided. A traitor can lie only about itself, because each report is signed
//! by its reporter.

use crate::InstanceSpec;
use generals_crypto::{
    Domain, EquivocationProof, InstanceId, NodeId, NodeKey, Order, PublicKey, Sig,
};
use serde::{Deserialize, Serialize};

/// What one node sent in one instance. Summed over nodes, these are the
/// instance's cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCounters {
    /// Values (OM) or chains (SM) sent: Lamport's "messages".
    pub logical: u64,
    pub frames: u64,
    /// Frame bytes including the 4-byte length prefix.
    pub bytes: u64,
    pub signatures_made: u64,
    pub signatures_verified: u64,
}

impl MessageCounters {
    /// Counts one frame as sent: its logical messages, the frame, its bytes.
    pub fn count_sent(&mut self, frame: &crate::RoundFrame) {
        self.logical = self.logical.saturating_add(frame.body.logical_messages());
        self.frames = self.frames.saturating_add(1);
        self.bytes = self.bytes.saturating_add(frame.wire_len() as u64);
    }

    /// Adds another node's counters. They may come from a traitor's report,
    /// so they saturate instead of wrapping.
    pub fn add(&mut self, o: &MessageCounters) {
        self.logical = self.logical.saturating_add(o.logical);
        self.frames = self.frames.saturating_add(o.frames);
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.signatures_made = self.signatures_made.saturating_add(o.signatures_made);
        self.signatures_verified = self
            .signatures_verified
            .saturating_add(o.signatures_verified);
    }
}

/// A lieutenant's decision for an instance, signed by the lieutenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionReport {
    /// The instance as the reporter ran it: id, protocol, m and n, so a
    /// report about a forged spec is never mistaken for the real instance.
    pub spec: InstanceSpec,
    pub reporter: NodeId,
    pub decision: Order,
    /// The reporter's equivocation proof for this instance, if it holds one,
    /// so whoever collects reports can check it with the commander's key.
    pub evidence: Option<EquivocationProof>,
    /// The reporter runs a `[fault]` strategy. Self-declared, for tests and
    /// demonstrations: a real traitor could lie here, but only about itself.
    pub faulty: bool,
    pub counters: MessageCounters,
    /// Peers whose frames reached the reporter after it had closed their
    /// round: a timing alarm (Δ too small for the load), not proof of a traitor.
    pub late: Vec<NodeId>,
    pub sig: Sig,
}

impl DecisionReport {
    /// An unsigned report; call [`DecisionReport::signed_by`] before sending.
    pub fn new(
        spec: InstanceSpec,
        reporter: NodeId,
        decision: Order,
        counters: MessageCounters,
    ) -> DecisionReport {
        DecisionReport {
            spec,
            reporter,
            decision,
            evidence: None,
            faulty: false,
            counters,
            late: Vec::new(),
            sig: Sig([0; 64]),
        }
    }

    /// The report with `key`'s signature over every other field.
    pub fn signed_by(mut self, key: &NodeKey) -> DecisionReport {
        self.sig = key.sign(Domain::Report, &[&self.signed_bytes()]);
        self
    }

    /// Everything but the signature, in wire encoding.
    fn signed_bytes(&self) -> Vec<u8> {
        crate::encode(&(
            self.spec,
            self.reporter,
            self.decision,
            &self.evidence,
            self.faulty,
            self.counters,
            &self.late,
        ))
    }

    pub fn instance(&self) -> InstanceId {
        self.spec.id
    }

    pub fn verify(&self, reporter_key: &PublicKey) -> bool {
        reporter_key.verify(Domain::Report, &[&self.signed_bytes()], &self.sig)
    }
}
