//! Identifiers shared by every crate: generals, instances and the two orders.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A general's id: its index in the cluster's peer list, `0..n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub u16);

impl NodeId {
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The two orders a commander can give. RETREAT is the default that every
/// missing, late or malformed value turns into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Order {
    #[default]
    Retreat = 0,
    Attack = 1,
}

impl Order {
    pub fn as_byte(self) -> u8 {
        self as u8
    }

    pub fn from_bit(bit: bool) -> Order {
        if bit {
            Order::Attack
        } else {
            Order::Retreat
        }
    }

    pub fn is_attack(self) -> bool {
        self == Order::Attack
    }

    pub fn flipped(self) -> Order {
        Order::from_bit(!self.is_attack())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Order::Retreat => "retreat",
            Order::Attack => "attack",
        }
    }
}

impl From<Order> for u8 {
    fn from(o: Order) -> u8 {
        o.as_byte()
    }
}

impl TryFrom<u8> for Order {
    type Error = String;
    fn try_from(b: u8) -> Result<Order, String> {
        match b {
            0 => Ok(Order::Retreat),
            1 => Ok(Order::Attack),
            other => Err(format!(
                "order byte must be 0 (retreat) or 1 (attack), got {other}"
            )),
        }
    }
}

// One byte in binary formats, "attack"/"retreat" in human-readable ones.
impl Serialize for Order {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(self.as_str())
        } else {
            s.serialize_u8(self.as_byte())
        }
    }
}

impl<'de> Deserialize<'de> for Order {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Order, D::Error> {
        use serde::de::Error;
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(D::Error::custom)
        } else {
            Order::try_from(u8::deserialize(d)?).map_err(D::Error::custom)
        }
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Order {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Order, ParseIdError> {
        match s.to_ascii_lowercase().as_str() {
            "attack" => Ok(Order::Attack),
            "retreat" => Ok(Order::Retreat),
            _ => Err(ParseIdError(format!(
                "unknown order {s:?}: use \"attack\" or \"retreat\""
            ))),
        }
    }
}

/// One run of a protocol: the commander that started it and the commander's
/// sequence number, which it persists and never reuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstanceId {
    pub commander: NodeId,
    pub seq: u64,
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.commander, self.seq)
    }
}

impl FromStr for InstanceId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<InstanceId, ParseIdError> {
        let bad = || {
            ParseIdError(format!(
                "bad instance id {s:?}: expected COMMANDER-SEQ, for example 0-17"
            ))
        };
        let (c, q) = s.split_once('-').ok_or_else(bad)?;
        Ok(InstanceId {
            commander: NodeId(c.parse().map_err(|_| bad())?),
            seq: q.parse().map_err(|_| bad())?,
        })
    }
}

/// A string that is not an order or an instance id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseIdError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_id_round_trips_and_rejects_garbage() {
        let id: InstanceId = "3-42".parse().unwrap();
        assert_eq!(
            id,
            InstanceId {
                commander: NodeId(3),
                seq: 42
            }
        );
        assert_eq!(id.to_string(), "3-42");
        let err = "3:42".parse::<InstanceId>().unwrap_err();
        assert!(err.0.contains("COMMANDER-SEQ"), "{err}");
        assert!("x-1".parse::<InstanceId>().is_err());
        assert!("1-".parse::<InstanceId>().is_err());
    }

    #[test]
    fn order_parses_and_rejects_unknown_bytes() {
        assert_eq!("ATTACK".parse::<Order>().unwrap(), Order::Attack);
        assert!("charge".parse::<Order>().unwrap_err().0.contains("attack"));
        assert_eq!(Order::try_from(1u8), Ok(Order::Attack));
        assert!(Order::try_from(2u8).unwrap_err().contains("got 2"));
        assert_eq!(Order::Attack.flipped(), Order::Retreat);
    }
}
