// Browser entry (ES module): fetches and compiles the .wasm next to this file
// before the module finishes loading.
import init from "./raftcp_wasm.js";

await init({ module_or_path: new URL("./raftcp_wasm_bg.wasm", import.meta.url) });

export * from "./api.js";
