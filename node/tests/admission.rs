//! The node core's admission and isolation rules, attack by attack.
//!
//! Each test drives real [`Node`]s (the code the daemon runs) through a tiny
//! in-order network, plays one attack from the node-safety issue, and checks
//! the guarantee it was meant to break. Each was seen to fail with its fix
//! reverted; the mutation is named in the test's comment.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use generals_crypto::{ClusterId, InstanceId, NodeId, NodeKey, Order, SignedOrder};
use generals_node::protocol::{
    DecisionRecord, Keyring, Limits, Node, NodeEvent, NodeLimits, Output, SignState,
};
use generals_wire::{
    InstanceSpec, InstanceTicket, OralBits, PeerMessage, Protocol, RoundBody, RoundFrame,
};

const DELTA: Duration = Duration::from_millis(100);

fn key(i: u16) -> Arc<NodeKey> {
    Arc::new(NodeKey::from_seed([i as u8 + 1; 32]))
}

fn keyring(n: u16, me: u16) -> Arc<Keyring> {
    Arc::new(Keyring::new(
        NodeId(me),
        key(me),
        (0..n).map(|i| key(i).public()).collect(),
    ))
}

fn cluster(n: u16) -> ClusterId {
    ClusterId::of(&keyring(n, 0).peers)
}

fn limits() -> NodeLimits {
    NodeLimits::new(Limits::new(DELTA), 64, 16 << 20)
}

fn node(n: u16, me: u16, limits: NodeLimits) -> Node {
    let ring = keyring(n, me);
    let sign = SignState::fresh(ring.key.public());
    Node::new(ring, limits, sign, Vec::new())
}

/// n nodes and the messages between them, delivered in order; `cut` drops
/// every message on a (from, to) link.
struct Net {
    nodes: Vec<Node>,
    queue: VecDeque<(NodeId, NodeId, PeerMessage)>,
    now: Instant,
    cut: Vec<(u16, u16)>,
    decided: Vec<(u16, InstanceSpec, DecisionRecord)>,
    /// Each decision's round times, from `NodeEvent::Decided`.
    rounds: Vec<(u16, InstanceSpec, Vec<Duration>)>,
    outputs: Vec<(u16, String)>,
}

impl Net {
    fn new(n: u16, limits: NodeLimits) -> Net {
        Net {
            nodes: (0..n).map(|i| node(n, i, limits)).collect(),
            queue: VecDeque::new(),
            now: Instant::now(),
            cut: Vec::new(),
            decided: Vec::new(),
            rounds: Vec::new(),
            outputs: Vec::new(),
        }
    }

    fn collect(&mut self) {
        for (i, node) in self.nodes.iter_mut().enumerate() {
            while let Some(out) = node.poll_output() {
                match out {
                    Output::Send { to, msg, .. } => {
                        if !self.cut.contains(&(i as u16, to.0)) {
                            self.queue.push_back((NodeId(i as u16), to, msg));
                        }
                    }
                    Output::Decided { spec, record } => self.decided.push((i as u16, spec, record)),
                    Output::Event(NodeEvent::Decided { spec, rounds, .. }) => {
                        self.rounds.push((i as u16, spec, rounds))
                    }
                    other => self.outputs.push((i as u16, format!("{other:?}"))),
                }
            }
        }
    }

    /// Delivers everything, then lets every deadline pass, until quiet.
    fn run(&mut self) {
        for _ in 0..10_000 {
            self.collect();
            if let Some((from, to, msg)) = self.queue.pop_front() {
                self.deliver(from, to, msg);
                continue;
            }
            let next = self.nodes.iter().filter_map(Node::poll_timeout).min();
            match next {
                Some(t) => {
                    self.now = self.now.max(t);
                    for node in &mut self.nodes {
                        node.handle_timeout(self.now);
                    }
                }
                None => return,
            }
        }
        panic!("the network never went quiet");
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, msg: PeerMessage) {
        let node = &mut self.nodes[to.index()];
        match msg {
            PeerMessage::Round(f) => node.handle_frame(self.now, from, f),
            PeerMessage::Report(r) => node.handle_report(from, r),
        }
    }

    fn frame(&mut self, from: u16, to: u16, frame: RoundFrame) {
        self.deliver(NodeId(from), NodeId(to), PeerMessage::Round(frame));
    }

    fn order(&mut self, commander: u16, protocol: Protocol, m: u8, value: Order) -> InstanceSpec {
        let now = self.now;
        let n = self.nodes.len() as u16;
        let id = self.nodes[usize::from(commander)]
            .order(now, protocol, m, value, false)
            .expect("the order is accepted");
        InstanceSpec { id, protocol, m, n }
    }

    /// The outputs of `node` (other than sends and decisions) that mention `what`.
    fn outputs_of(&self, node: u16, what: &str) -> Vec<&String> {
        self.outputs
            .iter()
            .filter(|(i, o)| *i == node && o.contains(what))
            .map(|(_, o)| o)
            .collect()
    }

    /// The round times of `node`'s one decision of `spec`.
    fn rounds_of(&self, node: u16, spec: &InstanceSpec) -> Vec<Duration> {
        let found: Vec<_> = self
            .rounds
            .iter()
            .filter(|(i, sp, _)| *i == node && sp == spec)
            .map(|(_, _, r)| r.clone())
            .collect();
        assert_eq!(
            found.len(),
            1,
            "node {node} decided {spec:?} once: {found:?}"
        );
        found[0].clone()
    }

    fn decision(&self, node: u16, spec: &InstanceSpec) -> Option<Order> {
        self.nodes[usize::from(node)]
            .outcome(spec)
            .map(|o| o.decision)
    }

    fn rejected(&self, node: u16, kind: &str) -> u64 {
        self.nodes[usize::from(node)]
            .counters()
            .rejections
            .get(kind)
            .copied()
            .unwrap_or(0)
    }
}

fn spec(commander: u16, seq: u64, protocol: Protocol, m: u8, n: u16) -> InstanceSpec {
    InstanceSpec {
        id: InstanceId {
            commander: NodeId(commander),
            seq,
        },
        protocol,
        m,
        n,
    }
}

/// Attack 1: traitor 3 sends frames for loyal commander 0's next instance
/// before it exists, once per protocol, to lieutenant 1 only. They create
/// nothing, and the real order is then obeyed by every loyal lieutenant.
/// Mutation seen to fail it: `Node::admit` accepting a ticket that does not
/// verify (lieutenant 1 joins, times out, decides RETREAT; the order's
/// frames are then `already_decided`).
#[test]
fn frames_for_an_instance_not_yet_ordered_create_nothing() {
    let mut net = Net::new(4, limits());
    for protocol in [Protocol::Oral, Protocol::Signed] {
        let next = spec(0, 1, protocol, 1, 4);
        // The traitor can only sign with its own key.
        let forged = InstanceTicket::issue(&key(3), &cluster(4), next);
        net.frame(
            3,
            1,
            RoundFrame {
                ticket: forged,
                round: 2,
                body: RoundBody::Empty,
            },
        );
    }
    net.run();
    assert_eq!(net.rejected(1, "bad_ticket"), 2);
    assert_eq!(net.nodes[1].active_instances(), 0, "a forged ticket joined");
    assert!(
        net.decided.is_empty(),
        "something was decided: {:?}",
        net.decided
    );

    for protocol in [Protocol::Oral, Protocol::Signed] {
        let real = net.order(0, protocol, 1, Order::Attack);
        net.run();
        for l in 1..4 {
            assert_eq!(
                net.decision(l, &real),
                Some(Order::Attack),
                "lieutenant {l}, {protocol}"
            );
        }
    }
}

