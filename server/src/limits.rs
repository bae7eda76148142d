//! Every bound a member enforces, in one place, checked against each other
//! at compile time: whatever one limit admits must fit through the next
//! (a client frame into a batch, a batch into a Raft entry, entries into a
//! peer frame). The wire limits shared with clients live in
//! [`raftcp_proto::limits`] and are re-exported here. docs/operations.md
//! lists each with what a client sees when it is hit.

pub use raftcp_proto::limits::*;

use crate::machine::POSITIONS_PER_ENTRY;
use std::time::Duration;

// --- Connections -----------------------------------------------------------

/// Default of `--max-connections`: clients and peers together, well under
/// the usual descriptor limit, leaving room for the log's files.
pub const CONNECTIONS_MAX: usize = 10_000;

/// Default of `--max-connections-per-address`. Behind a proxy every client
/// shares its address: raise it there (or set it to the total).
pub const CONNECTIONS_PER_ADDRESS_MAX: usize = 1_000;

/// Places beyond the caps kept for the other members' peer links, so that
/// clients filling the caps cannot part the cluster (see `admission`).
pub const PEER_CONNECTIONS_RESERVED: usize = 64;

/// A connection's HTTP request head and WebSocket upgrade must be complete
/// this soon after it is accepted.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest request line routed; a longer one is not ours and is dropped.
pub const REQUEST_LINE_BYTES_MAX: usize = 1024;

/// Longest head read for plain HTTP (`/health`, `/metrics`, the
/// dashboard's files).
pub const HTTP_HEAD_BYTES_MAX: usize = 16 * 1024;

/// A plain HTTP response (the dashboard's largest file is its `.wasm`,
/// about 1 MB, 190 KB gzipped) must be taken by the client this soon after its head
/// arrived.
pub const HTTP_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest `POST /v1/ops` body: a client frame's size (room for a batch
/// carrying a largest value).
pub const ONE_SHOT_BODY_BYTES_MAX: usize = FRAME_BYTES_MAX;

/// A `POST /v1/ops` body must arrive this soon after its head.
pub const ONE_SHOT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A `POST /v1/ops` request's operations must be answered this soon after
/// its body arrived; those left are answered `UNAVAILABLE` without running.
pub const ONE_SHOT_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Once a `POST /v1/ops` request's answers pass this size, its later
/// operations are answered `UNAVAILABLE` without running (one more answer
/// may pass it by a value's size).
pub const ONE_SHOT_ANSWERS_BYTES_MAX: usize = FRAME_BYTES_MAX;

/// Files in the dashboard directory (`--www`), which the member holds in
/// memory; past it the member refuses to start.
pub const WWW_FILES_MAX: usize = 1024;

/// Bytes of those files in all (see [`WWW_FILES_MAX`]).
pub const WWW_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Directories deep under the dashboard directory (see [`WWW_FILES_MAX`]).
pub const WWW_DEPTH_MAX: usize = 8;

/// How long a connection over a cap is given to take its `503`.
pub const TURN_AWAY_TIMEOUT: Duration = Duration::from_secs(1);

/// A client connection must complete its `Hello` this soon after upgrading.
pub const CLIENT_HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Most requests of one client connection being proposed or read at once;
/// the connection reads no further frames until one finishes, so TCP pushes
/// back on the client. Covers a client engine's whole window.
pub const REQUESTS_PER_CONNECTION_MAX: usize = 4096;

/// Most bytes of replies queued for one client connection: room for a full
/// window of requests' replies of 1 KiB, or 64 largest values, far below
/// what would hurt the member. A client that does not read is closed with
/// 1008.
pub const OUTBOX_BYTES_PER_CONNECTION_MAX: usize = 16 * 1024 * 1024;

/// Past this many bytes queued on all client connections of a member
/// together, a connection holding more than [`OUTBOX_FAIR_SHARE_BYTES`] is
/// closed as a slow reader: queued replies take at most this plus the fair
/// share of every connection.
pub const OUTBOX_BYTES_PER_MEMBER_MAX: usize = 1024 * 1024 * 1024;

/// What a connection may always queue, however full the member is.
pub const OUTBOX_FAIR_SHARE_BYTES: usize = 1024 * 1024;

