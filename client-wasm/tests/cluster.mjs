// A real three-member raftcp cluster for the JavaScript tests: three
// `raftcp serve` processes on free loopback ports, each with its own data
// directory (fsync on, as in production). Members can be killed with
// SIGKILL and restarted.
import { execFileSync, spawn } from "node:child_process";
import { get as httpsGet } from "node:https";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
/** Starts over on fresh ports at most this often (see `Cluster.start`). */
const START_ATTEMPTS = 4;

/** A port free on 127.0.0.1 right now. */
export async function freePort() {
  return (await freePorts(1))[0];
}

/** `n` distinct ports free on 127.0.0.1 right now: all are held at once
 * while they are found, so none is handed out twice. */
export async function freePorts(n) {
  const servers = [];
  for (let i = 0; i < n; i++) {
    const server = createServer();
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    servers.push(server);
  }
  const ports = servers.map((server) => server.address().port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Cluster {
  /** Starts the members and waits until one of them leads.
   *
   * A port found free may be taken by the time a member binds it (any
   * outgoing connection on this machine may get it as its local port), and
   * that member exits. The members are still pristine then, so the cluster
   * starts over on fresh ports. */
  static async start(options = {}) {
    const cluster = new Cluster(await freePorts(MEMBERS), options);
    for (let attempt = 1; ; attempt++) {
      for (let id = 1; id <= MEMBERS; id++) cluster.startMember(id);
      const exited = await cluster.firstExitedAtStart();
      if (exited === null) break;
      if (attempt === START_ATTEMPTS) throw new Error(`member ${exited} exited at start, ${attempt} times`);
      console.error(`member ${exited} exited at start (its port taken?): starting the cluster again`);
      await cluster.stopMembers();
      for (let id = 1; id <= MEMBERS; id++) rmSync(cluster.dataDir(id), { recursive: true, force: true });
      cluster.ports = await freePorts(MEMBERS);
    }
    await cluster.waitForLeader();
    return cluster;
  }

  /** The first member that exited before answering /health as itself, or
   * null once every member has. */
  async firstExitedAtStart() {
    const deadline = Date.now() + START_TIMEOUT_MS;
    const pending = new Set(this.processes.keys());
    while (pending.size > 0 && Date.now() < deadline) {
      for (const id of pending) {
        if (this.processes.get(id).exitCode !== null) return id;
        if ((await this.health(id))?.node === id) pending.delete(id);
      }
      await sleep(20);
    }
    return null;
  }

  constructor(ports, options) {
    this.ports = ports;
    this.options = options;
    this.dataRoot = mkdtempSync(join(tmpdir(), "raftcp-js-"));
    // The members prove membership to each other with it.
    this.secretFile = join(this.dataRoot, "cluster-secret");
    writeFileSync(this.secretFile, randomBytes(32).toString("hex"));
    // `tls: true`: the members serve wss:// with a certificate from a test CA.
    this.tls = options.tls ? makeCertificates(this.dataRoot) : null;
    this.processes = new Map();
  }

  dataDir(id) {
    return join(this.dataRoot, `node-${id}`);
  }

  /** Client endpoints, one per member. */
  get endpoints() {
    const scheme = this.tls ? "wss" : "ws";
    return this.ports.map((port) => `${scheme}://127.0.0.1:${port}`);
  }

  startMember(id) {
    const peers = this.ports.map((port, i) => `${i + 1}=127.0.0.1:${port}`).join(",");
    const args = ["serve", "--node-id", String(id), "--peers", peers,
      "--data", this.dataDir(id),
      "--cluster-secret-file", this.secretFile,
      "--session-ttl-ms", String(this.options.sessionTtlMs ?? 10_000),
      "--heartbeat-ms", String(this.options.heartbeatMs ?? 1_000),
      "--election-timeout-ms", "500",
      ...(this.options.allowedOrigins ?? []).flatMap((origin) => ["--allowed-origin", origin]),
      ...(this.options.authJwks ? ["--auth-jwks", this.options.authJwks] : []),
      ...(this.options.www ? ["--www", this.options.www] : []),
      ...(this.tls ? ["--tls-cert", this.tls.cert, "--tls-key", this.tls.key, "--tls-ca", this.tls.ca] : [])];
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
    const port = this.ports[id - 1];
    try {
      if (this.tls) return await httpsJson(`https://127.0.0.1:${port}/health`, this.tls.caPem);
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      return await response.json();
    } catch {
      return null;
    }
  }

  /** Gauge `name` of member `id`'s /metrics (plain clusters), or null. */
  async gauge(id, name) {
    try {
      const response = await fetch(`http://127.0.0.1:${this.ports[id - 1]}/metrics`);
      const line = (await response.text()).split("\n").find((l) => l.startsWith(`${name} `));
      return line ? Number(line.split(" ")[1]) : null;
    } catch {
      return null;
    }
  }

  /** Waits until gauge `name` of member `id` reads `value`. */
  async untilGauge(id, name, value) {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while ((await this.gauge(id, name)) !== value) {
      if (Date.now() > deadline) throw new Error(`${name} of member ${id} never reached ${value}`);
      await sleep(20);
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

  async stopMembers() {
    for (const id of [...this.processes.keys()]) this.kill(id);
    await sleep(100);
  }

  async stop() {
    await this.stopMembers();
    rmSync(this.dataRoot, { recursive: true, force: true });
  }
}

/** GET `url` over TLS trusting `ca`; its JSON body. */
function httpsJson(url, ca) {
  return new Promise((resolve, reject) => {
    httpsGet(url, { ca }, (response) => {
      let body = "";
      response.on("data", (chunk) => { body += chunk; });
      response.on("end", () => {
        try { resolve(JSON.parse(body)); } catch (e) { reject(e); }
      });
    }).on("error", reject);
  });
}

/**
 * A test CA (made with openssl) and a certificate it signed for 127.0.0.1:
 * file paths, the CA's PEM, and the base64 SHA-256 of the certificate's
 * public key (what Chromium's --ignore-certificate-errors-spki-list takes).
 */
function makeCertificates(dir) {
  const openssl = (...args) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "ignore"] });
  openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=raftcp test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", "member.key", "-out", "member.csr", "-subj", "/CN=127.0.0.1");
  writeFileSync(join(dir, "member.ext"),
    "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
  openssl("x509", "-req", "-in", "member.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
    "-CAcreateserial", "-out", "member.pem", "-days", "2", "-extfile", "member.ext");
  const publicKey = openssl("x509", "-in", "member.pem", "-pubkey", "-noout");
  const der = execFileSync("openssl", ["pkey", "-pubin", "-outform", "der"], { input: publicKey });
  const spki = createHash("sha256").update(der).digest("base64");
  return {
    ca: join(dir, "ca.pem"),
    cert: join(dir, "member.pem"),
    key: join(dir, "member.key"),
    caPem: readFileSync(join(dir, "ca.pem"), "utf8"),
    spki,
  };
}
