// A Cloudflare Worker using the package (run by workerd.test.mjs in the real
// workerd runtime). Each request opens a client, increments a counter,
// takes and releases a lock, and closes: workerd ties sockets to the
// request that opened them.
import { connect } from "raftcp";

export default {
  async fetch(request, env) {
    const client = await connect(env.ENDPOINTS.split(","));
    try {
      const value = await client.getAtomicLong("worker-hits").incrementAndGet();
      const lock = client.getFencedLock("worker-lock");
      const fence = await lock.withLock(async (fence) => fence);
      return Response.json({ value: String(value), fence: String(fence) });
    } catch (error) {
      return Response.json({ error: `${error.name}: ${error.message}` }, { status: 500 });
    } finally {
      await client.close();
    }
  },
};
