// increment_and_get from Node through the npm package: one client (one
// connection, one session), `inFlight` calls outstanding at all times.
// Run by scripts/bench-js beside `raftcp bench` on the same cluster.
// Usage: node bench-incr.mjs <endpoints,comma,separated> <inFlight> <seconds>
import { WebSocket } from "ws";
import { connect } from "raftcp";

const [endpoints, inFlight = "1", seconds = "10"] = process.argv.slice(2);
const client = await connect(endpoints.split(","), { WebSocket });
const counter = client.getAtomicLong("bench-js-incr");

let measuring = false;
let stop = false;
const latenciesUs = [];

async function worker() {
  while (!stop) {
    const start = process.hrtime.bigint();
    await counter.incrementAndGet();
    if (measuring) latenciesUs.push(Number(process.hrtime.bigint() - start) / 1000);
  }
}

const workers = Array.from({ length: Number(inFlight) }, worker);
await new Promise((resolve) => setTimeout(resolve, 1000)); // warm-up
measuring = true;
const started = performance.now();
await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1000));
measuring = false;
const elapsed = (performance.now() - started) / 1000;
stop = true;
await Promise.all(workers);
await client.close();

latenciesUs.sort((a, b) => a - b);
const percentile = (p) => (latenciesUs[Math.min(latenciesUs.length - 1, Math.floor(latenciesUs.length * p))] / 1000).toFixed(2);
console.log(JSON.stringify({
  workload: "incr",
  client: "node (npm package)",
  in_flight: Number(inFlight),
  ops_per_sec: Math.round(latenciesUs.length / elapsed),
  p50_ms: Number(percentile(0.5)),
  p99_ms: Number(percentile(0.99)),
}));
