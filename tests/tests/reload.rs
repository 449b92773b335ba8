//! SIGHUP: a node reads its config again and applies what can change
//! safely (peer addresses, the log filter, round timeouts for new
//! instances), logs each change, and refuses the rest with a reason.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::Command;

use common::{bin, cluster, edit_config, eventually, log, run, spare_listener, status, WAIT};
use generals_crypto::{NodeId, Order};
use generals_wire::Protocol;

/// Node 3 comes back on a new port. Nodes 0..2 (which dial it) are told
/// by SIGHUP alone, and the cluster agrees again; node 0's change to a key
/// that needs a restart is refused and logged, node 1's new log filter
/// takes effect.
#[test]
fn sighup_follows_a_moved_peer_and_refuses_what_needs_a_restart() {
    let mut c = cluster(4, &[]);
    run(&c, 0, Protocol::Oral, 1, Order::Attack);

    let old = c.config(NodeId(3)).unwrap().listen;
    let new = spare_listener().local_addr().unwrap();
    assert!(c.stop(NodeId(3), WAIT).is_some());
    edit_config(
        &c,
        3,
        &format!("listen = \"{old}\""),
        &format!("listen = \"{new}\""),
    );
    for id in 0..4 {
        edit_config(
            &c,
            id,
            &format!("addr = \"{old}\""),
            &format!("addr = \"{new}\""),
        );
    }
    edit_config(&c, 0, "max_instances = 256", "max_instances = 100");
    edit_config(
        &c,
        1,
        "log = \"info\"",
        "log = \"info,generals_node::daemon::timer=debug\"",
    );
    c.start(NodeId(3)).unwrap();
    assert!(
        !log(&c, 1).contains("next wake-up"),
        "debug before the reload"
    );
    for id in 0..3 {
        assert!(c.hangup(NodeId(id)), "SIGHUP to node {id}");
    }

    eventually("nodes 0..2 reload", || {
        (0..3).all(|id| log(&c, id).contains("reloaded peers[3].addr"))
    });
    c.wait_connected(WAIT)
        .unwrap_or_else(|e| panic!("{e:#}\nnode 0:\n{}", c.log_tail(NodeId(0), 30)));
    run(&c, 3, Protocol::Signed, 1, Order::Retreat);
    run(&c, 0, Protocol::Oral, 1, Order::Attack);

    let peer3 = status(&c, 0).peers.into_iter().find(|p| p.id == NodeId(3));
    assert_eq!(peer3.map(|p| p.addr), Some(new.to_string()));
    let log0 = log(&c, 0);
    let refused = log0
        .lines()
        .find(|l| l.contains("reload refused max_instances"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{log0}"));
    assert!(refused.contains("WARN"), "{refused}");
    assert!(
        refused.contains("restart the node to change it"),
        "{refused}"
    );
    assert!(
        !log0.contains("reloaded max_instances"),
        "max_instances was applied:\n{log0}"
    );
    // Node 1 now logs at debug for the timer target.
    eventually("node 1 logs at its new level", || {
        log(&c, 1).contains("next wake-up")
    });
}

/// A file that no longer loads is refused whole, and the node runs on with
/// what it had; once the file is fixed, the next SIGHUP applies it.
#[test]
fn a_config_that_does_not_load_is_refused_and_the_node_runs_on() {
    let c = cluster(4, &[]);
    edit_config(
        &c,
        2,
        "round_timeout_ms = 400",
        "round_timeout_ms = \"soon\"",
    );
    assert!(c.hangup(NodeId(2)));
    eventually("node 2 refuses the broken file", || {
        log(&c, 2).contains("reload refused: the config does not load")
    });
    let line = log(&c, 2)
        .lines()
        .find(|l| l.contains("reload refused"))
        .unwrap()
        .to_owned();
    assert!(
        line.contains("round_timeout_ms"),
        "the error names the key: {line}"
    );
    // Node 2 still takes part (the CLI cannot reach it through the broken
    // file, but its peers can): the report is complete.
    run(&c, 0, Protocol::Oral, 1, Order::Attack);

    edit_config(
        &c,
        2,
        "round_timeout_ms = \"soon\"",
        "round_timeout_ms = 450",
    );
    assert!(c.hangup(NodeId(2)));
    eventually("node 2 applies the fixed file", || {
        log(&c, 2).contains("reloaded round_timeout_ms: 400 → 450")
    });
    run(&c, 2, Protocol::Signed, 1, Order::Retreat);
}

/// What systemd hears, played with a datagram socket in NOTIFY_SOCKET:
/// READY=1; WATCHDOG=1 while WATCHDOG_USEC is set; RELOADING=1 then READY=1
/// around a SIGHUP; STOPPING=1 with a status that says "draining".
#[test]
fn the_node_tells_systemd_about_reloads_the_watchdog_and_draining() {
    let c = generals_node::cluster::LocalCluster::create(
        &bin(),
        generals_node::cluster::ClusterOptions::new(4),
    )
    .unwrap();
    let sock_path = c.dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let mut child = Reaped(
        Command::new(bin())
            .arg("node")
            .arg("--config")
            .arg(&c.node(NodeId(0)).unwrap().config)
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WATCHDOG_USEC", "200000")
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let recv = || {
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        // sd_notify ends each assignment with a newline.
        String::from_utf8_lossy(&buf[..n]).trim_end().to_owned()
    };
    // The next datagram that is not a watchdog ping.
    let next = || loop {
        let msg = recv();
        if msg != "WATCHDOG=1" {
            return msg;
        }
    };
    let ready = next();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert!(
        ready.contains("STATUS=general 0 of 4, listening"),
        "{ready:?}"
    );
    // Ready means the control socket answers.
    c.status(NodeId(0)).unwrap();
    // WATCHDOG_USEC is set: pings come (the read times out after WAIT if not).
    while recv() != "WATCHDOG=1" {}

    let pid = rustix::process::Pid::from_raw(child.0.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    let reloading = next();
    assert!(
        reloading.lines().any(|l| l == "RELOADING=1"),
        "{reloading:?}"
    );
    let again = next();
    assert!(again.lines().any(|l| l == "READY=1"), "{again:?}");
    // SIGHUP did not stop it, and the loop still pings.
    c.status(NodeId(0)).unwrap();
    while recv() != "WATCHDOG=1" {}

    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let stopping = next();
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping:?}");
    assert!(
        stopping.contains("STATUS=general 0 of 4, draining"),
        "{stopping:?}"
    );
    assert!(child.0.wait().unwrap().success());
}

/// A child process killed when the test ends, even by a panic.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
