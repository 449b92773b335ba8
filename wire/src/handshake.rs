//! How a peer link starts (wire version 2), as a sans-I/O state machine.
//!
//! 1. Each side sends a plaintext [`Hello`] (magic, version, claimed id,
//!    cluster id), so a stranger, another version, an unknown id or another
//!    cluster is refused with a precise reason before any cryptography.
//! 2. A Noise `XX` handshake whose static keys are the nodes' Ed25519 keys in
//!    X25519 form. Its prologue binds both `Hello`s and the cluster, so a
//!    tampered preamble fails the handshake. Each side then checks that the
//!    peer's static key is the one its config lists for the claimed id.
//! 3. Each side sends its [`Verdict`] as the first sealed frame and waits for
//!    the peer's. A refusal names the key that side expected, so both
//!    operators learn which config is wrong, and the dialer never sees a link
//!    come up that the listener has refused.
//!
//! The caller moves bytes: [`LinkHandshake::transmit`] gives what to send,
//! [`LinkHandshake::receive`] takes what arrived. docs/WIRE.md section 2 is
//! the byte-level specification.

use std::fmt;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use generals_crypto::{ClusterId, NodeId, NodeKey, PublicKey};
use serde::{Deserialize, Serialize};
use snow::HandshakeState;
use tokio_util::codec::{Decoder, Encoder};
use zeroize::Zeroizing;

use crate::{decode, encode, CodecError, SealedCodec, LENGTH_PREFIX};

pub const MAGIC: [u8; 8] = *b"GENERALS";
pub const VERSION: u16 = 2;
/// Every frame before the link is up (Hello, Noise messages, verdicts) is at
/// most this long; a larger one is not a generals peer.
pub const MAX_PREAMBLE_FRAME: usize = 1024;
/// The whole handshake, from TCP connect to both verdicts.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
pub const NOISE_PATTERN: &str = "Noise_XX_25519_ChaChaPoly_SHA256";
/// The prologue's first bytes: `generals/v2/link` and a zero byte.
pub const PROLOGUE_TAG: &[u8] = b"generals/v2/link\0";
/// Bytes of an encoded [`Hello`] (the frame body, without its length).
pub const HELLO_LEN: usize = 80;
/// The bytes every version's `Hello` starts with: variant tag, magic, version.
const HELLO_PREFIX: usize = 14;
/// Bytes of the largest Noise handshake message this pattern writes.
const MAX_NOISE_MESSAGE: usize = 96;

/// The plaintext frame each side sends first. An enum, so its body starts with
/// the same variant tag (`00000000`) as version 1's, and every version's
/// `Hello` shares its first 14 bytes: a node reads the version before anything
/// that may differ between versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Preamble {
    Hello(Hello),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub magic: [u8; 8],
    pub version: u16,
    /// The id the sender claims; the Noise handshake proves it.
    pub id: NodeId,
    /// The sender's own Ed25519 public key, as a claim: it lets the receiver
    /// name a key its config does not list before any cryptography.
    pub key: [u8; 32],
    /// The sender's [`ClusterId`]: a digest of its peer table.
    pub cluster: [u8; 32],
}

impl Hello {
    pub fn new(id: NodeId, key: &PublicKey, cluster: &ClusterId) -> Hello {
        Hello {
            magic: MAGIC,
            version: VERSION,
            id,
            key: key.to_bytes(),
            cluster: *cluster.as_bytes(),
        }
    }

    /// The frame body: what the prologue binds.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(&Preamble::Hello(*self))
    }

    /// Reads a `Hello` body: the magic and the version first, so a stranger or
    /// a node of another version is named as such whatever follows.
    pub fn parse(body: &[u8]) -> Result<Hello, HandshakeError> {
        let prefix = body
            .get(..HELLO_PREFIX)
            .ok_or(HandshakeError::NotGenerals)?;
        if prefix[..4] != [0; 4] || prefix[4..12] != MAGIC {
            return Err(HandshakeError::NotGenerals);
        }
        let version = u16::from_le_bytes([prefix[12], prefix[13]]);
        if version != VERSION {
            return Err(HandshakeError::Version(version));
        }
        let Preamble::Hello(hello) =
            decode(body).map_err(|e| HandshakeError::Malformed(e.to_string()))?;
        Ok(hello)
    }
}

/// Each side's judgement of the other's static key: the first sealed frame in
/// each direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    Accept,
    /// The peer's static key is not the X25519 form of `expected`, the
    /// Ed25519 key this side's config lists for the peer's id.
    WrongKey {
        expected: PublicKey,
    },
}

/// Which end of the TCP connection a node is. The dialer is the Noise
/// initiator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Dialer,
    Listener,
}

/// `PROLOGUE_TAG ‖ cluster ‖ dialer's Hello ‖ listener's Hello`, each side
/// using its own cluster id and the Hello bytes as sent and received.
pub fn prologue(cluster: &ClusterId, dialer_hello: &[u8], listener_hello: &[u8]) -> Vec<u8> {
    [
        PROLOGUE_TAG,
        cluster.as_bytes(),
        dialer_hello,
        listener_hello,
    ]
    .concat()
}

