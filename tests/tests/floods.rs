//! Floods against a real daemon: what it spends stays bounded, and so does
//! what it writes to its log.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::fs::File;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{eventually, Killed};
use generals_config::NodeConfig;
use generals_crypto::NodeId;

/// A daemon out of file descriptors (`ulimit -n 48`) while connections
/// keep queueing on its control socket: every `accept` fails with EMFILE
/// and the connection stays queued, so an accept loop that retries at once
/// spins and logs a line per turn (1.45 million lines in 3.5 s were seen).
/// The loops pause, 10 ms doubling to 1 s, and log on steps. Seen to fail
/// with the control socket's old loop (log and retry at once): tens of
/// thousands of lines in the 3 s.
#[test]
fn a_daemon_out_of_descriptors_pauses_its_accept_loop_and_logs_a_few_lines() {
    let c = common::unstarted(4);
    let node = c.node(NodeId(0)).unwrap();
    let sock =
        generals_node::control::socket_path(NodeConfig::load(&node.config).unwrap().data_dir());
    let log = File::create(&node.log).unwrap();
    let _daemon = Killed(
        Command::new("sh")
            .arg("-c")
            .arg("ulimit -n 48 && exec \"$0\" node --config \"$1\"")
            .arg(common::bin())
            .arg(&node.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    eventually("the control socket answers", || {
        UnixStream::connect(&sock).is_ok()
    });
    // More connections than the daemon has descriptors left; the kernel
    // queues the rest for an accept that keeps failing.
    let held: Vec<UnixStream> = (0..120)
        .filter_map(|_| UnixStream::connect(&sock).ok())
        .collect();
    assert!(held.len() > 60, "only {} connections queued", held.len());
    eventually("an accept fails for want of descriptors", || {
        common::log(&c, 0).contains("accept failed")
    });
    std::thread::sleep(Duration::from_secs(3));
    let text = common::log(&c, 0);
    let lines = text.lines().filter(|l| l.contains("accept failed")).count();
    assert!(
        (1..=10).contains(&lines),
        "{lines} 'accept failed' lines in about 3 s; the last:\n{}",
        text.lines().rev().take(5).collect::<Vec<_>>().join("\n")
    );
    assert!(
        text.contains("out of file descriptors? raise LimitNOFILE"),
        "{text}"
    );
    drop(held);
}
