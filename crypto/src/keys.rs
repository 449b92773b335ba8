//! Ed25519 node keys, their files, and the signature type that goes on the wire.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand_core::{CryptoRngCore, OsRng};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::Domain;

/// First line of every key file, so a wrong file is recognised as such.
const KEY_FILE_HEADER: &str = "generals-ed25519-secret-key-v1";

/// A node's secret signing key.
pub struct NodeKey {
    signing: SigningKey,
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.debug_struct("NodeKey")
            .field("public", &self.public())
            .finish()
    }
}

impl NodeKey {
    pub fn generate() -> NodeKey {
        NodeKey::generate_with(&mut OsRng)
    }

    pub fn generate_with(rng: &mut impl CryptoRngCore) -> NodeKey {
        NodeKey {
            signing: SigningKey::generate(rng),
        }
    }

    /// A key from a 32-byte secret seed (tests and the simulator use fixed seeds).
    pub fn from_seed(seed: [u8; 32]) -> NodeKey {
        NodeKey {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key())
    }

    /// The X25519 secret with the same scalar as this Ed25519 key: the first
    /// half of SHA-512(seed), clamped (RFC 8032 5.1.5, RFC 7748 section 5),
    /// as libsodium's `crypto_sign_ed25519_sk_to_curve25519` gives it. Peer
    /// links use it as their Noise static key, so the one key in the config
    /// proves both signatures and links. Its public half is
    /// [`PublicKey::x25519`].
    pub fn x25519_secret(&self) -> Zeroizing<[u8; 32]> {
        let mut s = Zeroizing::new(self.signing.to_scalar_bytes());
        // X25519 clamps anyway; clamping here makes the bytes canonical.
        s[0] &= 248;
        s[31] &= 127;
        s[31] |= 64;
        s
    }

    /// Signs `domain`'s tag followed by `parts`.
    pub fn sign(&self, domain: Domain, parts: &[&[u8]]) -> Sig {
        let mut msg = Vec::with_capacity(64 + parts.iter().map(|p| p.len()).sum::<usize>());
        msg.extend_from_slice(domain.tag());
        for p in parts {
            msg.extend_from_slice(p);
        }
        self.sign_prepared(&msg)
    }

    /// Signs a message that already starts with its domain tag.
    pub(crate) fn sign_prepared(&self, msg: &[u8]) -> Sig {
        Sig(self.signing.sign(msg).to_bytes())
    }

    /// Writes the key to a new file with mode 0600. An existing file is never
    /// overwritten: losing a key (or its signing history) is worse than an error.
    pub fn save(&self, path: &Path) -> Result<(), KeyFileError> {
        let io = |source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                let what = fs::metadata(path).ok().as_ref().and_then(not_a_file);
                if let Some(what) = what {
                    KeyFileError::NotAFile {
                        path: path.to_owned(),
                        what,
                    }
                } else if e.kind() == io::ErrorKind::AlreadyExists {
                    KeyFileError::Exists {
                        path: path.to_owned(),
                    }
                } else if let Some(dir) = missing_dir(path, &e) {
                    KeyFileError::NoDir {
                        path: path.to_owned(),
                        dir,
                    }
                } else {
                    io(e)
                }
            })?;
        let secret = Zeroizing::new(hex::encode(self.signing.to_bytes()));
        let body = Zeroizing::new(format!("{KEY_FILE_HEADER}\n{}\n", secret.as_str()));
        file.write_all(body.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(())
    }

    /// Reads a key file. A file that others can read is refused: the key may
    /// already be compromised, and the operator has to decide, not us.
    pub fn load(path: &Path) -> Result<NodeKey, KeyFileError> {
        let io = |source| read_error(path, source);
        let meta = fs::metadata(path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                KeyFileError::Missing {
                    path: path.to_owned(),
                }
            } else {
                io(e)
            }
        })?;
        // Before the mode: a directory's 0755 is no leak, and chmod is no fix.
        if let Some(what) = not_a_file(&meta) {
            return Err(KeyFileError::NotAFile {
                path: path.to_owned(),
                what,
            });
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Permissions {
                path: path.to_owned(),
                mode,
            });
        }
        let text = Zeroizing::new(fs::read_to_string(path).map_err(io)?);
        let format = |reason: &str| KeyFileError::Format {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let mut lines = text.lines();
        if lines.next() != Some(KEY_FILE_HEADER) {
            return Err(format(&format!(
                "the first line is not {KEY_FILE_HEADER:?}"
            )));
        }
        let hex_seed = lines
            .next()
            .ok_or_else(|| format("the secret line is missing"))?;
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_seed.trim(), seed.as_mut())
            .map_err(|_| format("the secret is not 64 hexadecimal digits"))?;
        if lines.any(|l| !l.trim().is_empty()) {
            return Err(format("unexpected text after the secret"));
        }
        Ok(NodeKey::from_seed(*seed))
    }
}

