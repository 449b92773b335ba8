//! Peer links: one authenticated TCP connection per pair of generals.
//!
//! The lower id dials, the higher listens, so a pair never races two
//! connections. A new authenticated connection from a peer replaces the old
//! one (the peer restarted). Dialers redial forever with capped, jittered
//! backoff. Every link starts with the mutual Ed25519 challenge-response of
//! `generals_wire::handshake`; a peer that cannot prove the configured key for
//! the id it claims is refused and logged, and no other link is touched.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use generals_crypto::{NodeId, PublicKey};
use generals_wire::handshake::{self, Handshake, Hello, Role};
use generals_wire::{CodecError, MessageCodec, PeerMessage};
use rand_core::{OsRng, RngCore};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::{Framed, FramedRead, FramedWrite};
use tracing::{debug, info, warn};

use crate::protocol::Keyring;

/// Handshake frames are tiny; a larger one is not a generals peer.
const MAX_HANDSHAKE_FRAME: usize = 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(3);

/// What the link layer tells the driver.
// Messages are the common case; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum LinkEvent {
    Up {
        peer: NodeId,
        link: u64,
        tx: mpsc::Sender<PeerMessage>,
    },
    Message {
        peer: NodeId,
        link: u64,
        msg: PeerMessage,
        bytes: usize,
    },
    Down {
        peer: NodeId,
        link: u64,
        reason: String,
    },
    Refused {
        addr: SocketAddr,
        reason: String,
    },
}

/// Everything link tasks share.
#[derive(Debug)]
pub struct LinkContext {
    pub keys: Arc<Keyring>,
    pub addrs: Vec<SocketAddr>,
    pub max_frame: usize,
    pub send_queue: usize,
    pub events: mpsc::Sender<LinkEvent>,
    next_link: AtomicU64,
}

impl LinkContext {
    pub fn new(
        keys: Arc<Keyring>,
        addrs: Vec<SocketAddr>,
        max_frame: usize,
        send_queue: usize,
        events: mpsc::Sender<LinkEvent>,
    ) -> Arc<LinkContext> {
        Arc::new(LinkContext {
            keys,
            addrs,
            max_frame,
            send_queue,
            events,
            next_link: AtomicU64::new(1),
        })
    }

    fn me(&self) -> NodeId {
        self.keys.me
    }

    fn key_of(&self, id: NodeId) -> Option<&PublicKey> {
        self.keys.peers.get(id.index())
    }
}

/// Why a connection was refused during the handshake.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("handshake timed out after {0:?}")]
    Timeout(Duration),
    #[error("connection closed during the handshake")]
    Closed,
    #[error("not a generals peer: its first frame claims {0} bytes")]
    Oversized(usize),
    #[error("not a generals peer: {0}")]
    Codec(CodecError),
    #[error("not a generals peer (its Hello lacks the GENERALS magic)")]
    BadMagic,
    #[error("peer speaks wire version {0}; this node speaks {v} (upgrade one of them)", v = handshake::VERSION)]
    Version(u16),
    #[error("expected a {0} message")]
    Unexpected(&'static str),
    #[error("claims id {0}, which is not in this node's peer list")]
    UnknownId(NodeId),
    #[error("claims to be this node's own id {0}")]
    ClaimsOurId(NodeId),
    #[error("dialled {expected} but the listener claims id {got}")]
    WrongPeer { expected: NodeId, got: NodeId },
    #[error("claims id {0} but cannot prove the key the config lists for it")]
    BadProof(NodeId),
}

impl From<CodecError> for HandshakeError {
    fn from(e: CodecError) -> HandshakeError {
        match e {
            // The limit here is the handshake's own, not max_frame_bytes.
            CodecError::TooLarge { len, .. } => HandshakeError::Oversized(len),
            other => HandshakeError::Codec(other),
        }
    }
}

type HandshakeFramed = Framed<TcpStream, MessageCodec<Handshake, Handshake>>;

async fn next_handshake(framed: &mut HandshakeFramed) -> Result<Handshake, HandshakeError> {
    match framed.next().await {
        Some(Ok(m)) => Ok(m),
        Some(Err(e)) => Err(e.into()),
        None => Err(HandshakeError::Closed),
    }
}

/// Runs the challenge-response; returns the proven peer id.
async fn authenticate(
    ctx: &LinkContext,
    framed: &mut HandshakeFramed,
    role: Role,
    expected: Option<NodeId>,
) -> Result<NodeId, HandshakeError> {
    let mut nonce = [0u8; 32];
    OsRng.fill_bytes(&mut nonce);
    let mine = Hello::new(ctx.me(), nonce);
    framed.send(&Handshake::Hello(mine)).await?;
    let Handshake::Hello(theirs) = next_handshake(framed).await? else {
        return Err(HandshakeError::Unexpected("Hello"));
    };
    if theirs.magic != handshake::MAGIC {
        return Err(HandshakeError::BadMagic);
    }
    if theirs.version != handshake::VERSION {
        return Err(HandshakeError::Version(theirs.version));
    }
    let peer = theirs.id;
    if peer == ctx.me() {
        return Err(HandshakeError::ClaimsOurId(peer));
    }
    let key = ctx.key_of(peer).ok_or(HandshakeError::UnknownId(peer))?;
    if let Some(expected) = expected.filter(|&e| e != peer) {
        return Err(HandshakeError::WrongPeer {
            expected,
            got: peer,
        });
    }
    let (dialer, listener, their_role) = match role {
        Role::Dialer => (&mine, &theirs, Role::Listener),
        Role::Listener => (&theirs, &mine, Role::Dialer),
    };
    framed
        .send(&Handshake::Auth(handshake::sign(
            &ctx.keys.key,
            role,
            dialer,
            listener,
        )))
        .await?;
    let Handshake::Auth(auth) = next_handshake(framed).await? else {
        return Err(HandshakeError::Unexpected("Auth"));
    };
    if !handshake::verify(key, their_role, dialer, listener, &auth) {
        return Err(HandshakeError::BadProof(peer));
    }
    Ok(peer)
}

