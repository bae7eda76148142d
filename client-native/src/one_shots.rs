//! Calls that need no session, over HTTP (`POST /v1/ops`): the path for
//! callers that live for one request (an edge worker), which then need no
//! socket and no session for a counter or a reference.
//!
//! Each call gets its idempotency key once; every attempt (on another
//! member, after a failover, after a lost answer) carries the same key, so
//! the cluster runs it once and answers a retry with the first answer.
//! Calls that wait at the same moment share a request, up to
//! [`ONE_SHOTS_PER_BATCH_MAX`]; at most [`REQUESTS_IN_FLIGHT_MAX`] requests
//! are out at once. A call is retried until its caller stops waiting (the
//! call's own timeout), so one that times out may still have run once.

use crate::driver::{Answer, ConnectError, Tokens, lock};
use crate::error::Error;
use crate::runtime::{self, jitter, now_ms};
use crate::transport::{POSTED_BODY_BYTES_MAX, Posted, Transport};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use raftcp_proto::codec::decode_bounded;
use raftcp_proto::limits::{ONE_SHOT_KEY_TTL_MS, ONE_SHOTS_PER_BATCH_MAX};
use raftcp_proto::{
    GroupName, IdempotencyKey, OneShot, OneShotAnswers, OneShotBatch, Op, OpError, Reply,
};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc;

/// Requests out at once: enough to keep a member busy, few enough that a
/// burst of calls shares requests instead of opening a connection each.
pub(crate) const REQUESTS_IN_FLIGHT_MAX: usize = 8;
/// Retries of a call back off from this …
const BACKOFF_MIN: Duration = Duration::from_millis(20);
/// … to at most this.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// A request unanswered for this long is given up and sent again (same
/// keys) to the next member.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
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
    answer: Answer,
    attempts: u32,
    /// When (`now_ms`) the call was made.
    made_ms: u64,
}

/// A call is sent again for at most this long: a member keeps its key for
/// [`ONE_SHOT_KEY_TTL_MS`], and a retry after the key expired would run
/// the call a second time.
const RETRY_WINDOW: Duration = Duration::from_millis(ONE_SHOT_KEY_TTL_MS / 2);

/// What one request came back with.
enum Outcome {
    /// One result per call, in order.
    Answered(Vec<Result<Reply, OpError>>),
    /// Refused as a whole (status other than 200).
    Refused(OpError),
    /// No usable answer: the member is down, slow or said nonsense.
    Failed(String),
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
    let urls = settings.endpoints.iter().map(|e| ops_url(e)).collect();
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
            waiting.retain(|p| !p.answer.is_closed());
            if waiting.is_empty() {
                break;
            }
            let take = waiting.len().min(ONE_SHOTS_PER_BATCH_MAX);
            let batch: Vec<Pending> = waiting.drain(..take).collect();
            path.fetch_token_if_due().await;
            requests_out.push(send(
                transport.clone(),
                path.url(),
                path.token.clone(),
                batch,
            ));
        }
        tokio::select! {
            request = requests.recv() => match request {
                Some(Request::Call { group, op, answer }) => {
                    let shot = OneShot { key: path.keys.next(), group, op };
                    let made_ms = now_ms();
                    waiting.push_back(Pending { shot, answer, attempts: 0, made_ms });
                }
                // Calls out or waiting fail with Closed as their answers drop.
                Some(Request::Close) | None => return,
            },
            Some((batch, outcome)) = requests_out.next(), if !requests_out.is_empty() => {
                // Retries go first, each batch after its back-off.
                for pending in path.settle(batch, outcome).into_iter().rev() {
                    waiting.push_front(pending);
                }
            }
        }
    }
}

/// Sends `batch` to `url` after its back-off (none on its first attempt).
async fn send<T: Transport>(
    transport: T,
    url: String,
    token: Option<String>,
    batch: Vec<Pending>,
) -> (Vec<Pending>, Outcome) {
    let attempts = batch.iter().map(|p| p.attempts).max().unwrap_or(0);
    if attempts > 0 {
        let backoff = BACKOFF_MIN.saturating_mul(1 << attempts.min(10));
        runtime::sleep(jitter(backoff.min(BACKOFF_MAX))).await;
    }
    let body = OneShotBatch {
        protocol_version: raftcp_proto::PROTOCOL_VERSION,
        ops: batch.iter().map(|p| p.shot.clone()).collect(),
    };
    let body = match raftcp_proto::encode(&body) {
        Ok(body) => body,
        Err(e) => return (batch, Outcome::Refused(encoding_error(e))),
    };
    let posted = runtime::timeout(ATTEMPT_TIMEOUT, transport.post(&url, body, token)).await;
    let outcome = match posted {
        Some(Ok(posted)) => read_answer(posted, batch.len()),
        Some(Err(reason)) => Outcome::Failed(reason),
        None => Outcome::Failed(format!("{url}: no answer within {ATTEMPT_TIMEOUT:?}")),
    };
    (batch, outcome)
}