/// A ticket is bound to its cluster: the same commander key in a cluster
/// with another peer table signs tickets that are worthless here.
#[test]
fn another_clusters_ticket_is_refused() {
    let mut net = Net::new(4, limits());
    let elsewhere = ClusterId::of(&keyring(5, 0).peers);
    let s = spec(0, 1, Protocol::Signed, 1, 4);
    let chain = SignedOrder::new(&key(0), &cluster(4), s.id, 1, Order::Attack);
    net.frame(
        0,
        1,
        RoundFrame {
            ticket: InstanceTicket::issue(&key(0), &elsewhere, s),
            round: 1,
            body: RoundBody::Signed(vec![chain]),
        },
    );
    assert_eq!(net.rejected(1, "bad_ticket"), 1);
    assert_eq!(net.nodes[1].active_instances(), 0);
}

/// A valid ticket of an instance that has decided and left memory (and its
/// recent-decisions window) cannot start it again.
/// Mutation seen to fail it: `SeenSeqs::contains` always false.
#[test]
fn a_replayed_ticket_cannot_restart_an_instance_that_left_memory() {
    let small = NodeLimits {
        keep_decided: 1,
        ..limits()
    };
    let mut net = Net::new(4, small);
    let first = net.order(0, Protocol::Oral, 1, Order::Attack);
    net.run();
    let replay = RoundFrame {
        ticket: InstanceTicket::issue(&key(0), &cluster(4), first),
        round: 1,
        body: RoundBody::Oral({
            let mut b = OralBits::zeros(1);
            b.set(0, false);
            b
        }),
    };
    for _ in 0..3 {
        net.order(0, Protocol::Oral, 1, Order::Attack);
        net.run();
    }
    assert!(
        net.nodes[1].outcome(&first).is_none(),
        "0-1 is still in memory"
    );
    let before = net.decided.len();
    net.frame(0, 1, replay);
    net.run();
    assert_eq!(net.rejected(1, "already_decided"), 1);
    assert_eq!(net.decided.len(), before, "a replay was decided again");
}

/// A commander that signs two specs for one id is proven guilty, and each
/// signed spec still runs as its own instance with agreement.
#[test]
fn two_specs_for_one_id_are_a_proof_and_two_instances() {
    let mut net = Net::new(4, limits());
    let a = spec(0, 1, Protocol::Signed, 1, 4);
    let b = spec(0, 1, Protocol::Signed, 2, 4);
    for (s, to, value) in [(a, 1u16, Order::Attack), (b, 2, Order::Retreat)] {
        for l in [to, 3] {
            let chain = SignedOrder::new(&key(0), &cluster(4), s.id, s.m, value);
            net.frame(
                0,
                l,
                RoundFrame {
                    ticket: InstanceTicket::issue(&key(0), &cluster(4), s),
                    round: 1,
                    body: RoundBody::Signed(vec![chain]),
                },
            );
        }
    }
    net.run();
    for l in 1..4 {
        assert!(
            net.nodes[l].spec_equivocated(a.id),
            "lieutenant {l} has no proof"
        );
        let da = net.decision(l as u16, &a);
        let db = net.decision(l as u16, &b);
        assert_eq!(da, net.decision(1, &a), "IC1 on spec a");
        assert_eq!(db, net.decision(1, &b), "IC1 on spec b");
        assert!(da.is_some() && db.is_some());
    }
    let proofs = net
        .outputs
        .iter()
        .filter(|(_, o)| o.starts_with("SpecEvidence"))
        .count();
    assert_eq!(proofs, 3, "one proof per loyal lieutenant");
    for l in 1..4 {
        assert_eq!(
            net.nodes[l].counters().evidence,
            1,
            "lieutenant {l} counts its proof"
        );
    }
}

/// Attack 2: frames for later rounds wait in slots of their own, one per
/// (instance, round, sender), checked for shape first. Traitors that park
/// frames at lieutenant 2 cannot make it drop loyal lieutenant 1's relay.
/// It guards against a node-wide byte budget for held frames that parked
/// frames can fill, which is what the daemon had before the node core.
#[test]
fn a_traitors_held_frames_cannot_cost_a_loyal_relay() {
    let mut net = Net::new(4, limits());
    // Traitors 0 (commander) and 3 (relayer): 0 opens OM instances at 1
    // and 2, and 3 parks a round-3 frame of the right shape for each.
    for seq in 100..=105u64 {
        let s = spec(0, seq, Protocol::Oral, 2, 4);
        let ticket = InstanceTicket::issue(&key(0), &cluster(4), s);
        for to in [1u16, 2] {
            let mut bit = OralBits::zeros(1);
            bit.set(0, true);
            net.frame(
                0,
                to,
                RoundFrame {
                    ticket,
                    round: 1,
                    body: RoundBody::Oral(bit),
                },
            );
            net.frame(
                3,
                to,
                RoundFrame {
                    ticket,
                    round: 3,
                    body: RoundBody::Oral(OralBits::zeros(1)),
                },
            );
        }
    }
    let parked: usize = (100..=105u64)
        .map(|seq| spec(0, seq, Protocol::Oral, 2, 4))
        .filter(|s| net.nodes[2].holds(s))
        .count();
    assert_eq!(
        parked, 6,
        "the traitor's frames were not parked; the test proves nothing"
    );
    // The real instance: SM, commander 0 gives its order to lieutenant 1
    // only; 2 can learn it only from 1's relay, which must wait at 2 for
    // round 2 while 2 sits in round 1.
    let real = spec(0, 7, Protocol::Signed, 1, 4);
    let ticket = InstanceTicket::issue(&key(0), &cluster(4), real);
    let chain = SignedOrder::new(&key(0), &cluster(4), real.id, 1, Order::Attack);
    net.frame(
        0,
        1,
        RoundFrame {
            ticket,
            round: 1,
            body: RoundBody::Signed(vec![chain]),
        },
    );
    net.cut.push((3, 2));
    net.cut.push((3, 1));
    net.run();
    let d1 = net.decision(1, &real);
    let d2 = net.decision(2, &real);
    assert_eq!(d1, Some(Order::Attack));
    assert_eq!(
        d2,
        d1,
        "IC1: lieutenant 2 lost lieutenant 1's relay; its rejections: {:?}",
        net.nodes[2].counters().rejections
    );
}

/// The double-sign guard is an output that comes before any frame of the
/// new instance: a shell that carries outputs out in order never lets a
/// signature leave before the state that forbids reusing its seq is durable.
/// Mutation seen to fail it: pushing `SaveSignState` after the sends.
#[test]
fn the_sign_state_precedes_every_signature_of_an_order() {
    for protocol in [Protocol::Oral, Protocol::Signed] {
        let mut n0 = node(4, 0, limits());
        let id = n0
            .order(Instant::now(), protocol, 1, Order::Attack, false)
            .expect("order");
        let mut saw_state = false;
        let mut sends = 0;
        while let Some(out) = n0.poll_output() {
            match out {
                Output::SaveSignState(s) => {
                    assert_eq!(s.last_seq, id.seq);
                    assert_eq!(s.last_order, Some(Order::Attack));
                    saw_state = true;
                }
                Output::Send { .. } => {
                    assert!(saw_state, "a frame left before the sign state");
                    sends += 1;
                }
                _ => {}
            }
        }
        assert!(saw_state);
        assert_eq!(sends, 3);
    }
}

