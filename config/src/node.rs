//! Loading and validating a node's config file.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Environment, File, FileFormat, Source, Value, ValueKind};
use generals_crypto::{NodeId, PublicKey, PublicKeyError};
use serde::Deserialize;

use crate::{ConfigError, FaultConfig, FaultStrategy, HostView, Rejected};

/// Environment variables that override config keys start with this.
pub const ENV_PREFIX: &str = "GENERALS_";
pub const MIN_GENERALS: usize = 2;
pub const MAX_GENERALS: usize = 128;
pub const DEFAULT_KEY_FILE: &str = "node.key";
pub const DEFAULT_DATA_DIR: &str = "data";
pub const DEFAULT_ROUND_TIMEOUT_MS: u64 = 1000;
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 << 20;
pub const DEFAULT_SEND_QUEUE_FRAMES: usize = 1024;
pub const DEFAULT_MAX_FUTURE_FRAMES: usize = 4096;
pub const DEFAULT_MAX_INSTANCES: usize = 256;
pub const DEFAULT_LOG: &str = "info";

/// How the daemon writes its log lines (`log_format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    pub const ALL: [LogFormat; 2] = [LogFormat::Plain, LogFormat::Json];

    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Plain => "plain",
            LogFormat::Json => "json",
        }
    }
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
pub(crate) const MAX_ROUND_TIMEOUT_MS: i64 = 600_000;
/// How many times one daemon's single-core work a round may wait for. 64:
/// 22 daemons on 2 cores do 11 daemons' work per core at once, their trees
/// no longer fit in the caches the start-up measurement ran in: OM(7) at
/// n = 22 was measured to need 15 to 31 times; 64 leaves twice that
/// (docs/BENCHMARKS.md, section f).
pub const DEFAULT_ROUND_WORK_FACTOR: u32 = 64;
pub(crate) const MAX_ROUND_WORK_FACTOR: i64 = 10_000;
/// 1 ms, for any unit: far above what any machine takes, low enough that a
/// deadline cannot overflow.
pub(crate) const MAX_WORK_PS: i64 = 1_000_000_000;

/// Every key the file may hold, with the example that error messages suggest.
/// `peers.*` and `fault.*` are the keys inside those tables.
const KEYS: &[(&str, &str)] = &[
    ("id", "0"),
    ("listen", "\"127.0.0.1:7000\""),
    ("key_file", "\"node.key\""),
    ("data_dir", "\"data\""),
    ("round_timeout_ms", "1000"),
    ("round_work_factor", "64"),
    ("work_ps_per_eig_value", "2000"),
    ("work_ps_per_byte", "500"),
    ("work_ps_per_signature", "40000000"),
    ("max_frame_bytes", "16777216"),
    ("send_queue_frames", "1024"),
    ("max_future_frames", "4096"),
    ("max_instances", "256"),
    ("log", "\"info\""),
    ("log_format", "\"plain\""),
    (
        "peers",
        "[[peers]] (one per general, this node included) with id = 0, \
         addr = \"127.0.0.1:7000\", pubkey = \"<64 hex digits>\"",
    ),
    ("fault", "[fault] with strategy = \"silent\""),
    ("metrics", "[metrics] with listen = \"127.0.0.1:9464\""),
    ("peers.id", "0"),
    ("peers.addr", "\"127.0.0.1:7000\""),
    ("peers.pubkey", "\"<64 hex digits from generals keygen>\""),
    ("fault.strategy", "\"silent\""),
    ("fault.targets", "[2, 3]"),
    ("fault.seed", "1"),
    ("fault.delay_ms", "0"),
    ("metrics.listen", "\"127.0.0.1:9464\""),
];

/// The keys that hold integers (`fault.targets` holds a list of them).
const INT_KEYS: &[&str] = &[
    "id",
    "round_timeout_ms",
    "round_work_factor",
    "work_ps_per_eig_value",
    "work_ps_per_byte",
    "work_ps_per_signature",
    "max_frame_bytes",
    "send_queue_frames",
    "max_future_frames",
    "max_instances",
    "peers.id",
    "fault.seed",
    "fault.delay_ms",
];

/// The keys an environment variable may set: scalars only, because a list of
/// tables has no sane spelling as `GENERALS_*` variables.
const ENV_KEYS: &[&str] = &[
    "id",
    "listen",
    "key_file",
    "data_dir",
    "round_timeout_ms",
    "round_work_factor",
    "work_ps_per_eig_value",
    "work_ps_per_byte",
    "work_ps_per_signature",
    "max_frame_bytes",
    "send_queue_frames",
    "max_future_frames",
    "max_instances",
    "log",
    "log_format",
    "fault.strategy",
    "fault.seed",
    "fault.delay_ms",
    "metrics.listen",
];

