//! `generals testnet`: a local cluster's keys and configs, one directory per general.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use generals_config::{generate_testnet, ports, TestnetOptions, DEFAULT_ROUND_TIMEOUT_MS};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  generals testnet --nodes 4 --out testnet
  generals testnet --nodes 7 --out /tmp/t7 --base-port 9000 --round-timeout-ms 500
  generals testnet --nodes 4 --out testnet --json | jq -r '.nodes[].config'
  generals testnet --nodes 4 --out cluster --hosts 10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4

Writes OUT/nodeI/node.key (mode 0600) and OUT/nodeI/config.toml for I = 0..N-1;
node I listens on HOST:BASE_PORT+I. Every config gets the round work costs
measured here (work_ps_per_*), so all nodes run the same round deadlines. Nothing is overwritten: an OUT that already
holds a node is refused. Then start each node in its own terminal:
  generals node --config OUT/node0/config.toml
With --hosts IP0,IP1,..., node I listens on IP(I mod H):BASE_PORT+I and is
written to OUT/hostK/nodeI. Check them before copying (OUT holds every key):
  generals config check --config OUT/host0/node0/config.toml --peers OUT
then copy OUT/hostK to host K only.")]
pub struct TestnetArgs {
    /// Number of generals, commander included.
    #[arg(long, short = 'n')]
    pub nodes: usize,
    /// Directory that receives node0/, node1/, ...
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// IP address every node listens on (host names are not accepted).
    #[arg(long, default_value = "127.0.0.1", conflicts_with = "hosts")]
    pub host: String,
    /// One IP address per host, comma-separated: node I runs on host I mod H
    /// and its directory is OUT/hostK/nodeI, ready to copy to that host.
    #[arg(long, value_name = "IP0,IP1,...", value_delimiter = ',')]
    pub hosts: Vec<String>,
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
        hosts: args.hosts.clone(),
        base_port: args.base_port,
        round_timeout_ms: args.round_timeout_ms,
        work_ps: Some(crate::daemon::calibrate::testnet_costs(args.nodes)),
    };
    let nodes = generate_testnet(&opts)?;
    let last_port = args
        .base_port
        .saturating_add(u16::try_from(nodes.len() - 1)?);
    if let Some(warning) = ports::ephemeral_warning(args.base_port..=last_port) {
        eprintln!("warning: {warning}");
    }
    let addr = |n: &generals_config::TestnetNode| n.addr.to_string();
    let hint_path = args.out.join("nodeI").join("config.toml");
    if args.json {
        let list: Vec<serde_json::Value> = nodes
            .iter()
            .map(|n| {
                let mut v = serde_json::json!({
                    "id": n.id,
                    "addr": addr(n),
                    "dir": n.dir.display().to_string(),
                    "config": n.config_path.display().to_string(),
                    "key": n.key_path.display().to_string(),
                    "pubkey": n.public.to_string(),
                });
                if !args.hosts.is_empty() {
                    // The host's index in --hosts: its directory is OUT/hostK.
                    v["host"] = n.host.into();
                }
                v
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
                    addr(n),
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
        if args.hosts.is_empty() {
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
        } else {
            println!(
                "check them here:   generals config check --config {} --peers {}",
                nodes
                    .first()
                    .map_or(hint_path.clone(), |n| n.config_path.clone())
                    .display(),
                args.out.display()
            );
            for (k, ip) in args.hosts.iter().enumerate() {
                println!(
                    "copy {} to host {k} ({ip}) only: it holds that host's secret keys",
                    args.out.join(format!("host{k}")).display()
                );
            }
            println!("then on each host: generals node --config nodeI/config.toml");
        }
    }
    Ok(ExitCode::SUCCESS)
}