/// A refused order (here m too large) uses up no seq.
#[test]
fn a_refused_order_uses_no_seq() {
    let mut n0 = node(4, 0, limits());
    assert!(n0
        .order(Instant::now(), Protocol::Signed, 255, Order::Attack, true)
        .is_err());
    assert_eq!(n0.sign_state().last_seq, 0);
    assert!(
        n0.poll_output().is_none(),
        "a refused order produced output"
    );
    let id = n0
        .order(Instant::now(), Protocol::Signed, 1, Order::Attack, false)
        .expect("order");
    assert_eq!(id.seq, 1);
}

/// Frames that arrive after their round closed are a timing alarm: counted,
/// once-per-instance event, and named in the lieutenant's report.
#[test]
fn late_frames_raise_a_timing_alarm() {
    let mut net = Net::new(4, limits());
    // 3's frames to 1 are held back until after 1's deadlines.
    net.cut.push((3, 1));
    let s = net.order(0, Protocol::Oral, 1, Order::Attack);
    net.run();
    let ticket = InstanceTicket::issue(&key(0), &cluster(4), s);
    let mut late = OralBits::zeros(1);
    late.set(0, true);
    net.frame(
        3,
        1,
        RoundFrame {
            ticket,
            round: 2,
            body: RoundBody::Oral(late),
        },
    );
    assert_eq!(net.rejected(1, "past_round"), 1);
    assert_eq!(net.nodes[1].late_from(&s), vec![NodeId(3)]);
}

/// The alarm is raised once per instance, for its first late peer; every
/// late peer is still named. Mutation seen to fail it: `late_frame`'s
/// `insert(from) && first` made `||` (one event per late peer).
#[test]
fn late_frames_from_two_peers_raise_one_alarm_and_name_both() {
    let mut net = Net::new(4, limits());
    net.cut.push((3, 1));
    net.cut.push((2, 1));
    let s = net.order(0, Protocol::Oral, 1, Order::Attack);
    net.run();
    let ticket = InstanceTicket::issue(&key(0), &cluster(4), s);
    for (from, bit) in [(3, true), (2, false), (3, false)] {
        let mut late = OralBits::zeros(1);
        late.set(0, bit);
        net.frame(
            from,
            1,
            RoundFrame {
                ticket,
                round: 2,
                body: RoundBody::Oral(late),
            },
        );
    }
    net.collect();
    assert_eq!(net.rejected(1, "past_round"), 3);
    assert_eq!(net.nodes[1].late_from(&s), vec![NodeId(2), NodeId(3)]);
    let alarms = net.outputs_of(1, "LateFrames");
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert!(alarms[0].contains("from: NodeId(3)"), "{alarms:?}");
}

/// A frame of exactly `max_frame_bytes` (after the length prefix) is sent;
/// one byte less of limit, and it is refused as too large. Mutation seen to
/// fail it: `send_frame`'s `> max_frame_bytes` made `>=`.
#[test]
fn a_frame_of_exactly_max_frame_bytes_is_sent() {
    let first_frame = |max: usize| {
        let mut n0 = node(4, 0, NodeLimits::new(Limits::new(DELTA), 64, max));
        n0.order(Instant::now(), Protocol::Oral, 1, Order::Attack, false)
            .expect("order");
        let mut sent = Vec::new();
        let mut too_large = 0;
        while let Some(out) = n0.poll_output() {
            match out {
                Output::Send {
                    msg: PeerMessage::Round(f),
                    ..
                } => sent.push(f.wire_len()),
                other if format!("{other:?}").contains("FrameTooLarge") => too_large += 1,
                _ => {}
            }
        }
        (sent, too_large)
    };
    let (sent, _) = first_frame(16 << 20);
    assert_eq!(sent.len(), 3, "one round-1 frame per lieutenant");
    let exact = sent[0] - generals_wire::LENGTH_PREFIX;
    assert_eq!(first_frame(exact), (sent.clone(), 0), "exactly the limit");
    assert_eq!(first_frame(exact - 1), (Vec::new(), 3), "one byte over");
}

/// A commander keeps its frames after it decides, for a lieutenant whose
/// link comes back while the instance runs; a lieutenant gives its up when
/// it decides. Mutation seen to fail it: `on_decided`'s
/// `role == Role::Lieutenant` made `!=` (the commander forgets them).
#[test]
fn a_commander_sends_its_frames_again_to_a_peer_whose_link_returns() {
    let mut net = Net::new(4, limits());
    // 1 hears nothing from the commander: its link is down.
    net.cut.push((0, 1));
    let s = net.order(0, Protocol::Signed, 1, Order::Attack);
    // Step until the commander has decided, with the instance still open.
    for _ in 0..100 {
        if net.decided.iter().any(|(i, sp, _)| *i == 0 && *sp == s) {
            break;
        }
        net.collect();
        if let Some((from, to, msg)) = net.queue.pop_front() {
            net.deliver(from, to, msg);
        }
    }
    assert!(
        net.decided.iter().any(|(i, sp, _)| *i == 0 && *sp == s),
        "the commander decided"
    );
    net.collect();
    net.queue.clear();
    let now = net.now;
    net.nodes[0].link_up(now, NodeId(1));
    let mut again = Vec::new();
    while let Some(out) = net.nodes[0].poll_output() {
        if let Output::Send {
            to,
            msg: PeerMessage::Round(f),
            ..
        } = out
        {
            again.push((to, f.round));
        }
    }
    assert_eq!(again, vec![(NodeId(1), 1)], "the commander's frame, again");
}

/// The contract's sizes for the two new strategies, in the simulator (n
/// nodes running this node core), with loyal and traitor commanders.
/// With the ticket check of `Node::admit` reverted, every precreate case
/// breaks IC2 (all loyal lieutenants RETREAT before the order arrives).
#[test]
fn simulated_precreate_and_hog_keep_agreement() {
    use generals_node::protocol::adversary::Strategy;
    use generals_node::sim::{run, SimConfig};
    let cases: [(Protocol, usize, u8, &[u16]); 7] = [
        (Protocol::Oral, 4, 1, &[3]),
        (Protocol::Signed, 4, 1, &[3]),
        (Protocol::Oral, 7, 2, &[5, 6]),
        (Protocol::Signed, 7, 2, &[5, 6]),
        (Protocol::Signed, 7, 5, &[2, 3, 4, 5, 6]),
        (Protocol::Signed, 4, 1, &[0]),
        (Protocol::Oral, 7, 2, &[0, 6]),
    ];
    let mut runs = 0;
    for strategy in [Strategy::Precreate, Strategy::Hog] {
        for (protocol, n, m, traitors) in cases {
            for seed in 0..3 {
                let cfg = SimConfig {
                    seed,
                    ..SimConfig::new(protocol, n, m).traitors(traitors.iter().copied(), strategy)
                };
                let r = run(&cfg).expect("the run completes");
                let what =
                    format!("{strategy} {protocol} n={n} m={m} traitors={traitors:?} seed={seed}");
                assert_eq!(r.violation(), None, "{what}");
                assert!(
                    r.reports_missing.is_empty(),
                    "{what}: lost reports {:?}",
                    r.reports_missing
                );
                runs += 1;
            }
        }
    }
    assert_eq!(runs, 2 * 7 * 3);
}

