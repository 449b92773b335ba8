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
