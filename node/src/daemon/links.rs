//! Peer links: one sealed TCP connection per pair of generals.
//!
//! The lower id dials, the higher listens, so a pair never races two
//! connections. A new authenticated connection from a peer replaces the old
//! one (the peer restarted). Every link starts with the handshake of
//! `generals_wire::handshake` (a plaintext Hello each way, then Noise XX with
//! the configured Ed25519 keys in X25519 form, then a sealed verdict each
//! way); after it every frame is sealed, and a record that fails
//! authentication closes that link only. Dialers redial forever: quickly after
//! a link drops, with capped, jittered backoff while the peer is unreachable,
//! and with a longer backoff while the peer refuses (a configuration error
//! that will not fix itself), logging each refusal once per step.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use generals_crypto::NodeId;
use generals_wire::handshake::{
    Established, HandshakeError, LinkHandshake, Role, HANDSHAKE_TIMEOUT,
};
use generals_wire::{CodecError, PeerMessage};
use rand_core::{OsRng, RngCore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_util::codec::{FramedRead, FramedWrite};
use tracing::{debug, info, warn};

use super::log_limit::LogLimiter;
use crate::control::LinkErrorKind;
use crate::protocol::Keyring;

const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Redial at least this often while a peer is unreachable.
const BACKOFF_MAX: Duration = Duration::from_secs(3);
/// A refusal is a configuration error: wait at least this long to redial...
const REFUSED_BACKOFF_MIN: Duration = Duration::from_secs(1);
/// ...and at most this long, so a fixed config is picked up within it.
const REFUSED_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Asks `limiter` whether this occurrence of `key` gets a log line:
/// `Some(occurrences held back since the last line)`. A poisoned lock logs.
fn admit<K: std::hash::Hash + Eq>(limiter: &Mutex<LogLimiter<K>>, key: K) -> Option<u64> {
    limiter
        .lock()
        .map(|mut l| l.admit(key, Instant::now()))
        .unwrap_or(Some(0))
}

/// Why an established link went down. `kind()` names it in `link_errors`.
#[derive(Debug)]
pub enum LinkDown {
    /// A frame could not be read: tampered, truncated, too large, undecodable.
    Read(CodecError),
    /// A frame could not be written.
    Write(CodecError),
    /// The peer closed the connection between two frames.
    Closed,
    /// A newer link to the same peer took this one's place.
    Replaced,
    /// This node is stopping.
    Shutdown,
}

impl LinkDown {
    /// Its counter key: the codec's kind (`tampered`, `truncated`,
    /// `too_large`, `decode`, `bad_record`, `io`, ...), or `closed`,
    /// `replaced`, `shutdown`.
    pub fn kind(&self) -> LinkErrorKind {
        match self {
            LinkDown::Read(e) | LinkDown::Write(e) => e.kind().into(),
            LinkDown::Closed => LinkErrorKind::Closed,
            LinkDown::Replaced => LinkErrorKind::Replaced,
            LinkDown::Shutdown => LinkErrorKind::Shutdown,
        }
    }
}

impl fmt::Display for LinkDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkDown::Read(e) => write!(f, "closed after a bad frame: {e}"),
            LinkDown::Write(e) => write!(f, "write failed: {e}"),
            LinkDown::Closed => f.write_str("peer closed the connection"),
            LinkDown::Replaced => f.write_str("link replaced"),
            LinkDown::Shutdown => f.write_str("node is shutting down"),
        }
    }
}

/// What the link layer tells the driver.
// Messages are the common case; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum LinkEvent {
    /// A new authenticated link; emitted for every one, including each
    /// redial, so the driver can resend what the peer may have missed.
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
        reason: LinkDown,
    },
    /// A connection refused during the handshake, at either end. `peer` is
    /// set only when this node dialled it: a listener has only a claim.
    Refused {
        addr: SocketAddr,
        peer: Option<NodeId>,
        reason: HandshakeError,
    },
}

