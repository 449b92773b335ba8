//! generals-node: Lamport's Byzantine Generals as a running system.
//!
//! [`protocol`] holds the sans-IO OM(m) and SM(m) state machines and the
//! lock-step round driver; [`sim`] drives them over a deterministic virtual
//! network and [`picture`] draws one such run; the `generals` binary
//! (src/main.rs, src/cli/) is the operator CLI.

pub mod bench;
pub mod cli;
pub mod cluster;
pub mod control;
pub mod daemon;
pub mod picture;
pub mod protocol;
pub mod report;
pub mod schedule;
pub mod search;
pub mod sim;
