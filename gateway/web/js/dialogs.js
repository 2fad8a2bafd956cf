// Dialogs and notices: a confirmation dialog, a generic modal built on
// <dialog> (Escape closes it, focus returns to the control that opened
// it), and short-lived toasts announced to screen readers.

import { h, icon, nextId } from './dom.js';

/**
 * modal opens a <dialog> with a title and body and returns it. onClose runs
 * after it closes; focus goes back to what was focused before.
 */
export function modal({ title, body, className = '', onClose, labelledBy }) {
  const opener = document.activeElement;
  const titleId = nextId('dialog-title');
  const closeBtn = h('button', { type: 'button', class: 'icon-button dialog-close', 'aria-label': 'Close' }, icon('close'));
  const dlg = h('dialog', { class: `dialog ${className}`, 'aria-labelledby': labelledBy || titleId },
    title ? h('header', { class: 'dialog-header' }, h('h2', { id: titleId, text: title }), closeBtn) : closeBtn,
    body);
  closeBtn.addEventListener('click', () => dlg.close('cancel'));
  // A click on the backdrop (the dialog element itself) closes it.
  dlg.addEventListener('click', (e) => {
    if (e.target === dlg) {
      const r = dlg.getBoundingClientRect();
      if (e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom) dlg.close('cancel');
    }
  });
  dlg.addEventListener('close', () => {
    dlg.remove();
    if (onClose) onClose(dlg.returnValue);
    if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
  });
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}

/** confirmDialog asks a yes/no question; resolves true on confirm. */
export function confirmDialog({ title, message, confirm = 'OK', danger = false }) {
  return new Promise((resolve) => {
    let ok = false;
    const cancelBtn = h('button', { type: 'button', class: 'button secondary', text: 'Cancel' });
    const okBtn = h('button', { type: 'button', class: danger ? 'button danger' : 'button primary', text: confirm });
    const body = h('div', { class: 'dialog-body' },
      h('p', { text: message }),
      h('div', { class: 'dialog-buttons' }, cancelBtn, okBtn));
    const dlg = modal({ title, body, className: 'confirm', onClose: () => resolve(ok) });
    cancelBtn.addEventListener('click', () => dlg.close('cancel'));
    okBtn.addEventListener('click', () => { ok = true; dlg.close('ok'); });
    okBtn.focus();
  });
}

let toastRegion = null;

/** toast shows a short message; errors are announced assertively. */
export function toast(message, { error = false, timeout = 5000 } = {}) {
  if (!toastRegion) {
    toastRegion = document.getElementById('toasts');
    if (!toastRegion) return;
  }
  const item = h('div', { class: error ? 'toast toast-error' : 'toast', role: error ? 'alert' : null },
    h('span', { text: message }));
  const close = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Dismiss' }, icon('close'));
  close.addEventListener('click', () => item.remove());
  item.append(close);
  toastRegion.append(item);
  setTimeout(() => item.remove(), error ? timeout * 2 : timeout);
}
