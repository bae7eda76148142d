//! The on-disk encoding of Raft types inside raft-log records: a u32 length
//! followed by the postcard bytes. raft-log frames and checksums each record;
//! the length lets a decoder read exactly one value from its reader.

use super::Entry;
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

const LENGTH_BYTES: usize = 4;

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
        let len = u32::try_from(bytes.len()).map_err(io::Error::other)?;
        w.write_all(&len.to_le_bytes())?;
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
    let mut len = [0u8; LENGTH_BYTES];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    let mut bytes = vec![0u8; len];
    r.read_exact(&mut bytes)?;
    let value =
        postcard::from_bytes(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok((value, len))
}
