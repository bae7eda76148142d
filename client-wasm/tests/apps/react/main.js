// A React app built by Vite on its defaults (no config file, no JSX, so no
// plugin): it takes a lock, shows who holds it and with which fence, and
// counts the times the page ran. The cluster's endpoint comes in the
// page's query (`?endpoint=ws://...`).
import { createElement as h, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { connect } from "raftcp";

function LockHolder({ endpoint }) {
  const [state, setState] = useState({ phase: "connecting" });
  useEffect(() => {
    let client;
    (async () => {
      client = await connect([endpoint], { clientName: "react-app" });
      const lock = client.getFencedLock("react-lock");
      const fence = await lock.lock();
      const holder = (await client.admin().sessions()).find((s) => s.holds.length > 0);
      setState({ phase: "holding", fence: String(fence), holder: holder?.clientName });
      const count = await client.getAtomicLong("react-runs").incrementAndGet();
      await lock.unlock();
      setState({ phase: "done", fence: String(fence), holder: holder?.clientName, count: String(count) });
      await client.close();
    })().catch((error) => setState({ phase: "failed", error: String(error?.stack ?? error) }));
  }, [endpoint]);
  useEffect(() => {
    if (state.phase === "done" || state.phase === "failed") document.title = state.phase;
  }, [state.phase]);
  if (state.phase === "failed") return h("pre", { id: "result" }, state.error);
  const result = { fence: state.fence, holder: state.holder, count: state.count };
  return h("div", null,
    h("p", null, state.phase === "connecting" ? "connecting…" : `lock held by ${state.holder} with fence ${state.fence}`),
    h("pre", { id: "result" }, state.phase === "done" ? JSON.stringify(result) : ""));
}

const endpoint = new URL(location.href).searchParams.get("endpoint");
createRoot(document.getElementById("root")).render(h(LockHolder, { endpoint }));
