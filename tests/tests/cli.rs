//! The operator CLI against real daemons: what `order`, `status` print and
//! how they exit, run as the binary an operator runs.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{bin, cluster};
use generals_config::FaultStrategy;
use generals_crypto::NodeId;
use generals_node::cluster::LocalCluster;

/// `generals ARGS --config CONFIG-OF-NODE`, without the GENERALS_* variables
/// of this environment.
fn generals_at(c: &LocalCluster, node: u16, args: &[&str]) -> Output {
    let config = &c.node(NodeId(node)).unwrap().config;
    generals(config, args)
}

fn generals(config: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args).arg("--config").arg(config);
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("GENERALS_") {
            cmd.env_remove(var);
        }
    }
    cmd.output().unwrap()
}

/// `generals order --protocol PROTOCOL --m M --value attack EXTRA` at `node`.
fn order(c: &LocalCluster, node: u16, protocol: &str, m: u8, extra: &[&str]) -> Output {
    let m = m.to_string();
    let mut args = vec![
        "order",
        "--protocol",
        protocol,
        "--m",
        &m,
        "--value",
        "attack",
    ];
    args.extend_from_slice(extra);
    generals_at(c, node, &args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What an operator sees: the exit status, stdout and stderr, for messages.
fn shown(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// A commander learns that a lieutenant is a traitor from its signed report,
/// not which strategy it runs: the traitor is shown by id, with no empty
/// "()" after it.
#[test]
fn order_wait_names_a_reported_traitor_without_an_empty_strategy() {
    let c = cluster(4, &[(3, FaultStrategy::Split, &[])]);
    let out = order(&c, 0, "signed", 1, &["--wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let stdout = text(&out.stdout);
    let head = stdout.lines().nth(1).unwrap_or_default();
    assert_eq!(
        head,
        "SM(1) with 4 generals; commander 0 orders ATTACK; traitors: 3",
        "{}",
        shown(&out)
    );
}

/// `status --instance` for an id the node never saw is an error, not an
/// empty listing.
#[test]
fn status_of_an_unknown_instance_is_an_error() {
    let c = cluster(4, &[]);
    let out = generals_at(&c, 1, &["status", "--instance", "9-9"]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("instance 9-9 is unknown to this node"),
        "{}",
        shown(&out)
    );
    assert!(!text(&out.stdout).contains("instances"), "{}", shown(&out));
}

/// The row of `instance` in `generals status` at `node`, split in columns.
fn status_row(c: &LocalCluster, node: u16, instance: &str, only: bool) -> Vec<String> {
    let mut args = vec!["status"];
    if only {
        args.extend(["--instance", instance]);
    }
    let out = generals_at(c, node, &args);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let stdout = text(&out.stdout);
    let row = stdout
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|cols| cols.first().map(String::as_str) == Some(instance));
    row.unwrap_or_else(|| panic!("no row for {instance}: {}", shown(&out)))
}

/// A commander that had every report before a restart still shows them
/// after it (the signed reports are kept in reports.log).
#[test]
fn report_counts_survive_a_restart_of_the_commander() {
    let mut c = cluster(4, &[]);
    let id = common::run(
        &c,
        0,
        generals_wire::Protocol::Signed,
        1,
        generals_crypto::Order::Attack,
    );
    let id = common::instance_of(&id).to_string();
    let reports = |c: &LocalCluster, only| status_row(c, 0, &id, only).last().cloned();
    assert_eq!(reports(&c, false).as_deref(), Some("3/3"));
    assert!(
        c.stop(NodeId(0), common::WAIT).is_some(),
        "node 0 did not stop"
    );
    c.start(NodeId(0)).unwrap();
    c.wait_connected(common::WAIT).unwrap();
    for only in [false, true] {
        assert_eq!(
            reports(&c, only).as_deref(),
            Some("3/3"),
            "status (--instance: {only}) after the restart"
        );
    }
}
