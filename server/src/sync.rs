//! Mutex helper shared by the gateway, the peer network and storage.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, also when a panicked holder poisoned it. The data these
/// mutexes guard (connection and link maps, the known-peers map, the
/// snapshot writer) stays valid across a panicked holder, so one failed task
/// must not take every later user down with it. The replica is the
/// exception and has its own rule (`raft::state_machine::SharedReplica`).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
