// The package under Deno (the real runtime from the `deno` npm package):
// a smoke run of each primitive through the "deno" export and Deno's
// global WebSocket.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Cluster } from "./cluster.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const deno = join(here, "node_modules", ".bin", "deno");

let cluster;

before(async () => {
  cluster = await Cluster.start();
});

after(async () => {
  await cluster?.stop();
});

test("each primitive under Deno", async () => {
  const { stdout } = await promisify(execFile)(
    deno,
    ["run", "--allow-net=127.0.0.1", "--allow-read=.,..", "deno_smoke.js", ...cluster.endpoints],
    { cwd: here, env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" } },
  );
  const results = JSON.parse(stdout.trim().split("\n").at(-1));
  assert.deepEqual(results, {
    entry: "deno.js",
    incremented: "42",
    swapped: true,
    reference: { ok: true },
    lockedByMe: true,
    fenceIsBigint: true,
    unlockError: "NOT_OWNER",
    acquired: true,
    available: 0,
    latchOpened: true,
  });
});
