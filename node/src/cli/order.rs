//! `generals order`: this node, as commander, starts an instance.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
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
  generals order --config /etc/generals/node0/config.toml --protocol signed --m 2 --value attack --wait --json
  generals order --config testnet/node0/config.toml --protocol oral --m 2 --value attack --force --wait
      # OM(2) on 4 generals: below the 3m+1 bound, for a demonstration

Without --wait it prints the new instance id (COMMANDER-SEQ, e.g. 0-17); follow
it with `generals status --instance ID`. With --wait it prints the instance's
report once every general has decided and reported, or when the wait ends.
On a terminal it shows progress meanwhile (rounds done, reports in against
the n-1 expected). The default wait is twice the longest the instance can
run at a lieutenant (the sum of its round deadlines, work included, as the
node computes them), and at least 10 s: a large OM(m) waits as long as it
needs, a small one with a node down does not wait 30 s.

Exit status: 0 on success; 3 if the waited-for run broke IC1 or IC2; 4 if the
wait ended before every general's signed report arrived (the report shows
who is missing; a node that is down never reports); 1 on error.")]
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
    /// With --wait: how long to wait for every report [default: twice the
    /// instance's longest run, at least 10000].
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
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
    let (instance, deadlines_ms) =
        match client::check(client::request_blocking(&args.config, req)?)? {
            ControlResponse::Ordered {
                instance,
                deadlines_ms,
            } => (instance, deadlines_ms),
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

    let timeout_ms = args
        .timeout_ms
        .unwrap_or_else(|| default_wait_ms(&deadlines_ms));
    if !args.json {
        eprintln!(
            "ordered {instance}; waiting up to {} for the decisions and reports",
            super::status::duration(timeout_ms)
        );
    }
    let progress = std::io::stderr().is_terminal().then(|| Progress {
        instance,
        deadlines_ms,
        expected: cfg.n().saturating_sub(1),
        limit_ms: timeout_ms,
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let answer = runtime.block_on(wait(&args.config, instance, timeout_ms, progress))?;
    let report = match client::check(answer)? {
        ControlResponse::Report(report) => report,
        other => return Err(client::unexpected("wait", &other)),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", render(instance, &report));
    }
    Ok(exit_code(&report))
}

/// The least `order --wait` waits by default.
const MIN_WAIT_MS: u64 = 10_000;
/// The default wait when the daemon does not say how long the instance can run.
const FALLBACK_WAIT_MS: u64 = 120_000;

/// Twice the instance's span, the sum of its round deadlines (what a
/// commander allows before it stops counting its instance against its
/// share), and at least [`MIN_WAIT_MS`].
pub(crate) fn default_wait_ms(deadlines_ms: &[u64]) -> u64 {
    if deadlines_ms.is_empty() {
        return FALLBACK_WAIT_MS;
    }
    let span = deadlines_ms.iter().fold(0u64, |a, &d| a.saturating_add(d));
    span.saturating_mul(2).max(MIN_WAIT_MS)
}

/// IC1 or IC2 broken outranks missing reports: it is the worse news.
fn exit_code(report: &InstanceReport) -> ExitCode {
    if !(report.ic1 && report.ic2) {
        ExitCode::from(super::EXIT_IC_VIOLATED)
    } else if report.complete == Some(false) {
        ExitCode::from(super::EXIT_INCOMPLETE)
    } else {
        ExitCode::SUCCESS
    }
}

/// What the progress line on a terminal shows.
#[derive(Debug)]
struct Progress {
    instance: InstanceId,
    deadlines_ms: Vec<u64>,
    /// Signed reports expected: one per lieutenant.
    expected: usize,
    limit_ms: u64,
}

impl Progress {
    /// "0-17: rounds 1/3 past their deadlines, reports 2/3 in (4s of 20s)".
    /// A round past its deadline (counted from the order) is closed at
    /// every lieutenant that is up; most close sooner, once their frames
    /// are in. `reports` is None until the node has answered.
    fn line(&self, elapsed_ms: u64, reports: Option<usize>) -> String {
        let mut ends = 0u64;
        let past = self
            .deadlines_ms
            .iter()
            .take_while(|&&d| {
                ends = ends.saturating_add(d);
                ends <= elapsed_ms
            })
            .count();
        let rounds = if self.deadlines_ms.is_empty() {
            String::new()
        } else {
            format!(
                "rounds {past}/{} past their deadlines, ",
                self.deadlines_ms.len()
            )
        };
        let reports = reports.map_or_else(|| "?".to_owned(), |r| r.to_string());
        format!(
            "{}: {rounds}reports {reports}/{} in ({} of {})",
            self.instance,
            self.expected,
            super::status::duration(elapsed_ms),
            super::status::duration(self.limit_ms)
        )
    }
}

/// Sends the Wait request; with `progress`, also asks for the instance's
/// report count on a second connection every 250 ms and keeps one line on
/// stderr up to date, until the answer comes.
async fn wait(
    config: &Path,
    instance: InstanceId,
    timeout_ms: u64,
    progress: Option<Progress>,
) -> anyhow::Result<ControlResponse> {
    let answer = client::request(
        config,
        ControlRequest::Wait {
            instance,
            timeout_ms,
        },
    );
    let Some(progress) = progress else {
        return answer.await;
    };
    tokio::pin!(answer);
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            answer = &mut answer => {
                eprint!("\r\x1b[K");
                return answer;
            }
            _ = tick.tick() => {
                let req = ControlRequest::Status { instance: Some(instance) };
                let reports = match client::request(config, req).await {
                    Ok(ControlResponse::Status(st)) => st
                        .instances
                        .iter()
                        .find(|i| i.instance == instance)
                        .map(|i| i.reports),
                    _ => None,
                };
                let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                eprint!("\r\x1b[K{}", progress.line(elapsed, reports));
            }
        }
    }
}

