//! The small accessors and text forms other crates build on. Each test here
//! was added because cargo-mutants showed that no test in this crate noticed
//! when the function under it returned a constant (docs/RELIABILITY.md).

use generals_crypto::{
    ClusterId, InstanceId, NodeId, NodeKey, Order, PrefixCache, Sig, SignedOrder,
};

fn keys(n: u8) -> Vec<NodeKey> {
    (0..n).map(|i| NodeKey::from_seed([i + 1; 32])).collect()
}

fn cluster(k: &[NodeKey]) -> ClusterId {
    ClusterId::of(&k.iter().map(NodeKey::public).collect::<Vec<_>>())
}

/// The chain `order:0:signers...` for instance 0-7.
fn chain(k: &[NodeKey], cl: &ClusterId, signers: &[u16]) -> SignedOrder {
    let id = InstanceId {
        commander: NodeId(0),
        seq: 7,
    };
    let mut c = SignedOrder::new(&k[0], cl, id, 3, Order::Attack);
    for &s in signers {
        c = c.extended(&k[usize::from(s)], cl, NodeId(s));
    }
    c
}

/// The protocol reads a chain's round from `len`, refuses relays whose
/// `last_signer` is not the link's peer, and skips peers that
/// `contains_signer` (SM's "not already in the chain" rule).
#[test]
fn a_chain_reports_its_signers_in_order() {
    let k = keys(4);
    let cl = cluster(&k);
    let c = chain(&k, &cl, &[2, 1]);
    assert_eq!(c.len(), 3);
    assert!(!c.is_empty());
    assert_eq!(
        c.signers().collect::<Vec<_>>(),
        [NodeId(0), NodeId(2), NodeId(1)]
    );
    assert_eq!(c.last_signer(), Some(NodeId(1)));
    assert!(c.contains_signer(NodeId(2)));
    assert!(!c.contains_signer(NodeId(3)));

    // A chain decoded from the wire may carry no link at all.
    let mut empty = c.clone();
    empty.links.clear();
    assert!(empty.is_empty());
    assert_eq!(empty.len(), 0);
    assert_eq!(empty.last_signer(), None);
    assert!(!empty.contains_signer(NodeId(0)));
}

#[test]
fn the_prefix_cache_counts_the_prefixes_it_vouches_for() {
    let k = keys(4);
    let cl = cluster(&k);
    let p: Vec<_> = k.iter().map(NodeKey::public).collect();
    let mut cache = PrefixCache::default();
    assert!(cache.is_empty());
    assert_eq!(cache.len(), 0);
    chain(&k, &cl, &[1, 2])
        .verify(&cl, |id| p.get(id.index()), &mut cache)
        .unwrap();
    assert!(!cache.is_empty());
    // One entry per verified prefix: 0, 0:1 and 0:1:2.
    assert_eq!(cache.len(), 3);
}

#[test]
fn orders_convert_both_ways() {
    assert_eq!(Order::from_bit(true), Order::Attack);
    assert_eq!(Order::from_bit(false), Order::Retreat);
    assert_eq!(Order::Attack.flipped(), Order::Retreat);
    assert_eq!(Order::Retreat.flipped(), Order::Attack);
    assert_eq!(u8::from(Order::Attack), 1);
    assert_eq!(u8::from(Order::Retreat), 0);
    assert_eq!(Order::Attack.to_string(), "attack");
    assert_eq!(Order::Retreat.to_string(), "retreat");
}

/// Operators compare these strings across hosts and logs.
#[test]
fn identities_print_as_documented() {
    let k = keys(2);
    let cl = cluster(&k);
    let hex = hex_of(&cl.0);
    assert_eq!(cl.to_string(), hex);
    assert_eq!(format!("{cl:?}"), format!("ClusterId({})", &hex[..16]));

    let public = k[0].public();
    assert_eq!(format!("{public:?}"), format!("PublicKey({public})"));
    assert_eq!(public.to_string().len(), 64);
    // A secret key prints its public half and nothing else.
    assert_eq!(
        format!("{:?}", k[0]),
        format!("NodeKey {{ public: PublicKey({public}) }}")
    );

    let mut bytes = [0u8; 64];
    bytes[..8].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]);
    assert_eq!(format!("{:?}", Sig(bytes)), "Sig(deadbeef00010203..)");
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
