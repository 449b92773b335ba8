//! Every way a frame can be refused, checked for its reason, and a round trip
//! of every message through the codec.

use bytes::{BufMut, BytesMut};
use generals_crypto::{ClusterId, InstanceId, NodeId, NodeKey, Order, PublicKey, SignedOrder};
use generals_wire::handshake::{Hello, LinkHandshake, Preamble};
use generals_wire::{
    decode, encode, encoded_len, CodecError, DecisionReport, DecodeError, InstanceSpec,
    InstanceTicket, MessageCodec, MessageCounters, OralBits, OralBitsError, PeerMessage, Protocol,
    RoundBody, RoundFrame, HARD_MAX_FRAME, LENGTH_PREFIX,
};
use tokio_util::codec::{Decoder, Encoder};

/// Chains here are signed for this cluster; nothing depends on which.
const CL: generals_crypto::ClusterId = generals_crypto::ClusterId([7; 32]);

/// Records the largest single allocation the current thread asks for while a
/// probe is running, so "rejected without allocating" is measured, not hoped.
#[allow(unsafe_code)]
mod alloc_probe {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static LARGEST: Cell<Option<usize>> = const { Cell::new(None) };
    }

    pub struct Probe;

    fn note(size: usize) {
        let _ = LARGEST.try_with(|l| {
            if let Some(max) = l.get() {
                l.set(Some(max.max(size)));
            }
        });
    }

    // SAFETY: every call is forwarded unchanged to the system allocator; the
    // probe only reads the requested size.
    unsafe impl GlobalAlloc for Probe {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            note(new_size);
            unsafe { System.realloc(ptr, layout, new_size) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    /// Runs `f` and returns its result with the largest allocation it made.
    pub fn largest_allocation<R>(f: impl FnOnce() -> R) -> (R, usize) {
        LARGEST.with(|l| l.set(Some(0)));
        let r = f();
        let largest = LARGEST.with(|l| l.take()).unwrap_or(0);
        (r, largest)
    }
}

#[global_allocator]
static PROBE: alloc_probe::Probe = alloc_probe::Probe;

// ---------------------------------------------------------------------------
// Fixtures.

fn key(i: u8) -> NodeKey {
    NodeKey::from_seed([i + 1; 32])
}

const INSTANCE: InstanceId = InstanceId {
    commander: NodeId(0),
    seq: 3,
};

fn spec(protocol: Protocol) -> InstanceSpec {
    InstanceSpec {
        id: INSTANCE,
        protocol,
        m: 2,
        n: 13,
    }
}

fn round(protocol: Protocol, round: u8, body: RoundBody) -> PeerMessage {
    PeerMessage::Round(RoundFrame {
        ticket: InstanceTicket {
            spec: spec(protocol),
            sig: generals_crypto::Sig([7; 64]),
        },
        round,
        body,
    })
}

fn empty_frame() -> PeerMessage {
    round(Protocol::Signed, 2, RoundBody::Empty)
}

fn oral_frame() -> PeerMessage {
    let mut bits = OralBits::zeros(10);
    bits.set(3, true);
    bits.set(9, true);
    round(Protocol::Oral, 3, RoundBody::Oral(bits))
}

fn chain() -> SignedOrder {
    SignedOrder::new(&key(0), &CL, INSTANCE, 2, Order::Attack).extended(&key(1), &CL, NodeId(1))
}

fn signed_frame() -> PeerMessage {
    let retreat = SignedOrder::new(&key(0), &CL, INSTANCE, 2, Order::Retreat);
    round(
        Protocol::Signed,
        2,
        RoundBody::Signed(vec![chain(), retreat]),
    )
}

fn report() -> PeerMessage {
    PeerMessage::Report(
        DecisionReport {
            evidence: None,
            ..DecisionReport::new(
                spec(Protocol::Signed),
                NodeId(2),
                Order::Attack,
                MessageCounters {
                    logical: 1,
                    frames: 2,
                    bytes: 3,
                    signatures_made: 4,
                    signatures_verified: 5,
                },
            )
        }
        .signed_by(&key(2)),
    )
}

fn every_peer_message() -> Vec<PeerMessage> {
    vec![
        empty_frame(),
        round(Protocol::Oral, 2, RoundBody::Empty),
        oral_frame(),
        round(Protocol::Oral, 1, RoundBody::Oral(OralBits::zeros(1))),
        signed_frame(),
        round(Protocol::Signed, 1, RoundBody::Signed(vec![])),
        report(),
    ]
}

fn table() -> Vec<PublicKey> {
    (0..2).map(|i| key(i).public()).collect()
}

fn hellos() -> (Hello, Hello) {
    let cluster = ClusterId::of(&table());
    (
        Hello::new(NodeId(0), &key(0).public(), &cluster),
        Hello::new(NodeId(1), &key(1).public(), &cluster),
    )
}

/// Every plaintext frame of a link: the two Hellos.
fn every_preamble() -> Vec<Preamble> {
    let (d, l) = hellos();
    vec![Preamble::Hello(d), Preamble::Hello(l)]
}

fn peer_codec(max: usize) -> MessageCodec<PeerMessage, PeerMessage> {
    MessageCodec::new(max)
}

/// `body` behind its 4-byte big-endian length.
fn framed(body: &[u8]) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_u32(body.len() as u32);
    b.put_slice(body);
    b
}

