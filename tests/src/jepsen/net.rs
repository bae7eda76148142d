//! The network of a fault run: a [`FaultyLink`] on every peer link (one per
//! ordered pair: member `from` dials member `to` through it) and on every
//! client link (one per client process and member).

use crate::proxy::FaultyLink;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;

#[derive(Debug)]
pub struct Net {
    members: BTreeMap<u64, SocketAddr>,
    peers: BTreeMap<(u64, u64), FaultyLink>,
    clients: Mutex<BTreeMap<(usize, u64), FaultyLink>>,
}

impl Net {
    /// Proxies for every ordered pair of `members` (id → real address).
    pub fn start(runtime: &tokio::runtime::Handle, members: &BTreeMap<u64, String>) -> Net {
        let members: BTreeMap<u64, SocketAddr> = members
            .iter()
            .map(|(id, addr)| (*id, addr.parse().expect("member address")))
            .collect();
        let mut peers = BTreeMap::new();
        for from in members.keys() {
            for (to, addr) in &members {
                if from != to {
                    let link = runtime
                        .block_on(FaultyLink::start(*addr))
                        .expect("peer proxy");
                    peers.insert((*from, *to), link);
                }
            }
        }
        Net {
            members,
            peers,
            clients: Mutex::default(),
        }
    }

    /// Where member `from` dials each peer.
    pub fn routes_of(&self, from: u64) -> BTreeMap<u64, String> {
        self.peers
            .iter()
            .filter(|((f, _), _)| *f == from)
            .map(|((_, to), link)| (*to, link.addr.to_string()))
            .collect()
    }

    /// Client URLs for `process`, through its own proxies, starting with
    /// the member `process` prefers (so clients spread over members).
    pub async fn client_urls(&self, process: usize) -> Vec<String> {
        let ids: Vec<u64> = self.members.keys().copied().collect();
        let mut urls = Vec::new();
        for k in 0..ids.len() {
            let member = ids[(process + k) % ids.len()];
            let known = self.clients().get(&(process, member)).map(|link| link.addr);
            let addr = match known {
                Some(addr) => addr,
                None => {
                    let link = FaultyLink::start(self.members[&member])
                        .await
                        .expect("client proxy");
                    let addr = link.addr;
                    self.clients().insert((process, member), link);
                    addr
                }
            };
            urls.push(format!("ws://{addr}/v1/client"));
        }
        urls
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, BTreeMap<(usize, u64), FaultyLink>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Members in `a` and members in `b` stop hearing each other.
    pub fn partition(&self, a: &[u64], b: &[u64]) {
        for x in a {
            for y in b {
                self.drop_messages(*x, *y);
                self.drop_messages(*y, *x);
            }
        }
    }

    /// Messages from `from` to `to` are lost; the other way still works.
    pub fn drop_messages(&self, from: u64, to: u64) {
        if let Some(link) = self.peers.get(&(from, to)) {
            link.block(true, false);
        }
        if let Some(link) = self.peers.get(&(to, from)) {
            link.block(false, true);
        }
    }

    /// Replies from `member` to its clients are lost (requests still arrive
    /// and are applied): every client must resend elsewhere.
    pub fn drop_replies_to_clients(&self, member: u64) {
        let clients = self.clients();
        for ((_, m), link) in clients.iter() {
            if *m == member {
                link.block(false, true);
            }
        }
    }

    /// Cuts every link of client `process`, both ways.
    pub fn isolate_client(&self, process: usize) {
        let clients = self.clients();
        for ((p, _), link) in clients.iter() {
            if *p == process {
                link.block(true, true);
            }
        }
    }

    /// Restores client `process`'s links.
    pub fn heal_client(&self, process: usize) {
        let clients = self.clients();
        for ((p, _), link) in clients.iter() {
            if *p == process {
                link.heal();
            }
        }
    }

    /// Every peer link heals.
    pub fn heal_members(&self) {
        for link in self.peers.values() {
            if link.is_blocked() {
                link.heal();
            }
        }
    }

    /// Heals client links to `member` that the nemesis cut.
    pub fn heal_clients_of(&self, member: u64) {
        let clients = self.clients();
        for ((_, m), link) in clients.iter() {
            if *m == member && link.is_blocked() {
                link.heal();
            }
        }
    }
}
