//! `generals node`: run a daemon in the foreground.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::daemon::{self, DaemonOptions};

#[derive(Debug, Args)]
#[command(after_help = "\
Example:
  generals node --config testnet/node0/config.toml

On SIGTERM or SIGINT it drains: refuses new orders, finishes the instances in
flight (for up to 4 s), then exits. On SIGHUP it reads the config again and
applies peer addresses, `log` and the round timeouts (for new instances); it
refuses any other change with a warning and runs on. Settings can be
overridden with GENERALS_* environment variables, e.g.
GENERALS_ROUND_TIMEOUT_MS=500 or GENERALS_LOG=debug.")]
pub struct NodeArgs {
    /// The node's config.toml.
    #[arg(long)]
    pub config: PathBuf,
    /// Honour the config's [fault] section: this node becomes a traitor.
    /// For tests and demonstrations only.
    #[arg(long)]
    pub allow_faults: bool,
    /// Start even though the data directory has no signing state. Only if you
    /// are sure this node never signed an order before (see docs/OPERATIONS.md).
    #[arg(long)]
    pub unsafe_reset_sign_state: bool,
}

pub fn run(args: NodeArgs) -> anyhow::Result<ExitCode> {
    daemon::run(DaemonOptions {
        config: args.config,
        allow_faults: args.allow_faults,
        unsafe_reset_sign_state: args.unsafe_reset_sign_state,
    })?;
    Ok(ExitCode::SUCCESS)
}
