// The package over wss:// against members with a certificate from a test
// CA, in each host the way its docs say to trust a private CA: Node (a
// WebSocket that adds the CA), Deno (--cert) and workerd (the network's
// trustedCertificates). A host that does not trust the CA cannot connect,
// and says the cluster was unreachable. (Chromium: browser.test.mjs.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { connect, TimeoutError } from "raftcp";
import { Cluster } from "./cluster.mjs";
import { startWorker } from "./workerd.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const deno = join(here, "node_modules", ".bin", "deno");

let cluster;

before(async () => {
  cluster = await Cluster.start({ tls: true });
});

after(async () => {
  await cluster?.stop();
});

test("Node over wss:// with the CA", async () => {
  const ca = cluster.tls.caPem;
  class CaWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { ca });
    }
  }
  assert.match(cluster.endpoints[0], /^wss:/);
  const client = await connect(cluster.endpoints, { WebSocket: CaWebSocket });
  assert.equal(await client.getAtomicLong("node-over-tls").incrementAndGet(), 1n);
  await client.close();
});

test("Node without the CA cannot connect", async () => {
  const client = await connect(cluster.endpoints, { WebSocket, requestTimeoutMs: 3_000 });
  await assert.rejects(
    client.getAtomicLong("node-over-tls").get(),
    (error) => error instanceof TimeoutError && error.code === "UNREACHABLE",
  );
  await client.close();
});

test("Deno over wss:// with --cert", async () => {
  const { stdout } = await promisify(execFile)(
    deno,
    ["run", "--cert", cluster.tls.ca, "--allow-net=127.0.0.1", "--allow-read=.,..",
      "deno_smoke.js", ...cluster.endpoints],
    { cwd: here, env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" } },
  );
  const results = JSON.parse(stdout.trim().split("\n").at(-1));
  assert.equal(results.incremented, "42");
  assert.equal(results.latchOpened, true);
});

test("workerd over wss:// with trustedCertificates", async () => {
  const worker = await startWorker(cluster.endpoints, { caFile: cluster.tls.ca });
  try {
    const response = await fetch(worker.url);
    const body = await response.json();
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.ok(BigInt(body.hits) >= 1n);
    assert.ok(BigInt(body.fence) > 0n);
  } finally {
    worker.stop();
  }
});
