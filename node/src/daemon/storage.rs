//! The daemon's durable state, kept in its data directory.
//!
//! ```text
//! DATA_DIR/            mode 0700
//!   LOCK               held with File::try_lock while the daemon runs; holds its pid
//!   sign_state.json    the double-sign guard (CometBFT's priv_validator_state)
//!   decisions.log      append-only JSON lines, one DecisionRecord per line
//!   reports.log        append-only JSON lines: the signed DecisionReports
//!                      this node received as commander
//!   evidence/          one file per equivocation proof (mode 0700)
//!     COMMANDER-SEQ.json   pretty JSON of an EquivocationProof
//!   control.sock       the CLI's Unix socket (owned by the control server)
//! ```
//!
//! Files are created with mode 0600 and directories with mode 0700.
//!
//! # The double-sign guard
//!
//! `sign_state.json` records the highest instance sequence number this node
//! has issued as commander and the order it signed for it. The driver saves
//! it (temp file, fsync, rename, fsync of the directory) *before* it signs
//! anything, so after a crash the node can never sign a conflicting order
//! for an instance it already used. A data dir that has been used but lost
//! its `sign_state.json` is refused: starting anyway could reuse a sequence
//! number. `--unsafe-reset-sign-state` rebuilds it from `decisions.log`.
//!
//! # The decision log
//!
//! Each decision is one JSON line, written and `sync_data`ed before the
//! decision is reported to anyone. A final line without its newline was torn
//! by a crash mid-write (and so was never reported): it is dropped with a
//! warning and cut off, so the next append starts on a fresh line. Any other
//! line that does not parse is corruption, and the node refuses to start.
//!
//! # The report log
//!
//! A commander appends each lieutenant's signed report it accepts, so that
//! after a restart `status` still counts the reports of instances decided
//! before it. Reports are not needed for safety: the file is not fsynced
//! (a clean stop, a crash or a kill of the process keep it; a power cut may
//! lose its last lines), and a line that does not parse is skipped with a
//! warning rather than refusing to start. A torn final line is cut off.
//!
//! # Fresh data dirs
//!
//! A directory that is absent, or holds nothing but `LOCK`, `control.sock`
//! and a stray `sign_state.json.tmp` (a crash during the very first save),
//! belongs to a node that has never signed anything; it is initialised.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use generals_crypto::{EquivocationProof, InstanceId, NodeId, Order, PublicKey};
use generals_wire::{DecisionReport, InstanceSpec};

use serde::{Deserialize, Serialize};
use tracing::warn;

/// The lock file, held for as long as the daemon runs.
pub const LOCK_FILE: &str = "LOCK";
/// The double-sign guard.
pub const SIGN_STATE_FILE: &str = "sign_state.json";
/// The append-only decision log.
pub const DECISIONS_FILE: &str = "decisions.log";
/// The directory of equivocation proofs.
pub const EVIDENCE_DIR: &str = "evidence";
/// The signed reports received as commander.
pub const REPORTS_FILE: &str = "reports.log";

const SIGN_STATE_TMP: &str = "sign_state.json.tmp";
const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;
const RESET_FIX: &str = "if you are sure this node never signed anything, or you restored its \
                         decisions.log, start it once with --unsafe-reset-sign-state";

pub use crate::protocol::{DecisionRecord, SignState};

