// streamlimit browser client: asks the streamlimit API for a stream slot,
// keeps the lease alive while the player plays and gives the slot back when it
// stops or the tab closes. Dependency-free ES module; see streamlimit.d.ts for
// the types and README.md for the lifecycle. attach.js drives a <video> (or
// video.js, hls.js, Shaka Player) with it.
//
//   const sl = new StreamLimitClient({ baseUrl: 'https://api.example.com', token: getAccessToken });
//   sl.on('revoked', () => player.pause());
//   const r = await sl.start('alice', { client: { title: 'Film' } });
//   if (!r.granted) showWhoIsWatching(r.streams);
//   ...
//   await sl.stop();

import { deviceLabel } from './device.js';

export { deviceLabel, describeUserAgent, sessionLabel } from './device.js';

/** localStorage key of the per-browser device id (a label, not a proof). */
export const DEVICE_ID_KEY = 'streamlimit.deviceId';
/**
 * localStorage key of the per-browser device secret: the proof that this
 * browser holds a lease it was granted. Only ever sent in canStream's JSON
 * body, never in a URL; the server stores only its hash.
 */
export const DEVICE_SECRET_KEY = 'streamlimit.deviceSecret';
/** sessionStorage key of a lease ended by a keepalive fetch on pagehide (see start). */
export const PENDING_END_KEY = 'streamlimit.pendingEnd';

// A device id the server accepts: the uid rules (not only dots).
const DEVICE_ID_PATTERN = /^(?!\.+$)[A-Za-z0-9._:@+=-]{1,128}$/;
// A device secret the server accepts (base64url of 24 random bytes fits).
const DEVICE_SECRET_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;
const DEVICE_SECRET_BYTES = 24;
const LEASE_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// A session handle of the listing (never a lease id).
const SESSION_PATTERN = /^[0-9a-f]{16}$/;
// Statuses worth retrying: the request may succeed later.
const RETRYABLE = new Set([408, 425, 429, 500, 502, 503, 504]);

const DEFAULTS = {
  heartbeatJitter: 0.1,
  retryBaseMs: 500,
  retryMaxMs: 30000,
  retryMarginMs: 500,
  minRetryMs: 100,
  startAttempts: 3,
  requestTimeoutMs: 10000,
};

/**
 * An answer of the API that is not a success, or a request that failed.
 * `status` is 0 for a network error or a timeout.
 */
