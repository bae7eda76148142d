//! Runs the [`Engine`] over a [`Transport`]: connects (rotating through the
//! endpoints, following redirects, backing off with jitter), feeds frames
//! both ways, heartbeats when idle, and hands each final answer to its
//! caller. All retry and session logic lives in the engine.

use crate::engine::{Engine, EngineEvent, Payload};
use crate::error::Error;
use crate::runtime::{self, TokenProvider, jitter, now_ms};
use crate::transport::{Link, Transport};
use crate::watch::Queue;
use raftcp_proto::{ClientFrame, GroupName, ObjectKind, Reply, RequestId, ServerFrame, WatchId};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Where the client's token comes from.
#[derive(Clone, Default)]
pub(crate) enum Tokens {
    /// Anonymous: the cluster takes clients without tokens.
    #[default]
    None,
    Fixed(String),
    Provider(TokenProvider),
}

/// Never shows a token.
impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tokens::None => "None",
            Tokens::Fixed(_) => "Fixed(..)",
            Tokens::Provider(_) => "Provider(..)",
        })
    }
}

/// The driver's last connection failure, cleared once a session is ready:
/// what a call that times out meanwhile reports.
pub(crate) type ConnectError = Arc<std::sync::Mutex<Option<String>>>;

/// Locks `mutex`, also after a panic elsewhere while it was held: the
/// values kept under these locks are valid at every step.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub type Answer = oneshot::Sender<Result<Reply, Error>>;

/// What the API side asks of the driver.
#[derive(Debug)]
pub enum Command {
    Submit {
        ticket: u64,
        payload: Payload,
        answer: Answer,
    },
    /// The caller dropped a pending call.
    Cancel { ticket: u64 },
    /// Watch object `name` of `kind`; its changes go to `queue`.
    Watch {
        ticket: u64,
        group: GroupName,
        kind: ObjectKind,
        name: String,
        queue: Arc<Queue>,
    },
    /// The watch's stream was dropped.
    Unwatch { ticket: u64 },
    /// `close()`: end the session, then stop.
    Close { done: oneshot::Sender<()> },
}

const BACKOFF_MIN: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A token provider that takes longer than this is given up on, for now.
const TOKEN_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The token provider is asked at most this often.
const TOKEN_FETCH_INTERVAL_MIN: Duration = Duration::from_secs(1);

struct Driver<T: Transport> {
    transport: T,
    /// Counts sessions that ended under this client; handles compare it to
    /// learn that what they held is gone.
    sessions_lost: Arc<AtomicU64>,
    engine: Engine,
    endpoints: Vec<String>,
    next_endpoint: usize,
    redirect: Option<String>,
    /// Move to the leader when a member names it (saves a forwarding hop).
    follow_leader: bool,
    /// The URL of the current connection, and whether it came from a
    /// leader hint (then the next hint is not followed, so a stale hint
    /// cannot bounce the client around).
    current: String,
    via_hint: bool,
    /// Whether the current connection got as far as a session.
    session_on_link: bool,
    /// Who waits for each request, and the caller's ticket for it.
    answers: HashMap<RequestId, (Answer, u64)>,
    tickets: HashMap<u64, RequestId>,
    /// Each watch's stream, and its ticket.
    watches: HashMap<WatchId, (Arc<Queue>, u64)>,
    watch_tickets: HashMap<u64, WatchId>,
    /// What every call fails with once reconnecting cannot help.
    fatal: Option<Error>,
    tokens: Tokens,
    /// The token expired and requests wait for a fresh one.
    token_wanted: bool,
    /// When (`now_ms`) the provider was last asked: it is asked at most
    /// every [`TOKEN_FETCH_INTERVAL_MIN`], so a provider that fails, or
    /// hands out tokens the members refuse, is not called in a loop.
    token_fetched_ms: Option<u64>,
    connect_error: ConnectError,
}

/// What ended a connection.
enum LinkEnd {
    Lost,
    Redirect,
    Stop(Option<oneshot::Sender<()>>),
}

/// How the driver connects, from the builder.
#[derive(Debug)]
pub struct Settings {
    pub endpoints: Vec<String>,
    pub client_name: String,
    pub follow_leader: bool,
    pub tokens: Tokens,
    /// Connect (and open a session) only once the first command arrives:
    /// a client whose calls go over HTTP may never need a session.
    pub connect_on_first_use: bool,
}

