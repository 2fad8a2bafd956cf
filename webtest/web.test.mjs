// Browser tests of Starling's web client. Two people use the client in two
// browser contexts (separate storage, like two browsers) against the node at
// STARLING_URL, which webtest/run starts. Everything goes through the UI and
// the server's OAuth page; the API is only called directly to check what
// the UI did (a revoked token) and to add content for screenshots.
//
// WEBTEST_SCREENSHOTS=1 also writes docs/screenshots/*.png.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "./browser.mjs";
import { PASSWORD, signUp, ready, settled, tokenOf, makeImage, waitImages, a11yProblems, describeFocus, until } from "./helpers.mjs";
import { decode as decodeBlurhash } from "../gateway/web/js/blurhash.js";

const BASE = (process.env.STARLING_URL || "").replace(/\/+$/, "");
assert.ok(BASE, "STARLING_URL must point at a running Starling node");
const SHOTS = process.env.WEBTEST_SCREENSHOTS === "1";
const SHOT_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "docs", "screenshots");
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const ALT = "A sunset over dark purple mountains, the sun a pale disc in an orange sky";

let chrome;
let ctxA;
let ctxB;
let alice; // the page of the person who follows
let bob; // the page of the person who posts
let bobPost; // bob's status id
const errors = [];

async function newContext(viewport = DESKTOP) {
  const ctx = await chrome.browser.newContext({ viewport, colorScheme: "light", locale: "en-GB", timezoneId: "UTC" });
  ctx.setDefaultTimeout(20000);
  ctx.setDefaultNavigationTimeout(30000);
  return ctx;
}

