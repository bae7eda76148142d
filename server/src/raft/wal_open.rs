//! Opening a member's Raft log (raft-log's WAL), and telling a log that
//! may have lost entries it acknowledged from a whole one
//! (`crate::recovery`).

use super::log_store::{LOG_DIR, WalTypes};
use crate::storage::recovery_mark;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Bytes of recent log entries kept in memory, counted encoded: decoded
/// they take several times as much. raft-log keeps the open WAL file's
/// entries besides (up to [`LOG_CHUNK_BYTES`]). 64 MiB let each member grow
/// by hundreds of MiB under load, and faulting in that fresh memory (the
/// kernel zeroes every new page) took a tenth of the members' CPU
/// (docs/benchmarks.md); followers further behind read from disk.
const LOG_CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Bytes per WAL file before a new one starts. raft-log can only evict
/// cached entries, and delete purged entries from disk, a whole closed file
/// at a time; with its default (1 GiB) the file under load never closed, so
/// every entry stayed in memory and on disk.
const LOG_CHUNK_BYTES: usize = 16 * 1024 * 1024;

/// Records per WAL file before a new one starts: raft-log's default,
/// named so that the check for a missing newer file reads it.
const LOG_CHUNK_RECORDS: usize = 1024 * 1024;

/// The mark's reason while the log is opened: what a crash then leaves.
const OPENING: &str = "the member stopped while its Raft log was being opened";

/// Opens the WAL of `data_dir`, marking the member as recovering when the
/// log may have lost entries it acknowledged. Three shapes of loss show
/// here, and none can be told from a crash that lost nothing acknowledged:
/// - the newest file ends inside a record. A power cut leaves that of a
///   record that was never synced; a disk that lost the end of the file
///   after it was synced leaves the same. raft-log cuts the record off;
/// - the newest file was removed by raft-log, as a file whose first record
///   was never completed (an interrupted start of a new file), or cut
///   inside that record;
/// - the newest file is full, so a newer one was started after it and is
///   gone.
///
/// The mark is on disk before raft-log opens the log (it may cut or remove
/// files as it does), and removed after unless the log lost something; a
/// mark from an earlier start stays. Being marked costs the member only
/// its vote until it has caught up, never committed data.
pub(super) fn open_wal(
    data_dir: &Path,
    batch_wait: Duration,
) -> io::Result<raft_log::RaftLog<WalTypes>> {
    let dir = data_dir.join(LOG_DIR);
    std::fs::create_dir_all(&dir)?;
    let before = wal_sizes(&dir)?;
    let marked_before = recovery_mark::read(data_dir)?.is_some();
    if !marked_before {
        recovery_mark::write(data_dir, OPENING.into())?;
    }
    let opened = open_cutting_a_torn_tail(&dir, batch_wait);
    let after = wal_sizes(&dir)?;
    let (log, torn) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            // Held by another process (raft-log locks before it touches
            // anything), or nothing was cut or removed: no doubt to keep.
            let untouched = e.kind() == io::ErrorKind::WouldBlock
                || lost_files(&before, &after, None).is_empty();
            if !marked_before && untouched {
                recovery_mark::clear(data_dir)?;
            }
            return Err(e);
        }
    };
    let mut losses = lost_files(&before, &after, torn.as_ref());
    let newest = log.stat().open_chunk;
    let full =
        newest.size >= LOG_CHUNK_BYTES as u64 || newest.records_count >= LOG_CHUNK_RECORDS as u64;
    if full {
        losses.push(format!(
            "its newest Raft log file ({} bytes) is full, and the file after it is missing",
            newest.size
        ));
    }
    match (marked_before, losses.is_empty()) {
        (true, _) => {}
        (false, true) => recovery_mark::clear(data_dir)?,
        (false, false) => recovery_mark::write(data_dir, losses.join("; "))?,
    }
    Ok(log)
}

/// Opens the log refusing a torn tail, and if that fails for its data,
/// again cutting it off; the first error when it had to cut.
fn open_cutting_a_torn_tail(
    dir: &Path,
    batch_wait: Duration,
) -> io::Result<(raft_log::RaftLog<WalTypes>, Option<io::Error>)> {
    let whole = config(dir, batch_wait, TornTail::Refuse);
    match raft_log::RaftLog::open(Arc::new(whole)) {
        Ok(log) => Ok((log, None)),
        Err(e) if cannot_open(&e) => Err(refusal(dir, e)),
        Err(torn) => {
            let cut = config(dir, batch_wait, TornTail::Cut);
            let log = raft_log::RaftLog::open(Arc::new(cut)).map_err(|e| refusal(dir, e))?;
            Ok((log, Some(torn)))
        }
    }
}

/// The size of each WAL file in `dir`.
fn wal_sizes(dir: &Path) -> io::Result<BTreeMap<OsString, u64>> {
    let mut sizes = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let is_wal = Path::new(&entry.file_name())
            .extension()
            .is_some_and(|e| e == "wal");
        if is_wal {
            sizes.insert(entry.file_name(), entry.metadata()?.len());
        }
    }
    Ok(sizes)
}