fn malformed(e: DecodeError) -> String {
    match e {
        DecodeError::Malformed(why) => why,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Decoding a body.

#[test]
fn every_proper_prefix_of_a_body_is_truncated() {
    for msg in every_peer_message() {
        let body = encode(&msg);
        for cut in 0..body.len() {
            match decode::<PeerMessage>(&body[..cut]) {
                Err(DecodeError::Truncated(_)) => {}
                other => panic!("{msg:?} cut at {cut}/{}: {other:?}", body.len()),
            }
        }
        assert_eq!(decode::<PeerMessage>(&body), Ok(msg));
    }
    for msg in every_preamble() {
        let body = encode(&msg);
        for cut in 0..body.len() {
            assert!(
                matches!(
                    decode::<Preamble>(&body[..cut]),
                    Err(DecodeError::Truncated(_))
                ),
                "{msg:?} cut at {cut}"
            );
        }
    }
}

#[test]
fn truncation_says_how_many_bytes_are_missing() {
    // Body: tag (4) ‖ commander (2) ‖ seq (8) ‖ …; cut 2 bytes into the seq.
    let body = encode(&empty_frame());
    assert_eq!(
        decode::<PeerMessage>(&body[..8]),
        Err(DecodeError::Truncated("6 more bytes needed".into()))
    );
    assert_eq!(
        decode::<PeerMessage>(&[]),
        Err(DecodeError::Truncated("4 more bytes needed".into()))
    );
}

#[test]
fn trailing_bytes_are_counted() {
    for extra in [1usize, 3, 64] {
        let mut body = encode(&report());
        body.extend(std::iter::repeat_n(0u8, extra));
        assert_eq!(
            decode::<PeerMessage>(&body),
            Err(DecodeError::TrailingBytes(extra))
        );
    }
    // Empty is a complete body; a stray byte after it is not padding.
    let mut body = encode(&empty_frame());
    body.push(0);
    assert_eq!(
        decode::<PeerMessage>(&body),
        Err(DecodeError::TrailingBytes(1))
    );
    let mut hello = encode(&Preamble::Hello(hellos().0));
    hello.extend_from_slice(&[1, 2]);
    assert_eq!(
        decode::<Preamble>(&hello),
        Err(DecodeError::TrailingBytes(2))
    );
}

#[test]
fn unknown_enum_tags_are_malformed() {
    // PeerMessage has variants 0 and 1.
    let mut body = encode(&report());
    body[..4].copy_from_slice(&2u32.to_le_bytes());
    let why = malformed(decode::<PeerMessage>(&body).unwrap_err());
    assert!(why.contains("variant index") && why.contains('2'), "{why}");

    // Preamble has variant 0 only.
    let mut body = encode(&Preamble::Hello(hellos().0));
    body[..4].copy_from_slice(&0x0100_0000u32.to_le_bytes());
    let why = malformed(decode::<Preamble>(&body).unwrap_err());
    assert!(
        why.contains("variant index") && why.contains("16777216"),
        "{why}"
    );

    // RoundBody has variants 0, 1 and 2; its tag follows tag ‖ ticket ‖ round.
    let mut body = encode(&empty_frame());
    body[83..87].copy_from_slice(&3u32.to_le_bytes());
    let why = malformed(decode::<PeerMessage>(&body).unwrap_err());
    assert!(why.contains("variant index") && why.contains('3'), "{why}");
}

#[test]
fn order_and_protocol_bytes_outside_their_range_are_named() {
    // Report: tag (4) ‖ spec (commander 2, seq 8, protocol 1, m 1, n 2) ‖
    // reporter (2) ‖ decision (1).
    let mut body = encode(&report());
    assert_eq!(body[20], Order::Attack as u8);
    body[20] = 2;
    let why = malformed(decode::<PeerMessage>(&body).unwrap_err());
    assert!(why.contains("order byte") && why.contains("got 2"), "{why}");

    // Round frame: tag (4) ‖ commander (2) ‖ seq (8) ‖ protocol (1).
    let mut body = encode(&empty_frame());
    assert_eq!(body[14], Protocol::Signed as u8);
    body[14] = 7;
    let why = malformed(decode::<PeerMessage>(&body).unwrap_err());
    assert!(
        why.contains("protocol byte") && why.contains("got 7"),
        "{why}"
    );

    // The order inside a chain: tag (4) ‖ ticket (78) ‖ round (1) ‖ body tag (4) ‖ count (8) ‖ commander (2) ‖
    // seq (8) ‖ m (1) ‖ order (1).
    let mut body = encode(&signed_frame());
    let at = 87 + 8 + 2 + 8 + 1;
    assert_eq!(body[at], Order::Attack as u8);
    body[at] = 0xff;
    let why = malformed(decode::<PeerMessage>(&body).unwrap_err());
    assert!(
        why.contains("order byte") && why.contains("got 255"),
        "{why}"
    );
}

#[test]
fn a_bool_other_than_0_or_1_is_malformed() {
    // Report: variant (4) ‖ spec (14) ‖ reporter (2) ‖ decision (1) ‖
    // evidence (Option tag, 1 byte when None) ‖ faulty (1) at offset 22.
    let mut body = encode(&report());
    assert_eq!(body[22], 0);
    body[22] = 2;
    let why = malformed(decode::<PeerMessage>(&body).unwrap_err());
    assert!(why.contains("InvalidBooleanValue(2)"), "{why}");
    // The Option tag before it must be 0 or 1 as well.
    let mut body = encode(&report());
    body[21] = 7;
    let why = malformed(decode::<PeerMessage>(&body).unwrap_err());
    assert!(why.to_lowercase().contains("option"), "{why}");
}

/// Count (u32) ‖ a byte-string length of 2^40 ‖ 18 bytes: 30 bytes in all.
fn lying_oral_bits() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&10u32.to_le_bytes());
    b.extend_from_slice(&(1u64 << 40).to_le_bytes());
    b.extend_from_slice(&[0u8; 18]);
    assert_eq!(b.len(), 30);
    b
}

