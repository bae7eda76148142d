// A page as an application writes it, built by esbuild with its default
// configuration (`--bundle` and nothing else). It imports `raftcp/inline`,
// which carries the .wasm inside: esbuild does not follow
// `new URL(..., import.meta.url)`. The cluster's endpoint comes in the
// page's query (`?endpoint=ws://...`).
import { connect } from "raftcp/inline";

async function run() {
  const endpoint = new URL(location.href).searchParams.get("endpoint");
  const client = await connect([endpoint]);
  const counter = client.getAtomicLong("bundled-counter");
  const count = await counter.incrementAndGet();
  const lock = client.getFencedLock("bundled-lock");
  const fence = await lock.lock();
  await lock.unlock();
  await client.close();
  return { count: String(count), fence: String(fence) };
}

run().then(
  (result) => {
    document.getElementById("result").textContent = JSON.stringify(result);
    document.title = "done";
  },
  (error) => {
    document.getElementById("result").textContent = String(error?.stack ?? error);
    document.title = "failed";
  },
);
