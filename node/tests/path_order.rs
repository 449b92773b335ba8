//! The canonical path order of docs/WIRE.md section 5, checked against the
//! product: `protocol/paths.rs`, and the oral frames `OralTree` builds with
//! it. (The wire crate's vector tests cannot reach the node crate, so the
//! path order is checked here.)
//!
//! Both ends of a link use the same `for_each_path`, so a wrong order there
//! keeps every simulated run in agreement (`oral_exhaustive` passes with the
//! order reversed); only the spec can tell.
//! Mutations seen to fail these tests: `extend` in paths.rs trying ids in
//! decreasing order (all four tests); trying them in the order of their
//! decimal strings, so that 10 comes before 9 (all but the spec example,
//! whose ids are single digits).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use bytes::BytesMut;
use generals_crypto::{ClusterId, InstanceId, NodeId, NodeKey, PublicKey};
use generals_node::protocol::oral::OralTree;
use generals_node::protocol::paths::{bit, for_each_path};
use generals_wire::{
    InstanceSpec, InstanceTicket, MessageCodec, OralBits, PeerMessage, Protocol, RoundBody,
    RoundFrame, HARD_MAX_FRAME,
};
use tokio_util::codec::Encoder;

const SPEC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/WIRE.md");

fn spec_text() -> String {
    std::fs::read_to_string(SPEC_PATH).unwrap_or_else(|e| panic!("cannot read {SPEC_PATH}: {e}"))
}

/// The spec with every run of whitespace made one space, so a sentence
/// matches across line breaks.
fn spec_prose() -> String {
    spec_text().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The product's paths of `len` ids from `commander` avoiding `avoid`, in
/// the order it enumerates them.
fn product(n: usize, commander: u8, avoid: &[u8], len: usize) -> Vec<Vec<u8>> {
    let mask = avoid.iter().fold(0u128, |m, &id| m | bit(id));
    let mut out = Vec::new();
    for_each_path(n, commander, mask, len, &mut |p, _| out.push(p.to_vec()));
    out
}

/// The spec's canonical order restated independently of paths.rs: extend
/// every path, shortest first, by each id not yet on it, in increasing
/// numeric order.
fn lexicographic(n: u8, commander: u8, avoid: &[u8], len: usize) -> Vec<Vec<u8>> {
    if len == 0 || avoid.contains(&commander) {
        return Vec::new();
    }
    let mut out = vec![vec![commander]];
    for _ in 1..len {
        let mut longer = Vec::new();
        for p in &out {
            for id in (0..n).filter(|id| !p.contains(id) && !avoid.contains(id)) {
                let mut q = p.clone();
                q.push(id);
                longer.push(q);
            }
        }
        out = longer;
    }
    out
}

#[test]
fn the_spec_example_is_the_products_order() {
    // n = 6, c = 0, round 4, lieutenant 1 -> lieutenant 2: paths of length 3.
    let paths = product(6, 0, &[1, 2], 3);
    assert_eq!(
        paths,
        [
            [0, 3, 4],
            [0, 3, 5],
            [0, 4, 3],
            [0, 4, 5],
            [0, 5, 3],
            [0, 5, 4]
        ]
    );
    // The spec lists that order, in those words.
    let listed: Vec<String> = paths
        .iter()
        .map(|p| {
            let ids: Vec<String> = p.iter().map(u8::to_string).collect();
            format!("`[{}]`", ids.join(","))
        })
        .collect();
    let sentence = format!("are, in order, {}:", listed.join(", "));
    assert!(
        spec_prose().contains(&sentence),
        "docs/WIRE.md lacks {sentence:?}"
    );
}

#[test]
fn ids_compare_as_numbers() {
    let paths = product(12, 0, &[1, 2], 2);
    assert_eq!(paths[6..], [vec![0, 9], vec![0, 10], vec![0, 11]]);
    assert!(spec_prose().contains("as **numbers** (so `[0, 9]` comes before `[0, 10]`)"));
}

#[test]
fn the_products_order_is_the_lexicographic_order() {
    let mut compared = 0;
    for n in 1..=12u8 {
        for commander in [0, n / 2, n - 1] {
            for avoid in [vec![], vec![1], vec![n - 1], vec![1, n / 2]] {
                for len in 0..=4 {
                    let want = lexicographic(n, commander, &avoid, len);
                    let got = product(usize::from(n), commander, &avoid, len);
                    assert_eq!(got, want, "n={n} c={commander} avoid={avoid:?} len={len}");
                    compared += got.len();
                }
            }
        }
    }
    assert!(compared > 10_000, "{compared} paths compared");
}

/// The spec's `round-oral-10` vector (OM(2) at n = 13, round 3, lieutenant
/// 1 -> lieutenant 2) is the frame the product's `OralTree` builds when
/// lieutenant 1 stored ATTACK at [0,3], [0,4], [0,5], [0,9] and [0,12].
#[test]
fn the_oral_vector_is_the_frame_a_lieutenant_builds() {
    let n = 13u16;
    let mut tree = OralTree::new(usize::from(n), 2, 0, 1).unwrap();
    tree.store(1, 0, &bits(&[true])).unwrap();
    for x in 2..n as u8 {
        let attack = [3, 4, 5, 9, 12].contains(&x);
        tree.store(2, x, &bits(&[attack])).unwrap();
    }
    let frames = tree.frames(3);
    let (_, to_2) = frames.iter().find(|(j, _)| *j == 2).unwrap();

    let keys: Vec<NodeKey> = (0..n)
        .map(|i| NodeKey::from_seed([i as u8 + 1; 32]))
        .collect();
    let publics: Vec<PublicKey> = keys.iter().map(NodeKey::public).collect();
    let spec = InstanceSpec {
        id: InstanceId {
            commander: NodeId(0),
            seq: 42,
        },
        protocol: Protocol::Oral,
        m: 2,
        n,
    };
    let frame = PeerMessage::Round(RoundFrame {
        ticket: InstanceTicket::issue(&keys[0], &ClusterId::of(&publics), spec),
        round: 3,
        body: RoundBody::Oral(to_2.clone()),
    });
    let mut wire = BytesMut::new();
    MessageCodec::<PeerMessage, PeerMessage>::new(HARD_MAX_FRAME)
        .encode(&frame, &mut wire)
        .unwrap();
    assert_eq!(hex::encode(&wire), hex::encode(vector("round-oral-10")));
}

fn bits(values: &[bool]) -> OralBits {
    let mut b = OralBits::zeros(values.len() as u32);
    for (i, &v) in values.iter().enumerate() {
        b.set(i, v);
    }
    b
}

/// The bytes of the spec's `<!-- vector: NAME -->` hex block, `#` comments
/// and whitespace ignored.
fn vector(name: &str) -> Vec<u8> {
    let text = spec_text();
    let marker = format!("<!-- vector: {name} -->");
    let after = &text[text.find(&marker).unwrap() + marker.len()..];
    let body = after.split("```").nth(1).unwrap();
    let digits: String = body
        .lines()
        .skip(1) // the fence's language tag
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    hex::decode(digits).unwrap()
}
