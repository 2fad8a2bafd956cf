// Starling's web client: the shell (navigation, the unread badge, the
// compose dialog, keyboard shortcuts), start-up (instance, the signed-in
// account, the stream) and the routes.

import { h, icon, avatar, displayName, clear, refreshTimes } from './dom.js';
import { request, describeError } from './api.js';
import { session } from './session.js';
import { stream } from './stream.js';
import { route, start as startRouter, navigate } from './router.js';
import { signOut } from './oauth.js';
import { unread } from './unread.js';
import { on, emit } from './bus.js';
import { modal, confirmDialog, toast } from './dialogs.js';
import { Composer } from './compose.js';
import { renderStatus, statusElements } from './status.js';
import { homeView } from './views/home.js';
import { publicView, tagView } from './views/timelines.js';
import { threadView } from './views/thread.js';
import { profileView } from './views/profile.js';
import { notificationsView } from './views/notifications.js';
import { welcomeView } from './views/welcome.js';
import { signupView } from './views/signup.js';
import { callbackView } from './views/callback.js';

route(/^\/$/, 'root');
route(/^\/home$/, 'home', { auth: true });
route(/^\/public$/, 'public');
route(/^\/tags\/([^/]+)$/, 'tag');
route(/^\/statuses\/(\d+)$/, 'status');
route(/^\/@([A-Za-z0-9_]+)(?:@[^/]+)?\/(\d+)$/, 'status-by-url');
route(/^\/@([A-Za-z0-9_]+)(?:@[^/]+)?$/, 'profile');
route(/^\/notifications$/, 'notifications', { auth: true });
route(/^\/signup$/, 'signup');
route(/^\/oauth-callback$/, 'callback');

const main = h('main', { id: 'main', tabindex: '-1' });
const nav = h('nav', { class: 'sidebar', 'aria-label': 'Main' });
const topbar = h('header', { class: 'topbar' });
const aside = h('aside', { class: 'aside', 'aria-label': 'About this server' });
let current = null;
let home = null;
let titleText = 'Starling';
let booted = false;

function setTitle(text) {
  titleText = text;
  const n = unread.count;
  document.title = `${n ? `(${n}${unread.capped ? '+' : ''}) ` : ''}${text} · ${session.title}`;
}
on('title', setTitle);

// --- the shell ---

function navLink(href, key, iconName, label) {
  const a = h('a', { class: 'nav-link', href, dataset: { nav: key } }, icon(iconName), h('span', { class: 'nav-label', text: label }));
  if (key === 'notifications') {
    a.append(h('span', { class: 'badge', hidden: true, 'aria-hidden': 'true' }));
  }
  return h('li', {}, a);
}

function newPostButton(cls, withLabel) {
  const b = h('button', { type: 'button', class: cls, 'aria-label': withLabel ? null : 'New post', title: 'New post (n)' }, icon('pencil'), withLabel ? h('span', { text: 'New post' }) : null);
  b.addEventListener('click', () => openCompose());
  return b;
}

function signOutButton(cls, withLabel) {
  const b = h('button', { type: 'button', class: cls, 'aria-label': withLabel ? null : 'Sign out', title: 'Sign out' }, icon('logout'), withLabel ? h('span', { text: 'Sign out' }) : null);
  b.addEventListener('click', async () => {
    const ok = await confirmDialog({ title: 'Sign out?', message: `You will be signed out of ${session.title} in this browser.`, confirm: 'Sign out' });
    if (!ok) return;
    const err = await signOut();
    if (err) toast(`Signed out here, but the server could not be told: ${describeError(err)}`, { error: true });
  });
  return b;
}

