// What every entry exports once the wasm module is loaded.
export {
  connect,
  Client,
  AtomicLong,
  AtomicReference,
  FencedLock,
  Semaphore,
  CountDownLatch,
} from "./raftcp_wasm.js";
export * from "./errors.js";
