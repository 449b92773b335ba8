//! The attacks of the node-safety issue, end to end: real daemons for the
//! loyal generals, and the traitors played by the test as raw peers
//! (`common::raw_peer`) that speak wire version 2 with the traitor's own key.
//! Each test is the twin of one in `node/tests/admission.rs`, checks IC1 and
//! IC2 from every loyal general's own decision (read from its control
//! socket), and first checks that the attack reached its target.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::collections::BTreeSet;
use std::thread;
use std::time::Duration;

use common::raw_peer::{cluster_with_raw, RawPeer};
use common::{
    await_decision, eventually, eventually_or_not, instance_at, options, rejections, status, WAIT,
};
use generals_crypto::{EquivocationProof, InstanceId, NodeId, Order, SignedOrder};
use generals_node::cluster::LocalCluster;
use generals_wire::{
    DecisionReport, InstanceSpec, InstanceTicket, MessageCounters, OralBits, PeerMessage, Protocol,
    RoundBody, RoundFrame, SpecEquivocationProof,
};

const N: u16 = 4;

fn spec(commander: u16, seq: u64, protocol: Protocol, m: u8) -> InstanceSpec {
    InstanceSpec {
        id: InstanceId {
            commander: NodeId(commander),
            seq,
        },
        protocol,
        m,
        n: N,
    }
}

/// An OM body of one value: a commander's order, or a relay at n = 4.
fn oral(value: Order) -> RoundBody {
    let mut bits = OralBits::zeros(1);
    bits.set(0, value.is_attack());
    RoundBody::Oral(bits)
}

fn frame(ticket: InstanceTicket, round: u8, body: RoundBody) -> RoundFrame {
    RoundFrame {
        ticket,
        round,
        body,
    }
}

/// Plays round 2 of an m = 1 instance as a loyal lieutenant would, on the
/// commander's round-1 frame `first`: relays its order to the other
/// lieutenants. Returns what it sent, by receiver.
fn relay_loyally(raw: &RawPeer, first: &RoundFrame) -> Vec<(u16, RoundFrame)> {
    let commander = first.spec().id.commander;
    let body = match &first.body {
        RoundBody::Signed(chains) => RoundBody::Signed(
            chains
                .iter()
                .map(|c| c.extended(raw.key(), raw.cluster(), raw.me))
                .collect(),
        ),
        other => other.clone(),
    };
    let relay = frame(first.ticket, 2, body);
    (0..N)
        .filter(|&j| NodeId(j) != commander && NodeId(j) != raw.me)
        .map(|j| {
            raw.send_round(j, relay.clone()).unwrap();
            (j, relay.clone())
        })
        .collect()
}

/// Loyal commander 0 orders ATTACK with m = 1, and `raw` plays its round 2
/// loyally. Returns 0's round-1 frame to `raw`, and `raw`'s relays.
fn order_attack(
    c: &LocalCluster,
    raw: &RawPeer,
    protocol: Protocol,
) -> (RoundFrame, Vec<(u16, RoundFrame)>) {
    let id = c.order(NodeId(0), protocol, 1, Order::Attack).unwrap();
    let first = raw.await_round(0, |f| f.spec().id == id).unwrap();
    let relays = relay_loyally(raw, &first);
    (first, relays)
}

/// IC2 with commander 0 loyal: lieutenants 1 and 2 (the daemons) obey its
/// ATTACK in `id`, each by its own account.
fn assert_obeyed(c: &LocalCluster, id: InstanceId) {
    for l in [1, 2] {
        assert_eq!(
            await_decision(c, l, id),
            Some(Order::Attack),
            "IC2: lieutenant {l} disobeyed loyal commander 0 in {id}\nnode {l} log:\n{}",
            c.log_tail(NodeId(l), 20)
        );
    }
}

/// Frames node `id` has received from `from` over its links.
fn frames_from(c: &LocalCluster, id: u16, from: u16) -> u64 {
    status(c, id).peers[usize::from(from)].frames_in
}

/// Node `id`'s decision in the instance `s` exactly (a traitor may sign two
/// specs for one id), once it has one.
fn await_spec_decision(c: &LocalCluster, id: u16, s: &InstanceSpec) -> Option<Order> {
    let mut d = None;
    eventually_or_not(|| {
        d = instance_at(c, id, s.id)
            .iter()
            .find(|i| i.protocol == s.protocol && i.m == s.m)
            .and_then(|i| i.decision);
        d.is_some()
    });
    d
}

/// Longer than an m = 1 instance can run at a lieutenant (Δ + 1.5 Δ).
fn longer_than_an_instance(c: &LocalCluster) -> Duration {
    3 * c.config(NodeId(0)).unwrap().round_timeout()
}

