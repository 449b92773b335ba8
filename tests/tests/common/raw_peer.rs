//! A raw peer: a general whose daemon is replaced by the test itself, so it
//! can send whatever a traitor holding that general's key could send.
//!
//! It speaks wire version 2 exactly as a node does (docs/WIRE.md section 2):
//! it loads the general's key file from the testnet directory, runs the
//! sans-I/O `LinkHandshake` over a blocking TCP stream (dialling the higher
//! ids, accepting the lower ones on the general's configured address), then
//! seals and opens `PeerMessage`s with the link's `SealedCodec`. A new link
//! from a peer replaces the old one, as at a node. Everything received is
//! kept in order, for the test to look at.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::BytesMut;
use generals_crypto::{ClusterId, NodeId, NodeKey, PublicKey};
use generals_node::cluster::LocalCluster;
use generals_wire::handshake::{Established, LinkHandshake, HANDSHAKE_TIMEOUT};
use generals_wire::{
    InstanceSpec, InstanceTicket, PeerMessage, RoundFrame, SealedDecoder, SealedEncoder,
};
use tokio_util::codec::{Decoder, Encoder};

use super::WAIT;

/// The writing half of the current link to one peer.
struct Link {
    /// Which connection this is (the reader of an old one must not remove
    /// its successor).
    serial: u64,
    stream: TcpStream,
    encoder: SealedEncoder<PeerMessage>,
}

#[derive(Default)]
struct Shared {
    links: Mutex<BTreeMap<NodeId, Link>>,
    /// Links established so far, by peer (a redial counts again).
    connects: Mutex<BTreeMap<NodeId, u64>>,
    inbox: Mutex<Vec<(NodeId, PeerMessage)>>,
    next_serial: AtomicU64,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A reader thread that panicked holds nothing worth refusing.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// General `me` of a local cluster, played by the test.
pub struct RawPeer {
    pub me: NodeId,
    key: Arc<NodeKey>,
    peers: Vec<PublicKey>,
    cluster: ClusterId,
    addrs: Vec<SocketAddr>,
    listen: SocketAddr,
    max_frame: usize,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RawPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawPeer")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl RawPeer {
    /// General `me` of `c`, with the key, peer table and addresses of its
    /// config. Its daemon must not be started.
    pub fn load(c: &LocalCluster, me: u16) -> anyhow::Result<RawPeer> {
        let cfg = c.config(NodeId(me))?;
        let key =
            NodeKey::load(cfg.key_path()).with_context(|| format!("key file of node {me}"))?;
        let peers = cfg.public_keys();
        Ok(RawPeer {
            me: NodeId(me),
            key: Arc::new(key),
            cluster: ClusterId::of(&peers),
            peers,
            addrs: cfg.peers.iter().map(|p| p.addr).collect(),
            listen: cfg.listen,
            max_frame: cfg.max_frame_bytes,
            shared: Arc::default(),
        })
    }

    pub fn key(&self) -> &NodeKey {
        &self.key
    }

    pub fn cluster(&self) -> &ClusterId {
        &self.cluster
    }

    pub fn public(&self, id: u16) -> PublicKey {
        self.peers[usize::from(id)]
    }

    /// A ticket for `spec` signed with this general's key: valid only when
    /// this general is the spec's commander.
    pub fn ticket(&self, spec: InstanceSpec) -> InstanceTicket {
        InstanceTicket::issue(&self.key, &self.cluster, spec)
    }

