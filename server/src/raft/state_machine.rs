//! openraft's state machine: the deterministic [`Machine`] behind a mutex,
//! plus what openraft needs around it (last applied log id, membership,
//! snapshot files). Effects of each apply (waiter completions, ended
//! sessions) go to this node's driver (`crate::driver`), which delivers
//! those of its clients; their queue is bounded, so delivery that falls
//! behind slows applying rather than growing memory.

use super::{Entry, LogId, SnapshotMeta, SnapshotOf, StoredMembership, TypeConfig};
use crate::faults::{Faults, PlantedBug};
use crate::machine::{CommandResponse, Effect, Machine, POSITIONS_PER_ENTRY};
use crate::storage::atomic_file::write_parts_atomically;
use crate::storage::sealed;
use crate::watch::Watches;
use futures_util::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;

pub type SnapshotData = Vec<u8>;

/// What this node's driver hears from the apply loop.
#[derive(Debug)]
pub enum Applied {
    /// Effects of one entry, in order.
    Effects(Vec<Effect>),
    /// A snapshot replaced the state wholesale: completions of the skipped
    /// entries were never seen here, so clients must re-send what they wait on.
    Replaced,
}

/// The machine and the Raft bookkeeping that must change atomically with it.
#[derive(Debug, Default)]
pub struct Replica {
    pub machine: Machine,
    pub applied: Option<LogId>,
    pub membership: StoredMembership,
    /// Snapshots received from a leader since start (for metrics and tests).
    pub snapshots_installed: u64,
}

/// Shared access to the replica for reads (after a ReadIndex barrier) and
/// metrics. The lock is held only for in-memory work, never across `.await`.
#[derive(Clone, Debug, Default)]
pub struct SharedReplica {
    replica: Arc<Mutex<Replica>>,
    /// The machine's state bytes as of the last apply, read by every
    /// request's quota check without taking the lock.
    state_bytes: Arc<AtomicU64>,
}

impl SharedReplica {
    /// The group's state bytes as of the last apply (see `machine::usage`).
    pub fn state_bytes(&self) -> u64 {
        self.state_bytes.load(Ordering::Relaxed)
    }

    fn publish_state_bytes(&self, replica: &Replica) {
        let bytes = replica.machine.state_bytes();
        self.state_bytes.store(bytes, Ordering::Relaxed);
    }

    pub fn lock(&self) -> MutexGuard<'_, Replica> {
        match self.replica.lock() {
            Ok(guard) => guard,
            // A panic inside apply may have left the replica half-changed.
            // Answering from it could break linearizability, so stop the
            // process; on restart the log is applied again from the last
            // snapshot.
            Err(_) => {
                tracing::error!("the state machine panicked while applying; stopping");
                std::process::abort()
            }
        }
    }
}

/// On-disk snapshot: openraft's metadata and the machine's bytes, in
/// postcard (written and read in parts, so the state is never copied into
/// a second buffer: see `write_snapshot` and `read_snapshot`).
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta,
    machine: Vec<u8>,
}

const SNAPSHOT_FILE: &str = "snapshot";

#[derive(Debug)]
pub struct StateMachine {
    replica: SharedReplica,
    /// The snapshot file's directory, and who writes it.
    snapshots: Arc<SnapshotWriter>,
    applied_tx: mpsc::Sender<Applied>,
    /// The objects clients watch on this member: applying shows them
    /// what changed.
    watches: Arc<Watches>,
    /// Planted in every machine this replica holds (the fault campaign).
    planted: Option<PlantedBug>,
}

impl StateMachine {
    /// Opens the state machine kept in `dir`, starting from the last snapshot
    /// there (openraft then re-applies the committed log after it).
    pub fn open(
        dir: &Path,
        applied_tx: mpsc::Sender<Applied>,
        watches: Arc<Watches>,
        faults: Faults,
    ) -> io::Result<(Self, SharedReplica)> {
        std::fs::create_dir_all(dir)?;
        let replica = SharedReplica::default();
        replica.lock().machine.plant(faults.planted);
        let refuse = |e: io::Error| {
            let reason = format!(
                "{e}; refusing to start from it (the state it holds is not the state this \
                 member acknowledged): replace this member's data (docs/operations.md, \
                 \"Replacing a member's disk\")"
            );
            io::Error::new(e.kind(), reason)
        };
        let mut written = None;
        if let Some(file) = read_snapshot(dir, faults.planted).map_err(refuse)? {
            written = file.meta.last_log_id;
            let mut machine = Machine::restore(&file.machine).map_err(invalid)?;
            machine.plant(faults.planted);
            let mut state = replica.lock();
            state.machine = machine;
            state.applied = file.meta.last_log_id;
            state.membership = file.meta.last_membership;
            replica.publish_state_bytes(&state);
        }
        let sm = Self {
            replica: replica.clone(),
            snapshots: Arc::new(SnapshotWriter {
                dir: dir.to_owned(),
                written: Mutex::new(written),
            }),
            applied_tx,
            watches,
            planted: faults.planted,
        };
        Ok((sm, replica))
    }

