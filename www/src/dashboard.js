// The live dashboard: the members (from the leader's view through the
// admin API, and each member's own /health), charts from every member's
// /metrics, the sessions, and an objects browser that watches the object
// chosen. Polled once a second; the chosen object is watched, not polled.
import { h, show, describeError, repeat, follow } from "./ui.js";
import { lineChart } from "./chart.js";
import { OperationHistory, SAMPLE_MS, SAMPLES_KEPT, parseMetrics } from "./metrics.js";

/** Admin lists (sessions, objects) refresh this often. */
const LISTS_MS = 2000;
/** A member's /health or /metrics that takes longer counts as unreachable. */
const FETCH_TIMEOUT_MS = 900;

export function dashboard(main, client) {
  const admin = client.admin();
  const leader = h("p", { id: "leader", role: "status" }, "looking for the leader…");
  const membersBody = h("tbody");
  const membersError = h("p", { class: "bad" });
  const sessionsBody = h("tbody");
  const objectsBody = h("tbody");
  const prefix = h("input", { id: "object-prefix", type: "search", placeholder: "all objects" });
  const watched = h("div", { id: "watched" }, h("p", { class: "muted" }, "Choose an object to watch its changes."));
  const charts = {
    rates: lineChart("Operations per second", "ops/s"),
    p50: lineChart("Latency p50", "ms"),
    p99: lineChart("Latency p99", "ms"),
    state: lineChart("Sessions and objects", ""),
  };
  main.append(
    h("h1", {}, "Cluster"),
    leader,
    h("table", { id: "members" },
      h("caption", { class: "muted" }, "Members: lag and last heard as the leader sees them; the rest as each member reports it."),
      h("thead", {}, h("tr", {}, ...["Member", "Address", "Role", "Voter", "Term", "Commit", "Applied", "Lag", "Last heard", "Health"]
        .map((name) => h("th", { scope: "col" }, name)))),
      membersBody),
    membersError,
    h("div", { class: "grid" }, ...Object.values(charts).map((c) => c.panel)),
    h("h2", {}, "Sessions"),
    h("table", { id: "sessions" },
      h("thead", {}, h("tr", {}, ...["Session", "Client", "Expires in", "Holds", "Waits", ""]
        .map((name) => h("th", { scope: "col" }, name)))),
      sessionsBody),
    h("h2", {}, "Objects"),
    h("form", { class: "inline", role: "search" }, h("label", { for: "object-prefix" }, "Name starts with", prefix)),
    h("div", { class: "grid" },
      h("table", { id: "objects" },
        h("thead", {}, h("tr", {}, ...["Kind", "Name", "State", "Waiters", ""].map((name) => h("th", { scope: "col" }, name)))),
        objectsBody),
      h("section", { class: "panel" }, h("h2", {}, "Watched object"), watched)));

  const history = new OperationHistory();
  const stateSeries = { sessions: [], objects: [] };
  let members = [];

  const stopMembers = repeat(SAMPLE_MS, async () => {
    let view;
    try {
      view = await admin.members();
      membersError.textContent = "";
    } catch (error) {
      membersError.textContent = `members: ${describeError(error)}`;
      leader.textContent = "no leader known right now";
      leader.removeAttribute("data-leader");
      return;
    }
    members = view.members;
    const reports = await Promise.all(members.map((m) => memberReport(m.addr)));
    leader.textContent = `Leader: member ${view.leader} · term ${view.term} · committed ${view.committed}` +
      (view.changing ? " · membership change under way" : "");
    leader.dataset.leader = String(view.leader);
    membersBody.replaceChildren(...members.map((member, i) =>
      memberRow(member, reports[i], view.leader)));
    history.add(new Map(members.map((m, i) => [m.nodeId, reports[i].metrics])));
    const leaderMetrics = reports[members.findIndex((m) => m.nodeId === view.leader)]?.metrics;
    for (const gauge of ["sessions", "objects"]) {
      stateSeries[gauge].push(leaderMetrics?.get(`raftcp_${gauge}`) ?? null);
      if (stateSeries[gauge].length > SAMPLES_KEPT) stateSeries[gauge].shift();
    }
    drawCharts(charts, history, stateSeries);
  });

  const stopSessions = repeat(LISTS_MS, async () => {
    const sessions = await admin.sessions();
    sessionsBody.replaceChildren(...sessions.map((s) => {
      const close = h("button", { class: "secondary", type: "button" }, "Close");
      close.setAttribute("aria-label", `Close session ${s.session} (${s.clientName})`);
      close.addEventListener("click", () => admin.closeSession(s.session).catch(() => {}));
      return h("tr", {},
        h("td", {}, String(s.session)), h("td", {}, s.clientName),
        h("td", { class: "number" }, `${(s.expiresInMs / 1000).toFixed(1)} s`),
        h("td", {}, s.holds.join(", ")), h("td", {}, s.waits.join(", ")), h("td", {}, close));
    }));
  });

  let watching = new AbortController();
  const stopObjects = repeat(LISTS_MS, async () => {
    const objects = await admin.objects(prefix.value || null);
    objectsBody.replaceChildren(...objects.map((o) => {
      const watch = h("button", { class: "secondary", type: "button" }, "Watch");
      watch.setAttribute("aria-label", `Watch ${o.kind} ${o.name}`);
      watch.addEventListener("click", () => {
        watching.abort();
        watching = new AbortController();
        watchObject(client, o, watched, watching.signal);
      });
      return h("tr", {}, h("td", {}, o.kind), h("td", {}, o.name), h("td", {}, o.summary),
        h("td", { class: "number" }, String(o.waiters)), h("td", {}, watch));
    }));
  });

  return () => {
    stopMembers();
    stopSessions();
    stopObjects();
    watching.abort();
  };
}

