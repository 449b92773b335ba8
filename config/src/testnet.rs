//! Writes a local testnet: one directory per general with its key and config.

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use generals_crypto::{NodeId, NodeKey, PublicKey};

use crate::{
    ConfigError, PeerConfig, DEFAULT_DATA_DIR, DEFAULT_KEY_FILE, DEFAULT_LOG,
    DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_FUTURE_FRAMES, DEFAULT_MAX_INSTANCES,
    DEFAULT_ROUND_TIMEOUT_MS, DEFAULT_ROUND_WORK_FACTOR, DEFAULT_SEND_QUEUE_FRAMES, MAX_GENERALS,
    MIN_GENERALS,
};

/// What `generals testnet` asks for.
#[derive(Clone, Debug)]
pub struct TestnetOptions {
    pub nodes: usize,
    /// Directory that receives `node0/`, `node1/`, ...
    pub out: PathBuf,
    /// An IP address: peer addresses are parsed as `SocketAddr`.
    pub host: String,
    /// One IP address per host; when given, `host` is unused, general I runs
    /// on `hosts[I % hosts.len()]` and its directory is `OUT/hostK/nodeI`.
    pub hosts: Vec<String>,
    /// Node i listens on `base_port + i`.
    pub base_port: u16,
    pub round_timeout_ms: u64,
    /// Round work costs to write into every config, so that every node runs
    /// the same deadlines; `None`: each daemon measures its own.
    pub work_ps: Option<WorkPs>,
}

/// Per-unit costs of round work in picoseconds (the `work_ps_per_*` keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkPs {
    pub eig_value: u64,
    pub byte: u64,
    pub signature: u64,
}

impl TestnetOptions {
    pub fn new(nodes: usize, out: impl Into<PathBuf>) -> TestnetOptions {
        TestnetOptions {
            nodes,
            out: out.into(),
            host: "127.0.0.1".to_owned(),
            hosts: Vec::new(),
            base_port: 7000,
            round_timeout_ms: DEFAULT_ROUND_TIMEOUT_MS,
            work_ps: None,
        }
    }
}

/// One generated general.
#[derive(Clone, Debug)]
pub struct TestnetNode {
    pub id: NodeId,
    /// Where it listens and the others dial it.
    pub addr: SocketAddr,
    /// Its host's index in `hosts` (0 without `hosts`).
    pub host: usize,
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub key_path: PathBuf,
    pub public: PublicKey,
}

fn bad_option(option: &'static str, problem: String, fix: impl Into<String>) -> ConfigError {
    ConfigError::TestnetOption {
        option,
        problem,
        fix: fix.into(),
    }
}

/// Writes `OUT/nodeI/{config.toml,node.key}` for every general. Nothing is
/// written unless all options are valid and no node directory is in use.
pub fn generate_testnet(opts: &TestnetOptions) -> Result<Vec<TestnetNode>, ConfigError> {
    let n = opts.nodes;
    if !(MIN_GENERALS..=MAX_GENERALS).contains(&n) {
        return Err(bad_option(
            "--nodes",
            format!("{n} is out of range"),
            format!("use {MIN_GENERALS} to {MAX_GENERALS} generals"),
        ));
    }
    let (option, names) = if opts.hosts.is_empty() {
        ("--host", std::slice::from_ref(&opts.host))
    } else {
        ("--hosts", opts.hosts.as_slice())
    };
    let ips = names
        .iter()
        .map(|h| {
            h.trim().parse::<IpAddr>().map_err(|_| {
                bad_option(
                    option,
                    format!("{h:?} is not an IP address"),
                    "use one like 127.0.0.1 or ::1 (host names are not accepted in peer addresses)",
                )
            })
        })
        .collect::<Result<Vec<IpAddr>, _>>()?;
    if let Some(dup) = ips
        .iter()
        .enumerate()
        .find(|(i, ip)| ips[..*i].contains(ip))
    {
        return Err(bad_option(
            "--hosts",
            format!("lists {} twice", dup.1),
            "list each host once",
        ));
    }
    if ips.len() > n {
        return Err(bad_option(
            "--hosts",
            format!("lists {} hosts for {n} generals", ips.len()),
            "give at least as many --nodes as hosts",
        ));
    }
    let last_port = usize::from(opts.base_port) + n - 1;
    if opts.base_port == 0 || last_port > usize::from(u16::MAX) {
        return Err(bad_option(
            "--base-port",
            format!(
                "{} gives ports {}..={last_port}, outside 1..=65535",
                opts.base_port, opts.base_port
            ),
            format!(
                "use a base port from 1 to {}",
                usize::from(u16::MAX) + 1 - n
            ),
        ));
    }
    let max_timeout = crate::node::MAX_ROUND_TIMEOUT_MS.unsigned_abs();
    if !(1..=max_timeout).contains(&opts.round_timeout_ms) {
        return Err(bad_option(
            "--round-timeout-ms",
            format!("{} is out of range", opts.round_timeout_ms),
            format!("use 1 to {max_timeout} milliseconds"),
        ));
    }
    let host_of = |i: usize| i % ips.len();
    let dirs: Vec<PathBuf> = (0..n)
        .map(|i| {
            let node = format!("node{i}");
            if opts.hosts.is_empty() {
                opts.out.join(node)
            } else {
                opts.out.join(format!("host{}", host_of(i))).join(node)
            }
        })
        .collect();
    if let Some(dir) = dirs
        .iter()
        .find(|d| d.join(DEFAULT_KEY_FILE).exists() || d.join("config.toml").exists())
    {
        return Err(ConfigError::TestnetExists { dir: dir.clone() });
    }

    let keys: Vec<NodeKey> = (0..n).map(|_| NodeKey::generate()).collect();
    let peers: Vec<PeerConfig> = (0..n)
        .zip(&keys)
        .map(|(i, key)| PeerConfig {
            id: node_id(i),
            addr: SocketAddr::new(ips[host_of(i)], opts.base_port + node_id(i).0),
            pubkey: key.public(),
        })
        .collect();
    let mut nodes = Vec::with_capacity(n);
    for ((dir, key), me) in dirs.into_iter().zip(&keys).zip(&peers) {
        fs::create_dir_all(&dir).map_err(|source| ConfigError::Write {
            path: dir.clone(),
            source,
        })?;
        let key_path = dir.join(DEFAULT_KEY_FILE);
        key.save(&key_path)?;
        let config_path = dir.join("config.toml");
        let text = render_config(
            "generals testnet",
            me,
            &peers,
            opts.round_timeout_ms,
            opts.work_ps,
        );
        write_new(&config_path, &text)?;
        nodes.push(TestnetNode {
            id: me.id,
            addr: me.addr,
            host: host_of(me.id.index()),
            dir,
            config_path,
            key_path,
            public: me.pubkey,
        });
    }
    Ok(nodes)
}

