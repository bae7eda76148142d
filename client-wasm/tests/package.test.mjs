// The package as users get it: `npm pack` of the built package, installed
// into a fresh project (no other dependency than `ws`, which Node 20
// needs), imported by name, connected to a real cluster.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Cluster } from "./cluster.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const project = mkdtempSync(join(tmpdir(), "raftcp-fresh-"));
let cluster;

before(async () => {
  cluster = await Cluster.start();
});

after(async () => {
  await cluster?.stop();
  rmSync(project, { recursive: true, force: true });
});

const npm = (args, cwd) => execFileSync("npm", args, { cwd, encoding: "utf8", stdio: "pipe" });

test("the packed package installs into a fresh project and works", async () => {
  const packed = JSON.parse(npm(["pack", join(here, "..", "pkg"), "--json", "--pack-destination", project], here));
  const tarball = join(project, packed[0].filename);
  const shipped = packed[0].files.map((file) => file.path);
  const expected = ["README.md", "index.d.ts", "errors.d.ts", "raftcp_wasm_bg.wasm", "node.js", "browser.js",
    "inline.js", "raftcp_wasm_inline.js"];
  for (const file of expected) {
    assert.ok(shipped.includes(file), `${file} is not in the package: ${shipped}`);
  }
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "fresh", private: true, type: "module" }));
  npm(["install", "--no-audit", "--no-fund", "--loglevel=error", tarball, join(here, "node_modules", "ws")], project);
  assert.ok(existsSync(join(project, "node_modules", "raftcp", "README.md")));
  assert.match(readFileSync(join(project, "node_modules", "raftcp", "README.md"), "utf8"), /npm install raftcp/);
  writeFileSync(join(project, "main.js"), `
    import { connect } from "raftcp";
    import { WebSocket } from "ws";
    const client = await connect(${JSON.stringify(cluster.endpoints)}, { WebSocket });
    const counter = client.getAtomicLong("fresh-project");
    console.log(String(await counter.incrementAndGet()), String(await counter.incrementAndGet()));
    await client.close();
  `);
  const printed = execFileSync("node", ["main.js"], { cwd: project, encoding: "utf8" }).trim();
  assert.equal(printed, "1 2");
});
