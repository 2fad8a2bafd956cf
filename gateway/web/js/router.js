// Client-side routing with the History API. Links to app routes (also links
// in post content that point at this instance, such as mentions and
// hashtags) are handled in place; everything else is an ordinary link.

import { session } from './session.js';

const routes = [];
let onRoute = () => {};

/**
 * route registers a path pattern (a RegExp whose groups become params) and
 * the name of the view that shows it.
 */
export function route(pattern, view, opts = {}) {
  routes.push({ pattern, view, auth: !!opts.auth });
}

/** match finds the route of a path: { view, params, auth } or null. */
export function match(pathname) {
  for (const r of routes) {
    const m = r.pattern.exec(pathname);
    if (m) return { view: r.view, params: m.slice(1).map((p) => (p == null ? p : decodeURIComponent(p))), auth: r.auth };
  }
  return null;
}

/** start handles the current URL and every later navigation with handler. */
export function start(handler) {
  onRoute = handler;
  if ('scrollRestoration' in history) history.scrollRestoration = 'manual';
  window.addEventListener('popstate', (e) => render({ pop: true, scroll: e.state && e.state.scroll }));
  document.addEventListener('click', intercept);
  render({ initial: true });
}

function intercept(e) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest && e.target.closest('a[href]');
  if (!a || (a.target && a.target !== '_self') || a.hasAttribute('download')) return;
  let url;
  try { url = new URL(a.href, location.href); } catch { return; }
  if (url.origin !== location.origin && url.origin !== session.baseOrigin) return;
  if (!match(url.pathname)) return;
  e.preventDefault();
  navigate(url.pathname + url.search + url.hash);
}

/** navigate shows path, adding a history entry unless replace is set. */
export function navigate(path, { replace = false } = {}) {
  const here = location.pathname + location.search;
  const depth = (history.state && history.state.depth) || 0;
  // Remember where the page was scrolled, for the back button.
  history.replaceState({ ...(history.state || {}), depth, scroll: window.scrollY }, '');
  if (replace) history.replaceState({ depth, scroll: 0 }, '', path);
  else if (path !== here) history.pushState({ depth: depth + 1, scroll: 0 }, '', path);
  render({ replace, same: path === here });
}

function render(info) {
  const m = match(location.pathname);
  onRoute(m, new URLSearchParams(location.search), info);
}

/** back goes back in history, or to fallback when this page was the first. */
export function back(fallback = '/home') {
  if (history.state && history.state.depth > 0) history.back();
  else navigate(fallback);
}
