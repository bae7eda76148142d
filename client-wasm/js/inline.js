// The same package with the .wasm inside the JavaScript (gzipped, then
// base64): for bundlers that do not follow `new URL(..., import.meta.url)`
// (esbuild, on its defaults). Nothing to copy; the bundle grows by about
// the .wasm's gzipped size. The first connect() decodes and instantiates
// it, once (no top-level await).
import init from "./raftcp_wasm.js";
import { connectAfter } from "./lazy.js";
import { WASM_GZIP_BASE64 } from "./raftcp_wasm_inline.js";

async function inflate(base64) {
  const gzipped = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const stream = new Blob([gzipped]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Response(stream).arrayBuffer();
}

export const connect = connectAfter(async () => {
  await init({ module_or_path: await inflate(WASM_GZIP_BASE64) });
});
export * from "./api.js";
