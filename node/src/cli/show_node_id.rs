//! `generals show-node-id`: the id and public key the other generals list
//! for this node.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use generals_config::{own_key, NodeConfig};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  generals show-node-id --config /etc/generals/node0/config.toml
  generals show-node-id --config node0/config.toml --json | jq -r .pubkey

Prints the id, the address and the public key of the key file, which every
config's [[peers]] entry for this node must list. Refuses a key file that is
not the key this config lists for its own id.")]
pub struct ShowNodeIdArgs {
    /// The node's config.toml.
    #[arg(long)]
    pub config: PathBuf,
    /// Print {"id":...,"addr":...,"pubkey":...} instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ShowNodeIdArgs) -> anyhow::Result<ExitCode> {
    let cfg = NodeConfig::load(&args.config)?;
    let public = own_key(&cfg)?.public();
    let addr = cfg.peer(cfg.id).map(|me| me.addr).unwrap_or(cfg.listen);
    if args.json {
        let out = serde_json::json!({
            "id": cfg.id,
            "addr": addr.to_string(),
            "pubkey": public.to_string(),
        });
        println!("{out}");
    } else {
        println!("node id:    {}", cfg.id);
        println!("address:    {}", addr);
        println!("public key: {public}");
    }
    Ok(ExitCode::SUCCESS)
}
