//! The test vectors of docs/WIRE.md, rebuilt from their fixed inputs.
//!
//! Every `<!-- vector: NAME -->` block of the spec must be known here and match
//! byte for byte, and every vector known here must be in the spec, so the
//! document and the code cannot drift apart. A failure prints the block the
//! spec should contain.

use std::collections::BTreeMap;

use bytes::BytesMut;
use generals_crypto::{
    ClusterId, Domain, EquivocationProof, InstanceId, NodeId, NodeKey, Order, PublicKey,
    SignedOrder,
};
use generals_wire::handshake::{Hello, LinkHandshake, Preamble, Verdict};
use generals_wire::{
    decode, encode, DecisionReport, InstanceSpec, InstanceTicket, MessageCodec, MessageCounters,
    OralBits, PeerMessage, Protocol, RoundBody, RoundFrame, HARD_MAX_FRAME,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::codec::{Decoder, Encoder};

const SPEC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/WIRE.md");

// ---------------------------------------------------------------------------
// The fixed inputs (the spec lists the same ones next to the vectors).

/// Node `i`'s key: the Ed25519 secret seed is 32 bytes of value `i + 1`.
fn key(id: u16) -> NodeKey {
    NodeKey::from_seed([id as u8 + 1; 32])
}

/// The cluster of the link vectors: four generals, node i with key(i).
fn cluster_keys() -> Vec<PublicKey> {
    (0..4).map(|i| key(i).public()).collect()
}

fn cluster() -> ClusterId {
    ClusterId::of(&cluster_keys())
}

/// The cluster of `n` generals, node i with key(i) (the link vectors' for n = 4).
fn cluster_of(n: u16) -> ClusterId {
    let keys: Vec<PublicKey> = (0..n).map(|i| key(i).public()).collect();
    ClusterId::of(&keys)
}

/// Node 0 dials node 1.
fn dialer_hello() -> Hello {
    Hello::new(NodeId(0), &key(0).public(), &cluster())
}

fn listener_hello() -> Hello {
    Hello::new(NodeId(1), &key(1).public(), &cluster())
}

/// The fixed Noise ephemeral secrets: 40 41 … 5f (dialer), 60 61 … 7f (listener).
fn ephemeral(role_offset: u8) -> [u8; 32] {
    std::array::from_fn(|i| role_offset + i as u8)
}
const DIALER_EPHEMERAL: u8 = 0x40;
const LISTENER_EPHEMERAL: u8 = 0x60;

/// The SM instance of the signed vectors: commander 0, seq 3, m = 2, n = 4.
const SM_INSTANCE: InstanceId = InstanceId {
    commander: NodeId(0),
    seq: 3,
};

const SM_SPEC: InstanceSpec = InstanceSpec {
    id: SM_INSTANCE,
    protocol: Protocol::Signed,
    m: 2,
    n: 4,
};

/// The OM instance of the oral vectors: commander 0, seq 42, m = 2, n = 13.
const OM_SPEC: InstanceSpec = InstanceSpec {
    id: InstanceId {
        commander: NodeId(0),
        seq: 42,
    },
    protocol: Protocol::Oral,
    m: 2,
    n: 13,
};

/// Commander 0's ticket for `spec`, in the cluster of `spec.n` such nodes.
fn ticket(spec: InstanceSpec) -> InstanceTicket {
    InstanceTicket::issue(&key(0), &cluster_of(spec.n), spec)
}

/// What a ticket's signature covers: tag ‖ cluster ‖ spec.
fn ticket_signed_bytes(spec: InstanceSpec) -> Vec<u8> {
    let mut out = Domain::Ticket.tag().to_vec();
    out.extend_from_slice(cluster_of(spec.n).as_bytes());
    out.extend_from_slice(&encode(&spec));
    out
}

/// ATTACK:0:1, the chain lieutenant 1 relays in round 2.
fn chain_0_1() -> SignedOrder {
    SignedOrder::new(&key(0), &cluster_of(4), SM_INSTANCE, 2, Order::Attack).extended(
        &key(1),
        &cluster_of(4),
        NodeId(1),
    )
}

fn report() -> DecisionReport {
    DecisionReport {
        evidence: None,
        ..DecisionReport::new(
            SM_SPEC,
            NodeId(2),
            Order::Attack,
            MessageCounters {
                logical: 4,
                frames: 5,
                bytes: 1234,
                signatures_made: 2,
                signatures_verified: 3,
            },
        )
    }
    .signed_by(&key(2))
}

/// Commander 0 signs both orders for instance 0-5 with m = 1.
fn proof() -> EquivocationProof {
    let inst = InstanceId {
        commander: NodeId(0),
        seq: 5,
    };
    let attack = SignedOrder::new(&key(0), &cluster_of(4), inst, 1, Order::Attack);
    let retreat = SignedOrder::new(&key(0), &cluster_of(4), inst, 1, Order::Retreat);
    let proof = EquivocationProof::from_chains(&cluster_of(4), &attack, &retreat).expect("a proof");
    proof.verify(&key(0).public()).expect("the proof verifies");
    proof
}

/// Round 3 of OM_SPEC, lieutenant 1 to lieutenant 2: the value lieutenant 1
/// stored at each path [0, x], x = 3..=12 in the spec table's order. It
/// stored ATTACK for x in {3, 4, 5, 9, 12} and RETREAT elsewhere. That this
/// is the product's path order, and the frame its oral tree builds, is
/// checked in node/tests/path_order.rs (this crate cannot reach the node's).
fn oral_10() -> RoundFrame {
    let mut bits = OralBits::zeros(10);
    for (i, x) in (3..=12).enumerate() {
        bits.set(i, [3, 4, 5, 9, 12].contains(&x));
    }
    RoundFrame {
        ticket: ticket(OM_SPEC),
        round: 3,
        body: RoundBody::Oral(bits),
    }
}

// ---------------------------------------------------------------------------
// Signed bytes, built from the spec's layouts rather than from the code that
// signs, and checked against the signatures that code made.

fn chain_signed_bytes(chain: &SignedOrder, link: usize) -> Vec<u8> {
    let mut msg = b"generals/v2/sm-chain\0".to_vec();
    msg.extend_from_slice(cluster_of(4).as_bytes());
    msg.extend_from_slice(&chain.instance.commander.0.to_le_bytes());
    msg.extend_from_slice(&chain.instance.seq.to_le_bytes());
    msg.push(chain.m);
    msg.push(chain.order as u8);
    for earlier in &chain.links[..link] {
        msg.extend_from_slice(&earlier.signer.0.to_le_bytes());
        msg.extend_from_slice(&earlier.sig.0);
    }
    msg.extend_from_slice(&chain.links[link].signer.0.to_le_bytes());
    let signer = chain.links[link].signer;
    assert!(
        verifies(
            &key(signer.0).public(),
            Domain::Chain,
            &msg,
            &chain.links[link].sig
        ),
        "link {link}'s signature must verify over the spec's layout"
    );
    msg
}

fn report_signed_bytes() -> Vec<u8> {
    let r = report();
    let c = r.counters;
    let mut msg = b"generals/v1/report\0".to_vec();
    msg.extend_from_slice(&r.spec.id.commander.0.to_le_bytes());
    msg.extend_from_slice(&r.spec.id.seq.to_le_bytes());
    msg.push(r.spec.protocol as u8);
    msg.push(r.spec.m);
    msg.extend_from_slice(&r.spec.n.to_le_bytes());
    msg.extend_from_slice(&r.reporter.0.to_le_bytes());
    msg.push(r.decision as u8);
    msg.push(u8::from(r.evidence.is_some())); // Option tag: None
    msg.push(u8::from(r.faulty));
    for v in [
        c.logical,
        c.frames,
        c.bytes,
        c.signatures_made,
        c.signatures_verified,
    ] {
        msg.extend_from_slice(&v.to_le_bytes());
    }
    msg.extend_from_slice(&(r.late.len() as u64).to_le_bytes()); // late: none
    assert!(
        r.verify(&key(2).public()),
        "the report verifies under its reporter's key"
    );
    assert!(
        verifies(&key(2).public(), Domain::Report, &msg, &r.sig),
        "the report signature must verify over the spec's layout"
    );
    msg
}

// ---------------------------------------------------------------------------
// The link: key conversion, cluster id, preamble, Noise and sealed records.

/// SHA-256 over "generals/v2/cluster\0" ‖ n:u16le ‖ (id:u16le ‖ pubkey)*,
/// from the spec's layout, checked against the crate's ClusterId.
fn cluster_id_bytes() -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let keys = cluster_keys();
    let mut h = Sha256::new();
    h.update(b"generals/v2/cluster\0");
    h.update((keys.len() as u16).to_le_bytes());
    for (i, k) in keys.iter().enumerate() {
        h.update((i as u16).to_le_bytes());
        h.update(k.to_bytes());
    }
    let digest = h.finalize().to_vec();
    assert_eq!(digest, cluster().as_bytes(), "ClusterId follows the spec");
    digest
}

