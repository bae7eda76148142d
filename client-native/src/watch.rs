//! Watch: a [`Changes`] stream of one object's changes, from its state
//! when the watch began (read linearizably). Changes arrive in log order,
//! once each; after a reconnect, or when the stream is not read fast
//! enough, steps may be summarized into one change marked
//! [`Change::jump`] (see docs/semantics.md, "Watch").

use crate::client::Object;
use crate::driver::{Command, lock};
use crate::error::{Error, Result};
use crate::runtime;
use futures_util::Stream;
use raftcp_proto::{Fence, ObjectKind, ObjectState};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use tokio::sync::mpsc;

/// Changes kept for a stream that is not being read; past it they become
/// one change marked `jump`, so an unread stream holds a bounded number
/// (for a reference, each a value of up to `VALUE_BYTES_MAX`).
pub const CHANGES_BUFFERED_MAX: usize = 1024;

/// One change of a watched object: its new state `value` at log
/// `position`.
#[derive(Clone, Debug, PartialEq)]
pub struct Change<T> {
    /// Where in the log the object reached this state; increases along
    /// the stream.
    pub position: u64,
    /// The object's state.
    pub value: T,
    /// Changes may have been skipped before this one (after a reconnect,
    /// or because the stream was read too slowly): `value` is current as
    /// of `position`, but not every step to it was shown.
    pub jump: bool,
    /// The object was destroyed here (`value` is then a fresh object's,
    /// or `ObjectState::Destroyed` from `watch_states`);
    /// a later use creates it again and the stream goes on.
    pub destroyed: bool,
}

/// What a [`crate::FencedLock`] watch shows: whether it is held, and the
/// holder's fence (never who holds it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockState {
    /// Someone holds it.
    pub held: bool,
    /// The holder's fence while held; `Fence::INVALID` while free.
    pub fence: Fence,
}

/// What a [`crate::CountDownLatch`] watch shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatchState {
    /// Count-downs still needed to open it.
    pub count: u32,
    /// How many times `try_set_count` succeeded.
    pub round: u32,
}

/// The shared queue between the client's driver and one stream.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    items: VecDeque<Result<raftcp_proto::Change>>,
    waker: Option<Waker>,
    /// The driver will add nothing more.
    ended: bool,
    /// The stream is gone.
    dropped: bool,
}

impl Queue {
    /// Adds a change (or the error that ends the watch); false when the
    /// stream is gone.
    pub(crate) fn push(&self, item: Result<raftcp_proto::Change>) -> bool {
        let mut inner = lock(&self.inner);
        if inner.dropped {
            return false;
        }
        match item {
            Ok(mut change) if inner.items.len() >= CHANGES_BUFFERED_MAX => {
                inner.items.clear();
                change.jump = true;
                inner.items.push_back(Ok(change));
            }
            item => inner.items.push_back(item),
        }
        if let Some(waker) = inner.waker.take() {
            waker.wake();
        }
        true
    }

    /// No more changes will come (the client closed, or the watch ended).
    pub(crate) fn end(&self) {
        let mut inner = lock(&self.inner);
        inner.ended = true;
        if let Some(waker) = inner.waker.take() {
            waker.wake();
        }
    }

    /// Ready once the first item is there: `Ok` for a change (left in
    /// place), the error that ended the watch, or `Closed`.
    fn poll_first(&self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let mut inner = lock(&self.inner);
        match inner.items.front() {
            Some(Ok(_)) => Poll::Ready(Ok(())),
            Some(Err(_)) => match inner.items.pop_front() {
                Some(Err(error)) => Poll::Ready(Err(error)),
                _ => Poll::Ready(Err(Error::Closed)),
            },
            None if inner.ended => Poll::Ready(Err(Error::Closed)),
            None => {
                inner.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Result<raftcp_proto::Change>>> {
        let mut inner = lock(&self.inner);
        if let Some(item) = inner.items.pop_front() {
            return Poll::Ready(Some(item));
        }
        if inner.ended {
            return Poll::Ready(None);
        }
        inner.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A stream of one object's changes, from [`crate::AtomicLong::watch`] and
/// the like. Dropping it ends the watch on the server.
pub struct Changes<T> {
    queue: Arc<Queue>,
    ticket: u64,
    commands: mpsc::UnboundedSender<Command>,
    convert: fn(ObjectState) -> Result<T>,
}

impl<T> std::fmt::Debug for Changes<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changes")
            .field("ticket", &self.ticket)
            .finish()
    }
}

impl<T> Changes<T> {
    /// Starts watching `object` as `kind`, and waits (up to the client's
    /// request timeout) for its first change: the state now.
    pub(crate) async fn start(
        object: &Object,
        kind: ObjectKind,
        convert: fn(ObjectState) -> Result<T>,
    ) -> Result<Self> {
        let queue = Arc::new(Queue::default());
        let started = object.start_watch(kind, queue.clone())?;
        let changes = Changes {
            queue,
            ticket: started.ticket,
            commands: started.commands,
            convert,
        };
        let first = std::future::poll_fn(|cx| changes.queue.poll_first(cx));
        match runtime::timeout(started.request_timeout, first).await {
            Some(Ok(())) => Ok(changes),
            Some(Err(error)) => Err(error),
            None => Err(Error::Timeout(started.request_timeout)),
        }
    }

    fn typed(&self, change: raftcp_proto::Change) -> Result<Change<T>> {
        let destroyed = change.state == ObjectState::Destroyed;
        let value = (self.convert)(change.state)?;
        Ok(Change {
            position: change.position,
            value,
            jump: change.jump,
            destroyed,
        })
    }
}

impl<T> Stream for Changes<T> {
    type Item = Result<Change<T>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.queue
            .poll_next(cx)
            .map(|item| item.map(|item| item.and_then(|change| this.typed(change))))
    }
}

impl<T> Drop for Changes<T> {
    fn drop(&mut self) {
        lock(&self.queue.inner).dropped = true;
        let _ = self.commands.send(Command::Unwatch {
            ticket: self.ticket,
        });
    }
}

/// What the client hands a new watch's stream.
#[derive(Debug)]
pub(crate) struct Started {
    pub ticket: u64,
    pub commands: mpsc::UnboundedSender<Command>,
    pub request_timeout: std::time::Duration,
}

impl Changes<ObjectState> {
    /// A watch of `object` (of `kind`) whose states are as the protocol
    /// carries them (`ObjectState::Destroyed` at a destroy): every
    /// handle's `watch_states`, for wrappers such as the npm package.
    pub(crate) async fn carried(object: &Object, kind: ObjectKind) -> Result<Self> {
        Changes::start(object, kind, Ok).await
    }
}

/// A state of the wrong kind for the watch.
pub(crate) fn mismatched(state: ObjectState) -> Error {
    Error::UnexpectedReply(format!("{state:?}"))
}
