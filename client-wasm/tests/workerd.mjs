// Runs the README's Worker in Cloudflare's workerd (the real runtime from
// the `workerd` npm package) against a cluster's endpoints, importing the
// package through its "workerd" export.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./cluster.mjs";
import { snippet } from "./readme.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, "..", "pkg");
const workerd = join(here, "node_modules", ".bin", "workerd");

/**
 * The workerd config: the Worker, the package's modules, outbound network
 * (trusting `caFile` for wss:// when given).
 */
function config(dir, port, endpoints, caFile) {
  const snippet = readdirSync(join(pkg, "snippets"))[0];
  const module = (name, file, kind = "esModule") =>
    `(name = "${name}", ${kind} = embed "${relative(dir, file)}")`;
  const modules = [
    module("worker.js", join(dir, "worker.js")),
    module("raftcp", join(pkg, "workerd.js")),
    module("raftcp_wasm.js", join(pkg, "raftcp_wasm.js")),
    module("api.js", join(pkg, "api.js")),
    module("lazy.js", join(pkg, "lazy.js")),
    module("errors.js", join(pkg, "errors.js")),
    // The JavaScript that wasm-bindgen copied next to the module (errors, watch).
    ...readdirSync(join(pkg, "snippets", snippet, "js")).map((file) =>
      module(`snippets/${snippet}/js/${file}`, join(pkg, "snippets", snippet, "js", file))),
    module("raftcp_wasm_bg.wasm", join(pkg, "raftcp_wasm_bg.wasm"), "wasm"),
  ];
  const tls = caFile ? `, tlsOptions = (trustedCertificates = [embed "${relative(dir, caFile)}"])` : "";
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "network", network = (allow = ["public", "private", "local"]${tls})),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [${modules.join(",\n    ")}],
  compatibilityDate = "2025-06-01",
  bindings = [(name = "RAFTCP_ENDPOINTS", text = "${endpoints.join(",")}")],
  globalOutbound = "network",
);
`;
}

/**
 * Starts workerd with the README Worker (or `script`); resolves once it
 * answers HTTP.
 */
export async function startWorker(endpoints, { caFile, script } = {}) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "raftcp-workerd-"));
  const file = join(dir, "config.capnp");
  writeFileSync(join(dir, "worker.js"), script ?? snippet("worker"));
  writeFileSync(file, config(dir, port, endpoints, caFile));
  const runtime = spawn(workerd, ["serve", file], { stdio: ["ignore", "inherit", "inherit"] });
  const worker = {
    url: `http://127.0.0.1:${port}/`,
    stop() {
      runtime.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await fetch(worker.url, { method: "HEAD" });
      return worker;
    } catch {
      if (Date.now() > deadline || runtime.exitCode !== null) {
        worker.stop();
        throw new Error("workerd did not start");
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
