//! The on-disk encoding of Raft types inside raft-log records: a checked
//! length followed by the postcard bytes. raft-log frames and checksums
//! each record; the length lets a decoder read exactly one value from its
//! reader.
//!
//! The length carries a check of its own. raft-log drops a last record
//! that ends early, as a crash that tore it before fsync leaves it; a bit
//! flipped in a synced record's length made it look exactly like that
//! (reading past the end), so the member dropped that record and all after
//! it, acknowledged ones too. With the check, such a flip is damage, and
//! the member refuses to start from it; so is a flip elsewhere in a record
//! (raft-log's own record type, say) that makes the reader take other
//! bytes for a length, as they almost never pass the check.
//!
//! Logs of earlier releases, whose lengths have no check, are refused:
//! docs/operations.md ("Upgrading") says how to move a member on.

use super::Entry;
use crate::limits::LOG_VALUE_BYTES_MAX;
use serde::{Serialize, de::DeserializeOwned};
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::sync::OnceLock;

/// A value stored in the Raft log's write-ahead log.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stored<T>(pub T);

impl<T: Serialize> raft_log::codeq::Encode for Stored<T> {
    fn encode<W: Write>(&self, w: W) -> Result<usize, io::Error> {
        encode_framed(&self.0, w)
    }
}

impl<T: DeserializeOwned> raft_log::codeq::Decode for Stored<T> {
    fn decode<R: Read>(r: R) -> Result<Self, io::Error> {
        decode_framed(r).map(|(value, _)| Stored(value))
    }
}

/// A log entry with its encoded size, learnt when it is first written or
/// read: the log's cache counts every entry's size when it enters and again
/// when it leaves, and measuring it anew each time was a third and fourth
/// pass over every batch.
#[derive(Clone, Debug)]
pub struct StoredEntry {
    pub entry: Entry,
    encoded_bytes: OnceLock<u64>,
}

impl StoredEntry {
    pub fn new(entry: Entry) -> StoredEntry {
        StoredEntry {
            entry,
            encoded_bytes: OnceLock::new(),
        }
    }

    /// Its size encoded, without encoding it again once it was written.
    pub fn encoded_bytes(&self) -> u64 {
        *self.encoded_bytes.get_or_init(|| {
            postcard::experimental::serialized_size(&self.entry).map_or(64, |size| size as u64)
        })
    }
}

impl raft_log::codeq::Encode for StoredEntry {
    fn encode<W: Write>(&self, w: W) -> Result<usize, io::Error> {
        let written = encode_framed(&self.entry, w)?;
        let _ = self.encoded_bytes.set(written as u64 - LENGTH_BYTES as u64);
        Ok(written)
    }
}

impl raft_log::codeq::Decode for StoredEntry {
    fn decode<R: Read>(r: R) -> Result<Self, io::Error> {
        let (entry, bytes) = decode_framed(r)?;
        let encoded_bytes = OnceLock::from(bytes as u64);
        Ok(StoredEntry {
            entry,
            encoded_bytes,
        })
    }
}

/// A frame's header: its length with [`CHECKED`] set, then the length's
/// complement.
const LENGTH_BYTES: usize = 8;

/// Set in every length, so that bytes taken for a header by mistake must
/// match it as well as the complement after it.
const CHECKED: u32 = 1 << 31;

/// An encoding buffer a thread keeps while it is at most this large: a
/// fresh vector per value grew (reallocated and copied) through every large
/// batch.
const BUFFER_KEPT_BYTES: usize = 1024 * 1024;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn encode_framed<T: Serialize, W: Write>(value: &T, mut w: W) -> io::Result<usize> {
    BUFFER.with_borrow_mut(|kept| {
        let mut buffer = std::mem::take(kept);
        buffer.clear();
        let bytes = postcard::to_extend(value, buffer).map_err(io::Error::other)?;
        // A value the reader would refuse is not written (the gateway
        // keeps entries far below this).
        let len = u32::try_from(bytes.len())
            .ok()
            .filter(|len| *len as usize <= LOG_VALUE_BYTES_MAX)
            .ok_or_else(|| io::Error::other("a log value past LOG_VALUE_BYTES_MAX"))?;
        w.write_all(&(len | CHECKED).to_le_bytes())?;
        w.write_all(&(!len).to_le_bytes())?;
        w.write_all(&bytes)?;
        let written = LENGTH_BYTES + bytes.len();
        if bytes.capacity() <= BUFFER_KEPT_BYTES {
            *kept = bytes;
        }
        Ok(written)
    })
}

