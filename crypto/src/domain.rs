//! Domain separation: every signature starts with a tag that names what it is
//! for, so a signature made for one purpose can never be replayed as another.

/// What a signature is for. The tag bytes are part of the wire spec
/// (docs/WIRE.md) and never change within a protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// A link of an SM(m) signature chain (the commander's order or a relay).
    Chain,
    /// A lieutenant's signed report of its decision, sent to the commander.
    Report,
    /// The commander's ticket for an instance: the one spec it issued for an id.
    Ticket,
}

impl Domain {
    pub const fn tag(self) -> &'static [u8] {
        match self {
            Domain::Chain => b"generals/v2/sm-chain\0",
            Domain::Report => b"generals/v1/report\0",
            Domain::Ticket => b"generals/v2/ticket\0",
        }
    }
}