/// When a link comes back, the frames of rounds still open on it go out
/// again (a cut or a tampered record heals within the round); frames of
/// finished instances do not.
#[test]
fn a_link_that_comes_back_gets_the_open_rounds_frames_again() {
    let mut net = Net::new(4, limits());
    // The link between lieutenants 1 and 2 is down: their relays are lost.
    net.cut.push((1, 2));
    net.cut.push((2, 1));
    let s = net.order(0, Protocol::Oral, 1, Order::Attack);
    // Deliver the commander's frames and 1's relays, but no deadlines yet.
    for _ in 0..100 {
        net.collect();
        match net.queue.pop_front() {
            Some((from, to, msg)) => net.deliver(from, to, msg),
            None => break,
        }
    }
    assert_eq!(net.decision(2, &s), None, "2 is waiting for 1's relay");
    net.cut.clear();
    net.nodes[1].link_up(net.now, NodeId(2));
    net.nodes[2].link_up(net.now, NodeId(1));
    net.collect();
    let again = |a: u16, b: u16| {
        net.queue
            .iter()
            .filter(|(from, to, _)| *from == NodeId(a) && *to == NodeId(b))
            .count()
    };
    assert_eq!(again(1, 2), 1, "1 sends its round-2 frame to 2 again");
    assert_eq!(again(2, 1), 1, "and 2 to 1");
    net.run();
    assert_eq!(net.decision(2, &s), Some(Order::Attack));
    // Done: nothing is sent again for it.
    net.nodes[1].link_up(net.now, NodeId(2));
    net.nodes[0].link_up(net.now, NodeId(2));
    net.collect();
    assert!(net.queue.is_empty(), "{:?}", net.queue);
}

/// A chain signed with the commander's key in another cluster (a key reused
/// across clusters) is not believed here, even inside a real instance: it
/// would otherwise pass for a second value and accuse a loyal commander.
/// Mutation seen to fail it: the cluster id left out of the chain header.
#[test]
fn a_chain_from_another_cluster_is_not_a_second_value() {
    let mut net = Net::new(4, limits());
    let real = net.order(0, Protocol::Signed, 1, Order::Attack);
    let elsewhere = ClusterId::of(&keyring(5, 0).peers);
    let foreign = SignedOrder::new(&key(0), &elsewhere, real.id, 1, Order::Retreat).extended(
        &key(3),
        &elsewhere,
        NodeId(3),
    );
    for _ in 0..100 {
        net.collect();
        match net.queue.pop_front() {
            // 3's own round-2 frame to 1 is replaced by the foreign chain.
            Some((from, to, _)) if from == NodeId(3) && to == NodeId(1) => {
                net.frame(
                    3,
                    1,
                    RoundFrame {
                        ticket: InstanceTicket::issue(&key(0), &cluster(4), real),
                        round: 2,
                        body: RoundBody::Signed(vec![foreign.clone()]),
                    },
                );
            }
            Some((from, to, msg)) => net.deliver(from, to, msg),
            None => break,
        }
    }
    net.run();
    assert!(net.rejected(1, "bad_signature") >= 1);
    for l in 1..4 {
        assert_eq!(
            net.decision(l, &real),
            Some(Order::Attack),
            "lieutenant {l}"
        );
        let evidence = net.nodes[usize::from(l)]
            .outcome(&real)
            .and_then(|o| o.evidence.as_ref());
        assert!(evidence.is_none(), "lieutenant {l} holds a false proof");
    }
}

/// A lieutenant's decision is an output before the report that announces
/// it: a shell that carries outputs out in order never reports a decision
/// that is not yet in the log. Mutation seen to fail it: the report pushed
/// before `Decided` in `Node::on_decided`.
#[test]
fn a_decision_is_persisted_before_it_is_reported() {
    let mut net = Net::new(4, limits());
    let s = net.order(0, Protocol::Signed, 1, Order::Attack);
    let mut order: Vec<&'static str> = Vec::new();
    for _ in 0..1000 {
        for (i, node) in net.nodes.iter_mut().enumerate() {
            while let Some(out) = node.poll_output() {
                match out {
                    Output::Decided { spec, .. } if i == 1 && spec == s => order.push("decided"),
                    Output::Send {
                        msg: PeerMessage::Report(_),
                        ..
                    } if i == 1 => order.push("report"),
                    Output::Send { to, msg, .. } => {
                        net.queue.push_back((NodeId(i as u16), to, msg))
                    }
                    _ => {}
                }
            }
        }
        let Some((from, to, msg)) = net.queue.pop_front() else {
            break;
        };
        net.deliver(from, to, msg);
    }
    assert_eq!(order, vec!["decided", "report"]);
}

/// A draining node (SIGTERM) finishes what it holds and takes nothing new:
/// no new instance joins, and it gives no order itself.
/// Mutations seen to fail it (cargo-mutants): `Node::start_draining` doing
/// nothing; `Node::active_instances` always 0.
#[test]
fn a_draining_node_finishes_what_it_holds_and_joins_nothing_new() {
    let mut net = Net::new(4, limits());
    let held = net.order(0, Protocol::Oral, 1, Order::Attack);
    net.collect();
    // Round 1 reaches everyone; node 1 now holds the instance.
    while let Some((from, to, msg)) = net.queue.pop_front() {
        net.deliver(from, to, msg);
    }
    assert_eq!(net.nodes[1].active_instances(), 1);
    net.nodes[1].start_draining();
    assert!(matches!(
        net.nodes[1].order(net.now, Protocol::Signed, 1, Order::Attack, false),
        Err(generals_node::protocol::OrderError::Draining)
    ));
    let fresh = net.order(2, Protocol::Signed, 1, Order::Retreat);
    net.run();
    assert_eq!(net.decision(1, &held), Some(Order::Attack));
    assert_eq!(net.decision(1, &fresh), None, "a draining node joined");
    assert!(net.rejected(1, "shutting_down") >= 1);
    assert_eq!(net.nodes[1].active_instances(), 0);
    for l in [0, 3] {
        assert_eq!(net.decision(l, &fresh), Some(Order::Retreat));
    }
}

/// A commander's own instance counts against its share until every report
/// is in, or until twice the longest a lieutenant can take: until then a
/// lieutenant may still count it, and a new order could be refused there.
/// Mutation seen to fail it (cargo-mutants): `instance_span` returning 0.
#[test]
fn an_unreported_own_instance_holds_its_slot_for_twice_its_span() {
    // max_instances 4 at n = 4: one instance per commander.
    let mut net = Net::new(4, NodeLimits::new(Limits::new(DELTA), 4, 16 << 20));
    net.cut = vec![(1, 0), (2, 0), (3, 0)];
    let first = net.order(0, Protocol::Oral, 1, Order::Attack);
    net.run();
    for l in 1..4 {
        assert_eq!(net.decision(l, &first), Some(Order::Attack));
    }
    let busy = net.nodes[0].order(net.now, Protocol::Oral, 1, Order::Attack, false);
    assert!(
        matches!(
            busy,
            Err(generals_node::protocol::OrderError::Busy { active: 1 })
        ),
        "{busy:?}"
    );
    // OM(1): two rounds, well under 10 Δ with the work part.
    net.now += 20 * DELTA;
    net.nodes[0].handle_timeout(net.now);
    assert!(net.nodes[0]
        .order(net.now, Protocol::Oral, 1, Order::Attack, false)
        .is_ok());
}

