// Bad input gets a clear, typed error and harms nothing; an AbortSignal
// cancels a queued wait on the server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import {
  connect, RaftcpError, OperationError, InvalidValueError, ConfigError, AbortError,
  LockOwnershipLostError, TimeoutError,
} from "raftcp";
import { Cluster } from "./cluster.mjs";

let cluster;
let client;

before(async () => {
  cluster = await Cluster.start();
  client = await connect(cluster.endpoints, { WebSocket });
});

after(async () => {
  await client?.close();
  await cluster?.stop();
});

const hasCode = (ErrorClass, code) => (error) =>
  error instanceof ErrorClass && error instanceof RaftcpError && error instanceof Error &&
  error.code === code && error.name === ErrorClass.name && error.message.length > 0;

test("connect options are checked", async () => {
  await assert.rejects(connect([], { WebSocket }), hasCode(ConfigError, "CONFIG"));
  await assert.rejects(connect(42, { WebSocket }), hasCode(ConfigError, "CONFIG"));
  // Node 20 has no global WebSocket: the error says what to pass.
  if (globalThis.WebSocket === undefined) {
    await assert.rejects(connect(cluster.endpoints), /ws package/);
  }
  await assert.rejects(
    connect(cluster.endpoints, { WebSocket, requestTimeoutMs: -5 }),
    hasCode(ConfigError, "CONFIG"),
  );
});

test("numbers that are not what they must be are refused, not coerced", async () => {
  const counter = client.getAtomicLong("strict");
  await assert.rejects(counter.set(1.5), hasCode(InvalidValueError, "INVALID_VALUE"));
  await assert.rejects(counter.addAndGet("7"), hasCode(InvalidValueError, "INVALID_VALUE"));
  await assert.rejects(counter.set(2n ** 64n), hasCode(InvalidValueError, "INVALID_VALUE"));
  const semaphore = client.getSemaphore("strict");
  await assert.rejects(semaphore.init(-1), hasCode(InvalidValueError, "INVALID_VALUE"));
  await assert.rejects(semaphore.acquire(2.5), hasCode(InvalidValueError, "INVALID_VALUE"));
  await assert.rejects(semaphore.tryAcquire(1, -10), hasCode(InvalidValueError, "INVALID_VALUE"));
  // Nothing was applied by the refused calls.
  assert.equal(await counter.get(), 0n);
  assert.equal(await semaphore.init(2), true);
});

test("values that cannot be stored are refused", async () => {
  const ref = client.getAtomicReference("strict-ref");
  await assert.rejects(ref.set(new Date()), hasCode(InvalidValueError, "INVALID_VALUE"));
  await assert.rejects(ref.set(new Map()), hasCode(InvalidValueError, "INVALID_VALUE"));
  await assert.rejects(ref.set({ f: () => 1 }), hasCode(InvalidValueError, "INVALID_VALUE"));
  const cyclic = {};
  cyclic.self = cyclic;
  await assert.rejects(ref.set(cyclic), /nested deeper/);
  await assert.rejects(ref.set("x".repeat(2 * 1024 * 1024)), hasCode(OperationError, "VALUE_TOO_LARGE"));
  assert.equal(await ref.isNull(), true);
});

test("names and owners are checked by the cluster", async () => {
  await assert.rejects(client.getAtomicLong("").get(), hasCode(OperationError, "INVALID_NAME"));
  await assert.rejects(
    client.getAtomicLong("counter@no-such-group").get(),
    hasCode(OperationError, "UNKNOWN_GROUP"),
  );
  const lock = client.getFencedLock("owned");
  await assert.rejects(lock.unlock(), hasCode(OperationError, "NOT_OWNER"));
  await assert.rejects(client.getSemaphore("owned").release(), hasCode(OperationError, "NOT_OWNER"));
});

test("an AbortSignal cancels a queued lock wait on the server", async () => {
  const holder = client.getFencedLock("abortable");
  const waiter = client.getFencedLock("abortable");
  const held = await holder.lock();
  const controller = new AbortController();
  const waiting = waiter.lock({ signal: controller.signal });
  setTimeout(() => controller.abort(), 100);
  await assert.rejects(waiting, hasCode(AbortError, "ABORTED"));
  // Had the wait stayed queued, the unlock would hand the lock to it.
  await holder.unlock();
  const next = await holder.tryLock();
  assert.ok(next !== null && next > held);
  await holder.unlock();
  // An already-aborted signal rejects at once.
  await assert.rejects(waiter.lock({ signal: AbortSignal.abort() }), AbortError);
});

