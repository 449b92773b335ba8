//! The one bincode configuration every message uses, and bounded decoding.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// No frame is ever larger than this, whatever the configuration says. It is
/// also bincode's decode limit, so no length field can make decoding reserve
/// more than a frame could hold.
pub const HARD_MAX_FRAME: usize = 1 << 30;

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<HARD_MAX_FRAME>()
}

/// Why a frame body could not be decoded. Each is the peer's fault, and closes
/// only that peer's link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("frame is {len} bytes, more than the {max}-byte limit (raise max_frame_bytes if this is legitimate)")]
    TooLarge { len: usize, max: usize },
    #[error("a length field claims more bytes than any frame may hold")]
    LyingLength,
    #[error("frame ended early: {0}")]
    Truncated(String),
    #[error("frame has {0} bytes after its message")]
    TrailingBytes(usize),
    #[error("malformed frame: {0}")]
    Malformed(String),
}

pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // Encoding our own in-memory types cannot fail short of exceeding the
    // hard limit, which frame sizes are validated against elsewhere.
    bincode::serde::encode_to_vec(msg, config()).unwrap_or_default()
}

/// Bytes `msg` takes on the wire, without the 4-byte length prefix. Counts
/// without allocating (the simulator calls it for every frame).
pub fn encoded_len<T: Serialize>(msg: &T) -> usize {
    struct Count(usize);
    impl bincode::enc::write::Writer for Count {
        fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
            self.0 += bytes.len();
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = bincode::serde::encode_into_writer(msg, &mut count, config());
    count.0
}

/// Decodes exactly one message from `bytes`. Trailing bytes are an error:
/// every message has one encoding.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > HARD_MAX_FRAME {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: HARD_MAX_FRAME,
        });
    }
    // Borrowing decode: byte strings are checked against the input before
    // anything is allocated, so a lying length field costs nothing.
    match bincode::serde::borrow_decode_from_slice::<T, _>(bytes, config()) {
        Ok((msg, used)) if used == bytes.len() => Ok(msg),
        Ok((_, used)) => Err(DecodeError::TrailingBytes(bytes.len() - used)),
        Err(e) => Err(classify(e)),
    }
}

fn classify(e: bincode::error::DecodeError) -> DecodeError {
    use bincode::error::DecodeError as B;
    match e {
        B::UnexpectedEnd { additional } => {
            DecodeError::Truncated(format!("{additional} more bytes needed"))
        }
        B::LimitExceeded => DecodeError::LyingLength,
        other => DecodeError::Malformed(other.to_string()),
    }
}
