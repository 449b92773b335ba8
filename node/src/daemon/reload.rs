//! What a SIGHUP may change in a running node, decided from two configs.
//!
//! Pure: [`plan`] compares the config the node runs with against the file
//! as it reads now, and says what to apply and what to refuse. The daemon
//! carries the plan out (redials, the log filter, the round limits of new
//! instances) and logs one line per entry.
//!
//! What can change safely: a peer's address (the dialer uses it for its next
//! connection), the log filter, and the round timeouts (new instances take
//! them, instances in flight keep theirs). Everything else is fixed at
//! start-up: the identity and key, the listener, the data directory and its
//! lock, the peer table's ids and keys (which fix n and the cluster id every
//! signature covers), the buffers sized from the limits, the log format and
//! any `[fault]`. A change to one of those is refused with its reason and
//! the node keeps the old value.

use std::fmt::Debug;

use generals_config::NodeConfig;

/// Why a change is refused; every reason ends with what to do instead.
const RESTART: &str = "restart the node to change it";

/// One key whose value differs between the running config and the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The key as the file spells it: `log`, `peers[2].addr`.
    pub key: String,
    pub old: String,
    pub new: String,
}

/// A change the node will not apply, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub change: Change,
    pub reason: String,
}

/// The outcome of comparing the running config with the file.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The running config with every applied change: what the node runs
    /// with after the reload.
    pub config: NodeConfig,
    pub applied: Vec<Change>,
    pub refused: Vec<Refusal>,
}

impl Plan {
    /// Whether any peer's address is applied (the dialers must redial).
    pub fn peers_moved(&self) -> bool {
        self.applied.iter().any(|c| c.key.starts_with("peers["))
    }

    /// Whether `log` is applied.
    pub fn log_changed(&self) -> bool {
        self.applied.iter().any(|c| c.key == "log")
    }

    /// Whether a round timeout is applied (new instances get new limits).
    pub fn rounds_changed(&self) -> bool {
        self.applied
            .iter()
            .any(|c| ROUND_KEYS.contains(&c.key.as_str()))
    }
}

/// The keys that shape round deadlines; new instances take them.
const ROUND_KEYS: [&str; 5] = [
    "round_timeout_ms",
    "round_work_factor",
    "work_ps_per_eig_value",
    "work_ps_per_byte",
    "work_ps_per_signature",
];

