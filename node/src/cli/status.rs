//! `generals status`: what the local daemon is doing.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use generals_crypto::InstanceId;

use super::client;
use crate::control::{ControlRequest, ControlResponse, LinkState, NodeStatus};
use crate::report::Role;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  generals status --config testnet/node0/config.toml
  generals status --config testnet/node0/config.toml --instance 0-17
  generals status --config /etc/generals/node0/config.toml --json \\
      | jq '.peers[] | select(.state != \"up\" and .state != \"local\") | .id'

Talks to the daemon over DATA_DIR/control.sock (mode 0600): run it as the
node's user.")]
pub struct StatusArgs {
    /// The node's config file (it names the data directory and so the socket).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Show only this instance, COMMANDER-SEQ (e.g. 0-17).
    #[arg(long, value_name = "ID")]
    pub instance: Option<InstanceId>,
    /// Print the daemon's status as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let req = ControlRequest::Status {
        instance: args.instance,
    };
    match client::check(client::request_blocking(&args.config, req)?)? {
        ControlResponse::Status(status) => {
            if args.json {
                println!("{}", serde_json::to_string(&status)?);
            } else {
                print!("{}", render(&status));
            }
        }
        // A daemon may answer a one-instance query with the instance's report.
        ControlResponse::Report(report) => {
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", super::simulate::render(&report));
            }
        }
        other => return Err(client::unexpected("status", &other)),
    }
    Ok(ExitCode::SUCCESS)
}

/// The human-readable status.
pub fn render(st: &NodeStatus) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "node {} of {}, listening on {}, up {}, fault: {}",
        st.id,
        st.n,
        st.listen,
        duration(st.uptime_ms),
        st.fault.as_deref().unwrap_or("none")
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "peers:");
    let rows: Vec<Vec<String>> = st
        .peers
        .iter()
        .map(|p| {
            vec![
                p.id.to_string(),
                p.addr.clone(),
                match p.state {
                    LinkState::Local => "local",
                    LinkState::Connecting => "connecting",
                    LinkState::Up => "up",
                }
                .to_owned(),
                duration(p.since_ms),
                format!("{}/{}", p.frames_in, p.frames_out),
                format!("{}/{}", p.bytes_in, p.bytes_out),
                p.dropped.to_string(),
                p.last_error.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    s.push_str(&table(
        &[
            "id",
            "addr",
            "state",
            "since",
            "frames in/out",
            "bytes in/out",
            "dropped",
            "last error",
        ],
        &rows,
    ));
    let _ = writeln!(s);
    if st.instances.is_empty() {
        let _ = writeln!(s, "instances: none");
    } else {
        let _ = writeln!(s, "instances:");
        let rows: Vec<Vec<String>> = st
            .instances
            .iter()
            .map(|i| {
                vec![
                    i.instance.to_string(),
                    i.protocol.to_string(),
                    i.m.to_string(),
                    match i.role {
                        Role::Commander => "commander",
                        Role::Lieutenant => "lieutenant",
                    }
                    .to_owned(),
                    i.round.to_string(),
                    i.decision.map_or_else(|| "-".to_owned(), |d| d.to_string()),
                    if i.evidence { "yes" } else { "no" }.to_owned(),
                    if i.role == Role::Commander {
                        format!("{}/{}", i.reports, st.n.saturating_sub(1))
                    } else {
                        "-".to_owned()
                    },
                ]
            })
            .collect();
        s.push_str(&table(
            &[
                "instance", "protocol", "m", "role", "round", "decision", "evidence", "reports",
            ],
            &rows,
        ));
    }
    let _ = writeln!(s);
    let c = &st.counters;
    let _ = writeln!(
        s,
        "instances:  {} started, {} joined, {} decided, {} with evidence",
        c.instances_started, c.instances_joined, c.decisions, c.evidence
    );
    let _ = writeln!(
        s,
        "traffic:    {} frames in, {} out; {} bytes in, {} out",
        c.frames_in, c.frames_out, c.bytes_in, c.bytes_out
    );
    let _ = writeln!(
        s,
        "links:      {} accepted, {} refused",
        c.links_accepted, c.links_refused
    );
    let _ = writeln!(s, "rejected:   {}", by_kind(&c.rejections));
    let _ = writeln!(s, "link errors: {}", by_kind(&c.link_errors));
    s
}

fn by_kind<K: std::fmt::Display>(counts: &std::collections::BTreeMap<K, u64>) -> String {
    if counts.is_empty() {
        return "none".to_owned();
    }
    counts
        .iter()
        .map(|(k, v)| format!("{k} x{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `820ms`, `45s`, `12m05s`, `3h02m01s`, `2d04h`.
pub(super) fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0 => format!("{ms}ms"),
        1..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..=86_399 => format!("{}h{:02}m{:02}s", secs / 3600, secs / 60 % 60, secs % 60),
        _ => format!("{}d{:02}h", secs / 86_400, secs / 3600 % 24),
    }
}

/// Left-aligned columns, two spaces apart, indented by two.
pub(super) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::from(" ");
        for (w, cell) in widths.iter().zip(row) {
            let _ = write!(line, " {cell:<w$} ");
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(820), "820ms");
        assert_eq!(duration(45_000), "45s");
        assert_eq!(duration(725_000), "12m05s");
        assert_eq!(duration(10_921_000), "3h02m01s");
        assert_eq!(duration(187_200_000), "2d04h");
    }

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["id", "addr"],
            &[
                vec!["0".into(), "127.0.0.1:7000".into()],
                vec!["10".into(), "x".into()],
            ],
        );
        assert_eq!(t, "  id  addr\n  0   127.0.0.1:7000\n  10  x\n");
    }
}
