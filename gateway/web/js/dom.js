// DOM helpers. Every user-supplied string goes into the page as text
// (textContent, attribute values); the one exception is a status's or
// profile's server-rendered HTML, which goes through contentFragment.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * h creates an element. attrs: class, text, dataset, on<Event> handlers,
 * boolean properties (true/false) and string attributes; null, undefined and
 * false are skipped (write aria states as the strings 'true'/'false').
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
  }
  appendAll(el, children);
  return el;
}

/** appendAll appends nodes and strings (as text), skipping null/false. */
export function appendAll(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** clear removes every child of el. */
export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** visuallyHidden is text for screen readers only. */
export function srOnly(text) {
  return h('span', { class: 'visually-hidden', text });
}

// Icons: 24×24 stroked paths, decorative (the control carries the name).
const ICONS = {
  home: 'M3 10.5 12 3l9 7.5V20a1 1 0 0 1-1 1h-5v-6H9v6H4a1 1 0 0 1-1-1z',
  bell: 'M18 16v-5a6 6 0 1 0-12 0v5l-2 2h16zM10 21a2 2 0 0 0 4 0',
  globe: 'M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zM3 12h18M12 3c2.4 2.5 3.6 5.5 3.6 9s-1.2 6.5-3.6 9c-2.4-2.5-3.6-5.5-3.6-9s1.2-6.5 3.6-9z',
  user: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4 21c0-4 3.6-6.5 8-6.5s8 2.5 8 6.5',
  reply: 'M10 8V4L3 11l7 7v-4c5 0 8.5 1.5 11 5-1-5.5-4.5-10-11-11z',
  boost: 'M17 2l4 4-4 4M3 12v-2a4 4 0 0 1 4-4h14M7 22l-4-4 4-4M21 12v2a4 4 0 0 1-4 4H3',
  star: 'M12 2.8l2.8 5.8 6.4.9-4.6 4.5 1.1 6.3L12 17.3l-5.7 3 1.1-6.3-4.6-4.5 6.4-.9z',
  trash: 'M3 6h18M8 6V4h8v2M19 6l-1 14a1 1 0 0 1-1 1H7a1 1 0 0 1-1-1L5 6M10 11v6M14 11v6',
  image: 'M4 4h16a1 1 0 0 1 1 1v14a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1zM3 16l5-5 5 5 3-3 5 5M15.5 8.5h.01',
  close: 'M6 6l12 12M18 6 6 18',
  pencil: 'M4 20h4L19.5 8.5a2.1 2.1 0 0 0-3-3L5 17zM14.5 7.5l2 2',
  logout: 'M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4M16 17l5-5-5-5M21 12H9',
  hash: 'M4 9h16M4 15h16M10 3 8 21M16 3l-2 18',
  back: 'M19 12H5M12 19l-7-7 7-7',
  left: 'M15 18l-6-6 6-6',
  right: 'M9 18l6-6-6-6',
  lock: 'M6 11h12v10H6zM8 11V7a4 4 0 0 1 8 0v4',
  mail: 'M3 5h18v14H3zM3 6l9 7 9-7',
  unlock: 'M6 11h12v10H6zM8 11V7a4 4 0 0 1 7.5-2',
  up: 'M12 19V5M5 12l7-7 7 7',
  warning: 'M12 3 2 20h20zM12 10v4M12 17h.01',
  keyboard: 'M3 6h18v12H3zM7 10h.01M11 10h.01M15 10h.01M7 14h10',
  follow: 'M15 12a4 4 0 1 0-6 0M4 21c0-4 3.6-6.5 8-6.5M19 14v6M16 17h6',
  logo: 'M12 2l2.3 7.7L22 12l-7.7 2.3L12 22l-2.3-7.7L2 12l7.7-2.3z',
};

/** icon returns a decorative SVG icon. */
export function icon(name, extraClass) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', extraClass ? `icon ${extraClass}` : 'icon');
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', ICONS[name] || '');
  svg.append(path);
  return svg;
}

function hashString(s) {
  let x = 2166136261;
  for (let i = 0; i < s.length; i++) {
    x ^= s.charCodeAt(i);
    x = Math.imul(x, 16777619);
  }
  return x >>> 0;
}

/** accountHue is the colour (0–359) an account's initial and banner use. */
export function accountHue(account) {
  return hashString(account.username || account.display_name || '?') % 360;
}

/** isDefaultImage tells the server's "missing" placeholder avatar/header. */
export function isDefaultImage(url) {
  return !url || /\/(avatars|headers)\/original\/missing\.png$/.test(url);
}

/**
 * avatar is a decorative picture of an account (its name is always shown
 * beside it): the uploaded image, or an initial on a colour of its own.
 */
export function avatar(account, size = 'md') {
  const cls = `avatar avatar-${size}`;
  if (!isDefaultImage(account.avatar_static || account.avatar)) {
    return h('img', { class: cls, src: account.avatar_static || account.avatar, alt: '', loading: 'lazy', decoding: 'async' });
  }
  const name = (account.display_name || account.username || '?').trim();
  const first = Array.from(name)[0] || '?';
  const el = h('span', { class: `${cls} avatar-initial`, 'aria-hidden': 'true' }, first.toUpperCase());
  el.style.setProperty('--hue', String(accountHue(account)));
  return el;
}

/** displayName is an account's name as text, isolated for bidi. */
export function displayName(account) {
  return h('bdi', { class: 'display-name', text: (account.display_name || '').trim() || account.username });
}

const RTF = typeof Intl !== 'undefined' && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }) : null;

