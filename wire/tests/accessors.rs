//! Names, counts and sizes other crates build on. Each test here was added
//! because cargo-mutants showed that no test in this crate noticed when the
//! function under it returned a constant (docs/RELIABILITY.md).

use generals_crypto::{InstanceId, NodeId, NodeKey, Order, Sig};
use generals_wire::{
    decode, encode, CodecError, DecisionReport, DecodeError, InstanceSpec, InstanceTicket,
    MessageCounters, OralBits, PeerMessage, Protocol, RoundBody, RoundFrame, HARD_MAX_FRAME,
    LENGTH_PREFIX,
};

fn spec(protocol: Protocol, m: u8) -> InstanceSpec {
    InstanceSpec {
        id: InstanceId {
            commander: NodeId(0),
            seq: 3,
        },
        protocol,
        m,
        n: 7,
    }
}

fn frame(body: RoundBody) -> RoundFrame {
    RoundFrame {
        ticket: InstanceTicket {
            spec: spec(Protocol::Oral, 2),
            sig: Sig([5; 64]),
        },
        round: 2,
        body,
    }
}

#[test]
fn protocols_convert_both_ways() {
    assert_eq!(u8::from(Protocol::Oral), 0);
    assert_eq!(u8::from(Protocol::Signed), 1);
    for p in [Protocol::Oral, Protocol::Signed] {
        assert_eq!(Protocol::try_from(u8::from(p)), Ok(p));
        assert_eq!(p.to_string().parse::<Protocol>(), Ok(p));
    }
    assert_eq!(Protocol::Oral.to_string(), "oral");
    assert_eq!(Protocol::Signed.to_string(), "signed");
    // The short names the CLI accepts.
    assert_eq!("om".parse::<Protocol>(), Ok(Protocol::Oral));
    assert_eq!("sm".parse::<Protocol>(), Ok(Protocol::Signed));
    assert!("byzantine".parse::<Protocol>().is_err());
}

#[test]
fn an_instance_has_m_plus_one_rounds() {
    assert_eq!(spec(Protocol::Oral, 0).rounds(), 1);
    assert_eq!(spec(Protocol::Signed, 5).rounds(), 6);
    assert_eq!(spec(Protocol::Signed, u8::MAX).rounds(), u8::MAX);
}

#[test]
fn bodies_count_lamports_messages() {
    assert_eq!(RoundBody::Empty.logical_messages(), 0);
    assert_eq!(RoundBody::Oral(OralBits::zeros(11)).logical_messages(), 11);
}

/// `wire_len` is what the counters report as bytes on the wire: it must be
/// the encoded frame plus its length prefix, for both ways of asking.
#[test]
fn wire_lengths_are_the_encoded_lengths() {
    let f = frame(RoundBody::Oral(OralBits::zeros(20)));
    let msg = PeerMessage::Round(f.clone());
    let encoded = encode(&msg).len();
    assert_eq!(msg.wire_len(), LENGTH_PREFIX + encoded);
    assert_eq!(f.wire_len(), LENGTH_PREFIX + encoded);
}

#[test]
fn counters_count_sent_frames_and_add_up() {
    let f = frame(RoundBody::Oral(OralBits::zeros(20)));
    let mut a = MessageCounters::default();
    a.count_sent(&f);
    a.count_sent(&f);
    let want = MessageCounters {
        logical: 40,
        frames: 2,
        bytes: 2 * f.wire_len() as u64,
        signatures_made: 0,
        signatures_verified: 0,
    };
    assert_eq!(a, want);
    let b = MessageCounters {
        logical: 1,
        frames: 2,
        bytes: 3,
        signatures_made: 4,
        signatures_verified: u64::MAX,
    };
    a.add(&b);
    assert_eq!(
        a,
        MessageCounters {
            logical: 41,
            frames: 4,
            bytes: want.bytes + 3,
            signatures_made: 4,
            signatures_verified: u64::MAX,
        }
    );
}

/// A report verifies under its reporter's key and under no other, and any
/// change to a signed field breaks it.
#[test]
fn a_report_verifies_only_as_signed() {
    let key = NodeKey::from_seed([1; 32]);
    let other = NodeKey::from_seed([2; 32]);
    let report = DecisionReport::new(
        spec(Protocol::Signed, 1),
        NodeId(1),
        Order::Attack,
        MessageCounters::default(),
    )
    .signed_by(&key);
    assert!(report.verify(&key.public()));
    assert!(!report.verify(&other.public()));
    let mut changed = report.clone();
    changed.decision = Order::Retreat;
    assert!(!changed.verify(&key.public()));
    let mut changed = report;
    changed.late.push(NodeId(2));
    assert!(!changed.verify(&key.public()));
}

/// HARD_MAX_FRAME itself is allowed; one more byte is not.
#[test]
fn the_hard_frame_limit_is_inclusive() {
    let at = vec![0u8; HARD_MAX_FRAME];
    let err = decode::<u8>(&at).unwrap_err();
    assert!(!matches!(err, DecodeError::TooLarge { .. }), "{err:?}");
    let over = vec![0u8; HARD_MAX_FRAME + 1];
    assert!(matches!(
        decode::<u8>(&over),
        Err(DecodeError::TooLarge { len, .. }) if len == HARD_MAX_FRAME + 1
    ));
}

/// Counter names are part of the status output operators script against.
#[test]
fn codec_error_kinds_are_stable() {
    let cases = [
        (CodecError::TooLarge { len: 2, max: 1 }, "too_large"),
        (CodecError::Tampered { record: 1 }, "tampered"),
        (CodecError::Truncated { record: 1 }, "truncated"),
        (CodecError::BadRecord { record: 1 }, "bad_record"),
        (CodecError::Exhausted, "exhausted"),
    ];
    for (e, kind) in cases {
        assert_eq!(e.kind(), kind, "{e}");
    }
}
