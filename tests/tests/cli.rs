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
    let mut cmd = without_overrides(bin());
    cmd.args(args).arg("--config").arg(config);
    cmd.output().unwrap()
}

/// A command for `program` that does not inherit GENERALS_* variables.
fn without_overrides(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("GENERALS_") {
            cmd.env_remove(var);
        }
    }
    cmd
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

/// With a lieutenant down, `order --wait` waits its default (derived from
/// the instance's deadlines), then prints the report with the missing node
/// named and exits 4; the two that are up agree.
#[test]
fn order_wait_with_a_node_down_exits_4_and_names_it() {
    let mut c = cluster(4, &[]);
    c.kill(NodeId(3));
    let out = order(&c, 0, "signed", 1, &["--wait"]);
    assert_eq!(out.status.code(), Some(4), "{}", shown(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("reports:    INCOMPLETE: no signed report from 3 before the wait ended"),
        "{}",
        shown(&out)
    );
    assert!(stdout.contains("(exit status 4)"), "{}", shown(&out));
    for j in 1..=2 {
        let row = format!("  {j}        lieutenant  no       attack");
        assert!(stdout.contains(&row), "{}", shown(&out));
    }
    let json = order(&c, 0, "signed", 1, &["--wait", "--json"]);
    assert_eq!(json.status.code(), Some(4), "{}", shown(&json));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["complete"], false, "{}", shown(&json));
}

/// On a terminal, `order --wait` keeps a progress line on stderr: rounds
/// past their deadlines and reports in against the n-1 expected. The
/// terminal is util-linux `script`'s pseudo-terminal; without `script`
/// the test says so and checks nothing.
#[test]
fn order_wait_shows_progress_on_a_terminal() {
    let script = Command::new("script").arg("--version").output();
    if !script.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "skipped: util-linux `script` is not installed, so there is no terminal to test on"
        );
        return;
    }
    let mut c = cluster(4, &[]);
    c.kill(NodeId(3));
    let config = c.node(NodeId(0)).unwrap().config.clone();
    let command = format!(
        "{} order --config {} --protocol signed --m 1 --value attack --wait",
        bin().display(),
        config.display()
    );
    let out = without_overrides("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .unwrap();
    let seen = text(&out.stdout);
    assert!(seen.contains("reports:    INCOMPLETE"), "{seen}");
    let progress: Vec<&str> = seen
        .split(['\r', '\n'])
        .map(|l| l.trim_start_matches("\x1b[K"))
        .filter(|l| l.starts_with("0-1: rounds "))
        .collect();
    assert!(!progress.is_empty(), "no progress line in {seen:?}");
    for line in &progress {
        assert!(line.contains("/2 past their deadlines, reports "), "{line}");
        assert!(line.contains("/3 in ("), "{line}");
    }
    assert!(
        progress.iter().any(|l| l.contains("reports 2/3 in")),
        "the two live lieutenants' reports never showed: {progress:?}"
    );
}

/// "820ms", "45s", "12m05s" (what `status` prints) in milliseconds.
fn millis(text: &str) -> u64 {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse().unwrap();
    }
    let text = text.strip_suffix('s').unwrap();
    match text.split_once('m') {
        Some((m, s)) => (m.parse::<u64>().unwrap() * 60 + s.parse::<u64>().unwrap()) * 1000,
        None => text.parse::<u64>().unwrap() * 1000,
    }
}

/// Without --timeout-ms the wait is derived from the instance's own
/// deadlines (twice their sum), so a slow cluster is waited for: with
/// Δ = 10 s, SM(1)'s two rounds may take 10 s + 15 s, and the CLI waits at
/// least 50 s (an all-up cluster answers long before).
#[test]
fn order_waits_twice_the_instances_deadlines_by_default() {
    let mut opts = common::options(4);
    opts.round_timeout_ms = 10_000;
    let mut c = LocalCluster::create(&bin(), opts).unwrap();
    c.start_all().unwrap();
    c.wait_connected(common::WAIT).unwrap();
    let out = order(&c, 0, "signed", 1, &["--wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let stderr = text(&out.stderr);
    let limit = stderr
        .split("waiting up to ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no wait announced: {}", shown(&out)));
    assert!(millis(limit) >= 50_000, "{}", shown(&out));
    let explicit = order(&c, 0, "signed", 1, &["--wait", "--timeout-ms", "3000"]);
    assert!(
        text(&explicit.stderr).contains("waiting up to 3s"),
        "{}",
        shown(&explicit)
    );
}

/// A line of demo output with what differs between runs blanked: the
/// cluster's directory, and SM's verified counts (which relay arrives first
/// decides which chain prefixes a lieutenant has already verified).
fn steady(line: &str) -> String {
    if let Some(rest) = line.strip_prefix("Starting 7 generals in ") {
        let tail = rest.split_once(" (").map_or("", |(_, t)| t);
        return format!("Starting 7 generals in DIR ({tail}");
    }
    if line.starts_with("  SM ") {
        return line
            .rsplit_once(' ')
            .map_or(line, |(head, _)| head)
            .to_owned();
    }
    if let Some((made, _)) = line.split_once(" made, ") {
        return made.to_owned();
    }
    line.to_owned()
}

/// README.md's text.
fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap()
}

