// Notifications: mentions, favourites, boosts and follows, newest first.
// Opening the list moves the server's read marker to the newest one and
// clears the badge; live ones join the top of the list while it is open.

import { h, icon, avatar, displayName, timeElement, compareIds } from '../dom.js';
import { request, describeError } from '../api.js';
import { Feed } from '../timeline.js';
import { renderStatus } from '../status.js';
import { columnHeader } from './common.js';
import { unread } from '../unread.js';
import { confirmDialog, toast } from '../dialogs.js';
import { stream, matches } from '../stream.js';

const KINDS = {
  mention: { icon: 'reply', text: 'mentioned you' },
  status: { icon: 'bell', text: 'posted' },
  reblog: { icon: 'boost', text: 'boosted your post' },
  favourite: { icon: 'star', text: 'favourited your post' },
  follow: { icon: 'follow', text: 'followed you' },
  follow_request: { icon: 'follow', text: 'asked to follow you' },
  update: { icon: 'pencil', text: 'edited a post' },
  poll: { icon: 'bell', text: 'ran a poll that has ended' },
};

function renderNotification(n, lastReadId) {
  const kind = KINDS[n.type] || { icon: 'bell', text: n.type };
  const who = n.account;
  const isUnread = lastReadId == null || compareIds(n.id, lastReadId) > 0;
  const line = h('p', { class: 'notification-line' },
    icon(kind.icon, `kind-${n.type}`),
    h('span', { class: 'notification-what' },
      h('a', { class: 'notification-actor', href: `/@${who.acct}` }, avatar(who, 'sm'), displayName(who)),
      ` ${kind.text}`),
    h('span', { class: 'notification-when' },
      timeElement(n.created_at),
      isUnread ? h('span', { class: 'unread-dot', title: 'New' }, h('span', { class: 'visually-hidden', text: '(new)' })) : null));
  const label = `${who.display_name || who.username} ${kind.text}`;
  const el = h('article', { class: `notification type-${n.type}${isUnread ? ' unread' : ''}`, tabindex: '0', 'aria-label': label, dataset: { id: n.id } }, line);
  if (n.status) {
    const s = renderStatus(n.status);
    s.classList.add('embedded');
    s.removeAttribute('tabindex');
    el.append(s);
  }
  if (n.type === 'follow_request') {
    const accept = h('button', { type: 'button', class: 'button primary small', text: 'Accept' });
    const reject = h('button', { type: 'button', class: 'button secondary small', text: 'Reject' });
    const decide = async (ok) => {
      accept.disabled = true;
      reject.disabled = true;
      try {
        await request('POST', `/api/v1/follow_requests/${who.id}/${ok ? 'authorize' : 'reject'}`);
        el.querySelector('.request-buttons').replaceChildren(h('span', { class: 'muted', text: ok ? 'Accepted' : 'Rejected' }));
      } catch (err) {
        toast(describeError(err), { error: true });
        accept.disabled = false;
        reject.disabled = false;
      }
    };
    accept.addEventListener('click', () => decide(true));
    reject.addEventListener('click', () => decide(false));
    el.append(h('div', { class: 'request-buttons' }, accept, reject));
  }
  return el;
}

export function notificationsView() {
  const clearBtn = h('button', { type: 'button', class: 'button small secondary', text: 'Clear all' });
  const header = columnHeader('Notifications', { live: true, icon: 'bell', extra: clearBtn });
  const lastReadId = unread.lastReadId;
  const feed = new Feed({
    path: '/api/v1/notifications',
    query: { limit: 30 },
    label: 'Notifications',
    render: (n) => renderNotification(n, lastReadId),
    empty: 'No notifications yet. When someone mentions, follows, boosts or favourites you, it shows here.',
    noun: ['notification', 'notifications'],
    live: { event: 'notification', stream: 'user' },
    onLoad: (f) => unread.markRead(f.firstKey()),
    onShowPending: (f) => unread.markRead(f.firstKey()),
  });
  unread.viewing = true;
  // While the list is on screen, a new notification is read at once if the
  // reader is at the top; otherwise it waits in the bar.
  const onLive = (e) => {
    if (!matches(e.detail.stream, 'user')) return;
    if (window.scrollY < 80 && document.visibilityState === 'visible') {
      queueMicrotask(() => feed.showPendingQuiet());
    }
  };
  feed.showPendingQuiet = () => {
    if (!feed.pending.length) return;
    const items = feed.pending;
    feed.pending = [];
    for (const n of items) feed.prepend(n);
    feed.updatePending();
    unread.markRead(feed.firstKey());
  };
  stream.addEventListener('notification', onLive);
  clearBtn.addEventListener('click', async () => {
    const ok = await confirmDialog({ title: 'Clear notifications?', message: 'All your notifications will be removed.', confirm: 'Clear all', danger: true });
    if (!ok) return;
    try {
      await request('POST', '/api/v1/notifications/clear');
      feed.list.replaceChildren();
      feed.ids.clear();
      feed.showEmpty();
      toast('Notifications cleared.');
    } catch (err) {
      toast(describeError(err), { error: true });
    }
  });
  feed.start();
  return {
    el: h('div', { class: 'view view-notifications' }, header, feed.el),
    title: 'Notifications',
    destroy() {
      unread.viewing = false;
      stream.removeEventListener('notification', onLive);
      header.cleanup();
      feed.destroy();
    },
  };
}
