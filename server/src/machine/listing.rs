//! What an operator sees of the state (`raftcp admin sessions|objects`):
//! pages of sessions and objects, each with a one-line summary. Reads
//! only; the leader answers them after a ReadIndex barrier, holding its
//! replica, so a page costs work in proportion to the page, not to the
//! state: ranges start at the cursor, and summaries are built for the
//! page's items only, cut at their limit while they are formatted.

use super::Machine;
use super::destroy::Kind;
use super::owner::Owner;
use super::waits::WaitTarget;
use raftcp_proto::admin::{
    LISTED_PER_SESSION_MAX, OBJECTS_PAGE_MAX, ObjectInfo, ObjectKey, SESSIONS_PAGE_MAX,
    SUMMARY_BYTES_MAX, SessionInfo,
};
use raftcp_proto::{HandleId, SessionId};
use std::fmt::Write;
use std::ops::Bound;

impl Machine {
    /// Up to `limit` sessions after `after`, in id order.
    pub fn sessions_page(&self, after: Option<SessionId>, limit: u32) -> Vec<SessionInfo> {
        let limit = limit.min(SESSIONS_PAGE_MAX) as usize;
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.sessions
            .range((start, Bound::Unbounded))
            .take(limit)
            .map(|(id, session)| {
                let locks = session.locks.iter().map(|name| format!("lock \"{name}\""));
                let semaphores = session.semaphores.iter().map(|name| {
                    let permits = self.permits_held_by(*id, name);
                    format!("semaphore \"{name}\" ×{permits}")
                });
                let held = session.locks.len() + session.semaphores.len();
                let waiting = self.waits.of_session(*id);
                let waits = waiting.iter().filter_map(|key| self.waits.get(key));
                let waits = waits.map(|wait| match &wait.target {
                    WaitTarget::Lock(name) => format!("lock \"{name}\""),
                    WaitTarget::Semaphore(name) => format!("semaphore \"{name}\""),
                    WaitTarget::Latch(name) => format!("latch \"{name}\""),
                });
                SessionInfo {
                    session: *id,
                    client_name: session.client_name.clone(),
                    expires_in_ms: session.expires_at_ms.saturating_sub(self.now_ms),
                    holds: listed(locks.chain(semaphores), held),
                    waits: listed(waits, waiting.len()),
                }
            })
            .collect()
    }

    /// The permits `session`'s handles hold of semaphore `name`.
    fn permits_held_by(&self, session: SessionId, name: &str) -> u32 {
        let Some(semaphore) = self.objects.semaphores.get(name) else {
            return 0;
        };
        let first = Owner {
            session,
            handle: HandleId(0),
        };
        let last = Owner {
            session,
            handle: HandleId(u64::MAX),
        };
        semaphore
            .held
            .range(first..=last)
            .fold(0u32, |sum, (_, permits)| sum.saturating_add(*permits))
    }

    /// Up to `limit` objects whose name starts with `prefix`, after
    /// `after`, ordered by name and then kind.
    pub fn objects_page(
        &self,
        prefix: &str,
        after: Option<&ObjectKey>,
        limit: u32,
    ) -> Vec<ObjectInfo> {
        let limit = limit.min(OBJECTS_PAGE_MAX) as usize;
        let start = match after {
            Some(key) if key.name.as_str() >= prefix => key.name.clone(),
            _ => prefix.to_owned(),
        };
        // Each kind's next names (at most `limit` of each), merged; then
        // summaries for the page only.
        let mut keys: Vec<(ObjectKey, Kind)> = Vec::new();
        for kind in Kind::ALL {
            let names = self.names_of(kind, (Bound::Included(start.clone()), Bound::Unbounded));
            let page = names
                .take_while(|name| name.starts_with(prefix))
                .map(|name| ObjectKey {
                    name: name.clone(),
                    kind: kind.as_str().to_owned(),
                })
                .filter(|key| after.is_none_or(|after| key > after))
                .take(limit);
            keys.extend(page.map(|key| (key, kind)));
        }
        keys.sort();
        keys.truncate(limit);
        keys.into_iter()
            .map(|(key, kind)| self.object_info(kind, key))
            .collect()
    }

    fn names_of(
        &self,
        kind: Kind,
        range: (Bound<String>, Bound<String>),
    ) -> Box<dyn Iterator<Item = &String> + '_> {
        let objects = &self.objects;
        match kind {
            Kind::Long => Box::new(objects.longs.range(range).map(|(name, _)| name)),
            Kind::Reference => Box::new(objects.references.range(range).map(|(name, _)| name)),
            Kind::Lock => Box::new(objects.locks.range(range).map(|(name, _)| name)),
            Kind::Semaphore => Box::new(objects.semaphores.range(range).map(|(name, _)| name)),
            Kind::Latch => Box::new(objects.latches.range(range).map(|(name, _)| name)),
        }
    }

    fn object_info(&self, kind: Kind, key: ObjectKey) -> ObjectInfo {
        let objects = &self.objects;
        let name = key.name.as_str();
        let mut summary = Summary::default();
        let waiters = match kind {
            Kind::Long => {
                let _ = write!(summary, "{}", objects.longs.get(name).unwrap_or(&0));
                0
            }
            Kind::Reference => {
                let _ = match objects.references.get(name) {
                    Some(value) => write!(summary, "{value:?}"),
                    None => write!(summary, "null"),
                };
                0
            }
            Kind::Lock => objects.locks.get(name).map_or(0, |lock| {
                let _ = match &lock.holder {
                    Some(holder) => write!(
                        summary,
                        "held by session {} ×{}, fence {}",
                        holder.owner.session.0, holder.count, holder.fence.0
                    ),
                    None => write!(summary, "free, last fence {}", lock.last_fence.0),
                };
                lock.queue.len()
            }),
            Kind::Semaphore => objects.semaphores.get(name).map_or(0, |semaphore| {
                let held = semaphore.held.values();
                let held = held.fold(0u32, |sum, permits| sum.saturating_add(*permits));
                let available = semaphore.available;
                let _ = write!(summary, "{available} available, {held} held");
                semaphore.queue.len()
            }),
            Kind::Latch => objects.latches.get(name).map_or(0, |latch| {
                let _ = write!(summary, "count {}, round {}", latch.count, latch.round);
                latch.queue.len()
            }),
        };
        ObjectInfo {
            key,
            summary: summary.text,
            waiters: u32::try_from(waiters).unwrap_or(u32::MAX),
        }
    }
}

/// The first [`LISTED_PER_SESSION_MAX`] of `items` (of `total`), and how
/// many more there are; only those listed are formatted.
fn listed(items: impl Iterator<Item = String>, total: usize) -> Vec<String> {
    let mut listed: Vec<String> = items.take(LISTED_PER_SESSION_MAX).collect();
    let more = total.saturating_sub(listed.len());
    if more > 0 {
        listed.push(format!("… and {more} more"));
    }
    listed
}

/// A summary being written, cut at [`SUMMARY_BYTES_MAX`]: formatting stops
/// there (a reference's value may be 256 KiB).
#[derive(Default)]
struct Summary {
    text: String,
}

impl Write for Summary {
    fn write_str(&mut self, piece: &str) -> std::fmt::Result {
        let room = SUMMARY_BYTES_MAX.saturating_sub(self.text.len());
        if piece.len() <= room {
            self.text.push_str(piece);
            return Ok(());
        }
        let mut end = room;
        while !piece.is_char_boundary(end) {
            end -= 1;
        }
        self.text.push_str(&piece[..end]);
        self.text.push('…');
        Err(std::fmt::Error) // Stops the formatting.
    }
}