/// Why the data dir could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error(
        "{path}: {source} (check that the data_dir exists, is a directory and is readable and \
         writable by this user, and that the disk is not full)",
        path = .path.display()
    )]
    Io { path: PathBuf, source: io::Error },

    #[error(
        "could not create the data dir {path}: {source} (create it by hand, e.g. \
         `install -d -m 0700 -o USER {path}` for the user that runs the node, or point \
         data_dir at a writable directory)",
        path = .path.display()
    )]
    CreateDataDir { path: PathBuf, source: io::Error },

    #[error(
        "another generals node is already running with data_dir {dir} (it holds {dir}/LOCK); \
         stop it first, or give this node another data_dir",
        dir = .dir.display()
    )]
    Locked { dir: PathBuf },

    #[error(
        "{path} is missing but the data dir has been used, so this node may have signed before; \
         starting would risk signing a conflicting order for an instance it already used. \
         Restore the file from a backup, or {RESET_FIX}",
        path = .path.display()
    )]
    SignStateMissing { path: PathBuf },

    #[error(
        "{path} belongs to public key {found}, but this node's key is {expected}: the data dir \
         belongs to another key; point key_file at the right key or use another data_dir",
        path = .path.display()
    )]
    WrongKey {
        path: PathBuf,
        /// This node's key (boxed: a `PublicKey` is a decompressed point).
        expected: Box<PublicKey>,
        /// The key `sign_state.json` was written for.
        found: Box<PublicKey>,
    },

    #[error(
        "{path} is corrupt: {reason}. It is not reset automatically, because that could let this \
         node sign a conflicting order; restore it from a backup, or move it aside and, {RESET_FIX}",
        path = .path.display()
    )]
    CorruptSignState { path: PathBuf, reason: String },

    #[error(
        "refusing to save the signing state to {path}: {reason} (this is a bug in the daemon; \
         the file on disk is unchanged)",
        path = .path.display()
    )]
    SignStateRejected { path: PathBuf, reason: String },

    #[error(
        "{path} line {line} is not a decision record: {reason}. Only a torn final line is \
         repaired automatically; fix or remove that line (or restore the file from a backup)",
        path = .path.display()
    )]
    CorruptLog {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    #[error(
        "could not write {path}: {source} (check the disk space and the permissions of the \
         data_dir)",
        path = .path.display()
    )]
    Encode {
        path: PathBuf,
        source: serde_json::Error,
    },

    #[error(
        "no evidence for instance {instance} in {dir}; `generals evidence list` shows the proofs \
         this node holds",
        dir = .dir.display()
    )]
    EvidenceNotFound { instance: InstanceId, dir: PathBuf },

    #[error(
        "{path} is not a valid equivocation proof: {reason}; move it aside (the proof can be \
         fetched again from another lieutenant that holds it)",
        path = .path.display()
    )]
    CorruptEvidence { path: PathBuf, reason: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The open data directory. Holds the directory lock until dropped.
#[derive(Debug)]
pub struct Storage {
    dir: PathBuf,
    me: NodeId,
    public: PublicKey,
    /// Held (locked) for the lifetime of this value.
    _lock: File,
    log: JsonLines,
    reports: JsonLines,
    /// Reports per own instance found at open, until taken.
    report_counts: BTreeMap<InstanceSpec, usize>,
    /// The last saved `last_seq`, to refuse regressions.
    saved_seq: AtomicU64,
}

impl Storage {
    /// Opens (creating if absent) the data dir. `me` and `public` identify
    /// this node. Returns the storage, the signing state and the decisions
    /// already logged, in log order.
    pub fn open(
        dir: &Path,
        me: NodeId,
        public: &PublicKey,
        unsafe_reset_sign_state: bool,
    ) -> Result<(Storage, SignState, Vec<DecisionRecord>), StorageError> {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|source| StorageError::CreateDataDir {
                path: dir.to_path_buf(),
                source,
            })?;
        let lock = acquire_lock(dir)?;

        let sign_path = dir.join(SIGN_STATE_FILE);
        let log_path = dir.join(DECISIONS_FILE);
        let has_state = exists(&sign_path)?;
        let others = other_entries(dir)?;
        let fresh = !has_state && others.is_empty();

        let (state, records, log_len) = if fresh {
            if let Err(e) = fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE)) {
                warn!(dir = %dir.display(), error = %e, "could not make the data dir mode 0700");
            }
            let state = SignState::fresh(*public);
            write_atomic(dir, &sign_path, &encode_pretty(&sign_path, &state)?)?;
            (state, Vec::new(), 0)
        } else {
            if !has_state && !unsafe_reset_sign_state {
                warn!(dir = %dir.display(), entries = ?others, "the data dir has been used but has no {SIGN_STATE_FILE}");
                return Err(StorageError::SignStateMissing { path: sign_path });
            }
            warn_if_open_mode(dir);
            let (records, log_len) = read_log(&log_path)?;
            let own = own_max(dir, me, &records)?;
            let state = if has_state {
                if unsafe_reset_sign_state {
                    warn!(file = %sign_path.display(), "--unsafe-reset-sign-state ignored: the signing state is present and intact");
                }
                let mut state = read_sign_state(&sign_path, public)?;
                if let Some((seq, order)) = own.filter(|&(seq, _)| seq > state.last_seq) {
                    warn!(
                        file = %sign_path.display(),
                        stored = state.last_seq,
                        logged = seq,
                        "the signing state is behind decisions.log (restored from an old backup?); moving it forward"
                    );
                    state.last_seq = seq;
                    state.last_order = order;
                    write_atomic(dir, &sign_path, &encode_pretty(&sign_path, &state)?)?;
                }
                state
            } else {
                let (last_seq, last_order) = own.unwrap_or((0, None));
                let state = SignState {
                    public_key: *public,
                    last_seq,
                    last_order,
                };
                warn!(
                    file = %sign_path.display(),
                    last_seq,
                    "--unsafe-reset-sign-state: wrote a new signing state from decisions.log; \
                     sequence numbers this node signed that never reached the log may be reused"
                );
                write_atomic(dir, &sign_path, &encode_pretty(&sign_path, &state)?)?;
                state
            };
            (state, records, log_len)
        };

        let evidence = dir.join(EVIDENCE_DIR);
        create_dir(&evidence)?;
        let log = JsonLines::open(log_path, log_len)?;
        let reports_path = dir.join(REPORTS_FILE);
        let (report_counts, reports_len) = count_own_reports(&reports_path, me)?;
        let reports = JsonLines::open(reports_path, reports_len)?;
        sync_dir(dir)?;

        let storage = Storage {
            dir: dir.to_path_buf(),
            me,
            public: *public,
            _lock: lock,
            log,
            reports,
            report_counts,
            saved_seq: AtomicU64::new(state.last_seq),
        };
        Ok((storage, state, records))
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This node's id, as given to [`Storage::open`].
    pub fn me(&self) -> NodeId {
        self.me
    }

    /// The path of `evidence/COMMANDER-SEQ.json` for an instance.
    pub fn evidence_path(&self, id: InstanceId) -> PathBuf {
        self.dir.join(EVIDENCE_DIR).join(format!("{id}.json"))
    }

    /// The logged decisions for `id` (one per spec the node ran under that
    /// id), read from disk: the answer for instances that left memory.
    pub fn find_decisions(&self, id: InstanceId) -> Result<Vec<DecisionRecord>, StorageError> {
        let (records, _) = read_log(&self.log.path)?;
        Ok(records.into_iter().filter(|r| r.instance == id).collect())
    }

    /// How many lieutenants had reported each instance this node commanded,
    /// as `reports.log` showed at open. Empty after the first call.
    pub fn take_report_counts(&mut self) -> BTreeMap<InstanceSpec, usize> {
        std::mem::take(&mut self.report_counts)
    }

    /// Appends a lieutenant's signed report to `reports.log` (not synced:
    /// see the module docs). On failure the file is cut back to its last
    /// complete report.
    pub fn append_report(&mut self, report: &DecisionReport) -> Result<(), StorageError> {
        self.reports.append(report, false)
    }

    /// How many lieutenants reported `spec`, read from `reports.log`: the
    /// answer for instances that left memory.
    pub fn count_reports(&self, spec: &InstanceSpec) -> Result<usize, StorageError> {
        let mut reporters = BTreeSet::new();
        scan_reports(&self.reports.path, |r| {
            if r.spec == *spec {
                reporters.insert(r.reporter);
            }
        })?;
        Ok(reporters.len())
    }

    /// Appends one record to `decisions.log` and syncs it before returning.
    /// On failure the log is cut back to its last complete record.
    pub fn append_decision(&mut self, rec: &DecisionRecord) -> Result<(), StorageError> {
        self.log.append(rec, true)
    }

    /// Durably replaces `sign_state.json`: writes `sign_state.json.tmp`,
    /// fsyncs it, renames it over, and fsyncs the directory. Refuses a state
    /// for another key or one that moves `last_seq` backwards.
    pub fn save_sign_state(&self, s: &SignState) -> Result<(), StorageError> {
        let path = self.dir.join(SIGN_STATE_FILE);
        if s.public_key != self.public {
            return Err(StorageError::SignStateRejected {
                path,
                reason: format!(
                    "it is for key {}, but this node's key is {}",
                    s.public_key, self.public
                ),
            });
        }
        let saved = self.saved_seq.load(Ordering::SeqCst);
        if s.last_seq < saved {
            return Err(StorageError::SignStateRejected {
                path,
                reason: format!(
                    "last_seq would go back from {saved} to {}, which could reuse a sequence number",
                    s.last_seq
                ),
            });
        }
        write_atomic(&self.dir, &path, &encode_pretty(&path, s)?)?;
        self.saved_seq.fetch_max(s.last_seq, Ordering::SeqCst);
        Ok(())
    }

    /// Saves a proof as `evidence/COMMANDER-SEQ.json` (temp file, fsync,
    /// rename). Idempotent: if a valid proof for that instance is already
    /// stored, it is kept and its path returned.
    pub fn save_evidence(&self, proof: &EquivocationProof) -> Result<PathBuf, StorageError> {
        let id = proof.instance();
        let evidence = self.dir.join(EVIDENCE_DIR);
        create_dir(&evidence)?;
        let path = self.evidence_path(id);
        if exists(&path)? {
            match read_evidence(&path, id) {
                Ok(old) => {
                    if old != *proof {
                        tracing::debug!(file = %path.display(), "keeping the proof already stored for this instance");
                    }
                    return Ok(path);
                }
                Err(e) => {
                    warn!(error = %e, "replacing an unreadable evidence file");
                }
            }
        }
        write_atomic(&evidence, &path, &encode_pretty(&path, proof)?)?;
        Ok(path)
    }

    /// Saves a proof that a commander signed two specs for one id, as
    /// `evidence/COMMANDER-SEQ.spec.json` (kept if one is already there).
    pub fn save_spec_evidence(
        &self,
        proof: &generals_wire::SpecEquivocationProof,
    ) -> Result<PathBuf, StorageError> {
        let evidence = self.dir.join(EVIDENCE_DIR);
        create_dir(&evidence)?;
        let path = evidence.join(format!("{}.spec.json", proof.instance()));
        if !exists(&path)? {
            write_atomic(&evidence, &path, &encode_pretty(&path, proof)?)?;
        }
        Ok(path)
    }

    /// The stored proofs, sorted by instance. Files whose names are not
    /// `COMMANDER-SEQ.json` are ignored.
    pub fn list_evidence(&self) -> Result<Vec<(InstanceId, PathBuf)>, StorageError> {
        list_evidence_in(&self.dir.join(EVIDENCE_DIR))
    }

    /// Reads the proof stored for an instance.
    pub fn load_evidence(
        &self,
        id: InstanceId,
    ) -> Result<(PathBuf, EquivocationProof), StorageError> {
        let path = self.evidence_path(id);
        if !exists(&path)? {
            return Err(StorageError::EvidenceNotFound {
                instance: id,
                dir: self.dir.join(EVIDENCE_DIR),
            });
        }
        let proof = read_evidence(&path, id)?;
        Ok((path, proof))
    }
}