/// What the node does with `new` when it runs with `old`. `rust_log`: the
/// log filter comes from `RUST_LOG`, which hides the `log` key.
pub fn plan(old: &NodeConfig, new: &NodeConfig, rust_log: bool) -> Plan {
    let mut p = Planner {
        config: old.clone(),
        applied: Vec::new(),
        refused: Vec::new(),
    };

    // Fixed at start-up, each with why.
    p.refuse("id", &old.id, &new.id, "it is this node's identity");
    p.refuse(
        "listen",
        &old.listen,
        &new.listen,
        "the peer listener is bound at start-up",
    );
    p.refuse_path(
        "key_file",
        &old.key_file,
        &new.key_file,
        "the key is loaded at start-up",
    );
    p.refuse_path(
        "data_dir",
        &old.data_dir,
        &new.data_dir,
        "the node holds the data directory's lock and state",
    );
    let sized = "buffers and budgets are sized from it at start-up";
    p.refuse(
        "max_frame_bytes",
        &old.max_frame_bytes,
        &new.max_frame_bytes,
        sized,
    );
    p.refuse(
        "send_queue_frames",
        &old.send_queue_frames,
        &new.send_queue_frames,
        sized,
    );
    p.refuse(
        "max_future_frames",
        &old.max_future_frames,
        &new.max_future_frames,
        sized,
    );
    p.refuse(
        "max_instances",
        &old.max_instances,
        &new.max_instances,
        sized,
    );
    p.refuse(
        "log_format",
        &old.log_format,
        &new.log_format,
        "the log format is chosen at start-up",
    );
    if old.metrics_listen != new.metrics_listen {
        let show = |a: Option<std::net::SocketAddr>| a.map_or("off".to_owned(), |a| a.to_string());
        p.refused_change(
            "metrics.listen",
            show(old.metrics_listen),
            show(new.metrics_listen),
            "the metrics listener is bound at start-up",
        );
    }
    if old.fault != new.fault {
        p.refused_change(
            "fault",
            format!("{:?}", old.fault),
            format!("{:?}", new.fault),
            "a traitor's [fault] section is read at start-up",
        );
    }

    // The peer table: ids and keys are fixed, addresses may move.
    if old.n() != new.n() {
        let ids = |c: &NodeConfig| format!("n = {}", c.n());
        p.refused_change(
            "peers",
            ids(old),
            ids(new),
            "the set of generals fixes n and the cluster id that every signature covers \
             (restart every node with the new table)",
        );
    } else {
        for (i, (o, n)) in old.peers.iter().zip(&new.peers).enumerate() {
            p.refuse(
                &format!("peers[{i}].pubkey"),
                &o.pubkey,
                &n.pubkey,
                "the peer keys fix the cluster id that every signature covers",
            );
            if o.addr != n.addr {
                p.apply(&format!("peers[{i}].addr"), &o.addr, &n.addr);
                p.config.peers[i].addr = n.addr;
            }
        }
    }

    // Reloadable.
    if old.log != new.log {
        if rust_log {
            p.refused_change(
                "log",
                old.log.clone(),
                new.log.clone(),
                "RUST_LOG is set and overrides it; unset RUST_LOG in the node's environment and",
            );
        } else if let Err(e) = tracing_subscriber::EnvFilter::try_new(&new.log) {
            p.refused.push(Refusal {
                change: Change {
                    key: "log".to_owned(),
                    old: old.log.clone(),
                    new: new.log.clone(),
                },
                reason: format!("it is not a log filter ({e}); fix it and reload again"),
            });
        } else {
            p.apply("log", &old.log, &new.log);
            p.config.log = new.log.clone();
        }
    }
    p.reload_round(
        "round_timeout_ms",
        &old.round_timeout_ms,
        &new.round_timeout_ms,
    );
    p.reload_round(
        "round_work_factor",
        &old.round_work_factor,
        &new.round_work_factor,
    );
    p.reload_round(
        "work_ps_per_eig_value",
        &Shown(old.work_ps_per_eig_value),
        &Shown(new.work_ps_per_eig_value),
    );
    p.reload_round(
        "work_ps_per_byte",
        &Shown(old.work_ps_per_byte),
        &Shown(new.work_ps_per_byte),
    );
    p.reload_round(
        "work_ps_per_signature",
        &Shown(old.work_ps_per_signature),
        &Shown(new.work_ps_per_signature),
    );
    p.config.round_timeout_ms = new.round_timeout_ms;
    p.config.round_work_factor = new.round_work_factor;
    p.config.work_ps_per_eig_value = new.work_ps_per_eig_value;
    p.config.work_ps_per_byte = new.work_ps_per_byte;
    p.config.work_ps_per_signature = new.work_ps_per_signature;

    // A key added to NodeConfig after this module was written: if the two
    // configs still differ once every key above is taken from `old`, refuse
    // it rather than apply or ignore it silently.
    let mut rest = new.clone();
    macro_rules! from_old {
        ($($key:ident),*) => { $( #[allow(clippy::clone_on_copy)] { rest.$key = old.$key.clone(); } )* };
    }
    from_old!(
        id,
        listen,
        key_file,
        data_dir,
        max_frame_bytes,
        send_queue_frames,
        max_future_frames,
        max_instances,
        log_format,
        metrics_listen,
        fault,
        peers,
        log,
        round_timeout_ms,
        round_work_factor,
        work_ps_per_eig_value,
        work_ps_per_byte,
        work_ps_per_signature,
        overrides,
        file
    );
    if format!("{rest:?}") != format!("{old:?}") {
        p.refused_change(
            "(another setting)",
            "as loaded".to_owned(),
            "changed".to_owned(),
            "this node cannot reload it",
        );
    }

    Plan {
        config: p.config,
        applied: p.applied,
        refused: p.refused,
    }
}

/// An optional value as the file shows it: unset or the number.
struct Shown(Option<u64>);

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(v) => write!(f, "{v}"),
            None => f.write_str("(unset: measured)"),
        }
    }
}

struct Planner {
    config: NodeConfig,
    applied: Vec<Change>,
    refused: Vec<Refusal>,
}

impl Planner {
    fn apply(&mut self, key: &str, old: &dyn std::fmt::Display, new: &dyn std::fmt::Display) {
        self.applied.push(Change {
            key: key.to_owned(),
            old: old.to_string(),
            new: new.to_string(),
        });
    }

    fn reload_round<T: std::fmt::Display + ?Sized>(&mut self, key: &str, old: &T, new: &T) {
        let (old, new) = (old.to_string(), new.to_string());
        if old != new {
            self.apply(key, &old, &new);
        }
    }

    fn refuse<T: std::fmt::Display + PartialEq>(&mut self, key: &str, old: &T, new: &T, why: &str) {
        if old != new {
            self.refused_change(key, old.to_string(), new.to_string(), why);
        }
    }

    fn refuse_path(&mut self, key: &str, old: &std::path::Path, new: &std::path::Path, why: &str) {
        if old != new {
            let show = |p: &std::path::Path| p.display().to_string();
            self.refused_change(key, show(old), show(new), why);
        }
    }

