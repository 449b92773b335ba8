//! generals-wire: every byte that crosses a `generals` socket.
//!
//! Message bodies are bincode 2 with fixed-width little-endian integers. A
//! peer link starts with a plaintext `Hello` each way and a Noise handshake
//! bound to the nodes' Ed25519 keys ([`handshake`]); after that every frame
//! is sealed ([`SealedCodec`]). The control socket carries plain
//! length-prefixed frames ([`MessageCodec`]). This crate owns the message
//! types, the size limits checked before any allocation, and both typed
//! tokio-util codecs. docs/WIRE.md is its specification; the test vectors
//! there are checked by `tests/vectors.rs`.

mod codec;
mod encoding;
pub mod handshake;
mod instance;
mod kinds;
mod report;
mod round;
mod sealed;
mod ticket;

pub use codec::{CodecError, CodecErrorKind, MessageCodec, LENGTH_PREFIX};
pub use encoding::{decode, encode, encoded_len, DecodeError, HARD_MAX_FRAME};
pub use instance::{InstanceSpec, Protocol};
pub use report::{DecisionReport, MessageCounters};
pub use round::{OralBits, OralBitsError, PeerMessage, RoundBody, RoundFrame};
pub use sealed::{
    SealedCodec, SealedDecoder, SealedEncoder, RECORD_HEADER, RECORD_PLAINTEXT, RECORD_TAG,
};
pub use ticket::{InstanceTicket, SpecEquivocationProof, SpecProofError};

pub use generals_crypto::{InstanceId, NodeId, Order};

/// For [`kinds!`]: the serde its expansion names, whatever the caller's is.
#[doc(hidden)]
pub use serde as __serde;