/// What `generals init` asks for.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Receives `node.key` and `config.toml`; created if absent.
    pub home: PathBuf,
    pub id: NodeId,
    /// Where this node listens and the others dial it.
    pub addr: SocketAddr,
}

/// Writes `HOME/node.key` and `HOME/config.toml` for one general: a config
/// whose `[[peers]]` lists only this node, for the operator to complete.
/// Nothing is written if either file exists.
pub fn init_node(opts: &InitOptions) -> Result<TestnetNode, ConfigError> {
    let key_path = opts.home.join(DEFAULT_KEY_FILE);
    let config_path = opts.home.join("config.toml");
    if let Some(path) = [&key_path, &config_path]
        .into_iter()
        .find(|p| p.symlink_metadata().is_ok())
    {
        return Err(ConfigError::InitExists { path: path.clone() });
    }
    if opts.addr.port() == 0 {
        return Err(bad_option(
            "--addr",
            format!("{} has port 0, which no peer can dial", opts.addr),
            "give a port, e.g. 10.0.0.1:7000",
        ));
    }
    fs::create_dir_all(&opts.home).map_err(|source| ConfigError::Write {
        path: opts.home.clone(),
        source,
    })?;
    let key = NodeKey::generate();
    key.save(&key_path)?;
    let me = PeerConfig {
        id: opts.id,
        addr: opts.addr,
        pubkey: key.public(),
    };
    let mut text = render_config(
        "generals init",
        &me,
        std::slice::from_ref(&me),
        DEFAULT_ROUND_TIMEOUT_MS,
        None,
    );
    let other = if opts.id.0 == 0 { 1 } else { 0 };
    let _ = write!(
        text,
        "\n# Add a [[peers]] entry for every other general (ids exactly 0..n-1),\n\
         # with the address and public key `generals show-node-id` prints on its host:\n\
         #\n\
         # [[peers]]\n\
         # id = {other}\n\
         # addr = \"10.0.0.{host}:{port}\"\n\
         # pubkey = \"<64 hex digits>\"\n\
         #\n\
         # Then check it: generals config check --config {config}\n",
        other = other,
        // The layout of `testnet --hosts`: general I on 10.0.0.(I+1), port
        // BASE+I; an example that repeated this node's address would be
        // refused as a duplicate once filled in.
        host = other + 1,
        port = (opts.addr.port().saturating_sub(opts.id.0)).saturating_add(other),
        config = config_path.display(),
    );
    write_new(&config_path, &text)?;
    Ok(TestnetNode {
        id: opts.id,
        addr: opts.addr,
        host: 0,
        dir: opts.home.clone(),
        config_path,
        key_path,
        public: me.pubkey,
    })
}

