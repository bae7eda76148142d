/// <reference lib="esnext.disposable" />
// wasm-bindgen gives each class a [Symbol.dispose]; this brings its type
// to projects whose `lib` predates it.
// The package's public types: the classes and connect() as wasm-bindgen
// declared them, and the error classes.
export {
  connect,
  Client,
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
} from "./raftcp_wasm.js";
export * from "./errors.js";
