// The package in Cloudflare's workerd (the real runtime from the `workerd`
// npm package): the README's Worker imports it through the "workerd" export and, per
// HTTP request, increments an AtomicLong and takes and releases a
// FencedLock. Concurrent requests must each count exactly once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { connect } from "raftcp";
import { Cluster, freePort } from "./cluster.mjs";
import { snippet } from "./readme.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, "..", "pkg");
const workerd = join(here, "node_modules", ".bin", "workerd");
const REQUESTS = 24;

let cluster;
let runtime;
let configDir;

/** The workerd config: the Worker, the package's modules, outbound network. */
function config(dir, port, endpoints) {
  const snippet = readdirSync(join(pkg, "snippets"))[0];
  const module = (name, file, kind = "esModule") =>
    `(name = "${name}", ${kind} = embed "${relative(dir, file)}")`;
  const modules = [
    module("worker.js", join(dir, "worker.js")),
    module("raftcp", join(pkg, "workerd.js")),
    module("raftcp_wasm.js", join(pkg, "raftcp_wasm.js")),
    module("api.js", join(pkg, "api.js")),
    module("errors.js", join(pkg, "errors.js")),
    module(`snippets/${snippet}/js/errors.js`, join(pkg, "snippets", snippet, "js", "errors.js")),
    module("raftcp_wasm_bg.wasm", join(pkg, "raftcp_wasm_bg.wasm"), "wasm"),
  ];
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "network", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [${modules.join(",\n    ")}],
  compatibilityDate = "2025-06-01",
  bindings = [(name = "RAFTCP_ENDPOINTS", text = "${endpoints.join(",")}")],
  globalOutbound = "network",
);
`;
}

before(async () => {
  cluster = await Cluster.start();
  const port = await freePort();
  configDir = mkdtempSync(join(tmpdir(), "raftcp-workerd-"));
  const file = join(configDir, "config.capnp");
  writeFileSync(join(configDir, "worker.js"), snippet("worker"));
  writeFileSync(file, config(configDir, port, cluster.endpoints));
  runtime = spawn(workerd, ["serve", file], { stdio: ["ignore", "inherit", "inherit"] });
  runtime.url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await fetch(runtime.url, { method: "HEAD" });
      break;
    } catch {
      if (Date.now() > deadline || runtime.exitCode !== null) throw new Error("workerd did not start");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
});

after(async () => {
  runtime?.kill("SIGKILL");
  await cluster?.stop();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
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
