//! `generals testnet`: a local cluster's keys and configs, one directory per general.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use generals_config::{generate_testnet, TestnetOptions, DEFAULT_ROUND_TIMEOUT_MS};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  generals testnet --nodes 4 --out testnet
  generals testnet --nodes 7 --out /tmp/t7 --base-port 9000 --round-timeout-ms 500
  generals testnet --nodes 4 --out testnet --json | jq -r '.nodes[].config'

Writes OUT/nodeI/node.key (mode 0600) and OUT/nodeI/config.toml for I = 0..N-1;
node I listens on HOST:BASE_PORT+I. Every config gets the round work costs
measured here (work_ps_per_*), so all nodes run the same round deadlines. Nothing is overwritten: an OUT that already
holds a node is refused. Then start each node in its own terminal:
  generals node --config OUT/node0/config.toml")]
pub struct TestnetArgs {
    /// Number of generals, commander included.
    #[arg(long, short = 'n')]
    pub nodes: usize,
    /// Directory that receives node0/, node1/, ...
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// IP address every node listens on (host names are not accepted).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Node I listens on BASE_PORT + I.
    #[arg(long, default_value_t = 7000)]
    pub base_port: u16,
    /// Δ: how long a round waits for a silent peer.
    #[arg(long, default_value_t = DEFAULT_ROUND_TIMEOUT_MS)]
    pub round_timeout_ms: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: TestnetArgs) -> anyhow::Result<ExitCode> {
    let opts = TestnetOptions {
        nodes: args.nodes,
        out: args.out.clone(),
        host: args.host.clone(),
        hosts: Vec::new(),
        base_port: args.base_port,
        round_timeout_ms: args.round_timeout_ms,
        work_ps: Some(crate::daemon::calibrate::testnet_costs(args.nodes)),
    };
    let nodes = generate_testnet(&opts)?;
    // generate_testnet has checked that the host is an IP address.
    let ip: Option<IpAddr> = args.host.parse().ok();
    let addr = |id: u16| {
        ip.map_or_else(
            || {
                format!(
                    "{}:{}",
                    args.host,
                    u32::from(args.base_port) + u32::from(id)
                )
            },
            |ip| SocketAddr::new(ip, args.base_port.saturating_add(id)).to_string(),
        )
    };
    let hint_path = args.out.join("nodeI").join("config.toml");
    if args.json {
        let list: Vec<serde_json::Value> = nodes
            .iter()
            .map(|n| {
                serde_json::json!({
                    "id": n.id,
                    "addr": addr(n.id.0),
                    "dir": n.dir.display().to_string(),
                    "config": n.config_path.display().to_string(),
                    "key": n.key_path.display().to_string(),
                    "pubkey": n.public.to_string(),
                })
            })
            .collect();
        let out = serde_json::json!({
            "out": args.out.display().to_string(),
            "round_timeout_ms": args.round_timeout_ms,
            "nodes": list,
        });
        println!("{out}");
    } else {
        println!(
            "wrote a testnet of {} generals in {} (round timeout {} ms)",
            nodes.len(),
            args.out.display(),
            args.round_timeout_ms
        );
        println!();
        let rows: Vec<Vec<String>> = nodes
            .iter()
            .map(|n| {
                vec![
                    n.id.to_string(),
                    addr(n.id.0),
                    n.config_path.display().to_string(),
                    n.public.to_string(),
                ]
            })
            .collect();
        print!(
            "{}",
            super::status::table(&["id", "address", "config", "pubkey"], &rows)
        );
        println!();
        println!(
            "start each node with: generals node --config {} (I = 0..{})",
            hint_path.display(),
            nodes.len().saturating_sub(1)
        );
        println!(
            "then give an order:   generals order --config {} --protocol signed --m {} --value attack --wait",
            args.out.join("node0").join("config.toml").display(),
            usize::from(nodes.len() >= 3)
        );
    }
    Ok(ExitCode::SUCCESS)
}
