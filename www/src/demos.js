// The four use cases of the CP model as demos that work across browser
// tabs: open the same demo in several tabs and they coordinate through the
// cluster. Each demo shows the function it runs (its own source), so the
// code on the page is the code that runs.
import { h, show, describeError, follow } from "./ui.js";

/** Clicks (or other user events) as a queue an async demo can wait on. */
function events(signal) {
  const queue = [];
  let wake = () => {};
  signal.addEventListener("abort", () => wake());
  return {
    push(value) {
      queue.push(value);
      wake();
    },
    /** The next event, or undefined once the demo is left. */
    async next() {
      while (queue.length === 0 && !signal.aborted) {
        await new Promise((resolve) => { wake = resolve; });
      }
      return queue.shift();
    },
  };
}

// --- The demos' code (shown on the page as written) ------------------------

async function leaderElection(client, ui, signal) {
  const lock = client.getFencedLock("demo/leader");
  while (!signal.aborted) {
    ui.show("candidate", "waiting for the lock");
    // Waits while another tab leads. Each new leader gets a larger fence,
    // which the resources it writes to can use to refuse a stale leader.
    const fence = await lock.lock({ signal });
    ui.show("leader", `fence ${fence}`, fence);
    // Leads until "Step down". Closing the tab ends its session, which
    // releases the lock at once for the next candidate.
    await ui.stepDown();
    await lock.unlock();
  }
}

async function rateLimiter(client, ui, signal) {
  const permits = client.getSemaphore("demo/rate");
  // The first tab sets the budget; later calls change nothing.
  await permits.init(5);
  // Every tab shares 5 permits; a request holds one for a second.
  for (let request; (request = await ui.nextRequest()) !== undefined && !signal.aborted;) {
    if (await permits.tryAcquire(1, 0)) {
      ui.show("accepted", request);
      setTimeout(() => permits.release(1).catch(() => {}), 1000);
    } else {
      ui.show("rejected", request);
    }
  }
}

async function barrier(client, ui, signal) {
  const latch = client.getCountDownLatch("demo/barrier");
  while ((await ui.join()) !== undefined) {
    // The first tab of a round sets how many must arrive (a latch at 0
    // takes a new count; one counting down keeps its own).
    await latch.trySetCount(ui.parties());
    await latch.countDown();
    ui.show("waiting", "for the others to join");
    await latch.awaitLatch(undefined, { signal });
    ui.show("through", "everyone arrived");
  }
}

async function sequence(client, ui, signal) {
  const ids = client.getAtomicLong("demo/sequence");
  for (let count; (count = await ui.nextTake()) !== undefined && !signal.aborted;) {
    // Each id goes to one caller only, across every tab and app, even when
    // a call is sent again after a lost reply (every retry is exactly-once).
    const taken = await Promise.all(Array.from({ length: count }, () => ids.incrementAndGet()));
    ui.show("took", taken);
  }
}

// --- The pages around them -------------------------------------------------

const DEMOS = [
  {
    path: "election",
    title: "Leader election",
    about: "Every tab with this demo open is a candidate for one FencedLock; the holder leads. Close the leader's tab and the next candidate takes over with a larger fence.",
    code: leaderElection,
    mount: mountElection,
    watch: (client) => client.getFencedLock("demo/leader"),
  },
  {
    path: "rate-limiter",
    title: "Rate limiter",
    about: "A Semaphore of 5 permits is the budget all tabs share: a request that gets a permit proceeds and gives it back a second later. Send a burst from two tabs and count the rejections.",
    code: rateLimiter,
    mount: mountRateLimiter,
    watch: (client) => client.getSemaphore("demo/rate"),
  },
  {
    path: "barrier",
    title: "Barrier",
    about: "A CountDownLatch holds each tab that joins until the chosen number of tabs have joined, then lets them all through at once. The next join starts a new round.",
    code: barrier,
    mount: mountBarrier,
    watch: (client) => client.getCountDownLatch("demo/barrier"),
  },
  {
    path: "sequence",
    title: "Sequence generator",
    about: "An AtomicLong hands out ids: every tab, every app and every retry gets a different one. Take a hundred at once from two tabs; no id repeats.",
    code: sequence,
    mount: mountSequence,
    watch: (client) => client.getAtomicLong("demo/sequence"),
  },
];

