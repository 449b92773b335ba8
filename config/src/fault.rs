//! The optional `[fault]` section: traitor behaviour for tests and demonstrations.

use std::fmt;
use std::str::FromStr;

use generals_crypto::NodeId;
use serde::{Deserialize, Serialize};

/// How a faulty node misbehaves. The daemon honours it only when started with
/// `--allow-faults`; the protocol crate gives each strategy its meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultStrategy {
    Flip,
    Equivocate,
    Split,
    Silent,
    Partial,
    Random,
    Forge,
    LateReveal,
    Delay,
    Precreate,
    Hog,
    DupSigner,
}

impl FaultStrategy {
    /// Every strategy, in the order error messages list them.
    pub const ALL: [FaultStrategy; 12] = [
        FaultStrategy::Flip,
        FaultStrategy::Equivocate,
        FaultStrategy::Split,
        FaultStrategy::Silent,
        FaultStrategy::Partial,
        FaultStrategy::Random,
        FaultStrategy::Forge,
        FaultStrategy::LateReveal,
        FaultStrategy::Delay,
        FaultStrategy::Precreate,
        FaultStrategy::Hog,
        FaultStrategy::DupSigner,
    ];

    /// The name used in config files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultStrategy::Flip => "flip",
            FaultStrategy::Equivocate => "equivocate",
            FaultStrategy::Split => "split",
            FaultStrategy::Silent => "silent",
            FaultStrategy::Partial => "partial",
            FaultStrategy::Random => "random",
            FaultStrategy::Forge => "forge",
            FaultStrategy::LateReveal => "late-reveal",
            FaultStrategy::Delay => "delay",
            FaultStrategy::Precreate => "precreate",
            FaultStrategy::Hog => "hog",
            FaultStrategy::DupSigner => "dup-signer",
        }
    }

    /// What the strategy makes a traitor do, in one sentence: the text of
    /// `generals simulate --help` and of the tables in docs/OPERATIONS.md
    /// and README.md (a test keeps them equal). "Odd ids" are the receivers
    /// it singles out unless `targets` names others.
    pub fn description(self) -> &'static str {
        match self {
            FaultStrategy::Flip => {
                "sends the opposite of every value; as SM commander it signs the opposite \
                 order, as SM lieutenant it relays chains with the value changed (their \
                 signatures then fail)"
            }
            FaultStrategy::Equivocate => "another name for split",
            FaultStrategy::Split => {
                "odd ids get the opposite value, the others the true one; as SM commander \
                 it signs both orders (an equivocation, proven by the lieutenants), as SM \
                 lieutenant it relays to the others only"
            }
            FaultStrategy::Silent => {
                "sends nothing; receivers wait for their deadlines and count the missing \
                 values as RETREAT"
            }
            FaultStrategy::Partial => "silent to odd ids, loyal to the others",
            FaultStrategy::Random => {
                "picks a strategy at random for every frame (flip, split, silent, forge, \
                 and for SM delay), or randomises the values (OM) or drops and corrupts \
                 chains (SM); the seed makes it repeatable"
            }
            FaultStrategy::Forge => {
                "SM: chains with a changed value, a bad signature, the commander's \
                 signature made with its own key, or a signature replayed from another \
                 instance; OM: frames of the wrong size"
            }
            FaultStrategy::LateReveal => {
                "SM: the commander and up to m-1 traitor lieutenants hold a second signed \
                 order back and reveal it at the last round the rules allow (even seeds) \
                 or after it (odd seeds); OM: as forge"
            }
            FaultStrategy::Delay => {
                "everything it sends arrives after the receiver's round deadline \
                 (delay_ms, default 4 x round_timeout_ms)"
            }
            FaultStrategy::Precreate => {
                "attacks the node, not the algorithm: before the order it sends frames for \
                 loyal commanders' next instances, with tickets it cannot sign; its relays \
                 are loyal"
            }
            FaultStrategy::Hog => {
                "attacks the node: before the order it fills every instance slot and \
                 memory budget it can reach with instances of its own; as commander it \
                 then gives its real order to even ids only"
            }
            FaultStrategy::DupSigner => {
                "SM with a traitor commander and m >= 2: a traitor lieutenant gives one \
                 loyal lieutenant, in the last round, a chain for the other order signed \
                 by the commander and then by itself again and again (c:t:t...), which only \
                 the distinct-signers rule refuses; OM: as forge"
            }
        }
    }

    /// "flip, equivocate, ..." for error messages and help texts.
    pub fn names() -> String {
        FaultStrategy::ALL.map(FaultStrategy::as_str).join(", ")
    }
}

impl fmt::Display for FaultStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FaultStrategy {
    type Err = UnknownFaultStrategy;
    fn from_str(s: &str) -> Result<FaultStrategy, UnknownFaultStrategy> {
        FaultStrategy::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| UnknownFaultStrategy(s.to_owned()))
    }
}

/// A strategy name that is not in [`FaultStrategy::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault strategy {0:?}; use one of: {names}", names = FaultStrategy::names())]
pub struct UnknownFaultStrategy(pub String);

/// The validated `[fault]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultConfig {
    pub strategy: FaultStrategy,
    /// Peers the strategy applies to; empty means the strategy's own default.
    pub targets: Vec<NodeId>,
    pub seed: u64,
    pub delay_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_display_fromstr_and_serde() {
        for s in FaultStrategy::ALL {
            assert_eq!(s.to_string().parse::<FaultStrategy>(), Ok(s));
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{s}\""));
        }
        assert_eq!(
            "late-reveal".parse::<FaultStrategy>(),
            Ok(FaultStrategy::LateReveal)
        );
        let err = "lateReveal".parse::<FaultStrategy>().unwrap_err();
        assert!(err.to_string().contains("late-reveal, delay"), "{err}");
    }
}
