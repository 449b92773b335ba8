//! Canonical path order for the EIG tree of OM(m).
//!
//! A path is a sequence of distinct ids that starts with the commander. Both
//! ends of a link enumerate the same paths in the same (lexicographic) order,
//! which is what lets an oral frame carry bare bits instead of paths.
//!
//! At node `me`, level `L` of the tree holds the paths of length `L` that
//! avoid `me`. For `L >= 2` it is stored as one block per relayer `s` (the
//! path's last id): block `s` holds, in canonical order, the values of
//! `p‖s` for every path `p` of length `L-1` that avoids `me` and `s`. That is
//! exactly the frame `s` sends `me` in round `L`, so storing a frame is a copy.

/// Ids are bits of a `u128`, so OM supports up to 128 generals.
pub const MAX_ORAL_NODES: usize = 128;

/// Paths never exceed m+1 ids; m is a `u8`.
pub const MAX_DEPTH: usize = 256;

/// `a·(a-1)·…·(a-b+1)`: ordered selections of `b` ids out of `a`. `None` on overflow.
pub fn falling(a: u64, b: u64) -> Option<u64> {
    if b > a {
        return Some(0);
    }
    (0..b).try_fold(1u64, |acc, k| acc.checked_mul(a - k))
}

/// Calls `visit(path, mask)` for every path of `len` ids that starts with
/// `commander` and avoids every id in `avoid`, in lexicographic order.
/// Uses a fixed stack buffer: no allocation per path.
pub fn for_each_path(
    n: usize,
    commander: u8,
    avoid: u128,
    len: usize,
    visit: &mut dyn FnMut(&[u8], u128),
) {
    if len == 0 || avoid & bit(commander) != 0 {
        return;
    }
    let mut buf = [0u8; MAX_DEPTH];
    buf[0] = commander;
    extend(n, &mut buf, 1, len, bit(commander), avoid, visit);
}

fn extend(
    n: usize,
    buf: &mut [u8; MAX_DEPTH],
    at: usize,
    len: usize,
    used: u128,
    avoid: u128,
    visit: &mut dyn FnMut(&[u8], u128),
) {
    if at == len {
        visit(&buf[..len], used);
        return;
    }
    for id in 0..n as u8 {
        let b = bit(id);
        if (used | avoid) & b == 0 {
            buf[at] = id;
            extend(n, buf, at + 1, len, used | b, avoid, visit);
        }
    }
}

#[inline]
pub fn bit(id: u8) -> u128 {
    1u128 << id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falling_factorials() {
        assert_eq!(falling(5, 0), Some(1));
        assert_eq!(falling(5, 2), Some(20));
        assert_eq!(falling(3, 4), Some(0));
        assert_eq!(falling(u64::MAX, 3), None);
    }

    #[test]
    fn paths_are_lexicographic_distinct_and_counted() {
        let mut seen = Vec::new();
        for_each_path(5, 2, bit(4), 3, &mut |p, mask| {
            assert_eq!(mask.count_ones() as usize, p.len());
            seen.push(p.to_vec());
        });
        // 2 followed by ordered pairs from {0,1,3}: P(3,2) = 6.
        assert_eq!(
            seen,
            vec![
                vec![2, 0, 1],
                vec![2, 0, 3],
                vec![2, 1, 0],
                vec![2, 1, 3],
                vec![2, 3, 0],
                vec![2, 3, 1]
            ]
        );
        let mut count = 0;
        for_each_path(10, 0, bit(9), 4, &mut |_, _| count += 1);
        assert_eq!(count as u64, falling(8, 3).unwrap());
    }
}