#[test]
fn a_byte_string_claiming_a_terabyte_is_refused_without_allocating() {
    let bytes = lying_oral_bits();
    let (result, largest) = alloc_probe::largest_allocation(|| decode::<OralBits>(&bytes));
    // The length is checked against the 1 GiB decode limit before anything
    // is read or reserved.
    assert!(
        matches!(result, Err(DecodeError::LyingLength)),
        "{result:?}"
    );
    assert!(largest < 4096, "decoding allocated {largest} bytes");

    // The same inside a whole frame, through the codec.
    let mut body = encode(&oral_frame());
    let len_at = 87 + 4;
    body[len_at..len_at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let mut src = framed(&body);
    let (result, largest) =
        alloc_probe::largest_allocation(|| peer_codec(1 << 20).decode(&mut src));
    assert!(
        matches!(result, Err(CodecError::Decode(DecodeError::LyingLength))),
        "{result:?}"
    );
    assert!(largest < 4096, "decoding allocated {largest} bytes");
}

#[test]
fn a_byte_string_longer_than_its_frame_but_under_the_limit_is_truncated() {
    // 1000 bytes claimed, 18 present: the claim is within the 1 GiB limit, so
    // the decoder looks for the bytes and finds the frame ends first.
    let mut bytes = lying_oral_bits();
    bytes[4..12].copy_from_slice(&1000u64.to_le_bytes());
    let (result, largest) = alloc_probe::largest_allocation(|| decode::<OralBits>(&bytes));
    assert_eq!(
        result,
        Err(DecodeError::Truncated("982 more bytes needed".into()))
    );
    assert!(largest < 4096, "decoding allocated {largest} bytes");
}

#[test]
fn a_sequence_claiming_a_trillion_elements_does_not_preallocate_them() {
    // The chain count of a Signed body, then the chain count of links.
    let body = encode(&signed_frame());
    for at in [87, 87 + 8 + 12] {
        let mut body = body.clone();
        body[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let (result, largest) = alloc_probe::largest_allocation(|| decode::<PeerMessage>(&body));
        // The elements that are there decode; the frame then runs out.
        assert!(
            matches!(result, Err(DecodeError::Truncated(_))),
            "{result:?}"
        );
        // serde caps what it reserves from an untrusted count at 1 MiB.
        assert!(largest <= 1 << 20, "decoding allocated {largest} bytes");
    }
}

#[test]
fn a_body_above_the_hard_limit_is_refused_before_decoding() {
    // calloc'd and never touched, so this costs address space, not memory.
    let huge = vec![0u8; HARD_MAX_FRAME + 1];
    assert_eq!(
        decode::<PeerMessage>(&huge),
        Err(DecodeError::TooLarge {
            len: HARD_MAX_FRAME + 1,
            max: HARD_MAX_FRAME
        })
    );
}

// ---------------------------------------------------------------------------
// Oral bit vectors: decoding keeps the raw shape, check() judges it.

#[test]
fn oral_shape_errors_surface_after_decoding_a_frame() {
    let decoded_bits = |count: u32, bytes: &[u8]| -> OralBits {
        let msg = round(
            Protocol::Oral,
            3,
            RoundBody::Oral(OralBits::from_raw(count, bytes.to_vec())),
        );
        let mut src = BytesMut::new();
        peer_codec(1 << 20).encode(&msg, &mut src).expect("encodes");
        match peer_codec(1 << 20).decode(&mut src) {
            Ok(Some(PeerMessage::Round(RoundFrame {
                body: RoundBody::Oral(bits),
                ..
            }))) => bits,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        decoded_bits(10, &[0xff]).check(),
        Err(OralBitsError::Length {
            count: 10,
            need: 2,
            have: 1
        })
    );
    assert_eq!(
        decoded_bits(10, &[0, 0, 0]).check(),
        Err(OralBitsError::Length {
            count: 10,
            need: 2,
            have: 3
        })
    );
    assert_eq!(
        decoded_bits(0, &[0]).check(),
        Err(OralBitsError::Length {
            count: 0,
            need: 0,
            have: 1
        })
    );
    // Bits 10..16 of the last byte must be zero.
    assert_eq!(
        decoded_bits(10, &[0, 0b0000_0100]).check(),
        Err(OralBitsError::Padding)
    );
    assert_eq!(
        decoded_bits(10, &[0, 0b1000_0000]).check(),
        Err(OralBitsError::Padding)
    );
    let ok = decoded_bits(10, &[0xff, 0b0000_0011]);
    assert_eq!(ok.check(), Ok(()));
    assert!((0..10).all(|i| ok.get(i)));
    assert_eq!(decoded_bits(16, &[0xff, 0xff]).check(), Ok(()));
    assert_eq!(decoded_bits(0, &[]).check(), Ok(()));
}

// ---------------------------------------------------------------------------
// The codec.

#[test]
fn a_length_prefix_above_the_limit_is_refused_before_the_body_arrives() {
    let mut codec = peer_codec(1024);
    let mut src = BytesMut::from(&1025u32.to_be_bytes()[..]);
    match codec.decode(&mut src) {
        Err(CodecError::TooLarge { len, max }) => assert_eq!((len, max), (1025, 1024)),
        other => panic!("{other:?}"),
    }
    // The largest prefix there is.
    let mut src = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
    match peer_codec(HARD_MAX_FRAME).decode(&mut src) {
        Err(CodecError::TooLarge { len, max }) => {
            assert_eq!((len, max), (u32::MAX as usize, HARD_MAX_FRAME))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_length_prefix_at_the_limit_waits_for_its_body() {
    let mut codec = peer_codec(1024);
    let mut src = BytesMut::from(&1024u32.to_be_bytes()[..]);
    assert!(matches!(codec.decode(&mut src), Ok(None)));
}

#[test]
fn a_partial_frame_decodes_once_the_rest_arrives() {
    let msg = signed_frame();
    let mut whole = BytesMut::new();
    peer_codec(1 << 20)
        .encode(&msg, &mut whole)
        .expect("encodes");
    let mut codec = peer_codec(1 << 20);
    let mut src = BytesMut::new();
    let (last, head) = whole.split_last().expect("non-empty");
    for (i, b) in head.iter().enumerate() {
        src.put_u8(*b);
        assert!(
            matches!(codec.decode(&mut src), Ok(None)),
            "decoded early after {} bytes",
            i + 1
        );
    }
    src.put_u8(*last);
    assert_eq!(codec.decode(&mut src).expect("decodes"), Some(msg));
    assert!(src.is_empty());
    assert!(matches!(codec.decode(&mut src), Ok(None)));
}

/// Regression: once the framing has taken a frame's length prefix, the next
/// bytes are body, and must not be read as another length (a Report or Auth
/// body starts 01 00 00 00, which as a length is 16 MiB).
#[test]
fn a_frame_split_anywhere_decodes_under_a_small_limit() {
    fn check<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        msg: T,
    ) {
        let mut whole = BytesMut::new();
        MessageCodec::<T, T>::new(1024)
            .encode(&msg, &mut whole)
            .expect("encodes");
        for split in 1..whole.len() {
            let mut codec = MessageCodec::<T, T>::new(1024);
            let mut src = BytesMut::from(&whole[..split]);
            match codec.decode(&mut src) {
                Ok(None) => {}
                other => panic!("{msg:?} split at {split}: first read gave {other:?}"),
            }
            src.put_slice(&whole[split..]);
            match codec.decode(&mut src) {
                Ok(Some(back)) => assert_eq!(back, msg),
                other => panic!("{msg:?} split at {split}: second read gave {other:?}"),
            }
        }
    }
    every_peer_message().into_iter().for_each(check);
    every_preamble().into_iter().for_each(check);
}

#[test]
fn back_to_back_frames_decode_one_at_a_time() {
    let mut codec = peer_codec(1 << 20);
    let mut src = BytesMut::new();
    for m in every_peer_message() {
        codec.encode(&m, &mut src).expect("encodes");
    }
    // And half of a further frame.
    let mut next = BytesMut::new();
    codec.encode(&report(), &mut next).expect("encodes");
    src.put_slice(&next[..next.len() / 2]);
    for m in every_peer_message() {
        assert_eq!(codec.decode(&mut src).expect("decodes"), Some(m));
    }
    assert!(matches!(codec.decode(&mut src), Ok(None)));
    src.put_slice(&next[next.len() / 2..]);
    assert_eq!(codec.decode(&mut src).expect("decodes"), Some(report()));
}

#[test]
fn a_bad_body_inside_a_good_frame_is_a_decode_error() {
    let mut body = encode(&report());
    body.push(0xaa);
    let mut src = framed(&body);
    match peer_codec(1 << 20).decode(&mut src) {
        Err(CodecError::Decode(DecodeError::TrailingBytes(1))) => {}
        other => panic!("{other:?}"),
    }
    // A zero-length frame holds no message.
    let mut src = framed(&[]);
    match peer_codec(1 << 20).decode(&mut src) {
        Err(CodecError::Decode(DecodeError::Truncated(_))) => {}
        other => panic!("{other:?}"),
    }
    // A complete frame whose body stops early.
    let body = encode(&report());
    let mut src = framed(&body[..body.len() - 1]);
    match peer_codec(1 << 20).decode(&mut src) {
        Err(CodecError::Decode(DecodeError::Truncated(why))) => {
            assert_eq!(why, "1 more bytes needed")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn encoding_a_message_larger_than_the_limit_is_refused() {
    let msg = signed_frame();
    let len = encode(&msg).len();
    let mut dst = BytesMut::new();
    match peer_codec(len - 1).encode(&msg, &mut dst) {
        Err(CodecError::TooLarge { len: l, max }) => assert_eq!((l, max), (len, len - 1)),
        other => panic!("{other:?}"),
    }
    assert!(dst.is_empty(), "nothing written for a refused frame");
    // Exactly at the limit is allowed, both ways.
    peer_codec(len).encode(&msg, &mut dst).expect("fits");
    assert_eq!(dst.len(), LENGTH_PREFIX + len);
    assert_eq!(
        peer_codec(len).decode(&mut dst).expect("decodes"),
        Some(msg)
    );
}

#[test]
fn the_configured_limit_is_capped_at_the_hard_maximum() {
    assert_eq!(peer_codec(usize::MAX).max_frame(), HARD_MAX_FRAME);
    assert_eq!(peer_codec(HARD_MAX_FRAME + 1).max_frame(), HARD_MAX_FRAME);
    assert_eq!(peer_codec(2048).max_frame(), 2048);
}

#[test]
fn errors_read_well() {
    let e = CodecError::TooLarge {
        len: 1025,
        max: 1024,
    };
    assert_eq!(
        e.to_string(),
        "frame length 1025 exceeds max_frame_bytes = 1024"
    );
    assert_eq!(
        DecodeError::TrailingBytes(3).to_string(),
        "frame has 3 bytes after its message"
    );
    let wrapped = CodecError::from(DecodeError::Truncated("6 more bytes needed".into()));
    assert_eq!(
        wrapped.to_string(),
        "frame ended early: 6 more bytes needed"
    );
}

// ---------------------------------------------------------------------------
// Round trips.

#[test]
fn every_peer_message_round_trips_through_the_codec() {
    let mut codec = peer_codec(1 << 20);
    for msg in every_peer_message() {
        let mut buf = BytesMut::new();
        codec.encode(&msg, &mut buf).expect("encodes");
        assert_eq!(buf.len(), LENGTH_PREFIX + encoded_len(&msg), "{msg:?}");
        assert_eq!(&buf[..4], &(encoded_len(&msg) as u32).to_be_bytes());
        assert_eq!(&buf[4..], &encode(&msg)[..]);
        if let PeerMessage::Round(frame) = &msg {
            assert_eq!(frame.wire_len(), buf.len(), "wire_len of {msg:?}");
        }
        assert_eq!(codec.decode(&mut buf).expect("decodes"), Some(msg));
        assert!(buf.is_empty());
    }
}

#[test]
fn every_preamble_round_trips_through_the_codec() {
    let mut codec = MessageCodec::<Preamble, Preamble>::new(1024);
    for msg in every_preamble() {
        let mut buf = BytesMut::new();
        codec.encode(&msg, &mut buf).expect("encodes");
        assert_eq!(codec.decode(&mut buf).expect("decodes"), Some(msg));
        assert!(buf.is_empty());
    }
}

#[test]
fn a_peer_message_is_not_a_hello() {
    // A link's first frame read as a Hello refuses peer traffic.
    let body = encode(&report());
    let why = malformed(decode::<Preamble>(&body).unwrap_err());
    assert!(why.contains("variant index"), "{why}");
    assert!(matches!(
        Hello::parse(&body),
        Err(generals_wire::handshake::HandshakeError::NotGenerals)
    ));
}

// ---------------------------------------------------------------------------
// Sealed frames: a declared length is checked before anything is reserved.

type Sealed = generals_wire::SealedCodec<Vec<u8>, Vec<u8>>;

/// Both ends of a fresh sealed link between nodes 0 and 1.
fn sealed_link(tx_max: usize, rx_max: usize) -> (Sealed, Sealed) {
    let peers = table();
    let mut d = LinkHandshake::dialer(NodeId(0), &key(0), &peers, NodeId(1));
    let mut l = LinkHandshake::listener(NodeId(1), &key(1), &peers);
    let (mut to_d, mut to_l) = (BytesMut::new(), BytesMut::new());
    let (mut dd, mut ll) = (None, None);
    for _ in 0..4 {
        to_l.extend_from_slice(&d.transmit());
        if ll.is_none() {
            ll = l.receive(&mut to_l).expect("listener accepts");
        }
        to_d.extend_from_slice(&l.transmit());
        if dd.is_none() {
            dd = d.receive(&mut to_d).expect("dialer accepts");
        }
    }
    let (Some(d), Some(l)) = (dd, ll) else {
        panic!("handshake did not finish")
    };
    (d.into_codec(tx_max), l.into_codec(rx_max))
}

#[test]
fn an_oversized_sealed_frame_is_refused_without_reserving_its_length() {
    let (mut tx, mut rx) = sealed_link(HARD_MAX_FRAME, 1 << 20);
    let mut src = BytesMut::new();
    // 64 MiB declared: the first record (64 KiB) arrives, the rest never needs to.
    let big = vec![7u8; 64 << 20];
    tx.encode(&big, &mut src)
        .expect("encodes under the sender's limit");
    let first = src.split_to(2 + generals_wire::RECORD_PLAINTEXT + generals_wire::RECORD_TAG);
    let mut first = BytesMut::from(&first[..]);
    let (result, largest) = alloc_probe::largest_allocation(|| rx.decode(&mut first));
    match result {
        Err(CodecError::TooLarge { len, max }) => assert_eq!((len, max), (8 + (64 << 20), 1 << 20)),
        other => panic!("{other:?}"),
    }
    assert!(
        largest <= 128 << 10,
        "allocated {largest} bytes for a refused frame"
    );
}
