// Node entry: reads the .wasm next to this file, synchronously, at import.
// Node 20 has no global WebSocket: pass one, e.g.
// connect(urls, { WebSocket }) with `import { WebSocket } from "ws"`.
import { readFileSync } from "node:fs";
import { initSync } from "./raftcp_wasm.js";

initSync({ module: readFileSync(new URL("./raftcp_wasm_bg.wasm", import.meta.url)) });

export * from "./api.js";
