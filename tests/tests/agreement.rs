//! Both protocols agree over real TCP between real processes, at n = 4 and
//! n = 7, with loyal and traitor commanders and lieutenants.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use common::{cluster, run};
use generals_config::FaultStrategy;
use generals_crypto::{NodeId, Order};
use generals_node::control::{ControlRequest, ControlResponse};
use generals_wire::Protocol;

#[test]
fn four_generals_loyal_and_with_one_traitor() {
    // Node 2 flips every value it relays (in SM: tampers with them).
    let c = cluster(4, &[(2, FaultStrategy::Flip, &[])]);

    let r = run(&c, 0, Protocol::Oral, 1, Order::Attack);
    assert!(r.loyal_decisions().all(|d| d == Order::Attack));
    assert_eq!(
        r.messages.logical, r.messages.formula,
        "OM(1) at n = 4 sends 9 values"
    );

    let r = run(&c, 0, Protocol::Signed, 1, Order::Retreat);
    assert!(r.loyal_decisions().all(|d| d == Order::Retreat));

    // The commander's own view, without the harness's annotations: node 2's
    // signed report declares it faulty, so it is not counted as loyal.
    let id = c
        .order(NodeId(0), Protocol::Oral, 1, Order::Attack)
        .unwrap();
    let raw = c.wait(NodeId(0), id, common::WAIT).unwrap();
    assert_eq!(raw.traitors, vec![NodeId(2)], "{raw:?}");
    assert!(raw.ic1 && raw.ic2 && raw.complete == Some(true), "{raw:?}");
}

#[test]
fn four_generals_equivocating_signed_commander_is_proven_guilty() {
    let mut c = cluster(4, &[(3, FaultStrategy::Split, &[])]);
    let r = run(&c, 3, Protocol::Signed, 1, Order::Attack);
    // Loyal lieutenants 0, 1, 2 received both orders and default to RETREAT.
    assert!(r.loyal_decisions().all(|d| d == Order::Retreat), "{r:?}");
    // Their reports carried the proof; the commander's own node checked it.
    assert_eq!(r.evidence.len(), 1, "{r:?}");
    assert!(r.evidence[0].verified, "{r:?}");
    assert_eq!(r.evidence[0].holders, vec![NodeId(0), NodeId(1), NodeId(2)]);
    let id = common::instance_of(&r);
    let commander_key = c.node(NodeId(3)).unwrap().public;
    for holder in [0u16, 1, 2] {
        match c
            .call(
                NodeId(holder),
                ControlRequest::EvidenceShow { instance: id },
            )
            .unwrap()
        {
            ControlResponse::Evidence { proof, file } => {
                proof.verify(&commander_key).unwrap();
                assert!(file.exists(), "{}", file.display());
            }
            other => panic!("node {holder} has no proof: {other:?}"),
        }
    }
    // Proofs are durable: a restarted lieutenant still has it.
    c.kill(NodeId(1));
    c.start(NodeId(1)).unwrap();
    c.wait_connected(common::WAIT).unwrap();
    match c
        .call(NodeId(1), ControlRequest::EvidenceShow { instance: id })
        .unwrap()
    {
        ControlResponse::Evidence { proof, .. } => proof.verify(&commander_key).unwrap(),
        other => panic!("the proof did not survive a restart: {other:?}"),
    }
}

#[test]
fn seven_generals_the_four_demo_scenarios() {
    let c = cluster(
        7,
        &[
            (3, FaultStrategy::Split, &[]),
            (5, FaultStrategy::Split, &[]),
        ],
    );
    let r = run(&c, 0, Protocol::Oral, 2, Order::Attack);
    assert!(r.loyal_decisions().all(|d| d == Order::Attack));
    run(&c, 3, Protocol::Oral, 2, Order::Attack);
    let r = run(&c, 5, Protocol::Signed, 2, Order::Attack);
    assert!(r.loyal_decisions().all(|d| d == Order::Retreat));
    assert!(
        !r.evidence.is_empty(),
        "the equivocation must be reported: {r:?}"
    );
    let r = run(&c, 0, Protocol::Signed, 2, Order::Attack);
    assert!(r.loyal_decisions().all(|d| d == Order::Attack));
}