/// One value and its encoded size.
fn decode_framed<T: DeserializeOwned, R: Read>(mut r: R) -> io::Result<(T, usize)> {
    let len = read_length(&mut r)?;
    let mut bytes = Vec::with_capacity(len);
    r.by_ref().take(len as u64).read_to_end(&mut bytes)?;
    if bytes.len() < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let (value, rest) = postcard::take_from_bytes(&bytes).map_err(damaged)?;
    if !rest.is_empty() {
        return Err(damaged(format!("{} bytes after a value", rest.len())));
    }
    Ok((value, len))
}

/// A frame's length, checked: a length without [`CHECKED`], one that
/// disagrees with its complement, or one past [`LOG_VALUE_BYTES_MAX`] is
/// damage (`InvalidData`), never the end of a torn record.
fn read_length(r: &mut impl Read) -> io::Result<usize> {
    let mut header = [0u8; LENGTH_BYTES];
    r.read_exact(&mut header)?;
    let [a, b, c, d, e, f, g, h] = header;
    let word = u32::from_le_bytes([a, b, c, d]);
    let check = u32::from_le_bytes([e, f, g, h]);
    let len = word & !CHECKED;
    if word & CHECKED == 0 {
        return Err(damaged(format!(
            "a value's length ({word:#x}) has no check: damaged, or written by an earlier release"
        )));
    }
    if check != !len {
        return Err(damaged(format!(
            "a value's length ({len}) disagrees with its check"
        )));
    }
    let len = len as usize;
    if len > LOG_VALUE_BYTES_MAX {
        return Err(damaged(format!(
            "a value's length ({len}) is past {LOG_VALUE_BYTES_MAX}"
        )));
    }
    Ok(len)
}

fn damaged(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(value: &str) -> Vec<u8> {
        let mut bytes = Vec::new();
        encode_framed(&value, &mut bytes).unwrap();
        bytes
    }

    #[test]
    fn a_value_reads_back_and_frames_without_the_check_are_refused() {
        let bytes = framed("entry");
        let (value, len) = decode_framed::<String, _>(&bytes[..]).unwrap();
        assert_eq!((value.as_str(), len), ("entry", bytes.len() - LENGTH_BYTES));
        // An entry's size is the same measured, written and read back.
        let entry = openraft::testing::blank_ent::<super::super::TypeConfig>(1, 1, 1);
        let measured = StoredEntry::new(entry.clone()).encoded_bytes();
        let stored = StoredEntry::new(entry);
        let mut written = Vec::new();
        raft_log::codeq::Encode::encode(&stored, &mut written).unwrap();
        let read: StoredEntry = raft_log::codeq::Decode::decode(&written[..]).unwrap();
        assert_eq!(
            (stored.encoded_bytes(), read.encoded_bytes()),
            (measured, measured)
        );
        // A release before the check wrote the length alone.
        let mut unchecked = (len as u32).to_le_bytes().to_vec();
        unchecked.extend_from_slice(&bytes[LENGTH_BYTES..]);
        let error = decode_framed::<String, _>(&unchecked[..])
            .map(drop)
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{error}");
    }

    #[test]
    fn every_flipped_bit_of_a_length_is_damage_not_a_short_read() {
        let bytes = framed("entry");
        for bit in 0..LENGTH_BYTES * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            let error = decode_framed::<String, _>(&damaged[..])
                .map(drop)
                .unwrap_err();
            assert_ne!(
                error.kind(),
                io::ErrorKind::UnexpectedEof,
                "bit {bit}: {error}"
            );
        }
    }

    #[test]
    fn a_frame_cut_short_is_a_short_read() {
        let bytes = framed("entry");
        for kept in 0..bytes.len() {
            let error = decode_framed::<String, _>(&bytes[..kept])
                .map(drop)
                .unwrap_err();
            assert_eq!(
                error.kind(),
                io::ErrorKind::UnexpectedEof,
                "{kept} bytes kept"
            );
        }
    }

    #[test]
    fn a_length_past_the_largest_value_is_damage_whatever_follows() {
        for len in [LOG_VALUE_BYTES_MAX as u32 + 1, CHECKED - 1] {
            let mut bytes = (len | CHECKED).to_le_bytes().to_vec();
            bytes.extend_from_slice(&(!len).to_le_bytes());
            let error = decode_framed::<String, _>(&bytes[..])
                .map(drop)
                .unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        }
    }
}
