// A profile: name, bio, counts, the follow/unfollow button, and tabs for
// the account's posts, the accounts it follows and its followers.

import { h, clear, avatar, displayName, contentFragment, isDefaultImage, accountHue } from '../dom.js';
import { request } from '../api.js';
import { renderStatus } from '../status.js';
import { Feed } from '../timeline.js';
import { columnHeader, accountRow, followButton, errorBox, loading } from './common.js';
import { session } from '../session.js';
import { on, emit } from '../bus.js';
import { editProfile } from './editprofile.js';

const TABS = [
  { key: 'posts', label: 'Posts', count: 'statuses_count' },
  { key: 'following', label: 'Following', count: 'following_count' },
  { key: 'followers', label: 'Followers', count: 'followers_count' },
];

export function profileView(acct, tab = 'posts') {
  const header = columnHeader(`@${acct}`, { backButton: true });
  const body = h('div', { class: 'profile' }, loading());
  const el = h('div', { class: 'view view-profile' }, header, body);
  let feed = null;
  let ownPosts = false; // feed is the reader's own posts
  const offPosted = on('posted', ({ status }) => { if (ownPosts && !status.in_reply_to_id) feed.prepend(status); });

  function renderHeader(account, rel) {
    const me = session.me && session.me.id === account.id;
    const banner = h('div', { class: 'profile-banner' });
    if (!isDefaultImage(account.header_static || account.header)) {
      banner.append(h('img', { src: account.header_static || account.header, alt: '' }));
    } else {
      banner.style.setProperty('--hue', String(accountHue(account)));
    }
    const note = h('div', { class: 'profile-note' });
    note.append(contentFragment(account.note));
    const actions = h('div', { class: 'profile-actions' });
    if (me) {
      const edit = h('button', { type: 'button', class: 'button secondary', text: 'Edit profile' });
      edit.addEventListener('click', () => editProfile(account, (updated) => {
        emit('me', updated);
        load();
      }));
      actions.append(edit);
    } else if (session.signedIn) {
      actions.append(followButton(account, rel));
    }
    const stats = h('nav', { class: 'profile-tabs', 'aria-label': 'Profile sections' },
      TABS.map((t) => {
        const n = account[t.count] || 0;
        const href = t.key === 'posts' ? `/@${account.acct}` : `/@${account.acct}?tab=${t.key}`;
        return h('a', { href, class: 'profile-tab', 'aria-current': t.key === tab ? 'page' : null },
          h('strong', { text: n.toLocaleString() }), ' ', h('span', { text: t.key === 'posts' ? (n === 1 ? 'Post' : 'Posts') : t.label }));
      }));
    return h('section', { class: 'profile-card', 'aria-label': 'Profile' },
      banner,
      h('div', { class: 'profile-head' }, avatar(account, 'xl'), actions),
      h('h2', { class: 'profile-name' }, displayName(account)),
      h('p', { class: 'profile-acct' }, h('span', { class: 'acct', text: `@${account.acct}` }),
        rel && rel.followed_by ? h('span', { class: 'badge-pill', text: 'Follows you' }) : null,
        account.locked ? h('span', { class: 'badge-pill', text: 'Approves followers' }) : null,
        account.bot ? h('span', { class: 'badge-pill', text: 'Bot' }) : null),
      note.textContent.trim() ? note : null,
      h('p', { class: 'profile-joined muted', text: `Joined ${new Date(account.created_at).toLocaleDateString(undefined, { year: 'numeric', month: 'long' })}` }),
      stats);
  }

  async function load() {
    if (feed) { feed.destroy(); feed = null; }
    ownPosts = false;
    clear(body).append(loading());
    try {
      const { data: account } = await request('GET', '/api/v1/accounts/lookup', { query: { acct } });
      let rel = null;
      if (session.signedIn && session.me && session.me.id !== account.id) {
        const { data } = await request('GET', '/api/v1/accounts/relationships', { query: { id: [account.id] } });
        rel = Array.isArray(data) ? data[0] : null;
      }
      const title = (account.display_name || account.username);
      header.querySelector('h1 span').textContent = title;
      emit('title', `${title} (@${account.acct})`);
      clear(body).append(renderHeader(account, rel));
      const current = TABS.find((t) => t.key === tab) || TABS[0];
      if (current.key === 'posts') {
        feed = new Feed({
          path: `/api/v1/accounts/${account.id}/statuses`, query: { limit: 20 }, label: `Posts by @${account.acct}`,
          render: (s) => renderStatus(s), empty: 'No posts yet.',
        });
      } else {
        feed = new Feed({
          path: `/api/v1/accounts/${account.id}/${current.key}`, query: { limit: 40 },
          label: current.key === 'followers' ? `Followers of @${account.acct}` : `Accounts @${account.acct} follows`,
          render: (a) => accountRow(a),
          empty: current.key === 'followers' ? 'No followers yet.' : 'Not following anyone yet.',
          endText: ' ',
        });
      }
      ownPosts = current.key === 'posts' && !!session.me && session.me.id === account.id;
      body.append(feed.el);
      feed.start();
    } catch (err) {
      clear(body).append(errorBox(err, load));
    }
  }
  load();
  return {
    el,
    title: `@${acct}`,
    destroy() {
      if (feed) feed.destroy();
      offPosted();
    },
  };
}
