// Browser entry (ES module): the .wasm next to this file is fetched and
// compiled by the first connect(). Bundlers find it through
// `new URL(..., import.meta.url)`.
import init from "./raftcp_wasm.js";
import { connectAfter } from "./lazy.js";

export const connect = connectAfter(() =>
  init({ module_or_path: new URL("./raftcp_wasm_bg.wasm", import.meta.url) }),
);
export * from "./api.js";
