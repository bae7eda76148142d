// Deno entry: reads the .wasm next to this file at import (needs read
// permission for the package directory).
import { initSync } from "./raftcp_wasm.js";

initSync({ module: Deno.readFileSync(new URL("./raftcp_wasm_bg.wasm", import.meta.url)) });

export * from "./api.js";