const T0 = Date.now();
function watch(page, who) {
  if (process.env.WEBTEST_DEBUG) {
    const log = (...a) => console.log(((Date.now() - T0) / 1000).toFixed(1), who, ...a);
    page.on("websocket", (ws) => { log("ws open", ws.url()); ws.on("framereceived", (f) => log("frame in", String(f.payload).slice(0, 100))); ws.on("framesent", (f) => log("frame out", String(f.payload).slice(0, 80))); ws.on("close", () => log("ws closed")); });
    page.on("requestfailed", (r) => log("request failed", r.url()));
    page.on("response", (r) => { if (r.status() >= 400) log("response", r.status(), r.url()); });
    page.on("framenavigated", (f) => { if (f === page.mainFrame()) log("navigated", f.url()); });
  }
  page.on("pageerror", (e) => errors.push(`${who}: page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const text = m.text();
    // A refused request the test provoked on purpose shows as a console error.
    if (/Failed to load resource: the server responded with a status of (4\d\d)/.test(text)) return;
    errors.push(`${who}: console error: ${text}`);
  });
  return page;
}

/** fetchText fetches url and reads the whole body (leaving no connection busy). */
async function fetchText(url, init) {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text };
}

async function shoot(page, name) {
  if (!SHOTS) return;
  mkdirSync(SHOT_DIR, { recursive: true });
  await waitImages(page);
  await page.evaluate(() => document.fonts && document.fonts.ready);
  await page.waitForTimeout(350); // transitions (image fade-in, colours) settle
  await page.screenshot({ path: join(SHOT_DIR, `${name}.png`) });
}

describe("web client", { timeout: 240000 }, () => {
  before(async () => {
    chrome = await launch();
    ctxA = await newContext();
    ctxB = await newContext();
    alice = watch(await ctxA.newPage(), "alice");
    bob = watch(await ctxB.newPage(), "bob");
  });

  after(async () => {
    if (chrome) await chrome.close();
  });

  it("is served at / with a CSP that forbids inline scripts", async () => {
    for (const path of ["/", "/home", "/@someone", "/statuses/123", "/tags/go", "/notifications", "/public"]) {
      const res = await fetchText(BASE + path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get("content-type"), /^text\/html/);
      const csp = res.headers.get("content-security-policy");
      assert.match(csp, /script-src 'self'(;|\s)/, path);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.match(csp, /connect-src [^;]*ws:\/\//);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      assert.doesNotMatch(res.text, /<script(?![^>]*\bsrc=)[^>]*>/, "no inline script");
    }
    const html = (await fetchText(BASE + "/")).text;
    const main = /src="(\/web\/[0-9a-f]+\/js\/main\.js)"/.exec(html);
    assert.ok(main, "index.html loads a versioned main.js");
    const js = await fetchText(BASE + main[1]);
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type"), /^text\/javascript/);
    assert.match(js.headers.get("cache-control"), /immutable/);
    assert.equal((await fetchText(BASE + "/nonexistent")).status, 404);
    assert.equal((await fetchText(BASE + "/api/v1/nonexistent")).status, 404);
  });

  it("lets two people sign up and sign in through the OAuth page (PKCE)", async () => {
    await Promise.all([signUp(alice, BASE, "alice"), signUp(bob, BASE, "bob")]);
    // The token came from the authorization-code flow and works.
    const tok = await tokenOf(alice);
    const me = await api(tok, "GET", "/api/v1/accounts/verify_credentials");
    assert.equal(me.username, "alice");
    await alice.locator('html[data-stream="open"]').waitFor({ state: "attached" });
  });

  it("follows someone from their profile", async () => {
    await alice.goto(`${BASE}/@bob`);
    await ready(alice);
    const follow = alice.getByRole("button", { name: "Follow @bob" });
    await follow.click();
    await alice.getByRole("button", { name: "Unfollow @bob" }).waitFor();
    await alice.locator(".profile-tab", { hasText: "Followers" }).click();
    await alice.locator(".account-row", { hasText: "@alice" }).waitFor();
    // Bob is told at once: the badge counts the follow.
    await bob.getByRole("navigation", { name: "Main" }).getByRole("link", { name: /^Notifications, 1 unread$/ }).waitFor();
    await alice.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Home" }).click();
    await alice.getByRole("heading", { name: "Home", level: 1 }).waitFor();
    await alice.locator('html[data-stream="open"]').waitFor({ state: "attached" });
  });

  it("shows a post with an image arriving live, behind a new-posts bar", async () => {
    await alice.evaluate(() => { window.__sameDocument = true; });
    const feedBefore = await alice.locator("main .feed > article").count();

    // Bob writes a post with an image and alt text.
    const { buffer, mean } = await makeImage(bob);
    const composer = bob.locator("main form.composer");
    await composer.getByLabel("Post text").fill("Evening walk. #sunsets");
    await composer.locator('input[type="file"]').setInputFiles({ name: "sunset.png", mimeType: "image/png", buffer });
    await composer.getByLabel("Alt text for image 1").fill(ALT);
    await composer.locator('.compose-media-item[data-state="ready"]').waitFor({ timeout: 30000 });
    await composer.getByRole("button", { name: "Post", exact: true }).click();
    const own = bob.locator("main .feed article.status").first();
    await own.getByText("Evening walk.").waitFor();
    bobPost = await own.getAttribute("data-status-id");
    assert.ok(bobPost);
    assert.equal(await composer.getByLabel("Post text").inputValue(), "", "the composer is cleared");

    // Alice's page does not move: a bar offers the new post.
    const bar = alice.getByRole("button", { name: "Show 1 new post" });
    await bar.waitFor({ timeout: 20000 });
    assert.equal(await alice.locator("main .feed > article").count(), feedBefore, "nothing was inserted yet");
    await bar.click();
    const post = alice.locator(`main .feed article.status[data-status-id="${bobPost}"]`);
    await post.waitFor();
    assert.equal(await alice.evaluate(() => window.__sameDocument), true, "the page was not reloaded");
    await post.getByText("Evening walk.").waitFor();
    await post.getByRole("link", { name: "#sunsets" }).waitFor();
    const img = post.locator(".media-item img");
    assert.equal(await img.getAttribute("alt"), ALT);
    await alice.waitForFunction((id) => {
      const i = document.querySelector(`article[data-status-id="${id}"] .media-item img`);
      return i && i.complete && i.naturalWidth > 0;
    }, bobPost);
    assert.equal(await post.locator(".media-item canvas.blurhash").count(), 1, "a blurhash placeholder is drawn");

    // The blurhash decoder agrees with the picture: its mean colour is the image's.
    const res = await fetch(`${BASE}/api/v1/statuses/${bobPost}`);
    const status = await res.json();
    const hash = status.media_attachments[0].blurhash;
    assert.ok(hash, "the server computed a blurhash");
    const px = decodeBlurhash(hash, 32, 20);
    const avg = [0, 1, 2].map((c) => { let s = 0; for (let i = c; i < px.length; i += 4) s += px[i]; return s / (px.length / 4); });
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(avg[c] - mean[c]) < 40, `blurhash mean ${avg} vs image mean ${mean}`);
  });

  it("opens the thread, shows the image full size and replies", async () => {
    const post = alice.locator(`main .feed article.status[data-status-id="${bobPost}"]`);
    // The image opens full size in a dialog; Escape closes it and focus returns.
    const mediaButton = post.locator(".media-item");
    await mediaButton.click();
    const dialog = alice.getByRole("dialog", { name: "Image" });
    await dialog.waitFor();
    assert.equal(await dialog.locator("img.viewer-image").getAttribute("alt"), ALT);
    await dialog.getByText(ALT).waitFor();
    await alice.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    assert.equal(await mediaButton.evaluate((el) => el === document.activeElement), true, "focus returns to the image");

    await post.locator("a.status-time").click();
    await alice.waitForURL(new RegExp(`/statuses/${bobPost}$`));
    const main = alice.locator("article.status.detailed");
    await main.getByText("Evening walk.").waitFor();
    const reply = alice.locator("form.composer", { has: alice.getByLabel("Reply text") });
    const text = reply.getByLabel("Reply text");
    assert.equal(await text.inputValue(), "@bob ", "the reply mentions the author");
    await text.press("End");
    await text.pressSequentially("Lovely colours!");
    await reply.getByRole("button", { name: "Reply", exact: true }).click();
    await alice.locator(".thread-replies article.status", { hasText: "Lovely colours!" }).waitFor();
    assert.equal(await main.getByRole("button", { name: /^Reply \(1\)$/ }).count(), 1, "the reply counts on the post");
  });

  it("tells the author: unread badge live, the notification list, the read marker", async () => {
    await bob.evaluate(() => { window.__sameDocument = true; });
    const navB = bob.getByRole("navigation", { name: "Main" });
    // The follow, and now the reply's mention.
    const link = navB.getByRole("link", { name: /^Notifications, 2 unread$/ });
    await link.waitFor({ timeout: 20000 });
    assert.equal(await navB.locator(".badge").innerText(), "2");
    assert.match(await bob.title(), /^\(2\) /);
    assert.equal(await bob.evaluate(() => window.__sameDocument), true);
    await link.click();
    const n = bob.locator("article.notification.type-mention").first();
    await n.getByText("mentioned you").waitFor();
    await n.getByText("Lovely colours!").waitFor();
    assert.match(await n.getAttribute("class"), /unread/);
    await bob.locator("article.notification.type-follow", { hasText: "followed you" }).waitFor();
    await until(async () => (await navB.locator(".badge").isHidden()), { what: "the badge to clear" });
    // The marker is on the server: a reload keeps the badge clear.
    await until(async () => {
      const res = await fetch(`${BASE}/api/v1/markers?timeline[]=notifications`, { headers: { Authorization: `Bearer ${await tokenOf(bob)}` } });
      const m = await res.json();
      return m.notifications && m.notifications.last_read_id !== "0" && m.notifications.last_read_id;
    }, { what: "the notifications marker" });
    await bob.reload();
    await ready(bob);
    await bob.getByRole("heading", { name: "Notifications", level: 1 }).waitFor();
    await bob.waitForTimeout(500);
    assert.equal(await navB.locator(".badge").isHidden(), true);
    // The reply, in the thread, from the notification.
    await bob.locator("article.notification.type-mention article.status").first().click();
    await bob.locator("article.status.detailed", { hasText: "Lovely colours!" }).waitFor();
    await bob.getByRole("button", { name: "Back" }).click();
    await bob.getByRole("heading", { name: "Notifications", level: 1 }).waitFor();
  });

  it("favourites, boosts and deletes", async () => {
    await alice.goto(`${BASE}/statuses/${bobPost}`);
    await ready(alice);
    const main = alice.locator("article.status.detailed");
    await main.getByText("Evening walk.").waitFor();
    const fav = main.getByRole("button", { name: /^Favourite/ });
    await fav.click();
    await main.getByRole("button", { name: "Remove favourite (1)" }).waitFor();
    assert.equal(await main.locator("button.favourite").getAttribute("aria-pressed"), "true");
    await main.getByRole("button", { name: /^Boost/ }).click();
    await main.getByRole("button", { name: "Undo boost (1)" }).waitFor();
    await main.getByText("1 boost").waitFor();
    // Bob hears about both, live.
    await bob.getByRole("navigation", { name: "Main" }).getByRole("link", { name: /^Notifications/ }).waitFor();
    const list = bob.locator("main .feed");
    const bar = bob.getByRole("button", { name: /new notification/ });
    await until(async () => (await list.locator("article.type-favourite").count()) > 0 || (await bar.count()) > 0, { what: "the favourite notification" });
    if (await bar.count()) await bar.click();
    await list.locator("article.type-favourite").first().waitFor();

    // Alice deletes her reply: asked first, then gone.
    const myReply = alice.locator(".thread-replies article.status", { hasText: "Lovely colours!" });
    await myReply.getByRole("button", { name: "Delete" }).click();
    const confirm = alice.getByRole("dialog", { name: "Delete post?" });
    await confirm.getByRole("button", { name: "Delete" }).click();
    await myReply.waitFor({ state: "detached" });
    assert.equal(await alice.locator(".thread-replies article.status").count(), 0);
    // Bob's post cannot be deleted by Alice: no button.
    assert.equal(await main.getByRole("button", { name: "Delete" }).count(), 0);
  });

  it("counts characters and shows the server's refusals (422, 429 with the wait)", async () => {
    await bob.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Home" }).click();
    const composer = bob.locator("main form.composer");
    const text = composer.getByLabel("Post text");
    const post = composer.getByRole("button", { name: "Post", exact: true });
    const count = composer.locator(".compose-count");

    await text.fill("x".repeat(500));
    assert.equal(await count.locator('[aria-hidden="true"]').innerText(), "0");
    assert.equal(await post.isEnabled(), true);
    await text.fill("x".repeat(501));
    assert.equal(await count.locator('[aria-hidden="true"]').innerText(), "-1");
    assert.match(await count.innerText(), /1 character over the limit of 500/);
    assert.equal(await post.isDisabled(), true);
    assert.equal(await text.getAttribute("aria-invalid"), "true");
    // A URL counts as 23 characters, whatever its length.
    await text.fill(`see https://example.com/${"a".repeat(100)}`);
    assert.equal(await count.locator('[aria-hidden="true"]').innerText(), String(500 - 4 - 23));

    // A file that is not really an image: the server refuses it and says why.
    await text.fill("");
    await composer.locator('input[type="file"]').setInputFiles({ name: "fake.png", mimeType: "image/png", buffer: Buffer.from("this is not a png") });
    const alert = composer.getByRole("alert");
    await alert.getByText(/Could not upload “fake.png”: .*\(422\)/).waitFor({ timeout: 30000 });
    assert.equal(await post.isDisabled(), true, "cannot post while an image failed");
    await composer.getByRole("button", { name: "Remove image 1" }).click();
    assert.equal(await alert.isHidden(), true);

    // A 422 and a 429 as the server sends them.
    await bob.route("**/api/v1/statuses", (route) => route.fulfill({
      status: 422, contentType: "application/json", body: JSON.stringify({ error: "Validation failed: Text can't be blank" }),
    }), { times: 1 });
    await text.fill("Hello?");
    await post.click();
    await alert.getByText("Validation failed: Text can't be blank (422)").waitFor();
    assert.equal(await text.inputValue(), "Hello?", "the draft is kept");
    const reset = new Date(Date.now() + 90_000).toISOString().replace("Z", "000Z");
    await bob.route("**/api/v1/statuses", (route) => route.fulfill({
      status: 429, contentType: "application/json", body: JSON.stringify({ error: "Too many requests" }),
      headers: { "X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset },
    }), { times: 1 });
    await post.click();
    await alert.getByText(/^Too many requests \(429\)\. Try again in 1 minute (2[0-9]|30) seconds\.$/).waitFor();
    assert.equal(await post.isDisabled(), true, "posting waits out the limit");
    await bob.unrouteAll({ behavior: "ignoreErrors" });
    await text.fill("");
  });

  it("is accessible: names, alt text, keyboard navigation without traps", async () => {
    // Names and alt text on every page of the main flow.
    const pages = [
      ["home", `${BASE}/home`, alice],
      ["thread", `${BASE}/statuses/${bobPost}`, alice],
      ["profile", `${BASE}/@bob`, alice],
      ["followers", `${BASE}/@bob?tab=followers`, alice],
      ["notifications", `${BASE}/notifications`, bob],
      ["public", `${BASE}/public`, bob],
    ];
    for (const [name, url, page] of pages) {
      await page.goto(url);
      await ready(page);
      await settled(page);
      await page.waitForTimeout(300);
      assert.deepEqual(await a11yProblems(page), [], `${name}: accessibility problems`);
    }
    // The composer with an image, and the image viewer.
    await alice.goto(`${BASE}/home`);
    await ready(alice);
    const { buffer } = await makeImage(alice, { palette: { top: "#0b3d5c", mid: "#3aa0c8", bottom: "#bfe6f2", sun: "#ffffff", land: "#17402f" } });
    const composer = alice.locator("main form.composer");
    await composer.locator('input[type="file"]').setInputFiles({ name: "sky.png", mimeType: "image/png", buffer });
    await composer.locator('.compose-media-item[data-state="ready"]').waitFor({ timeout: 30000 });
    assert.deepEqual(await a11yProblems(alice), [], "composer with an image");
    await composer.getByRole("button", { name: "Remove image 1" }).click();
    await alice.locator("main .media-item").first().click();
    await alice.getByRole("dialog", { name: "Image" }).waitFor();
    assert.deepEqual(await a11yProblems(alice), [], "image viewer");
    await alice.keyboard.press("Escape");
    await alice.getByRole("dialog").waitFor({ state: "detached" });

    // Tab through the home page: skip link, navigation, new post, the
    // composer's controls, the post button and on into the posts.
    await alice.goto(`${BASE}/home`);
    await ready(alice);
    await alice.locator("main .feed article.status").first().waitFor();
    const seen = [];
    let typed = false;
    for (let i = 0; i < 60; i++) {
      await alice.keyboard.press("Tab");
      const f = await describeFocus(alice);
      assert.equal(f.visible, true, `focused element is visible: ${JSON.stringify(f)}`);
      seen.push(f);
      if (f.tag === "textarea" && !typed) {
        await alice.keyboard.type("Typed with the keyboard");
        typed = true;
      }
      if (f.tag === "article") break;
    }
    const has = (pred, what) => assert.ok(seen.some(pred), `Tab reaches ${what}; saw ${JSON.stringify(seen.map((s) => s.name || s.tag))}`);
    has((f) => f.tag === "a" && /Skip to content/.test(f.name), "the skip link");
    has((f) => f.tag === "a" && f.name === "Home", "Home in the navigation");
    has((f) => f.tag === "a" && /^Notifications/.test(f.name), "Notifications");
    has((f) => f.tag === "button" && f.name === "New post", "the New post button");
    has((f) => f.tag === "textarea", "the post text");
    has((f) => f.tag === "button" && f.name === "Post", "the Post button");
    has((f) => f.tag === "article", "the first post in the timeline");
    const distinct = new Set(seen.map((f) => `${f.tag}|${f.name}|${f.cls}`));
    assert.ok(distinct.size >= seen.length - 2, "focus keeps moving forward");
    // Shift+Tab goes back out of the timeline the same way.
    await alice.keyboard.press("Shift+Tab");
    assert.notEqual((await describeFocus(alice)).tag, "article");
    // Post from the keyboard, then j/k move between posts and Enter opens one.
    await alice.locator("main form.composer").getByLabel("Post text").focus();
    await alice.keyboard.press("Control+Enter");
    await alice.locator("main .feed article.status", { hasText: "Typed with the keyboard" }).waitFor();
    await alice.keyboard.press("Escape");
    await alice.keyboard.press("j");
    assert.equal((await describeFocus(alice)).tag, "article");
    await alice.keyboard.press("j");
    await alice.keyboard.press("k");
    const focusedId = await alice.evaluate(() => document.activeElement.dataset.statusId);
    await alice.keyboard.press("Enter");
    await alice.waitForURL(new RegExp(`/statuses/${focusedId}$`));
    // The shortcuts dialog opens with ? and closes with Escape.
    await alice.keyboard.press("?");
    await alice.getByRole("dialog", { name: "Keyboard shortcuts" }).waitFor();
    await alice.keyboard.press("Escape");
    await alice.getByRole("dialog").waitFor({ state: "detached" });
  });

  it("works at phone width and in dark mode", async () => {
    const ctx = await newContext(PHONE);
    try {
      // The same person in a second browser: the token lives in storage.
      await ctx.addInitScript(([app, token]) => {
        if (!localStorage.getItem("starling.token")) {
          localStorage.setItem("starling.app", app);
          localStorage.setItem("starling.token", token);
        }
      }, [await alice.evaluate(() => localStorage.getItem("starling.app")), JSON.stringify(await tokenOf(alice))]);
      const page = watch(await ctx.newPage(), "alice-phone");
      for (const path of ["/home", `/statuses/${bobPost}`, "/@bob", "/notifications", "/public"]) {
        await page.goto(BASE + path);
        await ready(page);
        await settled(page);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${path} fits 390 px (overflow ${overflow})`);
      }
      const tabs = page.getByRole("navigation", { name: "Main" });
      const box = await tabs.boundingBox();
      assert.ok(box && box.y + box.height <= PHONE.height + 1 && box.y > PHONE.height - 120, "the tab bar is at the bottom");
      await tabs.getByRole("link", { name: "Home" }).click();
      await page.getByRole("heading", { name: "Home", level: 1 }).waitFor();
      const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      await page.emulateMedia({ colorScheme: "dark" });
      const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const lum = (c) => { const [r, g, b] = c.match(/\d+/g).map(Number); return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255; };
      assert.ok(lum(light) > 0.8, `light background ${light}`);
      assert.ok(lum(dark) < 0.15, `dark background ${dark}`);
    } finally {
      await ctx.close();
    }
  });

  it("loads older posts by the Link header while scrolling", async () => {
    // Carol has more posts than one page holds (made through the API).
    const carol = await createAccount(bob, "carol");
    for (let i = 1; i <= 27; i++) {
      await api(carol, "POST", "/api/v1/statuses", { status: `Counting posts: number ${i}`, visibility: "unlisted" });
    }
    const pages = [];
    const onRequest = (r) => { if (/\/api\/v1\/accounts\/\d+\/statuses/.test(r.url())) pages.push(new URL(r.url()).search); };
    bob.on("request", onRequest);
    try {
      await bob.goto(`${BASE}/@carol`);
      await settled(bob);
      const posts = bob.locator("main .feed article.status");
      await until(async () => (await posts.count()) >= 20, { what: "the first page" });
      for (let i = 0; i < 10 && (await posts.count()) < 27; i++) {
        await bob.mouse.wheel(0, 4000);
        await bob.waitForTimeout(300);
      }
      await until(async () => (await posts.count()) === 27, { what: "all 27 posts" });
      await bob.getByText("Counting posts: number 1", { exact: true }).waitFor();
      await bob.getByText("You have reached the end.").waitFor();
      assert.ok(pages.some((q) => /max_id=\d+/.test(q)), `a page was asked for with max_id from the Link header: ${pages}`);
      const ids = await posts.evaluateAll((els) => els.map((e) => e.dataset.statusId));
      assert.equal(new Set(ids).size, 27, "no post is shown twice");
    } finally {
      bob.off("request", onRequest);
    }
  });

  it("takes screenshots", { skip: !SHOTS && "set WEBTEST_SCREENSHOTS=1 to write docs/screenshots" }, async () => {
    await seed();
    const combos = [["desktop", DESKTOP, "light"], ["desktop", DESKTOP, "dark"], ["phone", PHONE, "light"], ["phone", PHONE, "dark"]];
    const app = await alice.evaluate(() => localStorage.getItem("starling.app"));
    for (const [width, viewport, scheme] of combos) {
      const suffix = `${width}-${scheme}`;
      const ctxs = [];
      const open = async (page0) => {
        const ctx = await chrome.browser.newContext({ viewport, colorScheme: scheme, locale: "en-GB", timezoneId: "UTC", deviceScaleFactor: 1 });
        ctxs.push(ctx);
        await ctx.addInitScript(([a, t]) => {
          localStorage.setItem("starling.app", a);
          localStorage.setItem("starling.token", t);
        }, [app, JSON.stringify(await tokenOf(page0))]);
        return watch(await ctx.newPage(), `shots-${suffix}`);
      };
      try {
        const a = await open(alice);
        await a.goto(`${BASE}/home`);
        await ready(a);
        await a.locator("main .feed article.status").nth(3).waitFor();
        await shoot(a, `home-${suffix}`);

        const { buffer } = await makeImage(a, { palette: { top: "#3b2a6b", mid: "#e0679a", bottom: "#ffc2a8", sun: "#fff1d6", land: "#2b2740" } });
        const composer = a.locator("main form.composer");
        await composer.getByLabel("Post text").fill("First snow on the hills this morning ❄️ #winter");
        await composer.locator('input[type="file"]').setInputFiles({ name: "hills.png", mimeType: "image/png", buffer });
        await composer.getByLabel("Alt text for image 1").fill("Pink dawn light over a ridge of dark hills");
        await composer.locator('.compose-media-item[data-state="ready"]').waitFor({ timeout: 30000 });
        await a.evaluate(() => { document.activeElement.blur(); window.scrollTo(0, 0); });
        await shoot(a, `compose-${suffix}`);
        await composer.getByRole("button", { name: "Remove image 1" }).click();

        await a.goto(`${BASE}/@bob`);
        await ready(a);
        await a.locator("main .feed article.status").first().waitFor();
        await shoot(a, `profile-${suffix}`);

        const b = await open(bob);
        await b.goto(`${BASE}/notifications`);
        await ready(b);
        await b.locator("main .feed article.notification").nth(2).waitFor();
        await shoot(b, `notifications-${suffix}`);
      } finally {
        for (const c of ctxs) await c.close();
      }
    }
  });

  it("signs out, revoking the token", async () => {
    const tok = await tokenOf(alice);
    await alice.goto(`${BASE}/home`);
    await ready(alice);
    await alice.locator(".me-card").getByRole("button", { name: "Sign out" }).click();
    await alice.getByRole("dialog", { name: "Sign out?" }).getByRole("button", { name: "Sign out" }).click();
    await alice.getByRole("heading", { name: /Welcome to/ }).waitFor();
    assert.equal(await tokenOf(alice), null);
    const res = await fetchText(`${BASE}/api/v1/accounts/verify_credentials`, { headers: { Authorization: `Bearer ${tok}` } });
    assert.equal(res.status, 401, "the server no longer accepts the token");
    // Signed-out visitors are asked to sign in for the home timeline.
    await alice.goto(`${BASE}/home`);
    await ready(alice);
    await alice.getByText("Sign in to see this page.").waitFor();
  });

  it("raised no script errors and no CSP violations", () => {
    assert.deepEqual(errors, []);
  });
});

/**
 * api calls the API with token (null: none) and a JSON body, and returns
 * the JSON answer; any status but 200 throws.
 */
async function api(token, method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(BASE + path, { method, headers, body: body && JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/**
 * createAccount signs username up through the API with the web client's
 * app (as registered in page's storage) and returns the account's token.
 */
async function createAccount(page, username) {
  const app = JSON.parse(await page.evaluate(() => localStorage.getItem("starling.app")));
  const appTok = (await api(null, "POST", "/oauth/token", {
    grant_type: "client_credentials", client_id: app.client_id, client_secret: app.client_secret, scope: "read write follow",
  })).access_token;
  const account = await api(appTok, "POST", "/api/v1/accounts", { username, email: `${username}@example.com`, password: PASSWORD, agreement: true, locale: "en" });
  return account.access_token;
}

/** seed adds a few more people and posts so screenshots look lived-in. */
async function seed() {
  const people = {};
  for (const [username, name, note] of [["mira", "Mira Okafor", "Birds, maps and bread."], ["tomas", "Tomás Reyes", "Cycling between cafés."]]) {
    people[username] = await createAccount(alice, username);
    await api(people[username], "PATCH", "/api/v1/accounts/update_credentials", { display_name: name, note });
  }
  const a = await tokenOf(alice);
  const b = await tokenOf(bob);
  await api(a, "PATCH", "/api/v1/accounts/update_credentials", { display_name: "Alice Martin", note: "Photographer. Early riser. Tea." });
  await api(b, "PATCH", "/api/v1/accounts/update_credentials", { display_name: "Bob Lindqvist", note: "I walk, I look at the sky, I post about it. #sunsets" });
  const lookup = async (acct) => api(a, "GET", `/api/v1/accounts/lookup?acct=${acct}`);
  for (const u of ["mira", "tomas"]) {
    const acc = await lookup(u);
    await api(a, "POST", `/api/v1/accounts/${acc.id}/follow`);
    await api(people[u], "POST", `/api/v1/accounts/${(await lookup("bob")).id}/follow`);
  }
  const m1 = await api(people.mira, "POST", "/api/v1/statuses", { status: "Spotted a pair of goldfinches on the feeder this morning. Spring is close! #birds", visibility: "public" });
  await api(people.tomas, "POST", "/api/v1/statuses", { status: "Route for Saturday's ride: along the river, coffee at the old mill, back over the hill. Who's in? https://example.com/routes/saturday-river-loop", visibility: "public" });
  await api(people.mira, "POST", "/api/v1/statuses", { status: "The ending of the book club pick, discussed below.", spoiler_text: "Book spoilers", visibility: "public" });
  await api(a, "POST", `/api/v1/statuses/${m1.id}/favourite`);
  await api(people.tomas, "POST", `/api/v1/statuses/${bobPost}/favourite`);
  await api(people.mira, "POST", `/api/v1/statuses/${bobPost}/reblog`);
  await api(people.mira, "POST", "/api/v1/statuses", { status: "@bob that light is unreal — where was this?", in_reply_to_id: bobPost, visibility: "public" });
  await api(people.tomas, "POST", "/api/v1/statuses", { status: "Fresh bread Friday: rye with caraway. The kitchen smells amazing. #baking", visibility: "public" });
  // One more picture from Bob, uploaded as a client would (multipart).
  const { buffer } = await makeImage(bob, { width: 800, height: 450, palette: { top: "#14213d", mid: "#5c4d9a", bottom: "#f6a58f", sun: "#ffe3b0", land: "#0e1626" } });
  const form = new FormData();
  form.append("file", new Blob([buffer], { type: "image/png" }), "lake.png");
  form.append("description", "A still lake at dusk reflecting a teal and gold sky");
  let media = await (await fetch(`${BASE}/api/v2/media`, { method: "POST", headers: { Authorization: `Bearer ${b}` }, body: form })).json();
  await until(async () => {
    const res = await fetch(`${BASE}/api/v1/media/${media.id}`, { headers: { Authorization: `Bearer ${b}` } });
    media = await res.json();
    return res.status === 200 && media.url;
  }, { what: "the lake picture to be processed" });
  await api(b, "POST", "/api/v1/statuses", { status: "Same lake, ten minutes later. The colours did not last, but they were something. #sunsets", media_ids: [media.id], visibility: "public" });
}