fn node_id(i: usize) -> NodeId {
    // i < MAX_GENERALS, checked by the caller.
    NodeId(u16::try_from(i).unwrap_or(u16::MAX))
}

fn write_new(path: &std::path::Path, text: &str) -> Result<(), ConfigError> {
    let write = |source| ConfigError::Write {
        path: path.to_owned(),
        source,
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(write)?;
    f.write_all(text.as_bytes()).map_err(write)?;
    f.sync_all().map_err(write)
}

/// The config file of general `me`, with every key spelled out and explained,
/// because operators read and edit these files.
fn render_config(
    by: &str,
    me: &PeerConfig,
    peers: &[PeerConfig],
    round_timeout_ms: u64,
    work_ps: Option<WorkPs>,
) -> String {
    let n = peers.len();
    let of = if n > 1 {
        format!(" of {n}")
    } else {
        String::new()
    };
    let mut s = format!(
        "# generals node config for general {id}{of}, written by `{by}`.\n\
         #\n\
         # id                this node's id: its index in [[peers]]\n\
         # listen            IP:port to bind; same port as this node's [[peers]] entry\n\
         # key_file          this node's secret key (mode 0600); relative to this file\n\
         # data_dir          where the node keeps its state; relative to this file\n\
         # round_timeout_ms  Δ: how long a round waits for a silent peer (1..=600000)\n\
         # round_work_factor each round also waits this many times the CPU work it\n\
         #                   needs, measured at start-up (0..=10000); about the number\n\
         #                   of daemons sharing one core, with a margin\n\
         # work_ps_per_*     optional: fix the per-unit costs (eig_value, byte,\n\
         #                   signature) in picoseconds instead of measuring them\n\
         # max_frame_bytes   largest frame sent or accepted (1024..=1073741824); the\n\
         #                   same on every node\n\
         # send_queue_frames bound of each peer's send queue, in frames (>= 1)\n\
         # max_future_frames accepted and ignored since wire version 2 (>= 1)\n\
         # max_instances     undecided instances at once; each commander gets an equal\n\
         #                   share (>= 1); the same on every node\n\
         # log               tracing filter, e.g. \"info\" or \"generals=debug\"\n\
         # log_format        absent: \"plain\"; or \"json\", one object per line\n\
         # [metrics]         absent: no endpoint; listen = \"127.0.0.1:9464\" serves\n\
         #                   Prometheus /metrics and /healthz there\n\
         # [[peers]]         every general, this one included: id (exactly 0..n-1),\n\
         #                   addr (IP:port), pubkey (64 hex digits, `generals keygen`)\n\
         # [fault]           absent: traitor behaviour for tests, honoured only with\n\
         #                   --allow-faults (strategy, targets, seed, delay_ms)\n\
         #\n\
         # Scalar keys can be overridden from the environment, e.g.\n\
         # GENERALS_ROUND_TIMEOUT_MS=500, GENERALS_LOG=debug, GENERALS_FAULT__STRATEGY=silent.\n\
         \n\
         id = {id}\n\
         listen = {listen}\n\
         key_file = {key_file}\n\
         data_dir = {data_dir}\n\
         round_timeout_ms = {round_timeout_ms}\n\
         round_work_factor = {DEFAULT_ROUND_WORK_FACTOR}\n\
         max_frame_bytes = {DEFAULT_MAX_FRAME_BYTES}\n\
         send_queue_frames = {DEFAULT_SEND_QUEUE_FRAMES}\n\
         max_future_frames = {DEFAULT_MAX_FUTURE_FRAMES}\n\
         max_instances = {DEFAULT_MAX_INSTANCES}\n\
         log = {log}\n",
        id = me.id,
        listen = toml_str(&me.addr.to_string()),
        key_file = toml_str(DEFAULT_KEY_FILE),
        data_dir = toml_str(DEFAULT_DATA_DIR),
        log = toml_str(DEFAULT_LOG),
    );
    if let Some(w) = work_ps {
        // Clamped, so that a very slow machine still writes a valid file.
        let max = crate::node::MAX_WORK_PS.unsigned_abs();
        let _ = write!(
            s,
            "# measured by `generals testnet`; the same on every node\n\
             work_ps_per_eig_value = {}\nwork_ps_per_byte = {}\nwork_ps_per_signature = {}\n",
            w.eig_value.min(max),
            w.byte.min(max),
            w.signature.min(max),
        );
    }
    for p in peers {
        // Writing to a String cannot fail.
        let _ = write!(
            s,
            "\n[[peers]]\nid = {}\naddr = {}\npubkey = {}\n",
            p.id,
            toml_str(&p.addr.to_string()),
            toml_str(&p.pubkey.to_string())
        );
    }
    s
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
