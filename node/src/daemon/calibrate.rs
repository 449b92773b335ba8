//! What round work costs on this machine, measured once at start-up.
//!
//! The round deadlines of `protocol::deadline` price each round's work with
//! per-unit costs. A config may fix them (`work_ps_per_*`); every one it does
//! not fix is measured here with a short, bounded run of the code that does
//! the work: OM frames and the majority for a small tree at this cluster's n,
//! encoding and decoding a frame, one `verify_strict`. Each repetition is
//! timed in this thread's CPU time and the fastest is kept: the machine's
//! speed, not its load at start-up (22 daemons starting at once on 2 cores
//! otherwise measure anything from 1× to 25×). Load (other daemons on the
//! same cores) is what `round_work_factor` covers.

use std::hint::black_box;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use generals_config::{NodeConfig, WorkPs};
use generals_crypto::{InstanceId, NodeId, NodeKey, Order, PrefixCache, SignedOrder};
use generals_wire::{InstanceSpec, OralBits, PeerMessage, Protocol, RoundBody, RoundFrame};
use tracing::info;

use crate::protocol::deadline::{RoundWork, WorkCosts};
use crate::protocol::oral::{tree_bytes, OralTree, MAX_TREE_BYTES};
use crate::protocol::paths::MAX_ORAL_NODES;
use crate::protocol::Limits;

/// Each measurement repeats until it has used this much CPU (at least
/// `MIN_REPS` times), or for `WALL_LIMIT` on a machine too busy to give it.
const BUDGET: Duration = Duration::from_millis(5);
const MIN_REPS: u32 = 5;
const WALL_LIMIT: Duration = Duration::from_millis(500);
/// OM values in the calibration round: large enough to time, small enough
/// for the tree to take a few hundred kilobytes.
const ORAL_VALUES: u64 = 200_000;
/// Bytes in the calibration frame.
const FRAME_BYTES: u32 = 32 << 10;

/// The limits this node's instances run with: Δ and its step from the
/// config, and the round work at this machine's costs times
/// `round_work_factor`.
pub fn limits(cfg: &NodeConfig) -> Limits {
    Limits::new(cfg.round_timeout()).with_work(costs(cfg), cfg.round_work_factor)
}

/// Each cost from the config if set, else measured (once per process).
pub fn costs(cfg: &NodeConfig) -> WorkCosts {
    let fixed = [
        cfg.work_ps_per_eig_value,
        cfg.work_ps_per_byte,
        cfg.work_ps_per_signature,
    ];
    // Nothing to measure when the config fixes every cost, or none is used.
    if cfg.round_work_factor == 0 || fixed.iter().all(Option::is_some) {
        return WorkCosts {
            ps_per_value: cfg.work_ps_per_eig_value.unwrap_or(0),
            ps_per_byte: cfg.work_ps_per_byte.unwrap_or(0),
            ps_per_signature: cfg.work_ps_per_signature.unwrap_or(0),
        };
    }
    static MEASURED: OnceLock<WorkCosts> = OnceLock::new();
    let measured = *MEASURED.get_or_init(|| measure(cfg.n()));
    WorkCosts {
        ps_per_value: cfg.work_ps_per_eig_value.unwrap_or(measured.ps_per_value),
        ps_per_byte: cfg.work_ps_per_byte.unwrap_or(measured.ps_per_byte),
        ps_per_signature: cfg
            .work_ps_per_signature
            .unwrap_or(measured.ps_per_signature),
    }
}

