//! The metrics endpoint of real daemons: `[metrics] listen`, scraped over
//! TCP and parsed with an independent Prometheus text-format parser
//! (prometheus-parse), checked against what the cluster did; and `/healthz`.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::{eventually, run, unstarted, WAIT};
use generals_crypto::{NodeId, Order};
use generals_node::cluster::LocalCluster;
use generals_wire::Protocol;
use prometheus_parse::{Scrape, Value};

const N: usize = 4;

/// `n` free ports for metrics endpoints, in 19000..20000: below the
/// 20000..30000 that local clusters take and the 30000.. of test proxies.
fn metrics_ports(n: usize) -> Vec<u16> {
    let offset = std::process::id() % 1000;
    let ports: Vec<u16> = (0..1000u32)
        .map(|i| 19_000 + ((offset + i) % 1000) as u16)
        .filter(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .take(n)
        .collect();
    assert_eq!(ports.len(), n, "free ports for the metrics endpoints");
    ports
}

/// A running cluster whose every node serves metrics; their addresses.
fn cluster_with_metrics(n: usize) -> (LocalCluster, Vec<SocketAddr>) {
    let mut c = unstarted(n);
    let mut addrs = Vec::new();
    for (i, port) in metrics_ports(n).into_iter().enumerate() {
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let path = &c.node(NodeId(i as u16)).unwrap().config;
        let mut text = std::fs::read_to_string(path).unwrap();
        text.push_str(&format!("\n[metrics]\nlisten = \"{addr}\"\n"));
        std::fs::write(path, text).unwrap();
        addrs.push(addr);
    }
    c.start_all().unwrap();
    c.wait_connected(WAIT).unwrap();
    (c, addrs)
}

/// One HTTP/1.1 request; the status code, the head and the body.
fn http(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, head.to_owned(), body.to_owned())
}

fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    http(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
}

