// The streaming API: one WebSocket to configuration.urls.streaming +
// /api/v1/streaming, the token offered as the subprotocol (browsers cannot
// set headers), and {"type":"subscribe"} messages for each stream a view
// needs. Events are dispatched by name ("update", "delete", "notification",
// "status.update") with { stream, payload }; the payload string is parsed.
// The socket reconnects with backoff and dispatches "resync" after a
// reconnect, so views can fetch what they missed.

const PARSED = new Set(['update', 'notification', 'status.update', 'conversation', 'announcement']);

export class Stream extends EventTarget {
  constructor() {
    super();
    this.subs = new Map(); // key -> { name, tag, count }
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.state = 'idle';
    this.everOpened = false;
    this.stopped = true;
    this.wake = () => {
      if (!this.stopped && this.state !== 'open' && this.state !== 'connecting') this.connectNow();
    };
  }

  /** start connects to base (ws[s]://host) with a user token. */
  start(base, token) {
    this.stop();
    this.base = base.replace(/\/+$/, '');
    this.token = token;
    this.stopped = false;
    this.everOpened = false;
    this.attempt = 0;
    window.addEventListener('online', this.wake);
    document.addEventListener('visibilitychange', this.wake);
    this.connect();
  }

  /** stop closes the socket for good (sign-out). */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    window.removeEventListener('online', this.wake);
    document.removeEventListener('visibilitychange', this.wake);
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close(1000);
      this.ws = null;
    }
    this.setState('idle');
  }

  setState(s) {
    if (this.state === s) return;
    this.state = s;
    document.documentElement.dataset.stream = s;
    this.dispatchEvent(new CustomEvent('state', { detail: s }));
  }

  connectNow() {
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close();
    }
    this.setState('connecting');
    let ws;
    try {
      ws = new WebSocket(`${this.base}/api/v1/streaming`, [this.token]);
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      for (const s of this.subs.values()) this.send({ type: 'subscribe', stream: s.name, tag: s.tag });
      this.setState('open');
      if (this.everOpened) this.dispatchEvent(new CustomEvent('resync'));
      this.everOpened = true;
    };
    ws.onmessage = (e) => this.receive(e.data);
    ws.onclose = () => {
      if (this.ws === ws) this.ws = null;
      this.retry();
    };
  }

  retry() {
    if (this.stopped) return;
    this.setState('reconnecting');
    const base = Math.min(30000, 1000 * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 6);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), base * (0.5 + Math.random() / 2));
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!frame || frame.error) return;
    let payload = frame.payload;
    if (PARSED.has(frame.event) && typeof payload === 'string') {
      try {
        payload = JSON.parse(payload);
      } catch {
        return;
      }
    }
    this.dispatchEvent(new CustomEvent(frame.event, { detail: { stream: frame.stream || [], payload } }));
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      const m = { type: msg.type, stream: msg.stream };
      if (msg.tag) m.tag = msg.tag;
      this.ws.send(JSON.stringify(m));
    }
  }

  /**
   * subscribe adds a stream ("user", "public", "hashtag" with a tag) and
   * returns a function that removes it. Subscriptions are counted, so two
   * views may share one.
   */
  subscribe(name, tag) {
    const key = tag ? `${name}:${tag.toLowerCase()}` : name;
    const s = this.subs.get(key);
    if (s) {
      s.count += 1;
    } else {
      this.subs.set(key, { name, tag, count: 1 });
      this.send({ type: 'subscribe', stream: name, tag });
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const cur = this.subs.get(key);
      if (!cur) return;
      cur.count -= 1;
      if (cur.count <= 0) {
        this.subs.delete(key);
        this.send({ type: 'unsubscribe', stream: name, tag });
      }
    };
  }
}

/** matches tells whether a frame's stream array is the given stream. */
export function matches(frameStream, name, tag) {
  if (!Array.isArray(frameStream) || frameStream[0] !== name) return false;
  return !tag || (frameStream[1] || '').toLowerCase() === tag.toLowerCase();
}

export const stream = new Stream();
