//! The node identity file: which cluster and node id a data directory
//! belongs to.
//!
//! Raft's safety depends on a node never forgetting what it voted and
//! acknowledged. A node restarted with a wiped directory under its old id
//! would do exactly that, and openraft only catches it in debug builds. So:
//! - a new directory gets an identity file, written atomically, **before**
//!   anything else in it;
//! - a directory with an identity for another cluster or node id is refused;
//! - a directory that has Raft state but no identity file is refused (it
//!   was damaged or wiped by hand); the operator re-adds the node under a
//!   new id instead.

use super::atomic_file::write_atomically;
use super::sealed::{Checked, check, seal};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::Path;

pub const IDENTITY_FILE: &str = "identity";

/// Version of the identity file layout (postcard, fields in order).
const IDENTITY_FORMAT: u32 = 2;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeIdentity {
    pub format: u32,
    pub cluster_id: String,
    pub node_id: u64,
    /// Random, chosen when the directory is first used. Peers remember it
    /// ([`super::known_peers`]), so a node restarted on a wiped directory
    /// presents a new incarnation and is refused instead of silently
    /// rejoining with its acknowledged log missing.
    pub incarnation: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("data directory {dir} belongs to cluster \"{found}\", not \"{expected}\"")]
    WrongCluster {
        dir: String,
        found: String,
        expected: String,
    },
    #[error("data directory {dir} belongs to node {found}, not node {expected}")]
    WrongNode {
        dir: String,
        found: u64,
        expected: u64,
    },
    #[error(
        "data directory {dir} has Raft state but no identity file: it was damaged or wiped; \
         refusing to start (add the node back under a new id)"
    )]
    MissingIdentity { dir: String },
    #[error("identity file in {dir} is unreadable: {reason}")]
    Corrupt { dir: String, reason: String },
    #[error("i/o error on data directory {dir}: {source}")]
    Io { dir: String, source: io::Error },
}

/// Opens (or, for an empty directory, creates) the identity of `dir`.
/// `dir` counts as empty when it has no entries at all.
pub fn open_or_create(
    dir: &Path,
    cluster_id: &str,
    node_id: u64,
) -> Result<NodeIdentity, IdentityError> {
    let shown = dir.display().to_string();
    let io_error = |source| IdentityError::Io {
        dir: shown.clone(),
        source,
    };
    fs::create_dir_all(dir).map_err(io_error)?;
    let path = dir.join(IDENTITY_FILE);
    if !path.exists() {
        let has_state = fs::read_dir(dir).map_err(io_error)?.next().is_some();
        if has_state {
            return Err(IdentityError::MissingIdentity { dir: shown });
        }
        let identity = NodeIdentity {
            format: IDENTITY_FORMAT,
            cluster_id: cluster_id.to_owned(),
            node_id,
            incarnation: random_u64(),
        };
        let bytes = raftcp_proto::encode(&identity).map_err(|e| IdentityError::Corrupt {
            dir: shown.clone(),
            reason: e.to_string(),
        })?;
        write_atomically(&path, &seal(&bytes)).map_err(io_error)?;
        return Ok(identity);
    }
    let bytes = fs::read(&path).map_err(io_error)?;
    let corrupt = |reason: String| IdentityError::Corrupt {
        dir: shown.clone(),
        reason,
    };
    let checked = check(&bytes).map_err(|damage| corrupt(damage.to_string()))?;
    let identity: NodeIdentity =
        raftcp_proto::decode(checked.body()).map_err(|e| corrupt(e.to_string()))?;
    if identity.format != IDENTITY_FORMAT {
        let reason = format!("format {} is not {IDENTITY_FORMAT}", identity.format);
        return Err(IdentityError::Corrupt { dir: shown, reason });
    }
    if identity.cluster_id != cluster_id {
        let found = identity.cluster_id;
        return Err(IdentityError::WrongCluster {
            dir: shown,
            found,
            expected: cluster_id.into(),
        });
    }
    if identity.node_id != node_id {
        let found = identity.node_id;
        return Err(IdentityError::WrongNode {
            dir: shown,
            found,
            expected: node_id,
        });
    }
    // Written by an earlier release, which did not seal it: sealed now
    // (it is never written again).
    if let Checked::Legacy(body) = checked {
        write_atomically(&path, &seal(body)).map_err(io_error)?;
        tracing::info!("sealed the identity file in {shown} with a checksum");
    }
    Ok(identity)
}

/// A random number from the standard library's per-process hash seed and
/// the clock; enough to tell two incarnations of a directory apart.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::atomic_file::tests::scratch_directory;

    #[test]
    fn a_new_directory_gets_an_identity_that_reopens() {
        let dir = scratch_directory("identity-new");
        let created = open_or_create(&dir, "c1", 2).unwrap();
        assert_eq!(open_or_create(&dir, "c1", 2).unwrap(), created);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn another_cluster_or_node_id_is_refused() {
        let dir = scratch_directory("identity-mismatch");
        open_or_create(&dir, "c1", 2).unwrap();
        let wrong_cluster = open_or_create(&dir, "c2", 2).unwrap_err();
        assert!(
            matches!(wrong_cluster, IdentityError::WrongCluster { .. }),
            "{wrong_cluster}"
        );
        let wrong_node = open_or_create(&dir, "c1", 3).unwrap_err();
        assert_eq!(
            wrong_node.to_string(),
            format!(
                "data directory {} belongs to node 2, not node 3",
                dir.display()
            )
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn state_without_identity_is_refused() {
        let dir = scratch_directory("identity-wiped");
        fs::write(dir.join("raft-log-segment"), b"entries").unwrap();
        let error = open_or_create(&dir, "c1", 1).unwrap_err();
        assert!(
            matches!(error, IdentityError::MissingIdentity { .. }),
            "{error}"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_identity_from_an_earlier_release_is_read_and_sealed() {
        let dir = scratch_directory("identity-legacy");
        let identity = NodeIdentity {
            format: IDENTITY_FORMAT,
            cluster_id: "c1".into(),
            node_id: 1,
            incarnation: 7,
        };
        let legacy = raftcp_proto::encode(&identity).unwrap();
        fs::write(dir.join(IDENTITY_FILE), &legacy).unwrap();
        assert_eq!(open_or_create(&dir, "c1", 1).unwrap(), identity);
        let now = fs::read(dir.join(IDENTITY_FILE)).unwrap();
        assert_eq!(now, seal(&legacy));
        assert_eq!(open_or_create(&dir, "c1", 1).unwrap(), identity);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_corrupt_identity_is_refused() {
        let dir = scratch_directory("identity-corrupt");
        fs::write(dir.join(IDENTITY_FILE), [0xff, 0xff, 0xff]).unwrap();
        let error = open_or_create(&dir, "c1", 1).unwrap_err();
        assert!(matches!(error, IdentityError::Corrupt { .. }), "{error}");
        fs::remove_dir_all(&dir).unwrap();
        // A flipped bit that still decodes (another incarnation, which
        // peers would take for a wiped member) is caught by the checksum,
        // whichever byte it is in.
        let dir = scratch_directory("identity-flipped");
        open_or_create(&dir, "c1", 1).unwrap();
        let written = fs::read(dir.join(IDENTITY_FILE)).unwrap();
        for byte in 0..written.len() {
            let mut flipped = written.clone();
            flipped[byte] ^= 0x02;
            fs::write(dir.join(IDENTITY_FILE), &flipped).unwrap();
            let error = open_or_create(&dir, "c1", 1).unwrap_err();
            assert!(matches!(error, IdentityError::Corrupt { .. }), "{error}");
        }
        fs::remove_dir_all(dir).unwrap();
    }
}
