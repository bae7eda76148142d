//! TypeScript declarations for what the exported signatures name.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** What an AtomicReference stores: JSON-like data plus bigint and bytes.
 * Maps compare equal whatever their key order. */
export type Value =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Value[]
  | { [key: string]: Value };

/** Options for connect(). */
export interface ConnectOptions {
  /** A WebSocket constructor, for runtimes without a global one
   * (Node 20: `import { WebSocket } from "ws"`). */
  WebSocket?: unknown;
  /** How long a call may take before it fails with a TimeoutError
   * (default 30000). Waits by design (lock, acquire, awaitLatch) are not
   * limited; a call with its own timeout gets this much on top. */
  requestTimeoutMs?: number;
  /** Shown in server logs (default "js"). */
  clientName?: string;
  /** Move to the leader when a member names it (default true). */
  followLeader?: boolean;
  /** A token (JWT) for a cluster that needs one. Without one (or with one
   * the cluster refuses) calls fail with UNAUTHENTICATED; once it expires,
   * with TOKEN_EXPIRED; either way for good, on this client. Give
   * `tokenProvider` to renew it instead. */
  token?: string;
  /** Returns a fresh token (or a promise of one), typically from your
   * backend. Called before each connection and whenever the token
   * expires; calls refused for an expired token are sent again with the
   * fresh one, on the same session. */
  tokenProvider?: () => string | Promise<string>;
  /** How calls travel. "websocket" (the default, except in the workerd
   * entry): every call over the client's WebSocket session. "http": calls
   * that need no session (every AtomicLong and AtomicReference call, a
   * latch's countDown, trySetCount and getCount, the lock and semaphore
   * reads that do not ask who holds) are HTTP requests to the members'
   * /v1/ops, each run exactly once by an idempotency key, and the
   * WebSocket session opens only for the first call that needs one
   * (locks, permits, waits, watches, admin). The workerd entry defaults to
   * "http": a Worker request needs no socket for a counter. */
  transport?: "websocket" | "http";
}

/** The group's members as its leader sees them (`client.admin().members()`). */
export interface ClusterMembers {
  leader: number;
  term: number;
  /** The leader's last log index, commit index and applied index. */
  lastLogIndex: number;
  committed: number;
  applied: number;
  /** A membership change is under way. */
  changing: boolean;
  members: MemberInfo[];
}

export interface MemberInfo {
  nodeId: number;
  /** host:port */
  addr: string;
  /** false: a learner. */
  voter: boolean;
  /** The last log index the leader knows it holds; null: none yet. */
  matched: number | null;
  /** Entries behind the leader. */
  lag: number;
  /** Milliseconds since the leader heard from it (0 for the leader);
   * null: never. */
  lastHeardMs: number | null;
}

export interface SessionInfo {
  session: bigint;
  clientName: string;
  /** Milliseconds until it expires without a heartbeat. */
  expiresInMs: number;
  /** What it holds: `lock "name"`, `semaphore "name" ×permits`. */
  holds: string[];
  /** What it waits for. */
  waits: string[];
}

export interface ObjectInfo {
  kind: "long" | "reference" | "lock" | "semaphore" | "latch";
  name: string;
  /** One line: a value, a holder and fence, permits, a count. */
  summary: string;
  waiters: number;
}

/** One change of a watched object (`for await (const c of handle.watch())`). */
export interface Change<T> {
  /** Where in the log the object reached this state; rises along a watch. */
  position: bigint;
  /** The object's state, as its reads give it. */
  value: T;
  /** Changes may have been skipped before this one (after a reconnect, or
   * a loop too slow to keep up): `value` is current, not every step shown. */
  jump: boolean;
  /** The object was destroyed here (`value` is a fresh object's). */
  destroyed: boolean;
}

/** What a FencedLock watch shows: never who holds it. */
/** A lock held under a lease (`FencedLock.tryLockLeased`). */
export interface LockLease {
  /** Larger than every earlier grant's fence. */
  fence: bigint;
  /** Renews or ends the lease (`renewLease`, `unlockLeased`), from any
   * client of the same token subject: keep it like a password. */
  lease: string;
}

export interface LockState {
  held: boolean;
  /** The holder's fence while held; 0n while free. */
  fence: bigint;
}

/** What a CountDownLatch watch shows. */
export interface LatchState {
  count: number;
  /** How many times trySetCount succeeded. */
  round: number;
}

/** Options for calls that may wait. */
export interface WaitOptions {
  /** Aborting rejects the call with an AbortError and cancels its queued
   * wait on the server. */
  signal?: AbortSignal;
}
"#;
