// The public timeline and hashtag timelines, live over the public and
// hashtag streams when signed in.

import { h } from '../dom.js';
import { Feed } from '../timeline.js';
import { renderStatus } from '../status.js';
import { columnHeader } from './common.js';
import { on } from '../bus.js';
import { session } from '../session.js';

function timelineView({ title, iconName, path, label, empty, live }) {
  const header = columnHeader(title, { live: session.signedIn, icon: iconName });
  const feed = new Feed({ path, query: { limit: 20 }, label, render: (s) => renderStatus(s), empty, live: session.signedIn ? live : null });
  const offDeleted = on('status-deleted', ({ id }) => feed.removePending(id));
  feed.start();
  return {
    el: h('div', { class: 'view view-timeline' }, header, feed.el),
    title,
    feed,
    destroy() {
      offDeleted();
      header.cleanup();
      feed.destroy();
    },
  };
}

/** publicView is everyone's public posts on this server. */
export function publicView() {
  return timelineView({
    title: 'Public', iconName: 'globe', path: '/api/v1/timelines/public', label: 'Public timeline',
    empty: 'Nobody has posted anything public yet.', live: { event: 'update', stream: 'public' },
  });
}

/** tagView is the public posts with a hashtag. */
export function tagView(tag) {
  const name = tag.replace(/^#/, '');
  return timelineView({
    title: `#${name}`, iconName: null, path: `/api/v1/timelines/tag/${encodeURIComponent(name)}`, label: `Posts tagged #${name}`,
    empty: `No posts with #${name} yet.`, live: { event: 'update', stream: 'hashtag', tag: name },
  });
}
