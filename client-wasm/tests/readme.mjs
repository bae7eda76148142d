// The README's JavaScript snippets, so the tests run exactly what users copy.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const readme = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "README.md");

/** The fenced block tagged `kind` (```js node, ```html browser, ...). */
export function snippet(kind) {
  const text = readFileSync(readme, "utf8");
  const match = text.match(new RegExp("```\\w+ " + kind + "\\n([\\s\\S]*?)```"));
  if (!match) throw new Error(`README has no \`${kind}\` snippet`);
  return match[1];
}

/** `code` pointed at `endpoints` instead of the README's 7701-7703. */
export function withEndpoints(code, endpoints) {
  return code.replace(/ws:\/\/127\.0\.0\.1:770(\d)/g, (_, n) => endpoints[Number(n) - 1]);
}
