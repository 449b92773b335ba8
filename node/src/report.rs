//! The result of one instance, as `simulate --json`, `order --wait --json`
//! and `demo --json` print it. The field names are a contract with operators'
//! scripts: add fields, never rename them.

use std::collections::BTreeMap;

use generals_crypto::{EquivocationProof, NodeId, Order};
use generals_wire::{MessageCounters, Protocol};
use serde::{Deserialize, Serialize};

pub use crate::protocol::Role;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneralReport {
    pub id: NodeId,
    pub role: Role,
    pub traitor: bool,
    /// None for traitors (what a traitor "decides" means nothing) and for
    /// generals whose decision is unknown.
    pub decision: Option<Order>,
    /// Daemons only: whether this general's signed report arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<bool>,
    /// Daemons only: when this general decided, wall-clock unix µs (see
    /// [`crate::protocol::InstanceTimes`]). A commander knows only its own;
    /// `generals bench` asks every general's daemon for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_unix_us: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageReport {
    /// Values (OM) or chains (SM) sent: Lamport's "messages".
    pub logical: u64,
    /// The closed form for a loyal run: Lamport's sum for OM, (n-1)^2 for SM.
    pub formula: u64,
    pub frames: u64,
    /// Frame bytes on the wire, length prefixes included.
    pub bytes: u64,
    pub signatures_made: u64,
    pub signatures_verified: u64,
    /// Logical messages sent by loyal generals only.
    pub loyal_logical: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceReport {
    pub instance: String,
    pub commander: NodeId,
    /// Loyal lieutenants holding the proof.
    pub holders: Vec<NodeId>,
    /// The proof checked with only the commander's public key.
    pub verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<EquivocationProof>,
}

/// One instance's outcome across all generals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceReport {
    pub protocol: Protocol,
    pub n: usize,
    pub m: u8,
    pub commander: NodeId,
    pub order: Order,
    pub traitors: Vec<NodeId>,
    /// Traitor id → strategy.
    pub strategy: BTreeMap<String, String>,
    pub generals: Vec<GeneralReport>,
    pub ic1: bool,
    pub ic2: bool,
    pub rounds: u8,
    pub messages: MessageReport,
    pub evidence: Vec<EvidenceReport>,
    /// Rejections at loyal generals, by reason.
    pub rejections: BTreeMap<crate::protocol::RejectKind, u64>,
    /// Daemons: the instance id, COMMANDER-SEQ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Daemons: whether every general's report arrived before the wait ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
    /// Simulator: virtual time the run took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_ms: Option<u64>,
    /// Simulator: the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Peers whose frames reached some loyal general after it had closed
    /// their round: a timing alarm. A RETREAT here may come from a deadline
    /// too short for the load, not from the commander.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub late_frames_from: Vec<NodeId>,
    /// The commander signed two different specs for this instance id; the
    /// proof is in the evidence directory of every loyal node that saw both.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub spec_equivocation: bool,
    /// Simulator: loyal lieutenants whose signed report never reached a
    /// loyal commander.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports_missing: Vec<NodeId>,
    /// Daemons only: when the reporting node opened the instance (at the
    /// commander: the order), wall-clock unix µs; known once it decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_unix_us: Option<u64>,
}

impl MessageReport {
    /// Adds one general's own counters; `loyal` also counts its logical messages
    /// in `loyal_logical`.
    /// Counters may come from a traitor's report, so sums saturate.
    pub fn add(&mut self, c: &MessageCounters, loyal: bool) {
        self.logical = self.logical.saturating_add(c.logical);
        self.frames = self.frames.saturating_add(c.frames);
        self.bytes = self.bytes.saturating_add(c.bytes);
        self.signatures_made = self.signatures_made.saturating_add(c.signatures_made);
        self.signatures_verified = self
            .signatures_verified
            .saturating_add(c.signatures_verified);
        if loyal {
            self.loyal_logical = self.loyal_logical.saturating_add(c.logical);
        }
    }
}

impl InstanceReport {
    pub fn loyal_decisions(&self) -> impl Iterator<Item = Order> + '_ {
        loyal_lieutenants(&self.generals).filter_map(|g| g.decision)
    }

    /// What is wrong with this run, if anything: a loyal lieutenant without
    /// a decision, loyal lieutenants that disagree (IC1), or a loyal
    /// commander disobeyed (IC2). Computed from the decisions themselves.
    pub fn violation(&self) -> Option<String> {
        let loyal: Vec<(NodeId, Option<Order>)> = loyal_lieutenants(&self.generals)
            .map(|g| (g.id, g.decision))
            .collect();
        if let Some((id, _)) = loyal.iter().find(|(_, d)| d.is_none()) {
            return Some(format!("loyal lieutenant {id} has no decision: {loyal:?}"));
        }
        let commander_loyal = !self.traitors.contains(&self.commander);
        match Self::interactive_consistency(&self.generals, commander_loyal, self.order) {
            (false, _) => Some(format!(
                "IC1 violated: loyal lieutenants disagree: {loyal:?}"
            )),
            (_, false) => Some(format!(
                "IC2 violated: loyal commander ordered {}: {loyal:?}",
                self.order
            )),
            _ => None,
        }
    }

    /// IC1 and IC2 from the decisions: (all loyal lieutenants agree, all obey
    /// a loyal commander).
    pub fn interactive_consistency(
        generals: &[GeneralReport],
        commander_loyal: bool,
        order: Order,
    ) -> (bool, bool) {
        let loyal: Vec<Option<Order>> = loyal_lieutenants(generals).map(|g| g.decision).collect();
        let ic1 = loyal.windows(2).all(|w| w[0] == w[1]);
        let ic2 = !commander_loyal || loyal.iter().all(|&d| d == Some(order));
        (ic1, ic2)
    }
}

fn loyal_lieutenants(generals: &[GeneralReport]) -> impl Iterator<Item = &GeneralReport> {
    generals
        .iter()
        .filter(|g| !g.traitor && g.role == Role::Lieutenant)
}
