// The www dashboard (www/, built into www/dist by scripts/build-www) as the
// members serve it, in headless Chromium against a real cluster: the
// dashboard follows a kill -9 of the leader, the playground's increments
// are what a Rust client reads, the demos coordinate across tabs, every
// page passes axe-core without serious violations, and a screenshot of
// each page is saved (WWW_SCREENSHOTS, default target/www-screenshots).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { createPrivateKey, sign } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { WebSocket } from "ws";
import { connect } from "raftcp";
import { launchChromium } from "./chromium.mjs";
import { Cluster, serverBinary } from "./cluster.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const www = join(here, "..", "..", "www", "dist");
const screenshots = process.env.WWW_SCREENSHOTS ?? join(here, "..", "..", "target", "www-screenshots");
const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
const rustClient = process.env.RAFTCP_TEST_CLIENT ?? serverBinary.replace(/raftcp$/, "raftcp-test-client");
const run = promisify(execFile);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Generous: a few election timeouts, on a slow shared machine. */
const SETTLE_MS = 60_000;

let cluster;
let browser;

before(async () => {
  assert.ok(existsSync(join(www, "index.html")), `${www} is not built: run scripts/build-www`);
  mkdirSync(screenshots, { recursive: true });
  cluster = await Cluster.start({ www });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await cluster?.stop();
});

/** The page at `hash` served by member `member`, its errors collected
 * (uncaught exceptions and console errors, which include refusals by the
 * page's content security policy). */
async function open(member, hash = "#/") {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.problems = [];
  page.on("pageerror", (error) => page.problems.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error") page.problems.push(message.text());
  });
  await page.goto(`http://127.0.0.1:${cluster.ports[member - 1]}/${hash}`);
  return page;
}

/** Console errors other than the failed fetches of a member that is down. */
function problems(page) {
  return page.problems.filter((p) => !/Failed to load resource|ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE/.test(p));
}

async function screenshot(page, name) {
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
}

/** axe-core on the page at `hash`, once `ready` is on it: no serious or
 * critical violations. In its own context, which lets the test inject
 * axe's script past the page's policy. */
async function assertAccessible(hash, ready) {
  const context = await browser.newContext({ bypassCSP: true });
  const page = await context.newPage();
  try {
    await page.goto(`http://127.0.0.1:${cluster.ports[0]}/${hash}`);
    await page.waitForSelector(ready, { timeout: SETTLE_MS });
    await page.addScriptTag({ path: axePath });
    const violations = await page.evaluate(async () => (await window.axe.run()).violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`));
    assert.deepEqual(violations, [], `accessibility of ${hash}`);
  } finally {
    await context.close();
  }
}

const text = (page, selector) => page.locator(selector).first().innerText();

test("the dashboard lists the members and follows a kill -9 of the leader", async () => {
  // Some traffic for the charts.
  const node = await connect(cluster.endpoints, { WebSocket, clientName: "www-test" });
  const counter = node.getAtomicLong("www-traffic");
  for (let i = 0; i < 50; i++) await counter.incrementAndGet();
  await node.getFencedLock("www-held").lock();

  const leader = await cluster.waitForLeader();
  const follower = leader === 1 ? 2 : 1;
  const page = await open(follower);
  await page.waitForFunction(() => document.querySelectorAll("#members tbody tr").length === 3
    && document.querySelectorAll('#members tr[data-role="leader"]').length === 1
    && document.querySelectorAll("#sessions tbody tr").length >= 2, null, { timeout: SETTLE_MS });
  assert.equal(await page.locator("#leader").getAttribute("data-leader"), String(leader));
  assert.match(await text(page, "#objects"), /www-traffic/);
  // Watch an object from the browser: the next increment shows up live.
  await page.getByRole("button", { name: "Watch long www-traffic" }).click();
  await page.waitForFunction(() => document.querySelector("#watched .state")?.textContent === "50", null, { timeout: SETTLE_MS });
  await counter.incrementAndGet();
  await page.waitForFunction(() => document.querySelector("#watched .state")?.textContent === "51", null, { timeout: SETTLE_MS });
  for (let i = 0; i < 200; i++) await counter.incrementAndGet();
  await sleep(3000); // a few samples for the charts
  await screenshot(page, "dashboard");

  cluster.kill(leader);
  try {
    await page.waitForFunction((old) => {
      const now = document.querySelector("#leader")?.dataset.leader;
      const row = document.querySelector(`#members tr[data-member="${now}"]`);
      return now && now !== String(old) && row?.dataset.role === "leader";
    }, leader, { timeout: SETTLE_MS });
    await page.waitForFunction((old) => document.querySelector(`#members tr[data-member="${old}"]`)
      ?.innerText.includes("unreachable"), leader, { timeout: SETTLE_MS });
    await screenshot(page, "dashboard-after-kill");
    assert.deepEqual(problems(page), []);
  } finally {
    // Back before the next test, whatever happened here.
    await page.close();
    await node.close();
    cluster.startMember(leader);
  }
  await assertAccessible("#/", "#members tbody tr");
});

