// A post's page: the posts it replies to, the post itself in full, a reply
// box, and the replies (GET /api/v1/statuses/:id/context). Replies the
// reader's streams bring, and the reader's own, join the thread as they
// come.

import { h, clear, plainText } from '../dom.js';
import { request } from '../api.js';
import { renderStatus } from '../status.js';
import { Composer } from '../compose.js';
import { columnHeader, errorBox, loading } from './common.js';
import { session } from '../session.js';
import { on, emit } from '../bus.js';
import { stream } from '../stream.js';

export function threadView(id) {
  const header = columnHeader('Post', { backButton: true });
  const body = h('div', { class: 'thread' }, loading());
  const el = h('div', { class: 'view view-thread' }, header, body);
  const ids = new Set();
  let descendants = null;
  let offs = [];

  function addReply(status) {
    if (!descendants || ids.has(status.id) || !status.in_reply_to_id || !ids.has(status.in_reply_to_id)) return;
    ids.add(status.id);
    const item = renderStatus(status);
    item.classList.add('thread-reply');
    // After its parent's subtree: after the parent and any of its replies.
    const parent = descendants.querySelector(`article.status[data-status-id="${CSS.escape(status.in_reply_to_id)}"]`);
    if (parent) {
      let after = parent;
      while (after.nextElementSibling && after.nextElementSibling.dataset.depthOf === status.in_reply_to_id) after = after.nextElementSibling;
      item.dataset.depthOf = status.in_reply_to_id;
      after.after(item);
    } else {
      descendants.append(item);
    }
  }

  async function load() {
    clear(body).append(loading());
    try {
      const [st, ctx] = await Promise.all([
        request('GET', `/api/v1/statuses/${encodeURIComponent(id)}`),
        request('GET', `/api/v1/statuses/${encodeURIComponent(id)}/context`),
      ]);
      const status = st.data;
      const { ancestors = [], descendants: desc = [] } = ctx.data || {};
      clear(body);
      for (const s of [...ancestors, status, ...desc]) ids.add(s.id);
      if (ancestors.length) {
        body.append(h('div', { class: 'thread-ancestors', role: 'feed', 'aria-label': 'Earlier in the thread' },
          ancestors.map((s) => { const a = renderStatus(s); a.classList.add('thread-ancestor'); return a; })));
      }
      const excerpt = (status.spoiler_text || plainText(status.content)).replace(/\s+/g, ' ').slice(0, 60);
      emit('title', `${status.account.display_name || status.account.username}: “${excerpt}”`);
      const main = renderStatus(status, { detailed: true });
      body.append(main);
      if (session.signedIn) {
        const composer = new Composer({ replyTo: status, label: `Reply to @${status.account.acct}` });
        body.append(h('section', { class: 'compose-card reply-card', 'aria-label': 'Your reply' }, composer.el));
        view.replyComposer = composer;
      }
      descendants = h('div', { class: 'thread-replies', role: 'feed', 'aria-label': 'Replies' });
      for (const s of desc) {
        const r = renderStatus(s);
        r.classList.add('thread-reply');
        if (s.in_reply_to_id !== status.id) r.classList.add('nested');
        descendants.append(r);
      }
      body.append(h('h2', { class: 'section-title', text: desc.length ? 'Replies' : 'No replies yet' }), descendants);
      // With earlier posts above it, bring the post itself into view.
      if (ancestors.length) main.scrollIntoView({ block: 'start' });
    } catch (err) {
      clear(body).append(errorBox(err, load));
    }
  }

  offs.push(on('posted', ({ status }) => addReply(status)));
  const onUpdate = (e) => { if (e.detail.payload && e.detail.payload.in_reply_to_id) addReply(e.detail.payload); };
  stream.addEventListener('update', onUpdate);
  offs.push(() => stream.removeEventListener('update', onUpdate));
  const view = {
    el,
    title: 'Post',
    replyComposer: null,
    destroy() {
      for (const off of offs) off();
      offs = [];
    },
  };
  load();
  return view;
}
