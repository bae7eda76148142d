// The package in applications built by bundlers on their default
// configuration, then run in headless Chromium against a real cluster:
// the import must not need top-level await, and the bundler must find the
// .wasm itself (through `new URL(..., import.meta.url)`), with no copy step;
// for esbuild, which does not, `raftcp/inline` carries it inside.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./chromium.mjs";
import { Cluster } from "./cluster.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const CONTENT_TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };

let cluster;
let server;
let browser;
let origin;
let site;
const built = mkdtempSync(join(tmpdir(), "raftcp-apps-"));

/** Serves whichever built app `site` names. */
function serve(request, response) {
  const path = normalize(new URL(request.url, "http://x").pathname);
  const file = join(site, path === "/" ? "index.html" : path);
  if (!file.startsWith(site)) {
    response.writeHead(404).end();
    return;
  }
  readFile(file).then(
    (body) => response.writeHead(200, { "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream" }).end(body),
    () => response.writeHead(404).end(),
  );
}

before(async () => {
  server = createServer(serve);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${server.address().port}`;
  cluster = await Cluster.start({ allowedOrigins: [origin] });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.close();
  await cluster?.stop();
  rmSync(built, { recursive: true, force: true });
});

/** Opens the built app and returns what it wrote once done. */
async function runApp(dist) {
  site = dist;
  const page = await browser.newPage();
  const endpoint = cluster.endpoints[0];
  await page.goto(`${origin}/?endpoint=${encodeURIComponent(endpoint)}`);
  await page.waitForFunction(() => document.title !== "loading", null, { timeout: 60_000 });
  const [title, text] = await Promise.all([page.title(), page.textContent("#result")]);
  await page.close();
  assert.equal(title, "done", text);
  return JSON.parse(text);
}

/** Builds app `name` with `tool` (from node_modules/.bin) into a fresh directory. */
function build(name, tool, args) {
  const out = join(built, name);
  execFileSync(join(here, "node_modules", ".bin", tool), [...args(out)], {
    cwd: join(here, "apps", name),
    stdio: "pipe",
  });
  return out;
}

/** Runs the app twice: the counter moves by one, the fence rises. */
async function runsTwice(out) {
  const first = await runApp(out);
  const second = await runApp(out);
  assert.equal(BigInt(second.count), BigInt(first.count) + 1n);
  assert.ok(BigInt(second.fence) > BigInt(first.fence));
  return second;
}

test("a Vite app on Vite's defaults", async () => {
  // No config file: Vite's default build target, which has no top-level await.
  await runsTwice(build("vite", "vite", (out) => ["build", "--outDir", out, "--emptyOutDir"]));
});

test("a webpack 5 app on webpack's defaults", async () => {
  // No config file: src/index.js to main.js; the .wasm is emitted beside it.
  const out = build("webpack", "webpack", (out) => ["--output-path", out]);
  copyFileSync(join(here, "apps", "webpack", "index.html"), join(out, "index.html"));
  await runsTwice(out);
});

test("an esbuild app on esbuild's defaults, through raftcp/inline", async () => {
  // `--bundle` only: an IIFE bundle, no asset handling; the .wasm is inside.
  const out = build("esbuild", "esbuild", (out) => ["main.js", "--bundle", `--outdir=${out}`]);
  copyFileSync(join(here, "apps", "esbuild", "index.html"), join(out, "index.html"));
  await runsTwice(out);
});

test("a React app (Vite) that shows who holds a lock", async () => {
  const out = build("react", "vite", (out) => ["build", "--outDir", out, "--emptyOutDir"]);
  const shown = await runsTwice(out);
  assert.equal(shown.holder, "react-app");
});
