// A Rust struct and a JavaScript object are the same value: a Rust client
// (raftcp-test-client) sets a struct, JavaScript reads it as a plain object
// and compare-and-sets it with its keys in another order, and Rust's
// compare-and-set then matches what JavaScript wrote.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { WebSocket } from "ws";
import { connect } from "raftcp";
import { Cluster, serverBinary } from "./cluster.mjs";

const rustClient = process.env.RAFTCP_TEST_CLIENT ?? serverBinary.replace(/raftcp$/, "raftcp-test-client");
const run = promisify(execFile);

let cluster;

before(async () => {
  cluster = await Cluster.start();
});

after(async () => {
  await cluster?.stop();
});

test("values compare equal across Rust and JavaScript", async () => {
  const endpoint = cluster.endpoints[0];
  assert.equal((await run(rustClient, [endpoint, "set-config", "shared-config"])).stdout, "set\n");

  const client = await connect(cluster.endpoints, { WebSocket });
  const config = client.getAtomicReference("shared-config");
  const initial = { name: "raftcp", ratio: 0.5, retries: 3, tags: ["a", "b"], timeout: 30 };
  assert.deepEqual(await config.get(), initial);
  const reordered = { tags: ["a", "b"], timeout: 30, name: "raftcp", retries: 3, ratio: 0.5 };
  assert.equal(await config.contains(reordered), true);
  const updated = { retries: 5, timeout: 60, ratio: 0.5, name: "raftcp", tags: ["a", "b"] };
  assert.equal(await config.compareAndSet(reordered, updated), true);

  // Rust expects exactly what JavaScript wrote.
  assert.equal((await run(rustClient, [endpoint, "swap-config", "shared-config"])).stdout, "true\n");
  assert.deepEqual(await config.get(), initial);
  await client.close();
});
