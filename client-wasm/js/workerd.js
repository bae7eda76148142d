// Cloudflare Workers entry: the .wasm is imported as a compiled module
// (wrangler bundles it; a raw workerd config lists it as a Wasm module) and
// instantiated by the first connect().
import wasmModule from "./raftcp_wasm_bg.wasm";
import { initSync } from "./raftcp_wasm.js";
import { connectAfter } from "./lazy.js";

export const connect = connectAfter(async () => initSync({ module: wasmModule }));
export * from "./api.js";