/// A Hello body from the spec's layout.
fn hello_body(id: u16) -> Vec<u8> {
    let mut b = vec![0, 0, 0, 0];
    b.extend_from_slice(b"GENERALS");
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&id.to_le_bytes());
    b.extend_from_slice(&key(id).public().to_bytes());
    b.extend_from_slice(&cluster_id_bytes());
    b
}

/// "generals/v2/link\0" ‖ cluster ‖ dialer's Hello body ‖ listener's Hello body.
fn prologue_bytes() -> Vec<u8> {
    let p = [
        &b"generals/v2/link\0"[..],
        &cluster_id_bytes(),
        &hello_body(0),
        &hello_body(1),
    ]
    .concat();
    assert_eq!(
        p,
        generals_wire::handshake::prologue(
            &cluster(),
            &dialer_hello().to_bytes(),
            &listener_hello().to_bytes()
        )
    );
    p
}

/// The bytes of one link's start, node 0 dialling node 1 with the fixed
/// ephemeral keys: what the spec's link vectors show.
#[derive(Debug, PartialEq)]
struct LinkTranscript {
    noise1: Vec<u8>,
    noise2: Vec<u8>,
    noise3: Vec<u8>,
    verdict_dialer: Vec<u8>,
    verdict_listener: Vec<u8>,
    sealed_empty: Vec<u8>,
}

