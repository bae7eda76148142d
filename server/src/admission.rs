//! Caps on open connections, in total and per remote address, taken before
//! a connection is read at all: a flood of connections (or of half-sent
//! handshakes) from one address cannot use up the member's file
//! descriptors or memory, nor lock out everyone else.
//!
//! Peers keep a reserve: when the caps are reached, a connection from the
//! address of another member still gets one of [`PEER_CONNECTIONS_RESERVED`]
//! places, which it may use only for the peer link (`/v1/raft`, see
//! `http`). However many clients connect, the members still reach each
//! other, so the cluster keeps a leader and stays able to commit.

use crate::sync::lock;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

pub use crate::limits::{CONNECTIONS_MAX, CONNECTIONS_PER_ADDRESS_MAX, PEER_CONNECTIONS_RESERVED};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub total: usize,
    pub per_address: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            total: CONNECTIONS_MAX,
            per_address: CONNECTIONS_PER_ADDRESS_MAX,
        }
    }
}

/// Open connections, counted.
#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    /// Where the other members connect from.
    peer_addresses: HashSet<IpAddr>,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
    /// Places taken from the peers' reserve (not counted above).
    reserved: usize,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Admitted {
    admission: Arc<Admission>,
    address: IpAddr,
    reserved: bool,
}

impl Admitted {
    /// Whether the place is from the peers' reserve: then the connection
    /// may only be a peer link.
    pub fn is_reserved_for_peers(&self) -> bool {
        self.reserved
    }
}

/// Why a connection was turned away.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the member has {max} connections open (the limit)")]
    Total { max: usize },
    #[error("{max} connections from this address are open (the limit)")]
    PerAddress { max: usize },
}

impl Admission {
    /// Counts connections under `limits`, keeping a reserve for
    /// connections from `peer_addresses`.
    pub fn new(limits: Limits, peer_addresses: HashSet<IpAddr>) -> Arc<Self> {
        Arc::new(Admission {
            limits,
            peer_addresses,
            open: Mutex::default(),
        })
    }

    /// Takes a place for a connection from `address`, if one is free.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Admitted, Refusal> {
        let mut open = lock(&self.open);
        let from_address = open.by_address.get(&address).copied().unwrap_or(0);
        let refusal = if open.total >= self.limits.total {
            Some(Refusal::Total {
                max: self.limits.total,
            })
        } else if from_address >= self.limits.per_address {
            Some(Refusal::PerAddress {
                max: self.limits.per_address,
            })
        } else {
            None
        };
        let reserved = match refusal {
            None => false,
            Some(_)
                if self.peer_addresses.contains(&address)
                    && open.reserved < PEER_CONNECTIONS_RESERVED =>
            {
                true
            }
            Some(refusal) => return Err(refusal),
        };
        if reserved {
            open.reserved += 1;
        } else {
            open.total += 1;
            *open.by_address.entry(address).or_insert(0) += 1;
        }
        Ok(Admitted {
            admission: self.clone(),
            address,
            reserved,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = lock(&self.admission.open);
        if self.reserved {
            open.reserved -= 1;
            return;
        }
        open.total -= 1;
        if let Some(count) = open.by_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.by_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn places_are_capped_per_address_and_in_total_and_freed_on_drop() {
        let admission = Admission::new(
            Limits {
                total: 3,
                per_address: 2,
            },
            HashSet::new(),
        );
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let first = admission.admit(a).expect("free");
        let _second = admission.admit(a).expect("free");
        assert_eq!(
            admission.admit(a).unwrap_err(),
            Refusal::PerAddress { max: 2 }
        );
        let _third = admission.admit(b).expect("free");
        assert_eq!(admission.admit(b).unwrap_err(), Refusal::Total { max: 3 });
        drop(first);
        assert!(admission.admit(a).is_ok());
    }

    #[test]
    fn members_keep_a_reserve_past_the_caps() {
        let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
        let client = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let limits = Limits {
            total: 1,
            per_address: 1,
        };
        let admission = Admission::new(limits, HashSet::from([peer]));
        let _client = admission.admit(client).expect("free");
        let reserved: Vec<_> = (0..PEER_CONNECTIONS_RESERVED)
            .map(|_| admission.admit(peer).expect("reserved for peers"))
            .collect();
        assert!(reserved.iter().all(Admitted::is_reserved_for_peers));
        assert_eq!(
            admission.admit(peer).unwrap_err(),
            Refusal::Total { max: 1 }
        );
        assert_eq!(
            admission.admit(client).unwrap_err(),
            Refusal::Total { max: 1 }
        );
        drop(reserved);
        // Freed reserve places do not count against the caps.
        assert!(admission.admit(peer).unwrap().is_reserved_for_peers());
    }
}
