// A status as a card: author, time, content warning, content (the server's
// HTML through the allow-list), media, and the actions (reply, boost,
// favourite, delete own). The same status may show in several places; a
// change made in one updates them all.

import { h, icon, avatar, displayName, timeElement, contentFragment, srOnly, nextId, fullDate, plural } from './dom.js';
import { request, describeError } from './api.js';
import { session } from './session.js';
import { mediaGrid } from './media.js';
import { confirmDialog, toast } from './dialogs.js';
import { emit, on } from './bus.js';
import { navigate } from './router.js';

const VISIBILITY = {
  public: { label: 'Public', icon: 'globe' },
  unlisted: { label: 'Unlisted', icon: 'unlock' },
  private: { label: 'Followers only', icon: 'lock' },
  direct: { label: 'Mentioned only', icon: 'mail' },
};

export function visibilityLabel(v) {
  return (VISIBILITY[v] || VISIBILITY.public).label;
}

function isOwn(status) {
  return !!(session.me && status.account && status.account.id === session.me.id);
}

function canBoost(status) {
  return status.visibility === 'public' || status.visibility === 'unlisted' || (status.visibility === 'private' && isOwn(status));
}

/** profilePath is the app path of an account's profile. */
export function profilePath(account) {
  return `/@${account.acct}`;
}

function replyTarget(status) {
  if (!status.in_reply_to_id) return null;
  if (status.in_reply_to_account_id === status.account.id) return { self: true };
  const m = (status.mentions || []).find((x) => x.id === status.in_reply_to_account_id);
  return m ? { acct: m.acct } : { acct: null };
}

function actionButton(cls, iconName, label) {
  const count = h('span', { class: 'count', 'aria-hidden': 'true' });
  const btn = h('button', { type: 'button', class: `action ${cls}`, title: label }, icon(iconName), count);
  return btn;
}

function setAction(btn, label, n, pressed) {
  const count = btn.querySelector('.count');
  count.textContent = n > 0 ? n.toLocaleString() : '';
  btn.setAttribute('aria-label', n > 0 ? `${label} (${n})` : label);
  if (pressed !== undefined) btn.setAttribute('aria-pressed', pressed ? 'true' : 'false');
}

/**
 * renderStatus renders status (a wrapper boost shows the original with a
 * "boosted" line). detailed is the focused post of a thread page.
 */