/// Attack 1 (IC2): traitor 3 sends lieutenant 1 round-2 frames for loyal
/// commander 0's next two instances (OM, then SM) before 0 orders them,
/// with the only tickets it can make: one signed with its own key, and the
/// ticket of 0's previous instance with the seq changed. They create nothing
/// (no instance, no deadline, no decision), however long one waits; the
/// orders that follow are obeyed by every loyal lieutenant.
///
/// Mutation seen to fail it: `Node::admit` accepting a ticket that does not
/// verify (node 1 joins both, runs out their deadlines and decides RETREAT
/// before 0 orders; 0's real frames are then `already_decided` there).
#[test]
fn a_traitor_cannot_start_a_loyal_commanders_next_instance() {
    let (c, raw) = cluster_with_raw(options(4), &[3]);
    let three = &raw[0];
    // A real instance of 0, in which 3 plays along: its ticket is the one 3
    // will try to reuse.
    let (first, _) = order_attack(&c, three, Protocol::Oral);
    let before = first.spec().id;
    assert_obeyed(&c, before);

    let next = [
        spec(0, before.seq + 1, Protocol::Oral, 1),
        spec(0, before.seq + 2, Protocol::Signed, 1),
    ];
    let arrived = frames_from(&c, 1, 3);
    let refused = rejections(&c, 1, "bad_ticket");
    for s in next {
        let body = match s.protocol {
            Protocol::Oral => oral(Order::Retreat),
            Protocol::Signed => RoundBody::Empty,
        };
        let reused = InstanceTicket {
            spec: s,
            sig: first.ticket.sig,
        };
        for ticket in [three.ticket(s), reused] {
            three.send_round(1, frame(ticket, 2, body.clone())).unwrap();
        }
    }
    eventually("node 1 has the four pre-creating frames", || {
        frames_from(&c, 1, 3) >= arrived + 4
    });
    // Had they started anything, it would have run out its deadlines by now.
    thread::sleep(longer_than_an_instance(&c));
    for s in next {
        for l in [1, 2] {
            assert_eq!(
                instance_at(&c, l, s.id),
                vec![],
                "node {l} knows of {} before 0 ordered it",
                s.id
            );
        }
    }
    assert_eq!(rejections(&c, 1, "bad_ticket"), refused + 4);

    for s in next {
        let (first, _) = order_attack(&c, three, s.protocol);
        let id = first.spec().id;
        assert_eq!(id, s.id, "the order did not take the pre-created id");
        assert_obeyed(&c, id);
    }
}

/// Attack 2 (IC1), SM: traitor commander 0 and traitor 3, both raw, first
/// park all they can at lieutenants 1 and 2: 0 opens 60 OM(2) instances at
/// each (its share is 64), and 3 sends each a round-3 frame, of the right
/// shape for half of them (held for round 3) and oversized for the others
/// (refused on their shape, never held). Then 0 signs ATTACK in SM(1) and
/// gives it to lieutenant 1 only. Lieutenant 2 learns it only from 1's
/// relay, which must wait there for round 2 while the traitors' frames are
/// held: it must be accepted, and 1 and 2 decide alike.
///
/// Mutation seen to fail it: the rule the daemon had before the node core,
/// a node-wide byte budget for held frames (here 64 KiB; it had 256 MiB)
/// and no shape check before holding. 3's oversized frames fill the budget,
/// 1's relay is refused at 2 (`future_buffer_full`), and 2 never learns of
/// the instance 1 decides.
#[test]
fn a_traitors_held_frames_cannot_cost_a_loyal_relay() {
    // Parked instances hold 3's frames until their round 2 times out
    // (1.5 Δ); the real relay must reach node 2 before that.
    let mut opts = options(4);
    opts.round_timeout_ms = 1000;
    let (c, raw) = cluster_with_raw(opts, &[0, 3]);
    let (zero, three) = (&raw[0], &raw[1]);
    const PARKED: u64 = 60;
    for i in 0..PARKED {
        let ticket = zero.ticket(spec(0, 100 + i, Protocol::Oral, 2));
        let held = if i % 2 == 0 {
            oral(Order::Retreat)
        } else {
            // Round 3 has one value. These have 64 KiB of them, then half as
            // many each time down to one byte: together they would fill any
            // byte budget up to 128 KiB to within a few bytes.
            let bytes = 65536 >> (i / 2).min(16);
            RoundBody::Oral(OralBits::zeros(8 * bytes))
        };
        for l in [1, 2] {
            zero.send_round(l, frame(ticket, 1, oral(Order::Attack)))
                .unwrap();
            three.send_round(l, frame(ticket, 3, held.clone())).unwrap();
        }
    }
    let open = |l: u16| {
        status(&c, l)
            .instances
            .iter()
            .filter(|i| i.instance.seq >= 100 && i.decision.is_none())
            .count() as u64
    };
    for l in [1, 2] {
        eventually("the traitors' frames are parked", || {
            frames_from(&c, l, 3) >= PARKED && open(l) == PARKED
        });
    }

    let real = spec(0, 1, Protocol::Signed, 1);
    let order = SignedOrder::new(zero.key(), zero.cluster(), real.id, 1, Order::Attack);
    let body = RoundBody::Signed(vec![order]);
    zero.send_round(1, frame(zero.ticket(real), 1, body))
        .unwrap();
    // Node 2 joins on 1's relay; the traitors' frames must still be held then.
    let mut parked_then = 0;
    let joined = eventually_or_not(|| {
        let st = status(&c, 2);
        parked_then = st
            .instances
            .iter()
            .filter(|i| i.instance.seq >= 100 && i.decision.is_none())
            .count();
        st.instances.iter().any(|i| i.instance == real.id)
    });
    assert!(
        joined,
        "IC1: lieutenant 2 never took lieutenant 1's relay; its rejections: {:?}",
        status(&c, 2).counters.rejections
    );
    assert_eq!(
        parked_then as u64, PARKED,
        "the parked instances ended before the relay came; the test proves nothing"
    );
    let d1 = await_decision(&c, 1, real.id);
    let d2 = await_decision(&c, 2, real.id);
    assert_eq!(d1, Some(Order::Attack));
    assert_eq!(d2, d1, "IC1: the loyal lieutenants decided differently");
    // The oversized frames were refused on their shape, never held.
    for l in [1, 2] {
        assert_eq!(rejections(&c, l, "oral_count"), PARKED / 2);
    }
}

