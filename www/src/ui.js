// Small helpers the views share: building elements, showing values and
// errors, and work that repeats or follows a watch until its view closes.

/** An element: `h("td", { class: "number" }, "42")`. Strings become text. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === undefined || value === null) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return element;
}

/** A value as the playground shows it: bigints plain, the rest as JSON. */
export function show(value) {
  if (value === undefined) return "done";
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return `bytes[${value.length}]`;
  // Bigints inside (a lock's fence) print as plain integers.
  const marked = JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `\u0000${v}` : v));
  return marked.replace(/"\\u0000(-?\d+)"/g, "$1");
}

/** An error with its code, as the package's error classes carry one. */
export function describeError(error) {
  return error?.code ? `${error.code}: ${error.message}` : String(error?.message ?? error);
}

/**
 * Failures of the repeating steps and watches, for the page to act on
 * (app.js asks for a token when one is refused or has expired).
 */
export const failures = new EventTarget();

function report(error) {
  console.debug("dashboard step failed:", error);
  failures.dispatchEvent(new CustomEvent("failure", { detail: error }));
}

/**
 * Runs `step` now and then every `everyMs` (never two at once) until the
 * returned function is called.
 */
export function repeat(everyMs, step) {
  let stopped = false;
  let timer;
  const run = async () => {
    try {
      await step();
    } catch (error) {
      report(error);
    }
    if (!stopped) timer = setTimeout(run, everyMs);
  };
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * Calls `onChange` with each change of a watched handle until `signal`
 * aborts; a watch that ends with an error is started again after a pause.
 */
export async function follow(handle, signal, onChange) {
  while (!signal.aborted) {
    try {
      for await (const change of handle.watch({ signal })) onChange(change);
    } catch (error) {
      if (signal.aborted) return;
      report(error);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