/// The first peer message of the vectors: the SM instance's Empty round-3 frame.
fn empty_round() -> PeerMessage {
    PeerMessage::Round(RoundFrame {
        ticket: ticket(SM_SPEC),
        round: 3,
        body: RoundBody::Empty,
    })
}

/// What the code writes: two LinkHandshakes talking, then one sealed frame.
fn link_transcript() -> LinkTranscript {
    let peers = cluster_keys();
    let mut d = LinkHandshake::dialer(NodeId(0), &key(0), &peers, NodeId(1))
        .fixed_ephemeral_for_test_vectors(ephemeral(DIALER_EPHEMERAL));
    let mut l = LinkHandshake::listener(NodeId(1), &key(1), &peers)
        .fixed_ephemeral_for_test_vectors(ephemeral(LISTENER_EPHEMERAL));
    let hello_d = d.transmit().to_vec();
    let hello_l = l.transmit().to_vec();
    assert_eq!(hello_d, frame(&Preamble::Hello(dialer_hello())));
    assert_eq!(hello_l, frame(&Preamble::Hello(listener_hello())));
    let step = |hs: &mut LinkHandshake, input: &[u8]| {
        let mut src = BytesMut::from(input);
        let up = hs
            .receive(&mut src)
            .expect("the vectors' handshake succeeds");
        assert!(src.is_empty(), "every byte is part of the handshake");
        (up, hs.transmit().to_vec())
    };
    let (_, noise1) = step(&mut d, &hello_l);
    let (_, noise2) = step(&mut l, &[hello_d, noise1.clone()].concat());
    let (_, flight) = step(&mut d, &noise2);
    let (noise3, verdict_dialer) = flight.split_at(4 + 64);
    let (listener, verdict_listener) = step(&mut l, &flight);
    let (dialer, rest) = step(&mut d, &verdict_listener);
    assert!(rest.is_empty());
    let (Some(dialer), Some(listener)) = (dialer, listener) else {
        panic!("both ends are up after the verdicts")
    };
    let mut tx = dialer.into_codec::<PeerMessage, PeerMessage>(HARD_MAX_FRAME);
    let mut rx = listener.into_codec::<PeerMessage, PeerMessage>(HARD_MAX_FRAME);
    let mut sealed = BytesMut::new();
    tx.encode(&empty_round(), &mut sealed).expect("seals");
    let sealed_empty = sealed.to_vec();
    assert_eq!(rx.decode(&mut sealed).expect("opens"), Some(empty_round()));
    LinkTranscript {
        noise1,
        noise2,
        noise3: noise3.to_vec(),
        verdict_dialer: verdict_dialer.to_vec(),
        verdict_listener,
        sealed_empty,
    }
}