/// Attack 3: traitor commander 0 (raw) signs tickets for one id under two
/// specs, SM(1) ATTACK to lieutenants 1 and 3 and SM(2) RETREAT to 2 and 3.
/// Each spec is its own instance and reaches agreement on its own, and every
/// loyal lieutenant saves a `SpecEquivocationProof` in
/// `evidence/0-1.spec.json` that verifies with only 0's public key and the
/// cluster id.
///
/// Mutations seen to fail it: `Node::admit` refusing a second spec for a
/// live id as `already_decided` (instances keyed by id only): lieutenant 2
/// never decides SM(1); and `Node::admit` not emitting the proof: no file.
#[test]
fn two_specs_for_one_id_are_proven_and_each_is_agreed() {
    let (c, raw) = cluster_with_raw(options(4), &[0]);
    let zero = &raw[0];
    let a = spec(0, 1, Protocol::Signed, 1);
    let b = spec(0, 1, Protocol::Signed, 2);
    for (s, value, to) in [(a, Order::Attack, [1, 3]), (b, Order::Retreat, [2, 3])] {
        let order = SignedOrder::new(zero.key(), zero.cluster(), s.id, s.m, value);
        for l in to {
            let body = RoundBody::Signed(vec![order.clone()]);
            zero.send_round(l, frame(zero.ticket(s), 1, body)).unwrap();
        }
    }
    for s in [a, b] {
        let decisions: Vec<Option<Order>> =
            (1..N).map(|l| await_spec_decision(&c, l, &s)).collect();
        assert!(
            decisions.iter().all(|d| d.is_some() && *d == decisions[0]),
            "IC1 on SM({}): {decisions:?}",
            s.m
        );
    }
    for l in 1..N {
        let cfg = c.config(NodeId(l)).unwrap();
        let file = cfg
            .data_dir()
            .join("evidence")
            .join(format!("{}.spec.json", a.id));
        eventually(&format!("node {l} saves {}", file.display()), || {
            file.exists()
        });
        let text = std::fs::read_to_string(&file).unwrap();
        let proof: SpecEquivocationProof = serde_json::from_str(&text).unwrap();
        proof.verify(&zero.public(0), zero.cluster()).unwrap();
        let specs = BTreeSet::from([proof.first.spec, proof.second.spec]);
        assert_eq!(specs, BTreeSet::from([a, b]), "node {l}'s proof");
    }
}

/// Sends `frames` to node `to` again, and waits until they have arrived.
fn replay(c: &LocalCluster, raw: &RawPeer, to: u16, frames: [RoundFrame; 2]) {
    let arrived = frames_from(c, to, raw.me.0);
    for f in frames {
        raw.send_round(to, f).unwrap();
    }
    eventually("the replayed frames arrive", || {
        frames_from(c, to, raw.me.0) >= arrived + 2
    });
}

