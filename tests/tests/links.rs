//! Sealed links under an on-path attacker: a TCP proxy in the middle of one
//! link that lets the handshake through untouched and then flips one byte.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::{
    await_decision, edit_config, eventually, log, spare_listener, status, unstarted, WAIT,
};
use generals_crypto::{InstanceId, NodeId, Order};
use generals_node::cluster::LocalCluster;
use generals_node::control::LinkState;
use generals_wire::{
    InstanceSpec, MessageCodec, OralBits, PeerMessage, Protocol, RoundBody, RoundFrame,
};
use tokio_util::codec::{Decoder, Encoder};

/// Where a byte stream from a dialer is: plain frames of the handshake (its
/// Hello and Noise messages 1 and 3), then sealed records (its verdict, then
/// peer messages). See docs/WIRE.md section 2.
#[derive(Clone, Copy, Debug)]
enum Phase {
    PlainFrames(u8),
    SkipRecords(u8),
    Flip,
    Pass,
}

/// Forwards `from` to `to`; in the first sealed record after the dialer's
/// verdict (its first peer message), flips one ciphertext byte.
fn tamper_first_message(mut from: TcpStream, mut to: TcpStream, flips: &AtomicUsize) {
    let mut phase = Phase::PlainFrames(3);
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        // Forward whole units only, so each is parsed once.
        loop {
            let (unit, next) = match phase {
                Phase::PlainFrames(k) if pending.len() >= 4 => {
                    let len = u32::from_be_bytes([pending[0], pending[1], pending[2], pending[3]]);
                    let next = if k > 1 {
                        Phase::PlainFrames(k - 1)
                    } else {
                        Phase::SkipRecords(1)
                    };
                    (4 + len as usize, next)
                }
                Phase::SkipRecords(k) if pending.len() >= 2 => {
                    let len = u16::from_be_bytes([pending[0], pending[1]]);
                    let next = if k > 1 {
                        Phase::SkipRecords(k - 1)
                    } else {
                        Phase::Flip
                    };
                    (2 + len as usize, next)
                }
                Phase::Flip if pending.len() >= 3 => {
                    // The first ciphertext byte: its tag no longer matches.
                    pending[2] ^= 0x01;
                    flips.fetch_add(1, Ordering::SeqCst);
                    (0, Phase::Pass)
                }
                Phase::Pass => (pending.len(), Phase::Pass),
                _ => break,
            };
            if pending.len() < unit {
                break;
            }
            if to.write_all(&pending[..unit]).is_err() {
                return;
            }
            pending.drain(..unit);
            phase = next;
            if matches!(phase, Phase::Pass) && pending.is_empty() {
                break;
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
}

/// A proxy on a spare port (see `common::spare_listener`) that forwards each connection to
/// `target`, tampering with the dialer's first peer message on each one.
/// Returns its address and the number of bytes it has flipped so far.
fn start_proxy(target: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = spare_listener();
    let addr = listener.local_addr().unwrap();
    let flips = Arc::new(AtomicUsize::new(0));
    let counter = flips.clone();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect(target) else {
                continue;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let flips = counter.clone();
            thread::spawn(move || tamper_first_message(client, server, &flips));
            thread::spawn(move || {
                let (mut from, mut to) = (s2, c2);
                let _ = std::io::copy(&mut from, &mut to);
                let _ = to.shutdown(Shutdown::Both);
            });
        }
    });
    (addr, flips)
}

