// The playground: pick a primitive and a name, run any of its operations,
// see each result (fences included) or error with its code, and the
// object's state as a watch reports it.
import { h, show, describeError, follow } from "./ui.js";
import { handleFor } from "./dashboard.js";

/** Argument parsers by kind of input. */
const PARSE = {
  long: (text) => BigInt(text),
  count: (text) => Number.parseInt(text, 10),
  ms: (text) => (text === "" ? undefined : Number.parseInt(text, 10)),
  json: (text) => (text === "" ? null : JSON.parse(text)),
};

/** Each primitive's operations: the method and its arguments (label, kind, default). */
const PRIMITIVES = {
  long: {
    title: "AtomicLong",
    operations: [
      ["get"], ["incrementAndGet"], ["decrementAndGet"], ["getAndIncrement"],
      ["addAndGet", ["delta", "long", "10"]], ["getAndAdd", ["delta", "long", "10"]],
      ["set", ["value", "long", "0"]], ["getAndSet", ["value", "long", "0"]],
      ["compareAndSet", ["expect", "long", "0"], ["update", "long", "1"]], ["destroy"],
    ],
  },
  reference: {
    title: "AtomicReference",
    operations: [
      ["get"], ["set", ["value (JSON)", "json", "{\"a\":1}"]], ["getAndSet", ["value (JSON)", "json", "\"b\""]],
      ["compareAndSet", ["expect", "json", "null"], ["update", "json", "1"]],
      ["setIfAbsent", ["value (JSON)", "json", "1"]], ["contains", ["value (JSON)", "json", "1"]],
      ["isNull"], ["clear"], ["destroy"],
    ],
  },
  lock: {
    title: "FencedLock",
    operations: [
      ["lock"], ["tryLock", ["timeout ms", "ms", "0"]], ["unlock"], ["isLocked"], ["isLockedByMe"],
      ["getLockCount"], ["getFence"], ["destroy"],
    ],
  },
  semaphore: {
    title: "Semaphore",
    operations: [
      ["init", ["permits", "count", "3"]], ["acquire", ["permits", "count", "1"]],
      ["tryAcquire", ["permits", "count", "1"], ["timeout ms", "ms", "0"]], ["release", ["permits", "count", "1"]],
      ["availablePermits"], ["drainPermits"], ["increasePermits", ["permits", "count", "1"]],
      ["reducePermits", ["permits", "count", "1"]], ["destroy"],
    ],
  },
  latch: {
    title: "CountDownLatch",
    operations: [
      ["trySetCount", ["count", "count", "3"]], ["countDown"], ["getCount"],
      ["awaitLatch", ["timeout ms", "ms", "5000"]], ["destroy"],
    ],
  },
};

export function playground(main, client) {
  const kind = h("select", { id: "primitive" },
    ...Object.entries(PRIMITIVES).map(([key, p]) => h("option", { value: key }, p.title)));
  const name = h("input", { id: "object-name", value: "playground", required: true, maxlength: 256 });
  const operations = h("div", { class: "operations", id: "operations" });
  const log = h("ol", { class: "log", id: "results", "aria-live": "polite" });
  const state = h("p", { class: "state", id: "state" }, "–");
  const stateNote = h("p", { class: "muted", id: "state-note" });
  main.append(
    h("h1", {}, "Playground"),
    h("p", { class: "lead" }, "Run any operation of a primitive; the state panel follows the object with a watch, so you see other tabs' and apps' changes too."),
    h("form", { class: "inline", id: "target" },
      h("label", { for: "primitive" }, "Primitive", kind),
      h("label", { for: "object-name" }, "Name", name)),
    operations,
    h("div", { class: "grid" },
      h("section", { class: "panel" }, h("h2", {}, "Results"), log),
      h("section", { class: "panel" }, h("h2", {}, "State"), state, stateNote)));

  let handle;
  let watching = new AbortController();
  let shownKind;
  function choose() {
    watching.abort();
    watching = new AbortController();
    handle = handleFor(client, kind.value, name.value);
    state.textContent = "–";
    // Only a new kind redraws the buttons: a name typed and then left by
    // clicking an operation must not pull that button from under the click.
    if (shownKind !== kind.value) {
      shownKind = kind.value;
      operations.replaceChildren(...PRIMITIVES[kind.value].operations.map((op) => operationControl(op)));
    }
    follow(handle, watching.signal, (change) => {
      state.textContent = show(change.value);
      stateNote.textContent = `at position ${change.position}` +
        (change.jump ? " (after a jump)" : "") + (change.destroyed ? ", destroyed" : "");
    });
  }

  function operationControl([method, ...args]) {
    const inputs = args.map(([label, parse, initial]) => {
      const input = h("input", { value: initial, "data-parse": parse });
      return { label, input, parse };
    });
    const run = h("button", { type: "submit", "data-op": method }, method);
    const form = h("form", { class: "operation" },
      ...inputs.map(({ label, input }) => h("label", {}, label, input)), run);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const target = `${PRIMITIVES[kind.value].title} "${name.value}"`;
      let values;
      try {
        values = inputs.map(({ input, parse }) => PARSE[parse](input.value));
      } catch (error) {
        log.prepend(h("li", { class: "bad" }, `${method}: bad argument: ${error.message}`));
        return;
      }
      const call = `${method}(${values.filter((v) => v !== undefined).map(show).join(", ")})`;
      try {
        const result = await handle[method](...values);
        log.prepend(h("li", { "data-result": show(result) }, `${target}.${call} → ${show(result)}`));
      } catch (error) {
        log.prepend(h("li", { class: "bad", "data-error": error.code ?? "" }, `${target}.${call} ✗ ${describeError(error)}`));
      }
      while (log.children.length > 100) log.lastChild.remove();
    });
    return form;
  }

  kind.addEventListener("change", choose);
  name.addEventListener("change", choose);
  document.getElementById("target").addEventListener("submit", (event) => event.preventDefault());
  choose();
  return () => watching.abort();
}
