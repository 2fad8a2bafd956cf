// The countable length of a post, as the server counts it (the content
// package's Length): code points, every linked http(s) URL as 23
// characters, and a mention @user@domain as @user.

const URL_RE = /(^|[^A-Za-z0-9@$#])(https?:\/\/[^\s<>\u0000-\u001f]+)/giu;
const MENTION_RE = /(^|[^\p{L}\p{N}\p{M}_/@])@([A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*)@([\p{L}\p{N}_]+(?:[.-][\p{L}\p{N}_]+)+)/gu;

function trimURL(url) {
  let u = url;
  for (;;) {
    const last = u[u.length - 1];
    if (".,;:!?'\"".includes(last)) {
      u = u.slice(0, -1);
    } else if (last === ')' && (u.match(/\(/g) || []).length < (u.match(/\)/g) || []).length) {
      u = u.slice(0, -1);
    } else {
      return u;
    }
  }
}

function codePoints(s) {
  let n = 0;
  for (const _ of s) n++; // eslint-disable-line no-unused-vars
  return n;
}

/** countableLength is how many characters text counts for. */
export function countableLength(text, urlLength = 23) {
  const normalized = text.replace(/\r\n/g, '\n');
  let n = codePoints(normalized);
  const spans = [];
  for (const m of normalized.matchAll(URL_RE)) {
    const url = trimURL(m[2]);
    const start = m.index + m[1].length;
    // The host must start with a letter, a digit or '['.
    if (!/^https?:\/\/[\p{L}\p{N}[]/iu.test(url)) continue;
    spans.push([start, start + url.length]);
    n -= codePoints(url) - urlLength;
  }
  for (const m of normalized.matchAll(MENTION_RE)) {
    const start = m.index + m[1].length;
    if (spans.some(([a, b]) => start >= a && start < b)) continue;
    n -= 1 + codePoints(m[3]);
  }
  return n;
}
