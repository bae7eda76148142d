//! Calls that need no session, over HTTP (`POST /v1/ops`): the path for
//! callers that live for one request (an edge worker), which then need no
//! socket and no session for a counter, a reference, a latch's count or a
//! leased lock.
//!
//! Each call gets its idempotency key once; every attempt (on another
//! member, after a failover, after a lost answer) carries the same key, so
//! the cluster runs it once and answers a retry with the first answer.
//! Calls that wait at the same moment share a request, up to
//! [`ONE_SHOTS_PER_BATCH_MAX`] and [`BATCH_BYTES_MAX`]; at most
//! [`REQUESTS_IN_FLIGHT_MAX`] requests are out at once, so calls made
//! without awaiting each other may run in any order. A call is retried
//! until its caller stops waiting (the call's own timeout), but never sent
//! later than [`ONE_SHOT_SEND_WINDOW_MS`] after it was made: a later
//! attempt could outlive the first one's key and run it twice. Past that it
//! fails with a timeout, its outcome unknown.

use crate::driver::{Answer, ConnectError, Tokens, lock};
use crate::error::Error;
use crate::runtime::{self, jitter, now_ms};
use crate::transport::{POSTED_BODY_BYTES_MAX, Posted, Transport};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use raftcp_proto::codec::decode_bounded;
use raftcp_proto::limits::{FRAME_BYTES_MAX, ONE_SHOT_SEND_WINDOW_MS, ONE_SHOTS_PER_BATCH_MAX};
use raftcp_proto::{
    GroupName, IdempotencyKey, OneShot, OneShotAnswers, OneShotBatch, Op, OpError, Reply,
};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc;

/// Requests out at once: enough to keep a member busy, few enough that a
/// burst of calls shares requests instead of opening a connection each.
pub(crate) const REQUESTS_IN_FLIGHT_MAX: usize = 8;
/// Calls waiting for a request at once; more fail at once with
/// `UNAVAILABLE` (nothing was sent) rather than queue without bound.
pub(crate) const CALLS_WAITING_MAX: usize = 100_000;
/// A request body holds at most this much: a member refuses bodies over
/// `FRAME_BYTES_MAX` (a few large values fill one well before 64 calls).
const BATCH_BYTES_MAX: usize = FRAME_BYTES_MAX - 1024;
/// Retries of a call back off from this …
const BACKOFF_MIN: Duration = Duration::from_millis(20);
/// … to at most this.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// A request unanswered for this long is given up and sent again (same
/// keys) to the next member: a member that took the connection but does not
/// answer must not cost the calls their whole window.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long after it was made a call may still be sent.
const SEND_WINDOW: Duration = Duration::from_millis(ONE_SHOT_SEND_WINDOW_MS);
/// A token provider that takes longer than this is given up on, for now.
const TOKEN_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The token provider is asked at most this often.
const TOKEN_FETCH_INTERVAL_MIN: Duration = Duration::from_secs(1);

/// What the client's handles ask of this path.
#[derive(Debug)]
pub(crate) enum Request {
    Call {
        group: GroupName,
        op: Op,
        answer: Answer,
    },
    /// `close()`: calls not answered yet fail with [`Error::Closed`].
    Close,
}

/// A call and how often it was sent.
struct Pending {
    shot: OneShot,
    /// Its size in a request body.
    bytes: usize,
    answer: Answer,
    attempts: u32,
    /// When (`now_ms`) the call was made.
    made_ms: u64,
}

impl Pending {
    /// Whether it may still be sent: someone waits for it, and it is
    /// within its window. A late call is answered here with a timeout.
    fn sendable(self, now_ms: u64) -> Option<Pending> {
        if self.answer.is_closed() {
            return None;
        }
        let window = SEND_WINDOW.as_millis() as u64;
        if now_ms.saturating_sub(self.made_ms) < window {
            return Some(self);
        }
        // Its outcome is unknown: an earlier attempt may have run it.
        let _ = self.answer.send(Err(Error::Timeout(SEND_WINDOW)));
        None
    }
}

/// What one request came back with.
enum Outcome {
    /// One result per call, in order.
    Answered(Vec<Result<Reply, OpError>>),
    /// Refused as a whole, for good (a status other than 200 that sending
    /// again would not change).
    Refused(Error),
    /// No usable answer yet: the member is down, slow, has no leader or
    /// refused for now (408, 429, 5xx). Sent again, same keys.
    Failed(String),
    /// Every call turned late (or abandoned) before it was sent.
    NothingSent,
}

pub(crate) struct Settings {
    /// Members' client endpoints (`ws://host:port/v1/client`).
    pub endpoints: Vec<String>,
    pub tokens: Tokens,
    /// Why the last request failed, while none succeeds: what a call that
    /// times out meanwhile reports.
    pub failure: ConnectError,
}