/// One general as every config lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    pub id: NodeId,
    pub addr: SocketAddr,
    pub pubkey: PublicKey,
}

/// A validated node config. `peers` is sorted by id, so `peers[i].id == i`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NodeConfig {
    /// The file this was loaded from.
    pub file: PathBuf,
    pub id: NodeId,
    pub listen: SocketAddr,
    /// `key_file`, resolved against the config file's directory.
    pub key_file: PathBuf,
    /// `data_dir`, resolved against the config file's directory.
    pub data_dir: PathBuf,
    pub round_timeout_ms: u64,
    /// How many times its single-core work each round may wait for, on top
    /// of Δ (the daemons sharing a core, with a margin).
    pub round_work_factor: u32,
    /// Fixed per-unit costs in picoseconds; `None`: measured at start-up.
    pub work_ps_per_eig_value: Option<u64>,
    pub work_ps_per_byte: Option<u64>,
    pub work_ps_per_signature: Option<u64>,
    pub max_frame_bytes: usize,
    pub send_queue_frames: usize,
    pub max_future_frames: usize,
    pub max_instances: usize,
    pub log: String,
    pub log_format: LogFormat,
    pub peers: Vec<PeerConfig>,
    pub fault: Option<FaultConfig>,
    /// `[metrics] listen`: where the Prometheus endpoint listens; `None`
    /// (no `[metrics]` table), no endpoint.
    pub metrics_listen: Option<SocketAddr>,
    /// The keys a `GENERALS_*` variable set, and the variable: what the
    /// daemon names when such a value is refused later (`fault.strategy` →
    /// `GENERALS_FAULT__STRATEGY`).
    pub overrides: BTreeMap<String, String>,
}

impl NodeConfig {
    /// The environment variable that set `key`, if one did.
    pub fn env_var_of(&self, key: &str) -> Option<&str> {
        self.overrides.get(key).map(String::as_str)
    }

