//! Snapshots travel to a follower in chunks of at most
//! [`SNAPSHOT_CHUNK_BYTES`], one request each, in order: no peer frame
//! holds a whole state, so a snapshot of any size a member restores
//! ([`SNAPSHOT_BYTES_MAX`]) can be installed, and while it travels each end
//! holds the snapshot once plus one chunk (in one frame, the frame's
//! encoding and the socket's buffers each held another copy).
//!
//! The receiving end keeps one [`Assembly`] per peer link: a chunk at
//! offset 0 starts a snapshot, each next chunk must continue it exactly,
//! and the last one hands the whole snapshot over to be installed. Closing
//! the link drops a half-received snapshot.

use super::{SnapshotMeta, Vote};
use crate::limits::{SNAPSHOT_BYTES_MAX, SNAPSHOT_CHUNK_BYTES};
use serde::{Deserialize, Serialize};

/// One piece of a snapshot of `total` bytes, starting at `offset`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SnapshotChunk {
    pub vote: Vote,
    pub meta: SnapshotMeta,
    pub total: u64,
    pub offset: u64,
    pub bytes: Vec<u8>,
}

impl SnapshotChunk {
    /// Where this chunk ends; `None` past `u64::MAX`.
    fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.bytes.len() as u64)
    }
}

/// Splits `data` into the chunks that carry it (one, empty, for an empty
/// snapshot).
pub fn chunks(vote: Vote, meta: SnapshotMeta, data: &[u8]) -> impl Iterator<Item = SnapshotChunk> {
    let total = data.len() as u64;
    let pieces: Vec<&[u8]> = match data.is_empty() {
        true => vec![data],
        false => data.chunks(SNAPSHOT_CHUNK_BYTES).collect(),
    };
    let mut offset = 0u64;
    pieces.into_iter().map(move |piece| {
        let chunk = SnapshotChunk {
            vote,
            meta: meta.clone(),
            total,
            offset,
            bytes: piece.to_vec(),
        };
        offset += piece.len() as u64;
        chunk
    })
}

/// A snapshot ready to install: the vote and metadata it came with, and
/// its bytes.
#[derive(Debug)]
pub struct Received {
    pub vote: Vote,
    pub meta: SnapshotMeta,
    pub data: Vec<u8>,
}

/// The snapshot being received on one peer link.
#[derive(Debug, Default)]
pub struct Assembly {
    current: Option<Received>,
    total: u64,
}

impl Assembly {
    /// Takes the next chunk: the whole snapshot once `chunk` is its last,
    /// `None` while more must come; an error for a chunk that does not
    /// continue what was received (the sender starts over).
    pub fn receive(&mut self, chunk: SnapshotChunk) -> Result<Option<Received>, String> {
        if chunk.total > SNAPSHOT_BYTES_MAX as u64 {
            self.current = None;
            return Err(format!(
                "a snapshot of {} bytes is over the {SNAPSHOT_BYTES_MAX} a member restores",
                chunk.total
            ));
        }
        if chunk.bytes.len() > SNAPSHOT_CHUNK_BYTES {
            self.current = None;
            return Err(format!(
                "a snapshot chunk of {} bytes is over {SNAPSHOT_CHUNK_BYTES}",
                chunk.bytes.len()
            ));
        }
        if chunk.offset == 0 {
            self.total = chunk.total;
            self.current = Some(Received {
                vote: chunk.vote,
                meta: chunk.meta.clone(),
                data: Vec::new(),
            });
        }
        let Some(current) = self.current.as_mut() else {
            return Err(format!(
                "a snapshot chunk at offset {} with no snapshot begun",
                chunk.offset
            ));
        };
        let end = chunk.end();
        let continues = chunk.offset == current.data.len() as u64
            && chunk.total == self.total
            && chunk.meta == current.meta
            && chunk.vote == current.vote
            && end.is_some_and(|end| end <= chunk.total);
        if !continues {
            self.current = None;
            return Err(format!(
                "a snapshot chunk at offset {} does not continue the snapshot being received",
                chunk.offset
            ));
        }
        current.data.extend_from_slice(&chunk.bytes);
        if end == Some(chunk.total) {
            return Ok(self.current.take());
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote() -> Vote {
        Vote::new(3, 1)
    }

    fn received(assembly: &mut Assembly, chunks: impl Iterator<Item = SnapshotChunk>) -> Vec<u8> {
        let mut whole = None;
        for chunk in chunks {
            assert!(whole.is_none(), "a chunk after the last");
            whole = assembly.receive(chunk).unwrap();
        }
        whole.expect("the last chunk completes it").data
    }

    #[test]
    fn chunks_reassemble_to_the_snapshot() {
        let meta = SnapshotMeta::default();
        let data: Vec<u8> = (0..SNAPSHOT_CHUNK_BYTES * 2 + 7).map(|i| i as u8).collect();
        let sent: Vec<_> = chunks(vote(), meta.clone(), &data).collect();
        assert_eq!(sent.len(), 3);
        assert!(sent.iter().all(|c| c.bytes.len() <= SNAPSHOT_CHUNK_BYTES));
        let mut assembly = Assembly::default();
        assert_eq!(received(&mut assembly, sent.into_iter()), data);
        // Empty, and exactly one chunk long.
        assert_eq!(
            received(&mut assembly, chunks(vote(), meta.clone(), &[])),
            b""
        );
        let one = vec![9u8; SNAPSHOT_CHUNK_BYTES];
        assert_eq!(received(&mut assembly, chunks(vote(), meta, &one)), one);
    }

    #[test]
    fn a_chunk_that_does_not_continue_is_refused_and_a_new_start_recovers() {
        let meta = SnapshotMeta::default();
        let data = vec![1u8; SNAPSHOT_CHUNK_BYTES * 3];
        let sent: Vec<_> = chunks(vote(), meta.clone(), &data).collect();
        let mut assembly = Assembly::default();
        assert!(assembly.receive(sent[1].clone()).is_err(), "no start");
        assembly.receive(sent[0].clone()).unwrap();
        assert!(assembly.receive(sent[2].clone()).is_err(), "a gap");
        assert!(
            assembly.receive(sent[1].clone()).is_err(),
            "dropped after a gap"
        );
        let mut other_vote = sent[1].clone();
        assembly.receive(sent[0].clone()).unwrap();
        other_vote.vote = Vote::new(4, 2);
        assert!(assembly.receive(other_vote).is_err(), "another leader's");
        assert_eq!(received(&mut assembly, sent.into_iter()), data);
    }

    #[test]
    fn oversize_snapshots_and_chunks_are_refused() {
        let meta = SnapshotMeta::default();
        let mut assembly = Assembly::default();
        let mut chunk = chunks(vote(), meta, &[1, 2, 3]).next().unwrap();
        chunk.total = SNAPSHOT_BYTES_MAX as u64 + 1;
        assert!(assembly.receive(chunk.clone()).is_err());
        chunk.total = u64::MAX;
        chunk.offset = u64::MAX - 1;
        assert!(assembly.receive(chunk.clone()).is_err());
        chunk.total = (SNAPSHOT_CHUNK_BYTES * 2) as u64;
        chunk.offset = 0;
        chunk.bytes = vec![0; SNAPSHOT_CHUNK_BYTES + 1];
        assert!(assembly.receive(chunk).is_err());
    }
}
