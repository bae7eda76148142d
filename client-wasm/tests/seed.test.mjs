// Every snippet and use case of the CP Subsystem guide, in JavaScript, with
// the package imported as a user imports it, against a real cluster.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { connect, ClosedError } from "raftcp";
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

test("Node resolves the package's node entry", () => {
  assert.match(import.meta.resolve("raftcp"), /\/node\.js$/);
});

test("AtomicLong", async () => {
  const atomicLong = client.getAtomicLong("sequence-generator");
  await atomicLong.set(0);
  assert.equal(await atomicLong.incrementAndGet(), 1n);
  assert.equal(await atomicLong.decrementAndGet(), 0n);
  assert.equal(await atomicLong.addAndGet(10), 10n);
  assert.equal(await atomicLong.getAndAdd(5), 10n);
  assert.equal(await atomicLong.get(), 15n);
  assert.equal(await atomicLong.compareAndSet(15, 20), true);
  assert.equal(await atomicLong.compareAndSet(15, 30), false);
  // "Async operations": every call is a promise; several run at once.
  const results = await Promise.all([1, 2, 3].map(() => atomicLong.incrementAndGet()));
  assert.deepEqual([...results].sort(), [21n, 22n, 23n]);
  assert.equal(await atomicLong.getAndSet(7n), 23n);
  assert.equal(await atomicLong.getAndIncrement(), 7n);
  assert.equal(await atomicLong.getAndDecrement(), 8n);
  assert.equal(await atomicLong.get(), 7n);
  // 64-bit values survive the trip exactly.
  await atomicLong.set(2n ** 62n);
  assert.equal(await atomicLong.incrementAndGet(), 2n ** 62n + 1n);
});

test("AtomicReference", async () => {
  const atomicRef = client.getAtomicReference("config");
  await atomicRef.set({ timeout: 30, retries: 3 });
  assert.deepEqual(await atomicRef.get(), { timeout: 30, retries: 3 });
  const oldConfig = { timeout: 30, retries: 3 };
  const newConfig = { timeout: 60, retries: 5 };
  assert.equal(await atomicRef.compareAndSet(oldConfig, newConfig), true);
  // Compared canonically: key order does not matter.
  assert.equal(await atomicRef.contains({ retries: 5, timeout: 60 }), true);
  const previous = await atomicRef.getAndSet(newConfig);
  assert.deepEqual(previous, newConfig);
  const defaultConfig = { timeout: 10, retries: 1 };
  assert.equal(await atomicRef.setIfAbsent(defaultConfig), false);
  assert.equal(await atomicRef.isNull(), false);
  await atomicRef.clear();
  assert.equal(await atomicRef.isNull(), true);
  assert.equal(await atomicRef.get(), null);
  assert.equal(await atomicRef.setIfAbsent(defaultConfig), true);
  assert.deepEqual(await atomicRef.get(), defaultConfig);
});

test("AtomicReference values read back as they were set", async () => {
  const ref = client.getAtomicReference("values");
  const value = {
    small: 42,
    negative: -7,
    float: 1.5,
    big: 2n ** 60n,
    text: "héllo",
    bytes: new Uint8Array([0, 1, 255]),
    list: [true, false, null, [1, "two"]],
    nested: { a: { b: { c: "deep" } } },
  };
  await ref.set(value);
  assert.deepEqual(await ref.get(), value);
});

test("FencedLock", async () => {
  const lock = client.getFencedLock("resource-lock");
  const fence = await lock.lock();
  try {
    assert.equal(typeof fence, "bigint");
    assert.equal(await lock.isLockedByMe(), true);
  } finally {
    await lock.unlock();
  }
  // Try lock with timeout.
  const fence2 = await lock.tryLock(5000);
  assert.ok(fence2 !== null && fence2 > fence);
  if (fence2 !== null) {
    try {
      assert.equal(await lock.getFence(), fence2);
    } finally {
      await lock.unlock();
    }
  }
  // The context manager: withLock unlocks on every path.
  const seen = await lock.withLock(async (fence3) => {
    assert.ok(fence3 > fence2);
    return fence3;
  });
  assert.equal(typeof seen, "bigint");
  await assert.rejects(lock.withLock(() => { throw new Error("work failed"); }), /work failed/);
  assert.equal(await lock.isLocked(), false);
});

