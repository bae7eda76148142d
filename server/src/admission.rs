//! Caps on open connections, in total and per remote address, taken before
//! a connection is read at all: a flood of connections (or of half-sent
//! handshakes) from one address cannot use up the member's file
//! descriptors or memory, nor lock out everyone else.

use crate::sync::lock;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

pub use crate::limits::{CONNECTIONS_MAX, CONNECTIONS_PER_ADDRESS_MAX};

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
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Admitted {
    admission: Arc<Admission>,
    address: IpAddr,
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
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Admission {
            limits,
            open: Mutex::default(),
        })
    }

    /// Takes a place for a connection from `address`, if one is free.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Result<Admitted, Refusal> {
        let mut open = lock(&self.open);
        if open.total >= self.limits.total {
            return Err(Refusal::Total {
                max: self.limits.total,
            });
        }
        let from_address = open.by_address.entry(address).or_insert(0);
        if *from_address >= self.limits.per_address {
            return Err(Refusal::PerAddress {
                max: self.limits.per_address,
            });
        }
        *from_address += 1;
        open.total += 1;
        Ok(Admitted {
            admission: self.clone(),
            address,
        })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = lock(&self.admission.open);
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
        let admission = Admission::new(Limits {
            total: 3,
            per_address: 2,
        });
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
}
