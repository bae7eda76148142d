// Tokens from JavaScript: the application's backend mints them (here with
// node:crypto, as any JWT library would) with a key from `raftcp auth
// keygen`; the cluster checks every operation against the token's rules,
// and a tokenProvider renews an expired token on the same session.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createPrivateKey, sign } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket } from "ws";
import { connect, OperationError } from "raftcp";
import { Cluster, serverBinary } from "./cluster.mjs";

let cluster;
let signingKey;
let keyId;

before(async () => {
  const keys = mkdtempSync(join(tmpdir(), "raftcp-keys-"));
  execFileSync(serverBinary, ["auth", "keygen", "--dir", keys]);
  signingKey = createPrivateKey({
    key: readFileSync(join(keys, "signing-key.pk8")),
    format: "der",
    type: "pkcs8",
  });
  keyId = JSON.parse(readFileSync(join(keys, "jwks.json"), "utf8")).keys[0].kid;
  cluster = await Cluster.start({ authJwks: join(keys, "jwks.json") });
});

after(async () => {
  await cluster?.stop();
});

const base64url = (text) => Buffer.from(text).toString("base64url");

/** An EdDSA JWT for `sub` allowing `rules`, expiring `expiresIn` s from now. */
function mintToken(sub, rules, expiresIn = 3600) {
  const now = Math.floor(Date.now() / 1000);
  const header = base64url(JSON.stringify({ alg: "EdDSA", typ: "JWT", kid: keyId }));
  const claims = base64url(JSON.stringify({ sub, exp: now + expiresIn, raftcp: rules }));
  const signature = sign(null, Buffer.from(`${header}.${claims}`), signingKey);
  return `${header}.${claims}.${signature.toString("base64url")}`;
}

const denied = (error) => error instanceof OperationError && error.code === "PERMISSION_DENIED";

test("a token allows exactly its rules", async () => {
  const client = await connect(cluster.endpoints, {
    WebSocket,
    token: mintToken("browser-user", ["lock:jobs/*", "long:stats:read"]),
  });
  const lock = client.getFencedLock("jobs/a");
  assert.equal(typeof (await lock.lock()), "bigint");
  await lock.unlock();
  await assert.rejects(client.getFencedLock("jobs2/a").lock(), denied);
  await assert.rejects(client.getAtomicLong("jobs/a").incrementAndGet(), denied);
  assert.equal(await client.getAtomicLong("stats").get(), 0n);
  await assert.rejects(client.getAtomicLong("stats").set(1), denied);
  await client.close();
});

test("a cluster with tokens refuses an anonymous client", async () => {
  const client = await connect(cluster.endpoints, { WebSocket, requestTimeoutMs: 10_000 });
  await assert.rejects(client.getAtomicLong("stats").get(), /token/);
  await client.close();
});

test("a tokenProvider renews an expired token on the same session", async () => {
  let fetched = 0;
  const client = await connect([cluster.endpoints[0]], {
    WebSocket,
    followLeader: false,
    // The first token runs out (past the members' 30 s leeway) in about
    // three seconds; the next lasts an hour.
    tokenProvider: async () => (fetched++ === 0 ? mintToken("renewer", ["*:*"], -27) : mintToken("renewer", ["*:*"])),
  });
  const lock = client.getFencedLock("renewed");
  const fence = await lock.lock();
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  assert.equal(await lock.getFence(), fence);
  assert.equal(fetched, 2);
  await lock.unlock();
  await client.close();
});
