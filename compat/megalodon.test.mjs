// Mastodon compatibility tests with megalodon, the client library behind
// the Whalebird desktop client. They run against the Starling node at
// STARLING_URL (compat/run starts one) and use only the public API and the
// sign-in page, as the app would.

import { test } from "node:test";
import assert from "node:assert/strict";
import generator, { detector } from "megalodon";

const url = process.env.STARLING_URL;
assert.ok(url, "STARLING_URL must point at a running Starling node");

const password = "correct horse battery";
let seq = 0;

// until polls f until it returns a truthy value or the time runs out.
async function until(f, what, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// signUp creates an account the way Whalebird's sign-up does: an app, an
// app token, POST /api/v1/accounts.
async function signUp(prefix) {
  const anon = generator("mastodon", url);
  const app = await anon.createApp("megalodon sign-up", { scopes: ["read", "write", "follow"] });
  const res = await fetch(`${url}/oauth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ grant_type: "client_credentials", client_id: app.client_id, client_secret: app.client_secret, scope: "read write follow" }),
  });
  assert.equal(res.status, 200);
  const asApp = generator("mastodon", url, (await res.json()).access_token);
  const username = `${prefix}${Date.now() % 100000}${seq++}`;
  const token = await asApp.registerAccount(username, `${username}@example.com`, password, true, "en");
  return { username, token: token.data.access_token, client: generator("mastodon", url, token.data.access_token) };
}

// authorize signs in on the server's own page, as the user does in the
// browser Whalebird opens, and returns the code shown for an oob app.
async function authorize(authURL, login) {
  const page = await fetch(authURL, { redirect: "manual" });
  assert.equal(page.status, 200, "the sign-in page");
  const cookie = page.headers.get("set-cookie").split(";")[0];
  const html = await page.text();
  const form = new URLSearchParams();
  for (const m of html.matchAll(/<input type="hidden" name="([a-z_]+)" value="([^"]*)">/g)) {
    form.set(m[1], m[2].replaceAll("&amp;", "&").replaceAll("&#43;", "+"));
  }
  form.set("login", login);
  form.set("password", password);
  form.set("decision", "allow");
  const done = await fetch(`${url}/oauth/authorize`, { method: "POST", body: form, headers: { cookie }, redirect: "manual" });
  assert.equal(done.status, 200, "the code page");
  const code = (await done.text()).match(/<code class="oob" id="code">([^<]+)<\/code>/);
  assert.ok(code, "the page shows the code");
  return code[1];
}

test("detector recognises a Mastodon-compatible server", async () => {
  assert.equal(await detector(url), "mastodon");
  const info = await (await fetch(`${url}/nodeinfo/2.0`)).json();
  assert.equal(info.software.name, "starling", "nodeinfo names the software truthfully");
});

test("sign in through the authorization page, then verify credentials", async () => {
  const { username } = await signUp("mgl");
  const anon = generator("mastodon", url);
  const app = await anon.registerApp("Whalebird test", { scopes: ["read", "write", "follow"] });
  assert.ok(app.url.startsWith(`${url}/oauth/authorize?`), app.url);
  const code = await authorize(app.url, username);
  const token = await anon.fetchAccessToken(app.client_id, app.client_secret, code);
  assert.ok(token.access_token);
  const client = generator("mastodon", url, token.access_token);
  const me = (await client.verifyAccountCredentials()).data;
  assert.equal(me.username, username);
  assert.equal(me.source.privacy, "public");

  // Command-line clients sign in with the password grant instead.
  const res = await fetch(`${url}/oauth/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "password", client_id: app.client_id, client_secret: app.client_secret, username: `${username}@example.com`, password, scope: "read" }),
  });
  assert.equal(res.status, 200);
  const viaPassword = generator("mastodon", url, (await res.json()).access_token);
  assert.equal((await viaPassword.verifyAccountCredentials()).data.id, me.id);
});

test("instance, preferences, markers and profile fields", async () => {
  const { client } = await signUp("mglp");
  const instance = (await client.getInstance()).data;
  // Counts are cached for a minute (the Go tests check their values).
  assert.equal(typeof instance.stats.user_count, "number");
  assert.equal(typeof instance.stats.status_count, "number");
  assert.match(instance.urls.streaming_api, /^wss?:\/\//);
  const prefs = (await client.getPreferences()).data;
  assert.equal(prefs["posting:default:visibility"], "public");
  const none = (await client.getMarkers(["home", "notifications"])).data;
  assert.equal(none.home, undefined, "a marker never saved is left out");
  const updated = (await client.updateCredentials({
    display_name: "Whale", fields_attributes: [{ name: "Site", value: "https://whale.example" }, { name: "Pronouns", value: "it/its" }],
  })).data;
  assert.equal(updated.display_name, "Whale");
  assert.deepEqual(updated.fields.map((f) => f.name), ["Site", "Pronouns"]);
  assert.match(updated.fields[0].value, /href="https:\/\/whale\.example"/);
  assert.equal(updated.fields[0].verified_at, null);
});

test("post, follow, timelines, notifications and streaming", async () => {
  const alice = await signUp("mgla");
  const bob = await signUp("mglb");
  const aliceID = (await alice.client.verifyAccountCredentials()).data.id;
  const rel = (await bob.client.followAccount(aliceID)).data;
  assert.equal(rel.following, true);

  // Streaming over WebSocket, as megalodon does it (stream= and
  // access_token= in the query).
  const stream = await bob.client.userStreaming();
  const events = [];
  stream.on("update", (s) => events.push(["update", s.id]));
  stream.on("notification", (n) => events.push(["notification", n.type]));
  const connected = new Promise((resolve, reject) => {
    stream.on("connect", resolve);
    stream.on("error", reject);
  });
  try {
    await connected;
    await new Promise((r) => setTimeout(r, 200)); // the subscription lands
    const posted = (await alice.client.postStatus(`hello @${bob.username} #megalodon`, { visibility: "public" })).data;
    assert.equal(posted.account.id, aliceID);

    const home = (await bob.client.getHomeTimeline({ limit: 10 })).data;
    assert.equal(home[0].id, posted.id);
    const pub = (await bob.client.getPublicTimeline({ limit: 40 })).data;
    assert.ok(pub.some((s) => s.id === posted.id));
    const local = (await bob.client.getLocalTimeline({ limit: 40 })).data;
    assert.ok(local.some((s) => s.id === posted.id));
    const tagged = (await bob.client.getTagTimeline("megalodon", { limit: 10 })).data;
    assert.equal(tagged[0].id, posted.id);
    const fav = (await bob.client.favouriteStatus(posted.id)).data;
    assert.equal(fav.favourited, true);

    const notes = await until(async () => {
      const n = (await bob.client.getNotifications({ limit: 10 })).data;
      return n.length > 0 && n;
    }, "bob's mention");
    assert.equal(notes[0].type, "mention");
    assert.equal(notes[0].status.id, posted.id);

    await until(() => events.some(([e, id]) => e === "update" && id === posted.id), "the update event");
    await until(() => events.some(([e, type]) => e === "notification" && type === "mention"), "the notification event");
  } finally {
    stream.stop();
  }
});
