// Signed out: what this server is, sign in and sign up, and a look at the
// public timeline.

import { h, icon } from '../dom.js';
import { beginSignIn } from '../oauth.js';
import { describeError } from '../api.js';
import { session } from '../session.js';
import { Feed } from '../timeline.js';
import { renderStatus } from '../status.js';

/** signInButton starts the OAuth sign-in, coming back to returnTo. */
export function signInButton(returnTo, label = 'Sign in', cls = 'button primary') {
  const b = h('button', { type: 'button', class: cls, text: label });
  b.addEventListener('click', async () => {
    b.disabled = true;
    b.textContent = 'Opening sign-in…';
    try {
      await beginSignIn({ returnTo });
    } catch (err) {
      b.disabled = false;
      b.textContent = label;
      const msg = b.parentElement && b.parentElement.querySelector('.form-error');
      if (msg) {
        msg.textContent = describeError(err);
        msg.hidden = false;
      }
    }
  });
  return b;
}

export function welcomeView({ returnTo = '/home', notice = '' } = {}) {
  const description = (session.instance && session.instance.description) || 'A social platform.';
  const feed = new Feed({
    path: '/api/v1/timelines/public', query: { limit: 20 }, label: 'Recent public posts',
    render: (s) => renderStatus(s), empty: 'Nobody has posted anything public yet. Be the first!',
  });
  const hero = h('section', { class: 'hero', 'aria-labelledby': 'welcome-title' },
    h('div', { class: 'hero-mark', 'aria-hidden': 'true' }, icon('logo')),
    h('h1', { id: 'welcome-title', tabindex: '-1', text: `Welcome to ${session.title}` }),
    h('p', { class: 'hero-text', text: description }),
    notice ? h('p', { class: 'notice', role: 'status', text: notice }) : null,
    h('div', { class: 'hero-actions' },
      signInButton(returnTo),
      h('a', { class: 'button secondary', href: '/signup', text: 'Create account' }),
      h('p', { class: 'form-error', role: 'alert', hidden: true })),
    h('p', { class: 'hero-note muted', text: 'You sign in on the server’s own page; this web client never sees your password.' }));
  feed.start();
  return {
    el: h('div', { class: 'view view-welcome' }, hero, h('h2', { class: 'section-title', text: 'Recent public posts' }), feed.el),
    title: 'Welcome',
    destroy() { feed.destroy(); },
  };
}