pub(crate) async fn run<T: Transport>(
    transport: T,
    settings: Settings,
    mut requests: mpsc::UnboundedReceiver<Request>,
) {
    let urls: Result<Vec<String>, String> = settings.endpoints.iter().map(|e| ops_url(e)).collect();
    let urls = match urls {
        Ok(urls) => urls,
        Err(reason) => return refuse_all(requests, Error::Config(reason)).await,
    };
    let mut path = Path {
        urls,
        next_url: 0,
        keys: Keys::new(),
        tokens: settings.tokens,
        token: None,
        token_fetched_ms: None,
        failure: settings.failure,
    };
    let mut waiting: VecDeque<Pending> = VecDeque::new();
    let mut requests_out = FuturesUnordered::new();
    loop {
        while requests_out.len() < REQUESTS_IN_FLIGHT_MAX {
            let batch = next_batch(&mut waiting, now_ms());
            if batch.is_empty() {
                break;
            }
            path.fetch_token_if_due().await;
            let url = path.url();
            requests_out.push(send(transport.clone(), url, path.token.clone(), batch));
        }
        tokio::select! {
            request = requests.recv() => match request {
                Some(Request::Call { answer, .. }) if waiting.len() >= CALLS_WAITING_MAX => {
                    let reason = format!("{CALLS_WAITING_MAX} session-less calls wait already");
                    let _ = answer.send(Err(Error::Server(OpError::Unavailable { reason })));
                }
                Some(Request::Call { group, op, answer }) => {
                    let shot = OneShot { key: path.keys.next(), group, op };
                    let bytes = raftcp_proto::codec::encoded_size(&shot);
                    let made_ms = now_ms();
                    waiting.push_back(Pending { shot, bytes, answer, attempts: 0, made_ms });
                }
                // Calls out or waiting fail with Closed as their answers drop.
                Some(Request::Close) | None => return,
            },
            Some((url, batch, outcome)) = requests_out.next(), if !requests_out.is_empty() => {
                // Retries go first, each batch after its back-off.
                for pending in path.settle(&url, batch, outcome).into_iter().rev() {
                    waiting.push_front(pending);
                }
            }
        }
    }
}

/// The calls at the front of `waiting` that fit one request; late and
/// abandoned calls are dropped on the way.
fn next_batch(waiting: &mut VecDeque<Pending>, now_ms: u64) -> Vec<Pending> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    while batch.len() < ONE_SHOTS_PER_BATCH_MAX {
        let Some(pending) = waiting.pop_front() else {
            break;
        };
        let Some(pending) = pending.sendable(now_ms) else {
            continue;
        };
        // One call always fits alone (values are far below the bound).
        if !batch.is_empty() && bytes + pending.bytes > BATCH_BYTES_MAX {
            waiting.push_front(pending);
            break;
        }
        bytes += pending.bytes;
        batch.push(pending);
    }
    batch
}

/// Every call fails with `error` (a client that cannot send any).
async fn refuse_all(mut requests: mpsc::UnboundedReceiver<Request>, error: Error) {
    while let Some(request) = requests.recv().await {
        match request {
            Request::Call { answer, .. } => {
                let _ = answer.send(Err(error.clone()));
            }
            Request::Close => return,
        }
    }
}

/// Sends `batch` to `url` after its back-off (none on its first attempt);
/// calls that turned late meanwhile are answered, not sent.
async fn send<T: Transport>(
    transport: T,
    url: String,
    token: Option<String>,
    batch: Vec<Pending>,
) -> (String, Vec<Pending>, Outcome) {
    let attempts = batch.iter().map(|p| p.attempts).max().unwrap_or(0);
    if attempts > 0 {
        let backoff = BACKOFF_MIN.saturating_mul(1 << attempts.min(10));
        runtime::sleep(jitter(backoff.min(BACKOFF_MAX))).await;
    }
    let now = now_ms();
    let batch: Vec<Pending> = batch.into_iter().filter_map(|p| p.sendable(now)).collect();
    if batch.is_empty() {
        return (url, batch, Outcome::NothingSent);
    }
    let body = OneShotBatch {
        protocol_version: raftcp_proto::PROTOCOL_VERSION,
        ops: batch.iter().map(|p| p.shot.clone()).collect(),
    };
    let body = match raftcp_proto::codec::encode_bounded(&body, FRAME_BYTES_MAX) {
        Ok(body) => body,
        Err(e) => {
            let error = Error::Protocol(format!("cannot encode the request: {e}"));
            return (url, batch, Outcome::Refused(error));
        }
    };
    let posted = runtime::timeout(ATTEMPT_TIMEOUT, transport.post(&url, body, token)).await;
    let outcome = match posted {
        Some(Ok(posted)) => read_answer(posted, batch.len()),
        Some(Err(reason)) => Outcome::Failed(reason),
        None => Outcome::Failed(format!("{url}: no answer within {ATTEMPT_TIMEOUT:?}")),
    };
    (url, batch, outcome)
}