/// Why a key file could not be written or read. Every message names the file
/// and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    #[error("key file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("key file {path} does not exist; create one with `generals keygen --out {path}` (and put its public key in every peer's config), or fix key_file")]
    Missing { path: PathBuf },
    #[error("key file {path} already exists; refusing to overwrite a key (move it away first)")]
    Exists { path: PathBuf },
    #[error(
        "key file {path} cannot be read by this user (permission denied); the user that runs the \
         node must own it, mode 0600: `chown generals:generals {path}` in the installed layout, \
         or run this as the key's owner"
    )]
    Unreadable { path: PathBuf },
    #[error(
        "key file {path} cannot be written: its directory {dir} does not exist; create it first \
         (e.g. `install -d -m 0750 {dir}`), or write the key elsewhere"
    )]
    NoDir { path: PathBuf, dir: PathBuf },
    #[error(
        "key file {path} has mode {mode:04o}, so other users can read it; \
         run `chmod 600 {path}` (and replace the key if it may have leaked)"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("key file {path} is not a generals key: {reason}; create one with `generals keygen --out FILE`")]
    Format { path: PathBuf, reason: String },
    #[error(
        "key file {path} is {what}, not a key file; name the key's file instead (e.g. {example}), \
         or write one with `generals keygen --out {example}`",
        // Components drop a trailing "." (`key_file = "."`): dir/node.key, not dir/./node.key.
        example = .path.components().collect::<PathBuf>().join("node.key").display()
    )]
    NotAFile { path: PathBuf, what: &'static str },
}

/// Why reading the key file `path` failed. Permission denied is the usual
/// case: a key left owned by root, for a node that runs as `generals`.
fn read_error(path: &Path, source: io::Error) -> KeyFileError {
    if source.kind() == io::ErrorKind::PermissionDenied {
        KeyFileError::Unreadable {
            path: path.to_owned(),
        }
    } else {
        KeyFileError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// The directory `path` should be in, when creating it failed because that
/// directory does not exist.
fn missing_dir(path: &Path, e: &io::Error) -> Option<PathBuf> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
    (e.kind() == io::ErrorKind::NotFound && !dir.exists()).then(|| dir.to_owned())
}

/// What `meta` is, if it is not a regular file: a key must be one.
fn not_a_file(meta: &fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_char_device() || t.is_block_device() {
        Some("a device")
    } else {
        Some("not a regular file")
    }
}

/// A node's public key. Text form: 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, PublicKeyError> {
        VerifyingKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| PublicKeyError::NotOnCurve)
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The X25519 public key of the same point: its Montgomery u-coordinate,
    /// u = (1 + y) / (1 - y) (RFC 7748, section 4.1). It is the Noise static
    /// key a peer must present for the id this key is configured for.
    pub fn x25519(&self) -> [u8; 32] {
        self.0.to_montgomery().to_bytes()
    }

    /// Checks `sig` over `domain`'s tag followed by `parts`, strictly (no
    /// malleable or small-order encodings).
    pub fn verify(&self, domain: Domain, parts: &[&[u8]], sig: &Sig) -> bool {
        let mut msg = Vec::with_capacity(64 + parts.iter().map(|p| p.len()).sum::<usize>());
        msg.extend_from_slice(domain.tag());
        for p in parts {
            msg.extend_from_slice(p);
        }
        self.verify_prepared(&msg, sig)
    }

    pub(crate) fn verify_prepared(&self, msg: &[u8], sig: &Sig) -> bool {
        VERIFY_MEMO.with(|memo| match memo.borrow_mut().as_mut() {
            None => self.verify_strict(msg, sig),
            Some(memo) => {
                let mut key = Vec::with_capacity(32 + 64 + msg.len());
                key.extend_from_slice(self.0.as_bytes());
                key.extend_from_slice(&sig.0);
                key.extend_from_slice(msg);
                *memo
                    .entry(key.into_boxed_slice())
                    .or_insert_with(|| self.verify_strict(msg, sig))
            }
        })
    }

    fn verify_strict(&self, msg: &[u8], sig: &Sig) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        self.0.verify_strict(msg, &sig).is_ok()
    }
}

