//! The control protocol between the `generals` CLI and its local daemon.
//!
//! It runs over a Unix socket in the node's data directory (mode 0600:
//! operator rights are file permissions). Framing is the peer links' framing
//! (a 4-byte big-endian length, then the body); bodies are JSON, one request
//! and one response per frame, so any language can script a node.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use generals_crypto::{EquivocationProof, InstanceId, NodeId, Order};
use generals_wire::{CodecErrorKind, MessageCounters, Protocol};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

use crate::protocol::RejectKind;
use crate::report::InstanceReport;

/// The socket's file name inside the data directory.
pub const SOCKET_NAME: &str = "control.sock";

/// Control frames are small; anything larger is a confused client.
pub const MAX_CONTROL_FRAME: usize = 16 << 20;

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum ControlRequest {
    /// Issue an order as commander. Oral with n < 3m+1 needs `force`.
    Order {
        protocol: Protocol,
        m: u8,
        value: Order,
        force: bool,
    },
    /// Wait until this node has decided and every peer has reported (or the
    /// timeout passes), then return the instance's report.
    Wait {
        instance: InstanceId,
        timeout_ms: u64,
    },
    /// The node, its links and instances; or one instance.
    Status {
        instance: Option<InstanceId>,
    },
    EvidenceList,
    EvidenceShow {
        instance: InstanceId,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum ControlResponse {
    Ordered {
        instance: InstanceId,
        /// Each round's deadline at this node, rounds 1..=m+1, work part
        /// included: by their running sums every lieutenant that is up has
        /// closed its rounds; the whole sum is the longest the instance can
        /// run. `order --wait` shows progress and derives its default wait
        /// from them. Empty from a daemon that does not say.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        deadlines_ms: Vec<u64>,
    },
    Report(Box<InstanceReport>),
    Status(Box<NodeStatus>),
    EvidenceList {
        proofs: Vec<EvidenceSummary>,
    },
    Evidence {
        file: PathBuf,
        proof: EquivocationProof,
    },
    Error {
        message: String,
    },
}

/// What `generals status` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: NodeId,
    pub n: usize,
    pub listen: String,
    pub uptime_ms: u64,
    /// The `[fault]` strategy this node runs, if it was started with --allow-faults.
    pub fault: Option<String>,
    pub peers: Vec<PeerStatus>,
    pub instances: Vec<InstanceStatus>,
    pub counters: NodeCounters,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// This node itself.
    Local,
    /// Not connected; dialling (or waiting to be dialled) with backoff.
    Connecting,
    /// Connected; both ends proved their configured keys; frames are sealed.
    Up,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub id: NodeId,
    pub addr: String,
    pub state: LinkState,
    /// Milliseconds since the state last changed.
    pub since_ms: u64,
    pub connects: u64,
    pub frames_in: u64,
    pub frames_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Frames not sent because the link was down. Those of rounds still
    /// open go out again when it comes back; a full queue drops nothing.
    pub dropped: u64,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub instance: InstanceId,
    pub protocol: Protocol,
    pub m: u8,
    pub role: crate::report::Role,
    /// Current round; m+2 once decided.
    pub round: u8,
    pub decision: Option<Order>,
    pub evidence: bool,
    /// Signed reports received (commander only).
    pub reports: usize,
    pub counters: MessageCounters,
    /// When the instance ran here (`started_unix_us`, `decided_unix_us`,
    /// `decided_after_us`), once it is decided.
    #[serde(flatten)]
    pub times: crate::protocol::InstanceTimes,
}

impl InstanceStatus {
    /// A decided instance as its log line records it, with the number of
    /// signed reports its commander got (0 for a lieutenant's).
    pub fn from_record(r: &crate::protocol::DecisionRecord, reports: usize) -> InstanceStatus {
        InstanceStatus {
            instance: r.instance,
            protocol: r.protocol,
            m: r.m,
            role: r.role,
            round: r.m + 2,
            decision: Some(r.decision),
            evidence: r.evidence,
            reports,
            counters: r.counters,
            times: r.times,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCounters {
    pub instances_started: u64,
    pub instances_joined: u64,
    pub decisions: u64,
    pub evidence: u64,
    pub frames_in: u64,
    pub frames_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub links_accepted: u64,
    pub links_refused: u64,
    /// Rejected frames, chains and reports, by kind.
    pub rejections: BTreeMap<RejectKind, u64>,
    /// Links closed or refused, and frames not sent, by kind.
    pub link_errors: BTreeMap<LinkErrorKind, u64>,
}

generals_wire::kinds! {
    /// Why a link closed or was refused, or a frame was not sent: the keys
    /// of `link_errors` in `generals status`.
    pub enum LinkErrorKind {
        // A frame could not be read or written (the codec's kinds).
        Io => "io",
        TooLarge => "too_large",
        Decode => "decode",
        Tampered => "tampered",
        Truncated => "truncated",
        BadRecord => "bad_record",
        Exhausted => "exhausted",
        /// The peer closed the connection between two frames.
        Closed => "closed",
        /// A newer link to the same peer took this one's place.
        Replaced => "replaced",
        /// This node is stopping.
        Shutdown => "shutdown",
        /// A connection refused during the handshake, at either end.
        Refused => "refused",
        /// A frame larger than this node's `max_frame_bytes` was not sent.
        FrameTooLarge => "frame_too_large",
    }
}

impl From<CodecErrorKind> for LinkErrorKind {
    fn from(k: CodecErrorKind) -> LinkErrorKind {
        match k {
            CodecErrorKind::Io => LinkErrorKind::Io,
            CodecErrorKind::TooLarge => LinkErrorKind::TooLarge,
            CodecErrorKind::Decode => LinkErrorKind::Decode,
            CodecErrorKind::Tampered => LinkErrorKind::Tampered,
            CodecErrorKind::Truncated => LinkErrorKind::Truncated,
            CodecErrorKind::BadRecord => LinkErrorKind::BadRecord,
            CodecErrorKind::Exhausted => LinkErrorKind::Exhausted,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceSummary {
    pub instance: InstanceId,
    pub commander: NodeId,
    pub file: PathBuf,
}

/// Length-delimited JSON: decodes `In`, encodes `Out`.
#[derive(Debug)]
pub struct JsonCodec<In, Out> {
    framing: LengthDelimitedCodec,
    _types: std::marker::PhantomData<fn(Out) -> In>,
}

impl<In, Out> Default for JsonCodec<In, Out> {
    fn default() -> Self {
        let framing = LengthDelimitedCodec::builder()
            .length_field_length(4)
            .big_endian()
            .max_frame_length(MAX_CONTROL_FRAME)
            .new_codec();
        JsonCodec {
            framing,
            _types: std::marker::PhantomData,
        }
    }
}

impl<In: DeserializeOwned, Out> Decoder for JsonCodec<In, Out> {
    type Item = In;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<In>> {
        match self.framing.decode(src)? {
            Some(body) => serde_json::from_slice(&body).map(Some).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad control message: {e}"),
                )
            }),
            None => Ok(None),
        }
    }
}

impl<In, Out: Serialize> Encoder<&Out> for JsonCodec<In, Out> {
    type Error = io::Error;

    fn encode(&mut self, msg: &Out, dst: &mut BytesMut) -> io::Result<()> {
        let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
        self.framing.encode(Bytes::from(body), dst)
    }
}

/// The client side: what the CLI uses.
pub type ClientCodec = JsonCodec<ControlResponse, ControlRequest>;
/// The daemon side.
pub type ServerCodec = JsonCodec<ControlRequest, ControlResponse>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_through_the_codecs() {
        let mut client = ClientCodec::default();
        let mut server = ServerCodec::default();
        let req = ControlRequest::Order {
            protocol: Protocol::Oral,
            m: 2,
            value: Order::Attack,
            force: false,
        };
        let mut buf = BytesMut::new();
        client.encode(&req, &mut buf).unwrap();
        let json = std::str::from_utf8(&buf[4..]).unwrap();
        assert_eq!(
            json,
            r#"{"request":"order","protocol":"oral","m":2,"value":"attack","force":false}"#
        );
        assert_eq!(server.decode(&mut buf).unwrap(), Some(req));
        let resp = ControlResponse::Error {
            message: "no".into(),
        };
        server.encode(&resp, &mut buf).unwrap();
        assert_eq!(client.decode(&mut buf).unwrap(), Some(resp));
    }

    #[test]
    fn garbage_is_an_error_that_says_so() {
        let mut server = ServerCodec::default();
        let mut buf = BytesMut::from(&b"\x00\x00\x00\x03abc"[..]);
        let err = server.decode(&mut buf).unwrap_err();
        assert!(err.to_string().contains("bad control message"), "{err}");
    }

    /// The typed counter maps keep the JSON keys scripts read: the kinds'
    /// snake_case names, listed alphabetically.
    #[test]
    fn counter_maps_serialize_with_their_string_keys() {
        let mut c = NodeCounters::default();
        c.rejections.insert(RejectKind::WrongRound, 1);
        c.rejections.insert(RejectKind::BadTicket, 2);
        c.link_errors.insert(LinkErrorKind::Tampered, 3);
        c.link_errors.insert(LinkErrorKind::FrameTooLarge, 4);
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(
            json["rejections"].to_string(),
            r#"{"bad_ticket":2,"wrong_round":1}"#
        );
        assert_eq!(
            json["link_errors"].to_string(),
            r#"{"frame_too_large":4,"tampered":3}"#
        );
        let back: NodeCounters = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.rejections.get("bad_ticket"), Some(&2));
        // Every codec kind has a link error kind of the same name.
        for k in CodecErrorKind::ALL {
            assert_eq!(LinkErrorKind::from(*k).as_str(), k.as_str());
        }
    }
}
