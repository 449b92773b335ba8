//! generals-crypto: every key and signature of a `generals` node.
//!
//! It holds node and instance identifiers, Ed25519 key files (mode 0600),
//! domain-separated signing, the signature chains of SM(m) ([`SignedOrder`]) and
//! the transferable proof that a commander signed two orders for one instance
//! ([`EquivocationProof`]). It does no network I/O; the only files it touches
//! are key files.

mod chain;
mod cluster;
mod domain;
mod evidence;
mod ids;
mod keys;

pub use chain::{ChainError, ChainLink, PrefixCache, SignedOrder, VerifyStats};
pub use cluster::ClusterId;
pub use domain::Domain;
pub use evidence::{EquivocationProof, ProofError};
pub use ids::{InstanceId, NodeId, Order, ParseIdError};
pub use keys::{KeyFileError, NodeKey, PublicKey, PublicKeyError, Sig, VerifyMemo};
