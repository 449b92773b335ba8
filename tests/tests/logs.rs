//! What the daemons write to their logs: `log_format = "json"`, the
//! journal's priority prefixes, and rate-limited lines for what a peer
//! repeats (the counters still count every one).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::raw_peer::cluster_with_raw;
use common::{eventually, eventually_or_not, log, status, unstarted, Killed, WAIT};
use generals_crypto::{InstanceId, NodeId, Order};
use generals_node::cluster::LocalCluster;
use generals_wire::{InstanceSpec, OralBits, PeerMessage, Protocol, RoundBody, RoundFrame};

/// Puts `line` at the top of node `id`'s config, where top-level keys go.
fn prepend_to_config(c: &LocalCluster, id: u16, line: &str) {
    let path = &c.node(NodeId(id)).unwrap().config;
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, format!("{line}\n{text}")).unwrap();
}

/// Every node logs JSON; a whole order, a refused stranger and a stop
/// later, every line of node 0's log is one JSON object with a level, a
/// timestamp and the event's fields.
#[test]
fn with_log_format_json_every_log_line_is_a_json_object() {
    let mut c = unstarted(4);
    for id in 0..4 {
        prepend_to_config(&c, id, "log_format = \"json\"");
    }
    c.start_all().unwrap();
    if let Err(e) = c.wait_connected(WAIT) {
        panic!("{e:#}\nnode 0 log:\n{}", c.log_tail(NodeId(0), 30));
    }
    common::run(&c, 0, Protocol::Oral, 1, Order::Attack);
    let addr = c.config(NodeId(0)).unwrap().listen;
    stranger(addr);
    eventually("node 0 counts the stranger", || {
        status(&c, 0).counters.links_refused >= 1
    });
    c.stop_all();

    let text = log(&c, 0);
    let mut levels = std::collections::BTreeSet::new();
    let mut messages = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}\nwhole log:\n{text}"));
        let level = v["level"].as_str().unwrap_or_else(|| panic!("{line}"));
        levels.insert(level.to_owned());
        assert!(v["timestamp"].is_string(), "{line}");
        let message = v["fields"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{line}"));
        messages.push(message.to_owned());
    }
    for want in ["node started", "decided", "refused a connection"] {
        assert!(
            messages.iter().any(|m| m == want),
            "no {want:?} line in:\n{text}"
        );
    }
    assert!(
        levels.contains("INFO") && levels.contains("WARN"),
        "{levels:?}"
    );
    // Fields stay fields: the refusal's address is its own key.
    assert!(text.contains("\"addr\":\"127.0.0.1:"), "{text}");
}

/// A stranger that sends garbage and waits for the node to close; whether
/// it got a connection.
fn stranger(addr: std::net::SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
    true
}

/// Node 0 started as systemd starts it: stderr is the journal's stream, and
/// `JOURNAL_STREAM` names it (here a file, named by its device and inode,
/// as systemd names the socket). Its peers are down, so it logs warnings
/// (`cannot reach peer`) as well as info lines; every line starts with the
/// level's sd-daemon priority and carries no timestamp, as journald stamps
/// each line itself.
#[test]
fn under_journald_lines_carry_their_priority_and_no_timestamp() {
    let c = unstarted(4);
    let node = c.node(NodeId(0)).unwrap();
    let path = node.log.with_file_name("journal.log");
    let file = File::create(&path).unwrap();
    let meta = file.metadata().unwrap();
    let mut cmd = Command::new(common::bin());
    cmd.arg("node")
        .arg("--config")
        .arg(&node.config)
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file);
    let _node = Killed(cmd.spawn().unwrap());
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    eventually("node 0 logs that it cannot reach a peer", || {
        read(&path).contains("cannot reach peer")
    });
    let text = read(&path);
    let mut seen = std::collections::BTreeSet::new();
    for line in text.lines() {
        let (priority, rest) = line
            .strip_prefix('<')
            .and_then(|l| l.split_once('>'))
            .unwrap_or_else(|| panic!("no <N> prefix: {line:?}\n{text}"));
        let level = rest.split_whitespace().next().unwrap_or_default();
        let want = match level {
            "ERROR" => "3",
            "WARN" => "4",
            "INFO" => "6",
            "DEBUG" | "TRACE" => "7",
            _ => panic!("a timestamp or something else before the level: {line:?}"),
        };
        assert_eq!(priority, want, "{line}");
        seen.insert(level.to_owned());
    }
    assert!(seen.contains("INFO") && seen.contains("WARN"), "{text}");
}

/// A stranger connects again and again: node 0 counts every refusal but
/// logs the first at once and then one line per step (1 s, doubling), each
/// with the number it held back, so the log has a handful of lines where
/// the counter has hundreds, and the lines account for every refusal.
#[test]
fn a_repeated_refusal_is_counted_every_time_but_logged_a_few_times() {
    let mut c = unstarted(4);
    c.start(NodeId(0)).unwrap();
    let addr = c.config(NodeId(0)).unwrap().listen;
    eventually("node 0 answers", || c.status(NodeId(0)).is_ok());
    assert_flood_is_summarized(
        &c,
        0,
        300,
        "refused a connection",
        || stranger(addr),
        |c| status(c, 0).counters.links_refused,
    );
}

