// The admin API from JavaScript (what a dashboard uses): members, sessions
// and objects as plain objects, closing a stuck session, checked arguments.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import { connect, InvalidValueError, OperationError } from "raftcp";
import { Cluster } from "./cluster.mjs";

let cluster;

before(async () => {
  cluster = await Cluster.start();
});

after(async () => {
  await cluster?.stop();
});

test("members, sessions and objects, and closing a session", async () => {
  const operator = await connect(cluster.endpoints, { WebSocket, clientName: "operator" });
  const stuck = await connect(cluster.endpoints, { WebSocket, clientName: "stuck" });
  const admin = operator.admin();

  const view = await admin.members();
  assert.equal(view.members.length, 3);
  assert.ok(view.members.every((m) => m.voter && typeof m.addr === "string"));
  assert.ok(view.members.some((m) => m.nodeId === view.leader && m.lastHeardMs === 0));
  assert.ok(view.committed >= 1 && !view.changing);

  const fence = await stuck.getFencedLock("admin-js/lock").lock();
  await operator.getAtomicLong("admin-js/counter").set(41n);
  const sessions = await admin.sessions();
  const held = sessions.find((s) => s.clientName === "stuck");
  assert.equal(typeof held.session, "bigint");
  assert.deepEqual(held.holds, ['lock "admin-js/lock"']);
  const objects = await admin.objects("admin-js/");
  assert.deepEqual(
    objects.map((o) => [o.kind, o.name, o.summary.length > 0]),
    [["long", "admin-js/counter", true], ["lock", "admin-js/lock", true]],
  );
  assert.ok(objects[1].summary.includes(String(fence)));

  assert.equal(await admin.closeSession(held.session), true);
  assert.equal(await admin.closeSession(held.session), false);
  assert.equal(await operator.getFencedLock("admin-js/lock").isLocked(), false);

  await assert.rejects(admin.promote(0), (e) => e instanceof InvalidValueError);
  await assert.rejects(admin.removeMember(1.5), (e) => e instanceof InvalidValueError);
  await assert.rejects(
    admin.promote(9),
    (e) => e instanceof OperationError && e.code === "ADMIN_REFUSED",
  );
  await stuck.close();
  await operator.close();
});
