//! `generals init`: one node's key and config skeleton, on its own host.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use generals_config::{init_node, InitOptions};
use generals_crypto::NodeId;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  generals init --home /etc/generals/node0/ --id 0 --addr 10.0.0.1:7000
  generals init --home node2 --id 2

Writes HOME/node.key (mode 0600) and HOME/config.toml, whose [[peers]] lists
only this node: add every other general's entry (the address and public key
`generals show-node-id` prints on its host), then run `generals config check`.
Nothing is overwritten: if either file exists, nothing is written.")]
pub struct InitArgs {
    /// Directory that receives node.key and config.toml (created if absent).
    #[arg(long, value_name = "DIR")]
    pub home: PathBuf,
    /// This node's id: its index in [[peers]], 0..n-1.
    #[arg(long)]
    pub id: u16,
    /// IP:port this node listens on and the others dial [default: 127.0.0.1:7000+ID].
    #[arg(long, value_name = "IP:PORT")]
    pub addr: Option<SocketAddr>,
}

pub fn run(args: InitArgs) -> anyhow::Result<ExitCode> {
    let addr = args
        .addr
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 7000_u16.saturating_add(args.id))));
    let node = init_node(&InitOptions {
        home: args.home,
        id: NodeId(args.id),
        addr,
    })?;
    println!("wrote {} (mode 0600)", node.key_path.display());
    println!("wrote {}", node.config_path.display());
    println!("node id:    {}", node.id);
    println!("address:    {}", node.addr);
    println!("public key: {}", node.public);
    println!();
    println!(
        "next: add the other generals' [[peers]] entries to {}, then run\n  generals config check --config {}",
        node.config_path.display(),
        node.config_path.display()
    );
    Ok(ExitCode::SUCCESS)
}