/// Each commander's OM trees may take `tree_bytes / n` at a node, up to and
/// including the share; SM instances keep no tree and are not counted.
/// Mutations seen to fail it (cargo-mutants): the share as `tree_bytes * n`;
/// `>` as `>=` in the order's tree check; the check applied to SM orders.
#[test]
fn a_commanders_tree_share_is_the_budget_over_n() {
    let need = generals_node::protocol::oral::tree_bytes(4, 1).expect("a small tree");
    for (budget, fits) in [(4 * need, true), (4 * need - 4, false)] {
        let mut limits = limits();
        limits.tree_bytes = budget;
        let mut n0 = node(4, 0, limits);
        let r = n0.order(Instant::now(), Protocol::Oral, 1, Order::Attack, false);
        assert_eq!(r.is_ok(), fits, "tree budget {budget}: {r:?}");
    }
    // SM keeps no tree: no tree budget applies to it.
    let mut limits = limits();
    limits.tree_bytes = 0;
    let mut n0 = node(4, 0, limits);
    let r = n0.order(Instant::now(), Protocol::Signed, 1, Order::Attack, false);
    assert!(r.is_ok(), "{r:?}");
}

/// What the shell reads back: the strategy a traitor daemon runs, and the
/// link counters it keeps in the node's counters.
/// Mutations seen to fail it (cargo-mutants): `Node::fault_name` constant,
/// `Node::counters_mut` returning a fresh value.
#[test]
fn the_shell_reads_back_the_fault_and_the_counters_it_keeps() {
    let mut loyal = node(4, 1, limits());
    assert_eq!(loyal.fault_name(), None);
    loyal.counters_mut().links_accepted += 2;
    assert_eq!(loyal.counters().links_accepted, 2);
    let coalition = generals_node::protocol::adversary::Coalition::new(
        [(
            NodeId(1),
            generals_node::protocol::adversary::Strategy::Split,
        )]
        .into(),
        [(NodeId(1), key(1))].into(),
        0,
    );
    let traitor = node(4, 1, limits())
        .with_coalition(Arc::new(std::sync::Mutex::new(coalition)), "split".into());
    assert_eq!(traitor.fault_name(), Some("split"));
}

/// OM(m) needs n >= 3m+1 unless the order is forced (a demonstration of the
/// bound); SM(m) does not.
/// Mutation seen to fail it (cargo-mutants): the bound applied to SM instead.
#[test]
fn the_oral_bound_refuses_unforced_oral_orders_only() {
    let mut n0 = node(3, 0, limits());
    let now = Instant::now();
    assert!(matches!(
        n0.order(now, Protocol::Oral, 1, Order::Attack, false),
        Err(generals_node::protocol::OrderError::OralBound {
            m: 1,
            need: 4,
            n: 3
        })
    ));
    assert!(n0
        .order(now, Protocol::Signed, 1, Order::Attack, false)
        .is_ok());
    let mut n0 = node(3, 0, limits());
    assert!(n0
        .order(now, Protocol::Oral, 1, Order::Attack, true)
        .is_ok());
    // And for m = 2, where 3m+1 and 3/m+1 differ.
    let mut n0 = node(6, 0, limits());
    assert!(matches!(
        n0.order(now, Protocol::Oral, 2, Order::Attack, false),
        Err(generals_node::protocol::OrderError::OralBound {
            m: 2,
            need: 7,
            n: 6
        })
    ));
}

/// The status line of `spec` at `node`: (round, reports).
fn status_of(node: &Node, spec: &InstanceSpec) -> Option<(u8, usize)> {
    node.instance_statuses(Some(spec.id), 100)
        .into_iter()
        .find(|s| s.protocol == spec.protocol && s.m == spec.m)
        .map(|s| (s.round, s.reports))
}

/// A commander's report count is kept: each accepted report is handed out
/// once to be written down (`reports.log`), the count follows the instance
/// when it leaves memory, and a restarted node gets it back from the file.
/// Mutations seen to fail it: no `Output::Report`; the count not carried
/// into `past` on eviction; `restore_report_counts` a no-op.
#[test]
fn a_commanders_report_count_survives_eviction_and_a_restart() {
    let mut tight = limits();
    tight.keep_decided = 1;
    let mut net = Net::new(4, tight);
    let first = net.order(0, Protocol::Signed, 1, Order::Attack);
    net.run();
    let kept = net.outputs_of(0, "Report(");
    assert_eq!(kept.len(), 3, "one report per lieutenant: {kept:?}");
    assert_eq!(status_of(&net.nodes[0], &first), Some((3, 3)));

    // A second instance pushes the first out of memory, count and all.
    let second = net.order(0, Protocol::Signed, 1, Order::Retreat);
    net.run();
    assert_eq!(status_of(&net.nodes[0], &second), Some((3, 3)));
    assert_eq!(status_of(&net.nodes[0], &first), Some((3, 3)));

    // Restarted from its decision log, the commander knows the instances;
    // the report counts come back from what it wrote down.
    let records: Vec<DecisionRecord> = net
        .decided
        .iter()
        .filter(|(i, _, _)| *i == 0)
        .map(|(_, _, r)| r.clone())
        .collect();
    let ring = keyring(4, 0);
    let sign = SignState {
        last_seq: second.id.seq,
        ..SignState::fresh(ring.key.public())
    };
    let mut again = Node::new(ring, limits(), sign, records);
    assert_eq!(status_of(&again, &first), Some((3, 0)));
    let counts = std::collections::BTreeMap::from([(first, 3), (second, 2)]);
    again.restore_report_counts(&counts);
    assert_eq!(status_of(&again, &first), Some((3, 3)));
    assert_eq!(status_of(&again, &second), Some((3, 2)));
}

/// A frame above the sender's own `max_frame_bytes` is not sent, and the
/// node says so (a warning in the daemon's log) besides counting it.
/// Mutation seen to fail it: no `FrameTooLarge` event (the counter alone,
/// as after the node-core refactor).
#[test]
fn a_frame_too_large_to_send_is_counted_and_reported() {
    let tiny = NodeLimits::new(Limits::new(DELTA), 64, 100);
    let mut net = Net::new(4, tiny);
    net.order(0, Protocol::Signed, 1, Order::Attack);
    net.run();
    let events = net.outputs_of(0, "FrameTooLarge");
    assert_eq!(events.len(), 3, "one per lieutenant: {:?}", net.outputs);
    assert!(events[0].contains("max: 100"), "{}", events[0]);
    let counted = net.nodes[0].counters().link_errors.get("frame_too_large");
    assert_eq!(counted, Some(&3));
}

