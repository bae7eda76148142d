// The shipped TypeScript declarations: `tsc --noEmit` on usage.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

test("usage.ts type-checks against the built declarations", async () => {
  const tsc = join(here, "node_modules", ".bin", "tsc");
  const run = await promisify(execFile)(tsc, ["--noEmit", "-p", "tsconfig.json"], { cwd: here })
    .catch((error) => error);
  assert.equal(run.code ?? 0, 0, `${run.stdout}${run.stderr}`);
});