/// Why a link was refused before it came up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    #[error("handshake timed out after {0:?} (the peer connected but did not finish it)")]
    Timeout(Duration),
    #[error("connection closed during the handshake (if this keeps happening, look at the peer's log: it says why it refused)")]
    Closed,
    #[error("i/o during the handshake: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a generals peer: a handshake frame claims {0} bytes (at most {MAX_PREAMBLE_FRAME} before the link is up)")]
    Oversized(usize),
    #[error("not a generals peer (its Hello lacks the GENERALS magic)")]
    NotGenerals,
    #[error("peer speaks wire version {0}; this node speaks {VERSION} (upgrade one of them)")]
    Version(u16),
    #[error("not a generals peer: malformed handshake frame: {0}")]
    Malformed(String),
    #[error("claims id {0}, which is not in this node's peer list (its config has more generals than this one)")]
    UnknownId(NodeId),
    #[error("claims to be this node's own id {0} (two nodes are configured with one id)")]
    ClaimsOurId(NodeId),
    #[error("dialled {expected} but the listener claims id {got} (addr of peer {expected} points at another general)")]
    WrongPeer { expected: NodeId, got: NodeId },
    #[error("{0}")]
    OtherCluster(Box<ClusterMismatch>),
    #[error(
        "the Noise handshake with node {peer} failed at message {message}: the preamble was \
         altered on the way, or the peer computed another prologue (another cluster or version)"
    )]
    Noise { peer: NodeId, message: u8 },
    #[error("{0}")]
    WrongKey(Box<KeyMismatch>),
    #[error("{0}")]
    RefusedByPeer(Box<PeerRefusal>),
    #[error("node {peer}'s verdict frame: {source}")]
    Sealed { peer: NodeId, source: CodecError },
    #[error("cannot set up Noise locally: {0}")]
    Local(String),
}

/// The peer's key is the one this node lists, but its peer table is not.
#[derive(Debug)]
pub struct ClusterMismatch {
    pub peer: NodeId,
    pub peer_key: PublicKey,
    pub me: NodeId,
    pub own_key: PublicKey,
    /// The cluster id in the peer's Hello.
    pub theirs: [u8; 32],
    pub ours: ClusterId,
}

impl fmt::Display for ClusterMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ClusterMismatch {
            peer,
            peer_key,
            me,
            own_key,
            theirs,
            ours,
        } = self;
        write!(
            f,
            "node {peer} belongs to another cluster: its peer table digests to {}, this \
             node's to {ours}. Its key {peer_key} is the one this node's config lists for it, \
             so the tables differ elsewhere: node {peer}'s config may list an old key for \
             this node (node {me}, whose key is {own_key}), or one of the two configs an old key \
             for a third general, or they count different generals. `generals config check \
             --config FILE --peers OTHER_FILE` names the entry that differs. Make the [[peers]] \
             tables (ids and pubkeys) identical on every node",
            hex::encode(theirs)
        )
    }
}

/// The peer's key is not the one this node's config lists for its id.
#[derive(Debug)]
pub struct KeyMismatch {
    pub peer: NodeId,
    /// The Ed25519 key this node's config lists for `peer`.
    pub expected: PublicKey,
    pub presented: PresentedKey,
}

/// Which key a refused peer came with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresentedKey {
    /// The Ed25519 key its `Hello` claims (checked before any cryptography).
    Claimed([u8; 32]),
    /// The X25519 static key it proved in the Noise handshake, although its
    /// `Hello` claimed the configured key: an impostor.
    Proved([u8; 32]),
}

impl fmt::Display for KeyMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let KeyMismatch {
            peer,
            expected,
            presented,
        } = self;
        match presented {
            PresentedKey::Claimed(key) => write!(
                f,
                "node {peer} has key {}, but this node's config lists {expected} for it; if \
                 node {peer} was given a new key, put it in peers[{peer}].pubkey of this node's \
                 config (and of every other node's), or run node {peer} with its old key",
                hex::encode(key)
            ),
            PresentedKey::Proved(key) => write!(
                f,
                "node {peer} claimed the key this node's config lists for it ({expected}) but \
                 proved another one (X25519 {}, expected X25519 {}): something is impersonating \
                 node {peer}",
                hex::encode(key),
                hex::encode(expected.x25519())
            ),
        }
    }
}

/// The peer refused this node's key: its config lists another one for us.
#[derive(Debug)]
pub struct PeerRefusal {
    pub peer: NodeId,
    pub me: NodeId,
    /// The key the peer's config lists for this node.
    pub expected: PublicKey,
    /// This node's own key.
    pub ours: PublicKey,
}

impl fmt::Display for PeerRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let PeerRefusal {
            peer,
            me,
            expected,
            ours,
        } = self;
        write!(
            f,
            "node {peer} refused this node's key: its config lists {expected} for node {me}, \
             but this node's key is {ours}; fix peers[{me}].pubkey in node {peer}'s config, or \
             run this node with the key listed there"
        )
    }
}