/** A member's own /health and /metrics (null where it did not answer). */
async function memberReport(addr) {
  const base = `${location.protocol}//${addr}`;
  const get = async (path) => {
    const response = await fetch(base + path, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), cache: "no-store" });
    return { status: response.status, text: await response.text() };
  };
  const [health, metrics] = await Promise.allSettled([
    get("/health").then(({ status, text }) => ({ ...JSON.parse(text), status })),
    get("/metrics").then(({ text }) => parseMetrics(text)),
  ]);
  // A member that does not answer, or answers with something else, is
  // shown as unreachable; the others are still shown.
  return {
    health: health.status === "fulfilled" ? health.value : null,
    metrics: metrics.status === "fulfilled" ? metrics.value : null,
  };
}

function memberRow(member, report, leaderId) {
  const health = report.health;
  const role = member.nodeId === leaderId ? "leader" : health?.state ?? "unreachable";
  const healthText = !health ? "unreachable" : health.cut_off ? "cut off" : health.status === 200 ? "ok" : "no leader";
  const number = (value) => h("td", { class: "number" }, value === null || value === undefined ? "–" : String(value));
  return h("tr", { "data-member": member.nodeId, "data-role": role },
    h("th", { scope: "row" }, String(member.nodeId)),
    h("td", {}, member.addr),
    h("td", {}, role),
    h("td", {}, member.voter ? "voter" : "learner"),
    number(health?.term),
    number(health?.commit_index),
    number(health?.applied_index),
    number(member.lag),
    h("td", { class: "number" }, member.lastHeardMs === null ? "never" : `${member.lastHeardMs} ms`),
    h("td", { class: healthText === "ok" ? "ok" : "bad" }, healthText));
}

function drawCharts(charts, history, stateSeries) {
  const kinds = history.activeKinds();
  charts.rates.update(kinds.map((kind) => ({ name: kind, points: history.rates(kind) })));
  charts.p50.update(kinds.map((kind) => ({ name: kind, points: history.quantiles(kind, 0.5) })));
  charts.p99.update(kinds.map((kind) => ({ name: kind, points: history.quantiles(kind, 0.99) })));
  charts.state.update([
    { name: "sessions", points: stateSeries.sessions },
    { name: "objects", points: stateSeries.objects },
  ]);
}

/** The handle that watches an object of the admin list's `kind`. */
export function handleFor(client, kind, name) {
  switch (kind) {
    case "long": return client.getAtomicLong(name);
    case "reference": return client.getAtomicReference(name);
    case "lock": return client.getFencedLock(name);
    case "semaphore": return client.getSemaphore(name);
    case "latch": return client.getCountDownLatch(name);
    default: throw new Error(`unknown kind ${kind}`);
  }
}

function watchObject(client, object, into, signal) {
  const state = h("p", { class: "state", "aria-live": "polite" }, "…");
  const log = h("ol", { class: "log" });
  into.replaceChildren(h("p", {}, `${object.kind} “${object.name}”`), state, log);
  follow(handleFor(client, object.kind, object.name), signal, (change) => {
    state.textContent = show(change.value);
    const notes = [change.jump ? "jump" : "", change.destroyed ? "destroyed" : ""].filter(Boolean);
    log.prepend(h("li", {}, `@${change.position} ${show(change.value)} ${notes.join(" ")}`));
    while (log.children.length > 50) log.lastChild.remove();
  });
}