/// The commander's link to node 2 runs through a proxy that flips one byte
/// of the first sealed record after the handshake on every connection: the
/// commander's round-1 frame of an OM(1) order to node 2.
///
/// Node 2 must refuse that record (`tampered` in `link_errors`) rather than
/// act on it, node 0 must redial, and the order must still reach agreement,
/// since OM(1) at n = 4 tolerates one lost value: nodes 1 and 3 relay the
/// commander's order to node 2 over their own links.
///
/// Why the link must be sealed: with plain frames (version 1 sealed only the
/// handshake), the same proxy, flipping the last byte of that frame instead,
/// would have turned the commander's ATTACK into RETREAT at node 2 without
/// any error, as `a_plain_frame_rewritten_on_the_path_still_decodes` below
/// shows byte for byte; an oral message carries no signature, so nothing
/// else would catch it.
#[test]
fn a_tampered_record_closes_only_its_link_which_comes_back_and_the_order_is_agreed() {
    let mut c = unstarted(4);
    let real = c.config(NodeId(2)).unwrap().listen;
    let (proxy, flips) = start_proxy(real);
    // Node 0 (the lower id dials) reaches node 2 through the proxy.
    edit_config(&c, 0, &format!("\"{real}\""), &format!("\"{proxy}\""));
    c.start_all().unwrap();
    c.wait_connected(WAIT).unwrap();
    let tampered = |c: &LocalCluster| {
        status(c, 2)
            .counters
            .link_errors
            .get("tampered")
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(tampered(&c), 0, "nothing was sent yet");
    let connects_before = status(&c, 0).peers[2].connects;

    let id: InstanceId = c
        .order(NodeId(0), Protocol::Oral, 1, Order::Attack)
        .unwrap();
    for j in 1..4u16 {
        assert_eq!(
            await_decision(&c, j, id),
            Some(Order::Attack),
            "lieutenant {j} did not decide the commander's order\nnode 2 log:\n{}",
            c.log_tail(NodeId(2), 30)
        );
    }
    assert!(
        flips.load(Ordering::SeqCst) >= 1,
        "the proxy never tampered"
    );
    // Node 2 refused the record as tampered and said so.
    eventually("node 2 counts the tampered record", || tampered(&c) >= 1);
    let two = log(&c, 2);
    assert!(
        two.contains("failed authentication"),
        "node 2's log:\n{two}"
    );
    // The link came back: node 0 redialled through the proxy.
    eventually("node 0 redials node 2", || {
        let p = &status(&c, 0).peers[2];
        p.state == LinkState::Up && p.connects > connects_before
    });
    // No other link was touched.
    for (a, b) in [(0u16, 1usize), (0, 3), (1, 2), (2, 3), (1, 3)] {
        let p = &status(&c, a).peers[b];
        assert_eq!((p.state, p.connects), (LinkState::Up, 1), "link {a}-{b}");
    }
}

/// The contrast the test above relies on: on a plain frame, the proxy's flip
/// of the OM value bit yields a well-formed frame with the opposite order.
/// (On a sealed record the same flip is `Tampered`: wire/src/sealed.rs.)
#[test]
fn a_plain_frame_rewritten_on_the_path_still_decodes() {
    let spec = InstanceSpec {
        id: InstanceId {
            commander: NodeId(0),
            seq: 1,
        },
        protocol: Protocol::Oral,
        m: 1,
        n: 4,
    };
    let mut attack = OralBits::zeros(1);
    attack.set(0, true);
    // The ticket's signature does not matter here: the flip is in the body.
    let ticket = generals_wire::InstanceTicket {
        spec,
        sig: generals_crypto::Sig([0; 64]),
    };
    let frame = PeerMessage::Round(RoundFrame {
        ticket,
        round: 1,
        body: RoundBody::Oral(attack),
    });
    let mut plain = MessageCodec::<PeerMessage, PeerMessage>::new(1024);
    let mut wire = BytesMut::new();
    plain.encode(&frame, &mut wire).unwrap();
    let last = wire.len() - 1;
    wire[last] ^= 0x01;
    let Some(PeerMessage::Round(rewritten)) = plain.decode(&mut wire).unwrap() else {
        panic!("the rewritten plain frame does not decode")
    };
    let RoundBody::Oral(bits) = rewritten.body else {
        panic!("not an oral body")
    };
    assert!(
        !bits.get(0),
        "the flip turned ATTACK into RETREAT, silently"
    );
}

/// Node 1's config lists a stale key for node 2 (say node 2 was given a new
/// key and node 1's config was not updated). Node 1 dials node 2; each
/// refuses the other at its Hello: node 1 names node 2's key, the key its
/// config lists and the entry to fix; node 2 sees that node 1's table differs
/// although node 1's key is the one it lists. Both count the refusals, node 1
/// backs off (1 s, 2 s, 4 s, ... up to 30 s) instead of reconnecting in a
/// loop, its status shows the error, and neither log repeats itself faster
/// than the backoff. (Node 1's table now differs from everyone's, so its
/// other links are refused too; the assertions look at the 1-2 pair.)
#[test]
fn a_key_the_config_does_not_list_is_refused_with_backoff_at_both_ends() {
    let mut c = unstarted(4);
    let real = c.node(NodeId(2)).unwrap().public;
    let stale = generals_crypto::NodeKey::from_seed([9; 32]).public();
    edit_config(&c, 1, &real.to_string(), &stale.to_string());
    c.start_all().unwrap();

    eventually("node 1 shows node 2's key in its status", || {
        c.status(NodeId(1)).is_ok_and(|s| {
            s.peers[2]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains(&real.to_string()))
        })
    });
    let started = Instant::now();
    thread::sleep(Duration::from_secs(6));
    let seconds = started.elapsed().as_secs_f64() + 1.0;

    let one = status(&c, 1);
    let to_two = &one.peers[2];
    assert_eq!(to_two.state, LinkState::Connecting, "{to_two:?}");
    assert_eq!(to_two.connects, 0, "the link never came up: {to_two:?}");
    let error = to_two.last_error.clone().unwrap_or_default();
    for want in [
        real.to_string(),
        stale.to_string(),
        "peers[2].pubkey".to_owned(),
    ] {
        assert!(error.contains(&want), "{error:?} should name {want}");
    }
    // Node 1 dials node 2 at about 0, 1, 3 and 7 s: a handful of attempts,
    // not dozens a second. Node 0 dials node 1 too, so count node 1's own
    // attempts in its log.
    let warnings = |id: u16, what: &str, peer: &str| {
        log(&c, id)
            .lines()
            .filter(|l| l.contains("WARN") && l.contains(what) && l.contains(peer))
            .count()
    };
    let dialer = warnings(1, "link refused", "peer=2");
    let listener = warnings(2, "refused a connection", "claimed=1");
    for (who, n) in [("node 1", dialer), ("node 2", listener)] {
        assert!(
            (1..=6).contains(&n),
            "{who} logged {n} refusals of the 1-2 link in ~{seconds:.0} s"
        );
    }
    let two = status(&c, 2);
    assert!(
        two.counters.links_refused >= 1,
        "node 2 counts the refusals"
    );
    assert!(
        one.counters.links_refused >= 1,
        "node 1 counts the refusals"
    );
    assert_eq!(two.peers[1].connects, 0);
    // Node 2's log says its table and node 1's differ, suspects node 1's
    // entry for node 2 first, and names the check that finds the entry (node
    // 1's own table may be the stale one, as for node 1 and node 0 here).
    let two = log(&c, 2);
    assert!(
        two.contains("node 1's config may list an old key for this node"),
        "node 2's log:\n{two}"
    );
    assert!(
        two.contains("or one of the two configs an old key for a third general")
            && two.contains("`generals config check --config FILE --peers OTHER_FILE`"),
        "node 2's log:\n{two}"
    );
}
