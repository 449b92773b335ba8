//! `generals config check`: every problem in a node's config, before the
//! daemon is started with it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use generals_config::{check_host, compare_peers, config_files, ConfigError, NodeConfig};

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
every key, duplicate ids, addresses and keys in [[peers]]; then, once the file
is valid, this host: the key file holds the key peers[id].pubkey lists, and
the data dir can be written; then every other config given with --peers (a
file, or a directory searched for config.toml, as `testnet` writes) lists
the same generals with the same addresses and keys.
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
    let (cfg, mut problems) = match NodeConfig::check(&args.config) {
        Ok(cfg) => {
            let host = check_host(&cfg);
            (Some(cfg), host)
        }
        Err(all) => (None, all),
    };
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
            // Another host's file, as written: this shell's overrides are ours.
            match NodeConfig::check_with_env(&file, Vec::new()) {
                Ok(theirs) => {
                    if let Some(cfg) = &cfg {
                        problems.extend(compare_peers(cfg, &theirs));
                    }
                }
                Err(all) => problems.extend(all),
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
            if cfg.is_none() {
                println!(
                    "the key file, the data dir and other hosts' [[peers]] are checked once \
                     the file loads"
                );
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