/// An order whose sign state could not be saved is undone whole: its seq,
/// its slot and its tree share come back, so the next order reuses the seq
/// (nothing signed under it left the node).
/// Mutations seen to fail it (cargo-mutants): `Node::abandon` doing nothing
/// or not restoring the sign state; an OM tree not charged to its
/// commander's share; `instances_started` not counted.
#[test]
fn an_abandoned_order_gives_back_its_seq_slot_and_tree_share() {
    let need = generals_node::protocol::oral::tree_bytes(4, 1).expect("a small tree");
    let mut limits = limits();
    limits.tree_bytes = 4 * need; // one OM(1) tree per commander
    let mut n0 = node(4, 0, limits);
    let now = Instant::now();
    let id = n0
        .order(now, Protocol::Oral, 1, Order::Attack, false)
        .expect("the first order fits");
    assert_eq!((id.seq, n0.sign_state().last_seq), (1, 1));
    assert_eq!(n0.counters().instances_started, 1);
    assert!(matches!(
        n0.order(now, Protocol::Oral, 1, Order::Attack, false),
        Err(generals_node::protocol::OrderError::TreeBudget { .. })
    ));
    n0.abandon(spec(0, 1, Protocol::Oral, 1, 4));
    assert_eq!(n0.sign_state().last_seq, 0);
    assert_eq!(n0.active_instances(), 0);
    let again = n0
        .order(now, Protocol::Oral, 1, Order::Retreat, false)
        .expect("the slot and the tree share are back");
    assert_eq!(again.seq, 1);
}

/// OM trees count against a budget at a lieutenant: a commander's own frames
/// against its share (`tree_bytes / n`), a relay against the relaying peer's
/// whole budget (`tree_bytes`), each up to and including the limit; SM
/// instances keep no tree.
/// Mutations seen to fail it (cargo-mutants): `>` as `>=` or `==` in either
/// tree check of `Node::over_budget`; the tree counted for SM instead of OM
/// in `Node::admit`; `instances_joined` not counted.
#[test]
fn om_trees_at_a_lieutenant_count_up_to_the_share_and_the_relay_budget() {
    let need = generals_node::protocol::oral::tree_bytes(4, 1).expect("a small tree");
    let tight = |tree_bytes| {
        let mut l = limits();
        l.tree_bytes = tree_bytes;
        node(4, 1, l)
    };
    // The commander's own frames: a share of exactly one tree.
    let mut net = Net::new(4, limits());
    net.nodes[1] = tight(4 * need);
    let first = net.order(0, Protocol::Oral, 1, Order::Attack);
    let second = net.order(0, Protocol::Oral, 1, Order::Attack);
    let sm = net.order(0, Protocol::Signed, 1, Order::Attack);
    net.collect();
    let direct: Vec<_> = net
        .queue
        .drain(..)
        .filter(|(f, t, _)| (f.0, t.0) == (0, 1))
        .collect();
    for (from, to, msg) in direct {
        net.deliver(from, to, msg);
    }
    assert_eq!(
        net.rejected(1, "memory_budget"),
        1,
        "{first:?} fits, {second:?} does not"
    );
    assert_eq!(
        net.nodes[1].counters().instances_joined,
        2,
        "{first:?} and {sm:?}"
    );

    // Relays from peer 2 only: a budget of exactly one tree for its relays.
    let mut net = Net::new(4, limits());
    net.nodes[1] = tight(need);
    net.cut = vec![(0, 1), (3, 1)];
    let first = net.order(0, Protocol::Oral, 1, Order::Attack);
    let second = net.order(0, Protocol::Oral, 1, Order::Attack);
    net.run();
    // (Cut off from 0 and 3, lieutenant 1 holds only 2's value, so it is
    // the decision that matters here, not its value.)
    assert!(net.decision(1, &first).is_some(), "one tree fits");
    assert_eq!(net.decision(1, &second), None, "a second tree does not");
    assert!(net.rejected(1, "memory_budget") >= 1);
}

/// The instances a node joins on one peer's relays are capped at
/// `max_instances` (charged to that peer, never to the commander's share).
/// Mutations seen to fail it (cargo-mutants): `Node::charge_relayer` doing
/// nothing, or not counting the instance.
#[test]
fn relays_from_one_peer_join_at_most_max_instances() {
    let mut net = Net::new(4, limits());
    net.nodes[1] = node(4, 1, NodeLimits::new(Limits::new(DELTA), 4, 16 << 20));
    net.cut = vec![(0, 1), (3, 1)];
    let specs: Vec<_> = (0..5)
        .map(|_| net.order(0, Protocol::Signed, 1, Order::Attack))
        .collect();
    net.run();
    let joined = specs
        .iter()
        .filter(|s| net.decision(1, s).is_some())
        .count();
    assert_eq!(joined, 4);
    assert_eq!(net.rejected(1, "relay_quota"), 1);
}

/// A `precreate` traitor that joins an instance sends frames for the
/// commander's next one, under tickets only it signed.
/// On every new link it opens with every other commander's next two seqs.
/// Mutations seen to fail it (cargo-mutants): `Node::precreate_next` or
/// `Node::open_attack` doing nothing (the simulator's agreement checks
/// cannot see a weaker traitor).
#[test]
fn a_precreate_traitor_goes_after_the_next_seq_when_it_joins() {
    use generals_node::protocol::adversary::{Coalition, Strategy};
    let mut net = Net::new(4, limits());
    let coalition = Coalition::new(
        [(NodeId(3), Strategy::Precreate)].into(),
        [(NodeId(3), key(3))].into(),
        0,
    )
    .with_cluster(cluster(4));
    net.nodes[3] = node(4, 3, limits()).with_coalition(
        Arc::new(std::sync::Mutex::new(coalition)),
        "precreate".into(),
    );
    let real = net.order(0, Protocol::Signed, 1, Order::Attack);
    net.collect();
    let to_3: Vec<_> = net.queue.drain(..).filter(|(_, t, _)| t.0 == 3).collect();
    for (from, to, msg) in to_3 {
        net.deliver(from, to, msg);
    }
    let mut forged = std::collections::BTreeSet::new();
    while let Some(out) = net.nodes[3].poll_output() {
        if let Output::Send {
            to,
            msg: PeerMessage::Round(f),
            ..
        } = out
        {
            if f.spec().id.seq == real.id.seq + 1 {
                assert!(!f.ticket.verify(&key(0).public(), &cluster(4)));
                forged.insert(to.0);
            }
        }
    }
    assert_eq!(
        forged,
        [0, 1, 2].into(),
        "frames for the next seq, to every peer"
    );
    // On a new link it opens with the commanders' next two seqs, to that peer.
    net.nodes[3].link_up(net.now, NodeId(1));
    let mut opening = std::collections::BTreeSet::new();
    while let Some(out) = net.nodes[3].poll_output() {
        if let Output::Send {
            to,
            msg: PeerMessage::Round(f),
            ..
        } = out
        {
            assert_eq!(to, NodeId(1));
            opening.insert((f.spec().id.commander.0, f.spec().id.seq));
        }
    }
    let want: std::collections::BTreeSet<_> =
        [(0, 2), (0, 3), (1, 1), (1, 2), (2, 1), (2, 2)].into();
    assert!(want.is_subset(&opening), "{opening:?}");
}