test("AbortSignal on acquire and awaitLatch", async () => {
  const semaphore = client.getSemaphore("abort-pool");
  await semaphore.init(1);
  await assert.rejects(semaphore.acquire(2, { signal: AbortSignal.timeout(100) }), AbortError);
  assert.equal(await semaphore.tryAcquire(1), true);
  const latch = client.getCountDownLatch("abort-latch");
  await latch.trySetCount(1);
  await assert.rejects(latch.awaitLatch(undefined, { signal: AbortSignal.timeout(100) }), AbortError);
  await latch.countDown();
  assert.equal(await latch.awaitLatch(1000), true);
});

test("a lock lost with its session is reported as LockOwnershipLostError", async () => {
  // A cluster member that stops hearing from the client expires its
  // session; the client learns of it when it reconnects.
  const short = await Cluster.start({ sessionTtlMs: 1500, heartbeatMs: 500 });
  try {
    const lonely = await connect(short.endpoints.slice(0, 1), { WebSocket, followLeader: false });
    const lock = lonely.getFencedLock("lost");
    await lock.lock();
    // Stop the only member it knows, long enough for the session to expire.
    const other = await connect(short.endpoints.slice(1), { WebSocket, followLeader: false });
    short.kill(1);
    await other.getFencedLock("lost").lock();
    short.startMember(1);
    await assert.rejects(lock.unlock(), hasCode(LockOwnershipLostError, "LOCK_OWNERSHIP_LOST"));
    assert.ok(lonely.sessionsLost >= 1);
    await other.close();
    await lonely.close();
  } finally {
    await short.stop();
  }
});

test("a call with no answer in time rejects with TimeoutError", async () => {
  // Nothing listens there: the error says the cluster was unreachable.
  const lonely = await connect(["ws://127.0.0.1:9"], { WebSocket, requestTimeoutMs: 300 });
  await assert.rejects(lonely.getAtomicLong("never").get(), hasCode(TimeoutError, "UNREACHABLE"));
  await lonely.close();
});

test("a lock is reentrant up to its handle's limit", async () => {
  assert.throws(() => client.getFencedLock("limited", 0), hasCode(InvalidValueError, "INVALID_VALUE"));
  assert.throws(() => client.getFencedLock("limited", -1), hasCode(InvalidValueError, "INVALID_VALUE"));
  const reentrant = client.getFencedLock("reentrant");
  const fence = await reentrant.lock();
  assert.equal(await reentrant.lock(), fence);
  assert.equal(await reentrant.getLockCount(), 2);
  await reentrant.unlock();
  await reentrant.unlock();
  const once = client.getFencedLock("limited", 1);
  await once.lock();
  // As in Hazelcast: lock() past the limit fails, tryLock() says no.
  await assert.rejects(once.lock(), hasCode(OperationError, "LOCK_ACQUIRE_LIMIT_REACHED"));
  assert.equal(await once.tryLock(), null);
  await once.unlock();
});

test("destroy() ends waits with OBJECT_DESTROYED and frees the name", async () => {
  const other = await connect(cluster.endpoints, { WebSocket });
  try {
    const held = client.getFencedLock("js-destroyed");
    const first = await held.lock();
    // Its rejection may arrive before destroy()'s answer: watched from now.
    const waiting = assert.rejects(
      other.getFencedLock("js-destroyed").lock(),
      hasCode(OperationError, "OBJECT_DESTROYED"),
    );
    // Let the wait reach the member before the lock goes.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await other.getFencedLock("js-destroyed").destroy();
    await waiting;
    await assert.rejects(held.unlock(), hasCode(OperationError, "OBJECT_DESTROYED"));
    const fresh = await held.lock();
    assert.ok(fresh > first, `fence ${fresh} after ${first}`);
    await held.unlock();
    for (const object of [
      client.getAtomicLong("js-destroyed"),
      client.getAtomicReference("js-destroyed"),
      client.getSemaphore("js-destroyed"),
      client.getCountDownLatch("js-destroyed"),
    ]) {
      await object.destroy();
    }
    assert.equal(await client.getAtomicLong("js-destroyed").get(), 0n);
  } finally {
    await other.close();
  }
});