#[test]
fn a_lieutenant_the_commander_ignores_still_decides() {
    // Commander 0 is silent to lieutenant 1 only; 1 first hears of the
    // instance from a relay in round 2.
    let c = cluster(4, &[(0, FaultStrategy::Partial, &[1])]);
    for protocol in [Protocol::Oral, Protocol::Signed] {
        let r = run(&c, 0, protocol, 1, Order::Attack);
        let one = r.generals.iter().find(|g| g.id == NodeId(1)).unwrap();
        assert!(
            one.decision.is_some(),
            "{protocol}: lieutenant 1 did not decide: {r:?}"
        );
    }
}

#[test]
fn uneven_timeouts_from_partial_and_late_traitors_keep_agreement() {
    // Node 3 is silent to odd ids only, so 1 waits out deadlines that 2, 4
    // and 6 close early, and loyal nodes drift apart. Node 5 sends everything
    // after the deadlines. Agreement must survive real timers and sockets.
    // (On loopback a flat deadline passes too; the simulator's
    // `a_flat_round_deadline_breaks_agreement` is what shows deadlines must grow.)
    let c = cluster(
        7,
        &[
            (3, FaultStrategy::Partial, &[]),
            (5, FaultStrategy::Delay, &[]),
        ],
    );
    for (commander, protocol, order) in [
        (0, Protocol::Oral, Order::Attack),
        (1, Protocol::Oral, Order::Retreat),
        (0, Protocol::Signed, Order::Attack),
        (2, Protocol::Signed, Order::Retreat),
        (3, Protocol::Oral, Order::Attack),
        (3, Protocol::Signed, Order::Attack),
    ] {
        let r = run(&c, commander, protocol, 2, order);
        if commander != 3 {
            assert!(
                r.loyal_decisions().all(|d| d == order),
                "{protocol} from {commander}: {r:?}"
            );
        }
    }
    // Node 5's late frames were refused as past-round, never believed.
    assert!(common::rejections(&c, 1, "past_round") > 0);
}

#[test]
fn precreating_and_hogging_traitor_daemons_keep_agreement() {
    // Node 3 sends frames for every commander's next instances before they
    // exist (on every new link, and after every instance it sees); node 2
    // fills every slot and budget it can reach with instances of its own.
    // With the node core's ticket check reverted this fails at once: every
    // loyal lieutenant has decided 0-1 as RETREAT before 0 orders ATTACK.
    let c = cluster(
        7,
        &[
            (3, FaultStrategy::Precreate, &[]),
            (2, FaultStrategy::Hog, &[]),
        ],
    );
    for (i, (commander, protocol, order)) in [
        (0, Protocol::Oral, Order::Attack),
        (0, Protocol::Signed, Order::Attack),
        (1, Protocol::Oral, Order::Retreat),
        (1, Protocol::Signed, Order::Attack),
        (0, Protocol::Signed, Order::Retreat),
    ]
    .into_iter()
    .enumerate()
    {
        if i == 1 {
            // Node 3 saw 0-1 and went after 0-2: give a pre-created 0-2
            // time to run out its deadlines (3 rounds of at most 0.4 s, 0.6 s
            // and 0.8 s) before 0 really orders it.
            std::thread::sleep(std::time::Duration::from_millis(2500));
        }
        let r = run(&c, commander, protocol, 2, order);
        assert!(
            r.loyal_decisions().all(|d| d == order),
            "{protocol} from {commander}: {r:?}"
        );
    }
    // The precreated frames were refused, never joined.
    assert!(
        common::rejections(&c, 1, "bad_ticket") > 0,
        "node 3 never precreated"
    );
}