    fn refused_change(&mut self, key: &str, old: String, new: String, why: &str) {
        self.refused.push(Refusal {
            change: Change {
                key: key.to_owned(),
                old,
                new,
            },
            reason: format!("{why}; {RESTART}"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use generals_config::{generate_testnet, LogFormat, TestnetOptions};
    use std::path::PathBuf;

    /// Node 0's config of a fresh 4-node testnet, loaded twice: what the
    /// node runs with and what the file says now (edited by each test).
    fn configs() -> (NodeConfig, NodeConfig, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "generals-reload-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let nodes = generate_testnet(&TestnetOptions::new(4, &dir)).unwrap();
        let cfg = NodeConfig::load_with_env(&nodes[0].config_path, []).unwrap();
        (cfg.clone(), cfg, dir)
    }

    fn keys(changes: &[Change]) -> Vec<&str> {
        changes.iter().map(|c| c.key.as_str()).collect()
    }

    fn refused_keys(p: &Plan) -> Vec<&str> {
        p.refused.iter().map(|r| r.change.key.as_str()).collect()
    }

    #[test]
    fn an_unchanged_file_changes_nothing() {
        let (old, new, dir) = configs();
        let p = plan(&old, &new, false);
        assert!(p.applied.is_empty() && p.refused.is_empty(), "{p:?}");
        assert!(!p.peers_moved() && !p.log_changed() && !p.rounds_changed());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_peer_address_the_log_and_timeouts_are_applied() {
        let (old, mut new, dir) = configs();
        new.peers[2].addr = "127.0.0.1:9102".parse().unwrap();
        new.log = "debug".to_owned();
        new.round_timeout_ms = 2500;
        new.work_ps_per_byte = Some(7);
        let p = plan(&old, &new, false);
        assert_eq!(
            keys(&p.applied),
            [
                "peers[2].addr",
                "log",
                "round_timeout_ms",
                "work_ps_per_byte"
            ]
        );
        assert_eq!(p.applied[0].old, old.peers[2].addr.to_string());
        assert_eq!(p.applied[0].new, "127.0.0.1:9102");
        assert!(p.refused.is_empty(), "{:?}", p.refused);
        assert!(p.peers_moved() && p.log_changed() && p.rounds_changed());
        assert_eq!(p.config.peers[2].addr, new.peers[2].addr);
        assert_eq!(p.config.log, "debug");
        assert_eq!(p.config.round_timeout_ms, 2500);
        assert_eq!(p.config.work_ps_per_byte, Some(7));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn what_is_fixed_at_start_up_is_refused_and_kept() {
        let (old, mut new, dir) = configs();
        new.id = generals_crypto::NodeId(1);
        new.listen = "127.0.0.1:9000".parse().unwrap();
        new.key_file = PathBuf::from("/elsewhere/node.key");
        new.data_dir = PathBuf::from("/elsewhere/data");
        new.max_instances = 3;
        new.log_format = LogFormat::Json;
        new.metrics_listen = Some("127.0.0.1:9464".parse().unwrap());
        new.peers[1].pubkey = old.peers[3].pubkey;
        let p = plan(&old, &new, false);
        assert_eq!(
            refused_keys(&p),
            [
                "id",
                "listen",
                "key_file",
                "data_dir",
                "max_instances",
                "log_format",
                "metrics.listen",
                "peers[1].pubkey"
            ]
        );
        for r in &p.refused {
            assert!(r.reason.ends_with(RESTART), "{r:?}");
            assert_ne!(r.change.old, r.change.new, "{r:?}");
        }
        assert!(p.applied.is_empty(), "{:?}", p.applied);
        // The node keeps every old value.
        assert_eq!(format!("{:?}", p.config), format!("{old:?}"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_new_set_of_generals_is_refused_with_its_addresses() {
        let (old, mut new, dir) = configs();
        new.peers[2].addr = "127.0.0.1:9102".parse().unwrap();
        new.peers.pop();
        let p = plan(&old, &new, false);
        assert_eq!(refused_keys(&p), ["peers"]);
        assert_eq!(p.refused[0].change.old, "n = 4");
        assert_eq!(p.refused[0].change.new, "n = 3");
        assert!(p.applied.is_empty() && !p.peers_moved());
        assert_eq!(p.config.peers, old.peers);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A new `log` is refused, and the old filter kept, when RUST_LOG
    /// hides the key or the value is not a filter.
    #[test]
    fn a_log_change_is_refused_under_rust_log_or_when_invalid() {
        let (old, mut new, dir) = configs();
        for (log, rust_log, why) in [
            ("debug", true, "RUST_LOG"),
            ("generals_node=loud", false, "not a log filter"),
        ] {
            new.log = log.to_owned();
            let p = plan(&old, &new, rust_log);
            assert_eq!(refused_keys(&p), ["log"], "{log}");
            assert!(p.refused[0].reason.contains(why), "{:?}", p.refused);
            assert_eq!(p.config.log, old.log);
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_changed_fault_section_is_refused() {
        let (old, dir) = {
            let (old, _, dir) = configs();
            (old, dir)
        };
        let faulty = dir.join("node0").join("faulty.toml");
        let text = std::fs::read_to_string(&old.file).unwrap();
        std::fs::write(&faulty, format!("{text}\n[fault]\nstrategy = \"silent\"\n")).unwrap();
        let mut new = NodeConfig::load_with_env(&faulty, []).unwrap();
        new.file = old.file.clone();
        let p = plan(&old, &new, false);
        assert_eq!(refused_keys(&p), ["fault"]);
        assert!(p.config.fault.is_none());
        let _ = std::fs::remove_dir_all(dir);
    }
}