/// The same bytes from the spec's description alone, with snow directly.
fn reference_transcript() -> LinkTranscript {
    let build = |id: u16, e: u8, prologue: &[u8]| {
        let secret = key(id).x25519_secret();
        let ephemeral = ephemeral(e);
        let params = "Noise_XX_25519_ChaChaPoly_SHA256".parse().expect("params");
        let b = snow::Builder::new(params)
            .local_private_key(&secret[..])
            .expect("static")
            .prologue(prologue)
            .expect("prologue")
            .fixed_ephemeral_key_for_testing_only(&ephemeral);
        if id == 0 {
            b.build_initiator().expect("initiator")
        } else {
            b.build_responder().expect("responder")
        }
    };
    let prologue = prologue_bytes();
    let mut init = build(0, DIALER_EPHEMERAL, &prologue);
    let mut resp = build(1, LISTENER_EPHEMERAL, &prologue);
    // Each handshake message, empty payload, in a 4-byte big-endian frame.
    let message = |from: &mut snow::HandshakeState, to: &mut snow::HandshakeState| {
        let mut buf = [0u8; 1024];
        let n = from.write_message(&[], &mut buf).expect("writes");
        let read = to.read_message(&buf[..n], &mut [0u8; 1024]).expect("reads");
        assert_eq!(read, 0, "empty payload");
        [&(n as u32).to_be_bytes()[..], &buf[..n]].concat()
    };
    let noise1 = message(&mut init, &mut resp);
    let noise2 = message(&mut resp, &mut init);
    let noise3 = message(&mut init, &mut resp);
    assert_eq!(
        resp.get_remote_static(),
        Some(&key(0).public().x25519()[..])
    );
    assert_eq!(
        init.get_remote_static(),
        Some(&key(1).public().x25519()[..])
    );
    let mut ti = init.into_transport_mode().expect("transport");
    let mut tr = resp.into_transport_mode().expect("transport");
    // One record: len:u16be ‖ AEAD(L:u32be ‖ body) under the next nonce.
    let record = |t: &mut snow::TransportState, body: &[u8]| {
        let plain = [&(body.len() as u32).to_be_bytes()[..], body].concat();
        let mut out = vec![0u8; plain.len() + 16];
        let n = t.write_message(&plain, &mut out).expect("seals");
        [&(n as u16).to_be_bytes()[..], &out[..n]].concat()
    };
    LinkTranscript {
        noise1,
        noise2,
        noise3,
        verdict_dialer: record(&mut ti, &[0, 0, 0, 0]),
        verdict_listener: record(&mut tr, &[0, 0, 0, 0]),
        sealed_empty: record(&mut ti, &encode(&empty_round())),
    }
}

#[test]
fn the_code_starts_a_link_as_the_spec_describes() {
    let code = link_transcript();
    assert_eq!(code, reference_transcript());
    assert_eq!(
        [
            code.noise1.len(),
            code.noise2.len(),
            code.noise3.len(),
            code.verdict_dialer.len(),
            code.sealed_empty.len()
        ],
        [4 + 32, 4 + 96, 4 + 64, 2 + 4 + 4 + 16, 2 + 4 + 87 + 16]
    );
}

/// `msg` starts with `domain`'s tag; verify the rest the way the crate does.
fn verifies(key: &PublicKey, domain: Domain, msg: &[u8], sig: &generals_crypto::Sig) -> bool {
    msg.starts_with(domain.tag()) && key.verify(domain, &[&msg[domain.tag().len()..]], sig)
}

// ---------------------------------------------------------------------------
// What each vector is.

enum Vector {
    /// A whole plaintext preamble frame: length prefix and body.
    PreambleFrame(Preamble),
    /// A whole peer frame: length prefix and body.
    PeerFrame(PeerMessage),
    /// A proof in the frame-body encoding (no length prefix).
    ProofBody(EquivocationProof),
    /// A proof as serde_json writes it (evidence files).
    ProofJson(EquivocationProof),
    /// Bytes that are not a message: keys, the bytes a signature covers.
    Raw(Vec<u8>),
}