fn encoding_error(e: raftcp_proto::CodecError) -> OpError {
    OpError::InvalidArgument {
        reason: format!("cannot encode the request: {e}"),
    }
}

fn read_answer(posted: Posted, calls: usize) -> Outcome {
    if posted.status == 200 {
        return match decode_bounded::<OneShotAnswers>(&posted.body, POSTED_BODY_BYTES_MAX) {
            Ok(answers) if answers.results.len() == calls => Outcome::Answered(answers.results),
            Ok(answers) => Outcome::Failed(format!(
                "{} answers to {calls} calls",
                answers.results.len()
            )),
            Err(e) => Outcome::Failed(format!("an answer that does not decode: {e}")),
        };
    }
    match raftcp_proto::decode::<OpError>(&posted.body) {
        Ok(error) => Outcome::Refused(error),
        Err(_) => Outcome::Failed(format!("status {} without a reason", posted.status)),
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
    /// attempts counted.
    fn settle(&mut self, batch: Vec<Pending>, outcome: Outcome) -> Vec<Pending> {
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
            Outcome::Refused(error) if error.is_retryable() => retry = batch,
            Outcome::Refused(error @ (OpError::TokenExpired | OpError::Unauthenticated { .. }))
                if matches!(self.tokens, Tokens::Provider(_)) =>
            {
                // A fresh token, when the provider may be asked again.
                tracing::debug!("session-less calls refused ({error}); asking for a token");
                self.token = None;
                retry = batch;
            }
            Outcome::Refused(error) => {
                *lock(&self.failure) = None;
                for pending in batch {
                    let _ = pending.answer.send(Err(Error::Server(error.clone())));
                }
            }
            Outcome::Failed(reason) => {
                *lock(&self.failure) = Some(reason);
                retry = batch;
            }
        }
        if !retry.is_empty() {
            // The member is down or has no leader now: try the next one.
            self.next_url += 1;
        }
        let window = RETRY_WINDOW.as_millis() as u64;
        let (expired, mut retry): (Vec<_>, Vec<_>) = retry
            .into_iter()
            .filter(|p| !p.answer.is_closed())
            .partition(|p| now_ms().saturating_sub(p.made_ms) >= window);
        for pending in expired {
            // Its outcome is unknown: an earlier attempt may have run it.
            let _ = pending.answer.send(Err(Error::Timeout(RETRY_WINDOW)));
        }
        for pending in &mut retry {
            pending.attempts = pending.attempts.saturating_add(1);
        }
        retry
    }

    /// Asks the provider for a token when there is none and it may be asked.
    async fn fetch_token_if_due(&mut self) {
        let provider = match &self.tokens {
            Tokens::None => return,
            Tokens::Fixed(token) => {
                self.token = Some(token.clone());
                return;
            }
            Tokens::Provider(provider) => provider.clone(),
        };
        let interval = TOKEN_FETCH_INTERVAL_MIN.as_millis() as u64;
        let due = self
            .token_fetched_ms
            .is_none_or(|at| now_ms() >= at.saturating_add(interval));
        if self.token.is_some() || !due {
            return;
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
        Keys {
            client: runtime::random_u64(),
            next: 0,
        }
    }

    fn next(&mut self) -> IdempotencyKey {
        self.next = self.next.wrapping_add(1);
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&self.client.to_le_bytes());
        key[8..].copy_from_slice(&self.next.to_le_bytes());
        IdempotencyKey(key)
    }
}

/// A member's `/v1/ops`, from its client endpoint: `ws://host:port/…`
/// becomes `http://host:port/v1/ops`, `wss://` becomes `https://`.
pub(crate) fn ops_url(endpoint: &str) -> String {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("ws", endpoint));
    let scheme = match scheme {
        "wss" | "https" => "https",
        _ => "http",
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}/v1/ops")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_map_to_their_ops_url() {
        assert_eq!(
            ops_url("ws://127.0.0.1:7701/v1/client"),
            "http://127.0.0.1:7701/v1/ops"
        );
        assert_eq!(
            ops_url("wss://db.example:443"),
            "https://db.example:443/v1/ops"
        );
        assert_eq!(ops_url("127.0.0.1:7701"), "http://127.0.0.1:7701/v1/ops");
    }

    #[test]
    fn keys_differ_between_calls_and_clients() {
        let (mut a, mut b) = (Keys::new(), Keys::new());
        let first = a.next();
        assert_ne!(first, a.next());
        assert_ne!(first, b.next());
    }
}
