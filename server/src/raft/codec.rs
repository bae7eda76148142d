//! The on-disk encoding of Raft types inside raft-log records: a u32 length
//! followed by the postcard bytes. raft-log frames and checksums each record;
//! the length lets a decoder read exactly one value from its reader.

use serde::{Serialize, de::DeserializeOwned};
use std::io::{self, Read, Write};

/// A value stored in the Raft log's write-ahead log.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stored<T>(pub T);

impl<T: Serialize> raft_log::codeq::Encode for Stored<T> {
    fn encode<W: Write>(&self, mut w: W) -> Result<usize, io::Error> {
        let bytes = postcard::to_allocvec(&self.0).map_err(io::Error::other)?;
        let len = u32::try_from(bytes.len()).map_err(io::Error::other)?;
        w.write_all(&len.to_le_bytes())?;
        w.write_all(&bytes)?;
        Ok(4 + bytes.len())
    }
}

impl<T: DeserializeOwned> raft_log::codeq::Decode for Stored<T> {
    fn decode<R: Read>(mut r: R) -> Result<Self, io::Error> {
        let mut len = [0u8; 4];
        r.read_exact(&mut len)?;
        let len = u32::from_le_bytes(len) as usize;
        let mut bytes = vec![0u8; len];
        r.read_exact(&mut bytes)?;
        let value = postcard::from_bytes(&bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(Stored(value))
    }
}
