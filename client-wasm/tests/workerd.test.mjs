// The package in Cloudflare's workerd (the real runtime from the `workerd`
// npm package): the README's Worker imports it through the "workerd" export and, per
// HTTP request, increments an AtomicLong and takes and ends a leased
// FencedLock, over HTTP without a session. Concurrent requests must each
// count exactly once, and holders get distinct fences.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { connect } from "raftcp";
import { Cluster } from "./cluster.mjs";
import { startWorker } from "./workerd.mjs";

const REQUESTS = 24;

let cluster;
let runtime;

before(async () => {
  cluster = await Cluster.start();
  runtime = await startWorker(cluster.endpoints);
});

after(async () => {
  runtime?.stop();
  await cluster?.stop();
});

test("concurrent Worker requests each increment once, and take the leased lock in turn, without a session", async () => {
  const leader = await cluster.waitForLeader();
  const sessions = await cluster.gauge(leader, "raftcp_sessions");
  const client = await connect(cluster.endpoints, { WebSocket });
  const before = await client.getAtomicLong("worker-hits").get();
  const answers = await Promise.all(
    Array.from({ length: REQUESTS }, async () => {
      const response = await fetch(runtime.url);
      const body = await response.json();
      assert.ok(response.status === 200 || (response.status === 409 && body.busy), JSON.stringify(body));
      return body;
    }),
  );
  const values = answers.map((answer) => BigInt(answer.hits));
  assert.equal(new Set(values).size, REQUESTS);
  const fences = answers.filter((answer) => answer.fence).map((answer) => BigInt(answer.fence));
  assert.ok(fences.length > 0, "some request took the lock");
  assert.equal(new Set(fences).size, fences.length, "each holder had its own fence");
  const after = await client.getAtomicLong("worker-hits").get();
  // The HEAD probes at start-up ran the Worker too, before `before` was read.
  assert.equal(after - before, BigInt(REQUESTS));
  // Every lease was ended, and no request opened a session: only this
  // test's own client holds one.
  assert.equal(await client.getFencedLock("worker-lock").isLocked(), false);
  assert.equal(await cluster.gauge(leader, "raftcp_sessions"), sessions + 1);
  await client.close();
});

// Within one request (a socket belongs to the request that opened it): a
// Worker watches a counter and a lock while it changes them.
const WATCHING_WORKER = `
import { connect } from "raftcp";
export default {
  async fetch(request, env) {
    const client = await connect(env.RAFTCP_ENDPOINTS.split(","));
    try {
      const counter = client.getAtomicLong("worker-watched");
      const lock = client.getFencedLock("worker-watched-lock");
      // Each watch's first change is the state when it began.
      const counterChanges = counter.watch();
      const lockChanges = lock.watch();
      const take = async (changes, count) => {
        const seen = [];
        while (seen.length < count) seen.push((await changes.next()).value.value);
        return seen;
      };
      const counts = await take(counterChanges, 1);
      const locks = await take(lockChanges, 1);
      await counter.incrementAndGet();
      await counter.incrementAndGet();
      const fence = await lock.lock();
      await lock.unlock();
      counts.push(...(await take(counterChanges, 2)));
      locks.push(...(await take(lockChanges, 2)));
      await counterChanges.return();
      await lockChanges.return();
      return Response.json({
        counts: counts.map(String),
        locks: locks.map((s) => [s.held, String(s.fence)]),
        fence: String(fence),
      });
    } catch (e) {
      return Response.json({ error: String(e && e.stack || e) }, { status: 500 });
    } finally {
      await client.close();
    }
  },
};
`;

test("a Worker watches a counter move and a lock change hands", async () => {
  const watching = await startWorker(cluster.endpoints, { script: WATCHING_WORKER });
  try {
    const response = await fetch(watching.url);
    const body = await response.json();
    assert.equal(response.status, 200, JSON.stringify(body));
    // The HEAD probes at start-up ran the Worker too: values moved since.
    const counts = body.counts.map(BigInt);
    assert.equal(counts[1], counts[0] + 1n);
    assert.equal(counts[2], counts[0] + 2n);
    assert.deepEqual(body.locks, [[false, "0"], [true, body.fence], [false, "0"]]);
  } finally {
    watching.stop();
  }
});

// Session-less calls only: the workerd entry sends them over HTTP.
const COUNTING_WORKER = `
import { connect } from "raftcp";
export default {
  async fetch(request, env) {
    const client = await connect(env.RAFTCP_ENDPOINTS.split(","));
    try {
      const hits = await client.getAtomicLong("worker-http-hits").incrementAndGet();
      return Response.json({ hits: String(hits) });
    } catch (e) {
      return Response.json({ error: String(e && e.stack || e) }, { status: 500 });
    } finally {
      await client.close();
    }
  },
};
`;

test("concurrent Worker requests count exactly over HTTP, opening no session", async () => {
  const counting = await startWorker(cluster.endpoints, { script: COUNTING_WORKER });
  try {
    const leader = await cluster.waitForLeader();
    const sessions = await cluster.gauge(leader, "raftcp_sessions");
    const client = await connect(cluster.endpoints, { WebSocket });
    const counter = client.getAtomicLong("worker-http-hits");
    const before = await counter.get();
    const answers = await Promise.all(
      Array.from({ length: REQUESTS }, async () => {
        const response = await fetch(counting.url);
        const body = await response.json();
        assert.equal(response.status, 200, JSON.stringify(body));
        return BigInt(body.hits);
      }),
    );
    assert.equal(new Set(answers).size, REQUESTS);
    assert.equal(await counter.get() - before, BigInt(REQUESTS));
    // Only this test's own client holds a session.
    assert.equal(await cluster.gauge(leader, "raftcp_sessions"), sessions + 1);
    await client.close();
  } finally {
    counting.stop();
  }
});
