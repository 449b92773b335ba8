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
  generals keygen --out /etc/generals/node0/node.key
  generals keygen --out node.key --json | jq -r .pubkey
  generals keygen --show /etc/generals/node0/node.key   # an existing key's public key

The key file is written with mode 0600 and never overwritten. The public key
printed is the node's id for the other generals: paste it into `pubkey = \"...\"`
of this node's [[peers]] entry in every node's config.toml.")]
pub struct KeygenArgs {
    /// Where to write the secret key (must not exist yet).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "show",
        conflicts_with = "show"
    )]
    pub out: Option<PathBuf>,
    /// Print the public key of an existing key file instead of writing one.
    #[arg(long, value_name = "FILE")]
    pub show: Option<PathBuf>,
    /// Print {"file":...,"pubkey":...} instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let (key, file, wrote) = match (&args.out, &args.show) {
        (_, Some(file)) => (NodeKey::load(file)?, file, false),
        (Some(file), None) => {
            let key = NodeKey::generate();
            key.save(file)?;
            (key, file, true)
        }
        (None, None) => {
            anyhow::bail!("give --out FILE (a new key) or --show FILE (an existing one)")
        }
    };
    let mode = std::fs::metadata(file)
        .with_context(|| format!("checking {}", file.display()))?
        .permissions()
        .mode()
        & 0o777;
    let pubkey = key.public().to_string();
    if args.json {
        let out = serde_json::json!({
            "file": file.display().to_string(),
            "pubkey": pubkey,
        });
        println!("{out}");
    } else {
        let verb = if wrote { "wrote" } else { "read" };
        println!("{verb} {} (mode {mode:04o})", file.display());
        println!("public key: {pubkey}");
    }
    Ok(ExitCode::SUCCESS)
}
