// Helpers for the browser tests: people signing up through the UI, images
// made in the page, waiting for the app, and accessibility checks.

import assert from "node:assert/strict";

export const PASSWORD = "correct horse battery staple";

/** until polls fn until it returns a truthy value or ms pass. */
export async function until(fn, { ms = 20000, every = 100, what = "condition" } = {}) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ""}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** ready waits until the app has booted on page. */
export async function ready(page) {
  await page.waitForSelector("html[data-ready]", { timeout: 20000 });
}

/** settled waits until the view's list, thread or profile has loaded. */
export async function settled(page) {
  await ready(page);
  await page.waitForFunction(() => {
    const m = document.querySelector("main");
    if (!m || m.querySelector('[aria-busy="true"], .feed-status.loading')) return false;
    return !!m.querySelector(".feed > *, .feed-status:not(:empty), .thread article, .error-box, .hero, form");
  }, null, { timeout: 20000 });
}

/**
 * signUp creates an account through the client's form, then signs in on
 * the server's OAuth page, and ends on the home timeline.
 */
export async function signUp(page, base, username) {
  await page.goto(`${base}/`);
  await ready(page);
  await page.locator("main").getByRole("link", { name: "Create account" }).click();
  await page.getByRole("heading", { name: /Join / }).waitFor();
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("E-mail").fill(`${username}@example.com`);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByLabel(/I agree/).check();
  await page.getByRole("button", { name: "Create account" }).click();
  // The server's own sign-in page, reached with a PKCE challenge.
  await page.waitForURL(/\/oauth\/authorize\?/, { timeout: 20000 });
  const u = new URL(page.url());
  assert.equal(u.searchParams.get("code_challenge_method"), "S256");
  assert.match(u.searchParams.get("code_challenge"), /^[A-Za-z0-9_-]{43}$/);
  assert.equal(u.searchParams.get("response_type"), "code");
  assert.ok(u.searchParams.get("state"));
  assert.equal(u.searchParams.get("redirect_uri"), `${new URL(base).origin}/oauth-callback`);
  await page.getByLabel("Username or e-mail").fill(username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Authorize" }).click();
  await page.waitForURL(/\/home$/, { timeout: 20000 });
  await page.getByRole("heading", { name: "Home", level: 1 }).waitFor();
  await page.locator(".me-card").getByText(`@${username}`).waitFor();
}

/** token reads the signed-in user's token from the page's storage. */
export async function tokenOf(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem("starling.token")));
}

/**
 * makeImage draws a picture in the page and returns { buffer, mean }: PNG
 * bytes and the mean sRGB colour.
 */
export async function makeImage(page, { width = 640, height = 400, palette = {} } = {}) {
  const colors = { top: "#27326b", mid: "#f2703f", bottom: "#ffb36b", sun: "#ffe9a3", land: "#2a2150", ...palette };
  const { b64, mean } = await page.evaluate(({ width, height, colors }) => {
    const c = document.createElement("canvas");
    c.width = width;
    c.height = height;
    const g = c.getContext("2d");
    const sky = g.createLinearGradient(0, 0, 0, height);
    sky.addColorStop(0, colors.top);
    sky.addColorStop(0.6, colors.mid);
    sky.addColorStop(1, colors.bottom);
    g.fillStyle = sky;
    g.fillRect(0, 0, width, height);
    g.fillStyle = colors.sun;
    g.beginPath();
    g.arc(width * 0.62, height * 0.58, height * 0.16, 0, Math.PI * 2);
    g.fill();
    g.fillStyle = colors.land;
    g.beginPath();
    g.moveTo(0, height);
    g.lineTo(0, height * 0.7);
    g.lineTo(width * 0.25, height * 0.5);
    g.lineTo(width * 0.45, height * 0.72);
    g.lineTo(width * 0.7, height * 0.55);
    g.lineTo(width, height * 0.75);
    g.lineTo(width, height);
    g.fill();
    const d = g.getImageData(0, 0, width, height).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < d.length; i += 4) {
      sum[0] += d[i];
      sum[1] += d[i + 1];
      sum[2] += d[i + 2];
    }
    const n = d.length / 4;
    return { b64: c.toDataURL("image/png").split(",")[1], mean: sum.map((s) => s / n) };
  }, { width, height, colors });
  return { buffer: Buffer.from(b64, "base64"), mean };
}

/** waitImages waits until every <img> in the page has loaded. */
export async function waitImages(page) {
  await page.waitForFunction(() => Array.from(document.images).every((i) => i.complete), null, { timeout: 20000 });
}

const NAMED_ROLES = new Set(["button", "link", "textbox", "combobox", "checkbox", "radio", "menuitem", "tab", "searchbox", "slider", "spinbutton", "switch", "listbox", "option", "dialog", "feed", "article", "region", "form"]);

/**
 * a11yProblems returns what the page's accessibility tree and DOM get
 * wrong: controls without a name, images without alt text that are not
 * hidden, inputs without labels.
 */
export async function a11yProblems(page) {
  const problems = [];
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = await cdp.send("Accessibility.getFullAXTree");
    for (const n of nodes) {
      if (n.ignored) continue;
      const role = n.role && n.role.value;
      const name = n.name && typeof n.name.value === "string" ? n.name.value.trim() : "";
      if (NAMED_ROLES.has(role) && !name) {
        // Sections and forms only need names when they are landmarks.
        if (role === "region" || role === "form" || role === "article") continue;
        problems.push(`${role} without an accessible name (backend node ${n.backendDOMNodeId})`);
      }
      if ((role === "image" || role === "img") && !name) problems.push(`image without alt text (backend node ${n.backendDOMNodeId})`);
    }
  } finally {
    await cdp.detach().catch(() => {});
  }
  const dom = await page.evaluate(() => {
    const out = [];
    const hidden = (el) => !!el.closest("[aria-hidden=true]") || el.getAttribute("role") === "presentation";
    for (const img of document.querySelectorAll("img")) {
      if (!img.hasAttribute("alt") && !hidden(img)) out.push(`<img src=${img.src.slice(0, 60)}> has no alt attribute`);
    }
    for (const el of document.querySelectorAll("input:not([type=hidden]), textarea, select")) {
      const named = el.labels?.length || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby") || el.title;
      if (!named) out.push(`<${el.tagName.toLowerCase()} id=${el.id}> has no label`);
    }
    for (const el of document.querySelectorAll("button, a[href]")) {
      if (el.closest("[hidden]") || el.getClientRects().length === 0) continue;
      const text = (el.getAttribute("aria-label") || el.textContent || "").trim() || el.querySelector("img[alt]:not([alt=''])");
      const labelled = el.getAttribute("aria-labelledby");
      if (!text && !labelled && !el.title && !hidden(el)) out.push(`<${el.tagName.toLowerCase()} class=${el.className}> has no text`);
    }
    return out;
  });
  return problems.concat(dom);
}

/** describeFocus names the focused element for keyboard tests. */
export async function describeFocus(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { tag: "body", name: "" };
    const label = el.getAttribute("aria-label") || (el.labels && el.labels[0] && el.labels[0].textContent) || el.textContent || "";
    return {
      tag: el.tagName.toLowerCase(),
      type: el.type || "",
      cls: typeof el.className === "string" ? el.className : "",
      name: label.replace(/\s+/g, " ").trim().slice(0, 60),
      inDialog: !!el.closest("dialog"),
      visible: el.getClientRects().length > 0,
    };
  });
}
