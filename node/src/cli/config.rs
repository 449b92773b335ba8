//! `generals config check`: every problem in a node's config, before the
//! daemon is started with it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use generals_config::{check_host, compare_peers, config_files, ConfigError, HostView, NodeConfig};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Report every problem in a node's config, with its key and the fix.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  generals config check --config /etc/generals/node0/config.toml
  generals config check --config cluster/host0/node0/config.toml --peers cluster
  generals config check --config /etc/generals/node0/config.toml --peers node1.toml node2.toml

Checks the file as the daemon would load it (GENERALS_* variables included):
every key, duplicate ids, addresses and keys in [[peers]]; this host, as far
as the file says: the key file holds the key peers[id].pubkey lists, and the
data dir can be written; then, once the file is valid, every other config
given with --peers (a file, or a directory searched for config.toml, as
`testnet` writes) lists the same generals with the same addresses and keys.
Exit status 0 when there is nothing to fix, 1 otherwise.")]
pub struct CheckArgs {
    /// The node's config.toml.
    #[arg(long)]
    pub config: PathBuf,
    /// Other nodes' config files, or directories of them, to compare [[peers]] with.
    #[arg(long, value_name = "DIR|FILE", num_args = 1..)]
    pub peers: Vec<PathBuf>,
}

pub fn run(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ConfigCommand::Check(args) => check(&args),
    }
}

fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let (mut problems, host, cfg) = match NodeConfig::check(&args.config) {
        Ok(cfg) => (Vec::new(), HostView::of(&cfg), Some(cfg)),
        Err(r) => (r.problems, *r.host, None),
    };
    problems.extend(check_host(&host));
    let mut others = 0;
    let ours = std::fs::canonicalize(&args.config).ok();
    for arg in &args.peers {
        let files = match config_files(arg) {
            Ok(files) => files,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        for file in files {
            if ours.is_some() && std::fs::canonicalize(&file).ok() == ours {
                continue;
            }
            others += 1;
            // Another host's file, as written: this shell's GENERALS_* variables
            // are meant for our node only.
            match NodeConfig::check_with_env(&file, Vec::new()) {
                Ok(theirs) => {
                    if let Some(cfg) = &cfg {
                        problems.extend(compare_peers(cfg, &theirs));
                    }
                }
                Err(r) => problems.extend(r.problems),
            }
        }
    }
    if !args.peers.is_empty() && others == 0 {
        problems.push(ConfigError::Invalid {
            path: args.config.clone(),
            key: "peers".to_owned(),
            env: None,
            problem: "cannot be compared: --peers names no other config.toml".to_owned(),
            fix: "name other nodes' config files, or a directory holding them".to_owned(),
        });
    }
    let file = args.config.display();
    match (&cfg, problems.len()) {
        (Some(cfg), 0) => {
            println!(
                "{file}: OK: node {} of {}, listening on {}; key matches peers[{}].pubkey; \
                 data dir {} writable{}",
                cfg.id,
                cfg.n(),
                cfg.listen,
                cfg.id,
                cfg.data_dir().display(),
                match others {
                    0 => String::new(),
                    n => format!("; [[peers]] agrees with {n} other config(s)"),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        (_, n) => {
            println!("{file}: {n} problem(s)");
            for (i, p) in problems.iter().enumerate() {
                println!("{:>3}. {p}", i + 1);
            }
            let mut unchecked = Vec::new();
            if host.key_file.is_none() || host.listed.is_none() {
                unchecked.push("whether key_file holds this node's key");
            }
            if host.data_dir.is_none() {
                unchecked.push("the data dir");
            }
            if cfg.is_none() && !args.peers.is_empty() {
                unchecked.push("other hosts' [[peers]]");
            }
            if !unchecked.is_empty() {
                println!(
                    "not checked until the file's own problems are fixed: {}",
                    unchecked.join(", ")
                );
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