test("the playground's increments are what a Rust client reads", async () => {
  const page = await open(1, "#/playground");
  await page.waitForSelector('button[data-op="incrementAndGet"]', { timeout: SETTLE_MS });
  await page.fill("#object-name", "www-playground");
  await page.locator("#object-name").dispatchEvent("change");
  for (let i = 1; i <= 5; i++) {
    await page.click('button[data-op="incrementAndGet"]');
    await page.waitForSelector(`#results li[data-result="${i}"]`, { timeout: SETTLE_MS });
  }
  await page.waitForFunction(() => document.querySelector("#state")?.textContent === "5", null, { timeout: SETTLE_MS });
  const { stdout } = await run(rustClient, [cluster.endpoints[1], "get-long", "www-playground"]);
  assert.equal(stdout.trim(), "5");

  // An error shows its code.
  await page.selectOption("#primitive", "lock");
  await page.waitForSelector('button[data-op="unlock"]');
  await page.click('button[data-op="unlock"]');
  await page.waitForSelector('#results li[data-error="NOT_OWNER"]', { timeout: SETTLE_MS });
  await page.click('button[data-op="lock"]');
  await page.waitForSelector("#results li[data-result]", { timeout: SETTLE_MS });
  await page.waitForFunction(() => /"held":true/.test(document.querySelector("#state")?.textContent), null, { timeout: SETTLE_MS });
  await screenshot(page, "playground");
  assert.deepEqual(problems(page), []);
  await page.close();
  await assertAccessible("#/playground", 'button[data-op="get"]');
});

/** A tab's role in a demo, and its fence while it leads. */
async function election(page) {
  const role = await text(page, "#demo-role");
  const fence = await page.locator("#demo-role").getAttribute("data-value");
  return { role, fence: role === "leader" ? BigInt(fence) : null };
}

test("two tabs in the leader-election demo never both lead, and hand over", async () => {
  const first = await open(2, "#/demos/election");
  await first.waitForFunction(() => document.querySelector("#demo-role")?.textContent === "leader", null, { timeout: SETTLE_MS });
  const second = await open(3, "#/demos/election");
  await second.waitForFunction(() => document.querySelector("#demo-role")?.textContent === "candidate", null, { timeout: SETTLE_MS });
  const fences = [(await election(first)).fence];
  // Never both.
  for (let i = 0; i < 20; i++) {
    const [a, b] = [await election(first), await election(second)];
    assert.ok(!(a.role === "leader" && b.role === "leader"), "two leaders");
    await sleep(50);
  }
  // The leader's tab closes: the other takes over with a larger fence.
  await first.close({ runBeforeUnload: true });
  await second.waitForFunction(() => document.querySelector("#demo-role")?.textContent === "leader", null, { timeout: SETTLE_MS });
  fences.push((await election(second)).fence);
  // Stepping down and standing again: the fence grows again.
  await second.getByRole("button", { name: "Step down" }).click();
  await second.waitForFunction((old) => {
    const role = document.querySelector("#demo-role");
    return role?.textContent === "leader" && role.dataset.value !== old;
  }, String(fences[1]), { timeout: SETTLE_MS });
  fences.push((await election(second)).fence);
  for (let i = 1; i < fences.length; i++) assert.ok(fences[i] > fences[i - 1], `fences ${fences}`);
  await screenshot(second, "demo-election");
  assert.deepEqual(problems(second), []);
  await second.close();
  await assertAccessible("#/demos/election", "#demo-role");
});

