//! The sans-IO protocol cores: OM(m) and SM(m) state machines and the
//! lock-step round driver around them.
//!
//! Nothing here touches a socket, a file, a clock or a thread RNG. Inputs are
//! frames and the current time, passed in; outputs are [`Effect`]s. The
//! daemon and the simulator drive the same [`Instance`], and differ only in
//! how they carry out effects.

pub mod adversary;
pub mod deadline;
mod instance;
pub mod node;
pub mod oral;
pub mod paths;
pub mod signed;

use std::sync::Arc;

use generals_crypto::{ChainError, ClusterId, InstanceId, NodeId, NodeKey, PublicKey};
use generals_wire::OralBitsError;

pub use instance::{round_deadline, Effect, Instance, Limits, Outcome, Role};
pub use node::{
    DecisionRecord, InstanceTimes, Node, NodeEvent, NodeLimits, OrderError, Output, SignState,
};

/// What a node signs with and checks against: its own key and every
/// configured peer's public key, indexed by id.
#[derive(Debug)]
pub struct Keyring {
    pub me: NodeId,
    pub key: Arc<NodeKey>,
    pub peers: Vec<PublicKey>,
    /// The digest of `peers`, which every ticket and chain signature covers;
    /// computed once here rather than per instance.
    pub cluster: ClusterId,
}

impl Keyring {
    pub fn new(me: NodeId, key: Arc<NodeKey>, peers: Vec<PublicKey>) -> Keyring {
        let cluster = ClusterId::of(&peers);
        Keyring {
            me,
            key,
            peers,
            cluster,
        }
    }

    pub fn n(&self) -> usize {
        self.peers.len()
    }
}

/// Why a frame, or a chain inside one, was not believed. A peer's misbehaviour
/// is data, counted and logged; the value it would have carried stays the
/// default (RETREAT).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    #[error("frame for round {round}, but this node is already in round {current}")]
    PastRound { round: u8, current: u8 },
    #[error("frame for round {round}, but the instance ends at round {last}")]
    RoundOutOfRange { round: u8, last: u8 },
    #[error("node {from} has no frame to send in round {round}")]
    UnexpectedSender { from: NodeId, round: u8 },
    #[error("second frame from {from} for round {round}")]
    Duplicate { from: NodeId, round: u8 },
    #[error("frame describes the instance differently from the first frame seen")]
    SpecMismatch,
    #[error("frame body is for the other protocol")]
    WrongBodyKind,
    #[error("oral frame is malformed: {0}")]
    OralShape(OralBitsError),
    #[error("oral frame carries {got} values, round needs {expected}")]
    OralCount { expected: u64, got: u64 },
    #[error("frame carries {got} chains, at most {max} are read")]
    TooManyChains { got: usize, max: usize },
    #[error("chain is for instance {got}")]
    WrongInstance { got: InstanceId },
    #[error("chain says m = {got}, instance has m = {want}")]
    WrongM { got: u8, want: u8 },
    #[error("chain with {signatures} signatures in round {round} (the round rule needs exactly {round})")]
    WrongRound { signatures: usize, round: u8 },
    #[error("chain's last signer {last:?} is not the link peer {link}")]
    LastSignerNotLink { last: Option<NodeId>, link: NodeId },
    #[error("chain already carries this node's signature")]
    ContainsReceiver,
    #[error("chain is invalid: {0}")]
    Chain(ChainError),
}

generals_wire::kinds! {
    /// Why a frame, chain or report was refused: a [`Rejection`] inside an
    /// instance, or the node's own admission and report checks. The keys of
    /// `rejections` in `generals status` and the `reason` label of the
    /// rejection metrics.
    pub enum RejectKind {
        PastRound => "past_round",
        RoundOutOfRange => "round_out_of_range",
        UnexpectedSender => "unexpected_sender",
        Duplicate => "duplicate",
        SpecMismatch => "spec_mismatch",
        WrongBodyKind => "wrong_body_kind",
        OralShape => "oral_shape",
        OralCount => "oral_count",
        TooManyChains => "too_many_chains",
        WrongInstance => "wrong_instance",
        WrongM => "wrong_m",
        WrongRound => "wrong_round",
        LastSignerNotLink => "last_signer_not_link",
        ContainsReceiver => "contains_receiver",
        BadSignature => "bad_signature",
        UnknownSigner => "unknown_signer",
        DuplicateSigner => "duplicate_signer",
        FirstSignerNotCommander => "first_signer_not_commander",
        BadChain => "bad_chain",
        /// The ticket does not verify, or differs from the instance's.
        BadTicket => "bad_ticket",
        UnknownOwnInstance => "unknown_own_instance",
        BadSpec => "bad_spec",
        ShuttingDown => "shutting_down",
        AlreadyDecided => "already_decided",
        CommanderQuota => "commander_quota",
        RelayQuota => "relay_quota",
        MemoryBudget => "memory_budget",
        ReportUnknownInstance => "report_unknown_instance",
        /// A report not signed by its sender, or with a proof that does not verify.
        BadReport => "bad_report",
    }
}