crate::kinds! {
    /// [`HandshakeError`]'s stable names, for logs, counters and metric labels.
    pub enum HandshakeErrorKind {
        Timeout => "timeout",
        Closed => "closed",
        Io => "io",
        Oversized => "oversized",
        NotGenerals => "not_generals",
        Version => "version",
        Malformed => "malformed",
        UnknownId => "unknown_id",
        ClaimsOurId => "own_id",
        WrongPeer => "wrong_peer",
        OtherCluster => "other_cluster",
        Noise => "noise",
        WrongKey => "wrong_key",
        RefusedByPeer => "refused_by_peer",
        Sealed => "sealed",
        Local => "local",
    }
}

impl HandshakeError {
    /// A stable name for logs, counters and metric labels.
    pub fn kind(&self) -> HandshakeErrorKind {
        match self {
            HandshakeError::Timeout(_) => HandshakeErrorKind::Timeout,
            HandshakeError::Closed => HandshakeErrorKind::Closed,
            HandshakeError::Io(_) => HandshakeErrorKind::Io,
            HandshakeError::Oversized(_) => HandshakeErrorKind::Oversized,
            HandshakeError::NotGenerals => HandshakeErrorKind::NotGenerals,
            HandshakeError::Version(_) => HandshakeErrorKind::Version,
            HandshakeError::Malformed(_) => HandshakeErrorKind::Malformed,
            HandshakeError::UnknownId(_) => HandshakeErrorKind::UnknownId,
            HandshakeError::ClaimsOurId(_) => HandshakeErrorKind::ClaimsOurId,
            HandshakeError::WrongPeer { .. } => HandshakeErrorKind::WrongPeer,
            HandshakeError::OtherCluster(_) => HandshakeErrorKind::OtherCluster,
            HandshakeError::Noise { .. } => HandshakeErrorKind::Noise,
            HandshakeError::WrongKey(_) => HandshakeErrorKind::WrongKey,
            HandshakeError::RefusedByPeer(_) => HandshakeErrorKind::RefusedByPeer,
            HandshakeError::Sealed { .. } => HandshakeErrorKind::Sealed,
            HandshakeError::Local(_) => HandshakeErrorKind::Local,
        }
    }
}

/// A link whose both ends proved the keys their configs list and accepted
/// each other.
pub struct Established {
    pub peer: NodeId,
    codec: SealedCodec<Verdict, Verdict>,
}

impl fmt::Debug for Established {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Established")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Established {
    /// The sealed codec for the rest of the link, with the link's frame limit.
    pub fn into_codec<In, Out>(self, max_frame: usize) -> SealedCodec<In, Out> {
        self.codec.retype(max_frame)
    }
}

enum State {
    AwaitHello,
    Noise {
        peer: NodeId,
        noise: Box<HandshakeState>,
        /// Handshake messages read so far.
        read: u8,
    },
    AwaitVerdict {
        peer: NodeId,
        codec: SealedCodec<Verdict, Verdict>,
    },
    Finished,
}

/// One side of a link's handshake. See the module documentation.
pub struct LinkHandshake {
    role: Role,
    me: NodeId,
    secret: Zeroizing<[u8; 32]>,
    own_key: PublicKey,
    peers: Vec<PublicKey>,
    cluster: ClusterId,
    /// The dialer knows whom it dialled.
    expected: Option<NodeId>,
    hello: Vec<u8>,
    /// The id in the peer's Hello, once it parsed (even if refused).
    claimed: Option<NodeId>,
    ephemeral: Option<Zeroizing<[u8; 32]>>,
    state: State,
    out: BytesMut,
}

impl fmt::Debug for LinkHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        f.debug_struct("LinkHandshake")
            .field("role", &self.role)
            .field("me", &self.me)
            .field("peer", &self.peer())
            .finish_non_exhaustive()
    }
}

impl LinkHandshake {
    /// The dialing side: `me` holding `key` dials `peer`; `peers[i]` is the
    /// public key the config lists for general `i`.
    pub fn dialer(me: NodeId, key: &NodeKey, peers: &[PublicKey], peer: NodeId) -> Self {
        LinkHandshake::new(Role::Dialer, me, key, key.public(), peers, Some(peer))
    }

    /// The accepting side: any general of the config may be on the other end.
    pub fn listener(me: NodeId, key: &NodeKey, peers: &[PublicKey]) -> Self {
        LinkHandshake::new(Role::Listener, me, key, key.public(), peers, None)
    }

    /// Tests only: a dialer that claims `claimed` in its Hello while it holds
    /// `key`, as an impostor would. A listener lets it through the Hello and
    /// refuses it once the Noise handshake shows the key it holds.
    #[doc(hidden)]
    pub fn impostor_dialer_for_tests(
        me: NodeId,
        key: &NodeKey,
        claimed: PublicKey,
        peers: &[PublicKey],
        peer: NodeId,
    ) -> Self {
        LinkHandshake::new(Role::Dialer, me, key, claimed, peers, Some(peer))
    }