/// Everything link tasks share.
#[derive(Debug)]
pub struct LinkContext {
    pub keys: Arc<Keyring>,
    /// Each peer's address, indexed by id; a reload may move one, and its
    /// dialer follows (see [`LinkContext::set_addr`]).
    addrs: Vec<watch::Sender<SocketAddr>>,
    pub max_frame: usize,
    pub send_queue: usize,
    pub events: mpsc::Sender<LinkEvent>,
    next_link: AtomicU64,
    /// Listener refusals, per address and claimed id.
    refusals: Mutex<LogLimiter<(IpAddr, Option<NodeId>)>>,
    /// Links closed after a bad frame, per peer and kind.
    bad_frames: Mutex<LogLimiter<(NodeId, LinkErrorKind)>>,
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
            addrs: addrs.into_iter().map(watch::Sender::new).collect(),
            max_frame,
            send_queue,
            events,
            next_link: AtomicU64::new(1),
            refusals: Mutex::new(LogLimiter::default()),
            bad_frames: Mutex::new(LogLimiter::default()),
        })
    }

    /// Moves `peer` to `addr`: its dialer (if this node dials it) drops a
    /// link to the old address and dials the new one at once.
    pub fn set_addr(&self, peer: NodeId, addr: SocketAddr) {
        if let Some(a) = self.addrs.get(peer.index()) {
            a.send_if_modified(|old| std::mem::replace(old, addr) != addr);
        }
    }

    fn handshake(&self, role: Role, expected: Option<NodeId>) -> LinkHandshake {
        let k = &self.keys;
        match (role, expected) {
            (Role::Dialer, Some(peer)) => LinkHandshake::dialer(k.me, &k.key, &k.peers, peer),
            _ => LinkHandshake::listener(k.me, &k.key, &k.peers),
        }
    }
}

/// Runs the handshake over `stream`. Returns the established link and the
/// bytes that arrived after it, or the refusal and the id the peer claimed.
async fn handshake(
    ctx: &LinkContext,
    stream: &mut TcpStream,
    role: Role,
    expected: Option<NodeId>,
) -> Result<(Established, BytesMut), (HandshakeError, Option<NodeId>)> {
    let mut hs = ctx.handshake(role, expected);
    let mut buf = BytesMut::with_capacity(4096);
    let run = async {
        loop {
            let step = hs.receive(&mut buf);
            // A refusal still sends its verdict, so the peer learns why.
            let out = hs.transmit();
            if !out.is_empty() {
                let written = stream.write_all(&out).await;
                if let (Ok(_), Err(e)) = (&step, written) {
                    return Err(HandshakeError::Io(e));
                }
            }
            if let Some(link) = step? {
                return Ok(link);
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(HandshakeError::Closed);
            }
        }
    };
    let result = tokio::time::timeout(HANDSHAKE_TIMEOUT, run)
        .await
        .unwrap_or(Err(HandshakeError::Timeout(HANDSHAKE_TIMEOUT)));
    match result {
        Ok(link) => Ok((link, buf)),
        Err(e) => Err((e, hs.peer().or(expected))),
    }
}

/// Accepts connections forever; each one is authenticated in its own task.
pub async fn accept_loop(ctx: Arc<LinkContext>, listener: TcpListener) {
    let mut backoff = super::accept::AcceptBackoff::new("peer");
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                backoff.failed(&e).await;
                continue;
            }
        };
        backoff.succeeded();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let link = establish(
                ctx.clone(),
                stream,
                addr,
                Role::Listener,
                None,
                std::future::pending(),
            );
            if let Err((reason, claimed)) = link.await {
                log_listener_refusal(&ctx, addr, claimed, &reason);
                let event = LinkEvent::Refused {
                    addr,
                    peer: None,
                    reason,
                };
                let _ = ctx.events.send(event).await;
            }
        });
    }
}

/// Authenticates a fresh connection and, if both ends accept, carries the
/// link until it fails or `until` completes. A refusal comes back with the
/// id the peer claimed.
async fn establish(
    ctx: Arc<LinkContext>,
    mut stream: TcpStream,
    addr: SocketAddr,
    role: Role,
    expected: Option<NodeId>,
    until: impl std::future::Future<Output = ()>,
) -> Result<(), (HandshakeError, Option<NodeId>)> {
    let _ = stream.set_nodelay(true);
    let (link, rest) = handshake(&ctx, &mut stream, role, expected).await?;
    let peer = link.peer;
    info!(%peer, %addr, ?role, "link up (sealed)");
    run_link(ctx, peer, stream, link, rest, until).await;
    Ok(())
}

