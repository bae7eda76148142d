// Cloudflare Workers entry: the .wasm is imported as a compiled module
// (wrangler bundles it; a raw workerd config lists it as a Wasm module) and
// instantiated by the first connect(). Session-less calls go over HTTP
// unless the options say `transport: "websocket"`: a Worker request then
// needs no socket, and no session, for a counter or a reference.
import wasmModule from "./raftcp_wasm_bg.wasm";
import { initSync } from "./raftcp_wasm.js";
import { connectAfter } from "./lazy.js";

const connectLoaded = connectAfter(async () => initSync({ module: wasmModule }));
export const connect = (endpoints, options) => connectLoaded(endpoints, { transport: "http", ...options });
export * from "./api.js";
