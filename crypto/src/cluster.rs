//! The identity of one cluster: a digest of its peer table.
//!
//! Everything a node signs or seals is bound to it, so a key that is reused in
//! a second cluster cannot carry an instance, a chain or a link from one
//! cluster into the other. Only ids and public keys go in: an operator may
//! move a general to a new address without changing the cluster.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::PublicKey;

/// Domain tag of the digest; part of the wire spec (docs/WIRE.md).
const TAG: &[u8] = b"generals/v2/cluster\0";

/// SHA-256 over `tag ‖ n:u16le ‖ (id:u16le ‖ pubkey:32)*` in id order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterId(pub [u8; 32]);

impl ClusterId {
    /// The cluster whose general `i` has public key `peers[i]`.
    pub fn of(peers: &[PublicKey]) -> ClusterId {
        let mut h = Sha256::new();
        h.update(TAG);
        h.update((peers.len() as u16).to_le_bytes());
        for (i, key) in peers.iter().enumerate() {
            h.update((i as u16).to_le_bytes());
            h.update(key.to_bytes());
        }
        ClusterId(h.finalize().into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

// Raw bytes in binary formats, hex in human-readable ones (evidence files).
impl Serialize for ClusterId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(self.0))
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for ClusterId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ClusterId, D::Error> {
        use serde::de::Error;
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            let bytes = hex::decode(&text).map_err(D::Error::custom)?;
            <[u8; 32]>::try_from(bytes.as_slice())
                .map(ClusterId)
                .map_err(|_| D::Error::custom("a cluster id is 64 hex digits"))
        } else {
            <[u8; 32]>::deserialize(d).map(ClusterId)
        }
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClusterId({})", &hex::encode(self.0)[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NodeKey;

    #[test]
    fn every_key_and_its_position_changes_the_cluster() {
        let keys: Vec<PublicKey> = (1..=4u8)
            .map(|i| NodeKey::from_seed([i; 32]).public())
            .collect();
        let base = ClusterId::of(&keys);
        assert_eq!(base, ClusterId::of(&keys.clone()));
        let mut swapped = keys.clone();
        swapped.swap(1, 2);
        assert_ne!(base, ClusterId::of(&swapped));
        let mut other = keys.clone();
        other[3] = NodeKey::from_seed([9; 32]).public();
        assert_ne!(base, ClusterId::of(&other));
        assert_ne!(base, ClusterId::of(&keys[..3]));
    }
}
