//! `generals order`: this node, as commander, starts an instance.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use generals_config::NodeConfig;
use generals_crypto::{InstanceId, Order};
use generals_wire::Protocol;

use super::client;
use crate::control::{ControlRequest, ControlResponse};
use crate::report::InstanceReport;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  generals order --config testnet/node0/config.toml --protocol signed --m 1 --value attack
  generals order --config testnet/node0/config.toml --protocol oral --m 1 --value retreat --wait
  generals order --config /etc/generals/config.toml --protocol signed --m 2 --value attack --wait --json
  generals order --config testnet/node0/config.toml --protocol oral --m 2 --value attack --force --wait
      # OM(2) on 4 generals: below the 3m+1 bound, for a demonstration

Without --wait it prints the new instance id (COMMANDER-SEQ, e.g. 0-17); follow
it with `generals status --instance ID`. With --wait it prints the instance's
report once every general has decided and reported (or --timeout-ms passes).

Exit status: 0 on success, 3 if the waited-for run broke IC1 or IC2, 1 on error.")]
pub struct OrderArgs {
    /// The commander node's config file (it names the data directory and so the socket).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// oral (OM(m), needs n >= 3m+1) or signed (SM(m), needs n >= m+2).
    #[arg(long, value_parser = parse_protocol)]
    pub protocol: Protocol,
    /// Traitors the algorithm is sized for (OM(m) / SM(m)).
    #[arg(long)]
    pub m: u8,
    /// The commander's order: attack or retreat.
    #[arg(long)]
    pub value: Order,
    /// Wait for the decisions and the peers' signed reports, then print the report.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: how long to wait for every report.
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    pub timeout_ms: u64,
    /// Run oral even when n < 3m+1 (its guarantees then do not hold).
    #[arg(long)]
    pub force: bool,
    /// Print JSON: {"instance":ID}, or with --wait the report as one object.
    #[arg(long)]
    pub json: bool,
}

fn parse_protocol(s: &str) -> Result<Protocol, String> {
    s.parse()
}

pub fn run(args: OrderArgs) -> anyhow::Result<ExitCode> {
    let cfg = NodeConfig::load(&args.config)?;
    check_bounds(args.protocol, args.m, cfg.n(), args.force)?;

    let req = ControlRequest::Order {
        protocol: args.protocol,
        m: args.m,
        value: args.value,
        force: args.force,
    };
    let instance = match client::check(client::request_blocking(&args.config, req)?)? {
        ControlResponse::Ordered { instance } => instance,
        other => return Err(client::unexpected("order", &other)),
    };
    if !args.wait {
        if args.json {
            println!(
                "{}",
                serde_json::json!({ "instance": instance.to_string() })
            );
        } else {
            println!("{instance}");
        }
        return Ok(ExitCode::SUCCESS);
    }

    if !args.json {
        eprintln!(
            "ordered {instance}; waiting up to {} ms for the decisions and reports",
            args.timeout_ms
        );
    }
    let req = ControlRequest::Wait {
        instance,
        timeout_ms: args.timeout_ms,
    };
    let report = match client::check(client::request_blocking(&args.config, req)?)? {
        ControlResponse::Report(report) => report,
        other => return Err(client::unexpected("wait", &other)),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", render(instance, &report));
    }
    Ok(if report.ic1 && report.ic2 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_IC_VIOLATED)
    })
}

/// Refuses instances the cluster cannot run: m+2 > n always, oral n < 3m+1
/// unless forced.
fn check_bounds(protocol: Protocol, m: u8, n: usize, force: bool) -> anyhow::Result<()> {
    let m_us = usize::from(m);
    let name = match protocol {
        Protocol::Oral => "OM",
        Protocol::Signed => "SM",
    };
    if m_us + 2 > n {
        bail!(
            "{name}({m}) needs at least m+2 = {} generals (the commander and m+1 lieutenants); \
             this cluster has {n}. Use a smaller --m (at most {} here).",
            m_us + 2,
            n.saturating_sub(2)
        );
    }
    let needed = 3 * m_us + 1;
    if protocol == Protocol::Oral && n < needed && !force {
        bail!(
            "OM({m}) needs n >= 3m+1 = {needed} generals to tolerate {m} traitor{s}; this cluster \
             has {n}. Use --protocol signed (needs only m+2), a smaller --m (at most {max} with {n} \
             generals), or --force to run it anyway for a demonstration.",
            s = if m == 1 { "" } else { "s" },
            max = (n - 1) / 3
        );
    }
    Ok(())
}

/// The waited-for report: the simulator's rendering plus what only a daemon knows.
fn render(instance: InstanceId, r: &InstanceReport) -> String {
    let id = r.instance.clone().unwrap_or_else(|| instance.to_string());
    let mut s = format!("instance {id}\n");
    s.push_str(&super::simulate::render(r));
    let missing: Vec<String> = r
        .generals
        .iter()
        .filter(|g| g.reported == Some(false))
        .map(|g| g.id.to_string())
        .collect();
    let _ = match r.complete {
        Some(true) => writeln!(s, "reports:    every general's signed report arrived"),
        Some(false) if missing.is_empty() => writeln!(
            s,
            "reports:    INCOMPLETE: not every signed report arrived before the wait ended; \
             see `generals status --instance {id}`"
        ),
        Some(false) => writeln!(
            s,
            "reports:    INCOMPLETE: no signed report from {} before the wait ended; \
             see `generals status --instance {id}`",
            missing.join(", ")
        ),
        None => Ok(()),
    };
    if !r.late_frames_from.is_empty() {
        let late: Vec<String> = r.late_frames_from.iter().map(|j| j.to_string()).collect();
        let _ = writeln!(
            s,
            "timing:     late frames from [{}]: a round closed before their frames arrived, so a \
             RETREAT may come from timing, not from the commander; raise round_timeout_ms (or \
             round_work_factor) on every node",
            late.join(", ")
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oral_below_three_m_plus_one_is_refused_unless_forced() {
        let err = check_bounds(Protocol::Oral, 2, 4, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("3m+1 = 7"), "{err}");
        assert!(err.contains("this cluster has 4"), "{err}");
        assert!(err.contains("--force"), "{err}");
        assert!(err.contains("at most 1"), "{err}");
        check_bounds(Protocol::Oral, 2, 4, true).unwrap();
        check_bounds(Protocol::Oral, 2, 7, false).unwrap();
        check_bounds(Protocol::Signed, 2, 4, false).unwrap();
    }

    #[test]
    fn m_plus_two_is_refused_for_both_even_forced() {
        for p in [Protocol::Oral, Protocol::Signed] {
            let err = check_bounds(p, 3, 4, true).unwrap_err().to_string();
            assert!(err.contains("m+2 = 5"), "{err}");
        }
        check_bounds(Protocol::Signed, 0, 2, false).unwrap();
    }
}
