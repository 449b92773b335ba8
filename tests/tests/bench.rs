//! `generals bench` end to end: the binary starts its own daemons, runs both
//! protocols with instances in flight, and its JSON says what every general
//! decided and when; with traitors, what the loyal ones decided and whether
//! IC1 held; with --idle, each daemon's memory and CPU ticks. Nothing here
//! checks a speed.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::process::{Command, Output};

use serde_json::Value;

/// `generals bench ARGS --base-port BASE_PORT --json` (ARGS split at
/// spaces), without the shell's GENERALS_* overrides. Ports 16400..16520: no
/// other test uses them.
fn bench_output(args: &str, base_port: u16) -> Output {
    let mut cmd = Command::new(common::bin());
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("GENERALS_") {
            cmd.env_remove(var);
        }
    }
    cmd.arg("bench")
        .args(args.split_whitespace())
        .args(["--base-port", &base_port.to_string(), "--json"])
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bench --json is not JSON ({e}): {stderr}"))
}

/// `generals bench --json` for 4 nodes, OM(1) or SM(1), 5 instances, 2 in
/// flight.
fn bench(protocol: &str, base_port: u16) -> Value {
    let out = bench_output(
        &format!("--protocol {protocol} --nodes 4 --m 1 --instances 5 --in-flight 2 --warmup 1"),
        base_port,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    json(&out)
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{v} is not an unsigned integer"))
}

/// The unsigned fields of `v` named in `keys` (split at spaces).
fn counts(v: &Value, keys: &str) -> Vec<u64> {
    keys.split_whitespace().map(|k| u(&v[k])).collect()
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
    let a = &v["agreement"];
    assert_eq!(
        counts(a, "instances ic1_held ic1_violations"),
        [5, 5, 0],
        "{a}"
    );
    assert_eq!(
        counts(a, "ic2_instances ic2_held ic2_violations"),
        [5, 5, 0],
        "{a}"
    );
    assert_eq!((u(&a["loyal_attack"]), u(&a["loyal_retreat"])), (15, 0));
    assert_eq!(v["workload"]["traitors"], serde_json::json!([]));
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

/// SM(1) at n = 4 under a commander that signs ATTACK for general 2 and
/// RETREAT for the odd ids: the loyal lieutenants relay both, so each holds
/// both signed orders and decides RETREAT (SM's choice over two values),
/// with the proof. The traitor's own daemon logs the decision its core
/// reached, which the bench lists apart and counts nowhere.
#[test]
fn bench_with_an_equivocating_commander_times_the_loyal_generals_and_checks_ic1() {
    let out = bench_output(
        "--protocol signed --nodes 4 --m 1 --instances 3 --warmup 0 --traitors 0 --strategy equivocate",
        16_460,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    let v = json(&out);
    let w = &v["workload"];
    assert_eq!(
        (&w["traitors"], &w["strategy"], u(&w["seed"])),
        (&serde_json::json!([0]), &Value::from("equivocate"), 0)
    );
    let a = &v["agreement"];
    assert_eq!(
        counts(a, "instances ic1_held ic1_violations"),
        [3, 3, 0],
        "{a}"
    );
    assert_eq!(
        u(&a["ic2_instances"]),
        0,
        "IC2 needs a loyal commander: {a}"
    );
    assert_eq!((u(&a["loyal_attack"]), u(&a["loyal_retreat"])), (0, 9));
    assert_eq!(u(&a["evidence_instances"]), 3, "{a}");
    for run in v["instances"].as_array().unwrap() {
        let r = &run["report"];
        let id = r["instance"].as_str().unwrap();
        assert_eq!(r["traitors"], serde_json::json!([0]), "{id}");
        assert_eq!(
            (&r["ic1"], &r["ic2"]),
            (&Value::Bool(true), &Value::Bool(true))
        );
        let started = u(&run["started_unix_us"]);
        let mut last = 0;
        for g in r["generals"].as_array().unwrap() {
            if g["id"] == 0 {
                assert_eq!(
                    (&g["traitor"], &g["decision"]),
                    (&Value::Bool(true), &Value::Null)
                );
                continue;
            }
            assert_eq!(g["decision"], "retreat", "{id}: {g}");
            last = last.max(u(&g["decided_unix_us"]));
        }
        assert_eq!(
            u(&run["all_decided_us"]),
            last - started,
            "{id}: the loyal lieutenants' last decision, not the traitor's"
        );
        let recorded = run["traitors_recorded"].as_array().unwrap();
        assert_eq!(recorded.len(), 1, "{id}");
        assert_eq!(recorded[0]["id"], 0);
        assert_eq!(recorded[0]["decision"], "attack", "its own order: {id}");
        assert!(
            !r["evidence"].as_array().unwrap().is_empty(),
            "{id}: the loyal generals hold the proof"
        );
    }
}

/// Two traitors at n = 4 (more than OM(1) tolerates, which the report says):
/// the loyal lieutenants disagree, the report names the instances and the
/// exit status is 3, as for `generals simulate`.
#[test]
fn bench_exits_3_and_names_the_instances_when_ic1_breaks() {
    let out = bench_output(
        "--protocol oral --nodes 4 --m 1 --instances 2 --warmup 0 --traitors 0,1 --strategy split",
        16_480,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let v = json(&out);
    let a = &v["agreement"];
    assert_eq!(u(&a["ic1_violations"]), 2, "{a}");
    assert!(stderr.contains("IC1"), "{stderr}");
    let violations = a["violations"].as_array().unwrap();
    assert!(violations[0].as_str().unwrap().starts_with("0-"), "{a}");
}

#[test]
fn bench_refuses_a_traitor_that_is_not_a_general() {
    let out = bench_output("--protocol signed --nodes 4 --traitors 4", 16_500);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("general 4 does not exist"), "{err}");
}

/// `--idle 1`: every daemon's RSS (VmRSS) and CPU ticks before and after a
/// second without orders.
#[test]
fn bench_idle_reads_every_daemons_memory_and_cpu_ticks() {
    let out = bench_output("--idle 1 --nodes 4", 16_510);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench --idle failed: {stderr}");
    let v = json(&out);
    assert_eq!(u(&v["workload"]["seconds"]), 1);
    assert!(u(&v["idle_ms"]) >= 1000, "{v}");
    assert!(u(&v["clock_ticks_per_s"]) > 0);
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    let mut total = 0;
    for n in nodes {
        assert!(u(&n["pid"]) > 0, "{n}");
        assert!(
            u(&n["rss_kib_before"]) > 0 && u(&n["rss_kib_after"]) > 0,
            "{n}"
        );
        let (before, after) = (u(&n["cpu_ticks_before"]), u(&n["cpu_ticks_after"]));
        assert!(after >= before, "{n}");
        assert_eq!(u(&n["cpu_ticks_idle"]), after - before, "{n}");
        total += after - before;
    }
    assert_eq!(u(&v["cpu_ticks_idle_total"]), total);
    assert!(u(&v["rss_kib_max"]) >= u(&v["rss_kib_p50"]) && u(&v["rss_kib_p50"]) > 0);
}
