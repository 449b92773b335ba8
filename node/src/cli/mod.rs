//! The `generals` command line. Each subcommand lives in its own module; this
//! file is the table of contents.
//!
//! Exit codes: 0 success; 1 error; 2 usage error (clap); 3 the run finished
//! but IC1 or IC2 did not hold; 4 `order --wait` ended before every signed
//! report arrived.

mod bench;
pub mod client;
mod compare;
mod config;
mod demo;
mod evidence;
mod init;
mod keygen;
mod node;
pub(crate) mod order;
mod show_node_id;
pub(crate) mod simulate;
mod status;
mod testnet;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for a run that completed but broke IC1 or IC2.
pub const EXIT_IC_VIOLATED: u8 = 3;
/// Exit code for `order --wait` when the wait ended before every general's
/// signed report arrived (and IC1 and IC2 held as far as the reports show).
pub const EXIT_INCOMPLETE: u8 = 4;

/// `generals --version`: the release, the commit it was built from (see
/// `build.rs`; "unknown" outside a git checkout) and the wire version, which
/// decides whether two nodes can talk (docs/OPERATIONS.md, Wire version).
pub fn version_text() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "{} (commit {}, wire version {})",
            env!("CARGO_PKG_VERSION"),
            env!("GENERALS_COMMIT"),
            generals_wire::handshake::VERSION
        )
    })
}

#[derive(Debug, Parser)]
#[command(
    name = "generals",
    version = version_text(),
    about = "Lamport's Byzantine Generals (oral OM(m) and signed SM(m)) as real TCP daemons",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The tour: 7 real nodes on loopback running OM(2) and SM(2), loyal and traitor.
    Demo(demo::DemoArgs),
    /// Run one instance in the deterministic in-process simulator (no daemons).
    Simulate(simulate::SimulateArgs),
    /// OM(m) against SM(m) on the same scenario, side by side; --sweep, --plot.
    Compare(compare::CompareArgs),
    /// Latency, throughput and IC1/IC2 of real daemons on loopback, measured
    /// inside them, traitors optional; or (--idle) their RSS and CPU ticks.
    Bench(bench::BenchArgs),
    /// Write a new node key (mode 0600) and print its public key.
    Keygen(keygen::KeygenArgs),
    /// Write a testnet: a key and a config per general, on one host or several.
    Testnet(testnet::TestnetArgs),
    /// Write one node's key and a config skeleton; never overwrites.
    Init(init::InitArgs),
    /// Print this node's id, address and public key.
    ShowNodeId(show_node_id::ShowNodeIdArgs),
    /// Check a node's config: `generals config check`.
    Config(config::ConfigArgs),
    /// Run a general's daemon in the foreground.
    Node(node::NodeArgs),
    /// Give an order as commander through the local daemon; --wait for the report.
    Order(order::OrderArgs),
    /// Show the local daemon's links, instances and counters.
    Status(status::StatusArgs),
    /// List, show and (offline) verify proofs that a commander signed two orders.
    Evidence(evidence::EvidenceArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Testnet(args) => testnet::run(args),
        Command::Init(args) => init::run(args),
        Command::ShowNodeId(args) => show_node_id::run(args),
        Command::Config(args) => config::run(args),
        Command::Node(args) => node::run(args),
        Command::Order(args) => order::run(args),
        Command::Status(args) => status::run(args),
        Command::Evidence(args) => evidence::run(args),
    }
}
