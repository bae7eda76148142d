//! What an operator sees of the state (`raftcp admin sessions|objects`):
//! pages of sessions and objects, each with a one-line summary. Reads
//! only; the leader answers them after a ReadIndex barrier.

use super::Machine;
use super::destroy::Kind;
use super::waits::WaitTarget;
use raftcp_proto::SessionId;
use raftcp_proto::admin::{
    LISTED_PER_SESSION_MAX, OBJECTS_PAGE_MAX, ObjectInfo, ObjectKey, SESSIONS_PAGE_MAX, SessionInfo,
};
use std::ops::Bound;

impl Machine {
    /// Up to `limit` sessions after `after`, in id order.
    pub fn sessions_page(&self, after: Option<SessionId>, limit: u32) -> Vec<SessionInfo> {
        let limit = limit.min(SESSIONS_PAGE_MAX) as usize;
        let now_ms = self.now_ms;
        self.sessions
            .iter()
            .filter(|(id, _)| after.is_none_or(|after| **id > after))
            .take(limit)
            .map(|(id, session)| {
                let holds = session
                    .locks
                    .iter()
                    .map(|name| format!("lock \"{name}\""))
                    .chain(session.semaphores.iter().map(|name| {
                        let permits = self.permits_held_by(*id, name);
                        format!("semaphore \"{name}\" ×{permits}")
                    }));
                let holds = listed(holds);
                let waiting = self.waits.of_session(*id);
                let waits = waiting
                    .iter()
                    .filter_map(|key| self.waits.get(key))
                    .map(|wait| match &wait.target {
                        WaitTarget::Lock(name) => format!("lock \"{name}\""),
                        WaitTarget::Semaphore(name) => format!("semaphore \"{name}\""),
                        WaitTarget::Latch(name) => format!("latch \"{name}\""),
                    });
                let waits = listed(waits);
                SessionInfo {
                    session: *id,
                    client_name: session.client_name.clone(),
                    expires_in_ms: session.expires_at_ms.saturating_sub(now_ms),
                    holds,
                    waits,
                }
            })
            .collect()
    }

    fn permits_held_by(&self, session: SessionId, name: &str) -> u32 {
        self.objects.semaphores.get(name).map_or(0, |semaphore| {
            semaphore
                .held
                .iter()
                .filter(|(owner, _)| owner.session == session)
                .fold(0u32, |sum, (_, permits)| sum.saturating_add(*permits))
        })
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
        // Each kind's names from the cursor on, at most `limit` of each;
        // merged, then cut to `limit`.
        let start = match after {
            Some(key) if key.name.as_str() >= prefix => Bound::Included(key.name.clone()),
            _ => Bound::Included(prefix.to_owned()),
        };
        let mut page = Vec::new();
        for kind in Kind::ALL {
            let names = self.names_of(kind, (start.clone(), Bound::Unbounded));
            let keys = names
                .take_while(|name| name.starts_with(prefix))
                .map(|name| ObjectKey {
                    name: name.clone(),
                    kind: kind.as_str().to_owned(),
                })
                .filter(|key| after.is_none_or(|after| key > after))
                .take(limit);
            page.extend(keys.map(|key| self.object_info(kind, key)));
        }
        page.sort_by(|a, b| a.key.cmp(&b.key));
        page.truncate(limit);
        page
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
        let (summary, waiters) = match kind {
            Kind::Long => (format!("{}", objects.longs.get(name).unwrap_or(&0)), 0),
            Kind::Reference => {
                let value = objects.references.get(name);
                (value.map_or("null".to_owned(), |v| format!("{v:?}")), 0)
            }
            Kind::Lock => objects.locks.get(name).map_or((String::new(), 0), |lock| {
                let summary = match &lock.holder {
                    Some(holder) => format!(
                        "held by session {} ×{}, fence {}",
                        holder.owner.session.0, holder.count, holder.fence.0
                    ),
                    None => format!("free, last fence {}", lock.last_fence.0),
                };
                (summary, lock.queue.len())
            }),
            Kind::Semaphore => objects
                .semaphores
                .get(name)
                .map_or((String::new(), 0), |s| {
                    let held = s.held.values().fold(0u32, |sum, p| sum.saturating_add(*p));
                    let summary = format!("{} available, {held} held", s.available);
                    (summary, s.queue.len())
                }),
            Kind::Latch => objects
                .latches
                .get(name)
                .map_or((String::new(), 0), |latch| {
                    let summary = format!("count {}, round {}", latch.count, latch.round);
                    (summary, latch.queue.len())
                }),
        };
        let mut summary = summary;
        truncate(&mut summary, SUMMARY_BYTES_MAX);
        ObjectInfo {
            key,
            summary,
            waiters: u32::try_from(waiters).unwrap_or(u32::MAX),
        }
    }
}

/// The first [`LISTED_PER_SESSION_MAX`] items, and how many more there are.
fn listed(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut items = items.peekable();
    let mut listed: Vec<String> = items.by_ref().take(LISTED_PER_SESSION_MAX).collect();
    let more = items.count();
    if more > 0 {
        listed.push(format!("… and {more} more"));
    }
    listed
}

/// A summary longer than this is cut (a reference's value may be 256 KiB),
/// so that a page of objects always fits a frame.
const SUMMARY_BYTES_MAX: usize = 120;

fn truncate(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
}