fn read_answer(posted: Posted, calls: usize) -> Outcome {
    let status = posted.status;
    match status {
        200 => match decode_bounded::<OneShotAnswers>(&posted.body, POSTED_BODY_BYTES_MAX) {
            Ok(answers) if answers.results.len() == calls => Outcome::Answered(answers.results),
            Ok(answers) => Outcome::Refused(Error::Protocol(format!(
                "{} answers to {calls} calls",
                answers.results.len()
            ))),
            // Sending again would get the same answer.
            Err(e) => Outcome::Refused(Error::Protocol(format!(
                "an answer this client cannot read (a newer member?): {e}"
            ))),
        },
        // Nothing ran: the body came too slowly, or the member is busy.
        408 | 429 | 500..=599 => Outcome::Failed(format!("status {status}")),
        404 => Outcome::Refused(Error::Protocol(
            "the member does not serve /v1/ops (older than session-less calls?)".into(),
        )),
        _ => match raftcp_proto::decode::<OpError>(&posted.body) {
            Ok(error) if error.is_retryable() => Outcome::Failed(error.to_string()),
            Ok(error) => Outcome::Refused(Error::Server(error)),
            Err(_) => {
                Outcome::Refused(Error::Protocol(format!("status {status} without a reason")))
            }
        },
    }
}

/// Where requests go, with what token, and the keys calls get.
struct Path {
    /// Each member's `/v1/ops`.
    urls: Vec<String>,
    next_url: usize,
    keys: Keys,
    tokens: Tokens,
    /// The provider's last token.
    token: Option<String>,
    token_fetched_ms: Option<u64>,
    failure: ConnectError,
}

impl Path {
    fn url(&self) -> String {
        self.urls[self.next_url % self.urls.len()].clone()
    }

    /// Answers what can be answered; what is to be sent again, its
    /// attempts counted. A failed request moves the next ones to the next
    /// member, once per member that failed.
    fn settle(&mut self, url: &str, batch: Vec<Pending>, outcome: Outcome) -> Vec<Pending> {
        let mut retry = Vec::new();
        match outcome {
            Outcome::Answered(results) => {
                *lock(&self.failure) = None;
                for (pending, result) in batch.into_iter().zip(results) {
                    match result {
                        Err(e) if e.is_retryable() => retry.push(pending),
                        result => {
                            let _ = pending.answer.send(result.map_err(Error::Server));
                        }
                    }
                }
            }
            Outcome::Refused(Error::Server(OpError::TokenExpired))
                if matches!(self.tokens, Tokens::Provider(_)) =>
            {
                // Sent again with a fresh token, as the session path does.
                tracing::debug!("session-less calls refused for an expired token");
                self.token = None;
                retry = batch;
            }
            Outcome::Refused(error) => {
                *lock(&self.failure) = Some(error.to_string());
                for pending in batch {
                    let _ = pending.answer.send(Err(error.clone()));
                }
            }
            Outcome::Failed(reason) => {
                *lock(&self.failure) = Some(reason);
                retry = batch;
            }
            Outcome::NothingSent => {}
        }
        if !retry.is_empty() && self.url() == url {
            // The member is down or has no leader now: try the next one.
            self.next_url += 1;
        }
        for pending in &mut retry {
            pending.attempts = pending.attempts.saturating_add(1);
        }
        retry
    }

    /// Asks the provider for a token when there is none, waiting out the
    /// interval it may be asked at (a request without one would only be
    /// refused).
    async fn fetch_token_if_due(&mut self) {
        let provider = match &self.tokens {
            Tokens::None => return,
            Tokens::Fixed(token) => {
                self.token = Some(token.clone());
                return;
            }
            Tokens::Provider(provider) => provider.clone(),
        };
        if self.token.is_some() {
            return;
        }
        let interval = TOKEN_FETCH_INTERVAL_MIN.as_millis() as u64;
        if let Some(at) = self.token_fetched_ms {
            let due = at.saturating_add(interval);
            runtime::sleep(Duration::from_millis(due.saturating_sub(now_ms()))).await;
        }
        self.token_fetched_ms = Some(now_ms());
        match runtime::timeout(TOKEN_FETCH_TIMEOUT, provider()).await {
            Some(Ok(token)) => self.token = Some(token),
            Some(Err(reason)) => tracing::warn!("the token provider failed: {reason}"),
            None => tracing::warn!("the token provider took over {TOKEN_FETCH_TIMEOUT:?}"),
        }
    }
}

