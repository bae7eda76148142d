//! Strict postcard codec for frames and log entries.

use crate::limits::FRAME_BYTES_MAX;
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("frame is {bytes} bytes: at most {max} allowed")]
    Oversize { bytes: usize, max: usize },
    #[error("frame has {bytes} trailing bytes after a complete message")]
    TrailingBytes { bytes: usize },
    #[error("malformed frame: {reason}")]
    Malformed { reason: String },
}

/// Encodes `message`, refusing results larger than [`FRAME_BYTES_MAX`].
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, CodecError> {
    encode_bounded(message, FRAME_BYTES_MAX)
}

/// Encodes `message`, refusing results larger than `max` bytes.
pub fn encode_bounded<T: Serialize>(message: &T, max: usize) -> Result<Vec<u8>, CodecError> {
    let bytes = postcard::to_allocvec(message).map_err(|error| CodecError::Malformed {
        reason: error.to_string(),
    })?;
    if bytes.len() > max {
        return Err(CodecError::Oversize {
            bytes: bytes.len(),
            max,
        });
    }
    Ok(bytes)
}

/// Decodes exactly one message from `bytes`: oversize input, trailing bytes,
/// unknown variants and truncated input are errors. Never panics.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_bounded(bytes, FRAME_BYTES_MAX)
}

/// [`decode`] with an explicit size bound (log entries and snapshots use
/// larger ones than client frames).
pub fn decode_bounded<T: DeserializeOwned>(bytes: &[u8], max: usize) -> Result<T, CodecError> {
    if bytes.len() > max {
        return Err(CodecError::Oversize {
            bytes: bytes.len(),
            max,
        });
    }
    let (message, rest) =
        postcard::take_from_bytes(bytes).map_err(|error| CodecError::Malformed {
            reason: error.to_string(),
        })?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes { bytes: rest.len() });
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ClientFrame;

    #[test]
    fn rejects_trailing_bytes() {
        let mut bytes = encode(&ClientFrame::Heartbeat).unwrap();
        bytes.push(0);
        assert_eq!(
            decode::<ClientFrame>(&bytes),
            Err(CodecError::TrailingBytes { bytes: 1 })
        );
    }

    #[test]
    fn rejects_unknown_variant_and_oversize() {
        assert!(matches!(
            decode::<ClientFrame>(&[200]),
            Err(CodecError::Malformed { .. })
        ));
        let big = vec![0u8; FRAME_BYTES_MAX + 1];
        assert!(matches!(
            decode::<ClientFrame>(&big),
            Err(CodecError::Oversize { .. })
        ));
        assert!(matches!(
            decode::<ClientFrame>(&[]),
            Err(CodecError::Malformed { .. })
        ));
    }
}
