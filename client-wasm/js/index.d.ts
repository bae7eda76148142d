/// <reference lib="esnext.disposable" />
// wasm-bindgen gives each class a [Symbol.dispose]; this brings its type
// to projects whose `lib` predates it.
// The package's public types: the classes as wasm-bindgen declared them,
// connect() and Client with references typed by what they hold, and the
// error classes.
import type {
  AtomicReference,
  Client as DeclaredClient,
  ConnectOptions,
  Value,
} from "./raftcp_wasm.js";

export {
  AtomicLong,
  AtomicReference,
  FencedLock,
  Semaphore,
  CountDownLatch,
  ClusterAdmin,
} from "./raftcp_wasm.js";
export type {
  Value,
  ConnectOptions,
  WaitOptions,
  ClusterMembers,
  MemberInfo,
  SessionInfo,
  ObjectInfo,
  LockLease,
} from "./raftcp_wasm.js";
export * from "./errors.js";

/** An AtomicReference that holds a `T`, or nothing (`null`): the same
 * object as an `AtomicReference`, typed by what the application stores in
 * it. `T` must be a `Value`; declare object shapes with `type`, not
 * `interface` (an interface has no index signature, so TypeScript does not
 * take it as a `Value`). Nothing checks at run time that another writer
 * stored a `T`. */
export type TypedAtomicReference<T extends Value> = Omit<AtomicReference, TypedMethods> & {
  get(): Promise<T | null>;
  set(value: T | null): Promise<void>;
  getAndSet(value: T | null): Promise<T | null>;
  compareAndSet(expect: T | null, update: T | null): Promise<boolean>;
  setIfAbsent(value: T): Promise<boolean>;
  contains(value: T | null): Promise<boolean>;
};
/** The methods that take or give what the reference holds; the rest
 * (`isNull`, `clear`, `destroy`, `name`, ...) are `AtomicReference`'s. */
type TypedMethods = "get" | "set" | "getAndSet" | "compareAndSet" | "setIfAbsent" | "contains";

/** A connection to a raftcp cluster with one session (see `connect`). */
export type Client = Omit<DeclaredClient, "getAtomicReference"> & {
  /** The AtomicReference `name` (`name@group` picks a group), typed by
   * what it holds: `getAtomicReference<{ theme: string }>("config")`.
   * Without a type argument it holds any `Value`. */
  getAtomicReference<T extends Value = Value>(name: string): TypedAtomicReference<T>;
};
export declare const Client: typeof DeclaredClient;

/** Connects to a raftcp cluster through any of `endpoints`
 * (`ws://host:port`). The first call also loads the client (the .wasm). */
export declare function connect(
  endpoints: string | string[],
  options?: ConnectOptions,
): Promise<Client>;