/// Idempotency keys: 64 random bits for this client, then a count. Keys
/// only have to differ from the same caller's other keys for the minute a
/// member keeps them.
struct Keys {
    client: u64,
    next: u64,
}

impl Keys {
    fn new() -> Keys {
        // The host's secure generator where there is one.
        let client = match runtime::random_secret() {
            Ok(secret) => u64::from_le_bytes(secret[..8].try_into().unwrap_or_default()),
            Err(_) => runtime::random_u64(),
        };
        Keys { client, next: 0 }
    }

    fn next(&mut self) -> IdempotencyKey {
        self.next = self.next.wrapping_add(1);
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&self.client.to_le_bytes());
        key[8..].copy_from_slice(&self.next.to_le_bytes());
        IdempotencyKey(key)
    }
}

/// A member's `/v1/ops`, from its client endpoint: `ws://host:port/…/v1/client`
/// becomes `http://host:port/…/v1/ops`, `wss://` becomes `https://`
/// (schemes in any case; `http(s)://` are taken as they are). Any other
/// scheme is refused rather than guessed, so an endpoint meant for TLS is
/// never sent in the clear.
pub(crate) fn ops_url(endpoint: &str) -> Result<String, String> {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("ws", endpoint));
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => "http",
        "wss" | "https" => "https",
        _ => {
            return Err(format!(
                "{endpoint}: only ws:// and wss:// endpoints are supported"
            ));
        }
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let prefix = path.trim_end_matches('/');
    let prefix = prefix.strip_suffix("/v1/client").unwrap_or(prefix);
    Ok(format!("{scheme}://{authority}{prefix}/v1/ops"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    #[test]
    fn endpoints_map_to_their_ops_url() {
        let url = |endpoint| ops_url(endpoint).unwrap();
        assert_eq!(
            url("ws://127.0.0.1:7701/v1/client"),
            "http://127.0.0.1:7701/v1/ops"
        );
        assert_eq!(url("wss://db.example:443"), "https://db.example:443/v1/ops");
        assert_eq!(url("WSS://db.example"), "https://db.example/v1/ops");
        assert_eq!(url("127.0.0.1:7701"), "http://127.0.0.1:7701/v1/ops");
        assert_eq!(
            url("wss://edge.example/raftcp/v1/client"),
            "https://edge.example/raftcp/v1/ops"
        );
        assert!(ops_url("wsx://db.example").is_err());
    }

    /// A call of `bytes` made at `made_ms`, and who waits for its answer.
    fn call(bytes: usize, made_ms: u64) -> (Pending, oneshot::Receiver<Result<Reply, Error>>) {
        let (answer, receiver) = oneshot::channel();
        let shot = OneShot {
            key: IdempotencyKey([0; 16]),
            group: GroupName::default_group(),
            op: Op::AtomicLong {
                name: "n".into(),
                op: raftcp_proto::LongOp::Get,
            },
        };
        let pending = Pending {
            shot,
            bytes,
            answer,
            attempts: 0,
            made_ms,
        };
        (pending, receiver)
    }

    #[test]
    fn batches_stop_at_their_count_and_size_and_skip_late_calls() {
        let now = 100_000;
        let mut waiting = VecDeque::new();
        let mut receivers = Vec::new();
        for _ in 0..ONE_SHOTS_PER_BATCH_MAX + 1 {
            let (pending, receiver) = call(10, now);
            waiting.push_back(pending);
            receivers.push(receiver);
        }
        assert_eq!(next_batch(&mut waiting, now).len(), ONE_SHOTS_PER_BATCH_MAX);
        assert_eq!(waiting.len(), 1);

        let mut waiting = VecDeque::new();
        for _ in 0..3 {
            let (pending, receiver) = call(BATCH_BYTES_MAX / 2, now);
            waiting.push_back(pending);
            receivers.push(receiver);
        }
        assert_eq!(next_batch(&mut waiting, now).len(), 2);
        assert_eq!(next_batch(&mut waiting, now).len(), 1);

        // A call made a window ago is answered with a timeout, not sent;
        // one nobody waits for is dropped.
        let (late, mut late_answer) = call(10, now - SEND_WINDOW.as_millis() as u64);
        let (abandoned, abandoned_answer) = call(10, now);
        drop(abandoned_answer);
        let mut waiting = VecDeque::from([late, abandoned]);
        assert!(next_batch(&mut waiting, now).is_empty());
        assert!(matches!(late_answer.try_recv(), Ok(Err(Error::Timeout(_)))));
    }

    #[test]
    fn keys_differ_between_calls_and_clients() {
        let (mut a, mut b) = (Keys::new(), Keys::new());
        let first = a.next();
        assert_ne!(first, a.next());
        assert_ne!(first, b.next());
    }
}