/** relativeTime gives the short and the spoken form of how long ago iso was. */
export function relativeTime(iso, now = Date.now()) {
  const d = new Date(iso);
  const s = Math.max(0, (now - d.getTime()) / 1000);
  const spoken = (v, unit) => (RTF ? RTF.format(-v, unit) : `${v} ${unit}s ago`);
  if (s < 45) return { short: 'now', long: RTF ? RTF.format(0, 'second') : 'just now' };
  if (s < 3600) { const m = Math.max(1, Math.round(s / 60)); return { short: `${m}m`, long: spoken(m, 'minute') }; }
  if (s < 86400) { const v = Math.round(s / 3600); return { short: `${v}h`, long: spoken(v, 'hour') }; }
  if (s < 7 * 86400) { const v = Math.round(s / 86400); return { short: `${v}d`, long: spoken(v, 'day') }; }
  const sameYear = d.getFullYear() === new Date(now).getFullYear();
  const text = d.toLocaleDateString(undefined, { month: 'short', day: 'numeric', year: sameYear ? undefined : 'numeric' });
  return { short: text, long: text };
}

/** fullDate is a date and time for a tooltip or a post's page. */
export function fullDate(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** timeElement renders a <time> that refresh() keeps current. */
export function timeElement(iso) {
  const el = h('time', { datetime: iso, title: fullDate(iso), dataset: { relative: iso } });
  renderTime(el);
  return el;
}

function renderTime(el) {
  const t = relativeTime(el.dataset.relative);
  clear(el);
  el.append(h('span', { 'aria-hidden': 'true', text: t.short }), srOnly(t.long));
}

/** refreshTimes updates every relative time on the page. */
export function refreshTimes(root = document) {
  for (const el of root.querySelectorAll('time[data-relative]')) renderTime(el);
}

// Status and profile HTML is rendered and sanitised by the server. It is
// still parsed into an inert document and copied element by element through
// an allow-list, so nothing but text, paragraphs, line breaks and links can
// ever reach the page.
const ALLOWED = {
  P: [], BR: [], SPAN: ['class', 'translate'], A: ['href', 'class', 'rel', 'target', 'translate'],
  STRONG: [], EM: [], B: [], I: [], U: [], S: [], DEL: [], CODE: [], PRE: [], BLOCKQUOTE: [], UL: [], OL: [], LI: [],
};
const DROP = new Set(['SCRIPT', 'STYLE', 'TEMPLATE', 'IFRAME', 'OBJECT', 'EMBED', 'NOSCRIPT', 'SVG', 'MATH', 'HEAD', 'TITLE', 'META', 'LINK']);
const CLASSES = new Set(['h-card', 'u-url', 'mention', 'hashtag', 'invisible', 'ellipsis']);

/** contentFragment turns server-rendered status HTML into safe nodes. */
export function contentFragment(html) {
  const frag = document.createDocumentFragment();
  if (!html) return frag;
  const doc = new DOMParser().parseFromString(`<!doctype html><body>${html}`, 'text/html');
  copyChildren(doc.body, frag);
  return frag;
}

function copyChildren(src, dst) {
  for (const n of src.childNodes) {
    if (n.nodeType === Node.TEXT_NODE) {
      dst.append(document.createTextNode(n.data));
      continue;
    }
    if (n.nodeType !== Node.ELEMENT_NODE) continue;
    const tag = n.tagName;
    const allowed = ALLOWED[tag];
    if (!allowed) {
      if (!DROP.has(tag)) copyChildren(n, dst);
      continue;
    }
    const el = document.createElement(tag.toLowerCase());
    for (const name of allowed) {
      const v = n.getAttribute(name);
      if (v == null) continue;
      if (name === 'href') {
        let u;
        try { u = new URL(v, location.href); } catch { continue; }
        if (u.protocol !== 'http:' && u.protocol !== 'https:') continue;
        el.setAttribute('href', u.href);
      } else if (name === 'class') {
        const cls = v.split(/\s+/).filter((c) => CLASSES.has(c));
        if (cls.length) el.className = cls.join(' ');
      } else if (name === 'target') {
        if (v === '_blank') el.setAttribute('target', '_blank');
      } else {
        el.setAttribute(name, v);
      }
    }
    if (tag === 'A' && el.getAttribute('target') === '_blank') el.setAttribute('rel', 'nofollow noopener noreferrer');
    copyChildren(n, el);
    dst.append(el);
  }
}

/** plainText is the text of server HTML (for excerpts and labels). */
export function plainText(html) {
  const doc = new DOMParser().parseFromString(`<!doctype html><body>${html || ''}`, 'text/html');
  for (const br of doc.querySelectorAll('br')) br.replaceWith('\n');
  for (const p of doc.querySelectorAll('p')) p.append('\n\n');
  return doc.body.textContent.trim();
}

/** compareIds orders Mastodon IDs (decimal strings) numerically. */
export function compareIds(a, b) {
  if (a === b) return 0;
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : 1;
}

/** plural picks "1 post" / "3 posts". */
export function plural(n, one, many) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

/** formatWait says how long until a retry: "45 seconds", "3 minutes 5 seconds". */
export function formatWait(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return plural(s, 'second', 'seconds');
  const m = Math.floor(s / 60);
  const r = s % 60;
  if (m < 60) return r ? `${plural(m, 'minute', 'minutes')} ${plural(r, 'second', 'seconds')}` : plural(m, 'minute', 'minutes');
  const hr = Math.floor(m / 60);
  const rm = m % 60;
  return rm ? `${plural(hr, 'hour', 'hours')} ${plural(rm, 'minute', 'minutes')}` : plural(hr, 'hour', 'hours');
}

let uid = 0;
/** nextId makes a unique element id. */
export function nextId(prefix = 'el') {
  uid += 1;
  return `${prefix}-${uid}`;
}