export function renderStatus(status, { detailed = false } = {}) {
  const actual = status.reblog || status;
  const id = nextId('status');
  const authorId = `${id}-author`;
  const timeId = `${id}-time`;
  const el = h('article', {
    class: detailed ? 'status detailed' : 'status',
    tabindex: '0',
    'aria-labelledby': `${authorId} ${timeId}`,
    dataset: { id: status.id, statusId: actual.id },
  });
  el.statusData = status;

  if (status.reblog) {
    el.append(h('p', { class: 'status-prepend' }, icon('boost'),
      h('a', { href: profilePath(status.account) }, displayName(status.account)), ' boosted'));
  }

  const author = h('a', { class: 'status-author', href: profilePath(actual.account), id: authorId },
    displayName(actual.account), ' ', h('span', { class: 'acct', text: `@${actual.account.acct}` }));
  const vis = VISIBILITY[actual.visibility] && actual.visibility !== 'public'
    ? h('span', { class: 'visibility', title: visibilityLabel(actual.visibility) }, icon(VISIBILITY[actual.visibility].icon), srOnly(visibilityLabel(actual.visibility)))
    : null;
  const time = h('a', { class: 'status-time', href: `/statuses/${actual.id}`, id: timeId }, timeElement(actual.created_at));
  const header = h('header', { class: 'status-header' },
    h('a', { class: 'status-avatar', href: profilePath(actual.account), tabindex: '-1', 'aria-hidden': 'true' }, avatar(actual.account, detailed ? 'lg' : 'md')),
    h('div', { class: 'status-meta' }, author, h('span', { class: 'status-when' }, vis, detailed ? null : time)));
  el.append(header);

  const body = h('div', { class: 'status-body' });
  const rt = replyTarget(actual);
  if (rt && !detailed) {
    body.append(h('p', { class: 'status-reply-to' }, icon('reply'), ' ',
      h('a', { href: `/statuses/${actual.in_reply_to_id}` }, rt.self ? 'Continued thread' : rt.acct ? `Replying to @${rt.acct}` : 'Reply')));
  }

  const content = h('div', { class: 'status-content', lang: actual.language || null });
  content.append(contentFragment(actual.content));
  const media = mediaGrid(actual.media_attachments || [], { sensitive: actual.sensitive && !actual.spoiler_text });
  if (actual.spoiler_text) {
    const hiddenId = nextId('cw');
    const hidden = h('div', { class: 'cw-content', id: hiddenId, hidden: true }, content, media);
    const toggle = h('button', { type: 'button', class: 'button small secondary cw-toggle', 'aria-expanded': 'false', 'aria-controls': hiddenId, text: 'Show more' });
    toggle.addEventListener('click', () => {
      const open = hidden.hidden;
      hidden.hidden = !open;
      toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
      toggle.textContent = open ? 'Show less' : 'Show more';
    });
    body.append(h('div', { class: 'cw' }, h('p', { class: 'cw-text' }, icon('warning'), ' ', h('span', { text: actual.spoiler_text })), toggle), hidden);
  } else {
    body.append(content);
    if (media) body.append(media);
  }

  if (detailed) {
    const info = h('p', { class: 'status-detail-info' },
      h('a', { href: `/statuses/${actual.id}`, id: timeId }, h('time', { datetime: actual.created_at, text: fullDate(actual.created_at) })),
      vis ? [' · ', visibilityLabel(actual.visibility)] : null,
      actual.application && actual.application.name ? [' · via ', h('span', { text: actual.application.name })] : null);
    body.append(info);
    body.append(h('p', { class: 'status-stats' },
      h('span', { class: 'stat-boosts', text: plural(actual.reblogs_count || 0, 'boost', 'boosts') }), ' · ',
      h('span', { class: 'stat-favs', text: plural(actual.favourites_count || 0, 'favourite', 'favourites') })));
  }

  const actions = h('div', { class: 'status-actions', role: 'group', 'aria-label': 'Post actions' });
  const reply = actionButton('reply', 'reply', 'Reply');
  const boost = actionButton('boost', 'boost', 'Boost');
  const fav = actionButton('favourite', 'star', 'Favourite');
  actions.append(reply, boost, fav);
  let del = null;
  if (isOwn(actual)) {
    del = h('button', { type: 'button', class: 'action delete', 'aria-label': 'Delete', title: 'Delete' }, icon('trash'));
    actions.append(del);
  }
  body.append(actions);
  el.append(body);
  refreshActions(el, actual);

  reply.addEventListener('click', () => {
    if (!session.signedIn) return toast('Sign in to reply.');
    emit('compose', { replyTo: actual });
  });
  fav.addEventListener('click', () => toggle(el, 'favourite'));
  boost.addEventListener('click', () => toggle(el, 'boost'));
  if (del) del.addEventListener('click', () => deleteStatus(actual));

  // A click on the card (not on a control or link) opens the thread.
  if (!detailed) {
    el.addEventListener('click', (e) => {
      if (e.target.closest('a, button, input, textarea, select, summary, .media-grid, .cw-content a')) return;
      if (String(window.getSelection()).length > 0) return;
      navigate(`/statuses/${actual.id}`);
    });
  }
  return el;
}

/** refreshActions shows actual's counters and the viewer's flags on el. */
function refreshActions(el, actual) {
  const reply = el.querySelector(':scope > .status-body > .status-actions .reply');
  const boost = el.querySelector(':scope > .status-body > .status-actions .boost');
  const fav = el.querySelector(':scope > .status-body > .status-actions .favourite');
  if (!reply) return;
  setAction(reply, 'Reply', actual.replies_count || 0);
  setAction(boost, actual.reblogged ? 'Undo boost' : 'Boost', actual.reblogs_count || 0, !!actual.reblogged);
  setAction(fav, actual.favourited ? 'Remove favourite' : 'Favourite', actual.favourites_count || 0, !!actual.favourited);
  const boostable = canBoost(actual);
  boost.disabled = !boostable;
  if (!boostable) boost.title = 'This post cannot be boosted';
  const stats = el.querySelector(':scope > .status-body > .status-stats');
  if (stats) {
    stats.querySelector('.stat-boosts').textContent = plural(actual.reblogs_count || 0, 'boost', 'boosts');
    stats.querySelector('.stat-favs').textContent = plural(actual.favourites_count || 0, 'favourite', 'favourites');
  }
}