    /// Loads `path` with overrides from the process environment.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        NodeConfig::load_with_env(path, process_env()?)
    }

    /// Loads `path` with overrides from `env` instead of the process
    /// environment. Variables without the `GENERALS_` prefix are ignored, and so
    /// are prefixed ones that are neither a setting nor close to one (they may
    /// belong to the CLI).
    pub fn load_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<NodeConfig, ConfigError> {
        NodeConfig::check_with_env(path, env).map_err(|r| {
            r.problems
                .into_iter()
                .next()
                .unwrap_or_else(|| ConfigError::Other {
                    path: path.to_owned(),
                    message: "invalid config".to_owned(),
                })
        })
    }

    /// Like [`NodeConfig::load`], but a file that cannot be used returns
    /// every problem found in it rather than the first, and what it still
    /// says about this host. A file that cannot be read or parsed, a value
    /// of the wrong type, or a bad variable, is one problem.
    pub fn check(path: &Path) -> Result<NodeConfig, Rejected> {
        NodeConfig::check_with_env(path, process_env().map_err(|e| Rejected::only(path, e))?)
    }

    /// [`NodeConfig::check`] with overrides from `env`.
    pub fn check_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<NodeConfig, Rejected> {
        let one = |e| Rejected::only(path, e);
        let text = fs::read_to_string(path).map_err(|source| {
            one(ConfigError::Read {
                path: path.to_owned(),
                source,
            })
        })?;
        let overrides = EnvOverrides::collect(env).map_err(one)?;
        let ctx = Ctx {
            path,
            env: &overrides.by_key,
        };
        let merged = config::Config::builder()
            .add_source(File::from_str(&text, FileFormat::Toml))
            .add_source(
                Environment::with_prefix(ENV_PREFIX.trim_end_matches('_'))
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    .source(Some(overrides.vars)),
            )
            .build()
            .map_err(|e| match e {
                config::ConfigError::FileParse { cause, .. } => ConfigError::Syntax {
                    path: path.to_owned(),
                    message: cause.to_string(),
                },
                other => ctx.other(other),
            })
            .map_err(one)?;
        let top = merged.collect().map_err(|e| one(ctx.other(e)))?;
        ctx.check_shape(&top).map_err(|problems| Rejected {
            problems,
            host: Box::new(HostView::unknown(path)),
        })?;
        let raw: RawConfig = merged.try_deserialize().map_err(|e| one(ctx.de_error(e)))?;
        ctx.validate(raw)
    }

    /// Δ: how long a round waits for a peer's frame.
    pub fn round_timeout(&self) -> Duration {
        Duration::from_millis(self.round_timeout_ms)
    }

    /// The number of generals, this one included.
    pub fn n(&self) -> usize {
        self.peers.len()
    }

    pub fn peer(&self, id: NodeId) -> Option<&PeerConfig> {
        self.peers.get(id.index())
    }

    /// Every general's public key, indexed by id.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        self.peers.iter().map(|p| p.pubkey).collect()
    }

    pub fn key_path(&self) -> &Path {
        &self.key_file
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

/// The file as written, every field optional so that a missing key gets our
/// message rather than serde's.
#[derive(Deserialize)]
struct RawConfig {
    id: Option<i64>,
    listen: Option<String>,
    key_file: Option<String>,
    data_dir: Option<String>,
    round_timeout_ms: Option<i64>,
    round_work_factor: Option<i64>,
    work_ps_per_eig_value: Option<i64>,
    work_ps_per_byte: Option<i64>,
    work_ps_per_signature: Option<i64>,
    max_frame_bytes: Option<i64>,
    send_queue_frames: Option<i64>,
    max_future_frames: Option<i64>,
    max_instances: Option<i64>,
    log: Option<String>,
    log_format: Option<String>,
    peers: Option<Vec<RawPeer>>,
    fault: Option<RawFault>,
    metrics: Option<RawMetrics>,
}

#[derive(Deserialize)]
struct RawMetrics {
    listen: Option<String>,
}

#[derive(Deserialize)]
struct RawPeer {
    id: Option<i64>,
    addr: Option<String>,
    pubkey: Option<String>,
}

#[derive(Deserialize)]
struct RawFault {
    strategy: Option<String>,
    targets: Option<Vec<i64>>,
    seed: Option<i64>,
    delay_ms: Option<i64>,
}

/// The process's `GENERALS_*` variables.
fn process_env() -> Result<Vec<(String, String)>, ConfigError> {
    let mut env = Vec::new();
    for (var, value) in std::env::vars_os() {
        // A variable whose name is not Unicode cannot be one of ours.
        let Ok(var) = var.into_string() else { continue };
        if strip_env_prefix(&var).is_none() {
            continue;
        }
        match value.into_string() {
            Ok(value) => env.push((var, value)),
            Err(_) => return Err(ConfigError::EnvNotUnicode { var }),
        }
    }
    Ok(env)
}

fn strip_env_prefix(var: &str) -> Option<&str> {
    let head = var.get(..ENV_PREFIX.len())?;
    head.eq_ignore_ascii_case(ENV_PREFIX)
        .then(|| &var[ENV_PREFIX.len()..])
}

fn env_var_for(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

/// The `GENERALS_*` variables that name a setting, checked before the config
/// crate sees them so that `peers` cannot be clobbered by a stray variable.
struct EnvOverrides {
    vars: config::Map<String, String>,
    /// config key ("fault.seed") -> variable name, for error messages.
    by_key: HashMap<String, String>,
}

impl EnvOverrides {
    fn collect(env: impl IntoIterator<Item = (String, String)>) -> Result<Self, ConfigError> {
        let mut out = EnvOverrides {
            vars: config::Map::new(),
            by_key: HashMap::new(),
        };
        for (var, value) in env {
            let Some(rest) = strip_env_prefix(&var) else {
                continue;
            };
            // The same mapping the config crate applies: lower case, `__` nests.
            let key = rest.to_ascii_lowercase().replace("__", ".");
            if ENV_KEYS.contains(&key.as_str()) {
                out.by_key.insert(key, var.clone());
                out.vars.insert(var, value);
            } else if key == "peers"
                || key.starts_with("peers.")
                || key == "fault"
                || key == "fault.targets"
            {
                let key = if key.starts_with("peers") {
                    "peers".to_owned()
                } else {
                    key
                };
                return Err(ConfigError::EnvNotOverridable { var, key });
            } else if let Some(near) = nearest(&key, ENV_KEYS.iter().copied(), typo_budget(&key))
                .or_else(|| truncated_or_extended(&key))
                .or_else(|| {
                    // Anything under FAULT__ is meant for us, however far off.
                    let fault_keys = ENV_KEYS.iter().copied().filter(|k| k.starts_with("fault."));
                    key.starts_with("fault.")
                        .then(|| nearest(&key, fault_keys, usize::MAX))
                        .flatten()
                })
            {
                return Err(ConfigError::UnknownEnv {
                    nearest: env_var_for(near),
                    var,
                });
            }
        }
        Ok(out)
    }
}

/// How far a `GENERALS_*` name may be from a setting to count as its typo.
/// Short names get one edit, so that a CLI variable such as `GENERALS_DIR`
/// is not mistaken for `GENERALS_ID`.
fn typo_budget(key: &str) -> usize {
    if key.len() <= 4 {
        1
    } else {
        2
    }
}

/// A setting that `key` cuts short or runs past, such as `round_timeout`
/// for `round_timeout_ms` or `listen_addr` for `listen`. Names shorter than
/// four letters are left alone (`GENERALS_LOG_FILE` is not `log`).
fn truncated_or_extended(key: &str) -> Option<&'static str> {
    ENV_KEYS.iter().copied().find(|k| {
        let (short, long) = if k.len() < key.len() {
            (*k, key)
        } else {
            (key, *k)
        };
        short.len() >= 4
            && short != long
            && long.starts_with(short)
            && long[short.len()..].starts_with('_')
    })
}

/// The closest candidate within `max` single-character edits.
fn nearest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
    max: usize,
) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(d, _)| d <= max)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The problems found so far, so that a check can go on after one.
#[derive(Default)]
struct Problems(Vec<ConfigError>);