fn known_vectors() -> BTreeMap<&'static str, Vector> {
    use Vector::*;
    let round = |frame| PeerFrame(PeerMessage::Round(frame));
    let d = dialer_hello();
    let l = listener_hello();
    let link = link_transcript();
    let mut commander_bits = OralBits::zeros(1);
    commander_bits.set(0, true);
    BTreeMap::from([
        ("public-key-0", Raw(key(0).public().to_bytes().to_vec())),
        ("public-key-1", Raw(key(1).public().to_bytes().to_vec())),
        ("public-key-2", Raw(key(2).public().to_bytes().to_vec())),
        ("public-key-3", Raw(key(3).public().to_bytes().to_vec())),
        ("x25519-secret-0", Raw(key(0).x25519_secret().to_vec())),
        ("x25519-public-0", Raw(key(0).public().x25519().to_vec())),
        ("x25519-public-1", Raw(key(1).public().x25519().to_vec())),
        ("cluster-id", Raw(cluster_id_bytes())),
        ("hello-dialer", PreambleFrame(Preamble::Hello(d))),
        ("hello-listener", PreambleFrame(Preamble::Hello(l))),
        ("prologue", Raw(prologue_bytes())),
        ("noise-message-1", Raw(link.noise1.clone())),
        ("noise-message-2", Raw(link.noise2.clone())),
        ("noise-message-3", Raw(link.noise3.clone())),
        ("verdict-dialer", Raw(link.verdict_dialer.clone())),
        ("verdict-listener", Raw(link.verdict_listener.clone())),
        ("sealed-round-empty", Raw(link.sealed_empty.clone())),
        (
            "round-empty",
            round(RoundFrame {
                ticket: ticket(SM_SPEC),
                round: 3,
                body: RoundBody::Empty,
            }),
        ),
        (
            "round-oral-commander",
            round(RoundFrame {
                ticket: ticket(OM_SPEC),
                round: 1,
                body: RoundBody::Oral(commander_bits),
            }),
        ),
        ("round-oral-10", round(oral_10())),
        (
            "sm-signed-bytes-link0",
            Raw(chain_signed_bytes(&chain_0_1(), 0)),
        ),
        (
            "sm-signed-bytes-link1",
            Raw(chain_signed_bytes(&chain_0_1(), 1)),
        ),
        (
            "round-signed-chain2",
            round(RoundFrame {
                ticket: ticket(SM_SPEC),
                round: 2,
                body: RoundBody::Signed(vec![chain_0_1()]),
            }),
        ),
        ("cluster-4", Raw(cluster_of(4).as_bytes().to_vec())),
        ("ticket-signed-bytes", Raw(ticket_signed_bytes(SM_SPEC))),
        ("report", PeerFrame(PeerMessage::Report(report()))),
        ("report-signed-bytes", Raw(report_signed_bytes())),
        ("equivocation-proof", ProofBody(proof())),
        ("equivocation-proof-json", ProofJson(proof())),
    ])
}

impl Vector {
    fn lang(&self) -> &'static str {
        match self {
            Vector::ProofJson(_) => "json",
            _ => "hex",
        }
    }

    /// The block's expected content: bytes, or JSON text.
    fn expected(&self) -> Vec<u8> {
        match self {
            Vector::PreambleFrame(m) => frame(m),
            Vector::PeerFrame(m) => frame(m),
            Vector::ProofBody(p) => encode(p),
            Vector::ProofJson(p) => serde_json::to_string_pretty(p)
                .expect("a proof serializes")
                .into_bytes(),
            Vector::Raw(b) => b.clone(),
        }
    }

    /// Compares the spec's block with this vector and decodes it back.
    fn check(&self, block: &Block) -> Result<(), String> {
        if block.lang != self.lang() {
            return Err(format!(
                "block is ```{}, expected ```{}",
                block.lang,
                self.lang()
            ));
        }
        if let Vector::ProofJson(p) = self {
            let doc: serde_json::Value =
                serde_json::from_str(&block.text).map_err(|e| format!("not JSON: {e}"))?;
            let want = serde_json::to_value(p).map_err(|e| e.to_string())?;
            if doc != want {
                return Err(format!("JSON differs: spec has {doc}, code writes {want}"));
            }
            let back: EquivocationProof =
                serde_json::from_str(&block.text).map_err(|e| format!("does not parse: {e}"))?;
            back.verify(&key(0).public())
                .map_err(|e| format!("the spec's proof does not verify: {e}"))?;
            return same(&back, p);
        }
        let bytes = block.bytes()?;
        let want = self.expected();
        if bytes != want {
            return Err(format!(
                "bytes differ\n  spec: {}\n  code: {}",
                hex::encode(&bytes),
                hex::encode(&want)
            ));
        }
        match self {
            Vector::PreambleFrame(m) => same(&unframe::<Preamble>(&bytes)?, m),
            Vector::PeerFrame(m) => same(&unframe::<PeerMessage>(&bytes)?, m),
            Vector::ProofBody(p) => same(
                &decode::<EquivocationProof>(&bytes).map_err(|e| e.to_string())?,
                p,
            ),
            Vector::ProofJson(_) | Vector::Raw(_) => Ok(()),
        }
    }

    /// The block the spec should hold, for failure messages.
    fn suggested_block(&self, name: &str) -> String {
        let body = match self {
            Vector::ProofJson(_) => String::from_utf8(self.expected()).unwrap_or_default(),
            _ => self
                .expected()
                .chunks(32)
                .map(hex::encode)
                .collect::<Vec<_>>()
                .join("\n"),
        };
        format!("<!-- vector: {name} -->\n```{}\n{body}\n```", self.lang())
    }
}