function renderShell() {
  const me = session.me;
  const brand = () => h('a', { class: 'brand', href: me ? '/home' : '/' }, icon('logo', 'brand-mark'), h('span', { text: session.title }));
  clear(nav);
  clear(topbar);
  if (me) {
    nav.append(brand(),
      h('ul', { class: 'nav-list' },
        navLink('/home', 'home', 'home', 'Home'),
        navLink('/notifications', 'notifications', 'bell', 'Notifications'),
        navLink('/public', 'public', 'globe', 'Public'),
        navLink(`/@${me.acct}`, 'profile', 'user', 'Profile')),
      newPostButton('button primary new-post', true),
      h('div', { class: 'me-card' },
        h('a', { class: 'me-link', href: `/@${me.acct}` }, avatar(me, 'sm'),
          h('span', { class: 'me-names' }, displayName(me), h('span', { class: 'acct', text: `@${me.acct}` }))),
        signOutButton('icon-button sign-out', false)));
    topbar.append(brand(), h('div', { class: 'topbar-actions' }, newPostButton('icon-button', false), signOutButton('icon-button', false)));
  } else {
    nav.append(brand(),
      h('ul', { class: 'nav-list' },
        navLink('/', 'welcome', 'home', 'Welcome'),
        navLink('/public', 'public', 'globe', 'Public'),
        navLink('/signup', 'signup', 'user', 'Create account')));
    topbar.append(brand());
  }
  renderBadge();
  renderAside();
  markNav();
}

function renderAside() {
  clear(aside);
  const inst = session.instance || {};
  aside.append(
    h('section', { class: 'card about' },
      h('h2', { text: `About ${session.title}` }),
      h('p', { text: inst.description || '' }),
      h('p', { class: 'muted small', text: inst.version ? `Server version ${inst.version}` : '' })),
    h('section', { class: 'card shortcuts' },
      h('h2', {}, icon('keyboard'), ' Keyboard'),
      shortcutList()));
}

const SHORTCUTS = [
  ['j / k', 'Next / previous post'],
  ['Enter', 'Open the focused post'],
  ['r', 'Reply'], ['f', 'Favourite'], ['b', 'Boost'],
  ['n', 'New post'], ['.', 'Show new posts'],
  ['?', 'All shortcuts'], ['Esc', 'Close a dialog'],
];

function shortcutList() {
  return h('dl', { class: 'shortcut-list' }, SHORTCUTS.map(([k, d]) => [h('dt', {}, h('kbd', { text: k })), h('dd', { text: d })]));
}

function renderBadge() {
  const link = nav.querySelector('[data-nav="notifications"]');
  if (!link) return;
  const n = unread.count;
  const badge = link.querySelector('.badge');
  const text = n ? `${n}${unread.capped ? '+' : ''}` : '';
  badge.textContent = text;
  badge.hidden = !n;
  if (n) link.setAttribute('aria-label', `Notifications, ${text} unread`);
  else link.removeAttribute('aria-label');
  setTitle(titleText);
}
unread.addEventListener('change', renderBadge);

