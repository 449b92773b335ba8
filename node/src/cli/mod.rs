//! The `generals` command line. Each subcommand lives in its own module; this
//! file is the table of contents.
//!
//! Exit codes: 0 success; 1 error; 2 usage error (clap); 3 the run finished
//! but IC1 or IC2 did not hold.

mod demo;
mod simulate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for a run that completed but broke IC1 or IC2.
pub const EXIT_IC_VIOLATED: u8 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "generals",
    version,
    about = "Lamport's Byzantine Generals (oral OM(m) and signed SM(m)) as real TCP daemons",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the tour: OM(2) and SM(2) at n = 7 with loyal and traitor commanders.
    Demo(demo::DemoArgs),
    /// Run one instance in the deterministic in-process simulator (no daemons).
    Simulate(simulate::SimulateArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Simulate(args) => simulate::run(args),
    }
}