/// Logs the costs once at start-up, with what they mean for the largest OM
/// instance this cluster can run (the one whose deadlines they stretch most).
pub fn log(cfg: &NodeConfig, limits: &Limits) {
    let c = limits.work_costs;
    let measured: Vec<&str> = [
        ("eig_value", cfg.work_ps_per_eig_value),
        ("byte", cfg.work_ps_per_byte),
        ("signature", cfg.work_ps_per_signature),
    ]
    .iter()
    .filter(|(_, fixed)| fixed.is_none() && limits.work_factor > 0)
    .map(|(name, _)| *name)
    .collect();
    let measured = if measured.is_empty() {
        "none".to_owned()
    } else {
        measured.join(",")
    };
    let n = cfg.n();
    let m = (1..=((n.saturating_sub(1)) / 3) as u8)
        .take_while(|&m| tree_bytes(n, m).is_some_and(|b| b <= MAX_TREE_BYTES))
        .last();
    let largest = m.map(|m| {
        let spec = InstanceSpec {
            m,
            n: n as u16,
            ..calibration_spec(Protocol::Oral)
        };
        let policy = limits.deadline_policy();
        let last = policy.deadline(&spec, m + 1);
        format!(
            "OM({m}) waits at most {last:.1?} in its last round, {:.1?} of it for work",
            last - policy.network_part(m + 1)
        )
    });
    info!(
        factor = limits.work_factor,
        ps_per_eig_value = c.ps_per_value,
        ps_per_byte = c.ps_per_byte,
        ps_per_signature = c.ps_per_signature,
        measured = %measured,
        largest_om = largest.as_deref().unwrap_or("none"),
        "round work costs"
    );
}

/// This machine's costs for the configs of a local cluster of `n`, so that
/// all its daemons run the same deadlines rather than each its own
/// measurement.
pub fn testnet_costs(n: usize) -> WorkPs {
    let c = measure(n);
    WorkPs {
        eig_value: c.ps_per_value,
        byte: c.ps_per_byte,
        signature: c.ps_per_signature,
    }
}

/// Measures all three costs; takes a few tens of milliseconds.
pub fn measure(n: usize) -> WorkCosts {
    WorkCosts {
        ps_per_value: eig_value_ps(n),
        ps_per_byte: byte_ps(),
        ps_per_signature: signature_ps(),
    }
}

/// The fastest of repeated runs of `f`, in picoseconds of CPU time.
fn fastest(mut f: impl FnMut()) -> u128 {
    let (wall, cpu) = (Instant::now(), cpu_time());
    let mut best = Duration::MAX;
    let mut reps = 0;
    while reps < MIN_REPS
        || (cpu_time().saturating_sub(cpu) < BUDGET && wall.elapsed() < WALL_LIMIT)
    {
        let t = cpu_time();
        f();
        best = best.min(cpu_time().saturating_sub(t));
        reps += 1;
    }
    best.as_nanos() * 1000
}

/// CPU time this thread has used (user and kernel), which a preemption
/// does not advance.
fn cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(t.tv_nsec).unwrap_or(0);
    Duration::new(secs, nanos)
}

/// Picoseconds per OM value: the last round's frames and the majority of a
/// tree at this cluster's n (the inner loops run over n), for the largest m
/// whose last round stays under [`ORAL_VALUES`].
fn eig_value_ps(n: usize) -> u64 {
    let (n, m) = oral_size(n);
    let w = RoundWork::of(Protocol::Oral, n, m, m + 1);
    let units = u128::from(w.values_out + w.values_resolved).max(1);
    let ps = fastest(|| {
        if let Ok(mut tree) = OralTree::new(n, m, 0, 1) {
            black_box(tree.frames(m + 1));
            black_box(tree.decide());
        }
    });
    per_unit(ps, units)
}

/// The (n, m) of the calibration tree for a cluster of `n`.
fn oral_size(n: usize) -> (usize, u8) {
    let n = n.clamp(4, MAX_ORAL_NODES);
    let m = (2..=(n - 2) as u8)
        .take_while(|&m| RoundWork::of(Protocol::Oral, n, m, m + 1).values_out <= ORAL_VALUES)
        .last()
        .unwrap_or(1);
    (n, m)
}

