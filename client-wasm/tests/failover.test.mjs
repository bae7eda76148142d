// Failover from JavaScript: the member the client is connected to (the
// leader: the client follows it) is killed with SIGKILL mid-run. Every call
// still completes, each increment is applied exactly once, and fences keep
// increasing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { connect } from "raftcp";
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

test("kill -9 of the connected member mid-run", async () => {
  const client = await connect(cluster.endpoints, { WebSocket });
  const counter = client.getAtomicLong("failover-counter");
  const lock = client.getFencedLock("failover-lock");
  assert.equal(await counter.get(), 0n); // connected, and moved to the leader

  const seen = [];
  const fences = [];
  let done = 0;
  const worker = async () => {
    for (let i = 0; i < INCREMENTS_PER_WORKER; i++) {
      seen.push(await counter.incrementAndGet());
      done++;
    }
  };
  const locker = async () => {
    while (done < WORKERS * INCREMENTS_PER_WORKER) {
      fences.push(await lock.withLock(async (fence) => fence));
    }
  };
  const run = Promise.all([...Array.from({ length: WORKERS }, worker), locker()]);

  while (done < (WORKERS * INCREMENTS_PER_WORKER) / 4) await new Promise((r) => setTimeout(r, 5));
  const leader = await cluster.waitForLeader();
  cluster.kill(leader);
  const newLeader = await cluster.waitForLeader(leader);
  cluster.startMember(leader);
  await run;

  const total = WORKERS * INCREMENTS_PER_WORKER;
  assert.notEqual(newLeader, leader);
  assert.equal(new Set(seen).size, total, "every increment returned a distinct value");
  assert.equal(await counter.get(), BigInt(total), "each increment applied exactly once");
  for (let i = 1; i < fences.length; i++) assert.ok(fences[i] > fences[i - 1], "fences increase");
  assert.equal(client.sessionsLost, 0);
  await client.close();
});
