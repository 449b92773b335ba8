//! The mutual challenge-response that opens every peer link.
//!
//! Both sides send a [`Hello`] with a fresh nonce, then an [`Auth`]: a
//! signature over both nonces, both ids and its own role. A peer is accepted
//! only if that signature verifies under the key the configuration lists for
//! the id it claims. The role byte stops a signature being reflected back.

use generals_crypto::{Domain, NodeId, NodeKey, PublicKey, Sig};
use serde::{Deserialize, Serialize};

pub const MAGIC: [u8; 8] = *b"GENERALS";
pub const VERSION: u16 = 1;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Handshake {
    Hello(Hello),
    Auth(Auth),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub magic: [u8; 8],
    pub version: u16,
    /// The id the sender claims; proved by its [`Auth`].
    pub id: NodeId,
    pub nonce: [u8; 32],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth {
    pub sig: Sig,
}

/// Which end of the TCP connection a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Dialer = 0,
    Listener = 1,
}

impl Hello {
    pub fn new(id: NodeId, nonce: [u8; 32]) -> Hello {
        Hello {
            magic: MAGIC,
            version: VERSION,
            id,
            nonce,
        }
    }
}

/// What each side signs: role ‖ dialer nonce ‖ listener nonce ‖ dialer id ‖ listener id.
pub fn transcript(role: Role, dialer: &Hello, listener: &Hello) -> [u8; 69] {
    let mut t = [0u8; 69];
    t[0] = role as u8;
    t[1..33].copy_from_slice(&dialer.nonce);
    t[33..65].copy_from_slice(&listener.nonce);
    t[65..67].copy_from_slice(&dialer.id.0.to_le_bytes());
    t[67..69].copy_from_slice(&listener.id.0.to_le_bytes());
    t
}

pub fn sign(key: &NodeKey, role: Role, dialer: &Hello, listener: &Hello) -> Auth {
    Auth {
        sig: key.sign(Domain::Handshake, &[&transcript(role, dialer, listener)]),
    }
}

pub fn verify(key: &PublicKey, role: Role, dialer: &Hello, listener: &Hello, auth: &Auth) -> bool {
    key.verify(
        Domain::Handshake,
        &[&transcript(role, dialer, listener)],
        &auth.sig,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_role_nonces_and_ids() {
        let a = NodeKey::from_seed([1; 32]);
        let d = Hello::new(NodeId(0), [1; 32]);
        let l = Hello::new(NodeId(1), [2; 32]);
        let auth = sign(&a, Role::Dialer, &d, &l);
        assert!(verify(&a.public(), Role::Dialer, &d, &l, &auth));
        // Reflected as the listener's proof: refused.
        assert!(!verify(&a.public(), Role::Listener, &d, &l, &auth));
        // Replayed on a link with a fresh nonce: refused.
        let l2 = Hello::new(NodeId(1), [3; 32]);
        assert!(!verify(&a.public(), Role::Dialer, &d, &l2, &auth));
        // Claimed by another id: refused.
        let d2 = Hello::new(NodeId(2), [1; 32]);
        assert!(!verify(&a.public(), Role::Dialer, &d2, &l, &auth));
    }
}
