//! The durable Raft log and vote, kept in raft-log (a segmented, checksummed
//! write-ahead log with a background flush thread that batches fdatasync).
//!
//! Durability contract (openraft's, checked in tests):
//! - `save_vote` returns only after the vote is fsynced;
//! - entries are readable as soon as `append` returns, and the flush
//!   callback fires only after they are fsynced;
//! - vote, entries, commit, truncate and purge go through one ordered stream,
//!   so they are never reordered on disk.

use super::codec::{Stored, StoredEntry};
use super::vote_file;
use super::wal_open::open_wal;
use super::{Entry, LogId, TypeConfig, Vote};
use crate::faults::{Faults, PlantedBug};
use crate::limits::LOG_VALUE_BYTES_MAX;
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{LogIdOptionExt, OptionalSend};
use raft_log::api::raft_log_writer::RaftLogWriter;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{RwLock, oneshot};

/// raft-log's view of our types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalTypes;

impl raft_log::Types for WalTypes {
    type LogId = Stored<LogId>;
    type LogPayload = StoredEntry;
    type Vote = Stored<Vote>;
    type Callback = FlushDone;
    type UserData = Stored<()>;

    fn log_index(log_id: &Self::LogId) -> u64 {
        log_id.0.index
    }

    fn payload_size(payload: &Self::LogPayload) -> u64 {
        // Entries are batches of commands and may carry values up to the
        // size limit, so the cache is bounded by their real size.
        payload.encoded_bytes()
    }
}

/// Who learns that a flush reached the disk.
pub enum FlushDone {
    /// openraft's append callback.
    Raft(IOFlushed<TypeConfig>),
    /// A caller waiting inline (the vote).
    Waiter(oneshot::Sender<io::Result<()>>),
}

impl raft_log::Callback for FlushDone {
    fn send(self, result: io::Result<()>) {
        match self {
            FlushDone::Raft(callback) => callback.io_completed(result),
            FlushDone::Waiter(sender) => {
                // The waiter may have given up; nothing else needs the result.
                let _ = sender.send(result);
            }
        }
    }
}

impl Debug for FlushDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FlushDone::Raft(_) => "FlushDone::Raft",
            FlushDone::Waiter(_) => "FlushDone::Waiter",
        })
    }
}

/// The Raft log of one group. Clones share the same log.
#[derive(Clone, Debug)]
pub struct LogStore {
    log: Arc<RwLock<raft_log::RaftLog<WalTypes>>>,
    /// The vote's own file (`super::vote_file`), written before the log's
    /// copy.
    vote_path: PathBuf,
    /// The fault campaign's negative control: acknowledge before fsync.
    ack_before_fsync: bool,
}

/// The log's directory inside a member's data directory.
pub const LOG_DIR: &str = "log";

impl LogStore {
    /// Opens (creating if needed) the log in `data_dir`; the flush thread
    /// waits up to `batch_wait` for more appends before each fsync. A log
    /// that lost a tail (see [`open_wal`]) marks `data_dir` as recovering
    /// (`crate::storage::recovery_mark`) before anything is cut.
    pub fn open(data_dir: &Path, batch_wait: Duration, faults: Faults) -> io::Result<Self> {
        let log = open_wal(data_dir, batch_wait)?;
        let vote_path = vote_file::path(data_dir);
        // A directory from before the vote had a file of its own: the file
        // starts as the log's copy, which a later cut of the log cannot take.
        if let (None, Some(vote)) = (vote_file::read(&vote_path)?, log.log_state().vote()) {
            vote_file::write(&vote_path, &vote.0)?;
        }
        Ok(Self {
            log: Arc::new(RwLock::new(log)),
            vote_path,
            ack_before_fsync: faults.planted(PlantedBug::AckBeforeFsync),
        })
    }

