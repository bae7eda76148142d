//! Every named object of one group, one map per kind: the same name in two
//! kinds is two objects. Objects are created by their first mutation.

use super::latch::Latch;
use super::lock::Lock;
use super::semaphore::Semaphore;
use raftcp_proto::limits::OBJECTS_MAX;
use raftcp_proto::{OpError, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Objects {
    pub longs: BTreeMap<String, i64>,
    /// Canonical values; an absent entry is the null reference.
    pub references: BTreeMap<String, Value>,
    pub locks: BTreeMap<String, Lock>,
    pub semaphores: BTreeMap<String, Semaphore>,
    pub latches: BTreeMap<String, Latch>,
}

impl Objects {
    pub fn len(&self) -> usize {
        self.longs.len()
            + self.references.len()
            + self.locks.len()
            + self.semaphores.len()
            + self.latches.len()
    }
}

/// Finds `name` in `map`, creating it unless the group is full.
pub fn get_or_create<'a, T: Default>(
    map: &'a mut BTreeMap<String, T>,
    name: &str,
    objects_total: usize,
) -> Result<&'a mut T, OpError> {
    if !map.contains_key(name) {
        if objects_total >= OBJECTS_MAX {
            return Err(OpError::TooManyObjects {
                max: OBJECTS_MAX as u64,
            });
        }
        map.insert(name.to_owned(), T::default());
    }
    // Present: either found above or just inserted.
    map.get_mut(name).ok_or_else(|| OpError::Unavailable {
        reason: "object vanished".into(),
    })
}
