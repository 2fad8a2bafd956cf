// Unread notifications: the count behind the badge. The read position is
// the server's notifications marker (GET/POST /api/v1/markers), so it is
// the same in every tab and app; live "notification" events add to the
// count while the list is not on screen.

import { request } from './api.js';
import { stream, matches } from './stream.js';
import { compareIds } from './dom.js';

class Unread extends EventTarget {
  constructor() {
    super();
    this.count = 0;
    this.lastReadId = null;
    this.viewing = false;
    this.capped = false;
    // Unread ids: the page fetched after the marker plus live arrivals, so
    // a notification arriving while the page loads counts once.
    this.ids = new Set();
    this.onEvent = (e) => {
      if (!matches(e.detail.stream, 'user')) return;
      const n = e.detail.payload;
      if (!n || !n.id) return;
      if (this.viewing) return; // the open list shows it and marks it read
      if (this.lastReadId && compareIds(n.id, this.lastReadId) <= 0) return;
      this.ids.add(n.id);
      this.set(this.ids.size, this.capped);
    };
  }

  /** start reads the marker and counts what came after it. */
  async start() {
    stream.removeEventListener('notification', this.onEvent);
    stream.addEventListener('notification', this.onEvent);
    await this.refresh();
  }

  stop() {
    stream.removeEventListener('notification', this.onEvent);
    this.lastReadId = null;
    this.ids.clear();
    this.set(0, false);
  }

  async refresh() {
    try {
      const { data } = await request('GET', '/api/v1/markers', { query: { timeline: ['notifications'] } });
      const m = data && data.notifications;
      this.lastReadId = m && m.last_read_id && m.last_read_id !== '0' ? m.last_read_id : null;
      const limit = 80;
      const query = { limit };
      if (this.lastReadId) query.min_id = this.lastReadId;
      const res = await request('GET', '/api/v1/notifications', { query });
      const items = Array.isArray(res.data) ? res.data : [];
      if (this.viewing) return;
      for (const n of items) this.ids.add(n.id);
      if (this.lastReadId) for (const id of this.ids) if (compareIds(id, this.lastReadId) <= 0) this.ids.delete(id);
      this.set(this.ids.size, items.length >= limit);
    } catch {
      // The badge stays as it was; the next live event or visit corrects it.
    }
  }

  set(n, capped) {
    this.count = n;
    this.capped = capped;
    this.dispatchEvent(new CustomEvent('change', { detail: { count: n, capped } }));
  }

  /**
   * markRead moves the marker to newestId (the newest notification shown)
   * and clears the badge. A 409 (another tab moved it) is retried once.
   */
  async markRead(newestId) {
    this.ids.clear();
    this.set(0, false);
    if (!newestId || (this.lastReadId && compareIds(newestId, this.lastReadId) <= 0)) return;
    this.lastReadId = newestId;
    const save = () => request('POST', '/api/v1/markers', { json: { notifications: { last_read_id: newestId } } });
    try {
      await save();
    } catch (err) {
      if (err && err.status === 409) {
        try { await save(); } catch { /* another tab has a newer position */ }
      }
    }
  }
}

export const unread = new Unread();
