// Starts Debian's Chromium headless with a fresh profile and connects
// playwright-core to it over the DevTools protocol. The flags are the ones
// the tests are specified with; nothing is downloaded.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-default-browser-check",
  "--disable-dev-shm-usage",
  "--hide-scrollbars",
  "--mute-audio",
  "--remote-debugging-port=0",
];

/**
 * launch starts Chromium and returns { browser, close }. close() ends the
 * browser process (by its pid) and removes the profile.
 */
export async function launch({ timeoutMs = 30000 } = {}) {
  const profile = mkdtempSync(join(tmpdir(), "starling-chromium-"));
  // Its own process group, so its helper processes end with it.
  const proc = spawn(CHROMIUM, [...FLAGS, `--user-data-dir=${profile}`, "about:blank"], {
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  let stderr = "";
  const endpoint = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Chromium did not start within ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
    proc.stderr.on("data", (d) => {
      stderr += d;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`Chromium exited with ${code}:\n${stderr}`));
    });
  });
  proc.stderr.resume();
  const browser = await chromium.connectOverCDP(endpoint, { timeout: timeoutMs });
  let closed = false;
  async function close() {
    if (closed) return;
    closed = true;
    const exited = new Promise((r) => {
      if (proc.exitCode !== null || proc.signalCode !== null) r();
      else proc.once("exit", r);
    });
    // Ask the browser to quit (connectOverCDP's close() only disconnects).
    try {
      const cdp = await browser.newBrowserCDPSession();
      await Promise.race([cdp.send("Browser.close"), new Promise((r) => setTimeout(r, 3000))]);
    } catch {
      // Already gone.
    }
    await browser.close().catch(() => {});
    const late = setTimeout(() => {
      try { process.kill(-proc.pid, "SIGKILL"); } catch { /* gone */ }
    }, 5000);
    await exited;
    clearTimeout(late);
    // Helpers still holding the group's pipes end too.
    try { process.kill(-proc.pid, "SIGKILL"); } catch { /* gone */ }
    proc.stderr.destroy();
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    } catch {
      // A helper process may still be writing; the directory is in tmp.
    }
  }
  return { browser, close };
}
