// Cloudflare Workers entry: the .wasm is imported as a compiled module
// (wrangler bundles it; a raw workerd config lists it as a Wasm module).
import wasmModule from "./raftcp_wasm_bg.wasm";
import { initSync } from "./raftcp_wasm.js";

initSync({ module: wasmModule });

export * from "./api.js";