thread_local! {
    static VERIFY_MEMO: RefCell<Option<HashMap<Box<[u8]>, bool>>> = const { RefCell::new(None) };
}

/// While it lives, signature checks on this thread remember their answers.
///
/// For the simulator, which runs every general of a case on one thread:
/// there the same signature is checked once by each receiver, and those
/// repeats are most of a search's time. A check's answer is a pure function
/// of (key, signature, message), all three of which are the memo's key, so
/// remembering it changes no answer, only the time. The daemon never starts
/// one: each of its nodes checks what it receives itself.
#[must_use = "the memo is dropped (and forgotten) at once otherwise"]
#[derive(Debug)]
pub struct VerifyMemo(());

impl VerifyMemo {
    /// Starts an empty memo on this thread (replacing any earlier one).
    pub fn start() -> VerifyMemo {
        VERIFY_MEMO.with(|memo| *memo.borrow_mut() = Some(HashMap::new()));
        VerifyMemo(())
    }
}

impl Drop for VerifyMemo {
    fn drop(&mut self) {
        VERIFY_MEMO.with(|memo| *memo.borrow_mut() = None);
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = PublicKeyError;
    fn from_str(s: &str) -> Result<PublicKey, PublicKeyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut bytes).map_err(|_| PublicKeyError::NotHex)?;
        PublicKey::from_bytes(&bytes)
    }
}

/// A public key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicKeyError {
    #[error("a public key is 64 hexadecimal digits (32 bytes); `generals keygen` prints one")]
    NotHex,
    #[error("those 32 bytes are not a valid Ed25519 public key")]
    NotOnCurve,
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&self.to_string())
        } else {
            self.to_bytes().serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PublicKey, D::Error> {
        use serde::de::Error;
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            s.parse().map_err(D::Error::custom)
        } else {
            let b = <[u8; 32]>::deserialize(d)?;
            PublicKey::from_bytes(&b).map_err(D::Error::custom)
        }
    }
}

/// A 64-byte Ed25519 signature as it travels: raw bytes in binary formats,
/// hex in human-readable ones (evidence files, JSON).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sig(pub [u8; 64]);

impl fmt::Debug for Sig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sig({}..)", hex::encode(&self.0[..8]))
    }
}