    /// Returns once everything handed to the log is on disk.
    pub async fn sync(&self) -> io::Result<()> {
        let (done, flushed) = oneshot::channel();
        (self.log.write().await).flush(true, Some(FlushDone::Waiter(done)))?;
        flushed.await.map_err(io::Error::other)?
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let (start, end) = half_open(&range);
        let log = self.log.read().await;
        log.read(start, end)
            .map(|item| item.map(|(_, payload)| payload.entry))
            .collect()
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        let file = vote_file::read(&self.vote_path)?;
        let log = (self.log.read().await)
            .log_state()
            .vote()
            .map(|vote| vote.0);
        // Votes only grow, and the file is written first, so it holds the
        // later one, unless an earlier release (or the planted bug
        // ack-before-fsync) wrote the log's alone.
        Ok(match (file, log) {
            (Some(file), Some(log)) if log > file => Some(log),
            (Some(file), _) => Some(file),
            (None, log) => log,
        })
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let log = self.log.read().await;
        let state = log.log_state();
        Ok(LogState {
            last_purged_log_id: state.purged().map(|id| id.0),
            last_log_id: state.last().map(|id| id.0),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let (done, flushed) = oneshot::channel();
        {
            let mut log = self.log.write().await;
            if !self.ack_before_fsync {
                // Under the log's lock, so two votes reach the file and the
                // log in the same order; three fsyncs, off the runtime.
                let (path, vote) = (self.vote_path.clone(), *vote);
                tokio::task::spawn_blocking(move || vote_file::write(&path, &vote))
                    .await
                    .map_err(io::Error::other)??;
            }
            log.save_vote(Stored(*vote))?;
            if self.ack_before_fsync {
                return log.flush(false, None);
            }
            log.flush(true, Some(FlushDone::Waiter(done)))?;
        }
        // A vote must be on disk before it is granted or acted on.
        flushed.await.map_err(io::Error::other)?
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        let Some(committed) = committed else {
            return Ok(());
        };
        let mut log = self.log.write().await;
        log.commit(Stored(committed))?;
        // Hand the record to the writer thread now (no fsync of its own; the
        // next append's fsync covers it). Once in the OS it survives kill -9,
        // so a restarted node re-applies up to here and its applied state
        // does not go backwards. A power cut can take it (it was not
        // synced): the member then re-applies less at start and learns the
        // rest from the leader, as a member that was behind does.
        log.flush(false, None)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        let log = self.log.read().await;
        Ok(log.log_state().committed().map(|id| id.0))
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> io::Result<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
    {
        let records: Vec<_> = entries
            .into_iter()
            .map(|entry| (Stored(entry.log_id()), StoredEntry::new(entry)))
            .collect();
        // raft-log writes a record's first bytes before its entry is
        // encoded, so an entry the codec would refuse is refused here,
        // before anything reaches the log.
        if let Some((id, _)) =
            (records.iter()).find(|(_, e)| e.encoded_bytes() > LOG_VALUE_BYTES_MAX as u64)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("entry {} is past LOG_VALUE_BYTES_MAX", id.0.index),
            ));
        }
        let mut log = self.log.write().await;
        log.append(records)?;
        if self.ack_before_fsync {
            log.flush(false, None)?;
            callback.io_completed(Ok(()));
            return Ok(());
        }
        // The writer thread batches concurrent flushes into one fdatasync and
        // runs the callback only after it.
        log.flush(true, Some(FlushDone::Raft(callback)))
    }

    async fn truncate_after(&mut self, last_kept: Option<LogId>) -> Result<(), io::Error> {
        let from = last_kept.next_index();
        let mut log = self.log.write().await;
        let last = log.log_state().last().map(|id| id.0);
        if from >= last.next_index() {
            return Ok(());
        }
        log.truncate(from)?;
        // Made durable by the next append or vote in the same ordered stream;
        // if lost in a crash, the leader truncates again.
        log.flush(false, None)
    }

    async fn purge(&mut self, upto: LogId) -> Result<(), io::Error> {
        let mut log = self.log.write().await;
        let purged = log.log_state().purged().map(|id| id.0);
        if upto.index < purged.next_index() {
            return Ok(());
        }
        log.purge(Stored(upto))?;
        // raft-log deletes purged chunk files only after a synced flush.
        log.flush(true, None)
    }
}

