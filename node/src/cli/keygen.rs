//! `generals keygen`: a new node key and the public key to put in configs.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use generals_crypto::NodeKey;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  generals keygen --out /etc/generals/node.key
  generals keygen --out node.key --json | jq -r .pubkey

The key file is written with mode 0600 and never overwritten. The public key
printed is the node's id for the other generals: paste it into `pubkey = \"...\"`
of this node's [[peers]] entry in every node's config.toml.")]
pub struct KeygenArgs {
    /// Where to write the secret key (must not exist yet).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Print {"file":...,"pubkey":...} instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let key = NodeKey::generate();
    key.save(&args.out)?;
    let mode = std::fs::metadata(&args.out)
        .with_context(|| format!("checking {}", args.out.display()))?
        .permissions()
        .mode()
        & 0o777;
    let pubkey = key.public().to_string();
    if args.json {
        let out = serde_json::json!({
            "file": args.out.display().to_string(),
            "pubkey": pubkey,
        });
        println!("{out}");
    } else {
        println!("wrote {} (mode {mode:04o})", args.out.display());
        println!("public key: {pubkey}");
    }
    Ok(ExitCode::SUCCESS)
}
