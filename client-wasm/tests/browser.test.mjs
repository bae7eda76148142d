// The package in headless Chromium (Debian's chromium, driven by
// playwright-core): a page loads the browser build over HTTP, runs each
// primitive with the browser's own WebSocket, and two tabs hand a lock over.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { connect } from "raftcp";
import { launchChromium } from "./chromium.mjs";
import { Cluster } from "./cluster.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, "..", "pkg");
const CONTENT_TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };

let cluster;
let server;
let browser;
let origin;

/** Serves the test page and the built package, nothing else. */
function serve(request, response) {
  const path = normalize(new URL(request.url, "http://x").pathname);
  const file = path === "/" ? join(here, "browser_page.html")
    : path.startsWith("/pkg/") ? join(pkg, path.slice("/pkg/".length)) : null;
  if (!file || !file.startsWith(pkg) && path !== "/") {
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
  // The test pages come from their own server, so the members are told to
  // accept that origin; pages from any other are refused.
  cluster = await Cluster.start({ allowedOrigins: [origin] });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.close();
  await cluster?.stop();
});

async function openTab(from = origin) {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error));
  await page.goto(from + "/");
  await page.waitForFunction(() => document.title === "ready", null, { timeout: 60_000 });
  page.errors = errors;
  return page;
}

test("each primitive in the browser", async () => {
  const page = await openTab();
  const results = await page.evaluate(async (endpoints) => {
    const { connect, OperationError } = window.raftcp;
    const client = await connect(endpoints);
    const out = {};
    const counter = client.getAtomicLong("browser-counter");
    await counter.set(0);
    out.incremented = String(await counter.incrementAndGet());
    out.cas = await counter.compareAndSet(1, 10);
    const ref = client.getAtomicReference("browser-config");
    await ref.set({ theme: "dark", sizes: [1, 2] });
    out.reference = await ref.get();
    out.swapped = await ref.compareAndSet({ sizes: [1, 2], theme: "dark" }, null);
    const lock = client.getFencedLock("browser-lock");
    out.fenceType = typeof (await lock.lock());
    await lock.unlock();
    try { await lock.unlock(); } catch (e) { out.unlockError = e instanceof OperationError && e.code; }
    const semaphore = client.getSemaphore("browser-pool");
    await semaphore.init(3);
    await semaphore.acquire(2);
    out.available = await semaphore.availablePermits();
    await semaphore.release(2);
    const latch = client.getCountDownLatch("browser-latch");
    await latch.trySetCount(1);
    const opened = latch.awaitLatch(10_000);
    await latch.countDown();
    out.latchOpened = await opened;
    await client.close();
    return out;
  }, cluster.endpoints);
  assert.deepEqual(results, {
    incremented: "1",
    cas: true,
    reference: { sizes: [1, 2], theme: "dark" },
    swapped: true,
    fenceType: "bigint",
    unlockError: "NOT_OWNER",
    available: 1,
    latchOpened: true,
  });
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("a page from another origin cannot connect", async () => {
  // The same page, served from another port: another origin.
  const other = createServer(serve);
  await new Promise((resolve) => other.listen(0, "127.0.0.1", resolve));
  try {
    const page = await openTab(`http://127.0.0.1:${other.address().port}`);
    const outcome = await page.evaluate(async (endpoints) => {
      // connect() returns at once and connects in the background; the
      // first call tells whether a member took the connection.
      const client = await window.raftcp.connect(endpoints, { requestTimeoutMs: 3_000 });
      try {
        await client.getAtomicLong("origin-probe").get();
        return "served";
      } catch (e) {
        return e.code ?? String(e);
      } finally {
        client.close();
      }
    }, cluster.endpoints);
    // The upgrade was refused (403), so no member was reachable.
    assert.equal(outcome, "UNREACHABLE");
    await page.close();
  } finally {
    other.closeAllConnections();
    other.close();
  }
});

test("two tabs hand a lock over", async () => {
  const [first, second] = [await openTab(), await openTab()];
  const holding = await first.evaluate(async (endpoints) => {
    window.client = await window.raftcp.connect(endpoints);
    window.lock = window.client.getFencedLock("handoff");
    return String(await window.lock.lock());
  }, cluster.endpoints);
  // The second tab queues for the lock; it cannot have it yet.
  await second.evaluate(async (endpoints) => {
    window.client = await window.raftcp.connect(endpoints);
    window.waiting = window.client.getFencedLock("handoff").lock().then(String);
    window.tried = await window.client.getFencedLock("handoff").tryLock(200);
  }, cluster.endpoints);
  assert.equal(await second.evaluate(() => window.tried), null);
  await first.evaluate(() => window.lock.unlock());
  const taken = await second.evaluate(() => window.waiting);
  assert.ok(BigInt(taken) > BigInt(holding), `fence ${taken} follows ${holding}`);
  await first.evaluate(() => window.client.close());
  await second.evaluate(() => window.client.close());
  await first.close();
  await second.close();
});

test("a page watches a counter move and a lock change hands", async () => {
  const page = await openTab();
  await page.evaluate(async (endpoints) => {
    window.client = await window.raftcp.connect(endpoints);
    const collect = async (handle, count) => {
      const seen = [];
      for await (const change of handle.watch()) {
        seen.push(change.value);
        if (seen.length === count) break;
      }
      return seen;
    };
    window.counts = collect(window.client.getAtomicLong("browser-watched"), 4)
      .then((values) => values.map(String));
    window.locks = collect(window.client.getFencedLock("browser-watched-lock"), 3)
      .then((states) => states.map((s) => [s.held, String(s.fence)]));
  }, cluster.endpoints);
  // Once the page's first changes (the states now) are in, change both.
  const writer = await connect(cluster.endpoints, { WebSocket });
  const counter = writer.getAtomicLong("browser-watched");
  const lock = writer.getFencedLock("browser-watched-lock");
  await untilWatching(2);
  for (let i = 0; i < 3; i++) await counter.incrementAndGet();
  const fence = await lock.lock();
  await lock.unlock();
  assert.deepEqual(await page.evaluate(() => window.counts), ["0", "1", "2", "3"]);
  assert.deepEqual(await page.evaluate(() => window.locks), [
    [false, "0"], [true, String(fence)], [false, "0"],
  ]);
  await page.evaluate(() => window.client.close());
  await writer.close();
  assert.deepEqual(page.errors, []);
  await page.close();
});

/** Waits until the members serve `count` watchers in all. */
async function untilWatching(count) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    let total = 0;
    for (let id = 1; id <= 3; id++) total += (await cluster.gauge(id, "raftcp_watchers")) ?? 0;
    if (total === count) return;
    if (Date.now() > deadline) throw new Error(`${total} watchers, not ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test("over wss:// when the browser trusts the member's certificate", async () => {
  // A cluster with a certificate from a test CA; this browser trusts the
  // members' key (as a browser with the CA installed would trust it).
  const secure = await Cluster.start({ tls: true, allowedOrigins: [origin] });
  const trusting = await launchChromium([`--ignore-certificate-errors-spki-list=${secure.tls.spki}`]);
  try {
    const page = await trusting.newPage();
    await page.goto(origin + "/");
    await page.waitForFunction(() => document.title === "ready", null, { timeout: 60_000 });
    const hits = await page.evaluate(async (endpoints) => {
      const client = await window.raftcp.connect(endpoints);
      const value = String(await client.getAtomicLong("browser-over-tls").incrementAndGet());
      await client.close();
      return value;
    }, secure.endpoints);
    assert.equal(hits, "1");
  } finally {
    await trusting.close();
    await secure.stop();
  }
});
