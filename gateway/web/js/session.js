// The signed-in state: the registered app (client_id/secret), the user's
// token, and what the client learned about the user and the instance. The
// app and token live in localStorage, shared by the origin's tabs; signing
// out in one tab signs out the others.

const APP_KEY = 'starling.app';
const TOKEN_KEY = 'starling.token';

function read(key) {
  try {
    const v = localStorage.getItem(key);
    return v ? JSON.parse(v) : null;
  } catch {
    return null;
  }
}

function write(key, value) {
  try {
    if (value == null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage may be full or disabled; the session then lasts this page.
  }
}

class Session extends EventTarget {
  constructor() {
    super();
    /** The signed-in account (verify_credentials), once loaded. */
    this.me = null;
    /** GET /api/v2/instance, once loaded. */
    this.instance = null;
    this.memToken = undefined;
    if (typeof window !== 'undefined') {
      window.addEventListener('storage', (e) => {
        if (e.key === TOKEN_KEY && !e.newValue && this.memToken) {
          this.memToken = null;
          this.me = null;
          this.dispatchEvent(new CustomEvent('change', { detail: { reason: 'Signed out in another tab.' } }));
        }
      });
    }
  }

  get app() { return read(APP_KEY); }
  set app(v) { write(APP_KEY, v); }

  get token() {
    if (this.memToken === undefined) this.memToken = read(TOKEN_KEY);
    return this.memToken;
  }

  get signedIn() { return !!this.token; }

  /** setToken keeps a new user token. */
  setToken(token) {
    this.memToken = token;
    write(TOKEN_KEY, token);
    this.dispatchEvent(new CustomEvent('change', { detail: {} }));
  }

  /** clear forgets the token; reason is shown to the user if given. */
  clear(reason) {
    const had = !!this.token;
    this.memToken = null;
    this.me = null;
    write(TOKEN_KEY, null);
    if (had) this.dispatchEvent(new CustomEvent('change', { detail: { reason } }));
  }

  /** expire is called when the server refuses the token (401). */
  expire() {
    this.clear('Your session has ended. Please sign in again.');
  }

  /** title is the instance's name. */
  get title() {
    return this.instance?.title || 'Starling';
  }

  /** streamingURL is the base URL of the streaming API, or undefined. */
  get streamingURL() {
    return this.instance?.configuration?.urls?.streaming;
  }

  /** maxChars is the instance's status length limit. */
  get maxChars() {
    return this.instance?.configuration?.statuses?.max_characters || 500;
  }

  get urlLength() {
    return this.instance?.configuration?.statuses?.characters_reserved_per_url || 23;
  }

  get mediaConfig() {
    return this.instance?.configuration?.media_attachments || {};
  }

  get maxMedia() {
    return this.instance?.configuration?.statuses?.max_media_attachments || 4;
  }

  /** baseOrigin is the origin of the URLs the API returns. */
  get baseOrigin() {
    const s = this.streamingURL;
    if (!s) return location.origin;
    try {
      const u = new URL(s);
      return `${u.protocol === 'wss:' ? 'https:' : 'http:'}//${u.host}`;
    } catch {
      return location.origin;
    }
  }
}

export const session = new Session();
