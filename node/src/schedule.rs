//! The timing half of the simulator's adversary: when, and whether, each
//! message arrives.
//!
//! The model is synchrony with a known bound δ. A message a loyal node sends
//! arrives after 1..=δ µs, and the adversary picks where in that range: not
//! a fair coin but a plan, drawn from the schedule's seed. Per round it
//! splits the generals into two groups, Twins-style, and makes links inside
//! a group and across groups fast (1 µs), slow (δ), random or extreme (1 or
//! δ). A traitor's messages are not bound by δ: each may arrive at once,
//! within δ, exactly at the receiver's next deadline, just after it, at any
//! time before the horizon, or never, with weights the plan draws per run.
//!
//! A [`Schedule`] is a value, so the same one replays the same run.

use std::fmt;

use generals_crypto::NodeId;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// How the simulated network delays messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Schedule {
    /// Every message takes 1..=`max_latency_us` µs, uniformly at random from
    /// the run's seed, traitors' included. The simulator's default.
    #[default]
    Uniform,
    /// A seeded timing adversary within the bound δ.
    Adversary(Timing),
}

/// A timing adversary: everything it chooses follows from these fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub seed: u64,
    /// δ: the longest a loyal node's message may take, in µs (at least 1).
    pub delta_us: u64,
    /// When the commander gives its order, in virtual µs; None: once what
    /// traitors did before the order has played out (as with [`Schedule::Uniform`]).
    pub order_at_us: Option<u64>,
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Uniform => f.write_str("uniform"),
            Schedule::Adversary(t) => {
                write!(
                    f,
                    "adversary seed={:#x} delta={}us order_at=",
                    t.seed, t.delta_us
                )?;
                match t.order_at_us {
                    Some(at) => write!(f, "{at}us"),
                    None => f.write_str("quiet"),
                }
            }
        }
    }
}

/// Where in 1..=δ a loyal message lands.
#[derive(Clone, Copy, Debug)]
enum Pace {
    Fast,
    Slow,
    Any,
    Extremes,
}

const PACES: [Pace; 4] = [Pace::Fast, Pace::Slow, Pace::Any, Pace::Extremes];

/// Links inside and across one round's two groups.
#[derive(Clone, Copy, Debug)]
struct RoundPlan {
    /// Bit i set: general i is in the second group.
    group: u128,
    inside: Pace,
    across: Pace,
}

/// What a traitor does with one message, chosen by weight.
#[derive(Clone, Copy, Debug)]
enum Move {
    /// The round's loyal pace.
    InTime,
    Drop,
    /// Arrives exactly at the receiver's next deadline (still in time).
    AtDeadline,
    /// Arrives 1 µs after the receiver's next deadline.
    AfterDeadline,
    /// Anywhere before the horizon.
    Anytime,
}

const MOVES: [Move; 5] = [
    Move::InTime,
    Move::Drop,
    Move::AtDeadline,
    Move::AfterDeadline,
    Move::Anytime,
];

#[derive(Debug)]
struct Plan {
    delta: u64,
    horizon: u64,
    /// Index 0: messages outside the rounds (before the order, reports).
    rounds: Vec<RoundPlan>,
    weights: [u32; MOVES.len()],
}

/// One message about to be sent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Link {
    pub from: NodeId,
    pub to: NodeId,
    /// The frame's round; 0 for anything else.
    pub round: u8,
    pub traitor: bool,
    /// µs until the receiver's next round deadline, if it has one.
    pub until_deadline: Option<u64>,
}

/// The delays of one run: a [`Schedule`] with its RNG.
#[derive(Debug)]
pub(crate) struct Network {
    rng: ChaCha8Rng,
    uniform_max: u64,
    plan: Option<Plan>,
}

