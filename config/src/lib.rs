//! generals-config: turns a node's TOML file plus `GENERALS_*` environment
//! overrides into a validated [`NodeConfig`], or into an error that names the
//! file, the key, the problem and the fix; and writes testnets of such files.
//!
//! The file format, for one general of a cluster of n:
//!
//! ```toml
//! id = 0                      # this node's id: its index in [[peers]]
//! listen = "127.0.0.1:7000"   # IP:port to bind; same port as this node's [[peers]] entry
//! key_file = "node.key"       # default "node.key", relative to this file
//! data_dir = "data"           # default "data", relative to this file
//! round_timeout_ms = 1000     # Δ, 1..=600000
//! round_work_factor = 64      # rounds also wait this many times their work, 0..=10000
//! work_ps_per_eig_value = 2000    # optional per-unit costs in picoseconds,
//! work_ps_per_byte = 500          # 0..=1000000000; each one not set is
//! work_ps_per_signature = 40000000 # measured at start-up
//! max_frame_bytes = 16777216  # 1024..=1073741824
//! send_queue_frames = 1024    # >= 1
//! max_future_frames = 4096    # >= 1
//! max_instances = 256         # >= 1
//! log = "info"                # tracing filter
//! log_format = "plain"        # or "json": one object per line
//!
//! [[peers]]                   # every general, this one included; ids exactly 0..n-1
//! id = 0
//! addr = "127.0.0.1:7000"
//! pubkey = "<64 hex digits>"
//!
//! [fault]                     # optional, honoured only with --allow-faults
//! strategy = "flip"           # see FaultStrategy::ALL
//! targets = [2, 3]            # default []
//! seed = 1                    # default 0
//! delay_ms = 0                # default 0, 0..=600000
//! ```
//!
//! Scalar keys can be overridden with `GENERALS_<KEY>` (nested with `__`, as in
//! `GENERALS_FAULT__STRATEGY=silent`); `peers` and `fault.targets` cannot.

mod check;
mod error;
mod fault;
mod node;
pub mod ports;
mod testnet;

pub use check::{check_host, compare_peers, config_files, own_key, own_key_of, HostView, Rejected};
pub use error::ConfigError;
pub use fault::{FaultConfig, FaultStrategy, UnknownFaultStrategy};
pub use node::{
    LogFormat, NodeConfig, PeerConfig, DEFAULT_DATA_DIR, DEFAULT_KEY_FILE, DEFAULT_LOG,
    DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_FUTURE_FRAMES, DEFAULT_MAX_INSTANCES,
    DEFAULT_ROUND_TIMEOUT_MS, DEFAULT_ROUND_WORK_FACTOR, DEFAULT_SEND_QUEUE_FRAMES, ENV_PREFIX,
    MAX_GENERALS, MIN_GENERALS,
};
pub use testnet::{generate_testnet, init_node, InitOptions, TestnetNode, TestnetOptions, WorkPs};

#[cfg(test)]
mod tests;