fn same<T: PartialEq + std::fmt::Debug>(got: &T, want: &T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("decodes to {got:?}, expected {want:?}"))
    }
}

/// `msg` as a frame: what MessageCodec writes.
fn frame<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut codec = MessageCodec::<T, T>::new(HARD_MAX_FRAME);
    let mut dst = BytesMut::new();
    codec.encode(msg, &mut dst).expect("vector encodes");
    dst.to_vec()
}

/// Decodes exactly one frame from `bytes`, as a peer link would.
fn unframe<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let mut codec = MessageCodec::<T, T>::new(HARD_MAX_FRAME);
    let mut src = BytesMut::from(bytes);
    let msg = codec
        .decode(&mut src)
        .map_err(|e| format!("does not decode: {e}"))?
        .ok_or("decoder wants more bytes")?;
    if !src.is_empty() {
        return Err(format!("{} bytes left after the frame", src.len()));
    }
    Ok(msg)
}

// ---------------------------------------------------------------------------
// Reading the spec.

#[derive(Debug)]
struct Block {
    name: String,
    line: usize,
    lang: String,
    text: String,
}

impl Block {
    /// Hex digits, with whitespace and `#` comments ignored.
    fn bytes(&self) -> Result<Vec<u8>, String> {
        let digits: String = self
            .text
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
            .collect();
        hex::decode(&digits).map_err(|e| format!("bad hex: {e}"))
    }
}

/// Every vector block of `doc`, or the reasons the markup is wrong.
fn parse(doc: &str) -> (Vec<Block>, Vec<String>) {
    let mut blocks = Vec::new();
    let mut problems = Vec::new();
    let mut lines = doc.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let t = line.trim();
        if !(t.starts_with("<!--") && t.contains("vector")) {
            continue;
        }
        let name = t
            .strip_prefix("<!-- vector: ")
            .and_then(|r| r.strip_suffix(" -->"))
            .filter(|n| {
                !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            });
        let Some(name) = name else {
            problems.push(format!(
                "line {}: malformed vector marker {t:?} (want `<!-- vector: NAME -->`)",
                i + 1
            ));
            continue;
        };
        while lines.peek().is_some_and(|(_, l)| l.trim().is_empty()) {
            lines.next();
        }
        let lang = match lines.next() {
            Some((_, l)) if l.trim().starts_with("```") => l.trim()[3..].trim().to_owned(),
            _ => {
                problems.push(format!(
                    "line {}: vector {name} is not followed by a fenced block",
                    i + 1
                ));
                continue;
            }
        };
        let mut text = String::new();
        let mut closed = false;
        for (_, l) in lines.by_ref() {
            if l.trim() == "```" {
                closed = true;
                break;
            }
            text.push_str(l);
            text.push('\n');
        }
        if !closed {
            problems.push(format!(
                "line {}: vector {name}'s block is not closed",
                i + 1
            ));
        }
        blocks.push(Block {
            name: name.to_owned(),
            line: i + 1,
            lang,
            text,
        });
    }
    (blocks, problems)
}

