//! Round deadlines that cover the work each round is known to need.
//!
//! A round's deadline has two parts. The network part is Δ plus Δ/2 for every
//! earlier round ([`round_deadline`]); it covers latency and scheduling and is
//! the same for every instance. The work part covers the CPU the round needs,
//! which the spec fixes in advance: [`RoundWork`] counts it from (protocol, n,
//! m, round), and [`WorkCosts`] prices it with this machine's measured cost
//! per unit.
//!
//! Which work a round must cover. Round r's deadline runs from when this node
//! entered r. A peer may enter r up to the previous deadline later than we
//! did (it waited round r-1 out); only then does it build its round-r frames
//! (OM: every path of the level below, for every other lieutenant), and they
//! travel: encoded, through the kernel, decoded by our link task. So D(r)
//! must exceed D(r-1) by that *sending* work as well as by the network step,
//! and the sending work of rounds 1..=r adds up in D(r). What we do with a
//! frame once it is queued (store it, verify its chains, after the last
//! round resolve the tree) cannot make it late: a timer never closes a round
//! before the queued frames are handled. But it must fit in the round, or we
//! enter the next one late, so D(r) also covers round r's *receiving* work,
//! once:
//!
//! D(r) = Δ + (r-1)·step + factor · (Σ_{k ≤ r} send(k) + receive(r)).
//!
//! The counts are one lieutenant's. On one machine every daemon does the same
//! work at the same moment, so the wall time of a round is its work times the
//! number of daemons sharing a core (and more, once their trees no longer fit
//! in the caches). The node cannot know that number: the multiplier
//! `work_factor` (config `round_work_factor`) stands for it. Δ then only has
//! to cover the network and scheduling. Like Δ, the costs and the factor
//! must be the same on every node: the argument above compares one node's
//! deadline with another's.
//!
//! Pure: no clock, no I/O. The daemon measures the costs at start-up
//! (`daemon/calibrate.rs`); the simulator runs on virtual time with zero
//! costs.

use std::time::Duration;

use generals_wire::{InstanceSpec, Protocol};

use super::oral::frame_values;
use super::round_deadline;
use super::signed::MAX_CHAINS_PER_FRAME;

/// Bytes of any round frame on a link around its body's payload: length
/// prefix, message tag, ticket (spec and signature), round and body tag. An
/// empty frame is this.
const FRAME_BYTES: u64 = 91;
/// An oral body adds its value count and its byte length.
const ORAL_BODY_BYTES: u64 = 12;
/// A signed body adds the number of chains; each chain its header and, per
/// link, a signer id and a signature.
const SIGNED_BODY_BYTES: u64 = 8;
const CHAIN_BYTES: u64 = 20;
const LINK_BYTES: u64 = 66;

/// No round waits longer than this for work, whatever the costs say: a
/// deadline past it is a configuration error, not a plan.
pub const MAX_WORK_PART: Duration = Duration::from_secs(3600);

/// What round `round` of an instance needs at one lieutenant. For OM the
/// counts are exact (a frame of another shape is refused). For SM they are
/// bounds over every run: what traitors can make a loyal node check, since a
/// deadline sized for a loyal run would let a traitor's chains push loyal
/// frames past it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundWork {
    /// Frames this lieutenant receives in the round.
    pub frames_in: u64,
    /// Frames this lieutenant sends in the round.
    pub frames_out: u64,
    /// OM: values received and stored (a copy of each frame's bits).
    pub values_in: u64,
    /// OM: values this lieutenant computes and sends.
    pub values_out: u64,
    /// OM, last round only: values the recursive majority reads.
    pub values_resolved: u64,
    /// Bytes received, length prefixes included.
    pub bytes_in: u64,
    /// Bytes sent, length prefixes included.
    pub bytes_out: u64,
    /// SM: signatures to verify, at most.
    pub signatures_verified: u64,
    /// SM: signatures to make, at most.
    pub signatures_made: u64,
}

/// Bytes of an oral frame with `values` values.
fn oral_frame_bytes(values: u64) -> u64 {
    FRAME_BYTES + ORAL_BODY_BYTES + values.div_ceil(8)
}

/// Bytes of a signed frame with at most two chains of `links` links.
fn signed_frame_bytes(links: u64) -> u64 {
    let chains = MAX_CHAINS_PER_FRAME as u64;
    FRAME_BYTES + SIGNED_BODY_BYTES + chains * (CHAIN_BYTES + LINK_BYTES * links)
}

