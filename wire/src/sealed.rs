//! Sealed framing: every frame after the handshake travels encrypted and
//! authenticated, split into Noise transport messages ("records").
//!
//! A frame body `B` of `L` bytes is the plaintext `L:u32be ‖ B`, cut into
//! chunks of [`RECORD_PLAINTEXT`] bytes (the last one shorter). Each chunk goes
//! on the wire as `len:u16be ‖ ChaChaPoly(chunk)`, `len` counting the
//! ciphertext and its 16-byte tag. Nonces are implicit: record `i` in one
//! direction is sealed with nonce `i`, so a record that is replayed, reordered,
//! dropped, injected or altered fails authentication. The receiver learns `L`
//! from the first record and refuses a frame above its limit before it holds
//! more than that record; the body then grows only as records arrive.

use std::io;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::{Buf, BufMut, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;
use snow::StatelessTransportState;
use tokio_util::codec::{Decoder, Encoder};

use crate::codec::encode_within;
use crate::{decode, CodecError, HARD_MAX_FRAME};

/// Bytes of the big-endian length in front of every record.
pub const RECORD_HEADER: usize = 2;
/// The AEAD tag at the end of every record.
pub const RECORD_TAG: usize = 16;
/// Plaintext bytes in a full record: a Noise message is at most 65535 bytes.
pub const RECORD_PLAINTEXT: usize = 65535 - RECORD_TAG;
/// The frame length at the start of a frame's first record.
const FRAME_HEADER: usize = 4;

/// Plaintext bytes of the record that starts at plaintext offset `sent` of a
/// frame whose plaintext (header and body) is `total` bytes: every record but
/// the last is full, so a frame has exactly one sealed form.
fn record_plaintext(total: usize, sent: usize) -> usize {
    (total - sent).min(RECORD_PLAINTEXT)
}

/// Writes sealed frames: one direction of a link.
pub struct SealedEncoder<Out> {
    transport: Arc<StatelessTransportState>,
    nonce: u64,
    max: usize,
    _types: PhantomData<fn(Out)>,
}

/// Reads sealed frames: the other direction.
pub struct SealedDecoder<In> {
    transport: Arc<StatelessTransportState>,
    nonce: u64,
    max: usize,
    /// The frame being reassembled: its body so far and its declared length.
    partial: Option<(BytesMut, usize)>,
    /// One record's plaintext, reused.
    scratch: Vec<u8>,
    _types: PhantomData<fn() -> In>,
}

/// Both directions of a sealed link, reading `In` and writing `Out`.
/// [`SealedCodec::split`] gives the halves to a separate reader and writer.
pub struct SealedCodec<In, Out> {
    decoder: SealedDecoder<In>,
    encoder: SealedEncoder<Out>,
}

impl<T> std::fmt::Debug for SealedEncoder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedEncoder")
            .field("nonce", &self.nonce)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for SealedDecoder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedDecoder")
            .field("nonce", &self.nonce)
            .field("max", &self.max)
            .field("partial", &self.partial.as_ref().map(|(b, l)| (b.len(), l)))
            .finish_non_exhaustive()
    }
}

impl<In, Out> std::fmt::Debug for SealedCodec<In, Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedCodec")
            .field("decoder", &self.decoder)
            .field("encoder", &self.encoder)
            .finish()
    }
}

impl<In, Out> SealedCodec<In, Out> {
    /// Seals with the keys of a finished Noise handshake, both nonces at 0.
    pub(crate) fn new(transport: StatelessTransportState, max_frame: usize) -> Self {
        let transport = Arc::new(transport);
        let max = max_frame.min(HARD_MAX_FRAME);
        SealedCodec {
            decoder: SealedDecoder {
                transport: transport.clone(),
                nonce: 0,
                max,
                partial: None,
                scratch: Vec::new(),
                _types: PhantomData,
            },
            encoder: SealedEncoder {
                transport,
                nonce: 0,
                max,
                _types: PhantomData,
            },
        }
    }

    /// The same link, now carrying other message types under another limit
    /// (the handshake's verdicts, then peer messages). Nonces carry on.
    pub fn retype<In2, Out2>(self, max_frame: usize) -> SealedCodec<In2, Out2> {
        let max = max_frame.min(HARD_MAX_FRAME);
        SealedCodec {
            decoder: SealedDecoder {
                transport: self.decoder.transport,
                nonce: self.decoder.nonce,
                max,
                partial: self.decoder.partial,
                scratch: self.decoder.scratch,
                _types: PhantomData,
            },
            encoder: SealedEncoder {
                transport: self.encoder.transport,
                nonce: self.encoder.nonce,
                max,
                _types: PhantomData,
            },
        }
    }