/// Everything wrong between `doc` and the known vectors.
fn problems(doc: &str, known: &BTreeMap<&'static str, Vector>) -> Vec<String> {
    let (blocks, mut problems) = parse(doc);
    let mut seen = BTreeMap::new();
    for block in &blocks {
        if let Some(first) = seen.insert(block.name.as_str(), block.line) {
            problems.push(format!(
                "line {}: vector {} appears twice (first at line {first})",
                block.line, block.name
            ));
        }
        match known.get(block.name.as_str()) {
            None => problems.push(format!(
                "line {}: vector {} is in the spec but tests/vectors.rs does not know it; \
                 add it to known_vectors()",
                block.line, block.name
            )),
            Some(v) => {
                if let Err(e) = v.check(block) {
                    problems.push(format!(
                        "line {}: vector {}: {e}\nthe code produces:\n{}",
                        block.line,
                        block.name,
                        v.suggested_block(&block.name)
                    ));
                }
            }
        }
    }
    for (name, v) in known {
        if !seen.contains_key(name) {
            problems.push(format!(
                "vector {name} is missing from the spec; add:\n{}",
                v.suggested_block(name)
            ));
        }
    }
    problems
}

#[test]
fn spec_vectors_match_the_code_byte_for_byte() {
    let doc = std::fs::read_to_string(SPEC_PATH)
        .unwrap_or_else(|e| panic!("cannot read {SPEC_PATH}: {e}"));
    let problems = problems(&doc, &known_vectors());
    assert!(
        problems.is_empty(),
        "docs/WIRE.md and the code disagree:\n\n{}",
        problems.join("\n\n")
    );
}

// The checker itself must catch drift in both directions.

fn doc_with(blocks: &[String]) -> String {
    format!("# spec\n\ntext\n\n{}\n", blocks.join("\n\ntext\n\n"))
}

#[test]
fn checker_accepts_the_code_own_blocks_with_comments_and_wrapping() {
    let known = BTreeMap::from([(
        "hello-dialer",
        Vector::PreambleFrame(Preamble::Hello(dialer_hello())),
    )]);
    let hex = hex::encode(known["hello-dialer"].expected());
    let commented = format!(
        "<!-- vector: hello-dialer -->\n```hex\n{}  # prefix\n{}\n\n{}   # rest\n```",
        &hex[..8],
        &hex[8..20],
        &hex[20..]
    );
    assert_eq!(
        problems(&doc_with(&[commented]), &known),
        Vec::<String>::new()
    );
}

#[test]
fn checker_fails_on_unknown_missing_changed_duplicate_and_malformed_vectors() {
    let known = BTreeMap::from([
        (
            "hello-dialer",
            Vector::PreambleFrame(Preamble::Hello(dialer_hello())),
        ),
        (
            "hello-listener",
            Vector::PreambleFrame(Preamble::Hello(listener_hello())),
        ),
    ]);
    let good = known["hello-dialer"].suggested_block("hello-dialer");
    let listener = known["hello-listener"].suggested_block("hello-listener");

    let unknown = "<!-- vector: no-such-thing -->\n```hex\n00\n```".to_owned();
    let p = problems(
        &doc_with(&[good.clone(), listener.clone(), unknown]),
        &known,
    );
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("no-such-thing") && p[0].contains("does not know"),
        "{p:?}"
    );

    let p = problems(&doc_with(std::slice::from_ref(&good)), &known);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("hello-listener is missing"), "{p:?}");

    // One flipped bit in the magic.
    let changed = good.replacen("47454e4552414c53", "47454e4552414c52", 1);
    assert_ne!(changed, good);
    let p = problems(&doc_with(&[changed, listener.clone()]), &known);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("bytes differ"), "{p:?}");

    let p = problems(
        &doc_with(&[good.clone(), good.clone(), listener.clone()]),
        &known,
    );
    assert!(p.iter().any(|e| e.contains("appears twice")), "{p:?}");

    let malformed = "<!--vector: hello-dialer-->\n```hex\n00\n```".to_owned();
    let p = problems(
        &doc_with(&[good.clone(), listener.clone(), malformed]),
        &known,
    );
    assert!(
        p.iter().any(|e| e.contains("malformed vector marker")),
        "{p:?}"
    );

    let unfenced = "<!-- vector: hello-listener -->\nsome text".to_owned();
    let p = problems(&doc_with(&[good.clone(), unfenced]), &known);
    assert!(
        p.iter()
            .any(|e| e.contains("not followed by a fenced block")),
        "{p:?}"
    );

    let wrong_lang = listener.replace("```hex", "```json");
    let p = problems(&doc_with(&[good, wrong_lang]), &known);
    assert!(p.iter().any(|e| e.contains("expected ```hex")), "{p:?}");
}

// ---------------------------------------------------------------------------
// The size formulas the spec states.