/// What the driver shares with the client's handles.
#[derive(Debug)]
pub struct SharedState {
    pub sessions_lost: Arc<AtomicU64>,
    pub connect_error: ConnectError,
}

pub async fn run<T: Transport>(
    transport: T,
    settings: Settings,
    mut commands: mpsc::UnboundedReceiver<Command>,
    shared: SharedState,
) {
    let Settings {
        endpoints,
        client_name,
        follow_leader,
        tokens,
        connect_on_first_use,
    } = settings;
    let first = match connect_on_first_use {
        false => None,
        true => match commands.recv().await {
            Some(Command::Close { done }) => {
                let _ = done.send(());
                return;
            }
            None => return,
            first => first,
        },
    };
    let SharedState {
        sessions_lost,
        connect_error,
    } = shared;
    let mut engine = Engine::new(client_name);
    match &tokens {
        Tokens::None => {}
        Tokens::Fixed(token) => engine.set_token(token.clone()),
        Tokens::Provider(_) => engine.refresh_tokens(),
    }
    let mut driver = Driver {
        sessions_lost,
        follow_leader,
        current: String::new(),
        via_hint: false,
        session_on_link: false,
        transport,
        engine,
        endpoints,
        next_endpoint: 0,
        redirect: None,
        answers: HashMap::new(),
        tickets: HashMap::new(),
        watches: HashMap::new(),
        watch_tickets: HashMap::new(),
        fatal: None,
        tokens,
        token_wanted: false,
        token_fetched_ms: None,
        connect_error,
    };
    if let Err(reason) = driver.transport.check() {
        driver.fatal = Some(Error::Config(reason));
    }
    if let Some(command) = first {
        driver.on_command(command);
    }
    let mut backoff = BACKOFF_MIN;
    loop {
        if driver.fatal.is_some() {
            // Reconnecting cannot help; answer every call with the reason.
            while let Some(command) = commands.recv().await {
                match command {
                    Command::Close { done } => return driver.stop(Some(done)),
                    command => driver.on_command(command),
                }
            }
            return driver.stop(None);
        }
        // A fresh token for every connection: the last may have expired
        // while disconnected.
        driver.fetch_token().await;
        let url = driver.pick_endpoint();
        let connected = runtime::timeout(CONNECT_TIMEOUT, driver.transport.connect(&url)).await;
        driver.session_on_link = false;
        match connected {
            Some(Ok(mut link)) => match driver.serve_link(&mut link, &mut commands).await {
                LinkEnd::Lost | LinkEnd::Redirect => driver.engine.on_disconnected(),
                LinkEnd::Stop(done) => {
                    driver.stop(done);
                    return;
                }
            },
            Some(Err(reason)) => driver.connection_failed(reason),
            None => {
                driver.connection_failed(format!("{url}: no connection within {CONNECT_TIMEOUT:?}"))
            }
        }
        if driver.session_on_link {
            // The member served us: try the next one at once.
            backoff = BACKOFF_MIN;
            continue;
        }
        // No connection, or no session on it (a member that cannot reach a
        // leader closes new connections at once): pause before the next
        // member, longer each time, so a cluster without a quorum is not
        // flooded with handshakes. Keep taking commands meanwhile.
        let pause = jitter(backoff);
        backoff = (backoff * 2).min(BACKOFF_MAX);
        if let Some(done) = driver.absorb_commands_for(&mut commands, pause).await {
            driver.stop(done);
            return;
        }
    }
}

impl<T: Transport> Driver<T> {
    fn pick_endpoint(&mut self) -> String {
        let url = match self.redirect.take() {
            Some(url) => url,
            None => {
                let url = self.endpoints[self.next_endpoint % self.endpoints.len()].clone();
                self.next_endpoint += 1;
                self.via_hint = false;
                url
            }
        };
        self.current = url.clone();
        url
    }

