//! [`Client`]: connects to the cluster and hands out primitive handles.

use crate::driver::{self, Command};
use crate::error::{Error, Result};
use crate::primitives::{AtomicLong, AtomicReference, CountDownLatch, FencedLock, Semaphore};
use crate::transport::native::TokioTransport;
use raftcp_proto::{GroupName, HandleId, Op, OpError, Reply};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use tokio::sync::{mpsc, oneshot};

/// A connection to a raftcp cluster with one session. Cheap to clone; every
/// clone and handle shares the session. Handles need no round trip to create.
#[derive(Clone, Debug)]
pub struct Client {
    shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    commands: mpsc::UnboundedSender<Command>,
    next_ticket: AtomicU64,
    next_handle: AtomicU64,
}

impl Client {
    /// Connects to the cluster through any of `endpoints`
    /// (`ws://host:port` or `ws://host:port/v1/client`) and opens a session.
    /// Calls made before the session is ready wait for it.
    pub async fn connect<I, S>(endpoints: I) -> Result<Client>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let endpoints: Vec<String> = endpoints
            .into_iter()
            .map(|e| client_url(e.as_ref()))
            .collect();
        if endpoints.is_empty() {
            return Err(Error::Config("no endpoints given".into()));
        }
        let (commands, inbox) = mpsc::unbounded_channel();
        let name = format!("rust-{}", std::process::id());
        tokio::spawn(driver::run(TokioTransport, endpoints, name, inbox));
        Ok(Client {
            shared: Arc::new(Shared {
                commands,
                next_ticket: AtomicU64::new(1),
                next_handle: AtomicU64::new(1),
            }),
        })
    }

    pub fn get_atomic_long(&self, name: &str) -> AtomicLong {
        AtomicLong::new(self.object(name))
    }

    pub fn get_atomic_reference<T>(&self, name: &str) -> AtomicReference<T> {
        AtomicReference::new(self.object(name))
    }

    /// A lock handle: reentrant with itself, exclusive with every other handle.
    pub fn get_fenced_lock(&self, name: &str) -> FencedLock {
        FencedLock::new(self.object(name), self.new_handle(), 0)
    }

    /// A lock handle that a holder may acquire at most `limit` times at once
    /// (`1` makes it non-reentrant).
    pub fn get_fenced_lock_with_limit(&self, name: &str, limit: u32) -> FencedLock {
        FencedLock::new(self.object(name), self.new_handle(), limit)
    }

    pub fn get_semaphore(&self, name: &str) -> Semaphore {
        Semaphore::new(self.object(name), self.new_handle())
    }

    pub fn get_count_down_latch(&self, name: &str) -> CountDownLatch {
        CountDownLatch::new(self.object(name))
    }

    /// Ends the session: locks and session-aware permits it holds are
    /// released, pending calls fail with [`Error::Closed`].
    pub async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.shared.commands.send(Command::Close { done }).is_ok() {
            let _ = closed.await;
        }
    }

    fn object(&self, full_name: &str) -> Object {
        let target = raftcp_proto::name::split_group(full_name)
            .map(|(name, group)| (name.to_owned(), GroupName(group.to_owned())));
        Object {
            client: self.clone(),
            target,
        }
    }

    fn new_handle(&self) -> HandleId {
        HandleId(self.shared.next_handle.fetch_add(1, Ordering::Relaxed))
    }
}

/// `host:port` and `ws://host:port` both mean that member's client endpoint.
fn client_url(endpoint: &str) -> String {
    let with_scheme = if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("ws://{endpoint}")
    };
    let after_scheme = with_scheme.split_once("://").map_or("", |(_, rest)| rest);
    if after_scheme.contains('/') {
        with_scheme
    } else {
        format!("{with_scheme}/v1/client")
    }
}

/// A named object in a group, as a handle sees it.
#[derive(Clone, Debug)]
pub(crate) struct Object {
    client: Client,
    /// The validated name and group, or why the name is invalid.
    target: Result<(String, GroupName), OpError>,
}

impl Object {
    pub(crate) fn name(&self) -> &str {
        self.target.as_ref().map_or("", |(name, _)| name.as_str())
    }

    /// Sends the op built for this object's name and waits for the answer.
    /// Dropping the returned future cancels a waiting op on the server.
    pub(crate) fn call(&self, build: impl FnOnce(String) -> Op) -> Call {
        let (name, group) = match &self.target {
            Ok(target) => target.clone(),
            Err(e) => return Call::failed(Error::Server(e.clone())),
        };
        let shared = &self.client.shared;
        let ticket = shared.next_ticket.fetch_add(1, Ordering::Relaxed);
        let (answer, receiver) = oneshot::channel();
        let command = Command::Submit {
            ticket,
            group,
            op: build(name),
            answer,
        };
        if shared.commands.send(command).is_err() {
            return Call::failed(Error::Closed);
        }
        Call {
            receiver: Some(receiver),
            ticket,
            commands: Some(shared.commands.clone()),
            early: None,
        }
    }
}

/// A call in flight. If dropped before it finishes, the server is told to
/// cancel it (a queued lock, acquire or await leaves its queue).
#[derive(Debug)]
pub(crate) struct Call {
    receiver: Option<oneshot::Receiver<Result<Reply, Error>>>,
    ticket: u64,
    commands: Option<mpsc::UnboundedSender<Command>>,
    early: Option<Error>,
}

impl Call {
    fn failed(error: Error) -> Self {
        Call {
            receiver: None,
            ticket: 0,
            commands: None,
            early: Some(error),
        }
    }
}

impl Future for Call {
    type Output = Result<Reply, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(error) = self.early.take() {
            return Poll::Ready(Err(error));
        }
        let Some(receiver) = self.receiver.as_mut() else {
            return Poll::Ready(Err(Error::Closed));
        };
        let result = match Pin::new(receiver).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(result)) => result,
            Poll::Ready(Err(_)) => Err(Error::Closed),
        };
        self.receiver = None;
        Poll::Ready(result)
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if self.receiver.is_some()
            && let Some(commands) = &self.commands
        {
            let _ = commands.send(Command::Cancel {
                ticket: self.ticket,
            });
        }
    }
}

/// The reply shape did not match the call.
pub(crate) fn unexpected(reply: Reply) -> Error {
    Error::UnexpectedReply(format!("{reply:?}"))
}