test("fencing tokens increase across holders", async () => {
  const lock = client.getFencedLock("fenced-resource");
  const other = client.getFencedLock("fenced-resource");
  const fence1 = await lock.lock();
  // A second holder waits, then gets a larger fence.
  const second = other.lock();
  assert.equal(await other.tryLock(), null);
  await lock.unlock();
  const fence2 = await second;
  assert.ok(fence2 > fence1);
  await other.unlock();
});

test("Semaphore", async () => {
  const semaphore = client.getSemaphore("connection-pool");
  assert.equal(await semaphore.init(10), true);
  await semaphore.acquire();
  await semaphore.acquire(3);
  assert.equal(await semaphore.tryAcquire(), true);
  assert.equal(await semaphore.tryAcquire(2, 5000), true);
  await semaphore.release();
  await semaphore.release(3);
  assert.equal(await semaphore.availablePermits(), 7);
  assert.equal(await semaphore.drainPermits(), 7);
  await semaphore.increasePermits(5);
  await semaphore.reducePermits(2);
  assert.equal(await semaphore.availablePermits(), 3);
});

test("CountDownLatch", async () => {
  const latch = client.getCountDownLatch("startup-latch");
  assert.equal(await latch.trySetCount(3), true);
  const waiting = latch.awaitLatch();
  assert.equal(await latch.awaitLatch(50), false);
  for (let worker = 0; worker < 3; worker++) await latch.countDown();
  assert.equal(await waiting, true);
  const completed = await latch.awaitLatch(30_000);
  assert.equal(completed, true);
  assert.equal(await latch.getCount(), 0);
});

test("use case: distributed sequence generator", async () => {
  async function getNextId() {
    const counter = client.getAtomicLong("id-sequence");
    return counter.incrementAndGet();
  }
  const ids = await Promise.all(Array.from({ length: 50 }, getNextId));
  assert.equal(new Set(ids).size, 50);
});

test("use case: distributed rate limiter", async () => {
  async function checkRateLimit(userId, limit) {
    const semaphore = client.getSemaphore(`rate-limit:${userId}`);
    if ((await semaphore.availablePermits()) === 0) await semaphore.init(limit);
    return semaphore.tryAcquire(1, 0);
  }
  const outcomes = [];
  for (let i = 0; i < 5; i++) outcomes.push(await checkRateLimit("alice", 3));
  assert.deepEqual(outcomes, [true, true, true, false, false]);
});

test("use case: leader election", async () => {
  const contender = await connect(cluster.endpoints, { WebSocket });
  try {
    const leaderLock = client.getFencedLock("leader-lock");
    async function tryBecomeLeader(lock) {
      const fence = await lock.tryLock(0);
      return fence !== null;
    }
    assert.equal(await tryBecomeLeader(leaderLock), true);
    assert.equal(await tryBecomeLeader(contender.getFencedLock("leader-lock")), false);
    let processed = 0;
    async function doLeaderWork(c) {
      const lock = c.getFencedLock("leader-lock");
      await lock.withLock(async () => {
        processed++; // only one instance executes this at a time
      });
    }
    const work = doLeaderWork(contender);
    // The current leader steps down; the contender's work then runs.
    await leaderLock.unlock();
    await work;
    assert.equal(processed, 1);
  } finally {
    await contender.close();
  }
});

test("use case: distributed barrier", async () => {
  const participants = 3;
  const clients = await Promise.all(
    Array.from({ length: participants }, () => connect(cluster.endpoints, { WebSocket })),
  );
  try {
    async function distributedBarrier(c, participantCount) {
      const latch = c.getCountDownLatch("barrier");
      await latch.trySetCount(participantCount);
      await latch.countDown();
      await latch.awaitLatch();
      return "All participants ready, proceeding...";
    }
    const results = await Promise.all(clients.map((c) => distributedBarrier(c, participants)));
    assert.equal(results.length, participants);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

test("a closed client rejects with ClosedError", async () => {
  const short = await connect(cluster.endpoints, { WebSocket });
  await short.getAtomicLong("closing").incrementAndGet();
  await short.close();
  await assert.rejects(short.getAtomicLong("closing").get(), ClosedError);
});
