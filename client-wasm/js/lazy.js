// The wasm module is instantiated by the first connect(), once, however
// many connect at the same time: importing the package costs nothing (no
// top-level await, safe to import during server-side rendering or in a
// test that never connects).
import { connect as connectLoaded } from "./raftcp_wasm.js";
import { ConfigError } from "./errors.js";

/** `connect` for an entry whose `load()` instantiates the wasm module. */
export function connectAfter(load) {
  let loading;
  return async function connect(endpoints, options) {
    // Shared by every caller; forgotten on failure, so a later call tries
    // again (a network error fetching the .wasm, for instance).
    loading ??= load().catch((cause) => {
      loading = undefined;
      const error = new ConfigError(`the raftcp client (its .wasm) did not load: ${cause}`, "CONFIG");
      error.cause = cause;
      throw error;
    });
    await loading;
    return connectLoaded(endpoints, options);
  };
}
