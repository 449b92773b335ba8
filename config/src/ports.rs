//! The kernel's ephemeral port range, which listen ports should stay out of.
//!
//! Linux picks the local port of every outgoing connection from
//! `net.ipv4.ip_local_port_range`. A general that listens on a port inside
//! it can find the port already taken by another general's outgoing
//! connection, and fail at start-up with "Address already in use": the
//! larger the cluster on one host, the likelier.

use std::ops::RangeInclusive;

/// Where Linux keeps the range.
pub const EPHEMERAL_RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// This host's ephemeral range, or None where it cannot be read (not Linux).
pub fn ephemeral_range() -> Option<RangeInclusive<u16>> {
    parse_range(&std::fs::read_to_string(EPHEMERAL_RANGE_FILE).ok()?)
}

/// Parses the file's "LOW<whitespace>HIGH".
pub fn parse_range(text: &str) -> Option<RangeInclusive<u16>> {
    let mut words = text.split_whitespace().map(str::parse::<u16>);
    match (words.next(), words.next(), words.next()) {
        (Some(Ok(low)), Some(Ok(high)), None) if low <= high => Some(low..=high),
        _ => None,
    }
}

/// The part of `ports` inside `ephemeral`, if any.
pub fn overlap(
    ports: &RangeInclusive<u16>,
    ephemeral: &RangeInclusive<u16>,
) -> Option<RangeInclusive<u16>> {
    let low = *ports.start().max(ephemeral.start());
    let high = *ports.end().min(ephemeral.end());
    (low <= high).then_some(low..=high)
}

/// A warning for listen ports inside this host's ephemeral range, naming
/// the range, the risk and the fix; None when they are clear of it.
pub fn ephemeral_warning(ports: RangeInclusive<u16>) -> Option<String> {
    let ephemeral = ephemeral_range()?;
    warning_for(&ports, &ephemeral)
}

fn warning_for(ports: &RangeInclusive<u16>, ephemeral: &RangeInclusive<u16>) -> Option<String> {
    let inside = overlap(ports, ephemeral)?;
    let count = usize::from(ports.end() - ports.start()) + 1;
    let below = usize::from(*ephemeral.start()).saturating_sub(count);
    Some(format!(
        "listen ports {}..={} lie inside this host's ephemeral port range {}..={} ({EPHEMERAL_RANGE_FILE}): \
         outgoing connections take their local ports from that range, so a general may find its port \
         taken and fail with \"Address already in use\"; use ports below {} (e.g. --base-port {}), \
         or reserve them with sysctl net.ipv4.ip_local_reserved_ports",
        inside.start(),
        inside.end(),
        ephemeral.start(),
        ephemeral.end(),
        ephemeral.start(),
        below.clamp(1, 7000),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_file_parses_as_linux_writes_it() {
        assert_eq!(parse_range("32768\t60999\n"), Some(32768..=60999));
        assert_eq!(parse_range("1024 1024"), Some(1024..=1024));
        assert_eq!(parse_range("60999 32768"), None, "reversed");
        assert_eq!(parse_range("32768"), None);
        assert_eq!(parse_range("1 2 3"), None);
        assert_eq!(parse_range("a b"), None);
    }

    #[test]
    fn overlap_is_the_shared_part() {
        let eph = 32768..=60999;
        assert_eq!(overlap(&(7000..=7099), &eph), None);
        assert_eq!(overlap(&(32700..=32767), &eph), None, "just below");
        assert_eq!(overlap(&(32700..=32768), &eph), Some(32768..=32768));
        assert_eq!(overlap(&(40000..=40003), &eph), Some(40000..=40003));
        assert_eq!(overlap(&(60999..=61100), &eph), Some(60999..=60999));
        assert_eq!(overlap(&(61000..=61100), &eph), None, "just above");
    }

    #[test]
    fn the_warning_names_the_range_and_a_base_port_that_fits() {
        let eph = 32768..=60999;
        assert_eq!(warning_for(&(7000..=7099), &eph), None);
        let w = warning_for(&(40000..=40099), &eph).expect("inside");
        assert!(w.contains("40000..=40099"), "{w}");
        assert!(w.contains("32768..=60999"), "{w}");
        assert!(w.contains("Address already in use"), "{w}");
        assert!(w.contains("--base-port 7000"), "{w}");
        // A range that starts low leaves less room below it.
        let w = warning_for(&(2000..=2099), &(1024..=60999)).expect("inside");
        assert!(w.contains("--base-port 924"), "{w}");
    }
}
