// Headless Chromium for the tests: Debian's (CHROMIUM overrides the path),
// driven by playwright-core, without a sandbox (tests run as root here) and
// without the background traffic that would slow a shared machine.
import { chromium } from "playwright-core";

/** Launches Chromium; `extraArgs` are added to its command line. */
export function launchChromium(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", ...extraArgs],
  });
}
