// Editing one's own display name and bio (PATCH update_credentials).

import { h, nextId } from '../dom.js';
import { request, describeError } from '../api.js';
import { session } from '../session.js';
import { modal, toast } from '../dialogs.js';

export function editProfile(account, onSaved) {
  const nameId = nextId('name');
  const noteId = nextId('note');
  const source = (session.me && session.me.source) || {};
  const name = h('input', { id: nameId, type: 'text', maxlength: '30', autocomplete: 'nickname' });
  name.value = account.display_name || '';
  const note = h('textarea', { id: noteId, rows: '4', maxlength: '500' });
  note.value = source.note || '';
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const save = h('button', { type: 'submit', class: 'button primary', text: 'Save' });
  const cancel = h('button', { type: 'button', class: 'button secondary', text: 'Cancel' });
  const form = h('form', { class: 'dialog-body edit-profile' },
    h('div', { class: 'field' }, h('label', { for: nameId, text: 'Display name' }), name),
    h('div', { class: 'field' }, h('label', { for: noteId, text: 'Bio' }), note),
    error,
    h('div', { class: 'dialog-buttons' }, cancel, save));
  const dlg = modal({ title: 'Edit profile', body: form });
  cancel.addEventListener('click', () => dlg.close('cancel'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    save.disabled = true;
    error.hidden = true;
    try {
      const { data } = await request('PATCH', '/api/v1/accounts/update_credentials', { json: { display_name: name.value, note: note.value } });
      session.me = data;
      dlg.close('ok');
      toast('Profile saved.');
      onSaved(data);
    } catch (err) {
      error.textContent = describeError(err);
      error.hidden = false;
    } finally {
      save.disabled = false;
    }
  });
  name.focus();
}
