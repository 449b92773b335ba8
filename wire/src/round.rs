//! Round frames: what one general sends another in one round of one instance.

use generals_crypto::SignedOrder;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{DecisionReport, InstanceSpec, InstanceTicket};

/// Everything a peer link carries once the handshake is done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerMessage {
    Round(RoundFrame),
    Report(DecisionReport),
}

/// One frame per (instance, round, sender, receiver). The sender is the
/// authenticated link peer; a frame never names its own relayer. Every frame
/// carries the commander's ticket for its instance, so a receiver can join
/// an instance only once its commander has issued it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundFrame {
    pub ticket: InstanceTicket,
    /// 1..=m+1.
    pub round: u8,
    pub body: RoundBody,
}

/// What a round frame carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoundBody {
    /// Nothing to relay this round. Sent anyway, so the receiver can close the
    /// round without waiting for the timeout.
    Empty,
    /// OM(m): the sender's values for every path in the canonical order both
    /// sides compute, one bit each.
    Oral(OralBits),
    /// SM(m): the chains the sender relays this round.
    Signed(Vec<SignedOrder>),
}

impl PeerMessage {
    /// Bytes this message takes on a peer link, length prefix included.
    pub fn wire_len(&self) -> usize {
        crate::LENGTH_PREFIX + crate::encoded_len(self)
    }
}

impl RoundBody {
    /// Lamport's "messages" in this body: values (OM) or chains (SM).
    pub fn logical_messages(&self) -> u64 {
        match self {
            RoundBody::Empty => 0,
            RoundBody::Oral(bits) => u64::from(bits.len()),
            RoundBody::Signed(chains) => chains.len() as u64,
        }
    }
}

impl RoundFrame {
    pub fn spec(&self) -> &InstanceSpec {
        &self.ticket.spec
    }

    /// Bytes this frame takes on a peer link, length prefix included.
    pub fn wire_len(&self) -> usize {
        // PeerMessage::Round's variant tag is a u32.
        crate::LENGTH_PREFIX + 4 + crate::encoded_len(self)
    }
}

/// A packed bit vector: value `i` is bit `i % 8` (least significant first) of
/// byte `i / 8`; 1 is ATTACK, 0 is RETREAT. Unused high bits of the last byte
/// are zero, so every vector has exactly one encoding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OralBits {
    count: u32,
    bytes: Vec<u8>,
}

/// An oral frame whose shape is wrong for its round.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OralBitsError {
    #[error("{count} values need {need} bytes, the frame has {have}")]
    Length {
        count: u32,
        need: usize,
        have: usize,
    },
    #[error("unused bits of the last byte are not zero")]
    Padding,
}

impl OralBits {
    pub fn zeros(count: u32) -> OralBits {
        OralBits {
            count,
            bytes: vec![0; byte_len(count)],
        }
    }

    /// A vector from raw parts, as decoded; call [`OralBits::check`] before use.
    pub fn from_raw(count: u32, bytes: Vec<u8>) -> OralBits {
        OralBits { count, bytes }
    }

    pub fn len(&self) -> u32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn check(&self) -> Result<(), OralBitsError> {
        let need = byte_len(self.count);
        if self.bytes.len() != need {
            return Err(OralBitsError::Length {
                count: self.count,
                need,
                have: self.bytes.len(),
            });
        }
        let used = self.count % 8;
        if used != 0 && self.bytes[need - 1] >> used != 0 {
            return Err(OralBitsError::Padding);
        }
        Ok(())
    }

    /// Value `i`; out-of-range reads are RETREAT (false), like any missing value.
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        self.bytes.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1)
    }

    #[inline]
    pub fn set(&mut self, i: usize, v: bool) {
        if let Some(b) = self.bytes.get_mut(i / 8) {
            let mask = 1 << (i % 8);
            if v {
                *b |= mask
            } else {
                *b &= !mask
            }
        }
    }

    /// Inverts every value (keeps the padding zero).
    pub fn invert(&mut self) {
        for b in &mut self.bytes {
            *b = !*b;
        }
        let used = self.count % 8;
        if used != 0 {
            if let Some(last) = self.bytes.last_mut() {
                *last &= (1u8 << used) - 1;
            }
        }
    }
}

fn byte_len(count: u32) -> usize {
    (count as usize).div_ceil(8)
}

// Wire form: count:u32le, then the bytes as a length-prefixed byte string.
// Deserialization borrows the bytes from the frame, so a lying length cannot
// make us allocate.
impl Serialize for OralBits {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&self.count)?;
        t.serialize_element(&serde_bytes_ref(&self.bytes))?;
        t.end()
    }
}

struct BytesRef<'a>(&'a [u8]);

fn serde_bytes_ref(b: &[u8]) -> BytesRef<'_> {
    BytesRef(b)
}

impl Serialize for BytesRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

struct ByteVec(Vec<u8>);

impl<'de> Deserialize<'de> for ByteVec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ByteVec, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ByteVec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<ByteVec, E> {
                Ok(ByteVec(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<ByteVec, E> {
                Ok(ByteVec(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ByteVec, A::Error> {
                // Human-readable formats (JSON) write bytes as a list of numbers.
                let mut out = Vec::new();
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(ByteVec(out))
            }
        }
        d.deserialize_bytes(V)
    }
}

impl<'de> Deserialize<'de> for OralBits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OralBits, D::Error> {
        let (count, ByteVec(bytes)) = <(u32, ByteVec)>::deserialize(d)?;
        Ok(OralBits { count, bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_pack_lsb_first_and_check_shape() {
        let mut b = OralBits::zeros(10);
        b.set(0, true);
        b.set(9, true);
        assert_eq!(b.as_bytes(), &[0b0000_0001, 0b0000_0010]);
        assert!(b.get(9) && !b.get(8) && !b.get(1000));
        b.check().unwrap();
        b.invert();
        assert_eq!(b.as_bytes(), &[0b1111_1110, 0b0000_0001]);
        b.check().unwrap();

        assert_eq!(
            OralBits::from_raw(10, vec![0]).check(),
            Err(OralBitsError::Length {
                count: 10,
                need: 2,
                have: 1
            })
        );
        assert_eq!(
            OralBits::from_raw(10, vec![0, 0b100]).check(),
            Err(OralBitsError::Padding)
        );
        OralBits::from_raw(16, vec![0xff, 0xff]).check().unwrap();
    }

    /// Inverting keeps the padding zero, whatever the count modulo 8.
    #[test]
    fn inverting_flips_every_value_and_keeps_the_padding_zero() {
        for (count, want) in [
            (10, vec![0xff, 0b11]),
            (16, vec![0xff, 0xff]),
            (3, vec![0b111]),
        ] {
            let mut b = OralBits::zeros(count);
            b.invert();
            assert_eq!(b.as_bytes(), &want[..], "{count} values");
            assert!((0..count as usize).all(|i| b.get(i)));
            assert_eq!(b.check(), Ok(()));
        }
    }

    #[test]
    fn an_empty_vector_is_empty() {
        assert!(OralBits::zeros(0).is_empty());
        assert!(!OralBits::zeros(1).is_empty());
        assert_eq!(OralBits::zeros(9).len(), 9);
    }
}