/// A commander takes a report only from the lieutenant it names, signed by
/// that lieutenant, for an instance it commands, and with an equivocation
/// proof only if the proof is this commander's, for this instance and
/// cluster. Anything else is `bad_report`, and is not counted.
/// Mutations seen to fail it (cargo-mutants): each `&&` of the report and
/// proof checks in `Node::handle_report` made `||`, each `==` made `!=`,
/// and `!signed || !proof_ok` made `&&`.
#[test]
fn a_commander_counts_only_reports_signed_by_their_sender_with_real_proofs() {
    use generals_crypto::EquivocationProof;
    use generals_wire::{DecisionReport, MessageCounters};
    let mut net = Net::new(4, limits());
    let spec = net.order(0, Protocol::Signed, 1, Order::Attack);
    net.collect();
    let to_1: Vec<_> = net.queue.drain(..).filter(|(_, t, _)| t.0 == 1).collect();
    for (from, to, msg) in to_1 {
        net.deliver(from, to, msg);
    }
    let report = |reporter: u16, signer: u16| {
        DecisionReport::new(
            spec,
            NodeId(reporter),
            Order::Attack,
            MessageCounters::default(),
        )
        .signed_by(&key(signer))
    };
    let proof_for = |id: InstanceId, cl: &ClusterId, signer: u16| {
        let a = SignedOrder::new(&key(signer), cl, id, 1, Order::Attack);
        let r = SignedOrder::new(&key(signer), cl, id, 1, Order::Retreat);
        EquivocationProof::from_chains(cl, &a, &r).expect("two orders")
    };
    let with_proof = |p: EquivocationProof| {
        let mut r =
            DecisionReport::new(spec, NodeId(3), Order::Retreat, MessageCounters::default());
        r.evidence = Some(p);
        r.signed_by(&key(3))
    };
    let other_id = InstanceId {
        commander: NodeId(0),
        seq: 9,
    };
    let bad = [
        (1, report(2, 2), "names another reporter"),
        (1, report(1, 2), "signed by another key"),
        (
            3,
            with_proof(proof_for(other_id, &cluster(4), 0)),
            "proof for another instance",
        ),
        (
            3,
            with_proof(proof_for(spec.id, &ClusterId([9; 32]), 0)),
            "proof in another cluster",
        ),
        (
            3,
            with_proof(proof_for(spec.id, &cluster(4), 3)),
            "proof not signed by the commander",
        ),
    ];
    for (i, (from, r, what)) in bad.into_iter().enumerate() {
        net.nodes[0].handle_report(NodeId(from), r);
        assert_eq!(net.rejected(0, "bad_report"), i as u64 + 1, "{what}");
    }
    // A lieutenant takes no report at all.
    net.nodes[1].handle_report(NodeId(2), report(2, 2));
    assert_eq!(net.rejected(1, "bad_report"), 1, "a report to a lieutenant");
    assert_eq!(status_of(&net.nodes[0], &spec).map(|s| s.1), Some(0));

    net.nodes[0].handle_report(NodeId(1), report(1, 1));
    net.nodes[0].handle_report(NodeId(3), with_proof(proof_for(spec.id, &cluster(4), 0)));
    assert_eq!(net.rejected(0, "bad_report"), 5);
    assert_eq!(status_of(&net.nodes[0], &spec).map(|s| s.1), Some(2));
}

/// A lieutenant's report carries what it holds: its equivocation proof, and
/// whether it runs a fault strategy; each node counts its decisions and its
/// proofs.
/// Mutations seen to fail it (cargo-mutants): the `evidence` or `faulty`
/// field left out of the report `Node::on_decided` builds; the decision or
/// evidence counters not counted.
#[test]
fn reports_carry_the_lieutenants_proof_and_fault_and_nodes_count_decisions() {
    let mut net = equivocating_commander_and_silent_lieutenant_3();
    let spec = net.order(0, Protocol::Signed, 1, Order::Attack);
    net.run();
    let reports: Vec<&String> = net
        .outputs
        .iter()
        .filter(|(i, o)| *i == 0 && o.starts_with("Report("))
        .map(|(_, o)| o)
        .collect();
    let from = |l: u16| {
        reports
            .iter()
            .find(|r| r.contains(&format!("reporter: NodeId({l})")))
            .unwrap_or_else(|| panic!("no report from {l}: {reports:?}"))
    };
    for l in [1, 2] {
        assert!(from(l).contains("evidence: Some("), "{}", from(l));
        assert!(from(l).contains("faulty: false"), "{}", from(l));
        let c = net.nodes[usize::from(l)].counters();
        assert_eq!((c.decisions, c.evidence), (1, 1), "lieutenant {l}");
        assert_eq!(net.decision(l, &spec), Some(Order::Retreat));
    }
    assert!(from(3).contains("faulty: true"), "{}", from(3));
}

/// Decided instances stay in memory up to `keep_decided`; older ones leave
/// it, and `status` still shows their summary, reports included.
/// Mutations seen to fail it (cargo-mutants): `>` as `>=` or `==` in
/// `Node::evict`, and as `>=`, `==` or `<` in `Node::remember_past`;
/// `Node::remember_past` doing nothing.
#[test]
fn decided_instances_beyond_the_window_leave_memory_but_not_status() {
    let mut limits = limits();
    limits.keep_decided = 2;
    let mut net = Net::new(4, limits);
    let specs: Vec<_> = (0..5)
        .map(|_| {
            let s = net.order(0, Protocol::Signed, 1, Order::Attack);
            net.run();
            s
        })
        .collect();
    let held: Vec<bool> = specs
        .iter()
        .map(|s| net.nodes[0].outcome(s).is_some())
        .collect();
    assert_eq!(held, [false, false, false, true, true]);
    // Summaries of evicted instances are kept up to the same window; older
    // ones are answered from decisions.log by the shell.
    let summaries: Vec<Option<usize>> = specs
        .iter()
        .map(|s| status_of(&net.nodes[0], s).map(|x| x.1))
        .collect();
    assert_eq!(summaries, [None, Some(3), Some(3), Some(3), Some(3)]);
    let records: Vec<bool> = specs
        .iter()
        .map(|s| net.nodes[0].past(s).is_some())
        .collect();
    assert_eq!(records, [false, true, true, false, false]);
}

/// What a commander tells `order --wait` and `status`, from its own node:
/// every general's decision from the signed reports, IC1 and IC2, the
/// closed-form count, completeness, and the instance found by its id.
/// Mutations seen to fail it (cargo-mutants): `Node::instance_report`,
/// `is_complete`, `resolve`, `instance_statuses` and `instance_counters`
/// returning constants or dropping a field, and their comparisons inverted.
#[test]
fn a_commanders_report_reads_every_generals_decision_from_the_signed_reports() {
    let mut net = Net::new(4, limits());
    net.cut = vec![(3, 0)]; // lieutenant 3's report never arrives
    let spec = net.order(0, Protocol::Signed, 1, Order::Attack);
    net.run();
    let n0 = &net.nodes[0];
    assert!(!n0.is_complete(&spec), "3 of 4 generals reported");
    assert!(
        net.nodes[3].is_complete(&spec),
        "a lieutenant is complete once decided"
    );
    assert_eq!(n0.resolve(spec.id), Some(spec));
    assert_eq!(n0.resolve(InstanceId { seq: 9, ..spec.id }), None);
    let own = n0.instance_counters(&spec).expect("held");
    assert_eq!((own.signatures_made, own.signatures_verified), (1, 0));
    let heard = net.nodes[1].instance_counters(&spec).expect("held");
    assert_eq!(heard.signatures_made, 1);
    assert!(heard.signatures_verified >= 1);
    let statuses = n0.instance_statuses(None, 10);
    assert_eq!(statuses.len(), 1);
    assert_eq!(status_of(n0, &spec).map(|s| s.1), Some(2));
    assert!(!n0.spec_equivocated(spec.id));

    let r = n0.instance_report(&spec).expect("held");
    let decisions: Vec<(Option<Order>, Option<bool>, bool)> = r
        .generals
        .iter()
        .map(|g| (g.decision, g.reported, g.traitor))
        .collect();
    let attack = Some(Order::Attack);
    assert_eq!(
        decisions,
        [
            (attack, Some(true), false),
            (attack, Some(true), false),
            (attack, Some(true), false),
            (None, Some(false), false),
        ]
    );
    assert!(r.ic1 && r.ic2);
    assert_eq!(r.complete, Some(false));
    assert_eq!(r.messages.formula, 9, "SM(1) at n = 4: (n-1)^2");
    assert!(r.traitors.is_empty() && r.evidence.is_empty());
    assert_eq!(r.order, Order::Attack);
    assert_eq!(r.instance.as_deref(), Some("0-1"));
}

