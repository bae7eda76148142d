// A Cloudflare Worker request in workerd (the real runtime) that
// increments a counter, or takes and releases a lock, two ways each: with a
// WebSocket and a session per request (`transport: "websocket"` and
// `withLock`, what every Worker did before session-less calls) and over
// HTTP (the workerd entry's default, and a leased lock). Each is driven
// with `concurrency` requests at a time for `seconds`; each request slot
// has its own lock, so the numbers are the cost of a lock, not a queue.
// Run by scripts/bench-js after the Node runs, on the same cluster.
// Usage: node bench-worker.mjs <endpoints,comma,separated> <concurrency> <seconds>
import { startWorker } from "./workerd.mjs";

const [endpoints, concurrency = "8", seconds = "10"] = process.argv.slice(2);

const COUNT = `const hits = await client.getAtomicLong("bench-worker-hits").incrementAndGet();
      return new Response(String(hits));`;
const LOCK_IN_SESSION = `const lock = client.getFencedLock("bench-worker-lock-" + new URL(request.url).searchParams.get("slot"));
      const fence = await lock.withLock(async (fence) => fence);
      return new Response(String(fence));`;
const LEASED_LOCK = `const lock = client.getFencedLock("bench-worker-lock-" + new URL(request.url).searchParams.get("slot"));
      const taken = await lock.tryLockLeased(10000);
      if (!taken) return new Response("busy", { status: 409 });
      await lock.unlockLeased(taken.lease);
      return new Response(String(taken.fence));`;

const worker = (transport, body) => `
import { connect } from "raftcp";
export default {
  async fetch(request, env) {
    const client = await connect(env.RAFTCP_ENDPOINTS.split(","), { transport: "${transport}" });
    try {
      ${body}
    } finally {
      await client.close();
    }
  },
};
`;

/** Requests per second and latency percentiles of `url` under load. */
async function drive(url) {
  let measuring = false;
  let stop = false;
  let errors = 0;
  const latenciesMs = [];
  const loop = async (_, slot) => {
    while (!stop) {
      const start = performance.now();
      const response = await fetch(`${url}?slot=${slot}`);
      await response.text();
      if (response.status !== 200) errors++;
      if (measuring) latenciesMs.push(performance.now() - start);
    }
  };
  const loops = Array.from({ length: Number(concurrency) }, loop);
  await new Promise((resolve) => setTimeout(resolve, 1000)); // warm-up
  measuring = true;
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1000));
  measuring = false;
  const elapsed = (performance.now() - started) / 1000;
  stop = true;
  await Promise.all(loops);
  latenciesMs.sort((a, b) => a - b);
  const percentile = (p) => latenciesMs[Math.min(latenciesMs.length - 1, Math.floor(latenciesMs.length * p))].toFixed(2);
  return {
    requests_per_sec: Math.round(latenciesMs.length / elapsed),
    p50_ms: Number(percentile(0.5)),
    p99_ms: Number(percentile(0.99)),
    errors,
  };
}

const runs = [
  ["incr", "websocket", COUNT],
  ["incr", "http", COUNT],
  ["lock", "websocket", LOCK_IN_SESSION],
  ["lock", "http", LEASED_LOCK],
];
for (const [workload, transport, body] of runs) {
  const runtime = await startWorker(endpoints.split(","), { script: worker(transport, body) });
  try {
    const result = await drive(runtime.url);
    console.log(JSON.stringify({ workload: `worker-${workload}`, transport, concurrency: Number(concurrency), ...result }));
  } finally {
    runtime.stop();
  }
}