test("the rate limiter, barrier and sequence demos across tabs", async () => {
  const list = await open(1, "#/demos");
  await list.waitForSelector(".cards a");
  assert.equal(await list.locator(".cards a").count(), 4);
  await screenshot(list, "demos");
  await list.close();

  // Rate limiter: 5 permits for everyone; a burst of 10 gets 5 through.
  const limiter = await open(1, "#/demos/rate-limiter");
  await limiter.waitForFunction(() => /permits|^\d/.test(document.querySelector("#demo-shared")?.textContent), null, { timeout: SETTLE_MS });
  await limiter.getByRole("button", { name: "Send a burst of 10" }).click();
  await limiter.waitForFunction(() => document.querySelector("#demo-totals")?.textContent === "accepted 5 · rejected 5", null, { timeout: SETTLE_MS });
  await screenshot(limiter, "demo-rate-limiter");
  assert.deepEqual(problems(limiter), []);
  await limiter.close();

  // Barrier: the first of two tabs waits until the second joins.
  const [a, b] = [await open(1, "#/demos/barrier"), await open(2, "#/demos/barrier")];
  for (const tab of [a, b]) await tab.waitForSelector("#parties");
  await a.getByRole("button", { name: "Join" }).click();
  await a.waitForFunction(() => document.querySelector("#demo-role")?.textContent === "waiting", null, { timeout: SETTLE_MS });
  await sleep(500);
  assert.equal(await text(a, "#demo-role"), "waiting");
  await b.getByRole("button", { name: "Join" }).click();
  for (const tab of [a, b]) {
    await tab.waitForFunction(() => document.querySelector("#demo-role")?.textContent === "through", null, { timeout: SETTLE_MS });
  }
  await screenshot(a, "demo-barrier");
  assert.deepEqual([...problems(a), ...problems(b)], []);
  await a.close();
  await b.close();

  // Sequence: two tabs take 100 ids each at once; 200 distinct ids.
  const [s1, s2] = [await open(1, "#/demos/sequence"), await open(3, "#/demos/sequence")];
  for (const tab of [s1, s2]) await tab.waitForSelector("#demo-shared");
  await Promise.all([s1, s2].map((tab) => tab.getByRole("button", { name: "Take 100" }).click()));
  for (const tab of [s1, s2]) {
    await tab.waitForFunction(() => document.querySelector("#demo-role")?.textContent === "took", null, { timeout: SETTLE_MS });
  }
  await s1.waitForFunction(() => document.querySelector("#demo-shared")?.textContent.startsWith("200 "), null, { timeout: SETTLE_MS });
  await screenshot(s1, "demo-sequence");
  await s1.close();
  await s2.close();
  for (const demo of ["rate-limiter", "barrier", "sequence"]) {
    await assertAccessible(`#/demos/${demo}`, "#demo-role");
  }
});

test("a cluster that needs tokens: the page asks for one and keeps it for the tab only", async () => {
  const keys = mkdtempSync(join(tmpdir(), "raftcp-www-keys-"));
  execFileSync(serverBinary, ["auth", "keygen", "--dir", keys]);
  const signingKey = createPrivateKey({ key: readFileSync(join(keys, "signing-key.pk8")), format: "der", type: "pkcs8" });
  const kid = JSON.parse(readFileSync(join(keys, "jwks.json"), "utf8")).keys[0].kid;
  const part = (json) => Buffer.from(JSON.stringify(json)).toString("base64url");
  const head = part({ alg: "EdDSA", typ: "JWT", kid });
  const claims = part({ sub: "operator", exp: Math.floor(Date.now() / 1000) + 3600, raftcp: ["*:*", "admin"] });
  const token = `${head}.${claims}.${sign(null, Buffer.from(`${head}.${claims}`), signingKey).toString("base64url")}`;

  const secure = await Cluster.start({ www, authJwks: join(keys, "jwks.json") });
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${secure.ports[0]}/`);
    await page.waitForSelector("#token", { timeout: SETTLE_MS });
    assert.match(await text(page, "main"), /UNAUTHENTICATED/);
    await screenshot(page, "token");
    await page.fill("#token", "not.a.token");
    await page.getByRole("button", { name: "Connect" }).click();
    await page.waitForFunction(() => /UNAUTHENTICATED/.test(document.querySelector("main").innerText)
      && document.querySelector("#token"), null, { timeout: SETTLE_MS });
    await page.fill("#token", token);
    await page.getByRole("button", { name: "Connect" }).click();
    await page.waitForFunction(() => document.querySelectorAll('#members tr[data-role="leader"]').length === 1, null, { timeout: SETTLE_MS });
    // The tab keeps it across a reload; a new tab must be given it again.
    await page.reload();
    await page.waitForSelector("#members tbody tr", { timeout: SETTLE_MS });
    const other = await context.newPage();
    await other.goto(`http://127.0.0.1:${secure.ports[0]}/`);
    await other.waitForSelector("#token", { timeout: SETTLE_MS });
  } finally {
    await context.close();
    await secure.stop();
  }
});
