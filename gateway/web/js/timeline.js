// A paged, optionally live list (statuses, notifications or accounts).
// Older pages come from the Link header's rel="next" as the reader nears
// the end (or presses "Load more"). Live items from the streaming API wait
// in a "N new posts" bar instead of moving the page under the reader.

import { h, icon, clear, compareIds } from './dom.js';
import { request, describeError } from './api.js';
import { stream, matches } from './stream.js';

export class Feed {
  /**
   * opts: path, query, render(item) → Element, label (accessible name),
   * empty (Element or text shown when there is nothing), noun ['post',
   * 'posts'] for the new-items bar, live { event, stream, tag, accept }.
   */
  constructor(opts) {
    this.opts = opts;
    this.ids = new Set();
    this.pending = [];
    this.next = null;
    this.loading = false;
    this.started = false;
    this.newest = null;
    this.cleanups = [];

    const [one, many] = opts.noun || ['post', 'posts'];
    this.noun = (n) => (n === 1 ? `1 new ${one}` : `${n} new ${many}`);
    this.pendingBtn = h('button', { type: 'button', class: 'new-items', hidden: true }, icon('up'), h('span'));
    this.pendingBtn.addEventListener('click', () => this.showPending());
    this.list = h('div', { class: 'feed', role: 'feed', 'aria-busy': 'true', 'aria-label': opts.label });
    this.statusLine = h('p', { class: 'feed-status', role: 'status' });
    this.moreBtn = h('button', { type: 'button', class: 'button secondary load-more', hidden: true, text: 'Load more' });
    this.moreBtn.addEventListener('click', () => this.loadMore());
    this.sentinel = h('div', { class: 'feed-sentinel', 'aria-hidden': 'true' });
    this.el = h('section', { class: 'feed-section' },
      h('div', { class: 'new-items-bar', 'aria-live': 'polite' }, this.pendingBtn),
      this.list, h('div', { class: 'feed-footer' }, this.statusLine, this.moreBtn), this.sentinel);
  }

  /** start loads the first page and begins listening. */
  start() {
    if (this.started) return this;
    this.started = true;
    this.load(this.opts.path, this.opts.query || {});
    if ('IntersectionObserver' in window) {
      this.observer = new IntersectionObserver((entries) => {
        if (entries.some((e) => e.isIntersecting)) this.loadMore();
      }, { rootMargin: '0px 0px 900px 0px' });
      this.observer.observe(this.sentinel);
    }
    const live = this.opts.live;
    if (live && stream.state !== 'idle') {
      this.cleanups.push(stream.subscribe(live.stream, live.tag));
      const onEvent = (e) => {
        const { stream: s, payload } = e.detail;
        if (!matches(s, live.stream, live.tag)) return;
        if (live.accept && !live.accept(payload)) return;
        this.addPending(payload);
      };
      stream.addEventListener(live.event, onEvent);
      this.cleanups.push(() => stream.removeEventListener(live.event, onEvent));
      const onResync = () => this.resync();
      stream.addEventListener('resync', onResync);
      this.cleanups.push(() => stream.removeEventListener('resync', onResync));
    }
    return this;
  }

  destroy() {
    if (this.observer) this.observer.disconnect();
    for (const c of this.cleanups) c();
    this.cleanups = [];
  }

  async load(path, query) {
    if (this.loading) return;
    this.loading = true;
    this.list.setAttribute('aria-busy', 'true');
    this.moreBtn.hidden = true;
    this.statusLine.textContent = 'Loading…';
    this.statusLine.classList.add('loading');
    try {
      const res = await request('GET', path, { query });
      const items = Array.isArray(res.data) ? res.data : [];
      for (const item of items) this.append(item);
      this.next = items.length ? res.next : null;
      this.statusLine.textContent = '';
      if (!this.ids.size) this.showEmpty();
      else if (!this.next) this.statusLine.textContent = this.opts.endText || 'You have reached the end.';
    } catch (err) {
      this.statusLine.textContent = describeError(err);
      this.statusLine.classList.add('error');
      this.moreBtn.textContent = 'Try again';
      this.retry = () => { this.statusLine.classList.remove('error'); this.load(path, query); };
      this.moreBtn.hidden = false;
      return;
    } finally {
      this.loading = false;
      this.list.setAttribute('aria-busy', 'false');
      this.statusLine.classList.remove('loading');
    }
    this.retry = null;
    this.moreBtn.textContent = 'Load more';
    this.moreBtn.hidden = !this.next;
    if (this.opts.onLoad) this.opts.onLoad(this);
    // Keep filling while the end of the list is still in view.
    requestAnimationFrame(() => {
      if (this.next && this.el.isConnected && this.sentinel.getBoundingClientRect().top < window.innerHeight + 900) this.loadMore();
    });
  }

