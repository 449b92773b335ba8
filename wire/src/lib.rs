//! generals-wire: every byte that crosses a `generals` socket.
//!
//! Peer links and the control socket both carry length-prefixed frames
//! (4-byte big-endian length, then a bincode 2 body with fixed-width
//! little-endian integers). This crate owns the message types, the size limits
//! checked before any allocation, and the typed tokio-util codec. docs/WIRE.md
//! is its specification; the test vectors there are checked by `tests/vectors.rs`.

mod codec;
mod encoding;
pub mod handshake;
mod instance;
mod report;
mod round;
mod ticket;

pub use codec::{CodecError, MessageCodec, LENGTH_PREFIX};
pub use encoding::{decode, encode, encoded_len, DecodeError, HARD_MAX_FRAME};
pub use instance::{InstanceSpec, Protocol};
pub use report::{DecisionReport, MessageCounters};
pub use round::{OralBits, OralBitsError, PeerMessage, RoundBody, RoundFrame};
pub use ticket::{InstanceTicket, SpecEquivocationProof, SpecProofError};

pub use generals_crypto::{InstanceId, NodeId, Order};
