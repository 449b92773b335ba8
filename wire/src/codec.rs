//! A typed codec: tokio-util's LengthDelimitedCodec for the framing, bincode
//! for the body, and the configured size limit enforced in both directions.

use std::io;
use std::marker::PhantomData;

use bytes::{Buf, Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec, LengthDelimitedCodecError};

use crate::{decode, DecodeError, HARD_MAX_FRAME};

/// Bytes of the big-endian length that precedes every frame body.
pub const LENGTH_PREFIX: usize = 4;

/// Why a stream of frames cannot go on. Any of these closes the link.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("frame length {len} exceeds max_frame_bytes = {max}")]
    TooLarge { len: usize, max: usize },
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A sealed record failed authentication: it was altered, replayed,
    /// reordered, injected, or one before it was dropped.
    #[error(
        "sealed record {record} failed authentication: the stream was altered, \
         replayed, reordered or injected on the way (or the peer is broken)"
    )]
    Tampered { record: u64 },
    /// The stream ended inside a record or between the records of a frame.
    #[error("the stream ended in the middle of a sealed frame (record {record})")]
    Truncated { record: u64 },
    /// An authenticated record does not fit the sealed framing: the peer
    /// holds the key but does not follow docs/WIRE.md.
    #[error("sealed record {record} breaks the framing (a zero length, or a frame length that does not match the record); the peer does not follow the wire spec")]
    BadRecord { record: u64 },
    #[error("this link has sealed 2^64 records; it must be re-established")]
    Exhausted,
}

crate::kinds! {
    /// [`CodecError`]'s stable names, for counters (`link_errors` in
    /// `status`) and metric labels.
    pub enum CodecErrorKind {
        Io => "io",
        TooLarge => "too_large",
        Decode => "decode",
        Tampered => "tampered",
        Truncated => "truncated",
        BadRecord => "bad_record",
        Exhausted => "exhausted",
    }
}

impl CodecError {
    /// A stable name for counters and metric labels.
    pub fn kind(&self) -> CodecErrorKind {
        match self {
            CodecError::Io(_) => CodecErrorKind::Io,
            CodecError::TooLarge { .. } => CodecErrorKind::TooLarge,
            CodecError::Decode(_) => CodecErrorKind::Decode,
            CodecError::Tampered { .. } => CodecErrorKind::Tampered,
            CodecError::Truncated { .. } => CodecErrorKind::Truncated,
            CodecError::BadRecord { .. } => CodecErrorKind::BadRecord,
            CodecError::Exhausted => CodecErrorKind::Exhausted,
        }
    }
}

/// Reads `In` and writes `Out` as length-prefixed frames.
#[derive(Debug)]
pub struct MessageCodec<In, Out> {
    framing: LengthDelimitedCodec,
    max: usize,
    _types: PhantomData<fn(Out) -> In>,
}

impl<In, Out> MessageCodec<In, Out> {
    pub fn new(max_frame: usize) -> Self {
        let max = max_frame.min(HARD_MAX_FRAME);
        let framing = LengthDelimitedCodec::builder()
            .length_field_length(LENGTH_PREFIX)
            .big_endian()
            .max_frame_length(max)
            .new_codec();
        MessageCodec {
            framing,
            max,
            _types: PhantomData,
        }
    }

    pub fn max_frame(&self) -> usize {
        self.max
    }
}

impl<In: DeserializeOwned, Out> Decoder for MessageCodec<In, Out> {
    type Item = In;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, CodecError> {
        // The framing consumes a frame's length prefix as soon as it has one
        // and then waits for the body, so `src` starts with a length only when
        // it refuses one. It refuses before consuming, so the error can carry
        // the length.
        match self.framing.decode(src) {
            Ok(Some(body)) => Ok(Some(decode(&body)?)),
            Ok(None) => Ok(None),
            Err(e)
                if e.get_ref()
                    .is_some_and(|e| e.is::<LengthDelimitedCodecError>()) =>
            {
                let len = src
                    .get(..LENGTH_PREFIX)
                    .map_or(usize::MAX, |mut head| head.get_u32() as usize);
                Err(CodecError::TooLarge { len, max: self.max })
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl<In, Out: Serialize> Encoder<&Out> for MessageCodec<In, Out> {
    type Error = CodecError;

    fn encode(&mut self, msg: &Out, dst: &mut BytesMut) -> Result<(), CodecError> {
        let body = encode_within(msg, self.max)?;
        self.framing.encode(Bytes::from(body), dst)?;
        Ok(())
    }
}

/// `msg`'s body, refused before anything is written if it exceeds `max`: a
/// node never sends a frame its own limit forbids.
pub(crate) fn encode_within<T: Serialize>(msg: &T, max: usize) -> Result<Vec<u8>, CodecError> {
    let body = crate::encode(msg);
    if body.len() > max {
        return Err(CodecError::TooLarge {
            len: body.len(),
            max,
        });
    }
    Ok(body)
}
