//! What `generals config check` looks at beyond the file itself: this host
//! (the key file and the data dir) and other hosts' configs (their
//! `[[peers]]` tables). Each function returns every problem it finds.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use generals_crypto::{NodeId, NodeKey, PublicKey};

use crate::{ConfigError, NodeConfig};

/// A config file that cannot be used: every problem found in it, and what
/// it still says about this host.
#[derive(Debug)]
pub struct Rejected {
    pub problems: Vec<ConfigError>,
    /// Boxed: it holds a public key, and this is an error type.
    pub host: Box<HostView>,
}

impl Rejected {
    /// One problem that stopped the check before any key was read.
    pub(crate) fn only(path: &Path, problem: ConfigError) -> Rejected {
        Rejected {
            problems: vec![problem],
            host: Box::new(HostView::unknown(path)),
        }
    }
}

/// What [`check_host`] looks at, which a config that is not valid as a
/// whole may still tell: each part is `None` when the file does not say.
#[derive(Clone, Debug)]
pub struct HostView {
    pub file: PathBuf,
    pub id: Option<NodeId>,
    pub key_file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    /// The public key `peers[id]` lists.
    pub listed: Option<PublicKey>,
    /// The address `peers[id]` lists: where the other generals dial it.
    pub addr: Option<SocketAddr>,
    /// Key -> the `GENERALS_*` variable that set it.
    pub overrides: BTreeMap<String, String>,
}

impl HostView {
    pub(crate) fn unknown(path: &Path) -> HostView {
        HostView {
            file: path.to_owned(),
            id: None,
            key_file: None,
            data_dir: None,
            listed: None,
            addr: None,
            overrides: BTreeMap::new(),
        }
    }

    pub fn of(cfg: &NodeConfig) -> HostView {
        HostView {
            file: cfg.file.clone(),
            id: Some(cfg.id),
            key_file: Some(cfg.key_path().to_owned()),
            data_dir: Some(cfg.data_dir().to_owned()),
            listed: cfg.peer(cfg.id).map(|me| me.pubkey),
            addr: cfg.peer(cfg.id).map(|me| me.addr),
            overrides: cfg.overrides.clone(),
        }
    }
}

/// Problems on this host: a key file that cannot be read or is not the key
/// `peers[id].pubkey` lists, and a data dir the daemon could not write.
/// Whatever `host` does not say is not checked.
pub fn check_host(host: &HostView) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    if let Some(key_file) = &host.key_file {
        match NodeKey::load(key_file) {
            Ok(key) => problems.extend(key_mismatch(host, key_file, &key)),
            Err(e) => problems.push(invalid(
                host,
                "key_file",
                format!("cannot be used: {e}"),
                "fix the file, or point `key_file` at this node's key",
            )),
        }
    }
    if let Some(dir) = &host.data_dir {
        if let Err(problem) = writable_dir(dir) {
            problems.push(invalid(
                host,
                "data_dir",
                format!("= {:?} {problem}", dir.display().to_string()),
                "point `data_dir` at a directory this node's user can write (the daemon \
                 creates it if its parent is writable), or fix its owner and mode",
            ));
        }
    }
    problems
}

/// This node's key, if `key_file` holds the key `peers[id].pubkey` lists.
pub fn own_key(cfg: &NodeConfig) -> Result<NodeKey, ConfigError> {
    own_key_on(&HostView::of(cfg), cfg.key_path())
}

/// [`own_key`] for a file that is not a valid config yet (the skeleton
/// `generals init` writes lists only this node): `None` when it does not say
/// which key file, or which key `peers[id]` lists.
pub fn own_key_of(host: &HostView) -> Option<Result<NodeKey, ConfigError>> {
    host.listed?;
    Some(own_key_on(host, host.key_file.as_deref()?))
}

fn own_key_on(host: &HostView, key_file: &Path) -> Result<NodeKey, ConfigError> {
    let key = NodeKey::load(key_file)?;
    match key_mismatch(host, key_file, &key) {
        Some(e) => Err(e),
        None => Ok(key),
    }
}

