//! `generals evidence`: proofs that a commander signed two different orders.
//!
//! `list` and `show` ask the local daemon; `verify` needs nothing but the
//! proof file and the commander's public key, so anyone can check a proof.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};
use generals_config::NodeConfig;
use generals_crypto::{EquivocationProof, InstanceId, PublicKey, SignedOrder};

use super::client;
use crate::control::{ControlRequest, ControlResponse};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  generals evidence list --config testnet/node1/config.toml
  generals evidence show 0-3 --config testnet/node1/config.toml
  generals evidence verify testnet/node1/data/evidence/0-3.json --pubkey 5f1c...e2
  generals evidence verify proof.json --pubkey @commander.pub")]
pub struct EvidenceArgs {
    #[command(subcommand)]
    pub command: EvidenceCommand,
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// List the proofs this node holds (asks the daemon).
    List(ListArgs),
    /// Print one proof and check it with the commander's key from the config (asks the daemon).
    Show(ShowArgs),
    /// Check a proof file offline with the commander's public key.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Example:
  generals evidence list --config testnet/node1/config.toml --json")]
pub struct ListArgs {
    /// The node's config file.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Print {"proofs":[{"instance","commander","file"}...]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Example:
  generals evidence show 0-3 --config testnet/node1/config.toml")]
pub struct ShowArgs {
    /// The instance, COMMANDER-SEQ (e.g. 0-3).
    #[arg(value_name = "ID")]
    pub instance: InstanceId,
    /// The node's config file.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Print {"instance","commander","file","verified","proof"}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  generals evidence verify 0-3.json --pubkey 5f1c0a...e2
  generals evidence verify 0-3.json --pubkey @commander.pub

Works offline: no daemon and no config needed. The commander's public key is
the `pubkey` of its [[peers]] entry in any node's config.toml.
Exit status: 0 if the proof is valid, 1 if it is not (or cannot be read).")]
pub struct VerifyArgs {
    /// The proof: a JSON file as the daemon writes it (or `evidence show --json` output).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The commander's public key: 64 hex digits, or @FILE to read it from the
    /// first line of FILE.
    #[arg(long, value_name = "KEY")]
    pub pubkey: String,
    /// Print {"valid","instance","commander","error"}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: EvidenceArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        EvidenceCommand::List(a) => list(a),
        EvidenceCommand::Show(a) => show(a),
        EvidenceCommand::Verify(a) => verify(a),
    }
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let proofs = match client::check(client::request_blocking(
        &args.config,
        ControlRequest::EvidenceList,
    )?)? {
        ControlResponse::EvidenceList { proofs } => proofs,
        other => return Err(client::unexpected("evidence_list", &other)),
    };
    if args.json {
        println!("{}", serde_json::json!({ "proofs": proofs }));
    } else if proofs.is_empty() {
        println!("no evidence: this node has not caught a commander signing two orders");
    } else {
        let rows: Vec<Vec<String>> = proofs
            .iter()
            .map(|p| {
                vec![
                    p.instance.to_string(),
                    p.commander.to_string(),
                    p.file.display().to_string(),
                ]
            })
            .collect();
        print!(
            "{}",
            super::status::table(&["instance", "commander", "file"], &rows)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let req = ControlRequest::EvidenceShow {
        instance: args.instance,
    };
    let (file, proof) = match client::check(client::request_blocking(&args.config, req)?)? {
        ControlResponse::Evidence { file, proof } => (file, proof),
        other => return Err(client::unexpected("evidence_show", &other)),
    };
    // Check it with the key this node's config has for the commander.
    let cfg = NodeConfig::load(&args.config)?;
    let commander = proof.commander();
    let key = cfg.peer(commander).map(|p| p.pubkey);
    let outcome = match key {
        Some(key) => proof.verify(&key).map_err(|e| e.to_string()),
        None => Err(format!("the config has no peer {commander}")),
    };
    if args.json {
        let out = serde_json::json!({
            "instance": proof.instance().to_string(),
            "commander": commander,
            "file": file,
            "verified": outcome.is_ok(),
            "proof": proof,
        });
        println!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "instance {}: commander {commander} signed two different orders",
        proof.instance()
    );
    let _ = writeln!(s, "file:     {}", file.display());
    for (name, root) in [("retreat", &proof.retreat), ("attack", &proof.attack)] {
        let _ = writeln!(s, "{name:<8}  {}", describe(root));
    }
    match &outcome {
        Ok(()) => {
            let _ = writeln!(
                s,
                "verified: yes, with commander {commander}'s public key from {}",
                args.config.display()
            );
        }
        Err(e) => {
            let _ = writeln!(s, "verified: NO: {e}");
        }
    }
    if let Some(key) = key {
        let _ = writeln!(
            s,
            "check it anywhere with: generals evidence verify {} --pubkey {key}",
            file.display()
        );
    }
    print!("{s}");
    Ok(ExitCode::SUCCESS)
}

fn describe(root: &SignedOrder) -> String {
    let sigs: Vec<String> = root
        .links
        .iter()
        .map(|l| format!("signed by {} ({:?})", l.signer, l.sig))
        .collect();
    format!(
        "{} (m = {}), {}",
        root.order.as_str().to_uppercase(),
        root.m,
        sigs.join(", ")
    )
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let proof = read_proof(&args.file)?;
    let key = read_pubkey(&args.pubkey)?;
    let instance = proof.instance();
    let commander = proof.commander();
    let result = proof.verify(&key);
    if args.json {
        let out = serde_json::json!({
            "valid": result.is_ok(),
            "instance": instance.to_string(),
            "commander": commander,
            "pubkey": key.to_string(),
            "error": result.as_ref().err().map(|e| e.to_string()),
        });
        println!("{out}");
    } else {
        match &result {
            Ok(()) => println!(
                "VALID: commander {commander} signed both RETREAT and ATTACK for instance {instance}"
            ),
            Err(e) => println!(
                "INVALID: {e} (checked {} with public key {key}; it must be commander \
                 {commander}'s `pubkey` from the cluster's config)",
                args.file.display()
            ),
        }
    }
    Ok(if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A proof file: the proof's JSON as the daemon stores it, or any JSON object
/// with a `proof` field holding it (`evidence show --json`).
fn read_proof(path: &Path) -> anyhow::Result<EquivocationProof> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read evidence file {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("evidence file {} is not JSON", path.display()))?;
    let inner = value
        .get("proof")
        .filter(|_| value.get("retreat").is_none());
    serde_json::from_value(inner.unwrap_or(&value).clone()).with_context(|| {
        format!(
            "evidence file {} is not an equivocation proof (expected {{\"retreat\":...,\"attack\":...}})",
            path.display()
        )
    })
}

/// 64 hex digits, or `@FILE` whose first line holds them.
fn read_pubkey(arg: &str) -> anyhow::Result<PublicKey> {
    let (text, origin) = match arg.strip_prefix('@') {
        Some(file) => {
            let body = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the public key file {file}"))?;
            let first = body.lines().next().unwrap_or("").trim().to_owned();
            (first, format!("the first line of {file}"))
        }
        None => (arg.trim().to_owned(), "--pubkey".to_owned()),
    };
    text.parse::<PublicKey>()
        .map_err(|e| anyhow!("{origin} is not a public key: {e}"))
}