impl RejectKind {
    /// Whether this refuses a signature: a signed chain that breaks one of
    /// SM's acceptance rules (DESIGN.md), a ticket, or a report. The
    /// `generals_signatures_rejected_total` metric counts these.
    pub fn is_signature(self) -> bool {
        matches!(
            self,
            RejectKind::WrongInstance
                | RejectKind::WrongM
                | RejectKind::WrongRound
                | RejectKind::LastSignerNotLink
                | RejectKind::ContainsReceiver
                | RejectKind::BadSignature
                | RejectKind::UnknownSigner
                | RejectKind::DuplicateSigner
                | RejectKind::FirstSignerNotCommander
                | RejectKind::BadChain
                | RejectKind::BadTicket
                | RejectKind::BadReport
        )
    }

    /// Refusals an operator should see at warn level: a peer is over its
    /// budget or sends what its commander never signed.
    pub fn is_loud(self) -> bool {
        matches!(
            self,
            RejectKind::CommanderQuota
                | RejectKind::RelayQuota
                | RejectKind::MemoryBudget
                | RejectKind::BadTicket
        )
    }
}

impl Rejection {
    /// A stable snake_case name, for counters and metrics labels.
    pub fn kind(&self) -> RejectKind {
        match self {
            Rejection::PastRound { .. } => RejectKind::PastRound,
            Rejection::RoundOutOfRange { .. } => RejectKind::RoundOutOfRange,
            Rejection::UnexpectedSender { .. } => RejectKind::UnexpectedSender,
            Rejection::Duplicate { .. } => RejectKind::Duplicate,
            Rejection::SpecMismatch => RejectKind::SpecMismatch,
            Rejection::WrongBodyKind => RejectKind::WrongBodyKind,
            Rejection::OralShape(_) => RejectKind::OralShape,
            Rejection::OralCount { .. } => RejectKind::OralCount,
            Rejection::TooManyChains { .. } => RejectKind::TooManyChains,
            Rejection::WrongInstance { .. } => RejectKind::WrongInstance,
            Rejection::WrongM { .. } => RejectKind::WrongM,
            Rejection::WrongRound { .. } => RejectKind::WrongRound,
            Rejection::LastSignerNotLink { .. } => RejectKind::LastSignerNotLink,
            Rejection::ContainsReceiver => RejectKind::ContainsReceiver,
            Rejection::Chain(ChainError::BadSignature { .. }) => RejectKind::BadSignature,
            Rejection::Chain(ChainError::UnknownSigner { .. }) => RejectKind::UnknownSigner,
            Rejection::Chain(ChainError::DuplicateSigner { .. }) => RejectKind::DuplicateSigner,
            Rejection::Chain(ChainError::FirstSignerNotCommander { .. }) => {
                RejectKind::FirstSignerNotCommander
            }
            Rejection::Chain(_) => RejectKind::BadChain,
        }
    }
}

/// An instance this node cannot run. This is local validation (of an order
/// or of a frame's instance description), not a peer fault to count.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    #[error("the instance says n = {got}, but this cluster has {want} generals")]
    WrongN { got: usize, want: usize },
    #[error("commander {0} is not a general of this cluster")]
    UnknownCommander(NodeId),
    #[error("this node is the commander of instance {0}; it cannot join it as a lieutenant")]
    OwnInstance(InstanceId),
    #[error("m = {m} needs at least m+2 = {} generals, the cluster has {n}", usize::from(*m) + 2)]
    MTooLarge { m: u8, n: usize },
    #[error("{n} generals is more than the {max} this protocol supports")]
    TooManyNodes { n: usize, max: usize },
    #[error("OM({m}) at n = {n} needs an EIG tree larger than this node allows")]
    TreeTooLarge { n: usize, m: u8 },
    #[error("the order was refused: {0}")]
    Refused(String),
}
