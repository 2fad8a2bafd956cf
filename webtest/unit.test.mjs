// Unit tests of the client's pure modules, run by node directly: the
// blurhash decoder, character counting, Link and Retry-After parsing, and
// the PKCE challenge (with the fallback SHA-256).

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { decode, components, averageColor, isBlurhash } from "../gateway/web/js/blurhash.js";
import { countableLength } from "../gateway/web/js/counter.js";
import { parseLink, retryAfterSeconds, encodeQuery, describeError, ApiError } from "../gateway/web/js/api.js";
import { sha256Sync } from "../gateway/web/js/sha256.js";
import { pkceChallenge, base64url } from "../gateway/web/js/oauth.js";
import { formatWait, compareIds } from "../gateway/web/js/dom.js";

test("blurhash: decodes the reference hash", () => {
  const hash = "LEHV6nWB2yk8pyo0adR*.7kCMdnj";
  assert.deepEqual(components(hash), [4, 3]);
  assert.equal(isBlurhash(hash), true);
  const px = decode(hash, 32, 32);
  assert.equal(px.length, 32 * 32 * 4);
  for (let i = 3; i < px.length; i += 4) assert.equal(px[i], 255);
  // The DC component is the mean colour; the decoded image averages close to it.
  const dc = averageColor(hash);
  const mean = [0, 1, 2].map((c) => { let s = 0; for (let i = c; i < px.length; i += 4) s += px[i]; return s / (32 * 32); });
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(mean[c] - dc[c]) < 20, `${mean} vs ${dc}`);
  // A 1×1-component hash is a flat colour.
  const flat = decode("00OZZy", 4, 4);
  assert.equal(flat[0], flat[4 * 15]);
});

test("blurhash: rejects malformed hashes", () => {
  assert.equal(isBlurhash(""), false);
  assert.equal(isBlurhash("LEHV6nWB2yk8pyo0adR*.7kCMdn"), false); // one short
  assert.equal(isBlurhash("LEHV6nWB2yk8pyo0adR*.7kCMd\"j"), false); // bad character
  assert.throws(() => decode("abc", 4, 4));
});

test("counter: code points, URLs as 23, remote mentions without the domain", () => {
  assert.equal(countableLength("hello"), 5);
  assert.equal(countableLength("héllo wörld 👋"), 13);
  assert.equal(countableLength("a\r\nb"), 3);
  assert.equal(countableLength(`see https://example.com/${"x".repeat(80)}`), 4 + 23);
  assert.equal(countableLength("(https://example.com/a)."), 3 + 23);
  assert.equal(countableLength("hi @bob@other.example"), 3 + 4);
  assert.equal(countableLength("hi @bob"), 7);
  assert.equal(countableLength("mail me: someone@example.com"), 28);
  assert.equal(countableLength("xhttps://example.com"), 20, "a URL glued to a word is not linked");
});

test("api: Link header, Retry-After, queries, error text", () => {
  const link = '<http://localhost:8080/api/v1/timelines/home?limit=20&max_id=111>; rel="next", <http://localhost:8080/api/v1/timelines/home?limit=20&min_id=222>; rel="prev"';
  assert.deepEqual(parseLink(link), { next: "/api/v1/timelines/home?limit=20&max_id=111", prev: "/api/v1/timelines/home?limit=20&min_id=222" });
  assert.deepEqual(parseLink(null), {});
  const h = (o) => new Headers(o);
  assert.equal(retryAfterSeconds(h({ "Retry-After": "30" })), 30);
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(retryAfterSeconds(h({ "X-RateLimit-Reset": "2026-01-01T00:02:05.123456Z" }), now), 126);
  assert.equal(retryAfterSeconds(h({})), null);
  assert.equal(encodeQuery({ id: ["1", "2"], limit: 20, empty: "" }), "id%5B%5D=1&id%5B%5D=2&limit=20");
  const err = new ApiError(429, { error: "Too many requests" }, h({ "Retry-After": "75" }));
  assert.equal(describeError(err), "Too many requests (429). Try again in 1 minute 15 seconds.");
  assert.equal(describeError(new ApiError(422, { error: "Validation failed: Text can't be blank" }, h({}))), "Validation failed: Text can't be blank (422)");
  assert.equal(describeError(new ApiError(400, { error: "invalid_grant", error_description: "The code has expired." }, h({}))), "The code has expired. (400)");
  assert.equal(describeError(new TypeError("Failed to fetch")), "Could not reach the server. Check your connection and try again.");
});

test("pkce: S256 challenge (RFC 7636 appendix B) and the fallback SHA-256", async () => {
  assert.equal(await pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  for (const s of ["", "abc", "a".repeat(55), "a".repeat(56), "a".repeat(64), "x".repeat(1000)]) {
    const want = createHash("sha256").update(s).digest();
    assert.deepEqual(Buffer.from(sha256Sync(new TextEncoder().encode(s))), want, `length ${s.length}`);
  }
  assert.equal(base64url(new Uint8Array([251, 255, 191])), "-_-_");
});

test("dom: waits and ids", () => {
  assert.equal(formatWait(1), "1 second");
  assert.equal(formatWait(59.2), "1 minute");
  assert.equal(formatWait(3725), "1 hour 2 minutes");
  assert.equal(compareIds("99", "100"), -1);
  assert.equal(compareIds("113012345678901235", "113012345678901234"), 1);
});