impl Network {
    /// `horizon`: how late a traitor's message may come (after the order).
    pub(crate) fn new(
        schedule: Schedule,
        run_seed: u64,
        uniform_max: u64,
        n: usize,
        rounds: u8,
        horizon: u64,
    ) -> Network {
        match schedule {
            Schedule::Uniform => Network {
                rng: ChaCha8Rng::seed_from_u64(run_seed ^ 0x6e65_7477_6f72_6b00),
                uniform_max: uniform_max.max(1),
                plan: None,
            },
            Schedule::Adversary(t) => {
                let mut rng = ChaCha8Rng::seed_from_u64(t.seed);
                let mask = if n >= 128 {
                    u128::MAX
                } else {
                    (1u128 << n) - 1
                };
                let rounds = (0..=usize::from(rounds))
                    .map(|_| RoundPlan {
                        group: (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64()))
                            & mask,
                        inside: pick(&mut rng, &PACES),
                        across: pick(&mut rng, &PACES),
                    })
                    .collect();
                // Each move gets weight 0..=3; all zero means "in time".
                let weights = MOVES.map(|_| rng.next_u32() % 4);
                Network {
                    rng,
                    uniform_max,
                    plan: Some(Plan {
                        delta: t.delta_us.max(1),
                        horizon: t.order_at_us.unwrap_or(0) + horizon,
                        rounds,
                        weights,
                    }),
                }
            }
        }
    }

    /// Whether [`Link::until_deadline`] is ever read.
    pub(crate) fn adaptive(&self) -> bool {
        self.plan.is_some()
    }

    /// µs until `link`'s message arrives; None: never.
    pub(crate) fn latency(&mut self, link: Link) -> Option<u64> {
        let rng = &mut self.rng;
        let Some(plan) = &self.plan else {
            return Some(1 + rng.next_u64() % self.uniform_max);
        };
        let round = plan
            .rounds
            .get(usize::from(link.round))
            .or(plan.rounds.last())
            .copied();
        let pace = round.map_or(Pace::Any, |r| {
            let side = |id: NodeId| r.group >> (id.0 % 128) & 1;
            if side(link.from) == side(link.to) {
                r.inside
            } else {
                r.across
            }
        });
        let in_time = |rng: &mut ChaCha8Rng| match pace {
            Pace::Fast => 1,
            Pace::Slow => plan.delta,
            Pace::Any => 1 + rng.next_u64() % plan.delta,
            Pace::Extremes if rng.next_u32() & 1 == 0 => 1,
            Pace::Extremes => plan.delta,
        };
        if !link.traitor {
            return Some(in_time(rng));
        }
        let total: u32 = plan.weights.iter().sum();
        let mut ticket = if total == 0 {
            0
        } else {
            rng.next_u32() % total
        };
        let mut chosen = Move::InTime;
        for (m, &w) in MOVES.iter().zip(&plan.weights) {
            if ticket < w {
                chosen = *m;
                break;
            }
            ticket -= w;
        }
        let anytime = |rng: &mut ChaCha8Rng| 1 + rng.next_u64() % plan.horizon.max(1);
        match (chosen, link.until_deadline) {
            (Move::InTime, _) => Some(in_time(rng)),
            (Move::Drop, _) => None,
            (Move::AtDeadline, Some(d)) => Some(d.max(1)),
            (Move::AfterDeadline, Some(d)) => Some(d + 1),
            (Move::AtDeadline | Move::AfterDeadline | Move::Anytime, _) => Some(anytime(rng)),
        }
    }
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, from: &[T]) -> T {
    from[rng.next_u32() as usize % from.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(from: u16, to: u16, traitor: bool) -> Link {
        Link {
            from: NodeId(from),
            to: NodeId(to),
            round: 1,
            traitor,
            until_deadline: Some(70_000),
        }
    }

    #[test]
    fn loyal_messages_stay_within_delta_and_traitors_use_every_move() {
        let (mut dropped, mut at_deadline, mut after, mut beyond_delta) = (0, 0, 0, 0);
        for seed in 0..200 {
            let timing = Timing {
                seed,
                delta_us: 20_000,
                order_at_us: None,
            };
            let mut net = Network::new(Schedule::Adversary(timing), 0, 1, 7, 3, 1_000_000);
            for i in 0..50u16 {
                let l = net.latency(link(i % 7, (i + 1) % 7, false));
                assert!(l.is_some_and(|l| (1..=20_000).contains(&l)), "{l:?}");
                match net.latency(link(i % 7, (i + 3) % 7, true)) {
                    None => dropped += 1,
                    Some(70_000) => at_deadline += 1,
                    Some(70_001) => after += 1,
                    Some(l) if l > 20_000 => beyond_delta += 1,
                    Some(_) => {}
                }
            }
        }
        assert!(dropped > 0 && at_deadline > 0 && after > 0 && beyond_delta > 0);
    }

    #[test]
    fn the_same_schedule_gives_the_same_delays() {
        let timing = Timing {
            seed: 7,
            delta_us: 5_000,
            order_at_us: Some(3),
        };
        let delays = || {
            let mut net = Network::new(Schedule::Adversary(timing), 0, 1, 5, 2, 500_000);
            (0..40u16)
                .map(|i| net.latency(link(i % 5, (i + 2) % 5, i % 3 == 0)))
                .collect::<Vec<_>>()
        };
        assert_eq!(delays(), delays());
        assert_eq!(
            Schedule::Adversary(timing).to_string(),
            "adversary seed=0x7 delta=5000us order_at=3us"
        );
    }
}