    /// `claimed` goes in the Hello: `key.public()`, except for impostors in tests.
    fn new(
        role: Role,
        me: NodeId,
        key: &NodeKey,
        claimed: PublicKey,
        peers: &[PublicKey],
        expected: Option<NodeId>,
    ) -> Self {
        let cluster = ClusterId::of(peers);
        let hello = Hello::new(me, &claimed, &cluster).to_bytes();
        let mut hs = LinkHandshake {
            role,
            me,
            secret: key.x25519_secret(),
            own_key: key.public(),
            peers: peers.to_vec(),
            cluster,
            expected,
            hello,
            claimed: None,
            ephemeral: None,
            state: State::AwaitHello,
            out: BytesMut::new(),
        };
        let hello = hs.hello.clone();
        hs.send_frame(&hello);
        hs
    }

    /// Test vectors only: use this ephemeral secret instead of a random one.
    /// Reusing an ephemeral key on two links breaks their secrecy.
    #[doc(hidden)]
    pub fn fixed_ephemeral_for_test_vectors(mut self, secret: [u8; 32]) -> Self {
        self.ephemeral = Some(Zeroizing::new(secret));
        self
    }

    /// The id the peer claims, once its Hello has arrived (also after a
    /// refusal, for logs).
    pub fn peer(&self) -> Option<NodeId> {
        self.claimed
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Bytes to write to the peer now. After `receive` fails they may hold a
    /// refusal verdict, which the caller should still send before closing.
    pub fn transmit(&mut self) -> BytesMut {
        self.out.split()
    }

    /// Consumes every complete handshake frame at the front of `src`. Returns
    /// the link once both verdicts are in; bytes after them stay in `src`
    /// (sealed frames the peer sent right away).
    pub fn receive(&mut self, src: &mut BytesMut) -> Result<Option<Established>, HandshakeError> {
        loop {
            if let State::AwaitVerdict { .. } = self.state {
                return self.on_verdict(src);
            }
            let Some(frame) = take_frame(src)? else {
                return Ok(None);
            };
            if let Err(e) = self.on_frame(&frame) {
                self.state = State::Finished;
                return Err(e);
            }
        }
    }

    fn on_verdict(&mut self, src: &mut BytesMut) -> Result<Option<Established>, HandshakeError> {
        let State::AwaitVerdict { peer, mut codec } =
            std::mem::replace(&mut self.state, State::Finished)
        else {
            return Ok(None);
        };
        match codec.decode(src) {
            Ok(None) => {
                self.state = State::AwaitVerdict { peer, codec };
                Ok(None)
            }
            Ok(Some(Verdict::Accept)) => Ok(Some(Established { peer, codec })),
            Ok(Some(Verdict::WrongKey { expected })) => {
                Err(HandshakeError::RefusedByPeer(Box::new(PeerRefusal {
                    peer,
                    me: self.me,
                    expected,
                    ours: self.own_key,
                })))
            }
            Err(source) => Err(HandshakeError::Sealed { peer, source }),
        }
    }

    fn on_frame(&mut self, frame: &[u8]) -> Result<(), HandshakeError> {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::AwaitHello => self.on_hello(frame),
            State::Noise {
                peer,
                mut noise,
                read,
            } => {
                let message = read * 2 + if self.role == Role::Dialer { 2 } else { 1 };
                let mut payload = [0u8; MAX_NOISE_MESSAGE];
                let n = noise
                    .read_message(frame, &mut payload)
                    .map_err(|_| HandshakeError::Noise { peer, message })?;
                if n != 0 {
                    return Err(HandshakeError::Malformed(format!(
                        "Noise message {message} carries a {n}-byte payload; it must be empty"
                    )));
                }
                if !noise.is_handshake_finished() {
                    let reply = self.write_noise(&mut noise)?;
                    self.send_frame(&reply);
                }
                if !noise.is_handshake_finished() {
                    self.state = State::Noise {
                        peer,
                        noise,
                        read: read + 1,
                    };
                    return Ok(());
                }
                // The dialer has the listener's key since message 2, the
                // listener the dialer's since message 3.
                let verdict = self.judge(peer, &noise);
                self.send_verdict(peer, *noise, verdict)
            }
            State::AwaitVerdict { .. } | State::Finished => Err(HandshakeError::Local(
                "handshake frame after the handshake".to_owned(),
            )),
        }
    }

