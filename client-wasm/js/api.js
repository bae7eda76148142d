// What every entry exports once the wasm module is loaded.
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
export * from "./errors.js";
