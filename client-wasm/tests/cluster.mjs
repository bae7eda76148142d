// A real three-member raftcp cluster for the JavaScript tests: three
// `raftcp serve` processes on free loopback ports, each with its own data
// directory (fsync on, as in production). Members can be killed with
// SIGKILL and restarted.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
/** The server binary: RAFTCP_BIN, or the workspace's debug build. */
export const serverBinary =
  process.env.RAFTCP_BIN ?? join(here, "..", "..", "target", "debug", "raftcp");

const MEMBERS = 3;
const START_TIMEOUT_MS = 60_000;

/** A port free on 127.0.0.1 right now. */
export async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Cluster {
  /** Starts the members and waits until one of them leads. */
  static async start(options = {}) {
    const ports = [];
    for (let i = 0; i < MEMBERS; i++) ports.push(await freePort());
    const cluster = new Cluster(ports, options);
    for (let id = 1; id <= MEMBERS; id++) cluster.startMember(id);
    await cluster.waitForLeader();
    return cluster;
  }

  constructor(ports, options) {
    this.ports = ports;
    this.options = options;
    this.dataRoot = mkdtempSync(join(tmpdir(), "raftcp-js-"));
    // The members prove membership to each other with it.
    this.secretFile = join(this.dataRoot, "cluster-secret");
    writeFileSync(this.secretFile, randomBytes(32).toString("hex"));
    this.processes = new Map();
  }

  /** Client endpoints, one per member. */
  get endpoints() {
    return this.ports.map((port) => `ws://127.0.0.1:${port}`);
  }

  startMember(id) {
    const peers = this.ports.map((port, i) => `${i + 1}=127.0.0.1:${port}`).join(",");
    const args = ["serve", "--node-id", String(id), "--peers", peers,
      "--data", join(this.dataRoot, `node-${id}`),
      "--cluster-secret-file", this.secretFile,
      "--session-ttl-ms", String(this.options.sessionTtlMs ?? 10_000),
      "--heartbeat-ms", String(this.options.heartbeatMs ?? 1_000),
      "--election-timeout-ms", "500",
      ...(this.options.allowedOrigins ?? []).flatMap((origin) => ["--allowed-origin", origin]),
      ...(this.options.authJwks ? ["--auth-jwks", this.options.authJwks] : [])];
    const child = spawn(serverBinary, args, { stdio: ["ignore", "ignore", "inherit"] });
    this.processes.set(id, child);
  }

  /** SIGKILL: no shutdown, no flush beyond what was fsynced. */
  kill(id) {
    const child = this.processes.get(id);
    this.processes.delete(id);
    child?.kill("SIGKILL");
  }

  async health(id) {
    try {
      const response = await fetch(`http://127.0.0.1:${this.ports[id - 1]}/health`);
      return await response.json();
    } catch {
      return null;
    }
  }

  /** The id of the member that leads, as a running member reports it. */
  async waitForLeader(except) {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      for (const id of this.processes.keys()) {
        const health = await this.health(id);
        if (health?.state === "leader" && health.node !== except) return health.node;
      }
      await sleep(100);
    }
    throw new Error("no leader elected in time");
  }

  async stop() {
    for (const id of [...this.processes.keys()]) this.kill(id);
    await sleep(100);
    rmSync(this.dataRoot, { recursive: true, force: true });
  }
}