    fn on_hello(&mut self, frame: &[u8]) -> Result<(), HandshakeError> {
        let theirs = Hello::parse(frame)?;
        let peer = theirs.id;
        self.claimed = Some(peer);
        match self.expected {
            Some(expected) if expected != peer => {
                return Err(HandshakeError::WrongPeer {
                    expected,
                    got: peer,
                })
            }
            _ if peer == self.me => return Err(HandshakeError::ClaimsOurId(peer)),
            _ if peer.index() >= self.peers.len() => return Err(HandshakeError::UnknownId(peer)),
            _ => {}
        }
        // The key first: when two configs disagree about one key, the side
        // with the other key listed says exactly which.
        let expected_key = self.peers[peer.index()];
        if theirs.key != expected_key.to_bytes() {
            return Err(HandshakeError::WrongKey(Box::new(KeyMismatch {
                peer,
                expected: expected_key,
                presented: PresentedKey::Claimed(theirs.key),
            })));
        }
        if theirs.cluster != *self.cluster.as_bytes() {
            return Err(HandshakeError::OtherCluster(Box::new(ClusterMismatch {
                peer,
                peer_key: expected_key,
                me: self.me,
                own_key: self.own_key,
                theirs: theirs.cluster,
                ours: self.cluster,
            })));
        }
        let prologue = match self.role {
            Role::Dialer => prologue(&self.cluster, &self.hello, frame),
            Role::Listener => prologue(&self.cluster, frame, &self.hello),
        };
        let local = |e: snow::Error| HandshakeError::Local(e.to_string());
        let params = NOISE_PATTERN.parse().map_err(local)?;
        let mut builder = snow::Builder::new(params)
            .local_private_key(self.secret.as_slice())
            .map_err(local)?
            .prologue(&prologue)
            .map_err(local)?;
        if let Some(e) = &self.ephemeral {
            builder = builder.fixed_ephemeral_key_for_testing_only(e.as_slice());
        }
        let mut noise = Box::new(
            match self.role {
                Role::Dialer => builder.build_initiator(),
                Role::Listener => builder.build_responder(),
            }
            .map_err(local)?,
        );
        if self.role == Role::Dialer {
            let msg = self.write_noise(&mut noise)?;
            self.send_frame(&msg);
        }
        self.state = State::Noise {
            peer,
            noise,
            read: 0,
        };
        Ok(())
    }

    /// Whether the peer's static key is the one the config lists for `peer`.
    fn judge(&self, peer: NodeId, noise: &HandshakeState) -> Result<(), HandshakeError> {
        let expected = self.peers[peer.index()];
        let presented = noise.get_remote_static().unwrap_or_default();
        if presented == expected.x25519() {
            return Ok(());
        }
        let mut key = [0u8; 32];
        if let Some(bytes) = presented.get(..32) {
            key.copy_from_slice(bytes);
        }
        Err(HandshakeError::WrongKey(Box::new(KeyMismatch {
            peer,
            expected,
            presented: PresentedKey::Proved(key),
        })))
    }

    fn write_noise(&self, noise: &mut HandshakeState) -> Result<Vec<u8>, HandshakeError> {
        let mut msg = vec![0u8; MAX_NOISE_MESSAGE];
        let n = noise
            .write_message(&[], &mut msg)
            .map_err(|e| HandshakeError::Local(e.to_string()))?;
        msg.truncate(n);
        Ok(msg)
    }

    /// Sends this side's verdict as the first sealed frame; a refusal ends the
    /// handshake here, after the verdict is queued.
    fn send_verdict(
        &mut self,
        peer: NodeId,
        noise: HandshakeState,
        verdict: Result<(), HandshakeError>,
    ) -> Result<(), HandshakeError> {
        let transport = noise
            .into_stateless_transport_mode()
            .map_err(|e| HandshakeError::Local(e.to_string()))?;
        let mut codec = SealedCodec::new(transport, MAX_PREAMBLE_FRAME);
        let v = match &verdict {
            Ok(()) => Verdict::Accept,
            Err(_) => Verdict::WrongKey {
                expected: self.peers[peer.index()],
            },
        };
        codec
            .encode(&v, &mut self.out)
            .map_err(|source| HandshakeError::Sealed { peer, source })?;
        verdict?;
        self.state = State::AwaitVerdict { peer, codec };
        Ok(())
    }

    fn send_frame(&mut self, body: &[u8]) {
        self.out.put_u32(body.len() as u32);
        self.out.extend_from_slice(body);
    }
}