    /// Applies one entry: its response and its effects.
    fn apply_one(&self, entry: Entry) -> (CommandResponse, Vec<Effect>) {
        let index = entry.log_id.index;
        let mut state = self.replica.lock();
        let applied = match entry.payload {
            EntryPayload::Blank => (CommandResponse::Done, Vec::new()),
            EntryPayload::Membership(membership) => {
                state.membership = StoredMembership::new(Some(entry.log_id), membership);
                (CommandResponse::Done, Vec::new())
            }
            EntryPayload::Normal(command) => {
                let mut observer = self.watches.observer();
                let applied = state
                    .machine
                    .apply_entry_observed(index, command, &mut observer);
                (applied.response, applied.effects)
            }
        };
        state.applied = Some(entry.log_id);
        self.replica.publish_state_bytes(&state);
        applied
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> io::Result<(Option<LogId>, StoredMembership)> {
        let state = self.replica.lock();
        Ok((state.applied, state.membership.clone()))
    }

    async fn apply<S>(&mut self, mut entries: S) -> io::Result<()>
    where
        S: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let (response, effects) = self.apply_one(entry);
            if !effects.is_empty() {
                // The gateway may be gone during shutdown; effects then
                // have nobody to reach.
                let _ = self.applied_tx.send(Applied::Effects(effects)).await;
            }
            if let Some(responder) = responder {
                responder.send(response);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            replica: self.replica.clone(),
            snapshots: self.snapshots.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        data: SnapshotData,
    ) -> io::Result<()> {
        let mut machine = Machine::restore(&data).map_err(invalid)?;
        machine.plant(self.planted);
        let file = SnapshotFile {
            meta: meta.clone(),
            machine: data,
        };
        self.snapshots.write(&file)?;
        {
            let mut state = self.replica.lock();
            state.machine = machine;
            state.applied = meta.last_log_id;
            state.membership = meta.last_membership.clone();
            state.snapshots_installed += 1;
            self.replica.publish_state_bytes(&state);
            // Watched objects show where the snapshot left them, as a jump.
            let applied = meta.last_log_id.as_ref().map_or(0, |id| id.index);
            let position = applied
                .saturating_mul(POSITIONS_PER_ENTRY)
                .saturating_add(POSITIONS_PER_ENTRY - 1);
            self.watches.replaced(&state.machine, position);
        }
        tracing::info!("installed a snapshot up to {:?}", meta.last_log_id);
        let _ = self.applied_tx.send(Applied::Replaced).await;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<SnapshotOf>> {
        Ok(
            read_snapshot(&self.snapshots.dir, self.planted)?.map(|file| SnapshotOf {
                meta: file.meta,
                snapshot: file.machine,
            }),
        )
    }
}

/// Builds a snapshot of the replica as of the moment it runs.
#[derive(Debug)]
pub struct SnapshotBuilder {
    replica: SharedReplica,
    snapshots: Arc<SnapshotWriter>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> io::Result<SnapshotOf> {
        let (meta, machine) = {
            let state = self.replica.lock();
            let meta = SnapshotMeta {
                last_log_id: state.applied,
                last_membership: state.membership.clone(),
            };
            (meta, state.machine.snapshot())
        };
        let file = SnapshotFile { meta, machine };
        self.snapshots.write(&file)?;
        Ok(SnapshotOf {
            meta: file.meta,
            snapshot: file.machine,
        })
    }
}

/// Writes this member's snapshot file. Building runs concurrently with
/// installing, so writes are serialized and an older snapshot never
/// replaces a newer one: the log id last written is kept here, not read
/// back from the file (whose checksum only a whole read can check).
#[derive(Debug)]
struct SnapshotWriter {
    dir: PathBuf,
    /// The last log id of the snapshot on disk.
    written: Mutex<Option<LogId>>,
}

impl SnapshotWriter {
    /// Replaces the snapshot file crash-atomically: a reader sees the old
    /// snapshot or the new one, never a mix.
    fn write(&self, file: &SnapshotFile) -> io::Result<()> {
        let mut written = crate::sync::lock(&self.written);
        if *written > file.meta.last_log_id {
            return Ok(());
        }
        write_snapshot(&self.dir, file)?;
        *written = file.meta.last_log_id;
        Ok(())
    }
}

/// Writes the snapshot file in `dir`: what postcard makes of
/// `SnapshotFile` (the metadata, the state's length as a varint, the
/// state), sealed with a checksum.
fn write_snapshot(dir: &Path, file: &SnapshotFile) -> io::Result<()> {
    let meta = postcard::to_allocvec(&file.meta).map_err(io::Error::other)?;
    let length = postcard::to_allocvec(&(file.machine.len() as u64)).map_err(io::Error::other)?;
    let mut checksum = [0; sealed::CHECKSUM_BYTES];
    let parts = sealed::seal_parts(&[&meta, &length, &file.machine], &mut checksum);
    write_parts_atomically(&dir.join(SNAPSHOT_FILE), &parts)
}

/// The snapshot file in `dir`, its checksum checked (unless the fault
/// campaign planted `SnapshotUnchecked`). The state is the file's own
/// buffer with the rest cut off, not a copy.
fn read_snapshot(dir: &Path, planted: Option<PlantedBug>) -> io::Result<Option<SnapshotFile>> {
    let path = dir.join(SNAPSHOT_FILE);
    let mut bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let checked = match sealed::check(&bytes) {
        Err(damage) if planted == Some(PlantedBug::SnapshotUnchecked) => {
            sealed::body_unchecked(&bytes).ok_or_else(|| damaged(&path, damage))?
        }
        checked => checked.map_err(|damage| damaged(&path, damage))?,
    };
    let (meta, rest) =
        postcard::take_from_bytes::<SnapshotMeta>(checked.body()).map_err(invalid)?;
    let (length, state) = postcard::take_from_bytes::<u64>(rest).map_err(invalid)?;
    if state.len() as u64 != length {
        let found = state.len();
        return Err(invalid(format!(
            "{found} bytes of state, {length} announced"
        )));
    }
    // The state ends where the checksum (if any) begins.
    let end = checked.body_end(bytes.len());
    let start = end - state.len();
    bytes.truncate(end);
    bytes.drain(..start);
    Ok(Some(SnapshotFile {
        meta,
        machine: bytes,
    }))
}

/// The error for a snapshot file that is not what was written.
fn damaged(path: &Path, damage: sealed::Damaged) -> io::Error {
    let reason = format!("snapshot {} is damaged: {damage}", path.display());
    io::Error::new(io::ErrorKind::InvalidData, reason)
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("snapshot: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_file_is_the_sealed_postcard_of_the_whole_and_damage_is_refused() {
        let dir =
            std::env::temp_dir().join(format!("raftcp-snapshot-parts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = SnapshotFile {
            meta: SnapshotMeta::default(),
            machine: (0..300u16).map(|i| i as u8).collect(),
        };
        write_snapshot(&dir, &file).unwrap();
        let written = std::fs::read(dir.join(SNAPSHOT_FILE)).unwrap();
        let whole = postcard::to_allocvec(&file).unwrap();
        assert_eq!(written, sealed::seal(&whole));
        let read = read_snapshot(&dir, None).unwrap().unwrap();
        assert_eq!(read.machine, file.machine);
        // A file cut short, or with a bit flipped in its state (which
        // would decode as another state), is refused, not read.
        std::fs::write(dir.join(SNAPSHOT_FILE), &written[..written.len() - 1]).unwrap();
        assert!(read_snapshot(&dir, None).is_err());
        let mut flipped = written.clone();
        flipped[written.len() - 40] ^= 0x10;
        std::fs::write(dir.join(SNAPSHOT_FILE), &flipped).unwrap();
        let refused = read_snapshot(&dir, None).err().unwrap().to_string();
        assert!(refused.contains("damaged"), "{refused}");
        // A snapshot from before checksums is still read.
        std::fs::write(dir.join(SNAPSHOT_FILE), &whole).unwrap();
        assert_eq!(
            read_snapshot(&dir, None).unwrap().unwrap().machine,
            file.machine
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