    /// The reading and the writing half. Each half owns its direction's
    /// nonce, so no nonce can ever seal two records.
    pub fn split(self) -> (SealedDecoder<In>, SealedEncoder<Out>) {
        (self.decoder, self.encoder)
    }

    pub fn max_frame(&self) -> usize {
        self.decoder.max
    }
}

impl<In> SealedDecoder<In> {
    /// Bytes reserved for the frame being reassembled (tests check that a
    /// declared length alone reserves nothing).
    pub fn reserved(&self) -> usize {
        self.partial.as_ref().map_or(0, |(b, _)| b.capacity())
    }

    /// Opens the next record at the front of `src`, if it is all there.
    fn open_record(&mut self, src: &mut BytesMut) -> Result<Option<()>, CodecError> {
        let Some(head) = src.get(..RECORD_HEADER) else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes([head[0], head[1]]));
        let record = self.nonce;
        // The record length is not authenticated: a wrong one means the
        // stream was altered (or the peer is broken), never that we should
        // read a different number of bytes.
        let plain = len
            .checked_sub(RECORD_TAG)
            .filter(|&p| match &self.partial {
                None => p > FRAME_HEADER,
                // Header and body so far against header and declared body.
                Some((body, total)) => p == record_plaintext(*total, body.len()),
            });
        let Some(plain) = plain else {
            return Err(CodecError::Tampered { record });
        };
        if src.len() < RECORD_HEADER + len {
            src.reserve(RECORD_HEADER + len - src.len());
            return Ok(None);
        }
        src.advance(RECORD_HEADER);
        let sealed = src.split_to(len);
        let nonce = self.next_nonce()?;
        self.scratch.resize(plain, 0);
        self.transport
            .read_message(nonce, &sealed, &mut self.scratch)
            .map_err(|_| CodecError::Tampered { record })?;
        Ok(Some(()))
    }

    fn next_nonce(&mut self) -> Result<u64, CodecError> {
        let n = self.nonce;
        self.nonce = n.checked_add(1).ok_or(CodecError::Exhausted)?;
        Ok(n)
    }
}