/// Most bytes one client connection may have on the way: requests being
/// proposed or read (in the batcher, across the peer link) and their
/// replies until queued; a read of an AtomicReference reserves a whole
/// value. Past it the connection is not read until requests finish.
pub const IN_FLIGHT_BYTES_PER_CONNECTION_MAX: usize = 16 * 1024 * 1024;

/// The same, over every client connection of a member.
pub const IN_FLIGHT_BYTES_PER_MEMBER_MAX: usize = 256 * 1024 * 1024;

/// A connection may present this many new tokens (`Authenticate`) per
/// [`REAUTHENTICATION_WINDOW`]; each costs a signature check. A client
/// refreshes once per token lifetime, or once a second while refused.
pub const REAUTHENTICATIONS_PER_WINDOW: u32 = 16;

/// See [`REAUTHENTICATIONS_PER_WINDOW`].
pub const REAUTHENTICATION_WINDOW: Duration = Duration::from_secs(60);

/// Default of `--max-state-bytes`: the bytes a group's state may take
/// (see `machine::usage`) before requests that could grow it are refused.
pub const STATE_BYTES_MAX_DEFAULT: u64 = 1024 * 1024 * 1024;

/// Past this share of the quota, in percent, the member warns in its log.
pub const STATE_BYTES_WARN_PERCENT: u64 = 80;

// --- Raft entries and the peer link ------------------------------------------

/// Applied entries whose effects (completed waits, ended sessions) may wait
/// for the gateway to deliver them; past it, applying waits.
pub const APPLIED_QUEUED_MAX: usize = 1024;

/// Frames queued to be written on one peer link; past it, whoever sends
/// (openraft's replication, a forwarded request, an answer) waits.
pub const PEER_OUTBOX_FRAMES_MAX: usize = 1024;

/// Commands waiting for a batch on one member; past it, proposing waits.
/// Client budgets keep it far below this; it bounds what peers forward.
pub const BATCH_QUEUE_MAX: usize = 65_536;

/// Most bytes of client frames gathered into one Raft entry (a batch).
pub const ENTRY_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Most entries openraft sends in one AppendEntries.
pub const APPEND_ENTRIES_MAX: u64 = 64;

/// What a command adds to the client frame that carried it (session id,
/// time stamp, enum tags), generously.
const COMMAND_OVERHEAD_BYTES: usize = 64;

/// Largest Raft entry a batch can make.
pub const ENTRY_ENCODED_BYTES_MAX: usize =
    ENTRY_BYTES_MAX + POSITIONS_PER_ENTRY as usize * COMMAND_OVERHEAD_BYTES;

/// Largest value in one Raft log record (an entry, a log id, a vote): an
/// entry is at most [`ENTRY_ENCODED_BYTES_MAX`]; a longer length read back
/// is damage, refused before anything is allocated for it
/// (`raft::codec`).
pub const LOG_VALUE_BYTES_MAX: usize = 2 * ENTRY_ENCODED_BYTES_MAX;

/// Largest peer frame: a full AppendEntries, or a forwarded batch's answer.
pub const PEER_FRAME_BYTES_MAX: usize = 512 * 1024 * 1024;

/// Largest first message on an accepted peer link: a `Hello`, nothing else
/// is read (or buffered) before the dialer's identity is checked.
pub const PEER_HELLO_BYTES_MAX: usize = 4 * 1024;

/// Most requests of one peer link being served at once; the link is not
/// read further until one is done. Forwarded batches and Raft RPCs of a
/// busy leader stay far below it.
pub const PEER_REQUESTS_MAX: usize = 1024;

/// A peer must send its `Hello` this soon after upgrading.
pub const PEER_HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest snapshot a member restores (`machine::SNAPSHOT_BYTES_MAX`), and
/// so installs from a leader.
pub use crate::machine::SNAPSHOT_BYTES_MAX;

/// Snapshots travel to followers in pieces of at most this many bytes, one
/// peer request each (`raft::snapshot_transfer`).
pub const SNAPSHOT_CHUNK_BYTES: usize = 8 * 1024 * 1024;