    async fn serve_link(
        &mut self,
        link: &mut T::Link,
        commands: &mut mpsc::UnboundedReceiver<Command>,
    ) -> LinkEnd {
        self.engine.on_connected();
        self.engine.on_heard(now_ms());
        loop {
            let mut sent = false;
            while let Some(frame) = self.engine.poll_transmit(now_ms()) {
                let bytes = match raftcp_proto::encode(&frame) {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        tracing::error!("cannot encode {frame:?}: {e}");
                        continue;
                    }
                };
                if link.send(bytes).await.is_err() {
                    return LinkEnd::Lost;
                }
                sent = true;
            }
            if sent && link.flush().await.is_err() {
                return LinkEnd::Lost;
            }
            if let Some(end) = self.take_events() {
                return end;
            }
            let mut next_tick = self.engine.next_tick_ms();
            if self.token_wanted {
                let due = self.token_fetch_due_ms();
                if due <= now_ms() {
                    // The link waits meanwhile: requests need the token.
                    self.fetch_token().await;
                    continue;
                }
                next_tick = next_tick.min(due);
            }
            let wait = Duration::from_millis(next_tick.saturating_sub(now_ms()).max(1));
            tokio::select! {
                frame = link.recv() => match frame {
                    Some(bytes) => match raftcp_proto::decode::<ServerFrame>(&bytes) {
                        Ok(frame) => {
                            self.engine.on_heard(now_ms());
                            self.engine.on_frame(frame);
                        }
                        Err(e) => {
                            tracing::warn!("undecodable frame from server: {e}");
                            return LinkEnd::Lost;
                        }
                    },
                    None => return LinkEnd::Lost,
                },
                command = commands.recv() => match command {
                    Some(Command::Close { done }) => {
                        self.close_session(link).await;
                        return LinkEnd::Stop(Some(done));
                    }
                    Some(command) => {
                        self.on_command(command);
                        // Take what else is queued, so one flush sends it all.
                        while let Ok(command) = commands.try_recv() {
                            if let Command::Close { done } = command {
                                self.close_session(link).await;
                                return LinkEnd::Stop(Some(done));
                            }
                            self.on_command(command);
                        }
                    }
                    None => {
                        // Every handle and client is gone: end the session now
                        // rather than leaving it to expire.
                        self.close_session(link).await;
                        return LinkEnd::Stop(None);
                    }
                },
                _ = runtime::sleep(wait) => self.engine.on_tick(now_ms()),
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Submit {
                ticket,
                payload,
                answer,
            } => {
                if let Some(error) = &self.fatal {
                    let _ = answer.send(Err(error.clone()));
                    return;
                }
                let id = self.engine.submit_payload(payload);
                self.answers.insert(id, (answer, ticket));
                self.tickets.insert(ticket, id);
            }
            Command::Cancel { ticket } => {
                if let Some(id) = self.tickets.get(&ticket) {
                    self.engine.cancel(*id);
                }
            }
            Command::Watch {
                ticket,
                group,
                kind,
                name,
                queue,
            } => {
                if let Some(error) = &self.fatal {
                    queue.push(Err(error.clone()));
                    queue.end();
                    return;
                }
                let watch = self.engine.watch(group, kind, name);
                self.watches.insert(watch, (queue, ticket));
                self.watch_tickets.insert(ticket, watch);
            }
            Command::Unwatch { ticket } => {
                if let Some(watch) = self.watch_tickets.remove(&ticket) {
                    self.watches.remove(&watch);
                    self.engine.unwatch(watch);
                }
            }
            Command::Close { .. } => {}
        }
    }

    /// Hands a change to its stream; a stream that is gone ends its watch.
    fn deliver_change(&mut self, change: raftcp_proto::Change) {
        let watch = change.watch;
        let Some((queue, ticket)) = self.watches.get(&watch) else {
            return;
        };
        if !queue.push(Ok(change)) {
            self.watch_tickets.remove(ticket);
            self.watches.remove(&watch);
            self.engine.unwatch(watch);
        }
    }

    /// Ends every watch's stream, with `error` first when there is one.
    fn end_watches(&mut self, error: Option<Error>) {
        self.watch_tickets.clear();
        for (_, (queue, _)) in self.watches.drain() {
            if let Some(error) = &error {
                queue.push(Err(error.clone()));
            }
            queue.end();
        }
    }