fn scrape(addr: SocketAddr) -> Scrape {
    let (code, head, body) = get(addr, "/metrics");
    assert_eq!(code, 200, "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The sample `name{labels}`; a missing one fails the test.
fn sample<'a>(s: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> &'a Value {
    let found = s
        .samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"));
    &found.value
}

/// The value of counter or gauge `name{labels}`.
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    match sample(s, name, labels) {
        Value::Counter(v) | Value::Gauge(v) => *v,
        other => panic!("{name}{labels:?} is {other:?}, not a counter or gauge"),
    }
}

/// The number of observations of histogram `name{labels}`.
fn observations(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    match sample(s, name, labels) {
        Value::Histogram(buckets) => buckets
            .iter()
            .find(|b| b.less_than.is_infinite())
            .map(|b| b.count)
            .unwrap(),
        other => panic!("{name}{labels:?} is {other:?}, not a histogram"),
    }
}

fn total(scrapes: &[Scrape], name: &str, labels: &[(&str, &str)]) -> f64 {
    scrapes.iter().map(|s| value(s, name, labels)).sum()
}

/// An order of each protocol on a loyal cluster: every scrape parses, and
/// its numbers are what happened: decisions by protocol and value, frames,
/// bytes and messages that balance across the cluster (every frame one
/// node sent, another read), the signatures the report counts, no
/// rejections, all links up, and one histogram sample per lieutenant round.
/// Then a node goes down, and its peers' /healthz and links_up say so.
#[test]
fn a_scrape_of_each_node_adds_up_to_what_the_cluster_did() {
    let (mut c, addrs) = cluster_with_metrics(N);
    eventually("every node's /healthz answers 200", || {
        addrs.iter().all(|a| get(*a, "/healthz").0 == 200)
    });
    let (_, _, body) = get(addrs[0], "/healthz");
    assert_eq!(body, "ok\n");

    let oral = run(&c, 0, Protocol::Oral, 1, Order::Attack);
    let signed = run(&c, 1, Protocol::Signed, 1, Order::Retreat);

    // The last report a commander counted is in its scrape; the frames
    // before it are in the others' (each decided before reporting).
    let scrapes: Vec<Scrape> = addrs.iter().map(|a| scrape(*a)).collect();
    let n = N as f64;
    for (p, v, want) in [
        ("oral", "attack", n),
        ("oral", "retreat", 0.0),
        ("signed", "attack", 0.0),
        ("signed", "retreat", n),
    ] {
        let got = total(
            &scrapes,
            "generals_decisions_total",
            &[("protocol", p), ("value", v)],
        );
        assert_eq!(got, want, "decisions {p} {v}");
    }
    for (p, r) in [("oral", &oral), ("signed", &signed)] {
        let both =
            |name: &str, dir: &str| total(&scrapes, name, &[("protocol", p), ("direction", dir)]);
        for name in [
            "generals_frames_total",
            "generals_bytes_total",
            "generals_messages_total",
        ] {
            let (out, inn) = (both(name, "out"), both(name, "in"));
            assert!(out > 0.0, "{name} {p} out is 0");
            assert_eq!(out, inn, "{name} {p}: sent {out}, read {inn}");
        }
        // Logical messages are those the report counts (Lamport's 9 at
        // n = 4, m = 1 for both); frames add one report per lieutenant.
        assert_eq!(
            both("generals_messages_total", "out"),
            r.messages.logical as f64
        );
        assert_eq!(r.messages.logical, r.messages.formula);
        assert_eq!(
            both("generals_frames_total", "out"),
            (r.messages.frames + N as u64 - 1) as f64,
            "{p}: round frames plus one report per lieutenant"
        );
        assert!(both("generals_bytes_total", "out") > r.messages.bytes as f64);
        let sigs = |name| total(&scrapes, name, &[("protocol", p)]);
        assert_eq!(
            sigs("generals_signatures_made_total"),
            r.messages.signatures_made as f64
        );
        assert_eq!(
            sigs("generals_signatures_verified_total"),
            r.messages.signatures_verified as f64
        );
        // Each lieutenant closes m + 1 = 2 rounds and one instance.
        let rounds: f64 = scrapes
            .iter()
            .map(|s| observations(s, "generals_round_duration_seconds", &[("protocol", p)]))
            .sum();
        assert_eq!(rounds, (N as f64 - 1.0) * 2.0, "{p} rounds observed");
        let instances: f64 = scrapes
            .iter()
            .map(|s| observations(s, "generals_instance_duration_seconds", &[("protocol", p)]))
            .sum();
        assert_eq!(instances, N as f64 - 1.0, "{p} instances observed");
    }
    // SM(1): the commander signs its order, each lieutenant its one relay;
    // OM signs no chains.
    assert_eq!(
        total(
            &scrapes,
            "generals_signatures_made_total",
            &[("protocol", "signed")]
        ),
        n
    );
    assert!(
        total(
            &scrapes,
            "generals_signatures_verified_total",
            &[("protocol", "signed")]
        ) >= n - 1.0
    );
    assert_eq!(
        total(
            &scrapes,
            "generals_signatures_made_total",
            &[("protocol", "oral")]
        ),
        0.0
    );
    for s in &scrapes {
        assert_eq!(value(s, "generals_links_up", &[]), n - 1.0);
        assert_eq!(value(s, "generals_peers", &[]), n - 1.0);
        assert_eq!(value(s, "generals_instances_active", &[]), 0.0);
        // Every reason is listed from the start; a loyal run uses none.
        for reason in ["bad_signature", "past_round", "bad_ticket"] {
            assert_eq!(
                value(s, "generals_rejections_total", &[("reason", reason)]),
                0.0
            );
        }
        assert_eq!(
            value(
                s,
                "generals_signatures_rejected_total",
                &[("reason", "bad_signature")]
            ),
            0.0
        );
        assert_eq!(
            value(
                s,
                "generals_handshakes_refused_total",
                &[("reason", "wrong_key")]
            ),
            0.0
        );
        for kind in ["order", "spec"] {
            assert_eq!(
                value(s, "generals_equivocation_proofs_total", &[("kind", kind)]),
                0.0
            );
        }
        // Bounded labels: nothing names an instance or an address.
        for sample in &s.samples {
            for (k, _) in sample.labels.iter() {
                assert!(
                    ["protocol", "direction", "value", "reason", "kind", "le"]
                        .contains(&k.as_str()),
                    "unexpected label {k} on {}",
                    sample.metric
                );
            }
        }
    }

    // OpenMetrics on request, ending as that format must.
    let (code, head, body) = http(
        addrs[0],
        "GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0\r\n\r\n",
    );
    assert_eq!(code, 200);
    assert!(
        head.contains("application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert_eq!(get(addrs[0], "/nothing").0, 404);
    // A head that fills the 4 KiB the server reads without ending is
    // refused (exactly 4 KiB, so the server reads all of it before closing).
    let head = "GET /metrics HTTP/1.1\r\nX: ";
    let big = format!("{head}{}", "a".repeat(4096 - head.len()));
    assert_eq!(http(addrs[0], &big).0, 431);

    // A peer goes down: its neighbours are no longer healthy, and say why.
    c.kill(NodeId(3));
    eventually("node 0's /healthz reports the link to node 3 down", || {
        let (code, _, body) = get(addrs[0], "/healthz");
        code == 503 && body.contains("links down to 1 of 3 peers: 3")
    });
    assert_eq!(value(&scrape(addrs[0]), "generals_links_up", &[]), n - 2.0);
}
