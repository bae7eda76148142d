//! The member's vote in a sealed file of its own, beside the Raft log.
//!
//! raft-log keeps the vote as a record in its newest WAL file, and a cut of
//! that file's tail (a power cut tears it; a disk can lose it after it was
//! synced) can take the vote with it. A member that forgot its vote could
//! vote twice in one term and help elect two leaders. So the vote is
//! written here first, crash-atomically and synced, and only then to the
//! log; at start this file is the vote, and the log's copy is used only
//! by a data directory written before this file existed.

use super::Vote;
use crate::storage::atomic_file::write_atomically;
use crate::storage::sealed;
use std::io;
use std::path::{Path, PathBuf};

pub const VOTE_FILE: &str = "vote";

/// Where the vote of the member with data directory `data_dir` is kept.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(VOTE_FILE)
}

/// The vote in `path`; `None` when none was written there yet. A damaged
/// file is an error: the vote it held is unknown, and guessing could vote
/// twice in a term.
pub fn read(path: &Path) -> io::Result<Option<Vote>> {
    let Some(body) = sealed::read_file(path)? else {
        return Ok(None);
    };
    raftcp_proto::decode(&body).map(Some).map_err(|e| {
        let reason = format!("{}: {e}", path.display());
        io::Error::new(io::ErrorKind::InvalidData, reason)
    })
}

/// Replaces the vote in `path`; on disk when this returns.
pub fn write(path: &Path, vote: &Vote) -> io::Result<()> {
    let body = raftcp_proto::encode(vote)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    write_atomically(path, &sealed::seal(&body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::atomic_file::tests::scratch_directory;

    #[test]
    fn a_vote_written_is_the_vote_read_and_damage_is_refused() {
        let dir = scratch_directory("vote-file");
        let path = path(&dir);
        assert_eq!(read(&path).unwrap(), None);
        let vote = Vote::new_committed(7, 3);
        write(&path, &vote).unwrap();
        assert_eq!(read(&path).unwrap(), Some(vote));
        let later = Vote::new(8, 2);
        write(&path, &later).unwrap();
        assert_eq!(read(&path).unwrap(), Some(later));

        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let refused = read(&path).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::InvalidData);
        assert!(refused.to_string().contains(VOTE_FILE), "{refused}");

        std::fs::write(&path, b"").unwrap();
        assert!(read(&path).is_err(), "an empty vote file is damage");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