    /// Delivers engine events; says whether the link must end.
    fn take_events(&mut self) -> Option<LinkEnd> {
        let mut end = None;
        while let Some(event) = self.engine.poll_event() {
            match event {
                EngineEvent::Completed { id, result } => {
                    if let Some((answer, ticket)) = self.answers.remove(&id) {
                        self.tickets.remove(&ticket);
                        let _ = answer.send(result.map_err(Error::Server));
                    }
                }
                EngineEvent::Redirect { url } => {
                    self.redirect = url;
                    end = Some(LinkEnd::Redirect);
                }
                EngineEvent::Silent => {
                    tracing::debug!("nothing heard from {}; reconnecting", self.current);
                    end = Some(LinkEnd::Lost);
                }
                EngineEvent::Fatal {
                    reason,
                    token_refused,
                } => {
                    tracing::error!("server refused the protocol: {reason}");
                    let error = match token_refused {
                        Some(refusal) => Error::Server(refusal),
                        None => Error::Protocol(reason),
                    };
                    for (_, (answer, _)) in self.answers.drain() {
                        let _ = answer.send(Err(error.clone()));
                    }
                    self.end_watches(Some(error.clone()));
                    self.fatal = Some(error);
                    end = Some(LinkEnd::Lost);
                }
                EngineEvent::Changed(change) => self.deliver_change(change),
                EngineEvent::WatchEnded(ended) => {
                    if let Some((queue, ticket)) = self.watches.remove(&ended.watch) {
                        self.watch_tickets.remove(&ticket);
                        queue.push(Err(Error::Server(ended.error)));
                        queue.end();
                    }
                }
                EngineEvent::TokenExpired => self.token_wanted = true,
                EngineEvent::SessionLost { .. } => {
                    self.sessions_lost.fetch_add(1, Ordering::AcqRel);
                }
                EngineEvent::SessionReady { leader_hint, .. } => {
                    self.session_on_link = true;
                    *lock(&self.connect_error) = None;
                    if let Some(leader) = leader_hint
                        && self.follow_leader
                        && !self.via_hint
                        && leader != self.current
                    {
                        self.via_hint = true;
                        self.redirect = Some(leader);
                        end = Some(LinkEnd::Redirect);
                    }
                }
            }
        }
        end
    }

    fn connection_failed(&mut self, reason: String) {
        tracing::debug!("cannot connect: {reason}");
        *lock(&self.connect_error) = Some(reason);
    }

    /// Asks the token provider (if any) for a fresh token. A provider that
    /// fails or hangs leaves the current token in place (calls then fail
    /// with `TOKEN_EXPIRED` or the connection is refused), and is asked
    /// again on the next connection or expiry.
    async fn fetch_token(&mut self) {
        let Tokens::Provider(provider) = &self.tokens else {
            return;
        };
        self.token_fetched_ms = Some(now_ms());
        match runtime::timeout(TOKEN_FETCH_TIMEOUT, provider()).await {
            Some(Ok(token)) => {
                self.token_wanted = false;
                self.engine.set_token(token);
            }
            // Still wanted: asked again after the interval.
            Some(Err(reason)) => tracing::warn!("the token provider failed: {reason}"),
            None => tracing::warn!("the token provider took over {TOKEN_FETCH_TIMEOUT:?}"),
        }
    }

    /// When the provider may be asked again.
    fn token_fetch_due_ms(&self) -> u64 {
        let interval = TOKEN_FETCH_INTERVAL_MIN.as_millis() as u64;
        self.token_fetched_ms
            .map_or(0, |at| at.saturating_add(interval))
    }

    async fn close_session(&mut self, link: &mut T::Link) {
        if self.engine.session().is_none() {
            return;
        }
        if let Ok(bytes) = raftcp_proto::encode(&ClientFrame::CloseSession)
            && link.send(bytes).await.is_ok()
            && link.flush().await.is_ok()
        {
            // The server closes the connection once the session ended.
            let _ = runtime::timeout(Duration::from_secs(5), async {
                while link.recv().await.is_some() {}
            })
            .await;
        }
    }

    /// Queues commands while disconnected, for at most `pause`. Returns the
    /// close request if one arrives.
    async fn absorb_commands_for(
        &mut self,
        commands: &mut mpsc::UnboundedReceiver<Command>,
        pause: Duration,
    ) -> Option<Option<oneshot::Sender<()>>> {
        // One timer for the whole pause (not a deadline on the wall clock,
        // which a clock step could stretch).
        let mut pause = runtime::sleep(pause);
        loop {
            tokio::select! {
                _ = &mut pause => return None,
                command = commands.recv() => match command {
                    None => return Some(None),
                    Some(Command::Close { done }) => return Some(Some(done)),
                    Some(command) => self.on_command(command),
                },
            }
        }
    }

    fn stop(&mut self, done: Option<oneshot::Sender<()>>) {
        for (_, (answer, _)) in self.answers.drain() {
            let _ = answer.send(Err(Error::Closed));
        }
        self.end_watches(None);
        if let Some(done) = done {
            let _ = done.send(());
        }
    }
}
