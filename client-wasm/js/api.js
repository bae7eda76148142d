// What every entry exports besides its own connect() (see lazy.js).
export {
  Client,
  AtomicLong,
  AtomicReference,
  FencedLock,
  Semaphore,
  CountDownLatch,
  ClusterAdmin,
} from "./raftcp_wasm.js";
export * from "./errors.js";
