//! What every round frame says about its instance.

use std::fmt;
use std::str::FromStr;

use generals_crypto::InstanceId;
use serde::{Deserialize, Serialize};

/// Which algorithm an instance runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// OM(m): oral messages, recursive majority; needs n >= 3m+1.
    Oral = 0,
    /// SM(m): Ed25519 signature chains; works for n >= m+2.
    Signed = 1,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Oral => "oral",
            Protocol::Signed => "signed",
        }
    }
}

impl From<Protocol> for u8 {
    fn from(p: Protocol) -> u8 {
        p as u8
    }
}

impl TryFrom<u8> for Protocol {
    type Error = String;
    fn try_from(b: u8) -> Result<Protocol, String> {
        match b {
            0 => Ok(Protocol::Oral),
            1 => Ok(Protocol::Signed),
            other => Err(format!(
                "protocol byte must be 0 (oral) or 1 (signed), got {other}"
            )),
        }
    }
}

// One byte in binary formats, "oral"/"signed" in human-readable ones.
impl Serialize for Protocol {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(self.as_str())
        } else {
            s.serialize_u8(*self as u8)
        }
    }
}

impl<'de> Deserialize<'de> for Protocol {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
        use serde::de::Error;
        if d.is_human_readable() {
            String::deserialize(d)?.parse().map_err(D::Error::custom)
        } else {
            Protocol::try_from(u8::deserialize(d)?).map_err(D::Error::custom)
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Protocol, String> {
        match s {
            "oral" | "om" => Ok(Protocol::Oral),
            "signed" | "sm" => Ok(Protocol::Signed),
            _ => Err(format!(
                "unknown protocol {s:?}: use \"oral\" or \"signed\""
            )),
        }
    }
}

/// An instance as every participant must see it: its id, the algorithm, m,
/// and the cluster size n. Carried in every round frame, so a lieutenant the
/// commander ignored still learns of the instance from a relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstanceSpec {
    pub id: InstanceId,
    pub protocol: Protocol,
    pub m: u8,
    pub n: u16,
}

impl InstanceSpec {
    /// Rounds in the instance: m+1.
    pub fn rounds(&self) -> u8 {
        self.m.saturating_add(1)
    }
}