#[test]
fn body_sizes_match_the_spec_formulas() {
    let body = |m: &PeerMessage| encode(m).len();
    let round = |spec, round, body| {
        PeerMessage::Round(RoundFrame {
            ticket: ticket(spec),
            round,
            body,
        })
    };
    assert_eq!(body(&round(SM_SPEC, 2, RoundBody::Empty)), 87);
    for count in [0u32, 1, 7, 8, 9, 10, 1000] {
        let bits = OralBits::zeros(count);
        let want = 99 + (count as usize).div_ceil(8);
        assert_eq!(body(&round(OM_SPEC, 2, RoundBody::Oral(bits))), want);
    }
    let c1 = SignedOrder::new(&key(0), &cluster_of(4), SM_INSTANCE, 2, Order::Retreat);
    let c2 = chain_0_1();
    let chains = vec![c1, c2];
    assert_eq!(
        body(&round(SM_SPEC, 2, RoundBody::Signed(chains))),
        95 + (20 + 66) + (20 + 2 * 66)
    );
    assert_eq!(body(&PeerMessage::Report(report())), 135);
    assert_eq!(encode(&Preamble::Hello(dialer_hello())).len(), 80);
    assert_eq!(encode(&Verdict::Accept).len(), 4);
    assert_eq!(
        encode(&Verdict::WrongKey {
            expected: key(0).public()
        })
        .len(),
        36
    );
    assert_eq!(encode(&proof()).len(), 32 + 2 * (20 + 66));
}

#[test]
fn the_oral_vector_packs_the_spec_table_lsb_first() {
    let RoundBody::Oral(bits) = oral_10().body else {
        panic!("oral body")
    };
    // ATTACK at x = 3, 4, 5, 9, 12: values 0, 1, 2, 6, 9; LSB first.
    assert_eq!(bits.as_bytes(), &[0b0100_0111, 0b0000_0010]);
    bits.check().expect("padding is zero");
}

#[test]
fn the_encoding_table_holds() {
    // Fixed-width little-endian integers.
    assert_eq!(encode(&0x0102u16), [0x02, 0x01]);
    assert_eq!(encode(&0x0102_0304u32), [0x04, 0x03, 0x02, 0x01]);
    assert_eq!(encode(&1u64), [1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(encode(&true), [1]);
    // Option: a u8 tag.
    assert_eq!(encode(&None::<u16>), [0]);
    assert_eq!(encode(&Some(5u16)), [1, 5, 0]);
    // Sequences and strings: a u64 count, then the elements.
    assert_eq!(encode(&vec![1u16, 2]), [2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0]);
    assert_eq!(encode(&"ab"), [2, 0, 0, 0, 0, 0, 0, 0, b'a', b'b']);
    // Fixed arrays: no length.
    assert_eq!(encode(&[7u8; 3]), [7, 7, 7]);
    // Enum variants: a u32 index in declaration order.
    assert_eq!(encode(&PeerMessage::Report(report()))[..4], [1, 0, 0, 0]);
    assert_eq!(encode(&RoundBody::Empty), [0, 0, 0, 0]);
    // Ids, orders, protocols, keys and signatures.
    assert_eq!(encode(&NodeId(0x0102)), [0x02, 0x01]);
    assert_eq!(
        encode(&InstanceId {
            commander: NodeId(1),
            seq: 2
        }),
        [1, 0, 2, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(encode(&Order::Retreat), [0]);
    assert_eq!(encode(&Order::Attack), [1]);
    assert_eq!(encode(&Protocol::Oral), [0]);
    assert_eq!(encode(&Protocol::Signed), [1]);
    let pk = key(0).public();
    assert_eq!(encode(&pk), pk.to_bytes());
    let sig = chain_0_1().links[0].sig;
    assert_eq!(encode(&sig), sig.0);
    // OralBits: count u32, then a byte string.
    let mut bits = OralBits::zeros(9);
    bits.set(8, true);
    assert_eq!(encode(&bits), [9, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    // Human-readable forms: names and hex.
    assert_eq!(
        serde_json::to_string(&Order::Attack).ok().as_deref(),
        Some("\"attack\"")
    );
    assert_eq!(
        serde_json::to_string(&Protocol::Signed).ok().as_deref(),
        Some("\"signed\"")
    );
    assert_eq!(serde_json::to_string(&pk).ok(), Some(format!("\"{pk}\"")));
}