  loadMore() {
    if (this.retry) return this.retry();
    if (this.loading || !this.next) return undefined;
    return this.load(this.next);
  }

  showEmpty() {
    const e = this.opts.empty;
    clear(this.statusLine);
    if (!e) return;
    this.statusLine.append(typeof e === 'string' ? e : e.cloneNode(true));
    this.statusLine.classList.add('empty');
  }

  key(item) {
    return item.id;
  }

  trackNewest(item) {
    const k = this.key(item);
    if (!this.newest || compareIds(k, this.newest) > 0) this.newest = k;
  }

  append(item) {
    const k = this.key(item);
    if (this.ids.has(k)) return;
    if (this.pending.some((p) => this.key(p) === k)) {
      this.pending = this.pending.filter((p) => this.key(p) !== k);
      this.updatePending();
    }
    this.ids.add(k);
    this.trackNewest(item);
    const el = this.opts.render(item);
    if (el) this.list.append(el);
  }

  /** prepend shows item at the top at once (the reader's own post). */
  prepend(item) {
    const k = this.key(item);
    this.pending = this.pending.filter((p) => this.key(p) !== k);
    this.updatePending();
    if (this.ids.has(k)) return;
    this.ids.add(k);
    this.trackNewest(item);
    this.statusLine.classList.remove('empty');
    if (this.statusLine.textContent && !this.next && this.ids.size === 1) this.statusLine.textContent = '';
    const el = this.opts.render(item);
    if (el) this.list.prepend(el);
  }

  addPending(item) {
    const k = this.key(item);
    if (this.ids.has(k) || this.pending.some((p) => this.key(p) === k)) return;
    this.pending.push(item);
    this.updatePending();
  }

  /** removePending drops a deleted item that was waiting. */
  removePending(id) {
    const before = this.pending.length;
    this.pending = this.pending.filter((p) => p.id !== id && !(p.reblog && p.reblog.id === id));
    if (this.pending.length !== before) this.updatePending();
  }

  updatePending() {
    const n = this.pending.length;
    this.pendingBtn.hidden = n === 0;
    this.pendingBtn.querySelector('span').textContent = n ? `Show ${this.noun(n)}` : '';
    this.el.classList.toggle('has-pending', n > 0);
    if (this.opts.onPending) this.opts.onPending(n);
  }

  /** showPending puts the waiting items on top and moves there. */
  showPending() {
    const items = this.pending;
    this.pending = [];
    let first = null;
    for (const item of items) {
      const k = this.key(item);
      if (this.ids.has(k)) continue;
      this.ids.add(k);
      this.trackNewest(item);
      const el = this.opts.render(item);
      if (el) {
        this.list.prepend(el);
        first = el;
      }
    }
    if (first) {
      this.statusLine.classList.remove('empty');
      if (this.statusLine.textContent && this.ids.size === items.length) this.statusLine.textContent = '';
    }
    this.updatePending();
    const top = this.list.firstElementChild;
    if (top) {
      this.el.scrollIntoView({ block: 'start' });
      top.focus({ preventScroll: true });
    }
    if (this.opts.onShowPending) this.opts.onShowPending(this);
  }

  /** resync fetches what arrived while the stream was down. */
  async resync() {
    if (!this.newest || this.loading) return;
    try {
      const res = await request('GET', this.opts.path, { query: { ...(this.opts.query || {}), min_id: this.newest } });
      const items = Array.isArray(res.data) ? res.data.slice().reverse() : [];
      for (const item of items) {
        if (this.opts.live && this.opts.live.accept && !this.opts.live.accept(item)) continue;
        this.addPending(item);
      }
    } catch {
      // The next reconnect tries again.
    }
  }

  /** firstKey is the newest item's key shown, or null. */
  firstKey() {
    return this.newest;
  }
}
