// Node entry: the first connect() reads and compiles the .wasm next to this
// file. Node 20 has no global WebSocket: pass one, e.g.
// connect(urls, { WebSocket }) with `import { WebSocket } from "ws"`.
import { readFile } from "node:fs/promises";
import { initSync } from "./raftcp_wasm.js";
import { connectAfter } from "./lazy.js";

export const connect = connectAfter(async () => {
  const module = await readFile(new URL("./raftcp_wasm_bg.wasm", import.meta.url));
  initSync({ module });
});
export * from "./api.js";
