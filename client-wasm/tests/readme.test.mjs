// The README's Node, Deno and browser snippets, run as written (only the
// endpoints point at the test's cluster). The Worker snippet runs in
// workerd.test.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import { readFile, rm, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./chromium.mjs";
import { Cluster } from "./cluster.mjs";
import { snippet, withEndpoints } from "./readme.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const run = promisify(execFile);

let cluster;
let pageServer;
let pageOrigin;

before(async () => {
  // The browser snippet's page comes from its own server; the members are
  // told to take connections from that origin (pages from others are
  // refused).
  pageServer = createServer(servePage);
  await new Promise((resolve) => pageServer.listen(0, "127.0.0.1", resolve));
  pageOrigin = `http://127.0.0.1:${pageServer.address().port}`;
  cluster = await Cluster.start({ allowedOrigins: [pageOrigin] });
});

after(async () => {
  pageServer?.closeAllConnections();
  pageServer?.close();
  await cluster?.stop();
});

/** The README's browser snippet as a page, and the package it imports. */
function servePage(request, response) {
  const path = new URL(request.url, "http://x").pathname;
  const prefix = "/node_modules/raftcp/";
  if (path === "/") {
    const page = withEndpoints(snippet("browser"), cluster.endpoints);
    return response.writeHead(200, { "content-type": "text/html" }).end(page);
  }
  if (!path.startsWith(prefix) || path.includes("..")) return response.writeHead(404).end();
  const type = extname(path) === ".wasm" ? "application/wasm" : "text/javascript";
  readFile(join(here, "..", "pkg", path.slice(prefix.length))).then(
    (body) => response.writeHead(200, { "content-type": type }).end(body),
    () => response.writeHead(404).end(),
  );
}

/** Writes `code` beside the tests (so "raftcp" and "ws" resolve) and runs it. */
async function runFile(name, code, command, args) {
  const file = join(here, name);
  await writeFile(file, withEndpoints(code, cluster.endpoints));
  try {
    return (await run(command, [...args, file], { cwd: here, env: { ...process.env, NO_COLOR: "1" } })).stdout;
  } finally {
    await rm(file, { force: true });
  }
}

test("README Node snippet", async () => {
  const output = await runFile(".readme-node.mjs", snippet("node"), process.execPath, []);
  assert.match(output, /^next id 1n\nholding resource-lock with fence \d+n\n$/);
});

test("README watch snippet", async () => {
  const output = await runFile(".readme-watch.mjs", snippet("watch"), process.execPath, []);
  assert.equal(output, "visits 0\nvisits 1\nvisits 2\nvisits 3\n");
});

test("README Deno snippet", async () => {
  const deno = join(here, "node_modules", ".bin", "deno");
  const output = await runFile(".readme-deno.js", snippet("deno"), deno,
    ["run", "--allow-net=127.0.0.1", "--allow-read=.,.."]);
  assert.equal(output, "permits left 8\n");
});

test("README browser snippet", async () => {
  const browser = await launchChromium();
  try {
    const tab = await browser.newPage();
    await tab.goto(`${pageOrigin}/`);
    await tab.waitForFunction(() => document.body.textContent.startsWith("{"), null, { timeout: 60_000 });
    assert.deepEqual(JSON.parse(await tab.evaluate(() => document.body.textContent)),
      { retries: 3, theme: "dark" });
  } finally {
    await browser.close();
  }
});
