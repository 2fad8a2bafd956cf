// The composer: text with a live count against the instance's limit, a
// content warning, visibility, replies, and images with alt text and a
// preview. Images upload as soon as they are chosen (POST /api/v2/media,
// then GET /api/v1/media/:id while it answers 206); alt text typed later
// is saved with PUT before posting. When the server refuses, its message is
// shown as it is, with the wait for a 429.

import { h, icon, nextId, srOnly, formatWait, plural } from './dom.js';
import { request, describeError, ApiError } from './api.js';
import { session } from './session.js';
import { countableLength } from './counter.js';
import { randomString } from './oauth.js';
import { emit } from './bus.js';
import { visibilityLabel } from './status.js';

const VISIBILITIES = ['public', 'unlisted', 'private', 'direct'];
const RANK = { public: 0, unlisted: 1, private: 2, direct: 3 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function mentionsFor(status) {
  const me = session.me && session.me.acct;
  const out = [];
  const add = (acct) => { if (acct && acct !== me && !out.includes(acct)) out.push(acct); };
  add(status.account.acct);
  for (const m of status.mentions || []) add(m.acct);
  return out.map((a) => `@${a} `).join('');
}

function bytes(n) {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(n >= 10 << 20 ? 0 : 1)} MB`;
  return `${Math.ceil(n / 1024)} KB`;
}

export class Composer {
  /**
   * opts: replyTo (a Status), onPosted(status), onCancel (shows a Cancel
   * button), autofocus, label (the form's accessible name).
   */
  constructor(opts = {}) {
    this.opts = opts;
    this.replyTo = opts.replyTo || null;
    this.attachments = [];
    this.draftKey = randomString(16);
    this.busy = false;
    this.retryTimer = null;
    const id = nextId('compose');

    this.textarea = h('textarea', {
      id: `${id}-text`, class: 'compose-text', rows: '3',
      placeholder: this.replyTo ? 'Write your reply…' : 'What’s on your mind?',
      'aria-describedby': `${id}-count`,
    });
    this.spoiler = h('input', { id: `${id}-cw`, type: 'text', class: 'compose-cw', placeholder: 'Write your warning here', autocomplete: 'off' });
    this.cwField = h('div', { class: 'field cw-field', hidden: true },
      h('label', { for: `${id}-cw`, text: 'Content warning' }), this.spoiler);
    this.cwBtn = h('button', { type: 'button', class: 'tool', 'aria-pressed': 'false', 'aria-controls': `${id}-cwfield`, title: 'Content warning' },
      h('span', { class: 'tool-text', 'aria-hidden': 'true', text: 'CW' }), srOnly('Content warning'));
    this.cwField.id = `${id}-cwfield`;
    this.file = h('input', { id: `${id}-file`, type: 'file', class: 'file-input', accept: this.acceptTypes(), multiple: true });
    this.fileLabel = h('label', { class: 'tool', for: `${id}-file`, title: 'Add images' }, icon('image'), srOnly('Add images'));
    this.visibility = h('select', { id: `${id}-vis`, class: 'compose-visibility' },
      VISIBILITIES.map((v) => h('option', { value: v, text: visibilityLabel(v) })));
    this.count = h('span', { id: `${id}-count`, class: 'compose-count' });
    this.submit = h('button', { type: 'submit', class: 'button primary compose-submit', text: this.replyTo ? 'Reply' : 'Post' });
    this.list = h('ul', { class: 'compose-media', 'aria-label': 'Attached images' });
    this.error = h('div', { class: 'form-error', role: 'alert', hidden: true });
    this.replyLine = this.replyTo
      ? h('p', { class: 'compose-reply-to' }, icon('reply'), ' Replying to ', h('bdi', { text: `@${this.replyTo.account.acct}` }))
      : null;

    const cancel = opts.onCancel ? h('button', { type: 'button', class: 'button secondary', text: 'Cancel' }) : null;
    if (cancel) cancel.addEventListener('click', () => opts.onCancel());

    this.el = h('form', { class: 'composer', 'aria-label': opts.label || (this.replyTo ? 'Reply' : 'New post'), novalidate: true },
      this.replyLine,
      this.cwField,
      h('label', { class: 'visually-hidden', for: `${id}-text`, text: this.replyTo ? 'Reply text' : 'Post text' }),
      this.textarea,
      this.list,
      h('div', { class: 'compose-bar' },
        h('div', { class: 'compose-tools' },
          this.fileLabel, this.file, this.cwBtn,
          h('label', { class: 'visually-hidden', for: `${id}-vis`, text: 'Visibility' }), this.visibility),
        h('div', { class: 'compose-send' }, this.count, cancel, this.submit)),
      this.error);

    const defaultVis = (session.me && session.me.source && session.me.source.privacy) || 'public';
    let vis = defaultVis;
    if (this.replyTo && RANK[this.replyTo.visibility] > RANK[vis]) vis = this.replyTo.visibility;
    this.visibility.value = vis;
    if (this.replyTo) {
      this.textarea.value = mentionsFor(this.replyTo);
      if (this.replyTo.spoiler_text) {
        this.spoiler.value = this.replyTo.spoiler_text;
        this.setCW(true);
      }
    }

    this.textarea.addEventListener('input', () => this.update());
    this.spoiler.addEventListener('input', () => this.update());
    this.textarea.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        this.el.requestSubmit();
      }
    });
    this.cwBtn.addEventListener('click', () => {
      this.setCW(this.cwField.hidden);
      (this.cwField.hidden ? this.textarea : this.spoiler).focus();
    });
    this.file.addEventListener('change', () => {
      const files = Array.from(this.file.files || []);
      this.file.value = '';
      for (const f of files) this.addFile(f);
    });
    // Images can also be pasted or dropped into the text.
    this.textarea.addEventListener('paste', (e) => {
      const files = Array.from((e.clipboardData && e.clipboardData.files) || []).filter((f) => f.type.startsWith('image/'));
      if (files.length) { e.preventDefault(); for (const f of files) this.addFile(f); }
    });
    this.el.addEventListener('dragover', (e) => { if (e.dataTransfer && Array.from(e.dataTransfer.types).includes('Files')) e.preventDefault(); });
    this.el.addEventListener('drop', (e) => {
      const files = Array.from((e.dataTransfer && e.dataTransfer.files) || []);
      if (files.length) { e.preventDefault(); for (const f of files) this.addFile(f); }
    });
    this.el.addEventListener('submit', (e) => {
      e.preventDefault();
      this.post();
    });
    this.update();
  }

  acceptTypes() {
    const types = (session.mediaConfig.supported_mime_types || []).filter((t) => t.startsWith('image/'));
    return types.length ? types.join(',') : 'image/*';
  }

  setCW(on) {
    this.cwField.hidden = !on;
    this.cwBtn.setAttribute('aria-pressed', on ? 'true' : 'false');
    if (!on) this.spoiler.value = '';
    this.update();
  }

  /** focus puts the caret at the end of the text. */
  focus() {
    this.textarea.focus();
    const n = this.textarea.value.length;
    this.textarea.setSelectionRange(n, n);
  }

  length() {
    return countableLength(this.textarea.value, session.urlLength) + Array.from(this.cwField.hidden ? '' : this.spoiler.value).length;
  }

  update() {
    const max = session.maxChars;
    const left = max - this.length();
    this.count.replaceChildren(
      h('span', { 'aria-hidden': 'true', text: String(left) }),
      srOnly(left >= 0 ? `${plural(left, 'character', 'characters')} left of ${max}` : `${plural(-left, 'character', 'characters')} over the limit of ${max}`));
    this.count.classList.toggle('warn', left < 20 && left >= 0);
    this.count.classList.toggle('over', left < 0);
    this.textarea.setAttribute('aria-invalid', left < 0 ? 'true' : 'false');
    const uploading = this.attachments.some((a) => a.state === 'uploading' || a.state === 'processing');
    const failed = this.attachments.some((a) => a.state === 'failed');
    const empty = !this.textarea.value.trim() && !this.attachments.length;
    this.submit.disabled = this.busy || left < 0 || uploading || failed || empty || !!this.retryTimer;
    this.fileLabel.classList.toggle('disabled', this.attachments.length >= session.maxMedia);
    this.file.disabled = this.attachments.length >= session.maxMedia;
    this.submit.title = uploading ? 'Waiting for images to finish uploading' : failed ? 'Remove the image that failed first' : '';
  }

  showError(message) {
    this.error.replaceChildren(icon('warning'), h('span', { text: message }));
    this.error.hidden = !message;
  }

  clearError() {
    this.error.hidden = true;
    this.error.replaceChildren();
  }

  /** addFile checks a chosen image, shows its preview and uploads it. */
  addFile(file) {
    this.clearError();
    const cfg = session.mediaConfig;
    if (this.attachments.length >= session.maxMedia) {
      this.showError(`You can attach up to ${session.maxMedia} images to a post.`);
      return;
    }
    if (!file.type.startsWith('image/')) {
      this.showError(`“${file.name}” is not an image.`);
      return;
    }
    if (cfg.image_size_limit && file.size > cfg.image_size_limit) {
      this.showError(`“${file.name}” is ${bytes(file.size)}; images may be at most ${bytes(cfg.image_size_limit)}.`);
      return;
    }
    const n = this.attachments.length + 1;
    const a = { file, state: 'uploading', media: null, sentDescription: '', preview: URL.createObjectURL(file) };
    const altId = nextId('alt');
    a.alt = h('textarea', { id: altId, class: 'alt-text', rows: '2', maxlength: String(cfg.description_limit || 1500), placeholder: 'Describe the image for people who can’t see it' });
    a.stateEl = h('span', { class: 'media-state', role: 'status' });
    const remove = h('button', { type: 'button', class: 'icon-button remove-media', 'aria-label': `Remove image ${n}` }, icon('close'));
    a.el = h('li', { class: 'compose-media-item uploading' },
      h('div', { class: 'compose-thumb' }, h('img', { src: a.preview, alt: '' }), a.stateEl, remove),
      h('div', { class: 'field' }, h('label', { for: altId, text: `Alt text for image ${n}` }), a.alt));
    remove.addEventListener('click', () => this.removeAttachment(a));
    this.attachments.push(a);
    this.list.append(a.el);
    this.setState(a, 'uploading');
    this.upload(a);
    this.update();
    a.alt.focus();
  }

  setState(a, state, message) {
    a.state = state;
    a.el.className = `compose-media-item ${state}`;
    const text = { uploading: 'Uploading…', processing: 'Processing…', ready: 'Ready', failed: message || 'Upload failed' }[state];
    a.stateEl.textContent = text;
    a.el.dataset.state = state;
    this.update();
  }

  async upload(a) {
    try {
      const fd = new FormData();
      fd.append('file', a.file);
      const desc = a.alt.value.trim();
      if (desc) fd.append('description', desc);
      const res = await request('POST', '/api/v2/media', { form: fd });
      if (a.removed) return;
      a.media = res.data;
      a.sentDescription = desc;
      if (res.status === 202 || !res.data.url) {
        this.setState(a, 'processing');
        await this.poll(a);
      }
      if (!a.removed) this.setState(a, 'ready');
    } catch (err) {
      if (a.removed) return;
      this.setState(a, 'failed', 'Upload failed');
      this.showError(`Could not upload “${a.file.name}”: ${describeError(err)}`);
    }
  }

  async poll(a) {
    for (let i = 0; i < 60; i++) {
      await sleep(Math.min(500 + i * 250, 3000));
      if (a.removed) return;
      const res = await request('GET', `/api/v1/media/${a.media.id}`);
      if (res.status === 200 && res.data.url) {
        a.media = res.data;
        return;
      }
    }
    throw new Error('The server is still processing the image. Try again later.');
  }

  removeAttachment(a) {
    a.removed = true;
    URL.revokeObjectURL(a.preview);
    a.el.remove();
    this.attachments = this.attachments.filter((x) => x !== a);
    if (a.media && a.media.id) request('DELETE', `/api/v1/media/${a.media.id}`).catch(() => {});
    this.attachments.forEach((x, i) => {
      x.el.querySelector('.remove-media').setAttribute('aria-label', `Remove image ${i + 1}`);
      x.el.querySelector('label').textContent = `Alt text for image ${i + 1}`;
    });
    this.clearError();
    this.update();
    this.textarea.focus();
  }

  async post() {
    if (this.submit.disabled) return;
    this.clearError();
    this.busy = true;
    this.submit.textContent = this.replyTo ? 'Replying…' : 'Posting…';
    this.update();
    try {
      for (const a of this.attachments) {
        const desc = a.alt.value.trim();
        if (desc !== a.sentDescription) {
          await request('PUT', `/api/v1/media/${a.media.id}`, { json: { description: desc } });
          a.sentDescription = desc;
        }
      }
      const spoiler = this.cwField.hidden ? '' : this.spoiler.value.trim();
      const body = {
        status: this.textarea.value,
        visibility: this.visibility.value,
        media_ids: this.attachments.map((a) => a.media.id),
      };
      if (spoiler) {
        body.spoiler_text = spoiler;
        body.sensitive = true;
      }
      if (this.replyTo) body.in_reply_to_id = this.replyTo.id;
      const { data } = await request('POST', '/api/v1/statuses', { json: body, headers: { 'Idempotency-Key': this.draftKey } });
      this.reset();
      emit('posted', { status: data });
      if (this.opts.onPosted) this.opts.onPosted(data);
    } catch (err) {
      this.showError(describeError(err));
      if (err instanceof ApiError && (err.status === 429 || err.status === 503) && err.retryAfter) this.holdFor(err);
    } finally {
      this.busy = false;
      this.submit.textContent = this.replyTo ? 'Reply' : 'Post';
      this.update();
    }
  }

  /** holdFor keeps the post button off and counts down a 429's wait. */
  holdFor(err) {
    let left = err.retryAfter;
    clearInterval(this.retryTimer);
    const tick = () => {
      if (left <= 0 || !this.el.isConnected) {
        clearInterval(this.retryTimer);
        this.retryTimer = null;
        this.update();
        return;
      }
      this.submit.title = `You can try again in ${formatWait(left)}`;
      left -= 1;
    };
    this.retryTimer = setInterval(tick, 1000);
    tick();
    this.update();
  }

  reset() {
    for (const a of this.attachments) URL.revokeObjectURL(a.preview);
    this.attachments = [];
    this.list.replaceChildren();
    this.textarea.value = this.replyTo ? mentionsFor(this.replyTo) : '';
    this.setCW(false);
    this.draftKey = randomString(16);
    this.update();
  }

  /** dirty tells whether closing would lose what the person wrote. */
  dirty() {
    const base = this.replyTo ? mentionsFor(this.replyTo) : '';
    return this.textarea.value !== base || this.attachments.length > 0;
  }
}
