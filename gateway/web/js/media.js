// Media attachments: a grid of previews with blurhash placeholders while
// they load, alt text as each image's alt, and a full-size viewer (a modal
// dialog: arrow keys move between images, Escape closes it).

import { h, icon, srOnly } from './dom.js';
import { drawBlurhash } from './blurhash.js';
import { modal } from './dialogs.js';

function aspectOf(m) {
  const meta = m.meta || {};
  const d = meta.small || meta.original;
  if (d && d.width && d.height) return d.width / d.height;
  return 16 / 9;
}

/** placeholder is a canvas painted with the attachment's blurhash. */
export function placeholder(hash) {
  const c = h('canvas', { class: 'blurhash', width: 32, height: 32, 'aria-hidden': 'true' });
  if (hash) {
    try {
      if (!drawBlurhash(c, hash)) c.classList.add('empty');
    } catch {
      c.classList.add('empty');
    }
  } else {
    c.classList.add('empty');
  }
  return c;
}

/**
 * mediaGrid renders a status's attachments. sensitive hides them behind a
 * button until the reader chooses to see them.
 */
export function mediaGrid(attachments, { sensitive = false } = {}) {
  const items = attachments.filter((m) => m.url || m.preview_url);
  if (!items.length) return null;
  const grid = h('div', { class: `media-grid media-${Math.min(items.length, 4)}` });
  items.forEach((m, i) => {
    const desc = (m.description || '').trim();
    const wrap = h('button', { type: 'button', class: 'media-item', 'aria-haspopup': 'dialog', dataset: { index: String(i) } });
    if (items.length === 1) {
      const a = Math.max(0.75, Math.min(aspectOf(m), 2));
      wrap.style.setProperty('aspect-ratio', String(a));
    }
    wrap.append(placeholder(m.blurhash));
    if (m.type === 'video' || m.type === 'gifv' || m.type === 'audio') {
      wrap.append(h('span', { class: 'media-kind', 'aria-hidden': 'true', text: m.type === 'gifv' ? 'GIF' : m.type.toUpperCase() }));
    }
    const img = h('img', { src: m.preview_url || m.url, alt: desc, loading: 'lazy', decoding: 'async', draggable: 'false' });
    img.addEventListener('load', () => wrap.classList.add('loaded'), { once: true });
    img.addEventListener('error', () => wrap.classList.add('failed'), { once: true });
    if (img.complete && img.naturalWidth) wrap.classList.add('loaded');
    wrap.append(img);
    if (!desc) wrap.append(srOnly('Image without a description'));
    if (desc) wrap.append(h('span', { class: 'alt-badge', 'aria-hidden': 'true', title: desc, text: 'ALT' }));
    wrap.append(srOnly(', open full size'));
    wrap.addEventListener('click', () => openViewer(items, i));
    grid.append(wrap);
  });
  if (!sensitive) return grid;
  const cover = h('button', { type: 'button', class: 'media-cover' },
    icon('warning'), h('span', { text: 'Sensitive media — show' }));
  grid.classList.add('hidden-media');
  for (const b of grid.querySelectorAll('.media-item')) b.tabIndex = -1;
  cover.addEventListener('click', () => {
    grid.classList.remove('hidden-media');
    cover.remove();
    for (const b of grid.querySelectorAll('.media-item')) b.removeAttribute('tabindex');
    const first = grid.querySelector('.media-item');
    if (first) first.focus();
  });
  grid.prepend(cover);
  return grid;
}

/** openViewer shows attachments[index] full size in a modal dialog. */
export function openViewer(attachments, index) {
  let i = index;
  const img = h('img', { class: 'viewer-image', alt: '' });
  const canvas = placeholder(null);
  const frame = h('div', { class: 'viewer-frame' }, canvas, img);
  const caption = h('figcaption', { class: 'viewer-caption', 'aria-live': 'polite' });
  const counter = h('p', { class: 'viewer-counter', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', class: 'icon-button viewer-prev', 'aria-label': 'Previous image' }, icon('left'));
  const next = h('button', { type: 'button', class: 'icon-button viewer-next', 'aria-label': 'Next image' }, icon('right'));
  const open = h('a', { class: 'viewer-original', target: '_blank', rel: 'noopener', text: 'Open original' });
  const figure = h('figure', { class: 'viewer' }, frame, caption);
  const body = h('div', { class: 'viewer-body' }, figure,
    h('div', { class: 'viewer-controls' }, attachments.length > 1 ? prev : null, counter, attachments.length > 1 ? next : null, open));

  let canvasRef = canvas;
  function show() {
    const m = attachments[i];
    const desc = (m.description || '').trim();
    frame.classList.remove('loaded');
    const fresh = placeholder(m.blurhash);
    canvasRef.replaceWith(fresh);
    canvasRef = fresh;
    const a = Math.max(0.3, Math.min(aspectOf(m), 4));
    frame.style.setProperty('--ar', String(a));
    img.alt = desc || 'Image without a description';
    img.src = m.url || m.preview_url;
    open.href = m.url || m.preview_url;
    caption.textContent = desc || 'No description was given for this image.';
    counter.textContent = attachments.length > 1 ? `Image ${i + 1} of ${attachments.length}` : '';
    prev.disabled = i === 0;
    next.disabled = i === attachments.length - 1;
  }
  img.addEventListener('load', () => frame.classList.add('loaded'));
  prev.addEventListener('click', () => { if (i > 0) { i -= 1; show(); } });
  next.addEventListener('click', () => { if (i < attachments.length - 1) { i += 1; show(); } });
  const dlg = modal({ title: 'Image', body, className: 'lightbox' });
  dlg.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowLeft' && i > 0) { i -= 1; show(); e.preventDefault(); }
    if (e.key === 'ArrowRight' && i < attachments.length - 1) { i += 1; show(); e.preventDefault(); }
  });
  show();
  return dlg;
}
