// Watch from JavaScript (Node): `for await` over a handle's changes, from
// its state now, each change once and in order; `break`, an AbortSignal
// and `client.close()` end the loop and the member's watcher (its
// `raftcp_watchers` gauge).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { AbortError, connect } from "raftcp";
import { Cluster } from "./cluster.mjs";

let cluster;

before(async () => {
  cluster = await Cluster.start();
});

after(async () => {
  await cluster?.stop();
});

/** A client on member 1 only, so its watchers are counted there. */
function onMemberOne() {
  return connect([cluster.endpoints[0]], { WebSocket, followLeader: false });
}

test("a counter and a lock, watched with for await", async () => {
  const watcher = await onMemberOne();
  const writer = await connect(cluster.endpoints, { WebSocket });
  const counter = writer.getAtomicLong("js-watch/counter");
  await counter.set(5n);

  const seen = [];
  let position = -1n;
  const watching = (async () => {
    for await (const change of watcher.getAtomicLong("js-watch/counter").watch()) {
      assert.equal(typeof change.position, "bigint");
      assert.ok(change.position > position, "positions rise");
      assert.equal(change.jump, false);
      position = change.position;
      seen.push(change.value);
      if (change.value === 10n) break;
    }
  })();
  await cluster.untilGauge(1, "raftcp_watchers", 1);
  for (let i = 0; i < 5; i++) await counter.incrementAndGet();
  await watching;
  assert.deepEqual(seen, [5n, 6n, 7n, 8n, 9n, 10n]);
  await cluster.untilGauge(1, "raftcp_watchers", 0);

  // A lock changes hands: whether it is held, and the holder's fence.
  const states = [];
  const lockWatch = (async () => {
    for await (const { value } of watcher.getFencedLock("js-watch/lock").watch()) {
      states.push(value);
      if (states.length === 4) break;
    }
  })();
  await cluster.untilGauge(1, "raftcp_watchers", 1);
  const other = await connect(cluster.endpoints, { WebSocket });
  const mine = writer.getFencedLock("js-watch/lock");
  const first = await mine.lock();
  await mine.unlock();
  const second = await other.getFencedLock("js-watch/lock").lock();
  await lockWatch;
  assert.deepEqual(states, [
    { held: false, fence: 0n },
    { held: true, fence: first },
    { held: false, fence: 0n },
    { held: true, fence: second },
  ]);
  assert.ok(second > first);
  await Promise.all([watcher.close(), writer.close(), other.close()]);
});

test("a destroyed object shows as a fresh one, marked destroyed", async () => {
  const watcher = await onMemberOne();
  const counter = watcher.getAtomicLong("js-watch/destroyed");
  await counter.set(4n);
  const changes = counter.watch();
  const first = (await changes.next()).value;
  assert.deepEqual([first.value, first.destroyed], [4n, false]);
  await counter.destroy();
  const gone = (await changes.next()).value;
  assert.deepEqual([gone.value, gone.destroyed], [0n, true]);
  await changes.return();
  await watcher.close();
  await cluster.untilGauge(1, "raftcp_watchers", 0);
});

test("an AbortSignal and close() end a watch", async () => {
  const watcher = await onMemberOne();
  const controller = new AbortController();
  const aborted = (async () => {
    for await (const change of watcher.getSemaphore("js-watch/pool").watch({ signal: controller.signal })) {
      assert.equal(change.value, 0);
    }
  })();
  await cluster.untilGauge(1, "raftcp_watchers", 1);
  controller.abort();
  await assert.rejects(aborted, (e) => e instanceof AbortError);
  await cluster.untilGauge(1, "raftcp_watchers", 0);

  const changes = [];
  const closed = (async () => {
    for await (const change of watcher.getCountDownLatch("js-watch/latch").watch()) {
      changes.push(change.value);
    }
  })();
  await cluster.untilGauge(1, "raftcp_watchers", 1);
  await watcher.close();
  await closed;
  assert.deepEqual(changes, [{ count: 0, round: 0 }]);
  await cluster.untilGauge(1, "raftcp_watchers", 0);
});