function markNav() {
  const path = location.pathname;
  const me = session.me;
  for (const a of nav.querySelectorAll('.nav-link')) {
    const key = a.dataset.nav;
    const active = (key === 'home' && path === '/home') || (key === 'notifications' && path === '/notifications') ||
      (key === 'public' && path === '/public') || (key === 'welcome' && path === '/') || (key === 'signup' && path === '/signup') ||
      (key === 'profile' && me && path.toLowerCase() === `/@${me.acct}`.toLowerCase());
    if (active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// --- views ---

function show(view, info = {}) {
  if (current && current !== view) {
    if (current.persistent) {
      current.scroll = window.scrollY;
      current.el.remove();
    } else {
      current.destroy();
    }
  }
  const restoring = current !== view && view.persistent && view.scroll != null;
  current = view;
  main.replaceChildren(view.el);
  document.documentElement.dataset.view = view.title;
  setTitle(view.title);
  markNav();
  if (restoring) window.scrollTo(0, view.scroll);
  else if (info.pop && info.scroll) requestAnimationFrame(() => window.scrollTo(0, info.scroll));
  else window.scrollTo(0, 0);
  if (!info.initial) {
    const target = view.el.querySelector('h1[tabindex="-1"]') || main;
    target.focus({ preventScroll: true });
  }
}

function homeInstance() {
  if (!home) home = homeView();
  return home;
}

function onRoute(m, params, info) {
  if (!m) {
    show(notFound(), info);
    return;
  }
  const signedIn = !!session.me;
  if (m.view === 'root') {
    if (signedIn) navigate('/home', { replace: true });
    else show(welcomeView(), info);
    return;
  }
  if (m.auth && !signedIn) {
    show(welcomeView({ returnTo: location.pathname + location.search, notice: 'Sign in to see this page.' }), info);
    return;
  }
  switch (m.view) {
    case 'home': show(homeInstance(), info); break;
    case 'public': show(publicView(), info); break;
    case 'tag': show(tagView(m.params[0]), info); break;
    case 'status':
    case 'status-by-url': show(threadView(m.params[m.params.length - 1]), info); break;
    case 'profile': show(profileView(m.params[0], params.get('tab') || 'posts'), info); break;
    case 'notifications': show(notificationsView(), info); break;
    case 'signup':
      if (signedIn) navigate('/home', { replace: true });
      else show(signupView(), info);
      break;
    case 'callback':
      show(callbackView(params, { done: async (to) => { await signedInNow(); navigate(to, { replace: true }); } }), info);
      break;
    default: show(notFound(), info);
  }
}

function notFound() {
  return {
    el: h('div', { class: 'view card not-found' }, h('h1', { tabindex: '-1', text: 'Page not found' }),
      h('p', {}, 'There is nothing here. ', h('a', { href: '/', text: 'Go to the start page' }), '.')),
    title: 'Not found',
    destroy() {},
  };
}

// --- composing ---

let composeDialog = null;

/** openCompose opens a composer: the home one for a new post, or a dialog. */
function openCompose({ replyTo = null } = {}) {
  if (!session.me) return;
  // A composer on the page already (home, or a post's reply box) is used.
  const inline = !replyTo && current === home ? home.composer
    : replyTo && current && current.replyComposer && current.replyComposer.replyTo.id === replyTo.id ? current.replyComposer : null;
  if (inline) {
    inline.el.scrollIntoView({ block: 'center' });
    inline.focus();
    return;
  }
  if (composeDialog) composeDialog.close();
  let composer = null;
  const body = h('div', { class: 'dialog-body' });
  if (replyTo) body.append(h('div', { class: 'reply-context' }, renderStatus(replyTo)));
  composer = new Composer({
    replyTo,
    label: replyTo ? `Reply to @${replyTo.account.acct}` : 'New post',
    onPosted: () => { if (composeDialog) composeDialog.close('posted'); toast(replyTo ? 'Reply posted.' : 'Posted.'); },
    onCancel: () => composeDialog && composeDialog.close('cancel'),
  });
  body.append(composer.el);
  const ctx = body.querySelector('.reply-context article');
  if (ctx) {
    ctx.removeAttribute('tabindex');
    ctx.classList.add('embedded');
    const actions = ctx.querySelector('.status-actions');
    if (actions) actions.remove();
  }
  composeDialog = modal({ title: replyTo ? 'Reply' : 'New post', body, className: 'compose-dialog', onClose: () => { composeDialog = null; } });
  composeDialog.addEventListener('cancel', async (e) => {
    if (!composer.dirty()) return;
    e.preventDefault();
    const discard = await confirmDialog({ title: 'Discard this draft?', message: 'What you wrote will be lost.', confirm: 'Discard', danger: true });
    if (discard && composeDialog) composeDialog.close('cancel');
  });
  composer.focus();
}
on('compose', ({ replyTo }) => openCompose({ replyTo }));

// --- keyboard ---

function items() {
  return Array.from(main.querySelectorAll('article.status:not(.embedded), article.notification, article.account-row'))
    .filter((el) => el.offsetParent !== null);
}

function moveFocus(dir) {
  const list = items();
  if (!list.length) return;
  const at = document.activeElement && document.activeElement.closest && document.activeElement.closest('article');
  let i = list.indexOf(at);
  i = i < 0 ? (dir > 0 ? 0 : list.length - 1) : Math.max(0, Math.min(list.length - 1, i + dir));
  list[i].focus({ preventScroll: true });
  list[i].scrollIntoView({ block: 'nearest' });
}

function showShortcuts() {
  modal({ title: 'Keyboard shortcuts', body: h('div', { class: 'dialog-body' }, shortcutList()), className: 'shortcuts-dialog' });
}

document.addEventListener('keydown', (e) => {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t.closest && t.closest('input, textarea, select, [contenteditable="true"]')) {
    if (e.key === 'Escape' && t.matches('textarea, input') && !t.closest('dialog')) t.blur();
    return;
  }
  if (document.querySelector('dialog[open]')) return;
  const article = t.closest && t.closest('article.status, article.notification');
  // The focused post, or the post a focused notification is about.
  const s = article && (article.matches('article.status') ? article : article.querySelector('article.status'));
  const click = (sel) => {
    const b = s && s.querySelector(`:scope > .status-body > .status-actions ${sel}`);
    if (b && !b.disabled) { b.click(); return true; }
    return false;
  };
  let handled = true;
  switch (e.key) {
    case 'j': moveFocus(1); break;
    case 'k': moveFocus(-1); break;
    case 'n': openCompose(); break;
    case '?': showShortcuts(); break;
    case '.': {
      const b = main.querySelector('.new-items:not([hidden])');
      if (b) b.click(); else handled = false;
      break;
    }
    case 'r': handled = click('.reply'); break;
    case 'f': handled = click('.favourite'); break;
    case 'b': handled = click('.boost'); break;
    case 'Enter':
      if (article && t === article) {
        if (s && !s.classList.contains('detailed')) navigate(`/statuses/${s.dataset.statusId}`);
        else handled = false;
      } else handled = false;
      break;
    default: handled = false;
  }
  if (handled) e.preventDefault();
});

// --- live events that concern every view ---

stream.addEventListener('delete', (e) => {
  if (typeof e.detail.payload === 'string') emit('status-deleted', { id: e.detail.payload });
});

stream.addEventListener('status.update', (e) => {
  const st = e.detail.payload;
  if (!st || !st.id) return;
  for (const el of statusElements(st.id)) {
    const old = el.statusData;
    const next = old.reblog ? { ...old, reblog: st } : st;
    const fresh = renderStatus(next, { detailed: el.classList.contains('detailed') });
    fresh.className = el.className;
    el.replaceWith(fresh);
  }
});

on('me', (me) => {
  session.me = { ...session.me, ...me };
  renderShell();
});

// --- signing in and out ---

async function loadMe() {
  const { data } = await request('GET', '/api/v1/accounts/verify_credentials');
  session.me = data;
}

function startLive() {
  const base = session.streamingURL;
  if (base && session.token) {
    stream.start(base, session.token);
    stream.subscribe('user');
  }
  unread.start();
}

/** signedInNow runs after the OAuth callback kept a token. */
async function signedInNow() {
  await loadMe();
  renderShell();
  startLive();
}

session.addEventListener('change', (e) => {
  if (session.token || !booted) return;
  // Signed out (here, in another tab, or the token was refused).
  stream.stop();
  unread.stop();
  if (home) {
    home.destroy();
    home = null;
  }
  if (current && current.persistent) current = null;
  renderShell();
  const reason = e.detail && e.detail.reason;
  show(welcomeView({ notice: reason || 'You are signed out.' }));
  history.replaceState({ depth: 0, scroll: 0 }, '', '/');
});

// --- start ---

async function boot() {
  const root = document.getElementById('app');
  const skip = h('a', { class: 'skip-link', href: '#main', text: 'Skip to content' });
  skip.addEventListener('click', (e) => { e.preventDefault(); main.focus(); });
  const shell = h('div', { class: 'layout' }, topbar, nav, main, aside);
  try {
    const [inst] = await Promise.all([
      request('GET', '/api/v2/instance', { token: null }).then((r) => r.data),
      session.token ? loadMe().catch((err) => { if (!err || err.status !== 401) throw err; }) : null,
    ]);
    session.instance = inst;
  } catch (err) {
    root.replaceChildren(h('div', { class: 'boot-error card', role: 'alert' },
      h('h1', { text: 'Cannot reach the server' }), h('p', { text: describeError(err) }),
      h('button', { type: 'button', class: 'button primary', text: 'Try again', onclick: () => location.reload() })));
    return;
  }
  root.replaceChildren(skip, shell);
  booted = true;
  renderShell();
  if (session.me) startLive();
  startRouter(onRoute);
  document.documentElement.dataset.ready = 'true';
  setInterval(() => refreshTimes(main), 30000);
}

boot();
