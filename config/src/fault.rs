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