/// What opening took away from the WAL files, as `before` and `after` it
/// list them (`torn`: why the first open refused).
fn lost_files(
    before: &BTreeMap<OsString, u64>,
    after: &BTreeMap<OsString, u64>,
    torn: Option<&io::Error>,
) -> Vec<String> {
    let why = torn.map_or(String::new(), |e| format!(" ({e})"));
    let mut losses = Vec::new();
    for (file, &size) in before {
        let name = file.to_string_lossy();
        match after.get(file) {
            None => losses.push(format!(
                "its newest Raft log file {name} ({size} bytes) was removed: its first record \
                 was never completed{why}"
            )),
            Some(&left) if left < size => losses.push(format!(
                "its newest Raft log file {name} ended inside a record and was cut from {size} \
                 to {left} bytes{why}"
            )),
            _ => {}
        }
    }
    losses
}

/// Errors opening a WAL that say nothing about its data: permissions, a
/// lock held by another process, no space, a missing directory.
fn cannot_open(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::PermissionDenied
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::StorageFull
            | io::ErrorKind::NotFound
            | io::ErrorKind::InvalidInput
    )
}

/// The error a member starts with when its WAL in `dir` does not open.
fn refusal(dir: &Path, e: io::Error) -> io::Error {
    let shown = dir.display();
    let reason = match cannot_open(&e) {
        true => format!("cannot open the Raft log in {shown}: {e}"),
        // A damaged record, or records that do not follow each other
        // (raft-log reports those as `Other`).
        false => format!(
            "the Raft log in {shown} is damaged: {e}; refusing to start from it (it may have \
             lost entries this member acknowledged): replace this member's data \
             (docs/operations.md, \"Replacing a member's disk\")"
        ),
    };
    io::Error::new(e.kind(), reason)
}

/// What opening a WAL does with a newest file that ends inside a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TornTail {
    /// Fail, so the member can mark itself before anything is cut.
    Refuse,
    /// Cut the record off.
    Cut,
}

/// raft-log's settings for the log in `dir`.
pub(super) fn config(dir: &Path, batch_wait: Duration, torn_tail: TornTail) -> raft_log::Config {
    let mut config = raft_log::Config::new(dir.display());
    config.wal.truncate_incomplete_record = Some(torn_tail == TornTail::Cut);
    // raft-log waits up to 1 ms by default to gather a batch before each
    // fsync. Appends queued during the previous fsync are gathered anyway
    // (they are already in the queue), so a short wait keeps batches
    // large under load and saves most of a millisecond per write when
    // idle (see `NodeConfig::fsync_batch_wait`).
    config.wal.flush_batch_wait = Some(batch_wait);
    // Recent entries stay in memory for followers catching up; older
    // ones are read back from disk. raft-log's default (1 GiB, 100,000
    // entries) let a member's RSS grow by hundreds of MiB under load.
    config.log_cache_capacity = Some(LOG_CACHE_BYTES);
    config.wal.chunk_max_size = Some(LOG_CHUNK_BYTES);
    config.wal.chunk_max_records = Some(LOG_CHUNK_RECORDS);
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::log_store::tests::append_blank_synced;
    use crate::storage::atomic_file::tests::scratch_directory;

    /// Appends entries `from..=to` to the log of `data_dir`, synced.
    fn append_synced(data_dir: &Path, from: u64, to: u64) {
        let mut log = open_wal(data_dir, Duration::ZERO).expect("open");
        for index in from..=to {
            append_blank_synced(&mut log, index);
        }
    }

    fn newest_wal(data_dir: &Path) -> std::path::PathBuf {
        let sizes = wal_sizes(&data_dir.join(LOG_DIR)).unwrap();
        data_dir.join(LOG_DIR).join(sizes.keys().last().unwrap())
    }

    fn cut_to(file: &Path, length: u64) {
        let file = std::fs::OpenOptions::new().write(true).open(file).unwrap();
        file.set_len(length).unwrap();
    }

    fn reason(data_dir: &Path) -> Option<String> {
        recovery_mark::read(data_dir)
            .unwrap()
            .map(|mark| mark.reason)
    }

    #[test]
    fn a_whole_log_leaves_no_mark_and_a_cut_or_removed_newest_file_marks_it() {
        let dir = scratch_directory("wal-open");
        append_synced(&dir, 1, 5);
        assert_eq!(reason(&dir), None, "a whole log");

        let newest = newest_wal(&dir);
        let length = newest.metadata().unwrap().len();
        cut_to(&newest, length - 3);
        drop(open_wal(&dir, Duration::ZERO).unwrap());
        let cut = reason(&dir).expect("a cut record marks");
        assert!(cut.contains("was cut from"), "{cut}");

        // A mark stays until the member caught up, whatever opens show.
        drop(open_wal(&dir, Duration::ZERO).unwrap());
        assert_eq!(reason(&dir), Some(cut));
        recovery_mark::clear(&dir).unwrap();

        // After a cut raft-log writes on in a new file, which starts with
        // a record of its own; cut inside that record, the file is removed.
        append_synced(&dir, 5, 8);
        assert_eq!(reason(&dir), None);
        cut_to(&newest_wal(&dir), 2);
        drop(open_wal(&dir, Duration::ZERO).unwrap());
        let removed = reason(&dir).expect("a removed file marks");
        assert!(removed.contains("was removed"), "{removed}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