impl<In: DeserializeOwned> Decoder for SealedDecoder<In> {
    type Item = In;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, CodecError> {
        loop {
            if self.open_record(src)?.is_none() {
                return Ok(None);
            }
            let (mut body, total) = match self.partial.take() {
                Some(partial) => partial,
                None => {
                    let (head, _) = self.scratch.split_at(FRAME_HEADER);
                    let total = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
                    if total > self.max {
                        return Err(CodecError::TooLarge {
                            len: total,
                            max: self.max,
                        });
                    }
                    let first = record_plaintext(FRAME_HEADER + total, 0);
                    if total == 0 || self.scratch.len() != first {
                        return Err(CodecError::BadRecord {
                            record: self.nonce - 1,
                        });
                    }
                    self.scratch.drain(..FRAME_HEADER);
                    // Reserve what arrived, not what was declared.
                    (BytesMut::new(), total)
                }
            };
            body.extend_from_slice(&self.scratch);
            if body.len() == total {
                return Ok(Some(decode(&body)?));
            }
            self.partial = Some((body, total));
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<In>, CodecError> {
        match self.decode(src)? {
            Some(msg) => Ok(Some(msg)),
            None if src.is_empty() && self.partial.is_none() => Ok(None),
            None => Err(CodecError::Truncated { record: self.nonce }),
        }
    }
}

impl<Out: Serialize> Encoder<&Out> for SealedEncoder<Out> {
    type Error = CodecError;

    fn encode(&mut self, msg: &Out, dst: &mut BytesMut) -> Result<(), CodecError> {
        let body = encode_within(msg, self.max)?;
        let total = FRAME_HEADER + body.len();
        dst.reserve(total + total.div_ceil(RECORD_PLAINTEXT) * (RECORD_HEADER + RECORD_TAG));
        // The first record carries the frame length ahead of the body.
        let first = record_plaintext(total, 0);
        let mut chunk = Vec::with_capacity(first);
        chunk.extend_from_slice(&(body.len() as u32).to_be_bytes());
        chunk.extend_from_slice(&body[..first - FRAME_HEADER]);
        self.seal(&chunk, dst)?;
        for rest in body[first - FRAME_HEADER..].chunks(RECORD_PLAINTEXT) {
            self.seal(rest, dst)?;
        }
        Ok(())
    }
}

impl<Out> SealedEncoder<Out> {
    fn seal(&mut self, plain: &[u8], dst: &mut BytesMut) -> Result<(), CodecError> {
        let len = plain.len() + RECORD_TAG;
        let nonce = self.nonce;
        self.nonce = nonce.checked_add(1).ok_or(CodecError::Exhausted)?;
        dst.put_u16(len as u16);
        let start = dst.len();
        dst.resize(start + len, 0);
        self.transport
            .write_message(nonce, plain, &mut dst[start..])
            .map_err(|e| CodecError::Io(io::Error::other(format!("sealing a record: {e}"))))?;
        Ok(())
    }
}

impl<In: DeserializeOwned, Out> Decoder for SealedCodec<In, Out> {
    type Item = In;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<In>, CodecError> {
        self.decoder.decode(src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<In>, CodecError> {
        self.decoder.decode_eof(src)
    }
}

impl<In, Out: Serialize> Encoder<&Out> for SealedCodec<In, Out> {
    type Error = CodecError;

    fn encode(&mut self, msg: &Out, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encoder.encode(msg, dst)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::handshake::tests::established;

    type Codec = SealedCodec<Vec<u8>, Vec<u8>>;

    /// The sending end of a fresh link (node 0, which dialled) with a limit of
    /// `tx_max`, and the receiving end (node 1) with `rx_max`. The handshake's
    /// verdicts were record 0 in each direction, so frames start at record 1.
    fn link_with(tx_max: usize, rx_max: usize) -> (Codec, Codec) {
        let (d, l) = established();
        (d.into_codec(tx_max), l.into_codec(rx_max))
    }

    fn link(max: usize) -> (Codec, Codec) {
        link_with(max, max)
    }

    fn sealed(codec: &mut Codec, body_len: usize) -> BytesMut {
        let mut dst = BytesMut::new();
        let msg: Vec<u8> = (0..body_len).map(|i| i as u8).collect();
        codec.encode(&msg, &mut dst).unwrap();
        dst
    }

    /// The records of a sealed stream, each with its 2-byte length.
    fn records(mut stream: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while stream.len() >= 2 {
            let len = 2 + usize::from(u16::from_be_bytes([stream[0], stream[1]]));
            out.push(stream[..len].to_vec());
            stream = &stream[len..];
        }
        out
    }

    fn tampered(r: Result<Option<Vec<u8>>, CodecError>, record: u64) -> bool {
        matches!(r, Err(CodecError::Tampered { record: r }) if r == record)
    }

    #[test]
    fn frames_round_trip_across_record_boundaries() {
        let (mut tx, mut rx) = link(1 << 20);
        // bincode adds an 8-byte length to a Vec<u8>; + 4 bytes of frame length.
        let one_full = RECORD_PLAINTEXT - 4 - 8;
        for len in [0, 1, one_full, one_full + 1, 3 * RECORD_PLAINTEXT + 7] {
            let stream = sealed(&mut tx, len);
            let want = (len + 12).div_ceil(RECORD_PLAINTEXT);
            assert_eq!(records(&stream).len(), want, "{len}-byte payload");
            // Byte by byte: the decoder waits for whole records.
            let mut src = BytesMut::new();
            let mut got = None;
            for b in stream.iter() {
                assert!(got.is_none(), "a frame came out before its last byte");
                src.put_u8(*b);
                got = rx.decode(&mut src).unwrap();
            }
            assert_eq!(got.map(|m| m.len()), Some(len));
            assert!(src.is_empty());
        }
    }

    #[test]
    fn a_flipped_byte_is_tampered() {
        // Anywhere in the ciphertext or the tag.
        for at in [2, 10, 30, 37] {
            let (mut tx, mut rx) = link(1024);
            let mut stream = sealed(&mut tx, 10);
            assert_eq!(stream.len(), 2 + 4 + 18 + 16);
            stream[at] ^= 0x01;
            assert!(tampered(rx.decode(&mut stream), 1), "byte {at}");
        }
        let (mut tx, mut rx) = link(1024);
        let mut stream = sealed(&mut tx, 10);
        assert!(rx.decode(&mut stream).unwrap().is_some());
    }

    #[test]
    fn replayed_reordered_injected_and_dropped_records_are_tampered() {
        // Replay: the first record again where the second belongs.
        let (mut tx, mut rx) = link(1024);
        let first = sealed(&mut tx, 10);
        let mut src = first.clone();
        assert!(rx.decode(&mut src).unwrap().is_some());
        src.extend_from_slice(&first);
        assert!(tampered(rx.decode(&mut src), 2));

        // Reorder: the second before the first.
        let (mut tx, mut rx) = link(1024);
        let a = sealed(&mut tx, 10);
        let mut src = sealed(&mut tx, 20);
        src.extend_from_slice(&a);
        assert!(tampered(rx.decode(&mut src), 1));

        // Injection: a record sealed on another link, between two real ones.
        let (mut tx, mut rx) = link(1024);
        let (mut other, _) = link(1024);
        let mut src = sealed(&mut tx, 10);
        src.extend_from_slice(&sealed(&mut other, 10));
        src.extend_from_slice(&sealed(&mut tx, 20));
        assert!(rx.decode(&mut src).unwrap().is_some());
        assert!(tampered(rx.decode(&mut src), 2));

        // A dropped record: the next one was sealed under the next nonce.
        let (mut tx, mut rx) = link(1024);
        let _dropped = sealed(&mut tx, 10);
        let mut src = sealed(&mut tx, 10);
        assert!(tampered(rx.decode(&mut src), 1));
    }

    #[test]
    fn an_altered_record_length_is_tampered() {
        for len in [0u16, 5, 20, 200, u16::MAX] {
            let (mut tx, mut rx) = link(1 << 20);
            let mut bad = sealed(&mut tx, 100);
            bad[..2].copy_from_slice(&len.to_be_bytes());
            // Pad so a longer claim has bytes to read.
            bad.extend_from_slice(&vec![0u8; usize::from(len)]);
            assert!(tampered(rx.decode(&mut bad), 1), "length {len}");
        }
        // In a later record of a frame the length is known exactly.
        let (mut tx, mut rx) = link(1 << 20);
        let mut stream = sealed(&mut tx, 2 * RECORD_PLAINTEXT);
        let second = 2 + RECORD_PLAINTEXT + RECORD_TAG;
        stream[second + 1] ^= 1;
        assert!(tampered(rx.decode(&mut stream), 2));
    }

    #[test]
    fn a_truncated_stream_is_an_error_not_a_quiet_end() {
        // Inside a record.
        let (mut tx, mut rx) = link(1 << 20);
        let stream = sealed(&mut tx, 100);
        let mut cut = BytesMut::from(&stream[..stream.len() - 1]);
        assert!(rx.decode(&mut cut).unwrap().is_none());
        assert!(matches!(
            rx.decode_eof(&mut cut),
            Err(CodecError::Truncated { record: 1 })
        ));
        // Between the records of one frame.
        let (mut tx, mut rx) = link(1 << 20);
        let stream = sealed(&mut tx, 2 * RECORD_PLAINTEXT);
        let mut cut = BytesMut::from(&stream[..2 + RECORD_PLAINTEXT + RECORD_TAG]);
        assert!(rx.decode(&mut cut).unwrap().is_none());
        assert!(cut.is_empty());
        assert!(matches!(
            rx.decode_eof(&mut cut),
            Err(CodecError::Truncated { record: 2 })
        ));
        // A stream that ends between frames ends quietly.
        let (mut tx, mut rx) = link(1 << 20);
        let mut whole = sealed(&mut tx, 100);
        assert!(rx.decode_eof(&mut whole).unwrap().is_some());
        assert!(rx.decode_eof(&mut whole).unwrap().is_none());
    }

    #[test]
    fn an_oversized_declared_length_is_refused_before_anything_is_reserved() {
        // A real frame above the receiver's limit.
        let (mut tx, mut rx) = link_with(1 << 20, 1024);
        let mut stream = sealed(&mut tx, 5000);
        match rx.decode(&mut stream) {
            Err(CodecError::TooLarge { len, max }) => assert_eq!((len, max), (5008, 1024)),
            other => panic!("{other:?}"),
        }
        assert_eq!(rx.decoder.reserved(), 0);

        // A first record that declares 4 GiB - 1 and carries one byte.
        let (mut tx, mut rx) = link(HARD_MAX_FRAME);
        let mut src = BytesMut::new();
        tx.encoder
            .seal(&[0xff, 0xff, 0xff, 0xff, 0], &mut src)
            .unwrap();
        match rx.decode(&mut src) {
            Err(CodecError::TooLarge { len, max }) => {
                assert_eq!((len, max), (u32::MAX as usize, HARD_MAX_FRAME))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(rx.decoder.reserved(), 0);

        // Within the limit, a frame holds what has arrived, not what it claims.
        let (mut tx, mut rx) = link(HARD_MAX_FRAME);
        let stream = sealed(&mut tx, 16 << 20);
        let mut first = BytesMut::from(&stream[..2 + RECORD_PLAINTEXT + RECORD_TAG]);
        assert!(rx.decode(&mut first).unwrap().is_none());
        let reserved = rx.decoder.reserved();
        assert!(
            (RECORD_PLAINTEXT - 4..=2 * RECORD_PLAINTEXT).contains(&reserved),
            "{reserved}"
        );
    }

    #[test]
    fn authenticated_records_that_break_the_framing_are_bad_records() {
        // A zero frame length.
        let (mut tx, mut rx) = link(1024);
        let mut src = BytesMut::new();
        tx.encoder.seal(&[0, 0, 0, 0, 9], &mut src).unwrap();
        assert!(matches!(
            rx.decode(&mut src),
            Err(CodecError::BadRecord { record: 1 })
        ));
        // A frame length that does not match the record.
        let (mut tx, mut rx) = link(1024);
        let mut src = BytesMut::new();
        tx.encoder.seal(&[0, 0, 0, 3, 1, 2], &mut src).unwrap();
        assert!(matches!(
            rx.decode(&mut src),
            Err(CodecError::BadRecord { record: 1 })
        ));
        // A sender never seals above its own limit.
        let (mut tx, _) = link(100);
        assert!(matches!(
            tx.encode(&vec![0u8; 200], &mut BytesMut::new()),
            Err(CodecError::TooLarge { len: 208, max: 100 })
        ));
    }

    #[test]
    fn split_halves_keep_their_own_nonces() {
        let (tx, rx) = link(1024);
        let (_, mut enc) = tx.split();
        let (mut dec, _) = rx.split();
        let mut src = BytesMut::new();
        for i in 0..3u8 {
            enc.encode(&vec![i; 3], &mut src).unwrap();
        }
        for i in 0..3u8 {
            assert_eq!(dec.decode(&mut src).unwrap(), Some(vec![i; 3]));
        }
    }

    /// WIRE.md: a full record carries 65535 sealed bytes (plaintext and tag).
    #[test]
    fn a_full_record_is_65535_sealed_bytes() {
        let (mut tx, _) = link(1 << 20);
        let stream = sealed(&mut tx, 70_000);
        let lens: Vec<usize> = records(&stream).iter().map(Vec::len).collect();
        assert_eq!(
            lens,
            [2 + 65535, 2 + (70_000 + 12 - RECORD_PLAINTEXT) + RECORD_TAG]
        );
    }

    /// A frame of exactly the limit is read; one byte more is refused.
    #[test]
    fn the_frame_limit_is_inclusive() {
        // A Vec<u8> of 100 bytes encodes to 108 (its 8-byte length first).
        for (max, ok) in [(108, true), (107, false)] {
            let (mut tx, mut rx) = link_with(1 << 20, max);
            let mut src = sealed(&mut tx, 100);
            let r = rx.decode(&mut src);
            if ok {
                assert_eq!(r.unwrap().map(|v| v.len()), Some(100));
            } else {
                assert!(
                    matches!(r, Err(CodecError::TooLarge { len: 108, max: 107 })),
                    "{r:?}"
                );
            }
        }
    }

    #[test]
    fn a_codec_reports_its_limit_and_prints_no_key() {
        let (tx, rx) = link_with(1000, usize::MAX);
        assert_eq!(tx.max_frame(), 1000);
        assert_eq!(rx.max_frame(), HARD_MAX_FRAME);
        assert_eq!(
            format!("{tx:?}"),
            "SealedCodec { decoder: SealedDecoder { nonce: 1, max: 1000, partial: None, .. }, \
             encoder: SealedEncoder { nonce: 1, max: 1000, .. } }"
        );
    }
}