/// `[start, end)` for raft-log's reader.
fn half_open(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(&n) => n,
        Bound::Excluded(&n) => n.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&n) => n.saturating_add(1),
        Bound::Excluded(&n) => n,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::raft::wal_open::{TornTail, config};
    use openraft::testing::blank_ent;

    /// WAL files this small make every few records a new file, each
    /// opening with a checkpoint that holds the vote.
    const TINY_CHUNK_BYTES: usize = 128;

    /// Entries appended, each synced on its own: the newest of the files
    /// then holds a checkpoint and three of them. (The test fails on the
    /// codec before the length check: flips there cut the log to 8.)
    const ENTRIES: u64 = 11;

    fn open_tiny(dir: &Path) -> io::Result<raft_log::RaftLog<WalTypes>> {
        let mut config = config(dir, Duration::ZERO, TornTail::Cut);
        config.wal.chunk_max_size = Some(TINY_CHUNK_BYTES);
        raft_log::RaftLog::open(Arc::new(config))
    }

    fn wal_files(dir: &Path) -> Vec<std::path::PathBuf> {
        let files = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path());
        let mut wal: Vec<_> = files
            .filter(|p| p.extension().is_some_and(|e| e == "wal"))
            .collect();
        wal.sort();
        wal
    }

    /// Appends a blank entry at `index` (term 1) and waits until it is
    /// synced.
    pub(in crate::raft) fn append_blank_synced(log: &mut raft_log::RaftLog<WalTypes>, index: u64) {
        let entry = blank_ent::<TypeConfig>(1, 1, index);
        log.append([(Stored(entry.log_id()), StoredEntry::new(entry))])
            .unwrap();
        let (done, flushed) = oneshot::channel();
        log.flush(true, Some(FlushDone::Waiter(done))).unwrap();
        flushed.blocking_recv().unwrap().unwrap();
    }

    /// A log over several WAL files with a vote and [`ENTRIES`] entries,
    /// all synced; where in the newest file its last record starts.
    fn synced_log(dir: &Path) -> usize {
        let mut log = open_tiny(dir).expect("open");
        log.save_vote(Stored(Vote::new_committed(1, 1))).unwrap();
        let mut last_record_at = 0;
        for index in 1..=ENTRIES {
            let before = wal_files(dir)
                .last()
                .map(|p| (p.clone(), p.metadata().unwrap().len()));
            append_blank_synced(&mut log, index);
            last_record_at = match before {
                Some((file, length)) if Some(&file) == wal_files(dir).last() => length as usize,
                // A new file: its checkpoint comes first.
                _ => 0,
            };
        }
        drop(log);
        let files: Vec<_> = (wal_files(dir).iter())
            .map(|f| f.metadata().unwrap().len())
            .collect();
        assert!(files.len() > 2, "the log spans several files: {files:?}");
        assert!(
            last_record_at > 0,
            "the newest file holds records before the last"
        );
        last_record_at
    }

    /// Every bit of every synced WAL file, flipped one at a time: the log
    /// refuses to open, or opens with every entry and the vote. Never
    /// fewer entries (a damaged record taken for a torn tail), but in one
    /// case a member cannot tell from a tear: a flip in the record type
    /// of the newest record can make it read past the end, and it is
    /// dropped as torn (docs/reliability.md, "Damage on disk").
    #[test]
    fn a_flipped_bit_in_synced_records_is_never_taken_for_a_torn_tail() {
        let dir = crate::storage::atomic_file::tests::scratch_directory("log-bits");
        let last_record_at = synced_log(&dir);
        let pristine: Vec<_> = (wal_files(&dir).into_iter())
            .map(|file| (std::fs::read(&file).unwrap(), file))
            .collect();
        // Opening may cut, remove or start files: put back exactly the
        // pristine ones, and check they open whole.
        let restore = || {
            for extra in wal_files(&dir) {
                if !pristine.iter().any(|(_, file)| file == &extra) {
                    std::fs::remove_file(extra).unwrap();
                }
            }
            for (bytes, file) in &pristine {
                std::fs::write(file, bytes).unwrap();
            }
        };
        let whole = |log: &raft_log::RaftLog<WalTypes>| {
            let state = log.log_state();
            state.last().map(|id| id.0.index) == Some(ENTRIES) && state.vote().is_some()
        };
        assert!(whole(&open_tiny(&dir).unwrap()));
        let newest = pristine.last().unwrap().1.clone();
        let mut taken_for_torn = Vec::new();
        let mut newest_record_dropped = 0;
        for (bytes, file) in &pristine {
            for at in 0..bytes.len() {
                for bit in 0..8 {
                    let mut damaged = bytes.clone();
                    damaged[at] ^= 1 << bit;
                    std::fs::write(file, &damaged).unwrap();
                    let opened = open_tiny(&dir);
                    let found = opened.as_ref().ok().map(|log| {
                        let state = log.log_state();
                        (state.last().map(|id| id.0.index), state.vote().is_some())
                    });
                    drop(opened);
                    restore();
                    assert!(
                        whole(&open_tiny(&dir).unwrap()),
                        "restored after {at}/{bit}"
                    );
                    let Some((last, voted)) = found else { continue };
                    let in_newest_type = file == &newest
                        && (last_record_at..last_record_at + RECORD_TYPE_BYTES).contains(&at);
                    match (last, voted) {
                        (Some(ENTRIES), true) => {}
                        (Some(l), true) if l == ENTRIES - 1 && in_newest_type => {
                            newest_record_dropped += 1;
                        }
                        _ => taken_for_torn.push((
                            file.file_name().unwrap().to_owned(),
                            at,
                            bit,
                            last,
                        )),
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            taken_for_torn.is_empty(),
            "taken for a torn tail: {taken_for_torn:?}"
        );
        // The known case, counted so that a change in it is seen.
        assert!(newest_record_dropped <= 3, "{newest_record_dropped} flips");
    }

    /// raft-log's record type, at the start of every record.
    const RECORD_TYPE_BYTES: usize = 4;
}