impl RoundWork {
    /// The work of `round` (1..=m+1) at a lieutenant of an instance of
    /// `protocol` with `n` generals and parameter `m`. Zero outside the rounds.
    pub fn of(protocol: Protocol, n: usize, m: u8, round: u8) -> RoundWork {
        if round == 0 || round > m.saturating_add(1) || n < 2 {
            return RoundWork::default();
        }
        let r = u64::from(round);
        // Round 1: the commander's frame. Later: one frame from and to every
        // other lieutenant.
        let (frames_in, frames_out) = if round == 1 {
            (1, 0)
        } else {
            (n as u64 - 2, n as u64 - 2)
        };
        match protocol {
            Protocol::Oral => {
                let per_frame = frame_values(n, round).unwrap_or(u64::MAX);
                let values_in = frames_in.saturating_mul(per_frame);
                // Every value stored below the root, once.
                let values_resolved = if round == m.saturating_add(1) {
                    (2..=round).fold(0u64, |acc, k| {
                        let level = frame_values(n, k).unwrap_or(u64::MAX);
                        acc.saturating_add(level.saturating_mul(n as u64 - 2))
                    })
                } else {
                    0
                };
                let bytes = oral_frame_bytes(per_frame);
                RoundWork {
                    frames_in,
                    frames_out,
                    values_in,
                    values_out: frames_out.saturating_mul(per_frame),
                    values_resolved,
                    bytes_in: frames_in.saturating_mul(bytes),
                    bytes_out: frames_out.saturating_mul(bytes),
                    signatures_verified: 0,
                    signatures_made: 0,
                }
            }
            Protocol::Signed => {
                // The round rule: a chain read in round r has r signatures,
                // and a frame is read for at most two chains.
                let chains = MAX_CHAINS_PER_FRAME as u64;
                let bytes = signed_frame_bytes(r);
                RoundWork {
                    frames_in,
                    frames_out,
                    bytes_in: frames_in * bytes,
                    bytes_out: frames_out * bytes,
                    signatures_verified: frames_in * chains * r,
                    // A loyal lieutenant relays at most two values.
                    signatures_made: if round == 1 { 0 } else { chains },
                    ..RoundWork::default()
                }
            }
        }
    }
}

/// What one unit of work costs on this machine, in picoseconds (whole
/// numbers that still resolve the sub-nanosecond cost of one value or byte).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkCosts {
    /// Computing one OM value to send, or resolving one in the majority.
    pub ps_per_value: u64,
    /// Encoding or decoding one byte of a frame.
    pub ps_per_byte: u64,
    /// Verifying (or making) one Ed25519 signature.
    pub ps_per_signature: u64,
}

impl WorkCosts {
    /// No work is charged: deadlines are the network part alone.
    pub const ZERO: WorkCosts = WorkCosts {
        ps_per_value: 0,
        ps_per_byte: 0,
        ps_per_signature: 0,
    };

    /// Picoseconds one daemon on one core needs to get a round's frames
    /// from the peers into this node's queue: computing and signing them,
    /// and every byte's encoding, passage and decoding.
    pub fn send_picos(&self, w: &RoundWork) -> u128 {
        let bytes = u128::from(w.bytes_in) + u128::from(w.bytes_out);
        u128::from(w.values_out) * u128::from(self.ps_per_value)
            + bytes * u128::from(self.ps_per_byte)
            + u128::from(w.signatures_made) * u128::from(self.ps_per_signature)
    }

    /// Picoseconds one daemon on one core needs for a round's frames once
    /// they are queued: verifying chains, resolving the tree. (Storing an
    /// oral frame is a copy, priced with its bytes.)
    pub fn receive_picos(&self, w: &RoundWork) -> u128 {
        u128::from(w.values_resolved) * u128::from(self.ps_per_value)
            + u128::from(w.signatures_verified) * u128::from(self.ps_per_signature)
    }
}

/// How long each round of an instance may wait at a lieutenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeadlinePolicy {
    /// Δ: the network part of round 1.
    pub delta: Duration,
    /// How much longer each later round's network part is (Δ/2 by default;
    /// see [`round_deadline`] for why deadlines must grow).
    pub step: Duration,
    pub costs: WorkCosts,
    /// How many times one daemon's single-core work a round may take: the
    /// daemons sharing a core, with a margin.
    pub work_factor: u32,
}

impl DeadlinePolicy {
    /// Δ with the Δ/2 step and no work part.
    pub fn new(delta: Duration) -> DeadlinePolicy {
        DeadlinePolicy {
            delta,
            step: delta / 2,
            costs: WorkCosts::ZERO,
            work_factor: 0,
        }
    }