export class StreamLimitError extends Error {
  constructor(message, { status = 0, code = 'network_error', reason, retryAfterMs, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'StreamLimitError';
    this.status = status;
    this.code = code;
    if (reason !== undefined) this.reason = reason;
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
  }

  /** Whether the same request may succeed later. */
  get retryable() {
    return this.status === 0 || RETRYABLE.has(this.status);
  }
}

/**
 * The delay before the next heartbeat: the server's interval shortened by up
 * to `jitter` of it, so players started together spread out and a heartbeat is
 * never later than the interval.
 */
export function heartbeatDelay(intervalMs, jitter, random) {
  return Math.round(intervalMs * (1 - jitter * random));
}

/**
 * The delay before retry number `attempt` (1, 2, ...): exponential from
 * `baseMs`, capped at `maxMs`, with "equal jitter" (between half and all of
 * it), and never shorter than the server's Retry-After.
 */
export function retryDelay(attempt, { baseMs, maxMs, random, retryAfterMs = 0 }) {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.max(Math.round(exp / 2 + (exp / 2) * random), retryAfterMs);
}

/**
 * The device id kept in `storage` (localStorage), created on first use. When
 * storage is unusable (blocked, private mode) a new id is returned each call.
 */
export function stableDeviceId(storage) {
  return kept(storage, DEVICE_ID_KEY, DEVICE_ID_PATTERN, newDeviceId);
}

/**
 * The device secret kept in `storage` (localStorage, beside the device id),
 * created on first use: base64url of 24 random bytes. When storage is
 * unusable a new secret is returned each call (a client keeps the one it
 * got for its lifetime).
 */
export function stableDeviceSecret(storage) {
  return kept(storage, DEVICE_SECRET_KEY, DEVICE_SECRET_PATTERN, newDeviceSecret);
}

/**
 * The value kept in `storage` under `key` when it matches `pattern`;
 * otherwise a fresh one from `make`, kept for next time. When storage is
 * unusable, a fresh one each call.
 */
function kept(storage, key, pattern, make) {
  try {
    const value = storage?.getItem(key);
    if (value && pattern.test(value)) return value;
    const fresh = make();
    storage?.setItem(key, fresh);
    return fresh;
  } catch {
    return make();
  }
}

function newDeviceId() {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes); // works outside secure contexts too
  return 'web-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function newDeviceSecret() {
  const bytes = new Uint8Array(DEVICE_SECRET_BYTES);
  globalThis.crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function parseRetryAfter(value) {
  if (!value) return undefined;
  const s = Number(value);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function bound(fn, self) {
  return typeof fn === 'function' ? fn.bind(self) : undefined;
}

/**
 * A client of the streamlimit API for one player. Events (CustomEvent, the
 * payload in `detail`): granted, refused, renewed, retrying, revoked, stopped.
 */
export class StreamLimitClient extends EventTarget {
  #o;
  #fetch;
  #token = null; // the token provider, if any
  #lastToken = null; // its last answer: what a pagehide end can send at once
  #local;
  #session;
  #random;
  #state = 'idle';
  #lease = null; // the public lease object
  #renewal = null; // the renewal token of the last grant or heartbeat: sent back with the next heartbeat
  #deadline = 0; // local time (ms) after which the lease must be taken as lost
  #gen = 0; // bumped by every start, stop and pagehide: stale callbacks compare it
  #timer = null;
  #inflight = null; // AbortController of the running heartbeat
  #failures = 0; // consecutive failed heartbeats
  #deviceId = null;
  #deviceSecret = null;
  // The lease this client holds or last held while its end is not known to
  // have landed ({ uid, leaseId }, else null): canStream sends it as proof,
  // so a start() after a lost answer, a failed end or a lost lease takes that
  // lease over instead of using a second slot.
  #held = null;
  #pageHide = null;
  #pageTarget = null;

  constructor(options = {}) {
    super();
    if (!options.baseUrl) throw new TypeError('StreamLimitClient: baseUrl is required');
    this.#o = { ...DEFAULTS, ...options, baseUrl: String(options.baseUrl).replace(/\/+$/, '') };
    const g = globalThis;
    this.#fetch = options.fetch ?? bound(g.fetch, g);
    if (options.token !== undefined && options.token !== null && typeof options.token !== 'function') {
      throw new TypeError('StreamLimitClient: token must be a function returning the access token (or a promise of it)');
    }
    this.#token = options.token ?? null;
    this.#local = options.storage !== undefined ? options.storage : safeStorage('localStorage');
    this.#session = options.sessionStorage !== undefined ? options.sessionStorage : safeStorage('sessionStorage');
    this.#random = options.random ?? Math.random;
    if (options.deviceId) this.#deviceId = options.deviceId;
    if (options.deviceSecret !== undefined) {
      if (!DEVICE_SECRET_PATTERN.test(options.deviceSecret)) {
        throw new TypeError('StreamLimitClient: deviceSecret must be 16-128 characters of A-Z a-z 0-9 - _');
      }
      this.#deviceSecret = options.deviceSecret;
    }
    const target = options.pageLifecycle !== undefined ? options.pageLifecycle : g.window;
    if (target?.addEventListener) {
      this.#pageTarget = target;
      this.#pageHide = (e) => this.#onPageHide(e);
      target.addEventListener('pagehide', this.#pageHide);
    }
  }

  /** 'idle' | 'starting' | 'playing' | 'refused' | 'stopped' | 'revoked' */
  get state() {
    return this.#state;
  }

  /** The lease held while playing, else null. */
  get lease() {
    return this.#lease;
  }

  /** This browser's device id (localStorage), unless one was given. */
  get deviceId() {
    this.#deviceId ??= stableDeviceId(this.#local);
    return this.#deviceId;
  }

  // This browser's device secret (localStorage), unless one was given.
  // Deliberately not exposed: it belongs in canStream bodies only.
  #secret() {
    this.#deviceSecret ??= stableDeviceSecret(this.#local);
    return this.#deviceSecret;
  }

  /** Adds a listener for an event's detail; returns a function removing it. */
  on(type, listener) {
    const fn = (e) => listener(e.detail);
    this.addEventListener(type, fn);
    return () => this.removeEventListener(type, fn);
  }

  /**
   * Asks for a stream slot for account uid. Resolves with the lease when
   * granted, or with the live sessions when refused; heartbeats start on grant.
   * The body carries the device id, the device secret and the lease this
   * client last held (if its end is not known to have landed): a live lease
   * they prove is taken over under a new id (lease.resumed) instead of using
   * a second slot, which makes a retry after a lost answer safe.
   * Network errors and 503s are retried (startAttempts in all), then it
   * rejects with a StreamLimitError. A 503 (`overloaded`: the server had no
   * room and read or wrote nothing; `store_throttled`, `contention`,
   * `store_unavailable`) is retried no sooner than its Retry-After, with
   * exponential backoff, and with the same body: if an earlier attempt's
   * write did commit, the retry takes that lease over instead of using a
   * second slot; a 410 lease_revoked (the lease last held
   * was revoked meanwhile: `reason`) rejects at once and is not repeated by
   * the next start(). It rejects with an AbortError when stop() is called
   * meanwhile.
   */
  async start(uid, { deviceId, client } = {}) {
    if (this.#state === 'starting' || this.#state === 'playing') {
      throw new StreamLimitError('already ' + this.#state + ': call stop() first', { code: 'invalid_state' });
    }
    const gen = ++this.#gen;
    this.#state = 'starting';
    const device = deviceId ?? this.deviceId;
    try {
      await this.#flushPendingEnd();
      if (gen !== this.#gen) throw abortError();
      // The proof goes in the body only: never in a URL (access logs).
      const held = this.#held?.uid === uid ? this.#held.leaseId : undefined;
      const body = JSON.stringify({
        deviceId: device, deviceSecret: this.#secret(),
        ...(held ? { leaseId: held } : {}), client: this.#describe(client),
      });
      const path = '/canStream/' + encodeURIComponent(uid);
      let data;
      let sentAt;
      for (let attempt = 1; ; attempt++) {
        sentAt = Date.now();
        try {
          // text/plain keeps it a "simple" request: no CORS preflight.
          data = await this.#call(path, { body, headers: { 'Content-Type': 'text/plain;charset=UTF-8' } });
          break;
        } catch (err) {
          if (gen !== this.#gen) throw abortError();
          if (held && err.code === 'lease_revoked') this.#forget(held); // told: a start() after this is fresh
          if (!(err instanceof StreamLimitError) || !err.retryable || attempt >= this.#o.startAttempts) throw err;
          await sleep(retryDelay(attempt, this.#retryOpts(err)));
          if (gen !== this.#gen) throw abortError();
        }
      }
      // Any answer settles the lease sent as proof: taken over (a grant
      // carries the new id), or neither live nor revoked.
      if (held) this.#forget(held);
      if (gen !== this.#gen) {
        // stop() came while we waited: give back a slot we were just granted.
        if (data.canStream) {
          this.#held ??= { uid, leaseId: data.leaseId };
          this.#end(uid, data.leaseId).then(() => this.#forget(data.leaseId), () => {});
        }
        throw abortError();
      }
      if (!data.canStream) {
        this.#state = 'refused';
        const refusal = { granted: false, streamCount: data.streamCount, maxStreams: data.maxStreams, streams: data.streams ?? [] };
        this.#emit('refused', refusal);
        return refusal;
      }
      this.#lease = {
        uid, leaseId: data.leaseId, deviceId: device,
        expiresAt: new Date(data.expiresAt),
        heartbeatIntervalSeconds: data.heartbeatIntervalSeconds,
        streamCount: data.streamCount, maxStreams: data.maxStreams,
        resumed: data.resumed === true,
      };
      this.#held = { uid, leaseId: data.leaseId };
      this.#renewal = data.renewalToken ?? null;
      this.#setDeadline(sentAt);
      this.#state = 'playing';
      this.#failures = 0;
      this.#scheduleHeartbeat(gen);
      const grant = { granted: true, lease: this.#lease, streamCount: data.streamCount, maxStreams: data.maxStreams };
      this.#emit('granted', grant);
      return grant;
    } catch (err) {
      if (gen === this.#gen) this.#state = 'idle';
      throw err;
    }
  }

  /**
   * Ends the stream: no heartbeat is sent after this call starts, and the
   * lease is ended on the server (endStream). Resolves with the server's
   * answer, or { removedStream: false, error } when it could not be reached
   * (the lease then expires by itself). Harmless when not playing.
   */
  async stop() {
    const lease = this.#lease;
    const was = this.#state;
    this.#halt();
    if (was === 'starting' || was === 'playing') this.#state = 'stopped';
    if (!lease) return { removedStream: false };
    this.#emit('stopped', { reason: 'stop', lease });
    try {
      const r = await this.#end(lease.uid, lease.leaseId);
      this.#forget(lease.leaseId); // ended, or already not live
      return r;
    } catch (error) {
      // #held keeps the lease: the next start() proves it still holds it.
      return { removedStream: false, error };
    }
  }

  /** The live sessions of account uid (GET /streams/{uid}). */
  async sessions(uid) {
    return this.#call('/streams/' + encodeURIComponent(uid), { method: 'GET' });
  }

  /**
   * Ends another session of account uid by its handle (`session` of a
   * listing or a refusal; never a lease id): "stop watching on that device".
   * Its slot is free at once; its player learns it at its next heartbeat
   * (410 lease_revoked, reason kicked). Rejects with a StreamLimitError
   * (404 session_not_found when no live session has that handle).
   */
  async endSession(uid, session) {
    if (!SESSION_PATTERN.test(String(session))) {
      throw new TypeError('StreamLimitClient.endSession: a session handle is 16 hex digits (the listing\'s `session`)');
    }
    return this.#call('/streams/' + encodeURIComponent(uid) + '/' + session + '/end', { keepalive: true });
  }

  /** Stops heartbeating and removes the pagehide listener (no endStream). */
  dispose() {
    this.#halt();
    this.#pageTarget?.removeEventListener('pagehide', this.#pageHide);
    this.#pageTarget = null;
  }

  // What canStream says of this player: the app's client fields and, unless
  // the app gives client.userAgent, a readable device label (the deviceName
  // option, browser and OS: "Living room TV · Chrome 131 on Windows") in
  // client.userAgent, so listings and refusals show it instead of a raw
  // User-Agent or a device id.
  #describe(client) {
    const { deviceName, ...out } = client ?? {};
    if (!out.userAgent) {
      const label = deviceLabel({ userAgent: globalThis.navigator?.userAgent, name: deviceName ?? this.#o.deviceName });
      if (label) out.userAgent = label;
    }
    for (const k of Object.keys(out)) if (!out[k]) delete out[k];
    return Object.keys(out).length ? out : undefined;
  }

  // --- heartbeats -----------------------------------------------------------

  #scheduleHeartbeat(gen) {
    const delay = heartbeatDelay(this.#lease.heartbeatIntervalSeconds * 1000, this.#o.heartbeatJitter, this.#random());
    this.#timer = setTimeout(() => this.#heartbeat(gen), delay);
  }

  async #heartbeat(gen) {
    this.#timer = null;
    if (gen !== this.#gen) return;
    const lease = this.#lease;
    const ctl = new AbortController();
    this.#inflight = ctl;
    const sentAt = Date.now();
    let data;
    try {
      const timeout = Math.min(this.#o.requestTimeoutMs, lease.heartbeatIntervalSeconds * 1000);
      // The renewal token lets the server answer without a write while the lease has ample time left.
      const query = this.#renewal ? '?renewalToken=' + encodeURIComponent(this.#renewal) : '';
      data = await this.#call('/heartbeat/' + encodeURIComponent(lease.uid) + '/' + lease.leaseId + query, { signal: ctl.signal, timeout });
    } catch (err) {
      if (gen !== this.#gen) return; // stopped meanwhile: say nothing, send nothing
      this.#inflight = null;
      if (err.retryable) return this.#retry(gen, err);
      return this.#revoke(err.code, err.reason, err.message, err.status);
    }
    if (gen !== this.#gen) return;
    this.#inflight = null;
    this.#failures = 0;
    lease.expiresAt = new Date(data.expiresAt);
    if (data.streamCount !== undefined) lease.streamCount = data.streamCount; // heartbeats usually carry none
    this.#renewal = data.renewalToken ?? null;
    lease.heartbeatIntervalSeconds = data.heartbeatIntervalSeconds || lease.heartbeatIntervalSeconds;
    this.#setDeadline(sentAt);
    this.#emit('renewed', { lease, streamCount: data.streamCount });
    this.#scheduleHeartbeat(gen);
  }

  // #retry schedules another heartbeat after a retryable failure, as long as
  // the lease still has time left; otherwise the lease is lost.
  #retry(gen, err) {
    const attempt = ++this.#failures;
    const now = Date.now();
    const lastChance = this.#deadline - this.#o.retryMarginMs;
    const at = Math.min(now + retryDelay(attempt, this.#retryOpts(err)), lastChance);
    if (at - now < this.#o.minRetryMs) {
      return this.#revoke('lease_lost', 'unreachable',
        'The service could not be reached before the lease ran out: ' + err.message, err.status);
    }
    this.#emit('retrying', { attempt, delayMs: at - now, status: err.status, error: err.code, message: err.message });
    this.#timer = setTimeout(() => this.#heartbeat(gen), at - now);
  }

  #retryOpts(err) {
    return { baseMs: this.#o.retryBaseMs, maxMs: this.#retryCap(), random: this.#random(), retryAfterMs: err.retryAfterMs };
  }

  // Retries never wait longer than a heartbeat interval.
  #retryCap() {
    const interval = this.#lease ? this.#lease.heartbeatIntervalSeconds * 1000 : Infinity;
    return Math.min(this.#o.retryMaxMs, interval);
  }

  // The lease's expiry in local time. The server's expiresAt is used unless
  // the clocks disagree so much that it looks already past; then the smallest
  // TTL the service allows (twice the interval, counted from when the request
  // was sent) stands in.
  #setDeadline(sentAt) {
    const floor = sentAt + 2 * this.#lease.heartbeatIntervalSeconds * 1000;
    this.#deadline = Math.max(this.#lease.expiresAt.getTime(), floor);
  }

  #revoke(error, reason, message, status) {
    const lease = this.#lease;
    this.#halt();
    // Known to be over (expired, ended, revoked: superseded by a newer
    // player of this device, kicked, evicted): the next start() is fresh.
    // A lease only given up for lack of answers (lease_lost) stays held.
    if (lease && (error === 'lease_expired' || error === 'lease_revoked')) this.#forget(lease.leaseId);
    this.#state = 'revoked';
    const detail = { error, message, lease };
    if (reason !== undefined) detail.reason = reason;
    if (status) detail.status = status;
    this.#emit('revoked', detail);
  }

  // #halt forgets the lease and stops every timer and request in progress.
  #halt() {
    this.#gen++;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#inflight?.abort();
    this.#inflight = null;
    this.#lease = null;
    this.#renewal = null;
  }

  // #forget drops the held lease if it is still leaseId.
  #forget(leaseId) {
    if (this.#held?.leaseId === leaseId) this.#held = null;
  }

  // --- page lifecycle -------------------------------------------------------

  // A closing (or bfcache-bound) page cannot await a fetch: a keepalive fetch
  // outlives it, and unlike a beacon it carries the Authorization header (the
  // last token the provider gave: a provider's promise would not settle in a
  // page going away). The lease id is also noted in sessionStorage, which
  // survives a reload: the next start() ends it first, and if that end gets
  // no answer, sends the lease id as proof with its canStream (as the device
  // secret is), so the reloaded page takes over a lease the first end did
  // not end instead of needing a second slot. (A late end then ends nothing:
  // a lease taken over lives on under a new id.)
  #onPageHide(event) {
    const lease = this.#lease;
    if (this.#state !== 'playing' || !lease) return;
    const url = this.#url('/endStream/' + encodeURIComponent(lease.uid) + '/' + lease.leaseId);
    this.#halt();
    this.#state = 'stopped';
    try {
      this.#session?.setItem(PENDING_END_KEY, url);
    } catch {
      // storage full or blocked: the keepalive fetch alone has to do
    }
    this.#endKeepalive(url);
    this.#emit('stopped', { reason: 'pagehide', persisted: Boolean(event?.persisted), lease });
  }

  // #endKeepalive sends an endStream that outlives the page, at once (no
  // await before the fetch: the page may be gone at the next task).
  #endKeepalive(url) {
    if (!this.#fetch) return;
    const headers = this.#lastToken ? { Authorization: 'Bearer ' + this.#lastToken } : undefined;
    try {
      this.#fetch(url, { method: 'POST', keepalive: true, headers }).catch(() => {});
    } catch {
      // a keepalive quota exceeded throws at once: the TTL frees the slot
    }
  }

  async #flushPendingEnd() {
    let url = null;
    try {
      url = this.#session?.getItem(PENDING_END_KEY);
      if (url) this.#session.removeItem(PENDING_END_KEY);
    } catch {
      return;
    }
    const prefix = this.#o.baseUrl + '/endStream/';
    if (!url || !url.startsWith(prefix)) return;
    const [uid, leaseId, more] = url.slice(prefix.length).split('/');
    let answered = false;
    try {
      answered = (await this.#send(url, { method: 'POST', timeout: this.#o.requestTimeoutMs })).res.ok;
    } catch {
      // best effort: the pagehide end probably arrived, and the lease expires anyway
    }
    if (answered) {
      if (leaseId) this.#forget(leaseId);
    } else if (uid && LEASE_ID_PATTERN.test(leaseId) && more === undefined && !this.#held) {
      try {
        this.#held = { uid: decodeURIComponent(uid), leaseId };
      } catch {
        // not a URL this client wrote
      }
    }
  }

  // --- HTTP -----------------------------------------------------------------

  #url(path) {
    return this.#o.baseUrl + path;
  }

  #end(uid, leaseId) {
    return this.#call('/endStream/' + encodeURIComponent(uid) + '/' + leaseId, { keepalive: true });
  }

  // #call sends one request and returns the JSON body of a 2xx answer; any
  // other outcome is a StreamLimitError.
  async #call(path, { method = 'POST', body, headers, signal, keepalive, timeout = this.#o.requestTimeoutMs } = {}) {
    const { res, token } = await this.#send(this.#url(path), { method, body, headers, signal, keepalive, timeout });
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (res.ok && data) return data;
    if (res.status === 401 && !token) {
      const why = this.#token ? 'the token option gave none' : 'give the client a token option';
      data = { ...data, message: 'This service requires an access token and none was sent: ' + why + ' (' + (data?.message || 'HTTP 401') + ')' };
    }
    throw new StreamLimitError(data?.message || 'HTTP ' + res.status, {
      status: res.status,
      code: data?.error || 'http_' + res.status,
      reason: data?.reason,
      retryAfterMs: parseRetryAfter(res.headers?.get?.('Retry-After')),
    });
  }

  // #send is #raw with the token provider's token as a Bearer
  // Authorization header; a 401 asks the provider for a fresh token and, if
  // it gives another one, sends once more. Resolves with the answer and the
  // token sent (or null).
  async #send(url, init) {
    let token = await this.#getToken(false);
    let res = await this.#raw(url, { ...init, headers: withBearer(init.headers, token) });
    if (res.status === 401 && this.#token) {
      const fresh = await this.#getToken(true);
      if (fresh && fresh !== token) {
        token = fresh;
        res = await this.#raw(url, { ...init, headers: withBearer(init.headers, token) });
      }
    }
    return { res, token };
  }

  // #getToken asks the provider (if any) for a token; refresh says the last
  // one was refused. A provider that fails is a retryable error (status 0):
  // an identity provider's blip must not stop a playing stream.
  async #getToken(refresh) {
    if (!this.#token) return null;
    let token;
    try {
      token = await this.#token({ refresh });
    } catch (cause) {
      throw new StreamLimitError('The token provider failed: ' + (cause?.message ?? cause), { code: 'token_error', cause });
    }
    if (token !== null && token !== undefined && typeof token !== 'string') {
      throw new StreamLimitError('The token provider gave a ' + typeof token + ', not a string', { code: 'token_error' });
    }
    this.#lastToken = token || null;
    return this.#lastToken;
  }

  async #raw(url, { method, body, headers, signal, keepalive, timeout }) {
    if (!this.#fetch) throw new StreamLimitError('no fetch available');
    const ctl = new AbortController();
    const onAbort = () => ctl.abort();
    signal?.addEventListener('abort', onAbort);
    const timer = setTimeout(() => ctl.abort(), timeout);
    try {
      return await this.#fetch(url, { method, body, headers, keepalive, signal: ctl.signal });
    } catch (cause) {
      const what = ctl.signal.aborted ? 'timed out or aborted' : 'failed';
      throw new StreamLimitError(method + ' ' + url + ' ' + what + ': ' + (cause?.message ?? cause), { cause });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

function withBearer(headers, token) {
  return token ? { ...headers, Authorization: 'Bearer ' + token } : headers;
}

function safeStorage(name) {
  try {
    return globalThis[name] ?? null;
  } catch {
    return null; // access itself throws when storage is blocked
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function abortError() {
  return new DOMException('start() was cancelled by stop()', 'AbortError');
}
