//! Every way a config can be refused. Each message names the file (or the
//! environment variable), the key, the problem and the fix, because the reader
//! is an operator looking at a daemon that would not start.

use std::fmt::Display;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use generals_crypto::{KeyFileError, NodeId};

use crate::FaultStrategy;

/// Where a bad value came from, so the operator fixes the right place: the
/// file ("config file F: `key` = V"), or an environment override, named
/// first ("environment variable VAR=V (overriding `key` of config file F)").
fn origin(path: &Path, key: &str, env: &Option<String>, value: Option<&dyn Display>) -> String {
    let path = path.display();
    match (env, value) {
        (Some(var), Some(v)) => {
            format!("environment variable {var}={v} (overriding `{key}` of config file {path})")
        }
        (Some(var), None) => {
            format!("environment variable {var} (overriding `{key}` of config file {path})")
        }
        (None, Some(v)) => format!("config file {path}: `{key}` = {v}"),
        (None, None) => format!("config file {path}: `{key}`"),
    }
}

/// `value` as the file or the shell spells it: a string quoted.
fn quoted(value: &str) -> String {
    format!("{value:?}")
}

fn did_you_mean(nearest: &Option<String>) -> String {
    nearest
        .as_ref()
        .map(|n| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default()
}

/// "from 1 to 600000", or "of at least 1" when only the minimum matters.
fn range(min: &i64, max: &i64) -> String {
    if *max == i64::MAX {
        format!("of at least {min}")
    } else {
        format!("from {min} to {max}")
    }
}

/// The port an address example uses: the metrics endpoint's own, or a
/// peer port, so that following the example does not make a clash.
fn example_port(key: &str) -> u16 {
    if key.starts_with("metrics") {
        9464
    } else {
        7000
    }
}

/// The largest id among `n` peers.
fn last(n: &usize) -> usize {
    n.saturating_sub(1)
}

/// The fix for a config file that cannot be read. Permission denied is the
/// usual case for the CLI: the installed file is root:generals 0640.
fn read_fix(source: &io::Error) -> &'static str {
    match source.kind() {
        io::ErrorKind::PermissionDenied => {
            "this user may not read it: run the command as the node's user (e.g. \
             `sudo -u generals generals ...`) or as root, or fix the file's owner and mode \
             (root:generals 0640 when installed)"
        }
        _ => "check the path and its permissions, or write a new one with `generals testnet`",
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}; {}", read_fix(.source))]
    Read { path: PathBuf, source: io::Error },

    #[error("config file {path} is not valid TOML: {message}\nfix the syntax at the line and column shown above")]
    Syntax { path: PathBuf, message: String },

    #[error(
        "config file {path}: required key `{key}` is missing; add it, e.g. `{}`",
        crate::node::example(.key, None)
    )]
    MissingKey { path: PathBuf, key: String },

    #[error(
        "{vars} set a [fault] field for {path}, but no strategy is given; a [fault] section makes this node a \
         traitor: unset {vars}, or also set GENERALS_FAULT__STRATEGY (tests and demonstrations only)"
    )]
    FaultWithoutStrategy { path: PathBuf, vars: String },

    #[error(
        "config file {path}: unknown key `{key}`{}; remove it or fix its spelling (valid keys here: {valid})",
        did_you_mean(.nearest)
    )]
    UnknownKey {
        path: PathBuf,
        key: String,
        nearest: Option<String>,
        valid: String,
    },

    #[error(
        "{}: {problem}; write it like `{}`",
        origin(.path, .key, .env, None), crate::node::example(.key, .env.as_deref())
    )]
    Type {
        path: PathBuf,
        key: String,
        env: Option<String>,
        problem: String,
    },

    #[error(
        "{} is out of range; use a value {}",
        origin(.path, .key, .env, Some(.value)), range(.min, .max)
    )]
    OutOfRange {
        path: PathBuf,
        key: String,
        env: Option<String>,
        value: i64,
        min: i64,
        max: i64,
    },

    #[error("{} {problem}; {fix}", origin(.path, .key, .env, None))]
    Invalid {
        path: PathBuf,
        key: String,
        env: Option<String>,
        problem: String,
        fix: String,
    },

    #[error(
        "{} is not an IP address and port ({reason}); \
         write it like \"127.0.0.1:{port}\" or \"[::1]:{port}\" (host names are not accepted)",
        origin(.path, .key, .env, Some(&quoted(.value))),
        port = example_port(.key)
    )]
    BadAddress {
        path: PathBuf,
        key: String,
        env: Option<String>,
        value: String,
        reason: String,
    },

    #[error(
        "config file {path}: `{key}` (peer id {id}) is not a valid public key ({reason}); \
         a public key is 64 hexadecimal digits, printed by `generals keygen`"
    )]
    BadPubkey {
        path: PathBuf,
        key: String,
        id: NodeId,
        reason: String,
    },

    #[error(
        "config file {path}: `peers` lists {n} general(s), but a cluster has \
         {min} to {max}; {fix}",
        min = crate::MIN_GENERALS,
        max = crate::MAX_GENERALS
    )]
    PeerCount {
        path: PathBuf,
        n: usize,
        fix: &'static str,
    },

    #[error(
        "config file {path}: `peers` has two entries with id {id}; peer ids must be exactly \
         0..n-1, each once: renumber or remove the duplicate [[peers]] entry"
    )]
    DuplicatePeerId { path: PathBuf, id: i64 },

    #[error(
        "config file {path}: `peers` has {n} entries but none with id {id} (ids found: {found}); \
         peer ids must be exactly 0 to {}: add general {id} or renumber the [[peers]] entries",
        last(.n)
    )]
    MissingPeerId {
        path: PathBuf,
        id: u16,
        n: usize,
        found: String,
    },

    #[error(
        "{} is not among the {n} peers (ids 0 to {}); \
         set `id` to this node's id in [[peers]]",
        origin(.path, "id", .env, Some(.id)), last(.n)
    )]
    SelfNotInPeers {
        path: PathBuf,
        id: i64,
        n: usize,
        env: Option<String>,
    },

    #[error(
        "{} uses port {}, but this node's own \
         [[peers]] entry (id {id}) has `addr` = {addr} (port {}); the other generals dial that address, \
         so make the two ports equal",
        origin(.path, "listen", .env, Some(.listen)), .listen.port(), .addr.port()
    )]
    ListenPortMismatch {
        path: PathBuf,
        id: NodeId,
        listen: SocketAddr,
        addr: SocketAddr,
        env: Option<String>,
    },

    #[error(
        "config file {path}: `pubkey` of peers {first} and {second} is the same key; every \
         general needs its own: run `generals keygen` for one of them and update its `pubkey`"
    )]
    DuplicatePubkey {
        path: PathBuf,
        first: NodeId,
        second: NodeId,
    },

    #[error(
        "config file {path}: `addr` of peers {first} and {second} is the same address {addr}; \
         every general needs its own: give one of them another IP or port (and its `listen` the same port)"
    )]
    DuplicatePeerAddr {
        path: PathBuf,
        first: NodeId,
        second: NodeId,
        addr: SocketAddr,
    },

    #[error(
        "config file {path}: `peers[{id}].pubkey` is {listed}, but `key_file` {key_file} holds the key \
         of {actual}; point `key_file` at node {id}'s key, or, if this is node {id}'s new key, put its \
         public key in `peers[{id}].pubkey` of every config (`generals keygen --show {key_file}` prints it)"
    )]
    KeyMismatch {
        path: PathBuf,
        id: NodeId,
        key_file: PathBuf,
        /// Public keys as hex (a `PublicKey` would make every error large).
        listed: String,
        actual: String,
    },

    #[error(
        "config file {path}: `{key}` is {ours}, but config file {other} has {theirs}; every host \
         must list the same generals with the same addresses and keys: copy one [[peers]] table to \
         every config"
    )]
    PeersDisagree {
        path: PathBuf,
        other: PathBuf,
        key: String,
        ours: String,
        theirs: String,
    },

    #[error(
        "{} is not a fault strategy; use one of: {names} \
         (`generals simulate --help` says what each does)",
        origin(.path, "fault.strategy", .env, Some(&quoted(.value))), names = FaultStrategy::names()
    )]
    UnknownStrategy {
        path: PathBuf,
        value: String,
        env: Option<String>,
    },

    #[error(
        "config file {path}: `fault.targets` names {id}, which is not a peer id (0 to {}); \
         list only ids from [[peers]]",
        last(.n)
    )]
    BadFaultTarget { path: PathBuf, id: i64, n: usize },

    #[error(
        "environment variable {var}: `{key}` cannot be set from the environment; \
         unset {var} and edit `{key}` in the config file"
    )]
    EnvNotOverridable { var: String, key: String },

    #[error(
        "environment variable {var} is not a generals setting; did you mean {nearest}? \
         Rename or unset {var}"
    )]
    UnknownEnv { var: String, nearest: String },

    #[error("environment variable {var} is not valid UTF-8; set it to a UTF-8 value or unset it")]
    EnvNotUnicode { var: String },

    #[error("config file {path}: {message}; fix the key named above")]
    Other { path: PathBuf, message: String },

    #[error("testnet: {option} {problem}; {fix}")]
    TestnetOption {
        option: &'static str,
        problem: String,
        fix: String,
    },

    #[error(
        "testnet: {dir} already holds a node (node.key or config.toml); refusing to \
         overwrite it: choose another --out or delete {dir}"
    )]
    TestnetExists { dir: PathBuf },

    #[error(
        "init: {path} already exists; refusing to overwrite it: choose another --home, \
         or move {path} away if it is not needed"
    )]
    InitExists { path: PathBuf },

    #[error("cannot write {path}: {source}; check that the directory exists and is writable")]
    Write { path: PathBuf, source: io::Error },

    #[error(transparent)]
    Key(#[from] KeyFileError),
}