async fn handshake_with_timeout(
    ctx: &LinkContext,
    framed: &mut HandshakeFramed,
    role: Role,
    expected: Option<NodeId>,
) -> Result<NodeId, HandshakeError> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, authenticate(ctx, framed, role, expected))
        .await
        .map_err(|_| HandshakeError::Timeout(HANDSHAKE_TIMEOUT))?
}

/// Accepts connections forever; each one is authenticated in its own task.
pub async fn accept_loop(ctx: Arc<LinkContext>, listener: TcpListener) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        tokio::spawn(establish(ctx.clone(), stream, addr, Role::Listener, None));
    }
}

/// Authenticates a fresh connection and, if the peer proves its key, carries
/// the link until it fails. Returns whether the link came up.
async fn establish(
    ctx: Arc<LinkContext>,
    stream: TcpStream,
    addr: SocketAddr,
    role: Role,
    expected: Option<NodeId>,
) -> bool {
    let _ = stream.set_nodelay(true);
    let mut framed = Framed::new(stream, MessageCodec::new(MAX_HANDSHAKE_FRAME));
    match handshake_with_timeout(&ctx, &mut framed, role, expected).await {
        Ok(peer) => {
            info!(%peer, %addr, ?role, "link up");
            run_link(ctx, peer, framed).await;
            true
        }
        Err(e) => {
            warn!(%addr, ?role, reason = %e, "refused a connection");
            let reason = e.to_string();
            let _ = ctx.events.send(LinkEvent::Refused { addr, reason }).await;
            false
        }
    }
}

/// Dials `peer` forever, with capped and jittered backoff between attempts.
pub async fn dial_loop(ctx: Arc<LinkContext>, peer: NodeId) {
    let Some(&addr) = ctx.addrs.get(peer.index()) else {
        return;
    };
    let mut backoff = BACKOFF_MIN;
    let mut failures = 0u64;
    loop {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                if establish(ctx.clone(), stream, addr, Role::Dialer, Some(peer)).await {
                    backoff = BACKOFF_MIN;
                    failures = 0;
                }
            }
            // Say so once per outage; the retries go to debug.
            Err(e) if failures == 0 => {
                failures += 1;
                warn!(%peer, %addr, error = %e, "cannot reach peer; redialling with backoff");
            }
            Err(e) => {
                failures += 1;
                debug!(%peer, %addr, error = %e, failures, "dial failed");
            }
        }
        // Full jitter in [backoff/2, backoff], so restarted clusters do not redial in lockstep.
        let jitter = OsRng.next_u64() % (backoff.as_millis() as u64 / 2 + 1);
        tokio::time::sleep(backoff / 2 + Duration::from_millis(jitter)).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Carries frames both ways until either direction fails, then reports Down.
/// Reading and writing are separate futures, so a peer that is slow to read
/// can never stop us reading what it sends.
async fn run_link(ctx: Arc<LinkContext>, peer: NodeId, framed: HandshakeFramed) {
    let link = ctx.next_link.fetch_add(1, Ordering::Relaxed);
    let parts = framed.into_parts();
    let (read_half, write_half) = parts.io.into_split();
    let mut reader = FramedRead::new(
        read_half,
        MessageCodec::<PeerMessage, PeerMessage>::new(ctx.max_frame),
    );
    // Bytes the peer sent right after its Auth are already buffered.
    reader.read_buffer_mut().extend_from_slice(&parts.read_buf);
    let mut writer = FramedWrite::new(
        write_half,
        MessageCodec::<PeerMessage, PeerMessage>::new(ctx.max_frame),
    );
    let (tx, mut rx) = mpsc::channel::<PeerMessage>(ctx.send_queue);
    if ctx
        .events
        .send(LinkEvent::Up { peer, link, tx })
        .await
        .is_err()
    {
        return;
    }
    let read = async {
        while let Some(item) = reader.next().await {
            let msg = item.map_err(|e| format!("closed after a bad frame: {e}"))?;
            let bytes = msg.wire_len();
            ctx.events
                .send(LinkEvent::Message {
                    peer,
                    link,
                    msg,
                    bytes,
                })
                .await
                .map_err(|_| "node is shutting down".to_owned())?;
        }
        Err::<(), String>("peer closed the connection".to_owned())
    };
    let write = async {
        while let Some(msg) = rx.recv().await {
            writer
                .feed(&msg)
                .await
                .map_err(|e| format!("write failed: {e}"))?;
            while let Ok(msg) = rx.try_recv() {
                writer
                    .feed(&msg)
                    .await
                    .map_err(|e| format!("write failed: {e}"))?;
            }
            writer
                .flush()
                .await
                .map_err(|e| format!("write failed: {e}"))?;
        }
        Err::<(), String>("link replaced".to_owned())
    };
    let reason = tokio::select! {
        r = read => r.err().unwrap_or_default(),
        w = write => w.err().unwrap_or_default(),
    };
    info!(%peer, %reason, "link down");
    let _ = ctx
        .events
        .send(LinkEvent::Down { peer, link, reason })
        .await;
}
