// The package in Cloudflare's workerd (the real runtime from the `workerd`
// npm package): the README's Worker imports it through the "workerd" export and, per
// HTTP request, increments an AtomicLong and takes and releases a
// FencedLock. Concurrent requests must each count exactly once.
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

test("concurrent Worker requests each increment once and take the lock", async () => {
  const client = await connect(cluster.endpoints, { WebSocket });
  const before = await client.getAtomicLong("worker-hits").get();
  const answers = await Promise.all(
    Array.from({ length: REQUESTS }, async () => {
      const response = await fetch(runtime.url);
      const body = await response.json();
      assert.equal(response.status, 200, JSON.stringify(body));
      return body;
    }),
  );
  const values = answers.map((answer) => BigInt(answer.hits));
  const fences = answers.map((answer) => BigInt(answer.fence));
  assert.equal(new Set(values).size, REQUESTS);
  assert.equal(new Set(fences).size, REQUESTS, "each request held the lock on its own");
  const after = await client.getAtomicLong("worker-hits").get();
  // The HEAD probes at start-up ran the Worker too, before `before` was read.
  assert.equal(after - before, BigInt(REQUESTS));
  await client.close();
});
