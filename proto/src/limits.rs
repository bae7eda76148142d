//! Named limits. Servers enforce them and reject with a typed error; clients
//! check the frame limit before sending.

/// Largest encoded frame in either direction.
pub const FRAME_BYTES_MAX: usize = 1024 * 1024;

/// Largest object or group name, in UTF-8 bytes.
pub const NAME_BYTES_MAX: usize = 256;

/// Largest AtomicReference value, canonically encoded.
pub const VALUE_BYTES_MAX: usize = 256 * 1024;

/// Deepest nesting of lists and maps inside a [`crate::Value`].
pub const VALUE_DEPTH_MAX: u32 = 32;

/// Largest client name sent in `Hello`, in UTF-8 bytes.
pub const CLIENT_NAME_BYTES_MAX: usize = 128;

/// Most waiters queued on one lock, semaphore or latch.
pub const WAITERS_PER_OBJECT_MAX: usize = 10_000;

/// Most objects (of all kinds together) in one group.
pub const OBJECTS_MAX: usize = 4_000_000;

/// Most live sessions in one group.
pub const SESSIONS_MAX: usize = 1_000_000;

/// Most responses a session may leave unacknowledged; the client stays under
/// it by sending at most [`REQUEST_SPAN_MAX`] ids past its oldest unanswered
/// request that does not wait.
pub const UNACKNOWLEDGED_RESPONSES_MAX: usize = 4096;

/// Most sessions named in one batched heartbeat.
pub const HEARTBEAT_SESSIONS_MAX: usize = 100_000;

/// Largest message a connection may send before its handshake completes:
/// room for a `Hello` with a client name and a token, nothing more.
pub const HANDSHAKE_BYTES_MAX: usize = 16 * 1024;

/// Most frames one client message may pack (see [`crate::codec::decode_each`]).
pub const FRAMES_PER_MESSAGE_MAX: usize = 8192;

/// Most requests of one session waiting at once (queued behind a lock
/// holder, for permits or for a latch); a request that may wait beyond it
/// is refused with `TOO_MANY_WAITING_REQUESTS`.
pub const WAITING_REQUESTS_PER_SESSION_MAX: usize = 1024;

/// Most waiting requests a client may name in `Request::acked_except`: as
/// many as may wait, so a client's acknowledgement is never held back by a
/// request that waits for long (the one beyond them is refused, not queued).
pub const ACKED_EXCEPT_MAX: usize = WAITING_REQUESTS_PER_SESSION_MAX;

/// How far past its oldest unacknowledged request a client sends: a request
/// whose id is this far ahead waits in the client until older ones are
/// answered, so the server never holds more than
/// [`UNACKNOWLEDGED_RESPONSES_MAX`] responses for one session.
pub const REQUEST_SPAN_MAX: u64 = (UNACKNOWLEDGED_RESPONSES_MAX - ACKED_EXCEPT_MAX) as u64;

const _: () = assert!(ACKED_EXCEPT_MAX < UNACKNOWLEDGED_RESPONSES_MAX);
const _: () = assert!(HANDSHAKE_BYTES_MAX >= CLIENT_NAME_BYTES_MAX + 8 * 1024);
const _: () = assert!(HANDSHAKE_BYTES_MAX < FRAME_BYTES_MAX);
const _: () = assert!(FRAMES_PER_MESSAGE_MAX >= UNACKNOWLEDGED_RESPONSES_MAX);

/// Watches one connection may hold at a time; one more is refused with
/// `TOO_MANY_WATCHES`.
pub const WATCHES_PER_SESSION_MAX: usize = 64;

/// Recent changes a member keeps for one watched object, shared by all
/// its watchers there; a watcher further behind (a client that does not
/// keep up) gets the newest state next, marked `jump`. A burst of this
/// many changes to one object reaches a client that keeps reading
/// without one.
pub const CHANGES_KEPT_PER_WATCHED_OBJECT: usize = 1024;

/// Changes one `Event::Changes` frame carries at most: a member sends the
/// changes its watchers have ready together, so a busy object costs a
/// frame per burst rather than per change.
pub const CHANGES_PER_FRAME_MAX: usize = 1024;

/// How long a member keeps the answer to a session-less mutation for its
/// retries, from when it was applied (machine time). A caller retries one
/// operation for at most half of it (the clients do).
pub const ONE_SHOT_KEY_TTL_MS: u64 = 60_000;

/// Most answers to session-less mutations a group keeps at once; past it
/// (or past the group's byte quota, which counts them) new ones are
/// refused with `TOO_MANY_KEYS` until older ones expire.
pub const ONE_SHOT_ANSWERS_MAX: usize = 1_000_000;

/// A client sends a session-less operation (first attempt or retry) for
/// at most this long after making it. With a member's own bounds on a
/// request (its head, body and answers: `raftcp_server::limits`), every
/// attempt is applied before the first one's key expires, so none can run
/// twice; the members check that sum at compile time.
pub const ONE_SHOT_SEND_WINDOW_MS: u64 = 20_000;

/// Most operations in one `POST /v1/ops` body.
pub const ONE_SHOTS_PER_BATCH_MAX: usize = 64;

/// The shortest lease (`LockOp::TryLockLeased`): shorter ones would run
/// out before a caller could use the lock.
pub const LEASE_MS_MIN: u64 = 1_000;

/// The longest lease: a caller that needs a lock for longer renews it, or
/// keeps a session.
pub const LEASE_MS_MAX: u64 = 3_600_000;

/// Leases (each a session of its own) are refused once a group has this
/// many sessions: a caller that fills it with leases still leaves a tenth
/// of [`SESSIONS_MAX`] for clients' sessions.
pub const LEASES_STOP_AT_SESSIONS: usize = SESSIONS_MAX - SESSIONS_MAX / 10;
