// Signing in, up and out, as any third-party app does: the client registers
// itself (POST /api/v1/apps), sends the person to the server's own sign-in
// page (/oauth/authorize) with a PKCE S256 challenge, and exchanges the code
// it gets back, with the verifier, for a token. Sign-up creates the account
// with an app token and then signs in the same way. Sign-out revokes the
// token.

import { request, ApiError } from './api.js';
import { session } from './session.js';
import { sha256 } from './sha256.js';

export const SCOPES = 'read write follow';
export const CALLBACK_PATH = '/oauth-callback';
const PKCE_KEY = 'starling.pkce';
const APP_NAME = 'Starling Web';

/** base64url encodes bytes without padding (RFC 7636 appendix A). */
export function base64url(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** randomString is n random bytes, base64url: a verifier or state. */
export function randomString(n = 32) {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return base64url(b);
}

/** pkceChallenge is the S256 challenge of a verifier. */
export async function pkceChallenge(verifier) {
  return base64url(await sha256(new TextEncoder().encode(verifier)));
}

function redirectURI() {
  return location.origin + CALLBACK_PATH;
}

/**
 * ensureApp returns this origin's registered app, registering one when
 * there is none (or fresh is set: the server no longer knows ours).
 */
export async function ensureApp({ fresh = false } = {}) {
  const uri = redirectURI();
  const app = session.app;
  if (!fresh && app && app.client_id && app.redirect_uri === uri) return app;
  const { data } = await request('POST', '/api/v1/apps', {
    token: null,
    json: { client_name: APP_NAME, redirect_uris: uri, scopes: SCOPES, website: location.origin },
  });
  const registered = { client_id: data.client_id, client_secret: data.client_secret, redirect_uri: uri };
  session.app = registered;
  return registered;
}

function authorizeURL(app, challenge, state, loginHint) {
  const q = new URLSearchParams({
    response_type: 'code', client_id: app.client_id, redirect_uri: app.redirect_uri, scope: SCOPES,
    state, code_challenge: challenge, code_challenge_method: 'S256',
  });
  if (loginHint) q.set('login_hint', loginHint);
  return `/oauth/authorize?${q}`;
}

/**
 * beginSignIn sends the browser to the server's sign-in page. returnTo is
 * where to go once signed in; loginHint prefills the username there.
 */
export async function beginSignIn({ returnTo = '/home', loginHint = '' } = {}) {
  let app = await ensureApp();
  const verifier = randomString(48);
  const challenge = await pkceChallenge(verifier);
  const state = randomString(18);
  let url = authorizeURL(app, challenge, state, loginHint);
  // A server whose data was reset no longer knows a stored app: its sign-in
  // page would be a dead end, so check first and register again.
  const probe = await fetch(url, { credentials: 'same-origin', redirect: 'manual', cache: 'no-store' });
  await probe.arrayBuffer().catch(() => {});
  if (probe.status === 401 || probe.status === 404 || probe.status === 400) {
    app = await ensureApp({ fresh: true });
    url = authorizeURL(app, challenge, state, loginHint);
  }
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state, returnTo, at: Date.now() }));
  location.assign(url);
}

/**
 * completeSignIn handles the redirect back to /oauth-callback: checks the
 * state, exchanges the code with the PKCE verifier, keeps the token and
 * returns the path to go to.
 */
export async function completeSignIn(params) {
  const raw = sessionStorage.getItem(PKCE_KEY);
  sessionStorage.removeItem(PKCE_KEY);
  const saved = raw ? JSON.parse(raw) : null;
  if (params.get('error')) {
    throw new Error(params.get('error') === 'access_denied'
      ? 'You chose not to authorize the web client, so you are not signed in.'
      : params.get('error_description') || params.get('error'));
  }
  const code = params.get('code');
  if (!code) throw new Error('The sign-in page did not return a code.');
  if (!saved || saved.state !== params.get('state')) {
    throw new Error('This sign-in was not started in this tab, or it has expired. Please sign in again.');
  }
  const app = session.app;
  if (!app) throw new Error('This browser has no registration for the web client. Please sign in again.');
  try {
    const { data } = await request('POST', '/oauth/token', {
      token: null,
      json: {
        grant_type: 'authorization_code', code, client_id: app.client_id, client_secret: app.client_secret,
        redirect_uri: app.redirect_uri, code_verifier: saved.verifier, scope: SCOPES,
      },
    });
    session.setToken(data.access_token);
  } catch (err) {
    if (err instanceof ApiError && err.body && err.body.error === 'invalid_client') session.app = null;
    throw err;
  }
  return saved.returnTo && saved.returnTo.startsWith('/') && !saved.returnTo.startsWith('//') ? saved.returnTo : '/home';
}

async function appToken(app) {
  const { data } = await request('POST', '/oauth/token', {
    token: null,
    json: { grant_type: 'client_credentials', client_id: app.client_id, client_secret: app.client_secret, scope: SCOPES },
  });
  return data.access_token;
}

async function revoke(app, token) {
  await request('POST', '/oauth/revoke', {
    token: null, json: { client_id: app.client_id, client_secret: app.client_secret, token },
  });
}

/**
 * signUp creates an account (POST /api/v1/accounts with an app token). The
 * token that call returns is revoked at once: the person then signs in
 * through the authorization page like any other time.
 */
export async function signUp({ username, email, password, agreement }) {
  let app = await ensureApp();
  let tok;
  try {
    tok = await appToken(app);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) throw err;
    app = await ensureApp({ fresh: true });
    tok = await appToken(app);
  }
  const locale = (navigator.language || 'en').split('-')[0].slice(0, 16);
  try {
    const { data } = await request('POST', '/api/v1/accounts', {
      token: tok, json: { username, email, password, agreement, locale },
    });
    revoke(app, data.access_token).catch(() => {});
  } finally {
    revoke(app, tok).catch(() => {});
  }
}

/**
 * signOut revokes the token on the server and forgets it here. The local
 * state is cleared even if the server cannot be reached; the error is
 * returned so the caller can say so.
 */
export async function signOut() {
  const app = session.app;
  const token = session.token;
  let error = null;
  if (app && token) {
    try {
      await revoke(app, token);
    } catch (err) {
      error = err;
    }
  }
  session.clear();
  return error;
}