/// A peer (raw node 3, with its real key) sends node 1 hundreds of round
/// frames for instances of commander 0 with tickets it signed itself: node
/// 1 refuses and counts each (`bad_ticket`), and logs a few lines.
#[test]
fn a_peers_repeated_bad_frames_are_counted_every_time_but_logged_a_few_times() {
    let (c, raw) = cluster_with_raw(common::options(4), &[3]);
    let three = &raw[0];
    let mut seq = 1000;
    assert_flood_is_summarized(
        &c,
        1,
        300,
        "frame refused",
        || {
            seq += 1;
            let spec = InstanceSpec {
                id: InstanceId {
                    commander: NodeId(0),
                    seq,
                },
                protocol: Protocol::Oral,
                m: 1,
                n: 4,
            };
            let mut bits = OralBits::zeros(1);
            bits.set(0, false);
            let frame = RoundFrame {
                ticket: three.ticket(spec),
                round: 2,
                body: RoundBody::Oral(bits),
            };
            three.send_round(1, frame).is_ok()
        },
        |c| common::rejections(c, 1, "bad_ticket"),
    );
}

/// A peer (raw node 3) sends node 1 a tampered record on every link node
/// 1 makes to it; node 1 closes each link (`tampered`) and redials at once.
/// Every closed link is counted, a few are logged.
#[test]
fn a_peer_that_keeps_sending_tampered_records_is_counted_every_time_but_logged_a_few_times() {
    let (c, raw) = cluster_with_raw(common::options(4), &[3]);
    let three = &raw[0];
    let hello = PeerMessage::Round(RoundFrame {
        ticket: three.ticket(InstanceSpec {
            id: InstanceId {
                commander: NodeId(3),
                seq: 1,
            },
            protocol: Protocol::Oral,
            m: 1,
            n: 4,
        }),
        round: 1,
        body: RoundBody::Oral(OralBits::zeros(1)),
    });
    assert_flood_is_summarized(
        &c,
        1,
        40,
        "link down",
        || {
            let links = three.connects(1);
            three.await_link(1, links).is_ok() && three.send_tampered(1, &hello).is_ok() && {
                // The next send needs node 1's next link.
                three.await_link(1, links + 1).is_ok()
            }
        },
        |c| {
            status(c, 1)
                .counters
                .link_errors
                .get("tampered")
                .copied()
                .unwrap_or(0)
        },
    );
}

/// Makes `once` happen `times` times at node `id`, then (after the first step)
/// until a new `what` line appears; checks that `count` has every one of
/// them, that the log has only a handful of `what` lines, and that their
/// `suppressed=N` fields account for all of them.
fn assert_flood_is_summarized(
    c: &LocalCluster,
    id: u16,
    times: u64,
    what: &str,
    mut once: impl FnMut() -> bool,
    count: impl Fn(&LocalCluster) -> u64,
) {
    let start = count(c);
    let lines = || {
        log(c, id)
            .lines()
            .filter(|l| l.contains(what))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let mut sent: u64 = (0..times).map(|_| u64::from(once())).sum();
    eventually("the flood arrives", || count(c) == start + sent);
    // One more after the first step has run out, so that a line carries
    // the count held back; a slow machine may need a few.
    let before = lines().len();
    std::thread::sleep(Duration::from_millis(1100));
    let summarized = eventually_or_not(|| {
        sent += u64::from(once());
        eventually("it arrives", || count(c) == start + sent);
        lines().len() > before
    });
    assert!(summarized, "no line after the flood:\n{}", log(c, id));
    assert!(sent > times / 2, "only {sent} of {times} got through");
    // Every one is counted.
    assert_eq!(count(c) - start, sent);
    let lines = lines();
    assert!(
        lines.len() <= 10,
        "{} lines for {sent}:\n{}",
        lines.len(),
        lines.join("\n")
    );
    // Each line stands for itself and the ones it held back; the last one
    // was logged before it was looked for.
    let accounted: u64 = lines
        .iter()
        .map(|l| {
            let held = l
                .split_whitespace()
                .find_map(|w| w.strip_prefix("suppressed="))
                .unwrap_or_else(|| panic!("no count in {l:?}"));
            1 + held.parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(
        accounted,
        sent,
        "the lines do not account for every one:\n{}",
        lines.join("\n")
    );
    assert!(
        lines.iter().any(|l| !l.contains("suppressed=0")),
        "no line says how many it held back:\n{}",
        lines.join("\n")
    );
}

/// A node that cannot start, started as systemd starts it, says why at
/// priority err (`<3>` on every line), not at journald's default info, so
/// `journalctl -p err` shows it; on a terminal or in a file the same error
/// has no prefix.
#[test]
fn under_journald_an_error_that_stops_the_node_is_at_priority_err() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let run = |journal: bool| {
        let path = dir.path().join(format!("stderr-{journal}.log"));
        let file = File::create(&path).unwrap();
        let meta = file.metadata().unwrap();
        let mut cmd = Command::new(common::bin());
        cmd.arg("node").arg("--config").arg(&missing);
        cmd.env_remove("JOURNAL_STREAM");
        if journal {
            cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
        }
        let status = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(1));
        std::fs::read_to_string(&path).unwrap()
    };
    let journal = run(true);
    assert!(journal.starts_with("<3>error: "), "{journal}");
    assert!(journal.contains("missing.toml"), "{journal}");
    for line in journal.lines() {
        assert!(line.starts_with("<3>"), "{line:?} in\n{journal}");
    }
    let plain = run(false);
    assert!(plain.starts_with("error: "), "{plain}");
    assert!(!plain.contains("<3>"), "{plain}");
}