/// The problem if `key` is not the one `peers[id]` lists; none when the id
/// or its entry is unknown.
fn key_mismatch(host: &HostView, key_file: &Path, key: &NodeKey) -> Option<ConfigError> {
    let (id, listed) = (host.id?, host.listed?);
    (listed != key.public()).then(|| ConfigError::KeyMismatch {
        path: host.file.clone(),
        id,
        key_file: key_file.to_owned(),
        listed: listed.to_string(),
        actual: key.public().to_string(),
    })
}

fn invalid(host: &HostView, key: &str, problem: String, fix: &str) -> ConfigError {
    ConfigError::Invalid {
        path: host.file.clone(),
        key: key.to_owned(),
        env: host.overrides.get(key).cloned(),
        problem,
        fix: fix.to_owned(),
    }
}

/// Whether the daemon could create `dir` (if absent) and write in it: by
/// writing and removing a probe file in it or in its nearest existing
/// ancestor, because permission bits do not tell the whole story (read-only
/// mounts, ACLs, root).
fn writable_dir(dir: &Path) -> Result<(), String> {
    let mut at = dir;
    loop {
        match fs::metadata(at) {
            Ok(meta) if meta.is_dir() => break,
            Ok(_) if at == dir => return Err("is not a directory".to_owned()),
            Ok(_) => {
                return Err(format!(
                    "cannot be created: {} is not a directory",
                    at.display()
                ))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                match at.parent() {
                    Some(parent) => at = parent,
                    None => return Err("cannot be created: no existing parent".to_owned()),
                }
            }
            Err(e) => return Err(format!("cannot be examined: {e}")),
        }
    }
    let probe = at.join(format!(".generals-config-check-{}", std::process::id()));
    let result = OpenOptions::new().write(true).create_new(true).open(&probe);
    match result {
        Ok(_) => {
            // The probe was ours; failing to remove it leaves a stray empty file.
            let _ = fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if at == dir => Err(format!("is not writable: {e}")),
        Err(e) => Err(format!(
            "does not exist and cannot be created: {} is not writable: {e}",
            at.display()
        )),
    }
}

/// Where `ours` and `theirs` (another host's config) disagree about the
/// cluster: the number of generals, or a general's address or key.
pub fn compare_peers(ours: &NodeConfig, theirs: &NodeConfig) -> Vec<ConfigError> {
    let differ = |key: String, a: String, b: String| ConfigError::PeersDisagree {
        path: ours.file.clone(),
        other: theirs.file.clone(),
        key,
        ours: a,
        theirs: b,
    };
    if ours.n() != theirs.n() {
        return vec![differ(
            "peers".to_owned(),
            format!("{} generals", ours.n()),
            format!("{} generals", theirs.n()),
        )];
    }
    let mut problems = Vec::new();
    for (a, b) in ours.peers.iter().zip(&theirs.peers) {
        if a.addr != b.addr {
            problems.push(differ(
                format!("peers[{}].addr", a.id),
                a.addr.to_string(),
                b.addr.to_string(),
            ));
        }
        if a.pubkey != b.pubkey {
            problems.push(differ(
                format!("peers[{}].pubkey", a.id),
                a.pubkey.to_string(),
                b.pubkey.to_string(),
            ));
        }
    }
    problems
}

/// The config files `arg` names: itself if it is a file; if a directory,
/// every `config.toml` in it up to three levels down (`testnet --out` writes
/// `nodeI/config.toml`, `testnet --hosts` `hostK/nodeI/config.toml`), sorted.
pub fn config_files(arg: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    fn read(path: &Path) -> impl FnOnce(io::Error) -> ConfigError + '_ {
        move |source| ConfigError::Read {
            path: path.to_owned(),
            source,
        }
    }
    if !fs::metadata(arg).map_err(read(arg))?.is_dir() {
        return Ok(vec![arg.to_owned()]);
    }
    let mut found = Vec::new();
    let mut dirs = vec![(arg.to_owned(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            // A subdirectory we may not read (a data dir) holds no config.
            Err(_) if depth > 0 => continue,
            Err(e) => return Err(read(&dir)(e)),
        };
        for entry in entries {
            let path = entry.map_err(read(&dir))?.path();
            if path.is_dir() && depth < 3 {
                dirs.push((path, depth + 1));
            } else if path.file_name().is_some_and(|n| n == "config.toml") && path.is_file() {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}
