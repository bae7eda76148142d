//! Strict postcard codec for frames and log entries.

use crate::limits::{FRAME_BYTES_MAX, FRAMES_PER_MESSAGE_MAX};
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
    #[error("message packs more than {max} frames")]
    TooManyFrames { max: usize },
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

/// How many bytes `message` takes encoded, without encoding it (0 for a
/// value that cannot encode).
pub fn encoded_size<T: Serialize>(message: &T) -> usize {
    postcard::experimental::serialized_size(message).unwrap_or(0)
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

/// Decodes a message that carries one or more frames back to back, each
/// strictly (a truncated or unknown frame is an error, and so is an empty
/// message), with each frame's encoded length. The whole message is bounded
/// by `max` bytes and [`FRAMES_PER_MESSAGE_MAX`] frames. Packing frames
/// saves clients whose sockets cost a system call per message (JavaScript
/// WebSockets) most of their sending work. Never panics.
pub fn decode_each<T: DeserializeOwned>(
    bytes: &[u8],
    max: usize,
) -> Result<Vec<(T, usize)>, CodecError> {
    if bytes.len() > max {
        return Err(CodecError::Oversize {
            bytes: bytes.len(),
            max,
        });
    }
    if bytes.is_empty() {
        return Err(CodecError::Malformed {
            reason: "empty message".into(),
        });
    }
    let mut frames = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if frames.len() == FRAMES_PER_MESSAGE_MAX {
            return Err(CodecError::TooManyFrames {
                max: FRAMES_PER_MESSAGE_MAX,
            });
        }
        let (frame, after) =
            postcard::take_from_bytes(rest).map_err(|error| CodecError::Malformed {
                reason: error.to_string(),
            })?;
        frames.push((frame, rest.len() - after.len()));
        rest = after;
    }
    Ok(frames)
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

    #[test]
    fn decodes_packed_frames_strictly() {
        let mut bytes = encode(&ClientFrame::Heartbeat).unwrap();
        bytes.extend(encode(&ClientFrame::CloseSession).unwrap());
        assert_eq!(
            decode_each::<ClientFrame>(&bytes, FRAME_BYTES_MAX),
            Ok(vec![
                (ClientFrame::Heartbeat, 1),
                (ClientFrame::CloseSession, 1)
            ])
        );
        // A truncated or unknown frame after good ones fails the message.
        bytes.push(200);
        assert!(matches!(
            decode_each::<ClientFrame>(&bytes, FRAME_BYTES_MAX),
            Err(CodecError::Malformed { .. })
        ));
        assert!(matches!(
            decode_each::<ClientFrame>(&[], FRAME_BYTES_MAX),
            Err(CodecError::Malformed { .. })
        ));
        assert!(matches!(
            decode_each::<ClientFrame>(&bytes, 2),
            Err(CodecError::Oversize { .. })
        ));
    }

    #[test]
    fn packed_frames_are_counted() {
        let heartbeat = encode(&ClientFrame::Heartbeat).unwrap();
        let most = heartbeat.repeat(FRAMES_PER_MESSAGE_MAX);
        assert!(decode_each::<ClientFrame>(&most, FRAME_BYTES_MAX).is_ok());
        let one_more = heartbeat.repeat(FRAMES_PER_MESSAGE_MAX + 1);
        assert_eq!(
            decode_each::<ClientFrame>(&one_more, FRAME_BYTES_MAX),
            Err(CodecError::TooManyFrames {
                max: FRAMES_PER_MESSAGE_MAX
            })
        );
    }
}
