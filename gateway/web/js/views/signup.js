// Creating an account. The account is created through the API with the
// client's app token; then the person signs in on the server's sign-in page
// (authorization code with PKCE) like every other time.

import { h, nextId } from '../dom.js';
import { signUp, beginSignIn } from '../oauth.js';
import { describeError, ApiError } from '../api.js';
import { session } from '../session.js';
import { columnHeader } from './common.js';

const FIELDS = [
  { name: 'username', label: 'Username', type: 'text', autocomplete: 'username', hint: 'Letters, numbers and underscores; up to 30. Your address will be @username.', attrs: { maxlength: '30', pattern: '[A-Za-z0-9_]+', autocapitalize: 'none', spellcheck: 'false' } },
  { name: 'email', label: 'E-mail', type: 'email', autocomplete: 'email', hint: 'You can also sign in with it.', attrs: {} },
  { name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password', hint: 'At least 8 characters.', attrs: { minlength: '8' } },
];

export function signupView() {
  const inputs = {};
  const errors = {};
  const rows = FIELDS.map((f) => {
    const id = nextId(f.name);
    const hintId = `${id}-hint`;
    const errId = `${id}-error`;
    const input = h('input', { id, name: f.name, type: f.type, autocomplete: f.autocomplete, required: true, 'aria-describedby': `${hintId} ${errId}`, ...f.attrs });
    inputs[f.name] = input;
    errors[f.name] = h('p', { id: errId, class: 'field-error', hidden: true });
    return h('div', { class: 'field' }, h('label', { for: id, text: f.label }), input, h('p', { id: hintId, class: 'hint', text: f.hint }), errors[f.name]);
  });
  const agreeId = nextId('agreement');
  const agree = h('input', { id: agreeId, type: 'checkbox', name: 'agreement', required: true, 'aria-describedby': `${agreeId}-error` });
  errors.agreement = h('p', { id: `${agreeId}-error`, class: 'field-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'button primary', text: 'Create account' });
  const formError = h('div', { class: 'form-error', role: 'alert', hidden: true });
  const form = h('form', { class: 'card form signup-form', novalidate: true, 'aria-labelledby': 'signup-title' },
    h('h2', { id: 'signup-title', text: `Join ${session.title}` }),
    rows,
    h('div', { class: 'field checkbox' }, agree, h('label', { for: agreeId, text: 'I agree to the server’s rules and terms of service.' }), errors.agreement),
    formError,
    h('div', { class: 'form-buttons' }, submit),
    h('p', { class: 'muted' }, 'Already have an account? ', h('a', { href: '/', text: 'Sign in' })));

  function showErrors(details) {
    let first = null;
    for (const [field, list] of Object.entries(details || {})) {
      const p = errors[field];
      if (!p || !Array.isArray(list) || !list.length) continue;
      const label = field === 'agreement' ? 'Agreement' : (FIELDS.find((f) => f.name === field) || {}).label || field;
      p.textContent = `${label} ${list.map((e) => e.description).join(', ')}.`;
      p.hidden = false;
      const input = field === 'agreement' ? agree : inputs[field];
      input.setAttribute('aria-invalid', 'true');
      if (!first) first = input;
    }
    return first;
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    for (const p of Object.values(errors)) { p.hidden = true; p.textContent = ''; }
    for (const i of [...Object.values(inputs), agree]) i.removeAttribute('aria-invalid');
    formError.hidden = true;
    submit.disabled = true;
    submit.textContent = 'Creating account…';
    try {
      await signUp({ username: inputs.username.value.trim(), email: inputs.email.value.trim(), password: inputs.password.value, agreement: agree.checked });
      submit.textContent = 'Account created — signing in…';
      await beginSignIn({ returnTo: '/home', loginHint: inputs.username.value.trim() });
    } catch (err) {
      submit.disabled = false;
      submit.textContent = 'Create account';
      const first = err instanceof ApiError ? showErrors(err.details) : null;
      formError.textContent = first ? 'The account was not created: please correct the fields marked above.' : describeError(err);
      formError.hidden = false;
      if (first) first.focus();
    }
  });

  return {
    el: h('div', { class: 'view view-signup' }, columnHeader('Create account', { backButton: true }), form),
    title: 'Create account',
    destroy() {},
  };
}