    /// Accepts links from the lower ids on this general's address, in the
    /// background, until dropped. Call it before the lower ids start, so
    /// their first dial finds it.
    pub fn listen(&self) -> anyhow::Result<()> {
        let listener = TcpListener::bind(self.listen)
            .with_context(|| format!("node {}'s address {}", self.me, self.listen))?;
        listener.set_nonblocking(true)?;
        let (me, key, peers, shared, max) = self.parts();
        thread::spawn(move || {
            while !shared.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (key, peers, shared) = (key.clone(), peers.clone(), shared.clone());
                        thread::spawn(move || {
                            let hs = LinkHandshake::listener(me, &key, &peers);
                            // A refused or broken handshake is the dialer's problem.
                            let _ = establish(&shared, stream, hs, max);
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(())
    }

    /// Dials `peer` (a higher id) until a link is up or `WAIT` passes.
    pub fn dial(&self, peer: u16) -> anyhow::Result<()> {
        let (me, key, peers, shared, max) = self.parts();
        let deadline = Instant::now() + WAIT;
        loop {
            let attempt = TcpStream::connect(self.addrs[usize::from(peer)])
                .map_err(anyhow::Error::from)
                .and_then(|stream| {
                    let hs = LinkHandshake::dialer(me, &key, &peers, NodeId(peer));
                    establish(&shared, stream, hs, max)
                });
            match attempt {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(e.context(format!("node {me} dialling {peer}")))
                }
                Err(_) => thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    fn parts(&self) -> (NodeId, Arc<NodeKey>, Vec<PublicKey>, Arc<Shared>, usize) {
        (
            self.me,
            self.key.clone(),
            self.peers.clone(),
            self.shared.clone(),
            self.max_frame,
        )
    }

    /// How many links to `peer` have come up so far.
    pub fn connects(&self, peer: u16) -> u64 {
        lock(&self.shared.connects)
            .get(&NodeId(peer))
            .copied()
            .unwrap_or(0)
    }

    /// Waits until `peer` has made at least `connects` links and one is up.
    pub fn await_link(&self, peer: u16, connects: u64) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        while self.connects(peer) < connects
            || !lock(&self.shared.links).contains_key(&NodeId(peer))
        {
            if Instant::now() > deadline {
                bail!("node {} has no link from {peer}", self.me);
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Seals `msg` on the current link to `to`.
    pub fn send(&self, to: u16, msg: &PeerMessage) -> anyhow::Result<()> {
        self.send_sealed(to, msg, |_| {})
    }

    /// Seals `msg` on the current link to `to` and flips a bit of the
    /// record's last byte, as an attacker on the path would: `to` must
    /// refuse it (`tampered`) and close the link.
    pub fn send_tampered(&self, to: u16, msg: &PeerMessage) -> anyhow::Result<()> {
        self.send_sealed(to, msg, |out| {
            if let Some(last) = out.last_mut() {
                *last ^= 1;
            }
        })
    }

    fn send_sealed(
        &self,
        to: u16,
        msg: &PeerMessage,
        edit: impl FnOnce(&mut BytesMut),
    ) -> anyhow::Result<()> {
        let mut links = lock(&self.shared.links);
        let link = links
            .get_mut(&NodeId(to))
            .with_context(|| format!("node {} has no link to {to}", self.me))?;
        let mut out = BytesMut::new();
        link.encoder.encode(msg, &mut out)?;
        edit(&mut out);
        link.stream.write_all(&out)?;
        Ok(())
    }

    pub fn send_round(&self, to: u16, frame: RoundFrame) -> anyhow::Result<()> {
        self.send(to, &PeerMessage::Round(frame))
    }

    /// Everything received so far, in order, with its sender.
    pub fn received(&self) -> Vec<(NodeId, PeerMessage)> {
        lock(&self.shared.inbox).clone()
    }

    /// The first round frame from `from` that `pick` accepts, waiting up
    /// to `WAIT` for it.
    pub fn await_round(
        &self,
        from: u16,
        pick: impl Fn(&RoundFrame) -> bool,
    ) -> anyhow::Result<RoundFrame> {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = lock(&self.shared.inbox)
                .iter()
                .find_map(|(j, msg)| match msg {
                    PeerMessage::Round(f) if *j == NodeId(from) && pick(f) => Some(f.clone()),
                    _ => None,
                });
            if let Some(f) = found {
                return Ok(f);
            }
            if Instant::now() > deadline {
                bail!("node {} received no such frame from {from}", self.me);
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RawPeer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for link in lock(&self.shared.links).values() {
            let _ = link.stream.shutdown(Shutdown::Both);
        }
    }
}

/// Runs `hs` over `stream`; once both verdicts are in, the link replaces any
/// older one to the same peer and a thread reads it until it closes.
fn establish(
    shared: &Arc<Shared>,
    mut stream: TcpStream,
    mut hs: LinkHandshake,
    max_frame: usize,
) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let mut buf = BytesMut::new();
    let link: Established = loop {
        let step = hs.receive(&mut buf);
        let out = hs.transmit();
        stream.write_all(&out)?;
        if let Some(link) = step? {
            break link;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk)? {
            0 => bail!("the peer closed the connection during the handshake"),
            n => buf.extend_from_slice(&chunk[..n]),
        }
    };
    stream.set_read_timeout(None)?;
    let peer = link.peer;
    let (decoder, encoder) = link
        .into_codec::<PeerMessage, PeerMessage>(max_frame)
        .split();
    let serial = shared.next_serial.fetch_add(1, Ordering::SeqCst);
    let reader = stream.try_clone()?;
    let old = lock(&shared.links).insert(
        peer,
        Link {
            serial,
            stream,
            encoder,
        },
    );
    if let Some(old) = old {
        let _ = old.stream.shutdown(Shutdown::Both);
    }
    *lock(&shared.connects).entry(peer).or_default() += 1;
    let shared = shared.clone();
    thread::spawn(move || read_link(&shared, peer, serial, reader, decoder, buf));
    Ok(())
}

/// Opens frames from `peer` into the inbox until the link fails or closes.
fn read_link(
    shared: &Shared,
    peer: NodeId,
    serial: u64,
    mut stream: TcpStream,
    mut decoder: SealedDecoder<PeerMessage>,
    mut buf: BytesMut,
) {
    let mut chunk = vec![0u8; 65536];
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(msg)) => {
                lock(&shared.inbox).push((peer, msg));
                continue;
            }
            Ok(None) => {}
            Err(_) => break,
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let mut links = lock(&shared.links);
    if links.get(&peer).is_some_and(|l| l.serial == serial) {
        links.remove(&peer);
    }
}

/// A cluster in which the generals `raw` are played by the test and every
/// other one runs as a daemon, with every link between a raw peer and a
/// daemon up (raw peers are not linked to each other).
pub fn cluster_with_raw(
    opts: generals_node::cluster::ClusterOptions,
    raw: &[u16],
) -> (LocalCluster, Vec<RawPeer>) {
    let n = opts.nodes as u16;
    let mut c = LocalCluster::create(&super::bin(), opts).expect("create cluster");
    let peers: Vec<RawPeer> = raw
        .iter()
        .map(|&id| RawPeer::load(&c, id).expect("raw peer"))
        .collect();
    for p in &peers {
        p.listen().expect("listen");
    }
    let daemons: Vec<u16> = (0..n).filter(|id| !raw.contains(id)).collect();
    for &id in &daemons {
        c.start(NodeId(id)).expect("start node");
    }
    for p in &peers {
        for &id in &daemons {
            if id > p.me.0 {
                p.dial(id).expect("dial");
            } else {
                p.await_link(id, 1).expect("link");
            }
        }
    }
    if let Err(e) = c.wait_connected(WAIT) {
        panic!(
            "{e:#}\nnode {} log:\n{}",
            daemons[0],
            c.log_tail(NodeId(daemons[0]), 30)
        );
    }
    (c, peers)
}
