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
  /** A token (JWT) for a cluster that needs one. When it expires, calls
   * fail with TOKEN_EXPIRED; give `tokenProvider` to renew it instead. */
  token?: string;
  /** Returns a fresh token (or a promise of one), typically from your
   * backend. Called before each connection and whenever the token
   * expires; calls refused for an expired token are sent again with the
   * fresh one, on the same session. */
  tokenProvider?: () => string | Promise<string>;
}

/** Options for calls that may wait. */
export interface WaitOptions {
  /** Aborting rejects the call with an AbortError and cancels its queued
   * wait on the server. */
  signal?: AbortSignal;
}
"#;
