//! [`Client`]: connects to the cluster and hands out primitive handles.

use crate::driver::{self, Command, ConnectError, Tokens, lock};
use crate::engine::Payload;
use crate::error::{Error, Result};
use crate::one_shots;
use crate::primitives::{
    AtomicLong, AtomicReference, CountDownLatch, FencedLock, Semaphore, ValueReference,
};
use crate::runtime::{self, Sleep};
use crate::transport::Transport;
use raftcp_proto::{AdminOp, GroupName, HandleId, ObjectKind, Op, OpError, Reply};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
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
    /// Calls that need no session, when they go over HTTP.
    one_shots: Option<OneShotPath>,
    next_ticket: AtomicU64,
    next_handle: AtomicU64,
    request_timeout: Duration,
    /// Sessions lost so far (the driver counts them).
    sessions_lost: Arc<AtomicU64>,
    /// Why the last connection failed, while the client has no session.
    connect_error: ConnectError,
}

impl Client {
    /// Connects to the cluster through any of `endpoints`
    /// (`ws://host:port` or `ws://host:port/v1/client`) with default
    /// settings; see [`Client::builder`] for the others.
    pub async fn connect<I, S>(endpoints: I) -> Result<Client>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Client::builder().endpoints(endpoints).connect().await
    }

    pub(crate) fn start<T: Transport>(transport: T, settings: StartSettings) -> Client {
        let StartSettings {
            endpoints,
            name,
            request_timeout,
            follow_leader,
            tokens,
            session_less_over_http,
        } = settings;
        let (commands, inbox) = mpsc::unbounded_channel();
        let sessions_lost = Arc::new(AtomicU64::new(0));
        let connect_error = ConnectError::default();
        let one_shots = session_less_over_http.then(|| {
            let (requests, inbox) = mpsc::unbounded_channel();
            let failure = ConnectError::default();
            let settings = one_shots::Settings {
                endpoints: endpoints.clone(),
                tokens: tokens.clone(),
                failure: failure.clone(),
            };
            runtime::spawn(one_shots::run(transport.clone(), settings, inbox));
            OneShotPath { requests, failure }
        });
        let settings = driver::Settings {
            endpoints,
            client_name: name,
            follow_leader,
            tokens,
            connect_on_first_use: session_less_over_http,
        };
        let state = driver::SharedState {
            sessions_lost: sessions_lost.clone(),
            connect_error: connect_error.clone(),
        };
        let driver = driver::run(transport, settings, inbox, state);
        runtime::spawn(driver);
        Client {
            shared: Arc::new(Shared {
                commands,
                one_shots,
                next_ticket: AtomicU64::new(1),
                next_handle: AtomicU64::new(1),
                request_timeout,
                sessions_lost,
                connect_error,
            }),
        }
    }

    /// A handle to the AtomicLong `name` (`name@group` picks a group). No round trip; the object is created on first use.
    pub fn get_atomic_long(&self, name: &str) -> AtomicLong {
        AtomicLong::new(self.object(name))
    }

    /// A handle to the AtomicReference `name`, holding values of type `T` (any serde type).
    pub fn get_atomic_reference<T>(&self, name: &str) -> AtomicReference<T> {
        AtomicReference::new(self.object(name))
    }

    /// The AtomicReference `name` read and written as raw canonical
    /// [`raftcp_proto::Value`]s (the JavaScript package's view of it).
    pub fn get_value_reference(&self, name: &str) -> ValueReference {
        ValueReference::new(self.object(name))
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

    /// A handle to the Semaphore `name`; permits it acquires are held by this handle.
    pub fn get_semaphore(&self, name: &str) -> Semaphore {
        Semaphore::new(self.object(name), self.new_handle())
    }

    /// A handle to the CountDownLatch `name`.
    pub fn get_count_down_latch(&self, name: &str) -> CountDownLatch {
        CountDownLatch::new(self.object(name))
    }

    /// How many of this client's sessions have ended under it (expired
    /// while it was cut off or paused, or unknown when it resumed). Each
    /// loss released the locks and session-aware permits the session held;
    /// the client carries on in a new session. Zero for a client that kept
    /// in touch with the cluster.
    pub fn sessions_lost(&self) -> u64 {
        self.shared.sessions_lost.load(Ordering::Acquire)
    }

    /// Ends the session: locks and session-aware permits it holds are
    /// released, pending calls fail with [`Error::Closed`].
    pub async fn close(&self) {
        if let Some(path) = &self.shared.one_shots {
            let _ = path.requests.send(one_shots::Request::Close);
        }
        let (done, closed) = oneshot::channel();
        if self.shared.commands.send(Command::Close { done }).is_ok() {
            let _ = closed.await;
        }
    }

    /// Sends an admin operation and waits for its answer.
    pub(crate) fn admin_call(&self, op: AdminOp) -> Call {
        let shared = &self.shared;
        let ticket = shared.next_ticket.fetch_add(1, Ordering::Relaxed);
        let (answer, receiver) = oneshot::channel();
        let command = Command::Submit {
            ticket,
            payload: Payload::Admin(op),
            answer,
        };
        if shared.commands.send(command).is_err() {
            return Call::failed(Error::Closed);
        }
        let limit = shared.request_timeout;
        Call {
            receiver: Some(receiver),
            ticket,
            commands: None,
            early: None,
            deadline: Some(runtime::sleep(limit)),
            limit: Some(limit),
            connect_error: Some(shared.connect_error.clone()),
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

/// How [`Client::start`] sets the client up, from the builder.
pub(crate) struct StartSettings {
    pub endpoints: Vec<String>,
    pub name: String,
    pub request_timeout: Duration,
    pub follow_leader: bool,
    pub tokens: Tokens,
    /// Calls that need no session go over HTTP, and the WebSocket session
    /// is opened for the first call that needs one.
    pub session_less_over_http: bool,
}

/// The HTTP path for calls that need no session ([`one_shots`]).
#[derive(Debug)]
struct OneShotPath {
    requests: mpsc::UnboundedSender<one_shots::Request>,
    failure: ConnectError,
}

impl OneShotPath {
    fn call(&self, group: GroupName, op: Op, limit: Duration) -> Call {
        let (answer, receiver) = oneshot::channel();
        let request = one_shots::Request::Call { group, op, answer };
        if self.requests.send(request).is_err() {
            return Call::failed(Error::Closed);
        }
        Call {
            receiver: Some(receiver),
            ticket: 0,
            // Nothing waits on a member: nothing to cancel.
            commands: None,
            early: None,
            deadline: Some(runtime::sleep(limit)),
            limit: Some(limit),
            connect_error: Some(self.failure.clone()),
        }
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
    /// How many sessions this client has lost; a change since a handle
    /// took something means the handle no longer holds it.
    pub(crate) fn sessions_lost(&self) -> u64 {
        self.client.sessions_lost()
    }

    pub(crate) fn name(&self) -> &str {
        self.target.as_ref().map_or("", |(name, _)| name.as_str())
    }

    /// Asks the driver to watch this object as `kind`, its changes going
    /// to `queue`.
    pub(crate) fn start_watch(
        &self,
        kind: ObjectKind,
        queue: Arc<crate::watch::Queue>,
    ) -> Result<crate::watch::Started> {
        let (name, group) = self.target.clone().map_err(Error::Server)?;
        let shared = &self.client.shared;
        let ticket = shared.next_ticket.fetch_add(1, Ordering::Relaxed);
        let command = Command::Watch {
            ticket,
            group,
            kind,
            name,
            queue,
        };
        shared.commands.send(command).map_err(|_| Error::Closed)?;
        Ok(crate::watch::Started {
            ticket,
            commands: shared.commands.clone(),
            request_timeout: shared.request_timeout,
        })
    }

    /// Sends the op built for this object's name and waits for the answer.
    /// Dropping the returned future cancels a waiting op on the server.
    pub(crate) fn call(&self, build: impl FnOnce(String) -> Op) -> Call {
        let (name, group) = match &self.target {
            Ok(target) => target.clone(),
            Err(e) => return Call::failed(Error::Server(e.clone())),
        };
        let shared = &self.client.shared;
        let op = build(name);
        if let Some(path) = &shared.one_shots
            && !op.needs_session()
        {
            return path.call(group, op, shared.request_timeout);
        }
        let ticket = shared.next_ticket.fetch_add(1, Ordering::Relaxed);
        let (answer, receiver) = oneshot::channel();
        let wait = WaitKind::of(&op);
        // Only a queued waiter has anything to cancel on the server.
        let cancellable = op.may_wait();
        let command = Command::Submit {
            ticket,
            payload: Payload::Op { group, op },
            answer,
        };
        let limit = time_limit(&wait, shared.request_timeout);
        if shared.commands.send(command).is_err() {
            return Call::failed(Error::Closed);
        }
        Call {
            receiver: Some(receiver),
            ticket,
            commands: cancellable.then(|| shared.commands.clone()),
            early: None,
            deadline: limit.map(runtime::sleep),
            limit,
            connect_error: Some(shared.connect_error.clone()),
        }
    }
}

/// A call in flight. If dropped before it finishes, the server is told to
/// cancel it (a queued lock, acquire or await leaves its queue).
#[derive(Debug)]
pub(crate) struct Call {
    receiver: Option<oneshot::Receiver<Result<Reply, Error>>>,
    ticket: u64,
    /// Where to send the cancel if dropped early; `None` for calls that
    /// cannot wait on the server.
    commands: Option<mpsc::UnboundedSender<Command>>,
    early: Option<Error>,
    /// Fires when the call has taken too long; `None` for unbounded waits.
    deadline: Option<Sleep>,
    limit: Option<Duration>,
    connect_error: Option<ConnectError>,
}

impl Call {
    fn failed(error: Error) -> Self {
        Call {
            receiver: None,
            ticket: 0,
            commands: None,
            early: Some(error),
            deadline: None,
            limit: None,
            connect_error: None,
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
            Poll::Pending => {
                let expired = self
                    .deadline
                    .as_mut()
                    .is_some_and(|deadline| Pin::new(deadline).poll(cx).is_ready());
                if !expired {
                    return Poll::Pending;
                }
                // Dropping the call (by the caller) cancels it on the server.
                let limit = self.limit.unwrap_or_default();
                let unreachable = self.connect_error.as_ref().and_then(|e| lock(e).clone());
                match unreachable {
                    Some(reason) => Err(Error::Unreachable { limit, reason }),
                    None => Err(Error::Timeout(limit)),
                }
            }
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

/// Whether an operation waits by design, and for how long.
#[derive(Clone, Copy, Debug)]
enum WaitKind {
    /// Answers at once.
    Immediate,
    /// Waits up to its own timeout.
    Bounded(u64),
    /// Waits until granted (`lock()`, `acquire()`, `await_latch()`).
    Unbounded,
}

impl WaitKind {
    fn of(op: &Op) -> WaitKind {
        match op.wait_timeout_ms() {
            None => WaitKind::Immediate,
            Some(timeout) => timeout.map_or(WaitKind::Unbounded, WaitKind::Bounded),
        }
    }
}

/// How long a call may take in all: the request timeout, plus the wait the
/// operation asked for; unbounded waits are not limited.
fn time_limit(wait: &WaitKind, request_timeout: Duration) -> Option<Duration> {
    match wait {
        WaitKind::Immediate => Some(request_timeout),
        WaitKind::Bounded(ms) => Some(request_timeout + Duration::from_millis(*ms)),
        WaitKind::Unbounded => None,
    }
}

/// The reply shape did not match the call.
pub(crate) fn unexpected(reply: Reply) -> Error {
    Error::UnexpectedReply(format!("{reply:?}"))
}