/// Attack 4: raw 3 takes part loyally in an OM(1) instance of loyal
/// commander 0, keeping 0's round-1 frame and its own relays. Once the
/// instance is decided it replays them: at lieutenant 2, which still holds
/// the instance, they are frames for closed rounds (`past_round`); at
/// lieutenant 1, restarted so that the instance is known only from its
/// decision log, they are `already_decided`. Neither decides again.
///
/// Mutation seen to fail it: `SeenSeqs::contains` always false (node 1
/// joins the instance again on 3's replayed relay, and refuses the replayed
/// round-1 frame only because 3 is not its commander).
#[test]
fn a_replayed_frame_of_a_decided_instance_decides_nothing() {
    let (mut c, raw) = cluster_with_raw(options(4), &[3]);
    let three = &raw[0];
    let (first, relays) = order_attack(&c, three, Protocol::Oral);
    let id = first.spec().id;
    assert_obeyed(&c, id);
    // 3 reports as a loyal lieutenant does, so the commander's instance is
    // complete and 0 resends nothing when node 1 comes back.
    let report = DecisionReport::new(*first.spec(), three.me, Order::Attack, Default::default());
    three
        .send(0, &PeerMessage::Report(report.signed_by(three.key())))
        .unwrap();
    let r = c.wait(NodeId(0), id, WAIT).unwrap();
    assert_eq!(r.complete, Some(true), "{r:?}");
    let sent_to = |l: u16| relays.iter().find(|(j, _)| *j == l).unwrap().1.clone();

    let decided = status(&c, 2).counters.decisions;
    let past = rejections(&c, 2, "past_round");
    replay(&c, three, 2, [first.clone(), sent_to(2)]);
    assert_eq!(rejections(&c, 2, "past_round"), past + 2);
    assert_eq!(status(&c, 2).counters.decisions, decided);

    let links = three.connects(1);
    c.kill(NodeId(1));
    c.start(NodeId(1)).unwrap();
    c.wait_connected(WAIT).unwrap();
    three.await_link(1, links + 1).unwrap();
    replay(&c, three, 1, [first.clone(), sent_to(1)]);
    let st = status(&c, 1);
    assert_eq!(
        rejections(&c, 1, "already_decided"),
        2,
        "{:?}",
        st.counters.rejections
    );
    assert_eq!(
        (st.counters.instances_joined, st.counters.decisions),
        (0, 0)
    );
    let known = instance_at(&c, 1, id);
    assert_eq!(known.len(), 1, "{known:?}");
    assert_eq!(known[0].decision, Some(Order::Attack));
}

/// Attack 5: raw lieutenant 3 takes part loyally in an SM(1) instance of
/// loyal commander 0, then sends 0 two correctly signed reports for it with
/// every counter at u64::MAX: the first also carries an equivocation proof
/// 3 forged (0's "signatures", made with 3's key). The commander refuses
/// that one (`bad_report`), keeps the second, and its report (what
/// `order --wait` prints) shows saturated totals, not wrapped ones, and no
/// evidence against the loyal commander.
///
/// Mutations seen to fail it: the proof check of `Node::handle_report`
/// skipped (the forged proof is shown, unverified, against 0); and
/// `MessageReport::add` wrapping instead of saturating (the totals wrap).
#[test]
fn a_lieutenants_report_cannot_wrap_totals_or_accuse_a_loyal_commander() {
    let (c, raw) = cluster_with_raw(options(4), &[3]);
    let three = &raw[0];
    let (first, _) = order_attack(&c, three, Protocol::Signed);
    let id = first.spec().id;
    let max = MessageCounters {
        logical: u64::MAX,
        frames: u64::MAX,
        bytes: u64::MAX,
        signatures_made: u64::MAX,
        signatures_verified: u64::MAX,
    };
    let forged = EquivocationProof {
        cluster: *three.cluster(),
        retreat: SignedOrder::new(three.key(), three.cluster(), id, 1, Order::Retreat),
        attack: SignedOrder::new(three.key(), three.cluster(), id, 1, Order::Attack),
    };
    let report = DecisionReport::new(*first.spec(), three.me, Order::Attack, max);
    let accusing = DecisionReport {
        evidence: Some(forged),
        ..report.clone()
    };
    for r in [accusing, report] {
        three
            .send(0, &PeerMessage::Report(r.signed_by(three.key())))
            .unwrap();
    }
    eventually("both reports reach the commander", || {
        frames_from(&c, 0, 3) >= 2
    });

    let r = c.wait(NodeId(0), id, WAIT).unwrap();
    assert_eq!(r.complete, Some(true), "{r:?}");
    assert_eq!(r.evidence, vec![], "a forged proof is shown against 0");
    assert!(!r.spec_equivocation);
    assert_eq!(rejections(&c, 0, "bad_report"), 1);
    let m = &r.messages;
    assert_eq!(
        [
            m.logical,
            m.frames,
            m.bytes,
            m.signatures_made,
            m.signatures_verified
        ],
        [u64::MAX; 5],
        "the totals wrapped"
    );
    assert_obeyed(&c, id);
}