/// The same report when the commander equivocates: the lieutenants' proof
/// is shown, verified, with who holds it; a self-declared traitor's report
/// marks it a traitor and its decision is not counted.
/// Mutations seen to fail it (cargo-mutants): the negations and `&&`/`||`
/// of `Node::instance_report`'s handling of faulty reports and holders.
#[test]
fn a_report_shows_the_proof_its_holders_and_the_declared_traitors() {
    let mut net = equivocating_commander_and_silent_lieutenant_3();
    let spec = net.order(0, Protocol::Signed, 1, Order::Attack);
    net.run();
    let r = net.nodes[0].instance_report(&spec).expect("held");
    let decisions: Vec<(Option<Order>, bool)> =
        r.generals.iter().map(|g| (g.decision, g.traitor)).collect();
    let retreat = Some(Order::Retreat);
    assert_eq!(
        decisions,
        [
            (None, true),
            (retreat, false),
            (retreat, false),
            (None, true)
        ]
    );
    assert_eq!(r.traitors, [NodeId(0), NodeId(3)]);
    assert!(r.ic1 && r.ic2, "IC2 is vacuous with a traitor commander");
    assert_eq!(r.evidence.len(), 1);
    assert_eq!(r.evidence[0].holders, [NodeId(1), NodeId(2)]);
    assert!(r.evidence[0].verified && r.evidence[0].proof.is_some());
    assert_eq!(r.complete, Some(true));
}

/// n = 4: commander 0 equivocates, lieutenant 3 is silent, both declared.
fn equivocating_commander_and_silent_lieutenant_3() -> Net {
    use generals_node::protocol::adversary::{Coalition, Strategy};
    let mut net = Net::new(4, limits());
    let coalition = Arc::new(std::sync::Mutex::new(
        Coalition::new(
            [
                (NodeId(0), Strategy::Equivocate),
                (NodeId(3), Strategy::Silent),
            ]
            .into(),
            [(NodeId(0), key(0)), (NodeId(3), key(3))].into(),
            0,
        )
        .with_cluster(cluster(4)),
    ));
    net.nodes[0] = node(4, 0, limits()).with_coalition(coalition.clone(), "equivocate".into());
    net.nodes[3] = node(4, 3, limits()).with_coalition(coalition, "silent".into());
    net
}

/// A lieutenant's round times are one per round, each from entering the
/// round to closing it: round 1 and a round whose frames all came at once
/// take no time; a round closed by its deadline takes at least Δ. Mutants
/// seen to fail it: `Instance::round_times` returning an empty or a
/// one-element slice.
#[test]
fn round_times_are_one_per_round_and_a_deadline_shows_in_its_round() {
    let mut net = Net::new(4, limits());
    net.cut.push((1, 2));
    let s = net.order(0, Protocol::Signed, 1, Order::Attack);
    net.run();
    assert_eq!(net.rounds_of(1, &s), vec![Duration::ZERO, Duration::ZERO]);
    let cut = net.rounds_of(2, &s);
    assert_eq!(cut.len(), 2, "{cut:?}");
    assert_eq!(cut[0], Duration::ZERO);
    assert!(cut[1] >= DELTA, "round 2 waited for its deadline: {cut:?}");
    for l in 1..4 {
        assert_eq!(net.decision(l, &s), Some(Order::Attack));
    }
}

/// In OM an empty frame is a peer with no values to relay: its slot is
/// filled (the values stay RETREAT) and the round closes without waiting,
/// with nothing refused. OM makes and verifies no signatures. Mutants seen
/// to fail it: the `(Oral, Empty)` arm of `Instance::deliver` deleted (the
/// frame refused as `wrong_body_kind`), `Instance::signatures_made`
/// returning 1.
#[test]
fn an_empty_oral_frame_fills_its_slot_and_om_signs_nothing() {
    let mut net = Net::new(4, limits());
    net.cut.push((3, 1));
    let s = net.order(0, Protocol::Oral, 1, Order::Attack);
    let ticket = InstanceTicket::issue(&key(0), &cluster(4), s);
    net.frame(
        3,
        1,
        RoundFrame {
            ticket,
            round: 2,
            body: RoundBody::Empty,
        },
    );
    net.run();
    for l in 1..4 {
        assert_eq!(net.decision(l, &s), Some(Order::Attack), "lieutenant {l}");
    }
    assert!(
        net.nodes[1].counters().rejections.is_empty(),
        "{:?}",
        net.nodes[1].counters().rejections
    );
    assert_eq!(
        net.rounds_of(1, &s),
        vec![Duration::ZERO, Duration::ZERO],
        "no deadline waited"
    );
    for g in 0..4 {
        let c = net.nodes[g].instance_counters(&s).expect("held");
        assert_eq!(
            (c.signatures_made, c.signatures_verified),
            (0, 0),
            "general {g}"
        );
    }
}

/// A lieutenant's record holds V, the set of values it accepted: {ATTACK}
/// from a loyal commander, both values (in RETREAT, ATTACK order) from one
/// that equivocates. Mutants seen to fail it: `SignedState::values`
/// returning nothing or one default value.
#[test]
fn a_decision_record_holds_the_values_the_lieutenant_accepted() {
    let values = |net: &Net, s: &InstanceSpec, l: u16| -> Vec<Order> {
        let found: Vec<_> = net
            .decided
            .iter()
            .filter(|(i, sp, _)| *i == l && sp == s)
            .collect();
        assert_eq!(found.len(), 1, "lieutenant {l} decided once");
        found[0].2.values.clone()
    };
    let mut net = Net::new(4, limits());
    let s = net.order(0, Protocol::Signed, 1, Order::Attack);
    net.run();
    for l in 1..4 {
        assert_eq!(values(&net, &s, l), vec![Order::Attack], "lieutenant {l}");
    }

    let mut net = equivocating_commander_and_silent_lieutenant_3();
    let s = net.order(0, Protocol::Signed, 1, Order::Attack);
    net.run();
    for l in 1..3 {
        assert_eq!(
            values(&net, &s, l),
            vec![Order::Retreat, Order::Attack],
            "lieutenant {l}"
        );
        assert_eq!(net.decision(l, &s), Some(Order::Retreat));
    }
}