// A client frame fits a batch, a batch fits a peer frame (forwarded to the
// leader), a full AppendEntries fits a peer frame, and so does the answer
// to a batch whose every command returns a largest value.
// A one-shot retry sent at the end of the client's window, and taking a
// member every second it may (head, body, answers), is still applied
// before the first attempt's key expires, with 5 s to spare for clocks.
const _: () = assert!(
    raftcp_proto::limits::ONE_SHOT_SEND_WINDOW_MS
        + HEAD_TIMEOUT.as_millis() as u64
        + ONE_SHOT_BODY_TIMEOUT.as_millis() as u64
        + ONE_SHOT_REQUEST_TIMEOUT.as_millis() as u64
        + 5_000
        <= raftcp_proto::limits::ONE_SHOT_KEY_TTL_MS
);
const _: () = assert!(FRAME_BYTES_MAX <= ENTRY_BYTES_MAX);
const _: () = assert!(ENTRY_ENCODED_BYTES_MAX < PEER_FRAME_BYTES_MAX);
// A log value's length has a bit of its own beside it (`raft::codec`).
const _: () = assert!(ENTRY_ENCODED_BYTES_MAX <= LOG_VALUE_BYTES_MAX);
const _: () = assert!(LOG_VALUE_BYTES_MAX < 1 << 31);
const _: () =
    assert!(APPEND_ENTRIES_MAX as usize * (ENTRY_ENCODED_BYTES_MAX + 1024) < PEER_FRAME_BYTES_MAX);
const _: () = assert!(
    POSITIONS_PER_ENTRY as usize * (VALUE_BYTES_MAX + COMMAND_OVERHEAD_BYTES)
        < PEER_FRAME_BYTES_MAX
);
// A client's whole window fits its connection's request cap, and the first
// message of either link fits its handshake bound.
const _: () = assert!(REQUEST_SPAN_MAX as usize <= REQUESTS_PER_CONNECTION_MAX);
const _: () = assert!(HANDSHAKE_BYTES_MAX <= FRAME_BYTES_MAX);
const _: () = assert!(PEER_HELLO_BYTES_MAX < PEER_FRAME_BYTES_MAX);
// A snapshot chunk, with its metadata (the membership: a few members'
// addresses), fits a peer frame.
const _: () = assert!(SNAPSHOT_CHUNK_BYTES + 64 * 1024 < PEER_FRAME_BYTES_MAX);
// A connection's replies to a full window of ordinary requests fit its
// outbox.
const _: () = assert!(REQUESTS_PER_CONNECTION_MAX * 1024 < OUTBOX_BYTES_PER_CONNECTION_MAX);

/// A connection's watch changes wait while its outbox holds more than
/// this, so that changes alone never overrun it: below it, one more frame
/// of them (see [`WATCH_FRAME_BYTES_TARGET`]) stays within
/// [`OUTBOX_FAIR_SHARE_BYTES`].
pub const WATCH_OUTBOX_BYTES_MAX: usize = 256 * 1024;
const _: () = assert!(
    WATCH_OUTBOX_BYTES_MAX + WATCH_FRAME_BYTES_TARGET + 2 * VALUE_BYTES_MAX
        <= OUTBOX_FAIR_SHARE_BYTES
);

/// A frame of watch changes stops taking more past about this many bytes,
/// so it stays well within what a client reads (one more change, a value
/// at most `VALUE_BYTES_MAX`, may pass it).
pub const WATCH_FRAME_BYTES_TARGET: usize = 256 * 1024;
const _: () = assert!(WATCH_FRAME_BYTES_TARGET + 2 * VALUE_BYTES_MAX <= OUTBOX_FAIR_SHARE_BYTES);

/// How often a connection's watch changes try again while its outbox is
/// fuller than [`WATCH_OUTBOX_BYTES_MAX`].
pub const WATCH_SEND_RETRY: Duration = Duration::from_millis(10);

/// Bytes of recent changes a member keeps for one watched object (values
/// counted), besides its newest state; past it the oldest go, and a
/// watcher that still needed them gets the newest state, marked `jump`.
pub const WATCH_FEED_BYTES_PER_OBJECT_MAX: usize = 1024 * 1024;

/// The same over every watched object of a member: past it, each object
/// keeps only its newest change.
pub const WATCH_FEED_BYTES_PER_MEMBER_MAX: usize = 64 * 1024 * 1024;

/// Watches one member serves at a time, over all its connections; one
/// more is refused with `TOO_MANY_WATCHES`.
pub const WATCHERS_PER_MEMBER_MAX: usize = 100_000;