/// Picoseconds per frame byte: encoding a frame, passing it through a local
/// socket (the kernel's copies, as on a link) and decoding it.
fn byte_ps() -> u64 {
    // Only its size matters: the ticket's signature is never checked here.
    let ticket = generals_wire::InstanceTicket {
        spec: calibration_spec(Protocol::Oral),
        sig: generals_crypto::Sig([0; 64]),
    };
    let msg = PeerMessage::Round(RoundFrame {
        ticket,
        round: 2,
        body: RoundBody::Oral(OralBits::zeros(FRAME_BYTES * 8)),
    });
    let mut buf = Vec::new();
    // Non-blocking: if the socket cannot take a whole frame, measure without it
    // rather than wait.
    let mut pipe = UnixStream::pair()
        .and_then(|(a, b)| {
            a.set_nonblocking(true)?;
            b.set_nonblocking(true)?;
            Ok((a, b))
        })
        .ok();
    let ps = fastest(|| {
        let bytes = generals_wire::encode(&msg);
        let passed = pipe.as_mut().and_then(|(a, b)| {
            buf.resize(bytes.len(), 0);
            (a.write_all(&bytes).is_ok() && b.read_exact(&mut buf).is_ok()).then_some(&buf)
        });
        if passed.is_none() {
            pipe = None;
        }
        let received = passed.unwrap_or(&bytes);
        black_box(generals_wire::decode::<PeerMessage>(black_box(received)).ok());
    });
    per_unit(ps, msg.wire_len() as u128)
}

/// Picoseconds per signature: verifying a one-link chain with a fresh cache,
/// so exactly one `verify_strict`.
fn signature_ps() -> u64 {
    let key = NodeKey::from_seed([0x5e; 32]);
    let public = key.public();
    let spec = calibration_spec(Protocol::Signed);
    let cluster = generals_crypto::ClusterId([0; 32]);
    let chain = SignedOrder::new(&key, &cluster, spec.id, spec.m, Order::Attack);
    let ps = fastest(|| {
        let mut cache = PrefixCache::default();
        black_box(chain.verify(&cluster, |_| Some(&public), &mut cache).ok());
    });
    per_unit(ps, 1)
}

fn calibration_spec(protocol: Protocol) -> InstanceSpec {
    InstanceSpec {
        id: InstanceId {
            commander: NodeId(0),
            seq: 0,
        },
        protocol,
        m: 1,
        n: 4,
    }
}

/// Rounded up: a cost of a fraction of a picosecond is still a cost.
fn per_unit(ps: u128, units: u128) -> u64 {
    u64::try_from(ps.div_ceil(units.max(1))).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_costs_are_nonzero_and_ordered() {
        // No timing assertions: only that each measurement ran and that a
        // signature costs more than a byte or a value, on any machine.
        let c = measure(7);
        assert!(c.ps_per_value > 0 && c.ps_per_byte > 0, "{c:?}");
        assert!(
            c.ps_per_signature > 100 * c.ps_per_value.max(c.ps_per_byte),
            "{c:?}"
        );
    }

    #[test]
    fn costs_fixed_in_the_config_are_used_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let nodes = generals_config::generate_testnet(&generals_config::TestnetOptions::new(
            4,
            dir.path().join("tn"),
        ))
        .unwrap();
        let env = [
            ("GENERALS_ROUND_WORK_FACTOR", "5"),
            ("GENERALS_WORK_PS_PER_EIG_VALUE", "7"),
            ("GENERALS_WORK_PS_PER_BYTE", "0"),
            ("GENERALS_WORK_PS_PER_SIGNATURE", "9"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let cfg = NodeConfig::load_with_env(&nodes[0].config_path, env).unwrap();
        let l = limits(&cfg);
        assert_eq!(l.work_factor, 5);
        assert_eq!(
            l.work_costs,
            WorkCosts {
                ps_per_value: 7,
                ps_per_byte: 0,
                ps_per_signature: 9
            }
        );
        assert_eq!(l.round_timeout, cfg.round_timeout());
    }

    #[test]
    fn calibration_sizes_cover_every_cluster_size() {
        for n in [2usize, 3, 4, 22, 128] {
            let (n, m) = oral_size(n);
            assert!(OralTree::new(n, m, 0, 1).is_ok(), "n={n} m={m}");
        }
        // At n = 22: OM(4), 116,280 values in its last round.
        assert_eq!(oral_size(22), (22, 4));
    }
}