/** statusElements returns every rendering of the status with id (boosts of it included). */
export function statusElements(id) {
  return document.querySelectorAll(`article.status[data-status-id="${CSS.escape(id)}"]`);
}

/** actualOf returns the status an element shows (the original of a boost). */
function actualOf(el) {
  const s = el.statusData;
  return s.reblog || s;
}

async function toggle(el, kind) {
  if (!session.signedIn) {
    toast(kind === 'favourite' ? 'Sign in to favourite posts.' : 'Sign in to boost posts.');
    return;
  }
  const actual = actualOf(el);
  const on = kind === 'favourite' ? actual.favourited : actual.reblogged;
  const optimistic = { ...actual };
  if (kind === 'favourite') {
    optimistic.favourited = !on;
    optimistic.favourites_count = Math.max(0, (actual.favourites_count || 0) + (on ? -1 : 1));
  } else {
    optimistic.reblogged = !on;
    optimistic.reblogs_count = Math.max(0, (actual.reblogs_count || 0) + (on ? -1 : 1));
  }
  emit('status-changed', { status: optimistic });
  const verb = kind === 'favourite' ? (on ? 'unfavourite' : 'favourite') : (on ? 'unreblog' : 'reblog');
  try {
    const { data } = await request('POST', `/api/v1/statuses/${actual.id}/${verb}`);
    const fresh = data && data.reblog && verb === 'reblog' ? data.reblog : data;
    if (fresh && fresh.id === actual.id) emit('status-changed', { status: fresh });
    if (verb === 'reblog' && data && data.reblog) emit('posted', { status: data, quiet: true });
  } catch (err) {
    emit('status-changed', { status: actual });
    toast(describeError(err), { error: true });
  }
}

async function deleteStatus(actual) {
  const ok = await confirmDialog({ title: 'Delete post?', message: 'This post will be removed for everyone. This cannot be undone.', confirm: 'Delete', danger: true });
  if (!ok) return;
  try {
    await request('DELETE', `/api/v1/statuses/${actual.id}`);
    emit('status-deleted', { id: actual.id });
    toast('Post deleted.');
  } catch (err) {
    toast(describeError(err), { error: true });
  }
}

// Keep every rendering of a status current.
on('status-changed', ({ status }) => {
  for (const el of statusElements(status.id)) {
    const s = el.statusData;
    // Keep the author and content the element has; take counters and flags.
    const actual = s.reblog || s;
    Object.assign(actual, {
      favourited: status.favourited, reblogged: status.reblogged,
      favourites_count: status.favourites_count, reblogs_count: status.reblogs_count, replies_count: status.replies_count,
    });
    refreshActions(el, actual);
  }
});

on('status-deleted', ({ id }) => {
  for (const el of document.querySelectorAll(`article.status[data-status-id="${CSS.escape(id)}"], article.status[data-id="${CSS.escape(id)}"]`)) {
    const item = el.closest('.feed-item') || el;
    if (el.classList.contains('detailed')) {
      el.classList.add('deleted');
      el.querySelector('.status-body').replaceChildren(h('p', { class: 'muted', text: 'This post was deleted.' }));
    } else {
      item.remove();
    }
  }
});

// A reply counts on its parent at once.
on('posted', ({ status }) => {
  if (!status || !status.in_reply_to_id) return;
  for (const el of statusElements(status.in_reply_to_id)) {
    const actual = actualOf(el);
    actual.replies_count = (actual.replies_count || 0) + 1;
    refreshActions(el, actual);
  }
});