/// Opens and locks `DIR/LOCK`, then records our pid in it.
fn acquire_lock(dir: &Path) -> Result<File, StorageError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(&path)
        .map_err(io_err(&path))?;
    // flock(2) semantics: per open file description, released on close
    // (also when the process dies). Stable since Rust 1.89, above the
    // workspace's declared rust-version.
    let locked = file.try_lock();
    match locked {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(StorageError::Locked {
                dir: dir.to_path_buf(),
            })
        }
        Err(TryLockError::Error(source)) => return Err(StorageError::Io { path, source }),
    }
    // Only a hint for operators (`cat LOCK`); the lock itself is what counts.
    let pid = file
        .set_len(0)
        .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()));
    if let Err(e) = pid {
        warn!(file = %path.display(), error = %e, "could not write the pid into the lock file");
    }
    Ok(file)
}

fn exists(path: &Path) -> Result<bool, StorageError> {
    path.try_exists().map_err(io_err(path))
}

/// Entries of the data dir that show it has been used.
fn other_entries(dir: &Path) -> Result<Vec<String>, StorageError> {
    let ignored = [
        LOCK_FILE,
        SIGN_STATE_FILE,
        SIGN_STATE_TMP,
        crate::control::SOCKET_NAME,
        // A data dir at the root of its own file system.
        "lost+found",
    ];
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let name = entry.map_err(io_err(dir))?.file_name();
        let name = name.to_string_lossy();
        if !ignored.contains(&name.as_ref()) {
            names.push(name.into_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn warn_if_open_mode(dir: &Path) {
    if let Ok(meta) = fs::metadata(dir) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            warn!(dir = %dir.display(), mode = format!("{mode:o}"), "the data dir is readable by other users; chmod 700 it");
        }
    }
}

fn create_dir(path: &Path) -> Result<(), StorageError> {
    match DirBuilder::new().mode(DIR_MODE).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(source) => Err(StorageError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

fn encode_pretty<T: Serialize>(path: &Path, value: &T) -> Result<Vec<u8>, StorageError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| StorageError::Encode {
        path: path.to_path_buf(),
        source,
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Writes `PATH.tmp` (mode 0600), fsyncs it, renames it over `path` and
/// fsyncs `dir`, the directory holding `path`.
fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_err(&tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_err(path))?;
    sync_dir(dir)
}

fn read_sign_state(path: &Path, public: &PublicKey) -> Result<SignState, StorageError> {
    let text = fs::read_to_string(path).map_err(|e| match e.kind() {
        io::ErrorKind::InvalidData => StorageError::CorruptSignState {
            path: path.to_path_buf(),
            reason: "it is not UTF-8 text".to_owned(),
        },
        _ => StorageError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    // Check the key first, so a state written for another key is reported
    // as such even if the rest of it does not parse.
    #[derive(Deserialize)]
    struct KeyOnly {
        public_key: PublicKey,
    }
    if let Ok(k) = serde_json::from_str::<KeyOnly>(&text) {
        if k.public_key != *public {
            return Err(StorageError::WrongKey {
                path: path.to_path_buf(),
                expected: Box::new(*public),
                found: Box::new(k.public_key),
            });
        }
    }
    serde_json::from_str(&text).map_err(|e| StorageError::CorruptSignState {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// An append-only file of JSON lines (`decisions.log`, `reports.log`).
#[derive(Debug)]
struct JsonLines {
    file: File,
    path: PathBuf,
    /// Length after the last complete line.
    len: u64,
}

impl JsonLines {
    /// Opens `path` for appending (created with mode 0600); its first `len`
    /// bytes are complete lines.
    fn open(path: PathBuf, len: u64) -> Result<JsonLines, StorageError> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(io_err(&path))?;
        Ok(JsonLines { file, path, len })
    }

    /// Appends `value` as one line, `sync_data`ed before returning if
    /// `sync`. On failure the file is cut back to its last complete line.
    fn append<T: Serialize>(&mut self, value: &T, sync: bool) -> Result<(), StorageError> {
        let mut line = serde_json::to_string(value).map_err(|source| StorageError::Encode {
            path: self.path.clone(),
            source,
        })?;
        line.push('\n');
        let mut written = self.file.write_all(line.as_bytes());
        if sync {
            written = written.and_then(|()| self.file.sync_data());
        }
        if let Err(source) = written {
            if let Err(e) = self.file.set_len(self.len) {
                warn!(file = %self.path.display(), error = %e, "could not cut a failed append back out");
            }
            return Err(StorageError::Io {
                path: self.path.clone(),
                source,
            });
        }
        self.len += line.len() as u64;
        Ok(())
    }
}

/// Calls `each` on every report in `reports.log` (absent = none), one line
/// at a time. Lines that do not parse are skipped with one warning. Returns
/// the length of the complete part: past it is a torn final line.
fn scan_reports(path: &Path, mut each: impl FnMut(DecisionReport)) -> Result<u64, StorageError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(StorageError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut reader = BufReader::new(file);
    let (mut complete, mut line, mut bad) = (0u64, Vec::new(), Vec::new());
    for number in 1.. {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(io_err(path))?;
        if read == 0 || line.last() != Some(&b'\n') {
            break;
        }
        complete += read as u64;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(&line) {
            Ok(report) => each(report),
            Err(_) => bad.push(number),
        }
    }
    if !bad.is_empty() {
        warn!(file = %path.display(), lines = ?bad, "skipping lines that are not signed reports; the report counts of their instances are lower");
    }
    Ok(complete)
}

/// Reports per instance this node (`me`) commanded, and the length of the
/// complete part of `reports.log`, whose torn final line (a crash during a
/// write) is cut off.
fn count_own_reports(
    path: &Path,
    me: NodeId,
) -> Result<(BTreeMap<InstanceSpec, usize>, u64), StorageError> {
    let mut reporters: BTreeMap<InstanceSpec, BTreeSet<NodeId>> = BTreeMap::new();
    let complete = scan_reports(path, |r| {
        if r.spec.id.commander == me {
            reporters.entry(r.spec).or_default().insert(r.reporter);
        }
    })?;
    let len = match fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(source) => {
            return Err(StorageError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if complete < len {
        warn!(file = %path.display(), bytes = len - complete, "dropping a torn final line (a crash during a write; that report is not counted)");
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        f.set_len(complete).map_err(io_err(path))?;
    }
    let counts = reporters.into_iter().map(|(k, v)| (k, v.len())).collect();
    Ok((counts, complete))
}

/// Reads `decisions.log` (absent = empty). Drops and cuts off a torn final
/// line. Returns the records and the length of the complete part.
fn read_log(path: &Path) -> Result<(Vec<DecisionRecord>, u64), StorageError> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes).map_err(io_err(path))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(source) => {
            return Err(StorageError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    }
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if complete < bytes.len() {
        let torn = bytes.len() - complete;
        warn!(
            file = %path.display(),
            bytes = torn,
            "dropping a torn final line (a crash during a write; that decision was never reported)"
        );
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        f.set_len(complete as u64)
            .and_then(|()| f.sync_all())
            .map_err(io_err(path))?;
    }
    let mut records = Vec::new();
    for (i, line) in bytes[..complete].split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let rec = serde_json::from_slice(line).map_err(|e| StorageError::CorruptLog {
            path: path.to_path_buf(),
            line: i + 1,
            reason: e.to_string(),
        })?;
        records.push(rec);
    }
    Ok((records, complete as u64))
}

/// The highest seq this node (`me`) used as commander, as far as the
/// decision log and the evidence directory show, with the order it decided.
fn own_max(
    dir: &Path,
    me: NodeId,
    records: &[DecisionRecord],
) -> Result<Option<(u64, Option<Order>)>, StorageError> {
    let mut own: BTreeMap<u64, Option<Order>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.instance.commander == me) {
        own.insert(r.instance.seq, Some(r.decision));
    }
    let evidence = dir.join(EVIDENCE_DIR);
    if exists(&evidence)? {
        for (id, _) in list_evidence_in(&evidence)? {
            if id.commander == me {
                own.entry(id.seq).or_insert(None);
            }
        }
    }
    Ok(own.pop_last())
}

fn list_evidence_in(evidence: &Path) -> Result<Vec<(InstanceId, PathBuf)>, StorageError> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(evidence) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(source) => {
            return Err(StorageError::Io {
                path: evidence.to_path_buf(),
                source,
            })
        }
    };
    for entry in entries {
        let entry = entry.map_err(io_err(evidence))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        let Ok(id) = stem.parse::<InstanceId>() else {
            continue;
        };
        // Only canonical names, so that load_evidence finds the same file.
        if id.to_string() == stem {
            out.push((id, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn read_evidence(path: &Path, id: InstanceId) -> Result<EquivocationProof, StorageError> {
    let text = fs::read(path).map_err(io_err(path))?;
    let proof: EquivocationProof =
        serde_json::from_slice(&text).map_err(|e| StorageError::CorruptEvidence {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if proof.instance() != id || proof.retreat.instance != id {
        return Err(StorageError::CorruptEvidence {
            path: path.to_path_buf(),
            reason: format!(
                "it holds a proof for instance {}, not {id}",
                proof.instance()
            ),
        });
    }
    Ok(proof)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CL: generals_crypto::ClusterId = generals_crypto::ClusterId([7; 32]);
    use crate::report::Role;
    use generals_crypto::{NodeKey, SignedOrder};
    use generals_wire::{MessageCounters, Protocol};

    const ME: NodeId = NodeId(1);

    fn key() -> PublicKey {
        NodeKey::from_seed([7; 32]).public()
    }

    fn record(commander: u16, seq: u64, decision: Order) -> DecisionRecord {
        DecisionRecord {
            instance: InstanceId {
                commander: NodeId(commander),
                seq,
            },
            protocol: Protocol::Signed,
            m: 1,
            role: if NodeId(commander) == ME {
                Role::Commander
            } else {
                Role::Lieutenant
            },
            decision,
            values: vec![decision, Order::Retreat],
            evidence: false,
            decided_unix_ms: 1_700_000_000_000 + seq,
            counters: MessageCounters {
                logical: 3,
                frames: 4,
                bytes: 100,
                signatures_made: 1,
                signatures_verified: 2,
            },
            times: Default::default(),
        }
    }

    fn proof(inst: InstanceId) -> EquivocationProof {
        let k = NodeKey::from_seed([3; 32]);
        let a = SignedOrder::new(&k, &CL, inst, 1, Order::Attack);
        let r = SignedOrder::new(&k, &CL, inst, 1, Order::Retreat);
        EquivocationProof::from_chains(&CL, &a, &r).unwrap()
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// The times are flat fields of a decision line, and a line written
    /// before they existed still reads (without them).
    #[test]
    fn decision_times_are_optional_flat_fields_of_the_log() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let (mut st, _, _) = Storage::open(&dir, ME, &key(), false).unwrap();
        let old = record(0, 1, Order::Attack);
        let line = serde_json::to_string(&old).unwrap();
        assert!(!line.contains("unix_us"), "{line}");
        let mut new = record(0, 2, Order::Attack);
        new.times = crate::protocol::InstanceTimes {
            started_unix_us: Some(1_700_000_000_000_100),
            decided_unix_us: Some(1_700_000_000_002_500),
            decided_after_us: Some(2_400),
        };
        let line = serde_json::to_string(&new).unwrap();
        assert!(
            line.contains(r#""started_unix_us":1700000000000100"#),
            "{line}"
        );
        st.append_decision(&old).unwrap();
        st.append_decision(&new).unwrap();
        drop(st);
        let (_, _, past) = Storage::open(&dir, ME, &key(), false).unwrap();
        assert_eq!(past, vec![old, new]);
    }

    #[test]
    fn a_data_dir_that_cannot_be_created_says_so_and_how_to_make_it() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a-file");
        fs::write(&file, b"").unwrap();
        let dir = file.join("data");
        let err = Storage::open(&dir, ME, &key(), false).unwrap_err();
        assert!(matches!(err, StorageError::CreateDataDir { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("could not create the data dir {}", dir.display())),
            "{text}"
        );
        assert!(text.contains("install -d -m 0700"), "{text}");
    }

    #[test]
    fn fresh_open_creates_the_layout_and_a_fresh_state() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let (st, state, past) = Storage::open(&dir, ME, &key(), false).unwrap();
        assert_eq!(state, SignState::fresh(key()));
        assert_eq!(state.next_seq(), 1);
        assert!(past.is_empty());
        assert_eq!(st.dir(), dir);
        assert!(dir.join(LOCK_FILE).is_file());
        assert!(dir.join(DECISIONS_FILE).is_file());
        assert!(dir.join(EVIDENCE_DIR).is_dir());
        assert!(!dir.join(SIGN_STATE_TMP).exists());
        let on_disk: SignState =
            serde_json::from_str(&fs::read_to_string(dir.join(SIGN_STATE_FILE)).unwrap()).unwrap();
        assert_eq!(on_disk, state);
        let text = fs::read_to_string(dir.join(SIGN_STATE_FILE)).unwrap();
        assert!(text.contains(&key().to_string()), "{text}");
        assert!(text.contains("\"last_seq\": 0"), "{text}");
        let pid = fs::read_to_string(dir.join(LOCK_FILE)).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
    }

    #[test]
    fn modes_are_0600_and_0700() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let (st, _, _) = Storage::open(&dir, ME, &key(), false).unwrap();
        let ev = st.save_evidence(&proof(InstanceId {
            commander: NodeId(2),
            seq: 5,
        }));
        let ev = ev.unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(EVIDENCE_DIR)), 0o700);
        for f in [LOCK_FILE, SIGN_STATE_FILE, DECISIONS_FILE] {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
        }
        assert_eq!(mode(&ev), 0o600);
    }

    #[test]
    fn an_existing_empty_dir_with_a_socket_is_fresh() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::write(dir.join(crate::control::SOCKET_NAME), b"").unwrap();
        fs::write(dir.join(LOCK_FILE), b"").unwrap();
        let (_st, state, past) = Storage::open(dir, ME, &key(), false).unwrap();
        assert_eq!(state.last_seq, 0);
        assert!(past.is_empty());
        assert_eq!(mode(dir), 0o700);
    }

    #[test]
    fn reopen_returns_the_records_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let recs = vec![
            record(0, 1, Order::Attack),
            record(1, 1, Order::Retreat),
            record(2, 7, Order::Attack),
        ];
        {
            let (mut st, _, _) = Storage::open(&dir, ME, &key(), false).unwrap();
            for r in &recs {
                st.append_decision(r).unwrap();
            }
        }
        let text = fs::read_to_string(dir.join(DECISIONS_FILE)).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text.ends_with('\n'));
        assert!(text.contains("\"role\":\"lieutenant\""), "{text}");
        let (mut st, _, past) = Storage::open(&dir, ME, &key(), false).unwrap();
        assert_eq!(past, recs);
        st.append_decision(&record(3, 2, Order::Retreat)).unwrap();
        drop(st);
        let (_, _, past) = Storage::open(&dir, ME, &key(), false).unwrap();
        assert_eq!(past.len(), 4);
        assert_eq!(past[3], record(3, 2, Order::Retreat));
    }

    fn report(commander: u16, seq: u64, reporter: u16) -> DecisionReport {
        let spec = InstanceSpec {
            id: InstanceId {
                commander: NodeId(commander),
                seq,
            },
            protocol: Protocol::Signed,
            m: 1,
            n: 4,
        };
        DecisionReport::new(
            spec,
            NodeId(reporter),
            Order::Attack,
            MessageCounters::default(),
        )
    }

    /// The reports a commander received survive a restart: counted per own
    /// instance and reporter (a report kept twice counts once), others' skipped.
    #[test]
    fn report_counts_survive_a_reopen_and_a_torn_or_bad_line() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        {
            let (mut st, _, _) = Storage::open(&dir, ME, &key(), false).unwrap();
            assert!(st.take_report_counts().is_empty());
            for r in [
                report(1, 1, 0),
                report(1, 1, 2),
                report(1, 1, 2),
                report(1, 1, 3),
                report(1, 2, 0),
                report(0, 9, 1),
            ] {
                st.append_report(&r).unwrap();
            }
        }
        let log = dir.join(REPORTS_FILE);
        assert_eq!(mode(&log), 0o600);
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"{\"spec\": garbage\n").unwrap();
        let torn = serde_json::to_string(&report(1, 2, 3)).unwrap();
        f.write_all(&torn.as_bytes()[..torn.len() / 2]).unwrap();
        drop(f);

        let (mut st, _, _) = Storage::open(&dir, ME, &key(), false).unwrap();
        let counts = st.take_report_counts();
        let spec = |seq| report(1, seq, 0).spec;
        assert_eq!(
            counts,
            BTreeMap::from([(spec(1), 3), (spec(2), 1)]),
            "own instances only, each reporter once"
        );
        assert!(st.take_report_counts().is_empty(), "taken once");
        // The torn tail is cut, so the next report is readable.
        st.append_report(&report(1, 2, 3)).unwrap();
        assert_eq!(st.count_reports(&spec(2)).unwrap(), 2);
        assert_eq!(st.count_reports(&spec(7)).unwrap(), 0);
        drop(st);
        let (mut st, _, _) = Storage::open(&dir, ME, &key(), false).unwrap();
        assert_eq!(st.take_report_counts().get(&spec(2)), Some(&2));
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_the_next_append_is_readable() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let first = record(0, 1, Order::Attack);
        {
            let (mut st, _, _) = Storage::open(&dir, ME, &key(), false).unwrap();
            st.append_decision(&first).unwrap();
        }
        let log = dir.join(DECISIONS_FILE);
        let good_len = fs::metadata(&log).unwrap().len();
        let torn = serde_json::to_string(&record(0, 2, Order::Attack)).unwrap();
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(&torn.as_bytes()[..torn.len() / 2]).unwrap();
        drop(f);

        let (mut st, _, past) = Storage::open(&dir, ME, &key(), false).unwrap();
        assert_eq!(past, vec![first.clone()]);
        assert_eq!(fs::metadata(&log).unwrap().len(), good_len);
        let second = record(2, 9, Order::Retreat);
        st.append_decision(&second).unwrap();
        drop(st);
        let (_, _, past) = Storage::open(&dir, ME, &key(), false).unwrap();
        assert_eq!(past, vec![first, second]);
    }

    #[test]
    fn a_corrupt_middle_line_is_refused_with_its_number() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        {
            let (mut st, _, _) = Storage::open(&dir, ME, &key(), false).unwrap();
            st.append_decision(&record(0, 1, Order::Attack)).unwrap();
        }
        let log = dir.join(DECISIONS_FILE);
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"{\"instance\": garbage\n").unwrap();
        let good = serde_json::to_string(&record(0, 2, Order::Attack)).unwrap();
        f.write_all(format!("{good}\n").as_bytes()).unwrap();
        drop(f);
        let before = fs::read(&log).unwrap();
        let err = Storage::open(&dir, ME, &key(), false).unwrap_err();
        match &err {
            StorageError::CorruptLog { path, line, .. } => {
                assert_eq!(*line, 2);
                assert_eq!(path, &log);
            }
            other => panic!("expected CorruptLog, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("line 2"), "{msg}");
        assert!(msg.contains(&log.display().to_string()), "{msg}");
        // Nothing was "repaired".
        assert_eq!(fs::read(&log).unwrap(), before);
    }

    #[test]
    fn the_sign_state_survives_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let saved = SignState {
            public_key: key(),
            last_seq: 4,
            last_order: Some(Order::Attack),
        };
        {
            let (st, state, _) = Storage::open(&dir, ME, &key(), false).unwrap();
            st.save_sign_state(&SignState {
                last_seq: 3,
                last_order: Some(Order::Retreat),
                ..state
            })
            .unwrap();
            st.save_sign_state(&saved).unwrap();
            assert!(!dir.join(SIGN_STATE_TMP).exists());
        }
        let (_, state, _) = Storage::open(&dir, ME, &key(), false).unwrap();
        assert_eq!(state, saved);
        assert_eq!(state.next_seq(), 5);
        assert_eq!(mode(&dir.join(SIGN_STATE_FILE)), 0o600);
    }

    #[test]
    fn save_sign_state_refuses_to_go_backwards_or_switch_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let (st, state, _) = Storage::open(tmp.path(), ME, &key(), false).unwrap();
        let five = SignState {
            last_seq: 5,
            last_order: Some(Order::Attack),
            ..state.clone()
        };
        st.save_sign_state(&five).unwrap();
        let back = SignState {
            last_seq: 4,
            ..five.clone()
        };
        let err = st.save_sign_state(&back).unwrap_err();
        assert!(
            matches!(err, StorageError::SignStateRejected { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("from 5 to 4"), "{err}");
        let other = SignState {
            public_key: NodeKey::from_seed([8; 32]).public(),
            ..five.clone()
        };
        assert!(matches!(
            st.save_sign_state(&other),
            Err(StorageError::SignStateRejected { .. })
        ));
        drop(st);
        let (_, state, _) = Storage::open(tmp.path(), ME, &key(), false).unwrap();
        assert_eq!(state, five);
    }

    #[test]
    fn a_used_dir_without_sign_state_is_refused_then_reset_from_the_log() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        {
            let (mut st, _, _) = Storage::open(&dir, ME, &key(), false).unwrap();
            st.append_decision(&record(1, 3, Order::Attack)).unwrap();
            st.append_decision(&record(0, 50, Order::Attack)).unwrap();
            st.append_decision(&record(1, 7, Order::Retreat)).unwrap();
            st.append_decision(&record(1, 5, Order::Attack)).unwrap();
            st.append_decision(&record(2, 90, Order::Attack)).unwrap();
        }
        let sign = dir.join(SIGN_STATE_FILE);
        fs::remove_file(&sign).unwrap();

        let err = Storage::open(&dir, ME, &key(), false).unwrap_err();
        assert!(matches!(&err, StorageError::SignStateMissing { path } if *path == sign));
        let msg = err.to_string();
        assert!(msg.contains("--unsafe-reset-sign-state"), "{msg}");
        assert!(msg.contains("may have signed before"), "{msg}");
        assert!(msg.contains("conflicting order"), "{msg}");
        assert!(msg.contains(&sign.display().to_string()), "{msg}");
        assert!(!sign.exists());

        let (_, state, past) = Storage::open(&dir, ME, &key(), true).unwrap();
        assert_eq!(past.len(), 5);
        // Own commander records are seqs 3, 7 and 5; 50 and 90 are others'.
        assert_eq!(
            state,
            SignState {
                public_key: key(),
                last_seq: 7,
                last_order: Some(Order::Retreat),
            }
        );
        let (_, again, _) = Storage::open(&dir, ME, &key(), false).unwrap();
        assert_eq!(again, state);
    }

    #[test]
    fn an_empty_evidence_dir_alone_still_counts_as_used() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        fs::create_dir(dir.join(EVIDENCE_DIR)).unwrap();
        let err = Storage::open(dir, ME, &key(), false).unwrap_err();
        assert!(
            matches!(err, StorageError::SignStateMissing { .. }),
            "{err:?}"
        );
        let (_, state, _) = Storage::open(dir, ME, &key(), true).unwrap();
        assert_eq!(state, SignState::fresh(key()));
    }

    #[test]
    fn a_sign_state_behind_the_log_is_moved_forward() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        {
            let (mut st, _, _) = Storage::open(dir, ME, &key(), false).unwrap();
            st.append_decision(&record(1, 2, Order::Attack)).unwrap();
        }
        let (_, state, _) = Storage::open(dir, ME, &key(), false).unwrap();
        assert_eq!(state.last_seq, 2);
        assert_eq!(state.last_order, Some(Order::Attack));
    }

    #[test]
    fn a_state_for_another_key_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        drop(Storage::open(dir, ME, &key(), false).unwrap());
        let other = NodeKey::from_seed([9; 32]).public();
        for reset in [false, true] {
            let err = Storage::open(dir, ME, &other, reset).unwrap_err();
            match &err {
                StorageError::WrongKey {
                    path,
                    expected,
                    found,
                } => {
                    assert_eq!(path, &dir.join(SIGN_STATE_FILE));
                    assert_eq!(**expected, other);
                    assert_eq!(**found, key());
                }
                e => panic!("expected WrongKey, got {e:?}"),
            }
            let msg = err.to_string();
            assert!(msg.contains("key_file"), "{msg}");
            assert!(msg.contains("another data_dir"), "{msg}");
            assert!(msg.contains(&other.to_string()), "{msg}");
        }
    }

    #[test]
    fn a_corrupt_sign_state_is_an_error_not_a_reset() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        drop(Storage::open(dir, ME, &key(), false).unwrap());
        let sign = dir.join(SIGN_STATE_FILE);
        fs::write(&sign, b"{\"public_key\": \"").unwrap();
        for reset in [false, true] {
            let err = Storage::open(dir, ME, &key(), reset).unwrap_err();
            assert!(
                matches!(&err, StorageError::CorruptSignState { path, .. } if *path == sign),
                "{err:?}"
            );
            let msg = err.to_string();
            assert!(msg.contains(&sign.display().to_string()), "{msg}");
            assert!(msg.contains("EOF"), "{msg}");
        }
        assert_eq!(fs::read(&sign).unwrap(), b"{\"public_key\": \"");
    }

    #[test]
    fn a_second_open_while_the_first_is_alive_is_locked() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let (first, _, _) = Storage::open(&dir, ME, &key(), false).unwrap();
        let err = Storage::open(&dir, ME, &key(), false).unwrap_err();
        assert!(
            matches!(&err, StorageError::Locked { dir: d } if *d == dir),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("already running"), "{msg}");
        assert!(msg.contains(&dir.display().to_string()), "{msg}");
        // The failed open did not clobber the holder's pid.
        let pid = fs::read_to_string(dir.join(LOCK_FILE)).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
        drop(first);
        Storage::open(&dir, ME, &key(), false).unwrap();
    }

    #[test]
    fn evidence_round_trips_and_saving_twice_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let (st, _, _) = Storage::open(&dir, ME, &key(), false).unwrap();
        assert!(st.list_evidence().unwrap().is_empty());
        let i5 = InstanceId {
            commander: NodeId(2),
            seq: 5,
        };
        let i12 = InstanceId {
            commander: NodeId(2),
            seq: 12,
        };
        let i0 = InstanceId {
            commander: NodeId(0),
            seq: 40,
        };
        let p5 = proof(i5);
        p5.verify(&NodeKey::from_seed([3; 32]).public()).unwrap();
        let path12 = st.save_evidence(&proof(i12)).unwrap();
        let path5 = st.save_evidence(&p5).unwrap();
        let path0 = st.save_evidence(&proof(i0)).unwrap();
        assert_eq!(path5, dir.join("evidence/2-5.json"));
        let bytes = fs::read(&path5).unwrap();
        assert_eq!(st.save_evidence(&p5).unwrap(), path5);
        assert_eq!(fs::read(&path5).unwrap(), bytes);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("\n  \"retreat\""), "pretty JSON: {text}");

        // Junk and temp files are not proofs.
        fs::write(dir.join("evidence/notes.txt"), b"x").unwrap();
        fs::write(dir.join("evidence/2-6.json.tmp"), b"x").unwrap();
        fs::write(dir.join("evidence/02-5.json"), b"x").unwrap();
        assert_eq!(
            st.list_evidence().unwrap(),
            vec![(i0, path0), (i5, path5.clone()), (i12, path12)]
        );
        assert_eq!(st.load_evidence(i5).unwrap(), (path5, p5));

        let missing = InstanceId {
            commander: NodeId(3),
            seq: 1,
        };
        let err = st.load_evidence(missing).unwrap_err();
        assert!(
            matches!(err, StorageError::EvidenceNotFound { instance, .. } if instance == missing),
            "{err:?}"
        );
        assert!(err.to_string().contains("3-1"), "{err}");

        fs::write(dir.join("evidence/2-12.json"), b"not json").unwrap();
        let err = st.load_evidence(i12).unwrap_err();
        assert!(
            matches!(err, StorageError::CorruptEvidence { .. }),
            "{err:?}"
        );
        // Saving again repairs an unreadable file.
        st.save_evidence(&proof(i12)).unwrap();
        assert_eq!(st.load_evidence(i12).unwrap().1, proof(i12));
    }

    #[test]
    fn the_reset_never_reuses_a_seq_seen_in_own_evidence() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        {
            let (st, _, _) = Storage::open(dir, ME, &key(), false).unwrap();
            st.save_evidence(&proof(InstanceId {
                commander: ME,
                seq: 11,
            }))
            .unwrap();
        }
        fs::remove_file(dir.join(SIGN_STATE_FILE)).unwrap();
        let (_, state, _) = Storage::open(dir, ME, &key(), true).unwrap();
        assert_eq!(state.last_seq, 11);
        assert_eq!(state.last_order, None);
    }
}