impl Problems {
    fn push(&mut self, e: ConfigError) {
        self.0.push(e);
    }

    /// The value, or `None` with its problem kept.
    fn keep<T>(&mut self, r: Result<T, ConfigError>) -> Option<T> {
        r.map_err(|e| self.push(e)).ok()
    }

    /// The value, or `fallback` with its problem kept.
    fn or<T>(&mut self, r: Result<T, ConfigError>, fallback: T) -> T {
        self.keep(r).unwrap_or(fallback)
    }
}

/// What every check needs to build its error.
struct Ctx<'a> {
    path: &'a Path,
    env: &'a HashMap<String, String>,
}

impl Ctx<'_> {
    fn env_of(&self, key: &str) -> Option<String> {
        self.env.get(key).cloned()
    }

    fn other(&self, e: config::ConfigError) -> ConfigError {
        ConfigError::Other {
            path: self.path.to_owned(),
            message: e.to_string(),
        }
    }

    fn missing(&self, key: &str) -> ConfigError {
        ConfigError::MissingKey {
            path: self.path.to_owned(),
            key: key.to_owned(),
        }
    }

    /// Rejects keys we do not know at the top level, in `[fault]` and in each
    /// `[[peers]]` entry, so that a typo is an error rather than a default;
    /// and integers written as floats or booleans, which the config crate
    /// would silently round or turn into 0 and 1.
    fn check_shape(&self, top: &config::Map<String, Value>) -> Result<(), Vec<ConfigError>> {
        let mut found = Vec::new();
        let known = |prefix: &str| -> Vec<&'static str> {
            KEYS.iter()
                .filter_map(|(k, _)| match k.split_once('.') {
                    Some((p, rest)) if p == prefix => Some(rest),
                    None if prefix.is_empty() => Some(*k),
                    _ => None,
                })
                .collect()
        };
        let mut check = |table: &config::Map<String, Value>, prefix: &str, shown: &str| {
            let valid = known(prefix);
            let mut entries: Vec<(&String, &Value)> = table.iter().collect();
            entries.sort_by_key(|(k, _)| *k);
            for (k, v) in entries {
                if !valid.contains(&k.as_str()) {
                    found.push(ConfigError::UnknownKey {
                        path: self.path.to_owned(),
                        key: format!("{shown}{k}"),
                        nearest: nearest(k, valid.iter().copied(), 3)
                            .map(|n| format!("{shown}{n}")),
                        valid: valid.join(", "),
                    });
                    continue;
                }
                let generic = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                let items = match &v.kind {
                    ValueKind::Array(items) if generic == "fault.targets" => items.iter().collect(),
                    _ if INT_KEYS.contains(&generic.as_str()) => vec![v],
                    _ => vec![],
                };
                if let Some(bad) = items
                    .into_iter()
                    .find(|i| matches!(i.kind, ValueKind::Float(_) | ValueKind::Boolean(_)))
                {
                    found.push(self.type_error(
                        &format!("{shown}{k}"),
                        format!("expected a whole number, found {bad}"),
                    ));
                }
            }
        };
        check(top, "", "");
        if let Some(ValueKind::Table(fault)) = top.get("fault").map(|v| &v.kind) {
            check(fault, "fault", "fault.");
        }
        if let Some(ValueKind::Table(metrics)) = top.get("metrics").map(|v| &v.kind) {
            check(metrics, "metrics", "metrics.");
        }
        if let Some(ValueKind::Array(peers)) = top.get("peers").map(|v| &v.kind) {
            for (i, peer) in peers.iter().enumerate() {
                if let ValueKind::Table(t) = &peer.kind {
                    check(t, "peers", &format!("peers[{i}]."));
                }
            }
        }
        if found.is_empty() {
            Ok(())
        } else {
            Err(found)
        }
    }

    /// Turns the config crate's type errors into ours, which name the
    /// environment variable when one set the value.
    fn de_error(&self, e: config::ConfigError) -> ConfigError {
        let (key, problem) = match e {
            config::ConfigError::Type {
                unexpected,
                expected,
                key: Some(key),
                ..
            } => (key, format!("expected {expected}, found {unexpected}")),
            // serde's own errors (a table where a list belongs, ...) arrive
            // as a message with the key attached.
            config::ConfigError::At {
                error,
                key: Some(key),
                ..
            } => (
                key,
                error
                    .to_string()
                    .replace("struct RawFault", "a [fault] table")
                    .replace("struct RawMetrics", "a [metrics] table")
                    .replace("struct RawPeer", "a [[peers]] table"),
            ),
            other => return self.other(other),
        };
        self.type_error(&dotted(&key), problem)
    }

    fn type_error(&self, key: &str, problem: String) -> ConfigError {
        ConfigError::Type {
            path: self.path.to_owned(),
            key: key.to_owned(),
            env: self.env_of(key),
            problem,
        }
    }

    /// An integer key with a default, checked against `min..=max` and
    /// converted to the type the daemon uses.
    fn ranged<T: TryFrom<i64>>(
        &self,
        key: &str,
        raw: Option<i64>,
        default: T,
        min: i64,
        max: i64,
    ) -> Result<T, ConfigError> {
        let Some(value) = raw else {
            return Ok(default);
        };
        let out_of_range = || ConfigError::OutOfRange {
            path: self.path.to_owned(),
            key: key.to_owned(),
            env: self.env_of(key),
            value,
            min,
            max,
        };
        if !(min..=max).contains(&value) {
            return Err(out_of_range());
        }
        T::try_from(value).map_err(|_| out_of_range())
    }

    fn addr(&self, key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
        let bad = |reason: String| ConfigError::BadAddress {
            path: self.path.to_owned(),
            key: key.to_owned(),
            env: self.env_of(key),
            value: value.to_owned(),
            reason,
        };
        let addr: SocketAddr = value.parse().map_err(|e| bad(format!("{e}")))?;
        // Port 0 means "any port" to bind(), which no peer could dial.
        if addr.port() == 0 {
            return Err(bad("port 0 cannot be dialled".to_owned()));
        }
        Ok(addr)
    }

    /// A path key: relative paths are relative to the config file, so a node
    /// directory can be moved as a whole.
    fn path_key(
        &self,
        key: &str,
        raw: Option<String>,
        default: &str,
    ) -> Result<PathBuf, ConfigError> {
        let value = raw.unwrap_or_else(|| default.to_owned());
        if value.trim().is_empty() {
            return Err(self.empty(key, default));
        }
        let file = std::path::absolute(self.path).map_err(|source| ConfigError::Read {
            path: self.path.to_owned(),
            source,
        })?;
        let dir = file.parent().unwrap_or(Path::new("/"));
        Ok(dir.join(value))
    }

    fn empty(&self, key: &str, default: &str) -> ConfigError {
        let env = self.env_of(key);
        let remove = match &env {
            Some(var) => format!("unset {var}"),
            None => "remove it".to_owned(),
        };
        ConfigError::Invalid {
            path: self.path.to_owned(),
            key: key.to_owned(),
            env,
            problem: "is empty".to_owned(),
            fix: format!("{remove} to get the default {default:?}, or set a value"),
        }
    }

    fn log_format(&self, raw: Option<String>) -> Result<LogFormat, ConfigError> {
        let Some(name) = raw else {
            return Ok(LogFormat::default());
        };
        LogFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .ok_or_else(|| ConfigError::Invalid {
                path: self.path.to_owned(),
                key: "log_format".to_owned(),
                env: self.env_of("log_format"),
                problem: format!("is {name:?}, which is not a log format"),
                fix: "set it to \"plain\" (the default) or \"json\"".to_owned(),
            })
    }

    /// Checks every key and returns the config, or every problem found (in
    /// the order of the keys), not just the first.
    fn validate(&self, raw: RawConfig) -> Result<NodeConfig, Rejected> {
        let mut found = Problems::default();
        let p = &mut found;
        let id = p.keep(raw.id.ok_or_else(|| self.missing("id")));
        let listen = p.keep(raw.listen.ok_or_else(|| self.missing("listen")));
        let raw_peers = p.keep(raw.peers.ok_or_else(|| self.missing("peers")));

        let round_timeout_ms = p.or(
            self.ranged(
                "round_timeout_ms",
                raw.round_timeout_ms,
                DEFAULT_ROUND_TIMEOUT_MS,
                1,
                MAX_ROUND_TIMEOUT_MS,
            ),
            DEFAULT_ROUND_TIMEOUT_MS,
        );
        let round_work_factor = p.or(
            self.ranged(
                "round_work_factor",
                raw.round_work_factor,
                DEFAULT_ROUND_WORK_FACTOR,
                0,
                MAX_ROUND_WORK_FACTOR,
            ),
            DEFAULT_ROUND_WORK_FACTOR,
        );
        let mut cost = |key: &str, raw: Option<i64>| {
            p.or(
                raw.map(|v| self.ranged(key, Some(v), 0, 0, MAX_WORK_PS))
                    .transpose(),
                None,
            )
        };
        let work_ps_per_eig_value = cost("work_ps_per_eig_value", raw.work_ps_per_eig_value);
        let work_ps_per_byte = cost("work_ps_per_byte", raw.work_ps_per_byte);
        let work_ps_per_signature = cost("work_ps_per_signature", raw.work_ps_per_signature);
        let max_frame_bytes = p.or(
            self.ranged(
                "max_frame_bytes",
                raw.max_frame_bytes,
                DEFAULT_MAX_FRAME_BYTES,
                1024,
                1 << 30,
            ),
            DEFAULT_MAX_FRAME_BYTES,
        );
        let mut at_least_one = |key: &str, raw: Option<i64>, default: usize| {
            p.or(self.ranged(key, raw, default, 1, i64::MAX), default)
        };
        let send_queue_frames = at_least_one(
            "send_queue_frames",
            raw.send_queue_frames,
            DEFAULT_SEND_QUEUE_FRAMES,
        );
        let max_future_frames = at_least_one(
            "max_future_frames",
            raw.max_future_frames,
            DEFAULT_MAX_FUTURE_FRAMES,
        );
        let max_instances = at_least_one("max_instances", raw.max_instances, DEFAULT_MAX_INSTANCES);
        let log = raw.log.unwrap_or_else(|| DEFAULT_LOG.to_owned());
        if log.trim().is_empty() {
            p.push(self.empty("log", DEFAULT_LOG));
        }
        let log_format = p.or(self.log_format(raw.log_format), LogFormat::default());
        let key_file = p.keep(self.path_key("key_file", raw.key_file, DEFAULT_KEY_FILE));
        let data_dir = p.keep(self.path_key("data_dir", raw.data_dir, DEFAULT_DATA_DIR));
        let listen = listen.and_then(|l| p.keep(self.addr("listen", &l)));

        let (valid_peers, peers_ok) = raw_peers.map_or((Vec::new(), false), |r| self.peers(r, p));
        // What this host can still be checked against when the file is not valid.
        let host = |found: Vec<ConfigError>| {
            let id = id.and_then(|i| u16::try_from(i).ok()).map(NodeId);
            let own = valid_peers.iter().find(|p| Some(p.id) == id);
            Rejected {
                problems: found,
                host: Box::new(HostView {
                    file: self.path.to_owned(),
                    id,
                    key_file: key_file.clone(),
                    data_dir: data_dir.clone(),
                    listed: own.map(|p| p.pubkey),
                    addr: own.map(|p| p.addr),
                    overrides: self.overrides(),
                }),
            }
        };
        let peers = peers_ok.then(|| valid_peers.clone());
        let n = peers.as_ref().map_or(0, Vec::len);
        let me = match (id, &peers) {
            (Some(id), Some(peers)) => {
                let me = usize::try_from(id).ok().and_then(|i| peers.get(i));
                if me.is_none() {
                    p.push(ConfigError::SelfNotInPeers {
                        path: self.path.to_owned(),
                        id,
                        n,
                        env: self.env_of("id"),
                    });
                }
                me.map(|m| (m.id, m.addr))
            }
            _ => None,
        };
        if let (Some((my_id, my_addr)), Some(listen)) = (me, listen) {
            if my_addr.port() != listen.port() {
                p.push(ConfigError::ListenPortMismatch {
                    path: self.path.to_owned(),
                    id: my_id,
                    listen,
                    addr: my_addr,
                    env: self.env_of("listen"),
                });
            }
        }
        let fault = match raw.fault {
            Some(f) => p.keep(self.fault(f, n)),
            None => None,
        };
        let metrics_listen = match raw.metrics {
            Some(m) => p.keep(self.metrics_listen(m, listen, peers.as_deref().unwrap_or_default())),
            None => None,
        };
        let (true, Some((my_id, _)), Some(listen), Some(key_file), Some(data_dir), Some(peers)) = (
            found.0.is_empty(),
            me,
            listen,
            key_file.clone(),
            data_dir.clone(),
            peers,
        ) else {
            // Each missing value pushed its problem.
            return Err(host(found.0));
        };
        Ok(NodeConfig {
            file: self.path.to_owned(),
            id: my_id,
            listen,
            key_file,
            data_dir,
            round_timeout_ms,
            round_work_factor,
            work_ps_per_eig_value,
            work_ps_per_byte,
            work_ps_per_signature,
            max_frame_bytes,
            send_queue_frames,
            max_future_frames,
            max_instances,
            log,
            log_format,
            peers,
            fault,
            metrics_listen,
            overrides: self.overrides(),
        })
    }

    fn overrides(&self) -> BTreeMap<String, String> {
        self.env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Checks the peer list and returns its valid entries sorted by id, and
    /// whether they make a valid cluster (every problem is kept in `p`).
    fn peers(&self, raw: Vec<RawPeer>, p: &mut Problems) -> (Vec<PeerConfig>, bool) {
        let n = raw.len();
        if !(MIN_GENERALS..=MAX_GENERALS).contains(&n) {
            p.push(ConfigError::PeerCount {
                path: self.path.to_owned(),
                n,
                fix: if n < MIN_GENERALS {
                    "add a [[peers]] entry for every general, this node included"
                } else {
                    "split the generals into smaller clusters"
                },
            });
            // The skeleton `generals init` writes lists only this node: its
            // entry is still read, so that `config check` can check the key
            // and `show-node-id` can print what the other hosts need.
            let lone = raw.into_iter().next().filter(|_| n < MIN_GENERALS);
            return (
                lone.and_then(|r| self.lone_peer(r, p))
                    .into_iter()
                    .collect(),
                false,
            );
        }
        let before = p.0.len();
        let mut slots: Vec<Option<PeerConfig>> = vec![None; n];
        let mut taken = vec![false; n];
        let mut found = Vec::with_capacity(n);
        for (i, raw) in raw.into_iter().enumerate() {
            let key = |k: &str| format!("peers[{i}].{k}");
            let id = p.keep(raw.id.ok_or_else(|| self.missing(&key("id"))));
            let addr = p.keep(raw.addr.ok_or_else(|| self.missing(&key("addr"))));
            let pubkey = p.keep(raw.pubkey.ok_or_else(|| self.missing(&key("pubkey"))));
            let Some(id) = id else { continue };
            found.push(id);
            // An id outside 0..n leaves a gap; report the gap once all ids are seen.
            let Some(slot) = usize::try_from(id).ok().filter(|&s| s < n) else {
                continue;
            };
            let node = NodeId(u16::try_from(slot).unwrap_or(u16::MAX));
            if std::mem::replace(&mut taken[slot], true) {
                p.push(ConfigError::DuplicatePeerId {
                    path: self.path.to_owned(),
                    id,
                });
                continue;
            }
            let addr = addr.and_then(|a| p.keep(self.addr(&key("addr"), &a)));
            let pubkey = pubkey.and_then(|k| p.keep(self.pubkey(&key("pubkey"), node, &k)));
            if let (Some(addr), Some(pubkey)) = (addr, pubkey) {
                slots[slot] = Some(PeerConfig {
                    id: node,
                    addr,
                    pubkey,
                });
            }
        }
        // n entries: an id out of range or taken twice leaves a gap.
        if let Some(gap) = taken.iter().position(|t| !t) {
            found.sort_unstable();
            p.push(ConfigError::MissingPeerId {
                path: self.path.to_owned(),
                id: u16::try_from(gap).unwrap_or(u16::MAX),
                n,
                found: found
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let peers: Vec<PeerConfig> = slots.into_iter().flatten().collect();
        // Each later peer that repeats an earlier one's key or address.
        for (i, b) in peers.iter().enumerate() {
            let earlier = &peers[..i];
            if let Some(a) = earlier.iter().find(|a| a.pubkey == b.pubkey) {
                p.push(ConfigError::DuplicatePubkey {
                    path: self.path.to_owned(),
                    first: a.id,
                    second: b.id,
                });
            }
            if let Some(a) = earlier.iter().find(|a| a.addr == b.addr) {
                p.push(ConfigError::DuplicatePeerAddr {
                    path: self.path.to_owned(),
                    first: a.id,
                    second: b.id,
                    addr: b.addr,
                });
            }
        }
        let ok = p.0.len() == before;
        (peers, ok)
    }

    /// The only entry of a `[[peers]]` table too short to be a cluster, if
    /// it is valid on its own.
    fn lone_peer(&self, raw: RawPeer, p: &mut Problems) -> Option<PeerConfig> {
        let key = |k: &str| format!("peers[0].{k}");
        let id = p.keep(raw.id.ok_or_else(|| self.missing(&key("id"))))?;
        let id = NodeId(u16::try_from(id).ok()?);
        let addr = p.keep(raw.addr.ok_or_else(|| self.missing(&key("addr"))));
        let addr = p.keep(self.addr(&key("addr"), &addr?));
        let pubkey = p.keep(raw.pubkey.ok_or_else(|| self.missing(&key("pubkey"))));
        let pubkey = p.keep(self.pubkey(&key("pubkey"), id, &pubkey?));
        Some(PeerConfig {
            id,
            addr: addr?,
            pubkey: pubkey?,
        })
    }

    fn pubkey(&self, key: &str, id: NodeId, value: &str) -> Result<PublicKey, ConfigError> {
        value.parse().map_err(|e| ConfigError::BadPubkey {
            path: self.path.to_owned(),
            key: key.to_owned(),
            id,
            reason: match e {
                PublicKeyError::NotHex => format!("{value:?} is not 64 hexadecimal digits"),
                PublicKeyError::NotOnCurve => "not a point on Ed25519".to_owned(),
            },
        })
    }

    /// `[metrics] listen`: an address to bind that no link uses. A port
    /// shared with `listen` or a peer's `addr` on the same IP (or on the
    /// unspecified address, which binds every IP) would fail to bind, or
    /// worse, take a peer's port on this host.
    fn metrics_listen(
        &self,
        raw: RawMetrics,
        listen: Option<SocketAddr>,
        peers: &[PeerConfig],
    ) -> Result<SocketAddr, ConfigError> {
        const KEY: &str = "metrics.listen";
        let addr = self.addr(KEY, &raw.listen.ok_or_else(|| self.missing(KEY))?)?;
        let clash = |other: SocketAddr| {
            other.port() == addr.port()
                && (other.ip() == addr.ip()
                    || other.ip().is_unspecified()
                    || addr.ip().is_unspecified())
        };
        let taken = listen
            .filter(|l| clash(*l))
            .map(|l| format!("`listen` ({l})"))
            .or_else(|| {
                peers
                    .iter()
                    .find(|p| clash(p.addr))
                    .map(|p| format!("peers[{}].addr ({})", p.id, p.addr))
            });
        match taken {
            Some(what) => Err(ConfigError::Invalid {
                path: self.path.to_owned(),
                key: KEY.to_owned(),
                env: self.env_of(KEY),
                problem: format!("is {addr}, whose port {what} already uses"),
                fix: format!(
                    "give the metrics endpoint a port of its own, such as {}",
                    SocketAddr::new(addr.ip(), 9464)
                ),
            }),
            None => Ok(addr),
        }
    }

    fn fault(&self, raw: RawFault, n: usize) -> Result<FaultConfig, ConfigError> {
        let Some(name) = raw.strategy else {
            // A fault variable alone creates the section; say which one did.
            let mut vars: Vec<String> = self
                .env
                .iter()
                .filter(|(k, _)| k.starts_with("fault."))
                .map(|(_, v)| v.clone())
                .collect();
            vars.sort();
            if !vars.is_empty() {
                return Err(ConfigError::FaultWithoutStrategy {
                    path: self.path.to_owned(),
                    vars: vars.join(", "),
                });
            }
            return Err(self.missing("fault.strategy"));
        };
        let strategy: FaultStrategy = name.parse().map_err(|_| ConfigError::UnknownStrategy {
            path: self.path.to_owned(),
            value: name.clone(),
            env: self.env_of("fault.strategy"),
        })?;
        let targets = raw
            .targets
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                usize::try_from(t)
                    .ok()
                    .filter(|&i| i < n)
                    .and_then(|i| u16::try_from(i).ok())
                    .map(NodeId)
                    .ok_or_else(|| ConfigError::BadFaultTarget {
                        path: self.path.to_owned(),
                        id: t,
                        n,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(FaultConfig {
            strategy,
            targets,
            seed: self.ranged("fault.seed", raw.seed, 0, 0, i64::MAX)?,
            delay_ms: self.ranged("fault.delay_ms", raw.delay_ms, 0, 0, MAX_ROUND_TIMEOUT_MS)?,
        })
    }
}

/// The config crate spells a key inside an array element `peers[1]id`.
fn dotted(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 2);
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == ']' && chars.peek().is_some_and(|&n| n != '.' && n != '[') {
            out.push('.');
        }
    }
    out
}

/// A line to copy for `key`: TOML, or a variable assignment when the value
/// came from the environment.
pub(crate) fn example(key: &str, env: Option<&str>) -> String {
    // `peers[3].id` is documented as `peers.id`, `fault.targets[0]` as `fault.targets`.
    let mut generic = String::with_capacity(key.len());
    let mut in_index = false;
    for c in key.chars() {
        match c {
            '[' => in_index = true,
            ']' => in_index = false,
            _ if !in_index => generic.push(c),
            _ => {}
        }
    }
    let value = KEYS
        .iter()
        .find(|(k, _)| *k == generic)
        .map_or("...", |(_, v)| *v);
    match (env, generic.as_str()) {
        (_, "peers" | "fault") => value.to_owned(),
        (Some(var), _) => format!("{var}={}", value.trim_matches('"')),
        (None, g) => format!("{} = {value}", g.rsplit('.').next().unwrap_or(g)),
    }
}
