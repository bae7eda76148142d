//! The incarnation each peer presented when this node first met it. A peer
//! whose data directory was wiped comes back with a new incarnation under its
//! old id; it is refused, because its empty log would let it vote and
//! acknowledge as if it still held entries it lost.

use super::atomic_file::write_atomically;
use super::sealed::{Checked, check, seal};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const KNOWN_PEERS_FILE: &str = "known-peers";

#[derive(Debug)]
pub struct KnownPeers {
    path: PathBuf,
    known: Mutex<BTreeMap<u64, u64>>,
}

/// Whether a peer may talk to this node.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Known,
    FirstContact,
    /// The peer's directory was replaced since this node last saw it.
    Replaced {
        remembered: u64,
    },
}

impl KnownPeers {
    pub fn open(dir: &Path) -> io::Result<Self> {
        let path = dir.join(KNOWN_PEERS_FILE);
        let invalid = |e: String| {
            let reason = format!("{}: {e}", path.display());
            io::Error::new(io::ErrorKind::InvalidData, reason)
        };
        let known = match std::fs::read(&path) {
            Ok(bytes) => {
                let checked = check(&bytes).map_err(|damage| invalid(damage.to_string()))?;
                let known =
                    raftcp_proto::decode(checked.body()).map_err(|e| invalid(e.to_string()))?;
                // Written by an earlier release: sealed now, not only when
                // a new peer first shows up.
                if let Checked::Legacy(body) = checked {
                    write_atomically(&path, &seal(body))?;
                }
                known
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok(Self {
            path,
            known: Mutex::new(known),
        })
    }

    /// Whether this node ever met another.
    pub fn knows_any(&self) -> bool {
        !crate::sync::lock(&self.known).is_empty()
    }

    /// Checks `incarnation` for `node`, remembering it (durably) on first
    /// contact.
    pub fn check(&self, node: u64, incarnation: u64) -> io::Result<Verdict> {
        let mut known = crate::sync::lock(&self.known);
        match known.get(&node) {
            Some(&remembered) if remembered == incarnation => Ok(Verdict::Known),
            Some(&remembered) => Ok(Verdict::Replaced { remembered }),
            None => {
                known.insert(node, incarnation);
                let bytes = raftcp_proto::encode(&*known)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                write_atomically(&self.path, &seal(&bytes))?;
                Ok(Verdict::FirstContact)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::atomic_file::tests::scratch_directory;

    #[test]
    fn a_peer_with_a_new_incarnation_is_refused_across_restarts() {
        let dir = scratch_directory("known-peers");
        let peers = KnownPeers::open(&dir).unwrap();
        assert_eq!(peers.check(2, 77).unwrap(), Verdict::FirstContact);
        assert_eq!(peers.check(2, 77).unwrap(), Verdict::Known);
        drop(peers);
        let reopened = KnownPeers::open(&dir).unwrap();
        assert_eq!(reopened.check(2, 77).unwrap(), Verdict::Known);
        assert_eq!(
            reopened.check(2, 78).unwrap(),
            Verdict::Replaced { remembered: 77 }
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_damaged_list_is_refused_and_an_old_one_sealed() {
        let dir = scratch_directory("known-peers-sealed");
        let path = dir.join(KNOWN_PEERS_FILE);
        let legacy = raftcp_proto::encode(&BTreeMap::from([(2u64, 77u64)])).unwrap();
        std::fs::write(&path, &legacy).unwrap();
        let peers = KnownPeers::open(&dir).unwrap();
        assert_eq!(peers.check(2, 77).unwrap(), Verdict::Known);
        assert_eq!(std::fs::read(&path).unwrap(), seal(&legacy));
        // A flipped incarnation would refuse a healthy peer as wiped.
        let mut damaged = seal(&legacy);
        let last = damaged.len() - 1;
        damaged[last - crate::storage::sealed::CHECKSUM_BYTES] ^= 1;
        std::fs::write(&path, &damaged).unwrap();
        let refused = KnownPeers::open(&dir).unwrap_err().to_string();
        assert!(refused.contains("checksum does not match"), "{refused}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
