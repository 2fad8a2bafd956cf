// The home timeline: the composer on top, then the posts of the people the
// reader follows. New posts arrive over the user stream and wait in the
// "new posts" bar. The view stays alive while the reader is elsewhere, so
// coming back keeps the place and the waiting posts.

import { h } from '../dom.js';
import { Feed } from '../timeline.js';
import { renderStatus } from '../status.js';
import { Composer } from '../compose.js';
import { columnHeader } from './common.js';
import { on } from '../bus.js';
import { session } from '../session.js';

export function homeView() {
  const header = columnHeader('Home', { live: true, icon: 'home' });
  const composer = new Composer({ label: 'New post' });
  const empty = h('span', {},
    'Your home timeline is empty. Follow people to see their posts here — find them on the ',
    h('a', { href: '/public', text: 'public timeline' }), '.');
  const feed = new Feed({
    path: '/api/v1/timelines/home',
    query: { limit: 20 },
    label: 'Home timeline',
    render: (s) => renderStatus(s),
    empty,
    noun: ['post', 'posts'],
    live: { event: 'update', stream: 'user' },
  });
  const el = h('div', { class: 'view view-home' }, header, h('section', { class: 'compose-card', 'aria-label': 'Compose' }, composer.el), feed.el);
  const offPosted = on('posted', ({ status }) => {
    if (status && session.me && status.account.id === session.me.id) feed.prepend(status);
  });
  const offDeleted = on('status-deleted', ({ id }) => feed.removePending(id));
  feed.start();
  return {
    el,
    title: 'Home',
    persistent: true,
    composer,
    feed,
    destroy() {
      offPosted();
      offDeleted();
      header.cleanup();
      feed.destroy();
    },
  };
}
