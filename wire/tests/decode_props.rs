//! Property tests for the decoder: no input makes it panic, and whatever it
//! accepts has exactly one encoding (re-encoding gives back the same bytes).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use bytes::BytesMut;
use generals_crypto::{InstanceId, NodeId, NodeKey, Order, SignedOrder};
use generals_wire::handshake::{Hello, Preamble};
use generals_wire::{
    decode, encode, DecisionReport, InstanceSpec, InstanceTicket, MessageCodec, MessageCounters,
    OralBits, PeerMessage, Protocol, RoundBody, RoundFrame,
};
use proptest::prelude::*;
use tokio_util::codec::Decoder;

/// Chains here are signed for this cluster; nothing depends on which.
const CL: generals_crypto::ClusterId = generals_crypto::ClusterId([7; 32]);

const ID: InstanceId = InstanceId {
    commander: NodeId(0),
    seq: 7,
};
const SPEC: InstanceSpec = InstanceSpec {
    id: ID,
    protocol: Protocol::Signed,
    m: 2,
    n: 5,
};

/// One valid message of every kind, to mutate.
fn samples() -> Vec<Vec<u8>> {
    let key = NodeKey::from_seed([4; 32]);
    let chain = SignedOrder::new(&key, &CL, ID, 2, Order::Attack);
    let mut bits = OralBits::zeros(13);
    bits.set(3, true);
    let frame = |body| {
        PeerMessage::Round(RoundFrame {
            ticket: InstanceTicket {
                spec: SPEC,
                sig: generals_crypto::Sig([7; 64]),
            },
            round: 2,
            body,
        })
    };
    vec![
        encode(&frame(RoundBody::Empty)),
        encode(&frame(RoundBody::Oral(bits))),
        encode(&frame(RoundBody::Signed(vec![chain.clone(), chain]))),
        encode(&PeerMessage::Report(
            DecisionReport::new(SPEC, NodeId(1), Order::Retreat, MessageCounters::default())
                .signed_by(&key),
        )),
        encode(&Preamble::Hello(Hello::new(
            NodeId(2),
            &key.public(),
            &generals_crypto::ClusterId::of(&[key.public()]),
        ))),
    ]
}

fn check_canonical<T: serde::Serialize + serde::de::DeserializeOwned>(bytes: &[u8]) {
    if let Ok(msg) = decode::<T>(bytes) {
        assert_eq!(
            encode(&msg),
            bytes,
            "an accepted message must have exactly one encoding"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        check_canonical::<PeerMessage>(&bytes);
        check_canonical::<Preamble>(&bytes);
        let mut codec = MessageCodec::<PeerMessage, PeerMessage>::new(1 << 16);
        let mut buf = BytesMut::from(&bytes[..]);
        // Either a message, a need for more bytes, or a named error.
        let _ = codec.decode(&mut buf);
    }

    #[test]
    fn mutated_messages_are_refused_or_canonical(
        which in 0usize..5,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = samples()[which].clone();
        for (at, x) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        check_canonical::<PeerMessage>(&bytes);
        check_canonical::<Preamble>(&bytes);
    }
}