export function demos(main, client, hash) {
  const demo = DEMOS.find((d) => hash === `#/demos/${d.path}`);
  if (!demo) {
    main.append(h("h1", {}, "Demos"),
      h("p", { class: "lead" }, "The coordination patterns raftcp is for, each working across browser tabs: open a demo in two or three tabs."),
      h("div", { class: "cards" }, ...DEMOS.map((d) => h("section", { class: "panel" },
        h("h2", {}, h("a", { href: `#/demos/${d.path}` }, d.title)), h("p", {}, d.about)))));
    return () => {};
  }
  const stop = new AbortController();
  const role = h("p", { class: "state", id: "demo-role", "aria-live": "polite" }, "starting…");
  const detail = h("p", { id: "demo-detail" });
  const controls = h("div", { class: "controls" });
  const log = h("ol", { class: "log", id: "demo-log" });
  const shared = h("p", { id: "demo-shared", class: "muted" }, "–");
  main.append(
    h("p", {}, h("a", { href: "#/demos" }, "All demos")),
    h("h1", {}, demo.title),
    h("p", { class: "lead" }, demo.about),
    h("div", { class: "grid" },
      h("section", { class: "panel" }, h("h2", {}, "This tab"), role, detail, controls, log),
      h("section", { class: "panel" }, h("h2", {}, "The code it runs"), h("pre", { tabindex: 0 }, h("code", {}, demo.code.toString())),
        h("h2", {}, "The shared object (watched)"), shared)));
  const report = (state, text, value) => {
    role.textContent = state;
    detail.textContent = text === undefined ? "" : typeof text === "string" ? text : show(text);
    if (value !== undefined) role.dataset.value = String(value);
    log.prepend(h("li", {}, `${new Date().toLocaleTimeString("en")} ${state} ${detail.textContent}`));
    while (log.children.length > 30) log.lastChild.remove();
  };
  const ui = demo.mount(controls, report, stop.signal);
  demo.code(client, ui, stop.signal).catch((error) => {
    if (!stop.signal.aborted) report("stopped", describeError(error));
  });
  follow(demo.watch(client), stop.signal, (change) => {
    shared.textContent = `${show(change.value)} (position ${change.position})`;
  });
  return () => stop.abort();
}

function button(label, onClick) {
  const b = h("button", { type: "button" }, label);
  b.addEventListener("click", onClick);
  return b;
}

function mountElection(controls, report, signal) {
  const clicks = events(signal);
  const stepDown = button("Step down", () => clicks.push(true));
  stepDown.disabled = true;
  controls.append(stepDown);
  return {
    show(state, text, fence) {
      stepDown.disabled = state !== "leader";
      report(state, text, fence);
    },
    stepDown: () => clicks.next(),
  };
}

function mountRateLimiter(controls, report, signal) {
  const requests = events(signal);
  let sent = 0;
  const counts = { accepted: 0, rejected: 0 };
  const totals = h("p", { id: "demo-totals" }, "accepted 0 · rejected 0");
  controls.append(
    button("Send a request", () => requests.push(++sent)),
    button("Send a burst of 10", () => { for (let i = 0; i < 10; i++) requests.push(++sent); }),
    totals);
  return {
    nextRequest: () => requests.next(),
    show(outcome, request) {
      counts[outcome] += 1;
      totals.textContent = `accepted ${counts.accepted} · rejected ${counts.rejected}`;
      report(outcome, `request ${request}`);
    },
  };
}

function mountBarrier(controls, report, signal) {
  const joins = events(signal);
  const parties = h("input", { id: "parties", type: "number", min: 1, max: 20, value: 2 });
  const join = button("Join", () => { join.disabled = true; joins.push(true); });
  controls.append(h("label", { for: "parties" }, "Tabs to wait for", parties), join);
  return {
    join: () => joins.next(),
    parties: () => Math.max(1, Number.parseInt(parties.value, 10) || 1),
    show(state, text) {
      join.disabled = state === "waiting";
      report(state, text);
    },
  };
}

function mountSequence(controls, report, signal) {
  const takes = events(signal);
  controls.append(button("Take an id", () => takes.push(1)), button("Take 100", () => takes.push(100)));
  return {
    nextTake: () => takes.next(),
    show(state, ids) {
      const sorted = [...ids].sort((a, b) => (a < b ? -1 : 1));
      const text = ids.length === 1 ? `id ${ids[0]}` : `${ids.length} ids, ${sorted[0]} … ${sorted[ids.length - 1]}`;
      report(state, text);
    },
  };
}
