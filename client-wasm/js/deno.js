// Deno entry: the first connect() reads the .wasm next to this file (needs
// read permission for the package directory).
import { initSync } from "./raftcp_wasm.js";
import { connectAfter } from "./lazy.js";

export const connect = connectAfter(async () => {
  const module = await Deno.readFile(new URL("./raftcp_wasm_bg.wasm", import.meta.url));
  initSync({ module });
});
export * from "./api.js";
