//! `generals show-node-id`: the id and public key the other generals list
//! for this node.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use generals_config::{own_key, own_key_of, NodeConfig};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  generals show-node-id --config /etc/generals/node0/config.toml
  generals show-node-id --config node0/config.toml --json | jq -r .pubkey

Prints the id, the address and the public key of the key file, which every
config's [[peers]] entry for this node must list. Refuses a key file that is
not the key this config lists for its own id. Works on a config that cannot
run yet, such as the skeleton `generals init` writes, as long as it has this
node's own [[peers]] entry.")]
pub struct ShowNodeIdArgs {
    /// The node's config.toml.
    #[arg(long)]
    pub config: PathBuf,
    /// Print {"id":...,"addr":...,"pubkey":...} instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ShowNodeIdArgs) -> anyhow::Result<ExitCode> {
    let (id, addr, public) = match NodeConfig::check(&args.config) {
        Ok(cfg) => {
            let public = own_key(&cfg)?.public();
            let addr = cfg.peer(cfg.id).map(|me| me.addr).unwrap_or(cfg.listen);
            (cfg.id, addr, public)
        }
        // A file that cannot run yet may still name this node fully: the
        // skeleton `generals init` writes lists only this node, and what
        // show-node-id prints is what the other hosts need to complete it.
        Err(rejected) => {
            let count = rejected.problems.len();
            let host = &rejected.host;
            let (Some(id), Some(addr), Some(key)) = (host.id, host.addr, own_key_of(host)) else {
                return Err(rejected
                    .problems
                    .into_iter()
                    .next()
                    .map(anyhow::Error::from)
                    .unwrap_or_else(|| {
                        anyhow::anyhow!("{} is not a valid config", args.config.display())
                    }));
            };
            let public = key?.public();
            eprintln!(
                "note: {file} cannot run yet ({count} problem(s): `generals config check --config \
                 {file}` lists them); the id, address and key are from its own [[peers]] entry",
                file = args.config.display()
            );
            (id, addr, public)
        }
    };
    if args.json {
        let out = serde_json::json!({
            "id": id,
            "addr": addr.to_string(),
            "pubkey": public.to_string(),
        });
        println!("{out}");
    } else {
        println!("node id:    {id}");
        println!("address:    {addr}");
        println!("public key: {public}");
    }
    Ok(ExitCode::SUCCESS)
}
