// Session-less calls over HTTP (`transport: "http"`) in Node against a real
// cluster: concurrent increments each run once across a kill -9 of the
// leader with no session opened; calls that need a session open one when
// the runtime can, and fail at once with a ConfigError when it cannot;
// refusals carry the same codes as over a WebSocket; leased locks and
// permits are taken, renewed and ended by their token, never a forged one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { connect, ConfigError, InvalidValueError, LockOwnershipLostError, OperationError } from "raftcp";
import { Cluster } from "./cluster.mjs";

const WORKERS = 16;
const INCREMENTS_PER_WORKER = 40;

let cluster;

before(async () => {
  cluster = await Cluster.start();
});

after(async () => {
  await cluster?.stop();
});

test("increments over HTTP run once each across a kill -9 of the leader, with no session", async () => {
  // Node 20 has no global WebSocket, and none is passed: HTTP only.
  const client = await connect(cluster.endpoints, { transport: "http" });
  const counter = client.getAtomicLong("http-counter");
  const seen = [];
  let done = 0;
  const worker = async () => {
    for (let i = 0; i < INCREMENTS_PER_WORKER; i++) {
      seen.push(await counter.incrementAndGet());
      done++;
    }
  };
  const run = Promise.all(Array.from({ length: WORKERS }, worker));
  const deadline = Date.now() + 120_000;
  while (done < (WORKERS * INCREMENTS_PER_WORKER) / 4) {
    assert.ok(Date.now() < deadline, "the increments stalled");
    await new Promise((r) => setTimeout(r, 5));
  }
  const leader = await cluster.waitForLeader();
  cluster.kill(leader);
  const atKill = done;
  const newLeader = await cluster.waitForLeader(leader);
  cluster.startMember(leader);
  await run;

  const total = WORKERS * INCREMENTS_PER_WORKER;
  assert.ok(atKill < total, "the leader was killed while calls ran");
  assert.equal(new Set(seen).size, total, "every increment returned a distinct value");
  assert.equal(await counter.get(), BigInt(total), "each increment applied exactly once");
  assert.equal(await cluster.gauge(newLeader, "raftcp_sessions"), 0, "no session was opened");
  await client.close();
});

test("calls that need a session fail at once without a WebSocket, and open one with it", async () => {
  const httpOnly = await connect(cluster.endpoints, { transport: "http" });
  await assert.rejects(httpOnly.getFencedLock("http-lock").lock(), (e) => e instanceof ConfigError && /WebSocket/.test(e.message));
  // Session-less calls of every kind still run.
  const config = httpOnly.getAtomicReference("http-config");
  await config.set({ retries: 3 });
  assert.deepEqual(await config.get(), { retries: 3 });
  const latch = httpOnly.getCountDownLatch("http-latch");
  assert.equal(await latch.trySetCount(2), true);
  await latch.countDown();
  assert.equal(await latch.getCount(), 1);
  await httpOnly.close();

  const leader = await cluster.waitForLeader();
  const sessionsBefore = await cluster.gauge(leader, "raftcp_sessions");
  const both = await connect(cluster.endpoints, { transport: "http", WebSocket });
  assert.equal(await both.getAtomicLong("http-counter-2").incrementAndGet(), 1n);
  assert.equal(await cluster.gauge(leader, "raftcp_sessions"), sessionsBefore);
  const lock = both.getFencedLock("http-lock");
  const fence = await lock.lock();
  assert.ok(fence > 0n);
  assert.equal(await cluster.gauge(leader, "raftcp_sessions"), sessionsBefore + 1);
  await lock.unlock();
  await both.close();
});

test("refusals over HTTP carry the codes they carry over a WebSocket", async () => {
  await assert.rejects(connect(cluster.endpoints, { transport: "pigeon" }), ConfigError);
  const overHttp = await connect(cluster.endpoints, { transport: "http" });
  const overSocket = await connect(cluster.endpoints, { WebSocket });
  const refusals = async (client) => {
    const seen = [];
    const refused = (call) => call.then(() => assert.fail("taken"), (e) => seen.push([e.constructor.name, e.code]));
    await refused(client.getCountDownLatch("http-refused").trySetCount(-1));
    await refused(client.getAtomicReference("http-refused").set("x".repeat(300 * 1024)));
    await refused(client.getAtomicLong("bad\u0000name").get());
    return seen;
  };
  const expected = await refusals(overSocket);
  assert.equal(expected.length, 3);
  assert.deepEqual(await refusals(overHttp), expected);
  await overHttp.close();
  await overSocket.close();
});

test("a leased lock taken over HTTP is ended from another client by its token, never by a forged one", async () => {
  const first = await connect(cluster.endpoints, { transport: "http" });
  const lock = first.getFencedLock("http-leased");
  const taken = await lock.tryLockLeased(30_000);
  assert.equal(typeof taken.lease, "string");
  assert.ok(taken.fence > 0n);
  assert.equal(await lock.tryLockLeased(30_000), null, "held by the lease");
  await lock.renewLease(taken.lease);
  await first.close();

  // Another request (another client) ends it with the token alone.
  const second = await connect(cluster.endpoints, { transport: "http" });
  const same = second.getFencedLock("http-leased");
  const [id] = taken.lease.split(".");
  const forged = `${id}.${"00".repeat(32)}`;
  await assert.rejects(same.unlockLeased(forged), LockOwnershipLostError);
  await assert.rejects(same.unlockLeased("not a token"), InvalidValueError);
  await assert.rejects(same.tryLockLeased(10), (e) => e instanceof OperationError && e.code === "INVALID_ARGUMENT");
  await same.unlockLeased(taken.lease);
  await assert.rejects(same.unlockLeased(taken.lease), LockOwnershipLostError);
  const again = await same.tryLockLeased(30_000);
  assert.ok(again.fence > taken.fence);
  await same.unlockLeased(again.lease);
  await second.close();
});

test("leased permits come back when the lease is ended", async () => {
  // The WebSocket for init() (it needs no session, but the pool's owner
  // might well have one); the lease itself goes over HTTP.
  const client = await connect(cluster.endpoints, { transport: "http", WebSocket });
  const pool = client.getSemaphore("http-leased-pool");
  assert.equal(await pool.init(2), true);
  const lease = await pool.tryAcquireLeased(2, 30_000);
  assert.equal(typeof lease, "string");
  assert.equal(await pool.availablePermits(), 0);
  assert.equal(await pool.tryAcquireLeased(1, 30_000), null);
  await pool.renewLease(lease);
  await pool.releaseLeased(lease);
  assert.equal(await pool.availablePermits(), 2);
  await assert.rejects(pool.releaseLeased(lease), LockOwnershipLostError);
  await client.close();
});