fn log_moved(peer: NodeId, old: SocketAddr, target: &watch::Receiver<SocketAddr>) {
    let new = *target.borrow();
    info!(%peer, %old, %new, "peer address changed; dialling the new one");
}

/// Completes when `addr` is given a new value (never if it cannot be).
async fn moved(addr: &mut watch::Receiver<SocketAddr>) {
    if addr.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A listener logs a refusal at most once per backoff step per address and
/// claimed id, so a peer that keeps retrying (or a scanner) cannot flood the log.
fn log_listener_refusal(
    ctx: &LinkContext,
    addr: SocketAddr,
    claimed: Option<NodeId>,
    reason: &HandshakeError,
) {
    let admitted = admit(&ctx.refusals, (addr.ip(), claimed));
    let claimed = claimed.map_or_else(|| "-".to_owned(), |id| id.to_string());
    match admitted {
        Some(suppressed) => warn!(
            %addr, %claimed, kind = reason.kind().as_str(), suppressed,
            reason = %reason, "refused a connection"
        ),
        None => {
            debug!(%addr, %claimed, kind = reason.kind().as_str(), reason = %reason, "refused a connection")
        }
    }
}

/// Dials `peer` forever: backs off while it is unreachable or refuses, and
/// logs each refusal once, with its reason and when it tries again. When a
/// reload moves the peer, the link to the old address is dropped and the
/// new one dialled at once.
pub async fn dial_loop(ctx: Arc<LinkContext>, peer: NodeId) {
    let Some(mut target) = ctx.addrs.get(peer.index()).map(watch::Sender::subscribe) else {
        return;
    };
    let mut backoff = Backoff::default();
    let mut unreachable = 0u64;
    loop {
        let addr = *target.borrow_and_update();
        let (attempt, refusal) = match TcpStream::connect(addr).await {
            Ok(stream) => {
                unreachable = 0;
                let until = async {
                    moved(&mut target).await;
                    log_moved(peer, addr, &target);
                };
                match establish(ctx.clone(), stream, addr, Role::Dialer, Some(peer), until).await {
                    Ok(()) => (Attempt::LinkRan, None),
                    Err((reason, _)) => (Attempt::Refused, Some(reason)),
                }
            }
            // Say so once per outage; the retries go to debug.
            Err(e) => {
                unreachable += 1;
                if unreachable == 1 {
                    warn!(%peer, %addr, error = %e, "cannot reach peer; redialling with backoff");
                } else {
                    debug!(%peer, %addr, error = %e, failures = unreachable, "dial failed");
                }
                (Attempt::Unreachable, None)
            }
        };
        let delay = backoff.after(attempt);
        if let Some(reason) = refusal {
            warn!(%peer, %addr, kind = reason.kind().as_str(), retry_in = ?delay, reason = %reason, "link refused");
            let event = LinkEvent::Refused {
                addr,
                peer: Some(peer),
                reason,
            };
            if ctx.events.send(event).await.is_err() {
                return;
            }
        }
        // Full jitter in [delay/2, delay], so restarted clusters do not redial in lockstep.
        let jitter = OsRng.next_u64() % (delay.as_millis() as u64 / 2 + 1);
        let pause = tokio::time::sleep(delay / 2 + Duration::from_millis(jitter));
        tokio::select! {
            _ = pause => {}
            _ = moved(&mut target) => {
                log_moved(peer, addr, &target);
                backoff = Backoff::default();
                unreachable = 0;
            }
        }
    }
}

/// How a dial attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attempt {
    /// The link came up and later went down: redial at once.
    LinkRan,
    Unreachable,
    /// The handshake failed or a side refused.
    Refused,
}

/// The dialer's delay before the next attempt: exponential, with a cap that
/// depends on why the last attempt failed.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: BACKOFF_MIN }
    }
}

impl Backoff {
    fn after(&mut self, attempt: Attempt) -> Duration {
        let (floor, cap) = match attempt {
            Attempt::LinkRan => {
                self.next = BACKOFF_MIN;
                return BACKOFF_MIN;
            }
            Attempt::Unreachable => (BACKOFF_MIN, BACKOFF_MAX),
            Attempt::Refused => (REFUSED_BACKOFF_MIN, REFUSED_BACKOFF_MAX),
        };
        let delay = self.next.clamp(floor, cap);
        self.next = (delay * 2).min(cap);
        delay
    }
}

