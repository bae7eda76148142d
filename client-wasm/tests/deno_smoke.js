// Run by deno.test.mjs under Deno: each primitive once, through the
// package's "deno" entry and Deno's own WebSocket. Prints one JSON line.
import { connect, OperationError } from "raftcp";

const endpoints = Deno.args;
const client = await connect(endpoints);
const results = {};
// Which of the package's entries Deno picked.
results.entry = import.meta.resolve("raftcp").split("/").pop();

const counter = client.getAtomicLong("deno-counter");
await counter.set(41);
results.incremented = String(await counter.incrementAndGet());

const ref = client.getAtomicReference("deno-config");
await ref.set({ runtime: "deno", bytes: new Uint8Array([7]) });
results.swapped = await ref.compareAndSet({ bytes: new Uint8Array([7]), runtime: "deno" }, { ok: true });
results.reference = await ref.get();

const lock = client.getFencedLock("deno-lock");
const fence = await lock.lock();
results.lockedByMe = await lock.isLockedByMe();
await lock.unlock();
results.fenceIsBigint = typeof fence === "bigint";
try {
  await lock.unlock();
} catch (error) {
  results.unlockError = error instanceof OperationError ? error.code : String(error);
}

const semaphore = client.getSemaphore("deno-pool");
await semaphore.init(2);
results.acquired = await semaphore.tryAcquire(2, 1000);
results.available = await semaphore.availablePermits();
await semaphore.release(2);

const latch = client.getCountDownLatch("deno-latch");
await latch.trySetCount(1);
const opened = latch.awaitLatch(10_000);
await latch.countDown();
results.latchOpened = await opened;

await client.close();
console.log(JSON.stringify(results));