/// The next pre-handshake frame (`len:u32be ‖ body`, 1 ≤ len ≤ 1024).
fn take_frame(src: &mut BytesMut) -> Result<Option<BytesMut>, HandshakeError> {
    let Some(head) = src.get(..LENGTH_PREFIX) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if len > MAX_PREAMBLE_FRAME {
        return Err(HandshakeError::Oversized(len));
    }
    if len == 0 {
        return Err(HandshakeError::Malformed("an empty frame".to_owned()));
    }
    if src.len() < LENGTH_PREFIX + len {
        return Ok(None);
    }
    src.advance(LENGTH_PREFIX);
    Ok(Some(src.split_to(len)))
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    pub(crate) fn key(i: u8) -> NodeKey {
        NodeKey::from_seed([i + 1; 32])
    }

    pub(crate) fn table(n: u8) -> Vec<PublicKey> {
        (0..n).map(|i| key(i).public()).collect()
    }

    type Outcome = Result<Option<Established>, HandshakeError>;

    /// Moves bytes between two handshakes until neither has more to say,
    /// passing each flight through `wire` (an on-path attacker in tests).
    pub(crate) fn pump_with(
        d: &mut LinkHandshake,
        l: &mut LinkHandshake,
        mut wire: impl FnMut(Role, &mut BytesMut),
    ) -> (Outcome, Outcome) {
        let (mut to_l, mut to_d) = (BytesMut::new(), BytesMut::new());
        let (mut dr, mut lr): (Outcome, Outcome) = (Ok(None), Ok(None));
        for _ in 0..8 {
            let mut flight = d.transmit();
            wire(Role::Dialer, &mut flight);
            to_l.extend_from_slice(&flight);
            if matches!(lr, Ok(None)) {
                lr = l.receive(&mut to_l);
            }
            let mut flight = l.transmit();
            wire(Role::Listener, &mut flight);
            to_d.extend_from_slice(&flight);
            if matches!(dr, Ok(None)) {
                dr = d.receive(&mut to_d);
            }
        }
        (dr, lr)
    }

    pub(crate) fn pump(d: &mut LinkHandshake, l: &mut LinkHandshake) -> (Outcome, Outcome) {
        pump_with(d, l, |_, _| {})
    }

    /// Node 0 dials node 1 of a 2-node cluster; both accept.
    pub(crate) fn established() -> (Established, Established) {
        let peers = table(2);
        let mut d = LinkHandshake::dialer(NodeId(0), &key(0), &peers, NodeId(1));
        let mut l = LinkHandshake::listener(NodeId(1), &key(1), &peers);
        match pump(&mut d, &mut l) {
            (Ok(Some(d)), Ok(Some(l))) => (d, l),
            other => panic!("handshake failed: {other:?}"),
        }
    }

    #[test]
    fn both_ends_establish_and_seal_both_ways() {
        let (d, l) = established();
        assert_eq!((d.peer, l.peer), (NodeId(1), NodeId(0)));
        let mut d = d.into_codec::<String, String>(1024);
        let mut l = l.into_codec::<String, String>(1024);
        let mut buf = BytesMut::new();
        d.encode(&"to the listener".to_owned(), &mut buf).unwrap();
        assert_eq!(
            l.decode(&mut buf).unwrap().as_deref(),
            Some("to the listener")
        );
        l.encode(&"to the dialer".to_owned(), &mut buf).unwrap();
        assert_eq!(
            d.decode(&mut buf).unwrap().as_deref(),
            Some("to the dialer")
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn a_key_the_config_does_not_list_is_refused_by_name() {
        // Node 0 has a new key that node 1's config does not list yet: node 1
        // refuses at the Hello, naming both keys and the fix; node 0 sees
        // that the peer tables differ, and which of its entries to suspect.
        let new_key = NodeKey::from_seed([99; 32]);
        let mut updated = table(2);
        updated[0] = new_key.public();
        let mut d = LinkHandshake::dialer(NodeId(0), &new_key, &updated, NodeId(1));
        let mut l = LinkHandshake::listener(NodeId(1), &key(1), &table(2));
        let (dr, lr) = pump(&mut d, &mut l);
        match &lr {
            Err(e @ HandshakeError::WrongKey(w)) => {
                assert_eq!(w.peer, NodeId(0));
                assert_eq!(w.expected, key(0).public());
                assert_eq!(
                    w.presented,
                    PresentedKey::Claimed(new_key.public().to_bytes())
                );
                let text = e.to_string();
                for want in [
                    new_key.public().to_string(),
                    key(0).public().to_string(),
                    "peers[0].pubkey".to_owned(),
                ] {
                    assert!(text.contains(&want), "{text} should name {want}");
                }
            }
            other => panic!("listener: {other:?}"),
        }
        match &dr {
            Err(e @ HandshakeError::OtherCluster(_)) => {
                let text = e.to_string();
                assert!(text.contains(&new_key.public().to_string()), "{text}");
                assert!(text.contains("[[peers]]"), "{text}");
            }
            other => panic!("dialer: {other:?}"),
        }
    }

    #[test]
    fn an_impostor_claiming_the_configured_key_is_refused_after_noise() {
        let peers = table(2);
        let impostor = NodeKey::from_seed([99; 32]);
        // Claims node 0's id and key, holds another key.
        let mut d = LinkHandshake::impostor_dialer_for_tests(
            NodeId(0),
            &impostor,
            key(0).public(),
            &peers,
            NodeId(1),
        );
        let mut l = LinkHandshake::listener(NodeId(1), &key(1), &peers);
        let (dr, lr) = pump(&mut d, &mut l);
        match &lr {
            Err(HandshakeError::WrongKey(w)) => {
                assert_eq!(w.peer, NodeId(0));
                assert_eq!(
                    w.presented,
                    PresentedKey::Proved(impostor.public().x25519())
                );
                assert!(w.to_string().contains("impersonating"), "{w}");
            }
            other => panic!("listener: {other:?}"),
        }
        // The dialer is told, by a verdict sealed under the listener's key.
        match &dr {
            Err(e @ HandshakeError::RefusedByPeer(r)) => {
                assert_eq!((r.peer, r.expected), (NodeId(1), key(0).public()));
                let text = e.to_string();
                assert!(text.contains("peers[0].pubkey"), "{text}");
            }
            other => panic!("dialer: {other:?}"),
        }

        // And a listener that is not the node the dialer's config lists.
        let mut d = LinkHandshake::dialer(NodeId(0), &key(0), &peers, NodeId(1));
        let mut l = LinkHandshake::new(
            Role::Listener,
            NodeId(1),
            &impostor,
            key(1).public(),
            &peers,
            None,
        );
        let (dr, lr) = pump(&mut d, &mut l);
        assert!(
            matches!(&dr, Err(HandshakeError::WrongKey(w)) if w.peer == NodeId(1)),
            "{dr:?}"
        );
        assert!(
            matches!(&lr, Err(HandshakeError::RefusedByPeer(r)) if r.peer == NodeId(0)),
            "{lr:?}"
        );
    }

    #[test]
    fn a_node_of_another_cluster_is_refused() {
        let ours = table(3);
        let mut theirs = ours.clone();
        theirs[2] = NodeKey::from_seed([42; 32]).public();
        let mut d = LinkHandshake::dialer(NodeId(0), &key(0), &theirs, NodeId(1));
        let mut l = LinkHandshake::listener(NodeId(1), &key(1), &ours);
        let (dr, lr) = pump(&mut d, &mut l);
        for r in [&dr, &lr] {
            assert!(matches!(r, Err(HandshakeError::OtherCluster(_))), "{r:?}");
        }

        // When each Hello claims its receiver's cluster (a liar, or an
        // attacker rewriting both), the plaintext checks pass, but the
        // prologues differ: Noise fails.
        let mut d = LinkHandshake::dialer(NodeId(0), &key(0), &theirs, NodeId(1));
        let mut l = LinkHandshake::listener(NodeId(1), &key(1), &ours);
        let (dr, lr) = pump_with(&mut d, &mut l, |from, flight| {
            let to = match from {
                Role::Dialer => &ours,
                Role::Listener => &theirs,
            };
            if flight.len() >= 4 + HELLO_LEN && flight[4..18] == hello_prefix() {
                flight[4 + 48..4 + 80].copy_from_slice(ClusterId::of(to).as_bytes());
            }
        });
        assert!(
            matches!(
                dr,
                Err(HandshakeError::Noise {
                    peer: NodeId(1),
                    message: 2
                })
            ),
            "{dr:?}"
        );
        assert!(
            matches!(lr, Ok(None)),
            "the listener never finished: {lr:?}"
        );
    }

    /// The first 14 bytes of every version-2 Hello.
    fn hello_prefix() -> Vec<u8> {
        hello(0, 1)[..HELLO_PREFIX].to_vec()
    }

    /// Node `id`'s Hello in a cluster of `n` (keys `key(i)`).
    fn hello(id: u16, n: u8) -> Vec<u8> {
        let peers = table(n);
        Hello::new(NodeId(id), &key(id as u8).public(), &ClusterId::of(&peers)).to_bytes()
    }

    #[test]
    fn a_tampered_preamble_fails_the_handshake() {
        // An on-path attacker makes node 0's Hello claim to be node 2, with
        // node 2's id and key, which the listener's config lists: only the
        // prologue catches it, before either side trusts anything.
        let peers = table(3);
        let mut d = LinkHandshake::dialer(NodeId(0), &key(0), &peers, NodeId(1));
        let mut l = LinkHandshake::listener(NodeId(1), &key(1), &peers);
        let mut done = false;
        let (dr, lr) = pump_with(&mut d, &mut l, |from, flight| {
            if from == Role::Dialer && !done {
                done = true;
                flight[4..4 + HELLO_LEN].copy_from_slice(&hello(2, 3));
            }
        });
        assert!(
            matches!(dr, Err(HandshakeError::Noise { message: 2, .. })),
            "{dr:?}"
        );
        assert!(matches!(lr, Ok(None)), "{lr:?}");
        // Any altered byte of a Noise message fails too.
        let mut d = LinkHandshake::dialer(NodeId(0), &key(0), &peers, NodeId(1));
        let mut l = LinkHandshake::listener(NodeId(1), &key(1), &peers);
        let mut flights = 0;
        let (dr, lr) = pump_with(&mut d, &mut l, |from, flight| {
            if from == Role::Listener && !flight.is_empty() {
                flights += 1;
                if flights == 2 {
                    // Message 2: its last byte is in the payload's tag.
                    let last = flight.len() - 1;
                    flight[last] ^= 1;
                }
            }
        });
        assert!(
            matches!(dr, Err(HandshakeError::Noise { message: 2, .. })),
            "{dr:?}"
        );
        assert!(matches!(lr, Ok(None)), "{lr:?}");
    }

    #[test]
    fn preamble_errors_name_the_problem() {
        let peers = table(2);
        let listener = || LinkHandshake::listener(NodeId(1), &key(1), &peers);
        let feed = |bytes: &[u8]| {
            let mut l = listener();
            l.receive(&mut BytesMut::from(bytes)).map(|e| e.is_some())
        };
        // An HTTP request reads as a huge length.
        assert!(matches!(
            feed(b"GET / HTTP/1.1\r\n"),
            Err(HandshakeError::Oversized(1_195_725_856))
        ));
        let frame = |body: &[u8]| [&(body.len() as u32).to_be_bytes()[..], body].concat();
        assert!(matches!(
            feed(&frame(b"hello there, general")),
            Err(HandshakeError::NotGenerals)
        ));
        // A version-1 Hello: the same first 14 bytes, then id and nonce.
        let mut v1 = hello(0, 2)[..48].to_vec();
        v1[12] = 1;
        assert!(matches!(feed(&frame(&v1)), Err(HandshakeError::Version(1))));
        let ok = hello(0, 2);
        assert!(matches!(
            feed(&frame(&ok[..20])),
            Err(HandshakeError::Malformed(_))
        ));
        assert!(matches!(
            feed(&frame(&hello(1, 2))),
            Err(HandshakeError::ClaimsOurId(NodeId(1)))
        ));
        assert!(matches!(
            feed(&frame(&hello(7, 2))),
            Err(HandshakeError::UnknownId(NodeId(7)))
        ));
        // The dialer checks that it reached the node it dialled.
        let mut d = LinkHandshake::dialer(NodeId(0), &key(0), &table(3), NodeId(1));
        let hello2 = frame(&hello(2, 3));
        assert!(matches!(
            d.receive(&mut BytesMut::from(&hello2[..])),
            Err(HandshakeError::WrongPeer {
                expected: NodeId(1),
                got: NodeId(2)
            })
        ));
        // Incomplete input is not an error: the caller reads more.
        assert!(matches!(feed(&frame(&ok)[..10]), Ok(false)));
    }

    /// The error names the Noise message that failed, counted over the whole
    /// exchange (1 and 3 from the dialer, 2 from the listener), so an
    /// operator can tell which side's flight was altered.
    #[test]
    fn a_tampered_third_message_is_named_as_message_3() {
        let peers = table(2);
        let mut d = LinkHandshake::dialer(NodeId(0), &key(0), &peers, NodeId(1));
        let mut l = LinkHandshake::listener(NodeId(1), &key(1), &peers);
        let mut flights = 0;
        let (_, lr) = pump_with(&mut d, &mut l, |from, flight| {
            if from == Role::Dialer && !flight.is_empty() {
                flights += 1;
                if flights == 3 {
                    // Flights: Hello, message 1, then message 3 (its first
                    // frame), whose last byte is in the payload's tag.
                    let len = u32::from_be_bytes([flight[0], flight[1], flight[2], flight[3]]);
                    flight[LENGTH_PREFIX + len as usize - 1] ^= 1;
                }
            }
        });
        assert!(
            matches!(lr, Err(HandshakeError::Noise { message: 3, .. })),
            "{lr:?}"
        );
    }

    /// The claimed id is known from the Hello on, also after a refusal (for
    /// the log line), and the Debug forms name the peer but no secret.
    #[test]
    fn the_claimed_peer_is_known_from_its_hello() {
        let peers = table(3);
        let mut l = LinkHandshake::listener(NodeId(1), &key(1), &peers);
        assert_eq!(l.peer(), None);
        let wrong =
            LinkHandshake::dialer(NodeId(2), &NodeKey::from_seed([99; 32]), &peers, NodeId(1));
        let mut d = wrong;
        let (_, lr) = pump(&mut d, &mut l);
        assert!(matches!(lr, Err(HandshakeError::WrongKey(_))), "{lr:?}");
        assert_eq!(l.peer(), Some(NodeId(2)));
        let debug = format!("{l:?}");
        assert!(debug.contains("peer: Some(NodeId(2))"), "{debug}");
        let (d, _) = established();
        assert_eq!(format!("{d:?}"), "Established { peer: NodeId(1), .. }");
    }

    /// The magic is checked whole: zero length bytes and "GENERALS".
    #[test]
    fn a_hello_with_the_magic_in_the_wrong_place_is_no_hello() {
        let peers = table(2);
        let frame = |body: &[u8]| [&(body.len() as u32).to_be_bytes()[..], body].concat();
        for flip in [0, 4] {
            let mut h = hello(0, 2);
            h[flip] ^= 1;
            let mut l = LinkHandshake::listener(NodeId(1), &key(1), &peers);
            let r = l.receive(&mut BytesMut::from(&frame(&h)[..]));
            assert!(
                matches!(r, Err(HandshakeError::NotGenerals)),
                "byte {flip}: {r:?}"
            );
        }
    }

    /// MAX_PREAMBLE_FRAME itself is allowed; one more byte is not.
    #[test]
    fn the_preamble_frame_limit_is_inclusive() {
        let peers = table(2);
        let feed = |len: usize| {
            let mut l = LinkHandshake::listener(NodeId(1), &key(1), &peers);
            let mut buf = BytesMut::new();
            buf.put_u32(len as u32);
            buf.extend_from_slice(&vec![0u8; len]);
            l.receive(&mut buf)
        };
        assert!(matches!(
            feed(MAX_PREAMBLE_FRAME),
            Err(HandshakeError::NotGenerals)
        ));
        assert!(matches!(
            feed(MAX_PREAMBLE_FRAME + 1),
            Err(HandshakeError::Oversized(n)) if n == MAX_PREAMBLE_FRAME + 1
        ));
    }

    /// Counter names are part of the status output operators script against.
    #[test]
    fn handshake_error_kinds_are_stable() {
        let cases = [
            (HandshakeError::Closed, "closed"),
            (HandshakeError::Oversized(2000), "oversized"),
            (HandshakeError::NotGenerals, "not_generals"),
            (HandshakeError::Version(1), "version"),
            (HandshakeError::Malformed(String::new()), "malformed"),
            (HandshakeError::UnknownId(NodeId(9)), "unknown_id"),
            (HandshakeError::ClaimsOurId(NodeId(1)), "own_id"),
        ];
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind, "{e}");
        }
    }
}