/// Fails unless each run of `sample` lines between "..." elisions appears,
/// in order, in `real` (both passed through `steady` first).
fn assert_sample(what: &str, sample: &[&str], real: &str, steady: fn(&str) -> String) {
    let real: Vec<String> = real.lines().map(steady).collect();
    let mut at = 0;
    for part in sample.split(|l| *l == "...") {
        let want: Vec<String> = part.iter().map(|l| steady(l)).collect();
        let found = (at..=real.len().saturating_sub(want.len()))
            .find(|&i| real[i..i + want.len()] == want[..]);
        let Some(i) = found else {
            panic!(
                "README lines not in the output of {what} (after line {at}):\n{}\n\nit printed:\n{}",
                want.join("\n"),
                real.join("\n")
            );
        };
        at = i + want.len();
    }
}

/// The README's demo sample is the demo's real output: each run of lines
/// between its "..." elisions appears, in order, in what `generals demo`
/// prints today.
#[test]
fn the_readme_demo_sample_is_what_demo_prints() {
    let readme = readme();
    let start = readme
        .find("```text\nStarting 7 generals")
        .expect("the README shows the demo");
    let block = &readme[start + "```text\n".len()..];
    let block = &block[..block.find("```").unwrap_or(block.len())];
    let out = without_overrides(bin()).arg("demo").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let lines: Vec<&str> = block.lines().collect();
    assert_sample("demo", &lines, &text(&out.stdout), steady);
}

/// Every `$ generals simulate ...` in the README prints what the README
/// shows (the simulator is deterministic, so nothing is blanked).
#[test]
fn the_readme_simulate_samples_are_what_simulate_prints() {
    let readme = readme();
    let mut seen = 0;
    for block in readme.split("```text\n").skip(1) {
        let block = &block[..block.find("```").unwrap_or(block.len())];
        let lines: Vec<&str> = block.lines().collect();
        let starts: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].starts_with("$ generals simulate "))
            .collect();
        for &i in &starts {
            let end = (i + 1..lines.len())
                .find(|&j| lines[j].starts_with("$ "))
                .unwrap_or(lines.len());
            let mut sample = &lines[i + 1..end];
            while sample.last().is_some_and(|l| l.is_empty()) {
                sample = &sample[..sample.len() - 1];
            }
            let args: Vec<&str> = lines[i]["$ generals ".len()..].split_whitespace().collect();
            let out = without_overrides(bin()).args(&args).output().unwrap();
            assert_sample(lines[i], sample, &text(&out.stdout), str::to_owned);
            seen += 1;
        }
    }
    assert_eq!(seen, 3, "the README shows three simulate runs");
}

/// `testnet` warns when its ports fall inside the kernel's ephemeral range
/// (where other generals' outgoing connections can take them), and names
/// a base port that fits; the default base port draws no warning.
#[test]
fn testnet_warns_about_ports_in_the_ephemeral_range() {
    let Some(range) = generals_config::ports::ephemeral_range() else {
        eprintln!(
            "skipped: {} is not readable here",
            generals_config::ports::EPHEMERAL_RANGE_FILE
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let run = |base: u16, out: &str| {
        without_overrides(bin())
            .args([
                "testnet",
                "--nodes",
                "4",
                "--base-port",
                &base.to_string(),
                "--out",
            ])
            .arg(dir.join(out))
            .output()
            .unwrap()
    };
    let inside = run(*range.start(), "inside");
    assert!(inside.status.success(), "{}", shown(&inside));
    let warned = text(&inside.stderr);
    assert!(
        warned.starts_with("warning: listen ports"),
        "{}",
        shown(&inside)
    );
    assert!(
        warned.contains("Address already in use"),
        "{}",
        shown(&inside)
    );
    assert!(
        warned.contains(&format!("use ports below {}", range.start())),
        "{}",
        shown(&inside)
    );

    let clear = run(7000, "clear");
    assert!(clear.status.success(), "{}", shown(&clear));
    assert!(
        !text(&clear.stderr).contains("warning"),
        "{}",
        shown(&clear)
    );
}
