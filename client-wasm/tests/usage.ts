// Type-checked against the built declarations (`tsc --noEmit`, run by
// types.test.mjs): what a TypeScript user writes must compile, and misuse
// marked @ts-expect-error must not.
import {
  connect,
  type Client,
  type Value,
  RaftcpError,
  OperationError,
  LockOwnershipLostError,
  type RaftcpErrorCode,
  type OperationErrorCode,
  type ClusterMembers,
  type SessionInfo,
  type ObjectInfo,
  type LockLease,
} from "raftcp";

export async function usage(): Promise<void> {
  const client: Client = await connect(["ws://127.0.0.1:7701"], { requestTimeoutMs: 5000 });

  const counter = client.getAtomicLong("sequence-generator");
  await counter.set(0);
  await counter.set(0n);
  const next: bigint = await counter.incrementAndGet();
  const swapped: boolean = await counter.compareAndSet(15, 20n);
  // @ts-expect-error a string is not a counter value
  await counter.set("1");

  const config = client.getAtomicReference("config");
  await config.set({ timeout: 30, retries: 3, tags: ["a"], raw: new Uint8Array(2), big: 1n });
  const current: Value = await config.get();
  const absent: boolean = await config.setIfAbsent({ timeout: 10 });
  // @ts-expect-error functions are not storable values
  await config.set(() => 1);

  const lock = client.getFencedLock("resource-lock");
  const fence: bigint = await lock.lock();
  const maybe: bigint | null = await lock.tryLock(5000);
  const controller = new AbortController();
  await lock.lock({ signal: controller.signal });
  const result: unknown = await lock.withLock(async (held: bigint) => held + 1n);
  await lock.unlock();
  const count: number = await lock.getLockCount();
  const leased: LockLease | null = await lock.tryLockLeased(10_000);
  if (leased) {
    const leaseFence: bigint = leased.fence;
    await lock.renewLease(leased.lease);
    await lock.unlockLeased(leased.lease);
  }
  // @ts-expect-error a lease is ended by its token, not the lease object
  await lock.unlockLeased(leased);
  const edge: Client = await connect("http://127.0.0.1:7701", { transport: "http" });
  // @ts-expect-error only "websocket" and "http"
  await connect("ws://127.0.0.1:7701", { transport: "udp" });

  const semaphore = client.getSemaphore("connection-pool");
  const initialized: boolean = await semaphore.init(10);
  await semaphore.acquire();
  await semaphore.acquire(3, { signal: controller.signal });
  const acquired: boolean = await semaphore.tryAcquire(2, 5000);
  await semaphore.release(3);
  const permitLease: string | null = await semaphore.tryAcquireLeased(2, 10_000);
  if (permitLease !== null) await semaphore.releaseLeased(permitLease);
  const available: number = await semaphore.availablePermits();

  const latch = client.getCountDownLatch("startup-latch");
  const set: boolean = await latch.trySetCount(3);
  await latch.countDown();
  const opened: boolean = await latch.awaitLatch(30_000);
  const remaining: number = await latch.getCount();
  const destroyed: Promise<void>[] = [
    counter.destroy(), config.destroy(), lock.destroy(), semaphore.destroy(), latch.destroy(),
  ];

  try {
    await lock.unlock();
  } catch (error) {
    if (error instanceof LockOwnershipLostError) {
      const code: "LOCK_OWNERSHIP_LOST" = error.code;
      void code;
    } else if (error instanceof OperationError) {
      const code: OperationErrorCode = error.code;
      void code;
    } else if (error instanceof RaftcpError) {
      const code: RaftcpErrorCode = error.code;
      // @ts-expect-error codes are a closed set
      const wrong: "NO_SUCH_CODE" = error.code;
      void [code, wrong];
    }
  }
  // References typed by what they hold (`type`, not `interface`).
  type Settings = { theme: string; retries: number; tags: string[] };
  const settings = client.getAtomicReference<Settings>("settings");
  const stored: Settings | null = await settings.get();
  await settings.set({ theme: "dark", retries: 3, tags: [] });
  const previous: Settings | null = await settings.getAndSet(null);
  const firstWriter: boolean = await settings.setIfAbsent({ theme: "light", retries: 0, tags: ["a"] });
  // @ts-expect-error a number is not Settings
  await settings.set(5);
  // @ts-expect-error a field of the wrong type
  await settings.compareAndSet(null, { theme: 1, retries: 3, tags: [] });
  // @ts-expect-error what get() returns may be null
  const notNull: Settings = await settings.get();
  // @ts-expect-error functions are not values, so not a reference's type either
  client.getAtomicReference<() => void>("callbacks");
  void [stored, previous, firstWriter, notNull];

  const admin = client.admin();
  const view: ClusterMembers = await admin.members();
  const lags: number[] = view.members.map((member) => member.lag);
  const sessions: SessionInfo[] = await admin.sessions();
  const closed: boolean = await admin.closeSession(sessions[0].session);
  // @ts-expect-error session ids are bigints
  await admin.closeSession(7);
  const objects: ObjectInfo[] = await admin.objects("jobs/");
  await admin.removeMember(3, true);
  void [lags, closed, objects];

  const lost: number = client.sessionsLost;
  await client.close();
  void [next, swapped, current, absent, fence, maybe, result, count, initialized, acquired,
    available, set, opened, remaining, lost];
}