    /// What covers the network: Δ + (round-1)·step.
    pub fn network_part(&self, round: u8) -> Duration {
        round_deadline(round, self.delta, self.step)
    }

    /// What covers the sending work of rounds 1..=round and the receiving
    /// work of `round`, times the factor, capped at [`MAX_WORK_PART`].
    pub fn work_part(&self, protocol: Protocol, n: usize, m: u8, round: u8) -> Duration {
        if self.work_factor == 0 || self.costs == WorkCosts::ZERO {
            return Duration::ZERO;
        }
        let work = |k| RoundWork::of(protocol, n, m, k);
        let picos: u128 = (1..=round)
            .map(|k| self.costs.send_picos(&work(k)))
            .fold(self.costs.receive_picos(&work(round)), u128::saturating_add);
        let nanos = picos.saturating_mul(u128::from(self.work_factor)) / 1000;
        let cap = MAX_WORK_PART.as_nanos();
        Duration::from_nanos(u64::try_from(nanos.min(cap)).unwrap_or(u64::MAX))
    }

    /// How long round `round` of `spec` may wait, from when this node entered it.
    pub fn deadline(&self, spec: &InstanceSpec, round: u8) -> Duration {
        self.network_part(round) + self.work_part(spec.protocol, usize::from(spec.n), spec.m, round)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::adversary::{ORAL_STRATEGIES, SIGNED_STRATEGIES};
    use crate::sim::{run, SimConfig};
    use generals_config::DEFAULT_ROUND_WORK_FACTOR;
    use generals_crypto::{InstanceId, NodeId, NodeKey, Order, SignedOrder};
    use generals_wire::{OralBits, PeerMessage, RoundBody, RoundFrame};

    /// Every field of a round's work, worked out by hand. Mutants seen to
    /// fail it: `RoundWork::of`'s fields dropped or their products made
    /// sums or quotients, the last-round test inverted, `n < 2` made `==`
    /// or `<=`.
    #[test]
    fn round_work_is_exact_field_by_field() {
        let (f, o, sb, c, l) = (
            FRAME_BYTES,
            ORAL_BODY_BYTES,
            SIGNED_BODY_BYTES,
            CHAIN_BYTES,
            LINK_BYTES,
        );
        // OM(2) at n = 7, the last round: 5 frames of 4 values each way (the
        // paths 0,k of length 2 that avoid sender and receiver), and the
        // majority reads every stored value below the root: (1 + 4) * 5.
        assert_eq!(
            RoundWork::of(Protocol::Oral, 7, 2, 3),
            RoundWork {
                frames_in: 5,
                frames_out: 5,
                values_in: 20,
                values_out: 20,
                values_resolved: 25,
                bytes_in: 5 * (f + o + 1),
                bytes_out: 5 * (f + o + 1),
                signatures_verified: 0,
                signatures_made: 0,
            }
        );
        // Round 1 of OM(2): the commander's one value, nothing resolved yet.
        assert_eq!(
            RoundWork::of(Protocol::Oral, 7, 2, 1),
            RoundWork {
                frames_in: 1,
                values_in: 1,
                bytes_in: f + o + 1,
                ..RoundWork::default()
            }
        );
        // OM(3) at n = 12, round 3: 10 frames of 9 values, two bytes each.
        let w = RoundWork::of(Protocol::Oral, 12, 3, 3);
        assert_eq!(
            (w.values_in, w.bytes_in, w.values_resolved),
            (90, 10 * (f + o + 2), 0)
        );
        // SM(2) at n = 7, round 3: chains of 3 links, at most 2 a frame.
        let frame = f + sb + 2 * (c + 3 * l);
        assert_eq!(
            RoundWork::of(Protocol::Signed, 7, 2, 3),
            RoundWork {
                frames_in: 5,
                frames_out: 5,
                bytes_in: 5 * frame,
                bytes_out: 5 * frame,
                signatures_verified: 5 * 2 * 3,
                signatures_made: 2,
                ..RoundWork::default()
            }
        );
        assert_eq!(
            RoundWork::of(Protocol::Signed, 7, 2, 1),
            RoundWork {
                frames_in: 1,
                bytes_in: f + sb + 2 * (c + l),
                signatures_verified: 2,
                ..RoundWork::default()
            }
        );
        // Outside the rounds, and clusters too small to have lieutenants.
        for (n, m, round) in [(7, 2, 0), (7, 2, 4), (1, 0, 1)] {
            assert_eq!(
                RoundWork::of(Protocol::Signed, n, m, round),
                RoundWork::default()
            );
        }
        assert_eq!(RoundWork::of(Protocol::Signed, 2, 0, 1).frames_in, 1);
    }

    /// The two prices, with distinct primes so that any term dropped,
    /// swapped or miscombined shows. Mutants seen to fail it: every
    /// operator of `send_picos` and `receive_picos`, and both returning
    /// constants.
    #[test]
    fn work_costs_price_each_kind_of_work_once() {
        let costs = WorkCosts {
            ps_per_value: 3,
            ps_per_byte: 5,
            ps_per_signature: 7,
        };
        let w = RoundWork {
            frames_in: 1_000,
            frames_out: 2_000,
            values_in: 3_000,
            values_out: 11,
            values_resolved: 23,
            bytes_in: 13,
            bytes_out: 17,
            signatures_verified: 29,
            signatures_made: 19,
        };
        assert_eq!(costs.send_picos(&w), 11 * 3 + (13 + 17) * 5 + 19 * 7);
        assert_eq!(costs.receive_picos(&w), 23 * 3 + 29 * 7);
    }

    /// Costs of the order this machine measures (release build), for tests
    /// that need realistic magnitudes rather than exact ones.
    const TYPICAL: WorkCosts = WorkCosts {
        ps_per_value: 2_000,
        ps_per_byte: 1_000,
        ps_per_signature: 40_000_000,
    };

    fn spec(protocol: Protocol, n: u16, m: u8) -> InstanceSpec {
        InstanceSpec {
            id: InstanceId {
                commander: NodeId(0),
                seq: 1,
            },
            protocol,
            m,
            n,
        }
    }

    /// (n-1) lieutenants times the sum over rounds of one lieutenant's count,
    /// plus what the commander sends in round 1.
    fn total(protocol: Protocol, n: usize, m: u8, commander: u64, f: fn(&RoundWork) -> u64) -> u64 {
        let per = (1..=m + 1)
            .map(|r| f(&RoundWork::of(protocol, n, m, r)))
            .sum::<u64>();
        commander + (n as u64 - 1) * per
    }

    /// Chains here are only measured, never verified: any cluster will do.
    fn cl() -> generals_crypto::ClusterId {
        generals_crypto::ClusterId([0; 32])
    }

    /// A ticket for `spec`; its signature is never checked here.
    fn ticket(spec: InstanceSpec) -> generals_wire::InstanceTicket {
        generals_wire::InstanceTicket {
            spec,
            sig: generals_crypto::Sig([0; 64]),
        }
    }

    #[test]
    fn frame_sizes_match_the_wire() {
        let s = spec(Protocol::Oral, 7, 2);
        let len = |body| {
            RoundFrame {
                ticket: ticket(s),
                round: 2,
                body,
            }
            .wire_len() as u64
        };
        assert_eq!(len(RoundBody::Empty), FRAME_BYTES);
        for values in [0u32, 1, 7, 8, 9, 1000] {
            assert_eq!(
                len(RoundBody::Oral(OralBits::zeros(values))),
                oral_frame_bytes(u64::from(values)),
                "{values} values"
            );
        }
        let key = NodeKey::from_seed([3; 32]);
        for links in 1..=4u16 {
            let mut chain = SignedOrder::new(&key, &cl(), s.id, 5, Order::Attack);
            for j in 1..links {
                chain.push_signature(&key, &cl(), NodeId(j));
            }
            let two = RoundBody::Signed(vec![chain.clone(), chain]);
            assert_eq!(len(two), signed_frame_bytes(u64::from(links)));
        }
        // A frame as a PeerMessage is the same size.
        let msg = PeerMessage::Round(RoundFrame {
            ticket: ticket(s),
            round: 1,
            body: RoundBody::Empty,
        });
        assert_eq!(msg.wire_len() as u64, FRAME_BYTES);
    }

    #[test]
    fn oral_closed_forms_match_the_simulator() {
        for (n, m) in [(4usize, 1u8), (5, 2), (7, 2), (10, 3), (13, 4), (8, 5)] {
            let r = run(&SimConfig::new(Protocol::Oral, n, m)).unwrap();
            let c = n as u64 - 1;
            let first = RoundWork::of(Protocol::Oral, n, m, 1);
            assert_eq!(
                total(Protocol::Oral, n, m, c * first.values_in, |w| w.values_out),
                r.messages.logical,
                "values n={n} m={m}"
            );
            assert_eq!(
                total(Protocol::Oral, n, m, c * first.frames_in, |w| w.frames_out),
                r.messages.frames,
                "frames n={n} m={m}"
            );
            assert_eq!(
                total(Protocol::Oral, n, m, c * first.bytes_in, |w| w.bytes_out),
                r.messages.bytes,
                "bytes n={n} m={m}"
            );
            // What one lieutenant receives is what one sends, round by round,
            // and the majority reads every stored value below the root.
            for round in 2..=m + 1 {
                let w = RoundWork::of(Protocol::Oral, n, m, round);
                assert_eq!((w.values_in, w.bytes_in), (w.values_out, w.bytes_out));
            }
            let last = RoundWork::of(Protocol::Oral, n, m, m + 1);
            assert_eq!(last.values_resolved, r.messages.logical / c - 1);
            assert_eq!(RoundWork::of(Protocol::Oral, n, m, m).values_resolved, 0);
        }
        // OM(7) at n = 22: the last round sends 20 frames of P(19, 6) values.
        let w = RoundWork::of(Protocol::Oral, 22, 7, 8);
        assert_eq!(w.values_out, 20 * 19_535_040);
        assert_eq!(w.bytes_out, 20 * (103 + 2_441_880));
    }

    #[test]
    fn signed_bounds_hold_in_loyal_and_faulty_runs() {
        for (n, m) in [(4usize, 1u8), (5, 2), (6, 3), (7, 2)] {
            let c = n as u64 - 1;
            let first = RoundWork::of(Protocol::Signed, n, m, 1);
            let frames = total(Protocol::Signed, n, m, c, |w| w.frames_out);
            let verified = total(Protocol::Signed, n, m, 0, |w| w.signatures_verified);
            let made = total(Protocol::Signed, n, m, 1, |w| w.signatures_made);
            let bytes = total(Protocol::Signed, n, m, c * first.bytes_in, |w| w.bytes_out);
            let loyal = run(&SimConfig::new(Protocol::Signed, n, m)).unwrap();
            assert_eq!(loyal.messages.frames, frames, "n={n} m={m}");
            assert!(loyal.messages.bytes <= bytes, "n={n} m={m}");
            assert!(loyal.messages.signatures_made <= made, "n={n} m={m}");
            assert!(loyal.messages.signatures_verified <= verified);
            // Traitors may send more, but cannot make loyal nodes check more.
            for strategy in SIGNED_STRATEGIES {
                for traitors in [vec![0u16], vec![1], vec![0, 2]] {
                    if traitors.len() > usize::from(m) {
                        continue;
                    }
                    let cfg = SimConfig::new(Protocol::Signed, n, m).traitors(traitors, strategy);
                    let r = run(&cfg).unwrap();
                    assert!(
                        r.messages.signatures_verified <= verified,
                        "n={n} m={m} {strategy}: {} > {verified}",
                        r.messages.signatures_verified
                    );
                }
            }
        }
    }

    #[test]
    fn oral_traitors_do_not_change_the_work() {
        // Every oral frame has one shape per round, so the work is exact:
        // loyal senders send what the closed form says whatever traitors do.
        let (n, m) = (7, 2);
        let bound = total(Protocol::Oral, n, m, n as u64 - 1, |w| w.values_out);
        for strategy in ORAL_STRATEGIES {
            let r = run(&SimConfig::new(Protocol::Oral, n, m).traitors([2, 5], strategy)).unwrap();
            assert!(r.messages.loyal_logical <= bound, "{strategy}");
        }
    }

    #[test]
    fn deadlines_grow_by_at_least_the_step_and_the_round_s_work() {
        let mut policy = DeadlinePolicy::new(Duration::from_secs(1));
        policy.costs = TYPICAL;
        policy.work_factor = DEFAULT_ROUND_WORK_FACTOR;
        for (protocol, n, m) in [
            (Protocol::Oral, 22u16, 7u8),
            (Protocol::Oral, 7, 2),
            (Protocol::Signed, 22, 7),
            (Protocol::Signed, 100, 33),
        ] {
            let s = spec(protocol, n, m);
            let factor = u128::from(DEFAULT_ROUND_WORK_FACTOR);
            let scaled = |picos: u128| Duration::from_nanos((picos * factor / 1000) as u64);
            let work = |r| RoundWork::of(protocol, usize::from(n), m, r);
            for r in 1..=m + 1 {
                // Each round's receiving work fits in it ...
                let receive = scaled(TYPICAL.receive_picos(&work(r)));
                assert!(policy.deadline(&s, r) >= policy.network_part(r) + receive);
                if r == 1 {
                    continue;
                }
                // ... and each deadline exceeds the last by the step and the
                // round's sending work (less what the last round received).
                let grew = policy.deadline(&s, r) + scaled(TYPICAL.receive_picos(&work(r - 1)))
                    - policy.deadline(&s, r - 1);
                let send = scaled(TYPICAL.send_picos(&work(r)));
                assert!(
                    grew + Duration::from_nanos(2) >= policy.step + send,
                    "{protocol} n={n} m={m} round {r}"
                );
            }
        }
        // OM(7) at n = 22: the last round waits for seconds of work.
        let s = spec(Protocol::Oral, 22, 7);
        assert!(policy.deadline(&s, 8) > policy.network_part(8) + Duration::from_secs(10));
    }

    #[test]
    fn small_instances_keep_their_quick_timeouts() {
        let mut policy = DeadlinePolicy::new(Duration::from_secs(1));
        policy.costs = TYPICAL;
        policy.work_factor = DEFAULT_ROUND_WORK_FACTOR;
        for (protocol, n, m, at_most) in [
            (Protocol::Oral, 4u16, 1u8, Duration::from_micros(100)),
            (Protocol::Oral, 7, 2, Duration::from_millis(1)),
            (Protocol::Oral, 10, 3, Duration::from_millis(10)),
            // SM is charged for every chain a traitor could make it check.
            (Protocol::Signed, 4, 1, Duration::from_millis(50)),
            (Protocol::Signed, 7, 2, Duration::from_millis(200)),
        ] {
            let s = spec(protocol, n, m);
            for r in 1..=m + 1 {
                let work = policy.work_part(protocol, usize::from(n), m, r);
                assert!(
                    work <= at_most,
                    "{protocol} n={n} m={m} round {r}: {work:?}"
                );
                assert_eq!(policy.deadline(&s, r), policy.network_part(r) + work);
            }
        }
    }

    #[test]
    fn no_costs_or_no_factor_is_the_network_part_alone() {
        let s = spec(Protocol::Oral, 22, 7);
        let plain = DeadlinePolicy::new(Duration::from_millis(100));
        let no_factor = DeadlinePolicy {
            costs: TYPICAL,
            ..plain
        };
        for r in 1..=8 {
            let want = round_deadline(r, plain.delta, plain.delta / 2);
            assert_eq!(plain.deadline(&s, r), want);
            assert_eq!(no_factor.deadline(&s, r), want);
        }
        // Outside the instance's rounds there is no work.
        assert_eq!(
            RoundWork::of(Protocol::Oral, 22, 7, 0),
            RoundWork::default()
        );
        assert_eq!(
            RoundWork::of(Protocol::Oral, 22, 7, 9),
            RoundWork::default()
        );
    }

    #[test]
    fn a_lieutenant_waits_for_its_round_s_work() {
        use crate::protocol::{Instance, Keyring, Limits};
        use std::sync::Arc;
        use std::time::Instant;
        let keys: Vec<Arc<NodeKey>> = (0..7u8)
            .map(|i| Arc::new(NodeKey::from_seed([i + 1; 32])))
            .collect();
        let ring = Arc::new(Keyring::new(
            NodeId(1),
            keys[1].clone(),
            keys.iter().map(|k| k.public()).collect(),
        ));
        let s = spec(Protocol::Oral, 7, 2);
        let limits = Limits::new(Duration::from_secs(1)).with_work(TYPICAL, 1_000);
        let now = Instant::now();
        let l = Instance::lieutenant(ticket(s), ring, now, limits).unwrap();
        let want = limits.deadline_policy().deadline(&s, 1);
        assert!(want > limits.deadline_policy().network_part(1));
        assert_eq!(l.poll_timeout(), Some(now + want));
    }

    #[test]
    fn absurd_costs_are_capped() {
        let policy = DeadlinePolicy {
            costs: WorkCosts {
                ps_per_value: u64::MAX,
                ps_per_byte: u64::MAX,
                ps_per_signature: u64::MAX,
            },
            work_factor: u32::MAX,
            ..DeadlinePolicy::new(Duration::from_secs(1))
        };
        let s = spec(Protocol::Oral, 128, 3);
        assert_eq!(policy.work_part(Protocol::Oral, 128, 3, 4), MAX_WORK_PART);
        assert!(policy.deadline(&s, 4) <= policy.network_part(4) + MAX_WORK_PART);
    }
}