/// Refuses instances the cluster cannot run: m+2 > n always, oral n < 3m+1
/// unless forced.
pub(crate) fn check_bounds(protocol: Protocol, m: u8, n: usize, force: bool) -> anyhow::Result<()> {
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
             see `generals status --instance {id}` (exit status 4)"
        ),
        Some(false) => writeln!(
            s,
            "reports:    INCOMPLETE: no signed report from {} before the wait ended; \
             see `generals status --instance {id}` (exit status 4)",
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
    fn the_default_wait_is_twice_the_span_and_at_least_ten_seconds() {
        // OM(7) at n = 22 on this machine: deadlines summing to 213 s.
        let big = [1_400, 2_100, 3_000, 6_000, 12_000, 30_000, 70_000, 188_600];
        assert_eq!(default_wait_ms(&big), 2 * big.iter().sum::<u64>());
        assert!(default_wait_ms(&big) > 45_000, "OM(7) at n = 22 took 45 s");
        assert_eq!(default_wait_ms(&[1_000, 1_500]), 10_000);
        assert_eq!(default_wait_ms(&[]), FALLBACK_WAIT_MS);
        assert_eq!(default_wait_ms(&[u64::MAX, 1]), u64::MAX);
    }

    #[test]
    fn progress_counts_rounds_past_their_deadlines_and_reports_in() {
        let p = Progress {
            instance: InstanceId {
                commander: generals_crypto::NodeId(0),
                seq: 17,
            },
            deadlines_ms: vec![1_000, 1_500, 2_000],
            expected: 3,
            limit_ms: 20_000,
        };
        assert_eq!(
            p.line(400, Some(0)),
            "0-17: rounds 0/3 past their deadlines, reports 0/3 in (400ms of 20s)"
        );
        assert_eq!(
            p.line(2_500, Some(2)),
            "0-17: rounds 2/3 past their deadlines, reports 2/3 in (2s of 20s)"
        );
        assert_eq!(
            p.line(9_000, None),
            "0-17: rounds 3/3 past their deadlines, reports ?/3 in (9s of 20s)"
        );
        let old_daemon = Progress {
            deadlines_ms: Vec::new(),
            ..p
        };
        assert_eq!(
            old_daemon.line(1_000, Some(1)),
            "0-17: reports 1/3 in (1s of 20s)"
        );
    }

    #[test]
    fn broken_agreement_outranks_missing_reports_in_the_exit_status() {
        let mut r = crate::sim::run(&crate::sim::SimConfig::new(Protocol::Signed, 4, 1)).unwrap();
        r.complete = Some(true);
        assert_eq!(exit_code(&r), ExitCode::SUCCESS);
        r.complete = Some(false);
        assert_eq!(exit_code(&r), ExitCode::from(super::super::EXIT_INCOMPLETE));
        r.ic2 = false;
        assert_eq!(
            exit_code(&r),
            ExitCode::from(super::super::EXIT_IC_VIOLATED)
        );
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
