// /oauth-callback: the server's sign-in page sends the browser here with a
// code; it is exchanged for a token and the person goes where they were.

import { h } from '../dom.js';
import { completeSignIn } from '../oauth.js';
import { describeError } from '../api.js';
import { signInButton } from './welcome.js';

export function callbackView(params, { done }) {
  const status = h('p', { role: 'status', text: 'Signing you in…' });
  const box = h('section', { class: 'card callback' }, h('h1', { tabindex: '-1', text: 'Signing in' }), status);
  (async () => {
    try {
      const to = await completeSignIn(params);
      await done(to);
    } catch (err) {
      status.remove();
      box.append(h('p', { class: 'form-error', role: 'alert', text: describeError(err) }),
        h('div', { class: 'hero-actions' }, signInButton('/home', 'Sign in again'), h('p', { class: 'form-error', role: 'alert', hidden: true })));
    }
  })();
  return { el: h('div', { class: 'view view-callback' }, box), title: 'Signing in', destroy() {} };
}
