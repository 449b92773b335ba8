//! What `generals config check` looks at beyond the file itself: this host
//! (the key file and the data dir) and other hosts' configs (their
//! `[[peers]]` tables). Each function returns every problem it finds.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use generals_crypto::NodeKey;

use crate::{ConfigError, NodeConfig};

/// Problems on this host: a key file that cannot be read or is not the key
/// `peers[id].pubkey` lists, and a data dir the daemon could not write.
pub fn check_host(cfg: &NodeConfig) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    match own_key(cfg) {
        Ok(_) => {}
        Err(e @ ConfigError::KeyMismatch { .. }) => problems.push(e),
        Err(e) => problems.push(invalid(
            cfg,
            "key_file",
            format!("cannot be used: {e}"),
            "fix the file, or point `key_file` at this node's key",
        )),
    }
    if let Err(problem) = writable_dir(cfg.data_dir()) {
        problems.push(invalid(
            cfg,
            "data_dir",
            format!("= {:?} {problem}", cfg.data_dir().display().to_string()),
            "point `data_dir` at a directory this node's user can write (the daemon \
             creates it if its parent is writable), or fix its owner and mode",
        ));
    }
    problems
}

/// This node's key, if `key_file` holds the key `peers[id].pubkey` lists.
pub fn own_key(cfg: &NodeConfig) -> Result<NodeKey, ConfigError> {
    let key = NodeKey::load(cfg.key_path())?;
    let listed = cfg.peer(cfg.id).map(|me| me.pubkey);
    if listed != Some(key.public()) {
        return Err(ConfigError::KeyMismatch {
            path: cfg.file.clone(),
            id: cfg.id,
            key_file: cfg.key_path().to_owned(),
            listed: listed.map_or_else(|| "nothing".to_owned(), |k| k.to_string()),
            actual: key.public().to_string(),
        });
    }
    Ok(key)
}

fn invalid(cfg: &NodeConfig, key: &str, problem: String, fix: &str) -> ConfigError {
    ConfigError::Invalid {
        path: cfg.file.clone(),
        key: key.to_owned(),
        env: cfg.env_var_of(key).map(str::to_owned),
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
