//! `generals compare`, run as the real binary: the closed forms against the
//! measured counts, the JSON contract shared with `simulate --json`, OM
//! refused below 3m+1 while SM runs, the sweep's SVG, the exit status, and
//! the same comparison on running daemons.
//!
//! Mutations seen to fail them are named on each test.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use generals_crypto::Order;
use generals_node::cluster::{ClusterOptions, LocalCluster};
use generals_node::report::InstanceReport;
use serde_json::Value;

/// `generals ARGS` with an empty environment (no GENERALS_* overrides).
fn generals(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_generals"))
        .args(args)
        .env_clear()
        .output()
        .unwrap()
}

/// `generals ARGS`: checks the exit code and returns stdout.
fn text(args: &[&str], want_code: i32) -> String {
    let out = generals(args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(want_code),
        "{args:?}\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// [`text`] with --json appended, parsed.
fn json(args: &[&str], want_code: i32) -> Value {
    let out = text(&[args, &["--json"]].concat(), want_code);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `generals ARGS` exits 1 with `message` on stderr.
fn fails(args: &[&str], message: &str) {
    let out = generals(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.contains(message), "{args:?}: {err}");
}

/// "compare --nodes 4" as arguments.
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// One side of a comparison read back as the report type `simulate --json`
/// prints: the field names are the same or this fails.
fn report(side: &Value) -> InstanceReport {
    serde_json::from_value(side.clone()).unwrap_or_else(|e| panic!("{e}: {side}"))
}

/// Mutations seen to fail it: `sim::formula` for SM returning n(n-1) instead
/// of (n-1)^2; `rounds_seen` set to m+1 instead of counted from the frames.
#[test]
fn closed_forms_match_the_measured_counts_in_loyal_runs() {
    for (n, m, oral, signed) in [(4u64, 1u8, 9u64, 9u64), (7, 2, 156, 36)] {
        let v = json(&words(&format!("compare --nodes {n} --m {m}")), 0);
        assert_eq!(v["source"], "sim");
        assert_eq!(v["ok"], true);
        for (key, want) in [("oral", oral), ("signed", signed)] {
            let r = report(&v[key]);
            let what = format!("{key} n={n} m={m}");
            assert_eq!(r.messages.logical, want, "{what}");
            assert_eq!(r.messages.formula, want, "{what}");
            // One frame per (round, sender, receiver), both protocols.
            assert_eq!(
                r.messages.frames,
                (n - 1) + u64::from(m) * (n - 1) * (n - 2),
                "{what}"
            );
            assert!(r.ic1 && r.ic2, "{what}");
            assert!(r.loyal_decisions().all(|d| d == Order::Attack), "{what}");
            assert_eq!(v[key]["rounds_seen"], u64::from(m) + 1, "{what}");
            assert!(v[key]["wall_ms"].as_f64().unwrap() > 0.0, "{what}");
        }
        // SM: the commander signs once and each lieutenant relays once; every
        // chain received is verified once.
        let r = report(&v["signed"]);
        assert_eq!(r.messages.signatures_made, n, "n={n}");
        assert_eq!(r.messages.signatures_verified, signed, "n={n}");
        assert_eq!(report(&v["oral"]).messages.signatures_made, 0);
    }
    let table = text(&words("compare --nodes 7 --m 2"), 0);
    let row = |label: &str| {
        let line = table
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label:?} row in\n{table}"));
        line[label.len() + 2..]
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(row("logical messages"), ["156", "36"], "{table}");
    assert_eq!(row("closed form (loyal run)"), ["156", "36"], "{table}");
    assert_eq!(
        row("rounds with frames, of m+1"),
        ["3", "of", "3", "3", "of", "3"],
        "{table}"
    );
    assert!(
        table.contains("oral / signed: logical messages 4.33x"),
        "{table}"
    );
    // Rounds are counted from the frames sent, not copied from m+1: a silent
    // commander starts none.
    let v = json(
        &words("compare --nodes 4 --m 1 --traitors 0 --strategy silent"),
        0,
    );
    assert_eq!(v["oral"]["rounds_seen"], 0, "{v}");
    assert_eq!(v["signed"]["rounds_seen"], 0, "{v}");
}

/// Mutation seen to fail it: dropping `#[serde(flatten)]` from the report
/// in `Side::Ran` (the fields then sit under "report").
#[test]
fn json_sides_carry_the_fields_simulate_prints() {
    let scenario = "--nodes 7 --m 2 --traitors 0 --strategy split";
    let v = json(&words(&format!("compare {scenario}")), 0);
    for key in ["oral", "signed"] {
        let sim = json(&words(&format!("simulate --protocol {key} {scenario}")), 0);
        let side = v[key].as_object().unwrap();
        for (field, value) in sim.as_object().unwrap() {
            // The same deterministic run: every field simulate prints, with
            // the same value.
            assert_eq!(side.get(field), Some(value), "{key}.{field}");
        }
    }
    // The equivocating SM commander is proven guilty; OM has no proofs.
    assert_eq!(report(&v["signed"]).evidence.len(), 1);
    assert!(report(&v["oral"]).evidence.is_empty());
}

/// Mutation seen to fail it: `oral_refusal` refusing only n < 3m (n = 6
/// then runs OM(2); n = 4 is refused either way, hence both).
#[test]
fn oral_below_three_m_plus_one_is_not_run_with_the_reason_and_signed_runs() {
    for n in ["4", "6"] {
        let v = json(&words(&format!("compare --nodes {n} --m 2")), 0);
        let oral = &v["oral"];
        let why = oral["not_run"].as_str().unwrap_or_else(|| panic!("{oral}"));
        assert!(why.contains("3m+1 = 7"), "{why}");
        assert!(why.contains(&format!("n = {n}")), "{why}");
        assert!(oral.get("messages").is_none(), "{oral}");
        let signed = report(&v["signed"]);
        assert_eq!(signed.messages.logical, signed.messages.formula);
        assert!(signed.loyal_decisions().all(|d| d == Order::Attack));
        assert_eq!(v["ok"], true);
    }
    let table = text(&words("compare --nodes 4 --m 2"), 0);
    assert!(table.contains("OM(2) (not run)"), "{table}");
    assert!(
        table.contains("OM(2) not run: OM(2) needs n >= 3m+1 = 7 generals"),
        "{table}"
    );
    assert!(table.contains("general 3"), "{table}");
}

/// Mutations seen to fail it: the plot without the SM(n-2) series (its
/// legend text is missing); the sweep starting at m = 2.
#[test]
fn sweep_with_plot_writes_a_parseable_svg() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compare.svg");
    let path = file.to_str().unwrap();
    let table = text(&["compare", "--sweep", "--max-m", "2", "--plot", path], 0);
    let runs: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().take(3).collect())
        .filter(|cells: &Vec<&str>| cells.first().is_some_and(|c| c.parse::<u8>().is_ok()))
        .collect();
    let want = [
        ["4", "OM(1)", "9"],
        ["4", "SM(1)", "9"],
        ["4", "SM(2)", "9"],
        ["7", "OM(2)", "156"],
        ["7", "SM(2)", "36"],
        ["7", "SM(5)", "36"],
    ];
    assert_eq!(runs, want, "{table}");
    let svg = std::fs::read_to_string(&file).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for want in [
        "logical messages",
        "bytes on the wire",
        "wall time",
        "OM(m), n = 3m+1",
        "SM(m), same m",
        "SM(n-2)",
    ] {
        assert!(texts.contains(&want), "no text {want:?} in {texts:?}");
    }
    // A marker per measured point: 3 panels x 3 series x 2 values of n.
    let circles = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle"))
        .count();
    assert_eq!(circles, 18);

    let v = json(&words("compare --sweep --max-m 2"), 0);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(report(&rows[1]["signed_n_minus_2"]).m, 5);
}

/// Mutation seen to fail it: `Comparison::ok` ignoring the oral side.
#[test]
fn broken_agreement_exits_three_and_usage_errors_are_explained() {
    // Two flipping lieutenants against OM(1) at n = 4: more than m.
    let out = text(
        &words("compare --nodes 4 --m 1 --traitors 1,2 --strategy flip"),
        3,
    );
    assert!(out.contains("more traitors than m = 1"), "{out}");
    assert!(out.contains("VIOLATED"), "{out}");

    fails(&words("compare --nodes 4 --m 3"), "m+2 = 5");
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().to_str().unwrap();
    fails(
        &words(&format!("compare --nodes 4 --m 1 --cluster {dir}")),
        "is not a testnet directory",
    );
}

/// Real daemons: four `generals node` processes on loopback.
///
/// Mutation seen to fail it: `order_and_wait` ordering `Protocol::Signed`
/// for both sides.
#[test]
fn cluster_runs_both_protocols_on_the_running_daemons() {
    let bin = Path::new(env!("CARGO_BIN_EXE_generals"));
    let mut c = LocalCluster::create(bin, ClusterOptions::new(4)).unwrap();
    c.start_all().unwrap();
    c.wait_connected(Duration::from_secs(20)).unwrap();
    let dir = c.dir.to_str().unwrap().to_owned();
    let v = json(
        &["compare", "--nodes", "4", "--m", "1", "--cluster", &dir],
        0,
    );
    assert_eq!(v["source"], "cluster");
    for (key, want) in [("oral", "oral"), ("signed", "signed")] {
        let r = report(&v[key]);
        assert_eq!(r.protocol.to_string(), want);
        assert_eq!(r.messages.logical, 9, "{key}");
        assert_eq!(r.messages.formula, 9, "{key}");
        assert_eq!(r.complete, Some(true), "{key}");
        assert!(r.ic1 && r.ic2, "{key}");
        assert!(r.instance.is_some(), "{key}");
    }
    // The table names each instance, for `generals status --instance`.
    let table = text(
        &["compare", "--nodes", "4", "--m", "1", "--cluster", &dir],
        0,
    );
    let ids: Vec<&str> = table
        .lines()
        .find(|l| l.trim_start().starts_with("instance "))
        .unwrap_or_else(|| panic!("no instance row in\n{table}"))
        .split_whitespace()
        .skip(1)
        .collect();
    assert_eq!(ids, ["0-3", "0-4"], "{table}");
    fails(
        &["compare", "--nodes", "7", "--m", "1", "--cluster", &dir],
        "which has 4 generals",
    );
}
