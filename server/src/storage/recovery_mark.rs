//! The durable mark of a member that may have lost entries it acknowledged
//! (its Raft log lost a tail: see `raft::log_store`), kept until it has
//! caught up with a leader (`crate::recovery`). It is written before
//! raft-log cuts anything, so a crash in between cannot lose it, and it
//! survives any number of restarts until it is cleared.

use super::atomic_file::{sync_directory, write_atomically};
use super::sealed;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

pub const RECOVERY_MARK_FILE: &str = "recovering";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryMark {
    /// What the log lost, for the log line and `/health`.
    pub reason: String,
    /// When it was found (Unix ms).
    pub since_ms: u64,
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(RECOVERY_MARK_FILE)
}

/// The mark in `data_dir`, if any. A damaged mark still marks: the member
/// recovers rather than trust a log it had doubts about.
pub fn read(data_dir: &Path) -> io::Result<Option<RecoveryMark>> {
    let body = match sealed::read_file(&path(data_dir)) {
        Ok(Some(body)) => body,
        Ok(None) => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(Some(damaged(&e))),
        Err(e) => return Err(e),
    };
    Ok(Some(
        raftcp_proto::decode(&body).unwrap_or_else(|e| damaged(&e)),
    ))
}

fn damaged(error: &dyn std::fmt::Display) -> RecoveryMark {
    RecoveryMark {
        reason: format!("its recovery mark is damaged ({error})"),
        since_ms: crate::clock::wall_clock_ms(0),
    }
}

/// Marks `data_dir` as recovering because of `reason`, replacing any
/// earlier mark; on disk when this returns.
pub fn write(data_dir: &Path, reason: String) -> io::Result<()> {
    let mark = RecoveryMark {
        reason,
        since_ms: crate::clock::wall_clock_ms(0),
    };
    let body = raftcp_proto::encode(&mark)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    write_atomically(&path(data_dir), &sealed::seal(&body))
}

/// Removes the mark; gone from disk when this returns.
pub fn clear(data_dir: &Path) -> io::Result<()> {
    let path = path(data_dir);
    match std::fs::remove_file(&path) {
        Ok(()) => sync_directory(&path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::atomic_file::tests::scratch_directory;

    #[test]
    fn a_mark_stays_until_cleared_and_marks_when_damaged() {
        let dir = scratch_directory("recovery-mark");
        assert_eq!(read(&dir).unwrap(), None);
        write(&dir, "first".into()).unwrap();
        write(&dir, "second".into()).unwrap();
        assert_eq!(read(&dir).unwrap().unwrap().reason, "second");
        clear(&dir).unwrap();
        assert_eq!(read(&dir).unwrap(), None);
        clear(&dir).unwrap();

        write(&dir, "torn".into()).unwrap();
        let mut bytes = std::fs::read(path(&dir)).unwrap();
        bytes[10] ^= 0x40;
        std::fs::write(path(&dir), &bytes).unwrap();
        let mark = read(&dir).unwrap().expect("a damaged mark still marks");
        assert!(mark.reason.contains("damaged"), "{}", mark.reason);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
