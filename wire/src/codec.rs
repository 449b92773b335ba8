//! A typed codec: tokio-util's LengthDelimitedCodec for the framing, bincode
//! for the body, and the configured size limit enforced in both directions.

use std::io;
use std::marker::PhantomData;

use bytes::{Buf, Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

use crate::{decode, DecodeError, HARD_MAX_FRAME};

/// Bytes of the big-endian length that precedes every frame body.
pub const LENGTH_PREFIX: usize = 4;

/// Why a stream of frames cannot go on. Any of these closes the link.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("frame length {len} exceeds max_frame_bytes = {max}")]
    TooLarge { len: usize, max: usize },
    #[error(transparent)]
    Decode(#[from] DecodeError),
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
        // Check the length ourselves first so the error carries it.
        if src.len() >= LENGTH_PREFIX {
            let len = (&src[..LENGTH_PREFIX]).get_u32() as usize;
            if len > self.max {
                return Err(CodecError::TooLarge { len, max: self.max });
            }
        }
        match self.framing.decode(src)? {
            Some(body) => Ok(Some(decode(&body)?)),
            None => Ok(None),
        }
    }
}

impl<In, Out: Serialize> Encoder<&Out> for MessageCodec<In, Out> {
    type Error = CodecError;

    fn encode(&mut self, msg: &Out, dst: &mut BytesMut) -> Result<(), CodecError> {
        let body = crate::encode(msg);
        if body.len() > self.max {
            return Err(CodecError::TooLarge {
                len: body.len(),
                max: self.max,
            });
        }
        self.framing.encode(Bytes::from(body), dst)?;
        Ok(())
    }
}