/// Carries sealed frames both ways until either direction fails, then
/// reports Down. Reading and writing are separate futures, so a peer that is
/// slow to read can never stop us reading what it sends.
async fn run_link(
    ctx: Arc<LinkContext>,
    peer: NodeId,
    stream: TcpStream,
    established: Established,
    rest: BytesMut,
    until: impl std::future::Future<Output = ()>,
) {
    let link = ctx.next_link.fetch_add(1, Ordering::Relaxed);
    let (decoder, encoder) = established
        .into_codec::<PeerMessage, PeerMessage>(ctx.max_frame)
        .split();
    let (read_half, write_half) = stream.into_split();
    let mut reader = FramedRead::new(read_half, decoder);
    // Frames the peer sealed right after its verdict are already buffered.
    reader.read_buffer_mut().extend_from_slice(&rest);
    let mut writer = FramedWrite::new(write_half, encoder);
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
        loop {
            let msg = match reader.next().await {
                Some(Ok(msg)) => msg,
                Some(Err(e)) => return LinkDown::Read(e),
                None => return LinkDown::Closed,
            };
            let bytes = msg.wire_len();
            let event = LinkEvent::Message {
                peer,
                link,
                msg,
                bytes,
            };
            if ctx.events.send(event).await.is_err() {
                return LinkDown::Shutdown;
            }
        }
    };
    let write = async {
        while let Some(first) = rx.recv().await {
            // Everything queued goes out in one flush.
            let batch = async {
                writer.feed(&first).await?;
                while let Ok(msg) = rx.try_recv() {
                    writer.feed(&msg).await?;
                }
                writer.flush().await
            };
            if let Err(e) = batch.await {
                return LinkDown::Write(e);
            }
        }
        LinkDown::Replaced
    };
    let reason = tokio::select! {
        r = read => r,
        w = write => w,
        // A reload moved the peer: this link goes, the dialer redials.
        _ = until => LinkDown::Replaced,
    };
    // A bad frame is the peer's or the path's fault; the rest is routine.
    // A peer that reconnects and sends bad frames again is logged on steps.
    if matches!(reason, LinkDown::Read(_)) {
        match admit(&ctx.bad_frames, (peer, reason.kind())) {
            Some(suppressed) => {
                warn!(%peer, kind = reason.kind().as_str(), suppressed, %reason, "link down")
            }
            None => debug!(%peer, kind = reason.kind().as_str(), %reason, "link down"),
        }
    } else {
        info!(%peer, kind = reason.kind().as_str(), %reason, "link down");
    }
    let _ = ctx
        .events
        .send(LinkEvent::Down { peer, link, reason })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_back_off_longer_than_an_unreachable_peer_and_a_link_resets() {
        let mut b = Backoff::default();
        let unreachable: Vec<u64> = (0..8)
            .map(|_| b.after(Attempt::Unreachable).as_millis() as u64)
            .collect();
        assert_eq!(unreachable, [50, 100, 200, 400, 800, 1600, 3000, 3000]);
        let refused: Vec<u64> = (0..8)
            .map(|_| b.after(Attempt::Refused).as_secs())
            .collect();
        assert_eq!(refused, [3, 6, 12, 24, 30, 30, 30, 30]);
        assert_eq!(b.after(Attempt::LinkRan), BACKOFF_MIN);
        let fresh: Vec<u64> = (0..3)
            .map(|_| b.after(Attempt::Refused).as_secs())
            .collect();
        assert_eq!(fresh, [1, 2, 4]);
    }

    #[test]
    fn every_down_reason_has_a_stable_kind() {
        let tampered = LinkDown::Read(CodecError::Tampered { record: 3 });
        assert_eq!(tampered.kind(), "tampered");
        assert!(tampered.to_string().contains("failed authentication"));
        assert_eq!(LinkDown::Closed.kind(), "closed");
        assert_eq!(LinkDown::Replaced.kind(), "replaced");
        let io = LinkDown::Write(CodecError::Io(std::io::ErrorKind::BrokenPipe.into()));
        assert_eq!(io.kind(), "io");
    }
}
