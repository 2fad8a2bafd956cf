// Pieces views share: the column header, account rows and the follow
// button.

import { h, icon, avatar, displayName, contentFragment } from '../dom.js';
import { request, describeError } from '../api.js';
import { session } from '../session.js';
import { toast } from '../dialogs.js';
import { back } from '../router.js';
import { emit } from '../bus.js';
import { stream } from '../stream.js';

/**
 * columnHeader is a view's sticky title bar with its h1 (focused after a
 * navigation). backButton adds a Back button; live shows the stream state.
 */
export function columnHeader(title, { backButton = false, live = false, extra = null, icon: iconName = null } = {}) {
  const h1 = h('h1', { tabindex: '-1' }, iconName ? icon(iconName) : null, h('span', { text: title }));
  const parts = [];
  if (backButton) {
    const b = h('button', { type: 'button', class: 'icon-button back-button', 'aria-label': 'Back' }, icon('back'));
    b.addEventListener('click', () => back());
    parts.push(b);
  }
  parts.push(h1);
  const indicator = live ? liveIndicator() : null;
  if (indicator) parts.push(indicator);
  if (extra) parts.push(extra);
  const header = h('header', { class: 'column-header' }, parts);
  header.cleanup = () => { if (indicator) indicator.cleanup(); };
  return header;
}

/** liveIndicator says whether live updates are arriving. */
export function liveIndicator() {
  const label = h('span', { class: 'live-label' });
  const el = h('span', { class: 'live', role: 'status', title: 'Live updates' }, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), label);
  const render = () => {
    const s = stream.state;
    el.dataset.state = s;
    label.textContent = s === 'open' ? 'Live' : s === 'idle' ? '' : 'Reconnecting…';
    el.hidden = s === 'idle';
  };
  render();
  stream.addEventListener('state', render);
  el.cleanup = () => stream.removeEventListener('state', render);
  return el;
}

/** accountRow is a compact profile link for lists. */
export function accountRow(account) {
  const note = h('div', { class: 'account-note' });
  note.append(contentFragment(account.note));
  return h('article', { class: 'account-row', tabindex: '0', 'aria-label': account.display_name || account.username },
    h('a', { class: 'account-link', href: `/@${account.acct}` },
      avatar(account, 'md'),
      h('span', { class: 'account-names' }, displayName(account), h('span', { class: 'acct', text: `@${account.acct}` }))),
    note.textContent.trim() ? note : null);
}

/**
 * followButton follows or unfollows account and shows the relationship:
 * "Follow", "Unfollow", or "Cancel request" for a locked account.
 */
export function followButton(account, relationship) {
  let rel = relationship;
  const btn = h('button', { type: 'button', class: 'button follow-button' });
  const render = () => {
    const following = rel && rel.following;
    const requested = rel && rel.requested;
    btn.textContent = following ? 'Unfollow' : requested ? 'Cancel request' : (rel && rel.followed_by ? 'Follow back' : 'Follow');
    btn.className = `button follow-button ${following || requested ? 'secondary' : 'primary'}`;
    btn.setAttribute('aria-label', `${btn.textContent} @${account.acct}`);
    btn.dataset.following = following ? 'true' : 'false';
  };
  render();
  btn.addEventListener('click', async () => {
    if (!session.signedIn) {
      toast('Sign in to follow people.');
      return;
    }
    const undo = rel && (rel.following || rel.requested);
    btn.disabled = true;
    try {
      const { data } = await request('POST', `/api/v1/accounts/${account.id}/${undo ? 'unfollow' : 'follow'}`);
      rel = data;
      render();
      emit('relationship', { account, relationship: data });
      toast(undo ? `You no longer follow @${account.acct}.` : data.requested ? `Follow request sent to @${account.acct}.` : `You now follow @${account.acct}.`);
    } catch (err) {
      toast(describeError(err), { error: true });
    } finally {
      btn.disabled = false;
    }
  });
  return btn;
}

/** errorBox shows a failure with a Try again button. */
export function errorBox(err, retry) {
  const box = h('div', { class: 'error-box', role: 'alert' }, icon('warning'), h('p', { text: describeError(err) }));
  if (retry) {
    const b = h('button', { type: 'button', class: 'button secondary', text: 'Try again' });
    b.addEventListener('click', retry);
    box.append(b);
  }
  return box;
}

/** loading is a placeholder while a view fetches. */
export function loading(text = 'Loading…') {
  return h('p', { class: 'feed-status loading', role: 'status', text });
}
