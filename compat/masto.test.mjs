// Mastodon compatibility tests with masto.js, the client library behind
// Elk and many bots. They run against the Starling node at STARLING_URL
// (compat/run starts one) and use only the public API, as any app would.

// masto v8 targets Node 22; Node 20 lacks Promise.withResolvers.
if (!Promise.withResolvers) {
  Promise.withResolvers = function () {
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}

import { test } from "node:test";
import assert from "node:assert/strict";
import { createRestAPIClient, createOAuthAPIClient } from "masto";

const url = process.env.STARLING_URL;
assert.ok(url, "STARLING_URL must point at a running Starling node");

let seq = 0;

// signUp registers an app, gets an app token and creates an account,
// exactly as a client's sign-up screen would.
async function signUp(prefix) {
  const anon = createRestAPIClient({ url });
  const app = await anon.v1.apps.create({
    clientName: "masto compat", redirectUris: "urn:ietf:wg:oauth:2.0:oob", scopes: "read write follow push",
  });
  const oauth = createOAuthAPIClient({ url });
  const appToken = await oauth.token.create({
    grantType: "client_credentials", clientId: app.clientId, clientSecret: app.clientSecret, scope: "read write follow push",
  });
  const asApp = createRestAPIClient({ url, accessToken: appToken.accessToken });
  const username = `${prefix}${Date.now() % 100000}${seq++}`;
  const token = await asApp.v1.accounts.create({
    username, email: `${username}@example.com`, password: "correct horse battery", agreement: true, locale: "en",
  });
  const client = createRestAPIClient({ url, accessToken: token.accessToken });
  const me = await client.v1.accounts.verifyCredentials();
  return { client, me, username, app, token: token.accessToken };
}

test("instance metadata has what clients read", async () => {
  const rest = createRestAPIClient({ url });
  const instance = await rest.v2.instance.fetch();
  assert.equal(instance.configuration.statuses.maxCharacters, 500);
  assert.match(instance.configuration.urls.streaming, /^wss?:\/\//);
  const v1 = await rest.v1.instance.fetch();
  assert.ok(v1.uri);
});

test("sign up, verify credentials, update profile", async () => {
  const { client, me, username } = await signUp("compat");
  assert.equal(me.username, username);
  assert.equal(me.source.privacy, "public");
  const updated = await client.v1.accounts.updateCredentials({ displayName: "Compat Tester", note: "I test <things>" });
  assert.equal(updated.displayName, "Compat Tester");
  assert.equal(updated.note, "<p>I test &lt;things&gt;</p>");
  const looked = await client.v1.accounts.lookup({ acct: username });
  assert.equal(looked.id, me.id);
  const prefs = await client.v1.preferences.fetch();
  assert.equal(prefs["posting:default:visibility"], "public");
  const none = await client.v1.markers.fetch({ timeline: ["notifications"] });
  assert.equal(none.notifications, undefined, "a marker never saved is left out");
  await client.v1.markers.create({ notifications: { lastReadId: me.id } });
  const markers = await client.v1.markers.fetch({ timeline: ["notifications", "home"] });
  assert.equal(markers.notifications.lastReadId, me.id);
  assert.equal(markers.home, undefined);
});

test("post, follow, home timeline with pagination, favourite, reblog, thread", async () => {
  const alice = await signUp("alice");
  const bob = await signUp("bob");
  const rel = await bob.client.v1.accounts.$select(alice.me.id).follow();
  assert.equal(rel.following, true);
  const rels = await bob.client.v1.accounts.relationships.fetch({ id: [alice.me.id] });
  assert.equal(rels[0].following, true);

  const posted = [];
  for (let i = 0; i < 5; i++) {
    const s = await alice.client.v1.statuses.create({ status: `hello ${i} @${bob.username} #compat`, visibility: "public" });
    posted.unshift(s.id);
  }
  assert.equal((await alice.client.v1.statuses.$select(posted[0]).fetch()).mentions[0].id, bob.me.id);

  // masto follows the Link header from page to page.
  const seen = [];
  for await (const page of bob.client.v1.timelines.home.list({ limit: 2 })) {
    seen.push(...page.map((s) => s.id));
    if (seen.length > 20) break;
  }
  assert.deepEqual(seen.slice(0, 5), posted);

  const fav = await bob.client.v1.statuses.$select(posted[0]).favourite();
  assert.equal(fav.favourited, true);
  assert.equal(fav.favouritesCount, 1);
  const boost = await bob.client.v1.statuses.$select(posted[1]).reblog();
  assert.equal(boost.reblog.id, posted[1]);

  const reply = await bob.client.v1.statuses.create({ status: `@${alice.username} nice`, inReplyToId: posted[0] });
  const ctx = await alice.client.v1.statuses.$select(posted[0]).context.fetch();
  assert.deepEqual(ctx.descendants.map((s) => s.id), [reply.id]);

  const tagged = await alice.client.v1.timelines.tag.$select("compat").list({ limit: 10 });
  assert.equal(tagged.length, 5);
  const pub = await alice.client.v1.timelines.public.list({ limit: 40 });
  assert.ok(pub.some((s) => s.id === posted[0]));

  const followers = await alice.client.v1.accounts.$select(alice.me.id).followers.list();
  assert.deepEqual(followers.map((a) => a.id), [bob.me.id]);

  const edited = await alice.client.v1.statuses.$select(posted[2]).update({ status: "edited" });
  assert.ok(edited.editedAt);
  const deleted = await alice.client.v1.statuses.$select(posted[3]).remove();
  assert.equal(deleted.text, `hello 1 @${bob.username} #compat`);
});

test("errors come back as masto errors with the server's message", async () => {
  const { client } = await signUp("errs");
  await assert.rejects(client.v1.statuses.create({ status: "x".repeat(501) }), (err) => {
    assert.equal(err.statusCode, 422);
    assert.match(err.message, /character limit/);
    return true;
  });
  await assert.rejects(client.v1.statuses.$select("1").fetch(), (err) => err.statusCode === 404);
});