impl Serialize for Sig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        if s.is_human_readable() {
            return s.serialize_str(&hex::encode(self.0));
        }
        // A fixed-size tuple: 64 bytes, no length prefix.
        let mut t = s.serialize_tuple(64)?;
        for b in &self.0 {
            t.serialize_element(b)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Sig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Sig, D::Error> {
        use serde::de::{Error, SeqAccess, Visitor};
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            let mut b = [0u8; 64];
            hex::decode_to_slice(&s, &mut b)
                .map_err(|_| D::Error::custom("a signature is 128 hexadecimal digits"))?;
            return Ok(Sig(b));
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Sig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 signature bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sig, A::Error> {
                let mut b = [0u8; 64];
                for (i, slot) in b.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| A::Error::invalid_length(i, &self))?;
                }
                Ok(Sig(b))
            }
        }
        d.deserialize_tuple(64, V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn key_file_round_trips_with_mode_0600() {
        let d = dir();
        let path = d.path().join("node.key");
        let key = NodeKey::generate();
        key.save(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = NodeKey::load(&path).unwrap();
        assert_eq!(loaded.public(), key.public());
    }

    #[test]
    fn save_into_a_missing_directory_names_the_directory() {
        let d = dir();
        let path = d.path().join("node0").join("node.key");
        let err = NodeKey::generate().save(&path).unwrap_err();
        assert!(matches!(err, KeyFileError::NoDir { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&format!(
                "install -d -m 0750 {}",
                d.path().join("node0").display()
            )),
            "{text}"
        );
    }

    #[test]
    fn an_unreadable_key_names_its_owner_as_the_fix() {
        // Root reads any file, so the error is made here rather than provoked.
        let path = Path::new("/etc/generals/node0/node.key");
        let err = read_error(path, io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(matches!(err, KeyFileError::Unreadable { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("`chown generals:generals /etc/generals/node0/node.key`"),
            "{text}"
        );
        let err = read_error(path, io::Error::from(io::ErrorKind::Interrupted));
        assert!(matches!(err, KeyFileError::Io { .. }), "{err:?}");
    }

    #[test]
    fn save_refuses_to_overwrite() {
        let d = dir();
        let path = d.path().join("node.key");
        NodeKey::generate().save(&path).unwrap();
        let err = NodeKey::generate().save(&path).unwrap_err();
        assert!(matches!(err, KeyFileError::Exists { .. }), "{err}");
        assert!(err.to_string().contains("refusing to overwrite"));
    }

    /// `key_file = "."` names a directory: saying so is the fix, not chmod.
    #[test]
    fn a_directory_or_device_is_no_key_file_and_no_chmod_is_suggested() {
        let d = dir();
        let path = d.path().join(".");
        for err in [
            NodeKey::load(&path).unwrap_err(),
            NodeKey::generate().save(&path).unwrap_err(),
        ] {
            assert!(
                matches!(
                    err,
                    KeyFileError::NotAFile {
                        what: "a directory",
                        ..
                    }
                ),
                "{err:?}"
            );
            let text = err.to_string();
            assert!(!text.contains("chmod"), "{text}");
            assert!(text.contains("is a directory, not a key file"), "{text}");
            assert!(
                text.contains(&format!("(e.g. {})", d.path().join("node.key").display())),
                "{text}"
            );
        }
        let err = NodeKey::load(Path::new("/dev/null")).unwrap_err();
        assert!(err.to_string().contains("/dev/null is a device"), "{err}");
    }

    #[test]
    fn readable_key_file_is_refused_with_the_fix() {
        let d = dir();
        let path = d.path().join("node.key");
        NodeKey::generate().save(&path).unwrap();
        for mode in [0o640, 0o604, 0o644] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = NodeKey::load(&path).unwrap_err();
            match &err {
                KeyFileError::Permissions { mode: m, .. } => assert_eq!(*m, mode),
                other => panic!("expected a permissions error, got {other}"),
            }
            let text = err.to_string();
            assert!(text.contains("chmod 600"), "{text}");
            assert!(text.contains(&path.display().to_string()), "{text}");
        }
    }

    #[test]
    fn malformed_key_files_name_the_problem() {
        let d = dir();
        let cases: &[(&str, &str)] = &[
            ("hello\n", "first line"),
            ("generals-ed25519-secret-key-v1\n", "secret line is missing"),
            ("generals-ed25519-secret-key-v1\nzz\n", "64 hexadecimal"),
            (
                "generals-ed25519-secret-key-v1\n0000000000000000000000000000000000000000000000000000000000000000\nextra\n",
                "unexpected text",
            ),
        ];
        for (i, (body, want)) in cases.iter().enumerate() {
            let path = d.path().join(format!("k{i}"));
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .unwrap();
            f.write_all(body.as_bytes()).unwrap();
            let err = NodeKey::load(&path).unwrap_err();
            assert!(matches!(err, KeyFileError::Format { .. }), "{err}");
            assert!(
                err.to_string().contains(want),
                "{err} should mention {want}"
            );
        }
        let missing = NodeKey::load(&d.path().join("absent")).unwrap_err();
        assert!(matches!(missing, KeyFileError::Missing { .. }), "{missing}");
        assert!(
            missing.to_string().contains("generals keygen --out"),
            "{missing}"
        );
        // A directory where the file should be is named as one.
        let err = NodeKey::load(d.path()).unwrap_err();
        assert!(matches!(err, KeyFileError::NotAFile { .. }), "{err}");
    }

    #[test]
    fn domain_separation_prevents_cross_use() {
        let key = NodeKey::from_seed([7; 32]);
        let sig = key.sign(Domain::Report, &[b"x"]);
        assert!(key.public().verify(Domain::Report, &[b"x"], &sig));
        assert!(!key.public().verify(Domain::Chain, &[b"x"], &sig));
        assert!(!key.public().verify(Domain::Report, &[b"y"], &sig));
    }

    #[test]
    fn x25519_forms_are_one_key_pair() {
        use curve25519_dalek::MontgomeryPoint;
        let a = NodeKey::from_seed([1; 32]);
        let b = NodeKey::from_seed([2; 32]);
        // The secret's X25519 public key is the Ed25519 key's Montgomery form.
        for k in [&a, &b] {
            let public = MontgomeryPoint::mul_base_clamped(*k.x25519_secret());
            assert_eq!(public.to_bytes(), k.public().x25519());
        }
        // So Diffie-Hellman between converted keys agrees from both ends.
        let ab = MontgomeryPoint(b.public().x25519()).mul_clamped(*a.x25519_secret());
        let ba = MontgomeryPoint(a.public().x25519()).mul_clamped(*b.x25519_secret());
        assert_eq!(ab, ba);
        assert_ne!(a.public().x25519(), b.public().x25519());
        // The secret is already clamped: X25519 uses it unchanged.
        let s = a.x25519_secret();
        assert_eq!(s[0] & 7, 0);
        assert_eq!(s[31] & 0xc0, 0x40);
    }

    #[test]
    fn public_key_text_form_round_trips_and_errors() {
        let pk = NodeKey::from_seed([1; 32]).public();
        assert_eq!(pk.to_string().parse::<PublicKey>().unwrap(), pk);
        assert_eq!("abc".parse::<PublicKey>(), Err(PublicKeyError::NotHex));
        // Some 32-byte strings are not points on the curve at all.
        let off_curve = (0u8..=255)
            .map(|b| {
                let mut bytes = [0u8; 32];
                bytes[0] = b;
                bytes[31] = 0x7f;
                bytes
            })
            .find(|bytes| PublicKey::from_bytes(bytes).is_err())
            .expect("some y coordinate has no point");
        assert_eq!(
            PublicKey::from_bytes(&off_curve),
            Err(PublicKeyError::NotOnCurve)
        );
        assert_eq!(
            hex::encode(off_curve).parse::<PublicKey>(),
            Err(PublicKeyError::NotOnCurve)
        );
        assert!(PublicKeyError::NotHex
            .to_string()
            .contains("generals keygen"));
    }

    /// The memo's key is the whole input: a remembered "good" answer never
    /// leaks to another signature, message or key, and a "bad" one never to
    /// the good signature.
    #[test]
    fn verify_memo_answers_exactly_as_the_check_does() {
        let a = NodeKey::from_seed([1; 32]);
        let b = NodeKey::from_seed([2; 32]);
        let good = a.sign(Domain::Report, &[b"x"]);
        let other = a.sign(Domain::Report, &[b"y"]);
        let cases = |round: &str| {
            assert!(a.public().verify(Domain::Report, &[b"x"], &good), "{round}");
            assert!(
                !a.public().verify(Domain::Report, &[b"x"], &other),
                "{round}: sig"
            );
            assert!(
                !a.public().verify(Domain::Report, &[b"y"], &good),
                "{round}: msg"
            );
            assert!(
                !b.public().verify(Domain::Report, &[b"x"], &good),
                "{round}: key"
            );
            assert!(
                a.public().verify(Domain::Report, &[b"y"], &other),
                "{round}"
            );
        };
        let memo = VerifyMemo::start();
        cases("first, filling the memo");
        cases("second, from the memo");
        assert_eq!(
            VERIFY_MEMO.with(|m| m.borrow().as_ref().map(HashMap::len)),
            Some(5)
        );
        drop(memo);
        assert!(
            VERIFY_MEMO.with(|m| m.borrow().is_none()),
            "dropped, it is off"
        );
        cases("after it");
    }
}
