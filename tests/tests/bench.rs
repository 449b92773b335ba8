//! `generals bench` end to end: the binary starts its own daemons, runs both
//! protocols with instances in flight, and its JSON says what every general
//! decided and when. Nothing here checks a speed.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::process::Command;

use serde_json::Value;

/// `generals bench --json` for 4 nodes, OM(1) or SM(1), 5 instances, 2 in
/// flight, on ports from `base_port` (16400..16430: no other test uses them).
fn bench(protocol: &str, base_port: u16) -> Value {
    let mut cmd = Command::new(common::bin());
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("GENERALS_") {
            cmd.env_remove(var);
        }
    }
    let out = cmd
        .args(["bench", "--protocol", protocol, "--nodes", "4", "--m", "1"])
        .args(["--instances", "5", "--in-flight", "2", "--warmup", "1"])
        .args(["--base-port", &base_port.to_string(), "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bench --json is not JSON ({e}): {stderr}"))
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{v} is not an unsigned integer"))
}

fn check_percentiles(p: &Value) {
    let (min, p50, p90, p99, max) = (
        u(&p["min"]),
        u(&p["p50"]),
        u(&p["p90"]),
        u(&p["p99"]),
        u(&p["max"]),
    );
    assert!(
        min <= p50 && p50 <= p90 && p90 <= p99 && p99 <= max,
        "percentiles out of order: {p}"
    );
}

fn check(v: &Value, protocol: &str) {
    let w = &v["workload"];
    assert_eq!(w["protocol"], protocol);
    assert_eq!((u(&w["nodes"]), u(&w["m"])), (4, 1));
    assert_eq!((u(&w["instances"]), u(&w["in_flight"])), (5, 2));
    let version = Command::new(common::bin())
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout);
    let commit = v["commit"].as_str().unwrap();
    assert!(
        !commit.is_empty() && version.contains(&format!("commit {commit}")),
        "commit {commit:?} is not the binary's: {version}"
    );
    assert!(v["command"].as_str().unwrap().contains("bench --protocol"));

    let instances = v["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 5, "every measured instance is listed");
    let mut ids = std::collections::BTreeSet::new();
    for run in instances {
        let id = run["instance"].as_str().unwrap();
        assert!(ids.insert(id.to_owned()), "instance {id} listed twice");
        let r = &run["report"];
        assert_eq!(r["instance"], id);
        assert_eq!(r["complete"], true, "{id}: every signed report arrived");
        assert_eq!(
            (&r["ic1"], &r["ic2"]),
            (&Value::Bool(true), &Value::Bool(true))
        );
        let started = u(&run["started_unix_us"]);
        assert_eq!(u(&r["started_unix_us"]), started);
        let generals = r["generals"].as_array().unwrap();
        assert_eq!(generals.len(), 4);
        let mut last = 0;
        for g in generals {
            assert_eq!(g["decision"], "attack", "{id}: {g}");
            let decided = u(&g["decided_unix_us"]);
            assert!(decided >= started, "{id}: decided before the order: {g}");
            last = last.max(decided);
        }
        assert_eq!(u(&run["all_decided_us"]), last - started, "{id}");
    }
    let first_start = instances
        .iter()
        .map(|r| u(&r["started_unix_us"]))
        .min()
        .unwrap();
    let last_decision = instances
        .iter()
        .map(|r| u(&r["started_unix_us"]) + u(&r["all_decided_us"]))
        .max()
        .unwrap();
    let t = &v["throughput"];
    assert_eq!(u(&t["daemons_span_us"]), last_decision - first_start);
    assert!(t["instances_per_s"].as_f64().unwrap() > 0.0);
    check_percentiles(&v["latency"]["order_to_all_decided_us"]);
    check_percentiles(&v["latency"]["order_to_complete_report_us"]);
    // The complete report needs every decision first.
    let max_decided = u(&v["latency"]["order_to_all_decided_us"]["max"]);
    let all = instances.iter().map(|r| u(&r["all_decided_us"])).max();
    assert_eq!(Some(max_decided), all);
    assert_eq!(u(&v["logical"]), 9, "(n-1)^2 = Lamport's count at n = 4");
}

#[test]
fn bench_runs_oral_on_real_daemons_and_reports_every_decision() {
    let v = bench("oral", 16_400);
    check(&v, "oral");
}

#[test]
fn bench_runs_signed_on_real_daemons_and_reports_every_decision() {
    let v = bench("signed", 16_420);
    check(&v, "signed");
}

#[test]
fn bench_refuses_a_workload_it_cannot_run_before_starting_anything() {
    let out = Command::new(common::bin())
        .args(["bench", "--protocol", "oral", "--nodes", "4", "--m", "2"])
        .args(["--base-port", "16440"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("3m+1"), "{err}");
}
