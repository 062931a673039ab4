// Unit tests of the client's timing logic, with Node's fake timers (setTimeout
// and Date) and a scripted fetch: `node --test web/test/`.
import { test, describe, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';

import {
  StreamLimitClient, StreamLimitError, heartbeatDelay, retryDelay, stableDeviceId, stableDeviceSecret,
  DEVICE_ID_KEY, DEVICE_SECRET_KEY, PENDING_END_KEY,
} from '../streamlimit.js';

const BASE = 'http://api.test/dev';
const T0 = Date.UTC(2026, 0, 2, 15, 0, 0);
const LEASE = '3f8a1c2e-7b4d-4e21-9a6f-0c5d8e7b1a23';
const LEASE2 = '9b2e4d6f-1a3c-4e5f-8a7b-6c5d4e3f2a10';

// A scripted API. Each call is recorded with the fake clock's time; the answer
// comes from the first matching override (used once), else the default
// handler of the route.
// With tokens, grants and heartbeats answer a renewalToken (tok-0 for the
// grant, tok-N for the Nth heartbeat) and heartbeats no streamCount, as the
// server does.
function fakeApi({ interval = 30, ttl = 90, tokens = false } = {}) {
  const calls = [];
  let beats = 0;
  const overrides = [];
  const iso = (ms) => new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  // A minimal Response: its json() resolves in microtasks only, so the fake
  // clock can be stepped without macrotask hops.
  const json = (status, body, headers = {}) => ({
    ok: status >= 200 && status < 300, status,
    headers: new Headers({ 'Content-Type': 'application/json', ...headers }),
    json: async () => structuredClone(body),
  });
  const defaults = {
    canStream: () => json(200, {
      result: 'success', uid: 'u', canStream: true, streamCount: 1, maxStreams: 3,
      leaseId: LEASE, expiresAt: iso(Date.now() + ttl * 1000), heartbeatIntervalSeconds: interval,
      ...(tokens ? { renewalToken: 'tok-0' } : {}),
    }),
    heartbeat: () => json(200, {
      result: 'success', uid: 'u', leaseId: LEASE, expiresAt: iso(Date.now() + ttl * 1000),
      heartbeatIntervalSeconds: interval, ...(tokens ? { renewalToken: `tok-${++beats}` } : { streamCount: 1 }),
    }),
    endStream: () => json(200, { result: 'success', uid: 'u', removedStream: true, streamCount: 0 }),
    streams: () => json(200, { result: 'success', uid: 'u', streamCount: 0, maxStreams: 3, streams: [] }),
  };
  const fetch = async (url, init = {}) => {
    const route = new URL(url).pathname.split('/')[2];
    calls.push({ route, url, at: Date.now(), init });
    const i = overrides.findIndex((o) => o.route === route);
    const handler = i >= 0 ? overrides.splice(i, 1)[0].fn : defaults[route];
    return handler(init);
  };
  return {
    fetch, calls, json,
    count: (route) => calls.filter((c) => c.route === route).length,
    times: (route) => calls.filter((c) => c.route === route).map((c) => c.at - T0),
    // once(route, fn): the next call of route is answered by fn (which may throw).
    once(route, fn) { overrides.push({ route, fn }); },
    down(route, n) { for (let k = 0; k < n; k++) this.once(route, () => { throw new TypeError('Failed to fetch'); }); },
  };
}

function memoryStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
    map: m,
  };
}

// Lets pending promise callbacks run: everything the client awaits resolves
// in microtasks (the fake API included).
async function settle(rounds = 50) {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

// Due times of every timer set while the fake clock runs (see beforeEach).
let dues = [];

// Advances the fake clock by ms, stopping at each timer's due time and letting
// promise callbacks run there: work that a timer starts happens at the timer's
// own time, as with a real clock.
async function advance(ms) {
  const target = Date.now() + ms;
  await settle();
  for (;;) {
    const now = Date.now();
    const next = Math.min(target, ...dues.filter((d) => d > now));
    mock.timers.tick(next - now);
    await settle();
    if (next >= target) return;
  }
}

function newClient(api, extra = {}) {
  const page = new EventTarget();
  const client = new StreamLimitClient({
    baseUrl: BASE + '/', fetch: api.fetch, storage: memoryStorage(), sessionStorage: memoryStorage(),
    pageLifecycle: page, random: () => 0, ...extra,
  });
  const events = [];
  for (const type of ['granted', 'refused', 'renewed', 'retrying', 'revoked', 'stopped']) {
    client.on(type, (detail) => events.push({ type, at: Date.now() - T0, detail }));
  }
  return { client, page, events, of: (type) => events.filter((e) => e.type === type) };
}

beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
  dues = [];
  const fake = globalThis.setTimeout; // restored with the real one by reset()
  globalThis.setTimeout = (fn, ms = 0, ...args) => {
    dues.push(Date.now() + Math.max(0, ms));
    return fake(fn, ms, ...args);
  };
});
afterEach(() => mock.timers.reset());

describe('pure timing helpers', () => {
  test('heartbeatDelay is the interval shortened by at most the jitter', () => {
    assert.equal(heartbeatDelay(30000, 0.1, 0), 30000);
    assert.equal(heartbeatDelay(30000, 0.1, 1), 27000);
    for (let i = 0; i <= 100; i++) {
      const d = heartbeatDelay(30000, 0.1, i / 100);
      assert.ok(d >= 27000 && d <= 30000, `delay ${d}`);
    }
  });

  test('retryDelay doubles, caps, jitters and honours Retry-After', () => {
    const o = { baseMs: 500, maxMs: 8000 };
    assert.deepEqual([1, 2, 3, 4, 5, 6, 40].map((a) => retryDelay(a, { ...o, random: 1 })), [500, 1000, 2000, 4000, 8000, 8000, 8000]);
    assert.deepEqual([1, 2, 3].map((a) => retryDelay(a, { ...o, random: 0 })), [250, 500, 1000]);
    assert.equal(retryDelay(1, { ...o, random: 0, retryAfterMs: 3000 }), 3000);
    assert.equal(retryDelay(5, { ...o, random: 1, retryAfterMs: 3000 }), 8000);
  });
});

describe('device id', () => {
  test('is created once and kept in storage', () => {
    const s = memoryStorage();
    const id = stableDeviceId(s);
    assert.match(id, /^web-[0-9a-f]{24}$/);
    assert.equal(s.getItem(DEVICE_ID_KEY), id);
    assert.equal(stableDeviceId(s), id);
    assert.notEqual(stableDeviceId(memoryStorage()), id);
  });

  test('replaces an invalid stored value and survives broken storage', () => {
    const s = memoryStorage();
    s.setItem(DEVICE_ID_KEY, 'not valid!');
    assert.match(stableDeviceId(s), /^web-/);
    const broken = { getItem() { throw new Error('SecurityError'); }, setItem() { throw new Error('x'); } };
    assert.match(stableDeviceId(broken), /^web-[0-9a-f]{24}$/);
  });

  test('is sent with canStream, the same for two clients of one browser', async () => {
    const api = fakeApi();
    const storage = memoryStorage();
    const a = newClient(api, { storage });
    const b = newClient(api, { storage });
    await a.client.start('u');
    await a.client.stop();
    await b.client.start('u');
    const bodies = api.calls.filter((c) => c.route === 'canStream').map((c) => JSON.parse(c.init.body));
    assert.equal(bodies[0].deviceId, a.client.deviceId);
    assert.equal(bodies[1].deviceId, a.client.deviceId);
    // text/plain: a CORS "simple" request, no preflight.
    assert.match(api.calls[0].init.headers['Content-Type'], /^text\/plain/);
  });
});

describe('renewal tokens', () => {
  test('each heartbeat sends back the token of the grant or the heartbeat before it', async () => {
    const api = fakeApi({ tokens: true });
    const { client, of } = newClient(api);
    await client.start('u');
    await advance(90000);
    assert.deepEqual(api.calls.filter((c) => c.route === 'heartbeat').map((c) => c.url), [
      `${BASE}/heartbeat/u/${LEASE}?renewalToken=tok-0`,
      `${BASE}/heartbeat/u/${LEASE}?renewalToken=tok-1`,
      `${BASE}/heartbeat/u/${LEASE}?renewalToken=tok-2`,
    ]);
    // The answers carry no streamCount: the lease keeps the grant's.
    assert.equal(client.lease.streamCount, 1);
    assert.deepEqual(of('renewed').map((e) => e.detail.streamCount), [undefined, undefined, undefined]);
  });

  test('a token is sent URL-encoded; none from the server, none sent', async () => {
    const api = fakeApi({ tokens: true });
    api.once('canStream', () => api.json(200, {
      result: 'success', uid: 'u', canStream: true, streamCount: 1, maxStreams: 3, leaseId: LEASE,
      expiresAt: new Date(Date.now() + 90000).toISOString(), heartbeatIntervalSeconds: 30, renewalToken: 'a+b/c=',
    }));
    api.once('heartbeat', () => api.json(200, {
      result: 'success', uid: 'u', leaseId: LEASE, expiresAt: new Date(Date.now() + 90000).toISOString(), heartbeatIntervalSeconds: 30,
    }));
    const { client } = newClient(api);
    await client.start('u');
    await advance(60000);
    assert.deepEqual(api.calls.filter((c) => c.route === 'heartbeat').map((c) => c.url), [
      `${BASE}/heartbeat/u/${LEASE}?renewalToken=a%2Bb%2Fc%3D`,
      `${BASE}/heartbeat/u/${LEASE}`,
    ]);
  });

  test('a new start drops the old lease\'s token', async () => {
    const api = fakeApi({ tokens: true });
    const { client } = newClient(api);
    await client.start('u');
    await advance(30000); // sends tok-0, gets tok-1
    await client.stop();
    api.once('canStream', () => api.json(200, {
      result: 'success', uid: 'u', canStream: true, streamCount: 1, maxStreams: 3, leaseId: LEASE2,
      expiresAt: new Date(Date.now() + 90000).toISOString(), heartbeatIntervalSeconds: 30,
    }));
    await client.start('u');
    await advance(30000);
    assert.equal(api.calls.filter((c) => c.route === 'heartbeat').at(-1).url, `${BASE}/heartbeat/u/${LEASE2}`);
  });
});

describe('heartbeats', () => {
  test('follow the server interval exactly with no jitter', async () => {
    const api = fakeApi({ interval: 30 });
    const { client, of } = newClient(api);
    const r = await client.start('u', { client: { title: 'Film' } });
    assert.equal(r.granted, true);
    assert.equal(r.lease.leaseId, LEASE);
    assert.equal(client.state, 'playing');
    await advance(29950);
    assert.equal(api.count('heartbeat'), 0, 'no heartbeat before the interval');
    await advance(100);
    assert.deepEqual(api.times('heartbeat'), [30000]);
    await advance(60000);
    assert.deepEqual(api.times('heartbeat'), [30000, 60000, 90000]);
    assert.equal(of('renewed').length, 3);
    assert.equal(client.lease.expiresAt.getTime(), T0 + 90000 + 90000);
  });

  test('come early by at most the jitter, never late', async () => {
    const api = fakeApi({ interval: 30 });
    const { client } = newClient(api, { random: () => 1 });
    await client.start('u');
    await advance(26950);
    assert.equal(api.count('heartbeat'), 0);
    await advance(100);
    assert.deepEqual(api.times('heartbeat'), [27000]);
  });

  test('a refusal lists the sessions and schedules nothing', async () => {
    const api = fakeApi();
    const streams = [{ session: '0123456789abcdef', deviceId: 'tv', client: {}, createdAt: 'x', renewedAt: 'x', expiresAt: 'x' }];
    api.once('canStream', () => api.json(200, { result: 'success', uid: 'u', canStream: false, streamCount: 1, maxStreams: 1, streams }));
    const { client, of } = newClient(api);
    const r = await client.start('u');
    assert.deepEqual(r, { granted: false, streamCount: 1, maxStreams: 1, streams });
    assert.equal(client.state, 'refused');
    assert.equal(of('refused').length, 1);
    await advance(120000);
    assert.equal(api.calls.length, 1);
  });
});

describe('retries', () => {
  test('network errors back off exponentially, then the interval resumes', async () => {
    const api = fakeApi({ interval: 30, ttl: 90 });
    const { client, of } = newClient(api);
    await client.start('u');
    api.down('heartbeat', 3);
    await advance(30000 + 250 + 500 + 1000 + 10);
    // random 0 → half of 500, 1000, 2000 ms
    assert.deepEqual(api.times('heartbeat'), [30000, 30250, 30750, 31750]);
    assert.deepEqual(of('retrying').map((e) => [e.detail.attempt, e.detail.delayMs, e.detail.status]), [[1, 250, 0], [2, 500, 0], [3, 1000, 0]]);
    assert.equal(client.state, 'playing');
    assert.equal(of('renewed').length, 1);
    await advance(30000);
    assert.deepEqual(api.times('heartbeat').slice(4), [61750], 'back on the interval after a success');
  });

  test('a 503 waits at least its Retry-After', async () => {
    const api = fakeApi({ interval: 30 });
    const { client } = newClient(api);
    await client.start('u');
    api.once('heartbeat', () => api.json(503, { result: 'error', error: 'store_unavailable', message: 'm' }, { 'Retry-After': '3' }));
    await advance(32950);
    assert.deepEqual(api.times('heartbeat'), [30000]);
    await advance(100);
    assert.deepEqual(api.times('heartbeat'), [30000, 33000]);
    assert.equal(client.state, 'playing');
  });

  test('retries never wait longer than the interval', async () => {
    const api = fakeApi({ interval: 2, ttl: 60 });
    const { client, of } = newClient(api, { random: () => 1 });
    await client.start('u');
    api.down('heartbeat', 8);
    await advance(30000);
    const delays = of('retrying').map((e) => e.detail.delayMs);
    assert.ok(delays.length >= 8, `${delays}`);
    assert.ok(delays.every((d) => d <= 2000), `${delays}`);
    assert.equal(client.state, 'playing');
  });

  test('stop while the lease has no time left: lease_lost, then silence', async () => {
    const api = fakeApi({ interval: 30, ttl: 90 });
    const { client, of } = newClient(api, { random: () => 1 });
    await client.start('u'); // expires at T0 + 90 s
    api.down('heartbeat', 1000);
    await advance(120000);
    const hb = api.times('heartbeat');
    assert.ok(hb.every((t) => t <= 90000 - 500), `a heartbeat was tried after the last chance: ${hb}`);
    assert.equal(hb.at(-1), 89500, 'the last try is retryMarginMs before expiry');
    const revoked = of('revoked');
    assert.equal(revoked.length, 1);
    assert.equal(revoked[0].detail.error, 'lease_lost');
    assert.ok(revoked[0].at >= 89500 && revoked[0].at < 90000, `revoked at ${revoked[0].at}`);
    assert.equal(client.state, 'revoked');
    assert.equal(client.lease, null);
    const n = api.calls.length;
    await advance(120000);
    assert.equal(api.calls.length, n);
  });

  test('a client clock far ahead still retries for twice the interval', async () => {
    const api = fakeApi({ interval: 30, ttl: 90 });
    // The server's expiresAt is already past by the client's clock.
    api.once('canStream', () => api.json(200, {
      result: 'success', uid: 'u', canStream: true, streamCount: 1, maxStreams: 3, leaseId: LEASE,
      expiresAt: '2026-01-02T14:00:00Z', heartbeatIntervalSeconds: 30,
    }));
    const { client, of } = newClient(api);
    await client.start('u');
    api.down('heartbeat', 1);
    await advance(31000);
    assert.equal(of('retrying').length, 1);
    assert.equal(api.count('heartbeat'), 2);
    assert.equal(client.state, 'playing');
  });
});

describe('the end of a lease', () => {
  for (const [error, reason] of [['lease_expired', undefined], ['lease_revoked', 'kicked']]) {
    test(`410 ${error} emits revoked and stops heartbeating`, async () => {
      const api = fakeApi({ interval: 30 });
      const { client, of } = newClient(api);
      await client.start('u');
      api.once('heartbeat', () => api.json(410, { result: 'error', error, message: 'gone', ...(reason ? { reason } : {}) }));
      await advance(30050);
      const revoked = of('revoked');
      assert.equal(revoked.length, 1);
      assert.equal(revoked[0].detail.error, error);
      assert.equal(revoked[0].detail.reason, reason);
      assert.equal(revoked[0].detail.status, 410);
      assert.equal(client.state, 'revoked');
      await advance(300000);
      assert.equal(api.count('heartbeat'), 1);
      assert.equal(api.count('endStream'), 0);
    });
  }

  test('stop() ends the lease and no heartbeat follows', async () => {
    const api = fakeApi({ interval: 30 });
    const { client, of } = newClient(api);
    await client.start('u');
    await advance(45000);
    const r = await client.stop();
    assert.equal(r.removedStream, true);
    assert.equal(api.count('endStream'), 1);
    assert.equal(api.calls.at(-1).url, `${BASE}/endStream/u/${LEASE}`);
    assert.equal(client.state, 'stopped');
    assert.equal(of('stopped')[0].detail.reason, 'stop');
    await advance(300000);
    assert.equal(api.count('heartbeat'), 1);
  });

  test('a heartbeat answered after stop() is ignored', async () => {
    const api = fakeApi({ interval: 30 });
    const { client, of } = newClient(api);
    await client.start('u');
    let answer;
    api.once('heartbeat', () => new Promise((resolve) => { answer = resolve; }));
    await advance(30050);
    assert.equal(typeof answer, 'function', 'the heartbeat is in flight');
    await client.stop();
    answer(api.json(200, { result: 'success', uid: 'u', leaseId: LEASE, expiresAt: '2026-01-02T15:03:00Z', heartbeatIntervalSeconds: 30, streamCount: 1 }));
    await advance(300000);
    assert.equal(api.count('heartbeat'), 1);
    assert.equal(of('renewed').length, 0);
    assert.equal(client.state, 'stopped');
  });

  test('a heartbeat aborted by stop() is not retried', async () => {
    const api = fakeApi({ interval: 30 });
    const { client, of } = newClient(api);
    await client.start('u');
    // This fetch, like a browser's, rejects when its signal aborts.
    api.once('heartbeat', (init) => new Promise((_, reject) => {
      init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
    }));
    await advance(30050);
    await client.stop();
    await advance(300000);
    assert.equal(api.count('heartbeat'), 1);
    assert.deepEqual(of('retrying'), []);
    assert.deepEqual(of('revoked'), []);
    assert.equal(client.state, 'stopped');
  });

  test('stop() during start() gives the granted slot back', async () => {
    const api = fakeApi();
    let answer;
    api.once('canStream', (init) => new Promise((resolve) => { answer = () => resolve(fakeApi().fetch(BASE + '/canStream/u', init)); }));
    const { client } = newClient(api);
    const started = client.start('u');
    await settle();
    await client.stop();
    answer();
    await assert.rejects(started, { name: 'AbortError' });
    await settle();
    assert.equal(api.count('endStream'), 1);
    assert.equal(client.state, 'stopped');
    await advance(100000);
    assert.equal(api.count('heartbeat'), 0);
  });

  test('start() retries canStream on network errors, then gives up', async () => {
    const api = fakeApi();
    api.down('canStream', 2);
    const { client } = newClient(api);
    const started = client.start('u');
    await advance(1000);
    assert.equal((await started).granted, true);
    assert.deepEqual(api.times('canStream'), [0, 250, 750]);

    const api2 = fakeApi();
    api2.down('canStream', 3);
    const c2 = newClient(api2).client;
    const failed = assert.rejects(c2.start('u'), (err) => err instanceof StreamLimitError && err.status === 0 && err.retryable);
    await advance(1000);
    await failed;
    assert.equal(api2.count('canStream'), 3);
    assert.equal(c2.state, 'idle');
  });

  test('start() after a 503 overloaded waits its Retry-After and sends the same body again', async () => {
    const api = fakeApi();
    // The server had no room: nothing was read or written. The retry is the
    // same request (device id and secret), so if an earlier attempt's write
    // had committed it would be taken over, not doubled.
    api.once('canStream', () => api.json(503, { result: 'error', error: 'overloaded', message: 'm' }, { 'Retry-After': '2' }));
    api.once('canStream', () => api.json(503, { result: 'error', error: 'store_throttled', message: 'm' }, { 'Retry-After': '3' }));
    const { client } = newClient(api);
    const started = client.start('u', { client: { title: 'Film' } });
    await advance(6000);
    assert.equal((await started).granted, true);
    assert.deepEqual(api.times('canStream'), [0, 2000, 5000], 'each retry no sooner than its Retry-After');
    const [first, ...retries] = bodiesOf(api);
    for (const r of retries) assert.deepEqual(r, first, 'the same body, proof included');
  });

  test('start() does not retry a 400', async () => {
    const api = fakeApi();
    api.once('canStream', () => api.json(400, { result: 'error', error: 'invalid_uid', message: 'bad uid' }));
    const { client } = newClient(api);
    await assert.rejects(client.start('bad!'), { code: 'invalid_uid', status: 400 });
    assert.equal(api.count('canStream'), 1);
  });
});

describe('pagehide', () => {
  test('ends the lease with a keepalive fetch sent at once, notes the lease and stops heartbeating', async () => {
    const api = fakeApi({ interval: 30 });
    const session = memoryStorage();
    const { client, page, of } = newClient(api, { sessionStorage: session });
    await client.start('u');
    await advance(10000);
    page.dispatchEvent(new Event('pagehide'));
    // Sent within the event's own task: nothing awaited before the fetch.
    const end = api.calls.filter((c) => c.route === 'endStream');
    assert.deepEqual(end.map((c) => [c.url, c.at - T0, c.init.method, c.init.keepalive]),
      [[`${BASE}/endStream/u/${LEASE}`, 10000, 'POST', true]]);
    assert.equal(end[0].init.headers, undefined, 'no token provider: a simple request, no preflight');
    assert.equal(session.getItem(PENDING_END_KEY), `${BASE}/endStream/u/${LEASE}`);
    assert.equal(client.state, 'stopped');
    assert.equal(of('stopped')[0].detail.reason, 'pagehide');
    await advance(300000);
    assert.equal(api.count('heartbeat'), 0);
    assert.equal(api.count('endStream'), 1);
  });

  test('a keepalive fetch that throws at once (quota) is swallowed', async () => {
    const api = fakeApi();
    let sync = true;
    const fetch = (url, init) => {
      if (sync && init.keepalive && url.includes('/endStream/')) throw new TypeError('keepalive quota exceeded');
      return api.fetch(url, init);
    };
    const { client, page, of } = newClient(api, { fetch });
    await client.start('u');
    page.dispatchEvent(new Event('pagehide'));
    sync = false;
    assert.equal(of('stopped').length, 1);
    assert.equal(client.state, 'stopped');
  });

  test('does nothing when not playing', async () => {
    const api = fakeApi();
    const { page } = newClient(api);
    page.dispatchEvent(new Event('pagehide'));
    await settle();
    assert.equal(api.calls.length, 0);
  });

  test('after a reload, start() ends the noted lease before canStream', async () => {
    const api = fakeApi();
    const session = memoryStorage();
    const storage = memoryStorage();
    const before = newClient(api, { sessionStorage: session, storage });
    await before.client.start('u');
    before.page.dispatchEvent(new Event('pagehide'));
    // The reloaded page: same storages, new client.
    const after = newClient(api, { sessionStorage: session, storage });
    await after.client.start('u');
    // The pagehide end, then the reloaded page's own end of the noted lease.
    assert.deepEqual(api.calls.map((c) => c.route), ['canStream', 'endStream', 'endStream', 'canStream']);
    assert.equal(api.calls[1].url, api.calls[2].url);
    assert.equal(session.getItem(PENDING_END_KEY), null);
    assert.equal(after.client.deviceId, before.client.deviceId);
  });
});

// A grant as the server answers a canStream that proved it held a live lease:
// the same session under a new lease id.
function resumedGrant(api, leaseId = LEASE2, { interval = 30, ttl = 90 } = {}) {
  return () => api.json(200, {
    result: 'success', uid: 'u', canStream: true, resumed: true, streamCount: 1, maxStreams: 3, leaseId,
    expiresAt: new Date(Math.ceil((Date.now() + ttl * 1000) / 1000) * 1000).toISOString(), heartbeatIntervalSeconds: interval,
  });
}

const bodiesOf = (api) => api.calls.filter((c) => c.route === 'canStream').map((c) => JSON.parse(c.init.body));
const failFetch = () => { throw new TypeError('Failed to fetch'); };

describe('device secret (proof of possession)', () => {
  test('is created once, base64url of at least 16 random bytes, and kept in storage', () => {
    const s = memoryStorage();
    const secret = stableDeviceSecret(s);
    assert.match(secret, /^[A-Za-z0-9_-]{22,128}$/, 'at least 16 bytes of base64url, no padding');
    assert.equal(Buffer.from(secret, 'base64url').length >= 16, true);
    assert.equal(s.getItem(DEVICE_SECRET_KEY), secret);
    assert.equal(stableDeviceSecret(s), secret);
    assert.notEqual(stableDeviceSecret(memoryStorage()), secret);
    s.setItem(DEVICE_SECRET_KEY, 'short');
    assert.notEqual(stableDeviceSecret(s), 'short', 'an invalid stored value is replaced');
    const broken = { getItem() { throw new Error('SecurityError'); }, setItem() { throw new Error('x'); } };
    assert.match(stableDeviceSecret(broken), /^[A-Za-z0-9_-]{22,128}$/);
  });

  test('is kept beside the device id and sent in the body of every canStream, the same each time', async () => {
    const api = fakeApi();
    const storage = memoryStorage();
    const a = newClient(api, { storage });
    await a.client.start('u');
    await a.client.stop();
    api.down('canStream', 1);
    const again = a.client.start('u');
    await advance(1000);
    await again;
    await a.client.stop();
    const b = newClient(api, { storage }); // another client (tab, reload) of the same browser
    await b.client.start('u');
    const secret = storage.getItem(DEVICE_SECRET_KEY);
    assert.match(secret, /^[A-Za-z0-9_-]{32}$/);
    assert.equal(storage.getItem(DEVICE_ID_KEY), a.client.deviceId);
    const bodies = bodiesOf(api);
    assert.equal(bodies.length, 4);
    for (const body of bodies) {
      assert.equal(body.deviceSecret, secret);
      assert.equal(body.deviceId, a.client.deviceId);
    }
    assert.equal('deviceSecret' in a.client, false, 'not exposed on the client');
  });

  test('never appears in a URL, a header, a keepalive end or sessionStorage', async () => {
    const api = fakeApi({ interval: 30 });
    const storage = memoryStorage();
    const session = memoryStorage();
    const { client, page } = newClient(api, { storage, sessionStorage: session });
    await client.start('u', { client: { title: 'Film' } });
    api.down('heartbeat', 1);
    await advance(61000); // heartbeats, a retry
    await client.sessions('u');
    api.down('endStream', 1);
    await client.stop(); // endStream fails
    await client.start('u');
    page.dispatchEvent(new Event('pagehide'));
    const after = newClient(api, { storage, sessionStorage: session }); // reload
    api.down('endStream', 1);
    await after.client.start('u');
    await settle();
    const secret = storage.getItem(DEVICE_SECRET_KEY);
    assert.ok(secret);
    const routes = new Set(api.calls.map((c) => c.route));
    assert.deepEqual([...routes].sort(), ['canStream', 'endStream', 'heartbeat', 'streams']);
    for (const c of api.calls) {
      assert.ok(!c.url.includes(secret), `secret in ${c.url}`);
      assert.ok(!JSON.stringify(c.init.headers ?? {}).includes(secret), `secret in a header of ${c.url}`);
      if (c.route !== 'canStream') assert.ok(!String(c.init.body ?? '').includes(secret), `secret in the body of ${c.url}`);
      assert.equal(new URL(c.url).search, '', `a query string: ${c.url}`);
    }
    for (const [k, v] of session.map) assert.ok(!v.includes(secret), `secret in sessionStorage ${k}`);
  });

  test('a fixed deviceSecret option is used and validated', async () => {
    assert.throws(() => new StreamLimitClient({ baseUrl: BASE, deviceSecret: 'too-short' }), TypeError);
    assert.throws(() => new StreamLimitClient({ baseUrl: BASE, deviceSecret: 'has spaces in it, no good' }), TypeError);
    const api = fakeApi();
    const storage = memoryStorage();
    const { client } = newClient(api, { storage, deviceSecret: 'fixed-secret_0123456789' });
    await client.start('u');
    assert.equal(bodiesOf(api)[0].deviceSecret, 'fixed-secret_0123456789');
    assert.equal(storage.getItem(DEVICE_SECRET_KEY), null, 'a fixed secret is not stored');
  });
});

describe('resumed leases', () => {
  test('the new leaseId of a resumed grant is adopted: heartbeats and the end use it', async () => {
    const api = fakeApi({ interval: 30 });
    api.once('canStream', resumedGrant(api));
    const { client, of } = newClient(api);
    const r = await client.start('u');
    assert.equal(r.granted, true);
    assert.equal(r.lease.leaseId, LEASE2);
    assert.equal(r.lease.resumed, true);
    assert.equal(of('granted')[0].detail.lease.resumed, true);
    await advance(60050);
    assert.deepEqual(api.calls.filter((c) => c.route === 'heartbeat').map((c) => c.url),
      [`${BASE}/heartbeat/u/${LEASE2}`, `${BASE}/heartbeat/u/${LEASE2}`]);
    await client.stop();
    assert.equal(api.calls.at(-1).url, `${BASE}/endStream/u/${LEASE2}`);
  });

  test('a retried canStream after a lost answer sends the proof, and adopts the taken-over lease', async () => {
    const api = fakeApi({ interval: 30 });
    // The first canStream reaches the server (a grant, LEASE) but its answer is
    // lost; the retry proves the device holds that lease and takes it over.
    api.once('canStream', failFetch);
    api.once('canStream', resumedGrant(api, LEASE2));
    const { client } = newClient(api);
    const started = client.start('u', { client: { title: 'Film' } });
    await advance(1000);
    const r = await started;
    const [first, retry] = bodiesOf(api);
    assert.deepEqual(retry, first, 'the same body, proof included');
    assert.match(retry.deviceSecret, /^[A-Za-z0-9_-]{32}$/);
    assert.equal(retry.deviceId, client.deviceId);
    assert.equal(r.lease.leaseId, LEASE2);
    assert.equal(r.lease.resumed, true);
    await advance(30000);
    assert.equal(api.calls.filter((c) => c.route === 'heartbeat').at(-1).url, `${BASE}/heartbeat/u/${LEASE2}`);
  });

  test('start() after a stop() whose end did not land sends the lease id it held', async () => {
    const api = fakeApi({ interval: 30 });
    const { client } = newClient(api);
    await client.start('u');
    api.down('endStream', 1);
    const ended = await client.stop();
    assert.equal(ended.removedStream, false);
    api.once('canStream', resumedGrant(api, LEASE2));
    const r = await client.start('u');
    const bodies = bodiesOf(api);
    assert.equal(bodies[0].leaseId, undefined, 'nothing held at first');
    assert.equal(bodies[1].leaseId, LEASE);
    assert.equal(r.lease.leaseId, LEASE2);
    // After an end that landed, there is nothing to prove.
    await client.stop();
    await client.start('u');
    assert.equal(bodiesOf(api)[2].leaseId, undefined);
  });

  test('start() after a lease lost to the network sends the lease id it held', async () => {
    const api = fakeApi({ interval: 30, ttl: 90 });
    const { client, of } = newClient(api);
    await client.start('u');
    api.down('heartbeat', 1000);
    await advance(91000);
    assert.equal(of('revoked')[0].detail.error, 'lease_lost');
    api.once('canStream', resumedGrant(api, LEASE2));
    await client.start('u');
    assert.equal(bodiesOf(api)[1].leaseId, LEASE);
  });

  test('a lease id held for another account is not sent', async () => {
    const api = fakeApi();
    const { client } = newClient(api);
    await client.start('u');
    api.down('endStream', 1);
    await client.stop();
    await client.start('v');
    assert.equal(bodiesOf(api)[1].leaseId, undefined);
  });

  test('410 superseded on a heartbeat stops the player with the reason; the next start() sends no lease id', async () => {
    const api = fakeApi({ interval: 30 });
    const { client, of } = newClient(api);
    await client.start('u');
    api.once('heartbeat', () => api.json(410, {
      result: 'error', error: 'lease_revoked', reason: 'superseded', message: 'The lease was ended by … a newer stream',
    }));
    await advance(30050);
    const revoked = of('revoked');
    assert.equal(revoked.length, 1);
    assert.equal(revoked[0].detail.error, 'lease_revoked');
    assert.equal(revoked[0].detail.reason, 'superseded');
    assert.equal(revoked[0].detail.status, 410);
    assert.equal(revoked[0].detail.lease.leaseId, LEASE);
    assert.equal(client.state, 'revoked');
    assert.equal(client.lease, null);
    await advance(300000);
    assert.equal(api.count('heartbeat'), 1, 'no heartbeat after the revocation');
    assert.equal(api.count('endStream'), 0, 'nothing to end: the stream lives on elsewhere');
    await client.start('u');
    const body = bodiesOf(api)[1];
    assert.equal(body.leaseId, undefined, 'the superseded id is not sent again');
    assert.ok(body.deviceSecret, 'the secret is: the stream may be taken back');
  });

  test('410 lease_revoked on canStream rejects start() with the reason, once', async () => {
    const api = fakeApi();
    const { client } = newClient(api);
    await client.start('u');
    api.down('endStream', 1);
    await client.stop();
    api.once('canStream', () => api.json(410, { result: 'error', error: 'lease_revoked', reason: 'kicked', message: 'gone' }));
    await assert.rejects(client.start('u'), (err) => err instanceof StreamLimitError
      && err.status === 410 && err.code === 'lease_revoked' && err.reason === 'kicked' && !err.retryable);
    assert.equal(client.state, 'idle');
    assert.equal(api.count('canStream'), 2, 'not retried');
    const r = await client.start('u');
    assert.equal(r.granted, true);
    assert.deepEqual(bodiesOf(api).map((b) => b.leaseId), [undefined, LEASE, undefined]);
  });

  test('after a reload whose pending end failed, canStream carries the noted lease id', async () => {
    const api = fakeApi();
    const session = memoryStorage();
    const storage = memoryStorage();
    const before = newClient(api, { sessionStorage: session, storage });
    await before.client.start('u');
    before.page.dispatchEvent(new Event('pagehide'));
    const after = newClient(api, { sessionStorage: session, storage });
    api.down('endStream', 1);
    api.once('canStream', resumedGrant(api, LEASE2));
    const r = await after.client.start('u');
    assert.deepEqual(api.calls.map((c) => c.route), ['canStream', 'endStream', 'endStream', 'canStream']);
    const [first, second] = bodiesOf(api);
    assert.equal(second.leaseId, LEASE);
    assert.equal(second.deviceSecret, first.deviceSecret);
    assert.equal(r.lease.leaseId, LEASE2);
    assert.equal(r.lease.resumed, true);
  });

  test('after a reload whose pending end landed, canStream carries no lease id', async () => {
    const api = fakeApi();
    const session = memoryStorage();
    const storage = memoryStorage();
    const before = newClient(api, { sessionStorage: session, storage });
    await before.client.start('u');
    before.page.dispatchEvent(new Event('pagehide'));
    const after = newClient(api, { sessionStorage: session, storage });
    await after.client.start('u');
    assert.equal(bodiesOf(api)[1].leaseId, undefined);
    assert.equal(bodiesOf(api)[1].deviceSecret, bodiesOf(api)[0].deviceSecret);
  });
});

describe('token provider (identity on)', () => {
  // A fake API that requires "Bearer <valid>" and answers 401 otherwise.
  function guarded(api, valid) {
    return async (url, init = {}) => {
      if (init.headers?.Authorization !== 'Bearer ' + valid()) {
        api.calls.push({ route: 'denied', url, at: Date.now(), init });
        return api.json(401, { result: 'error', error: 'unauthorized', message: 'A valid credential is required.' }, { 'WWW-Authenticate': 'Bearer' });
      }
      return api.fetch(url, init);
    };
  }
  const auth = (c) => c.init.headers?.Authorization;

  test('is asked before each request and its token sent as a Bearer header', async () => {
    const api = fakeApi({ interval: 30 });
    const asked = [];
    let n = 0;
    const token = async ({ refresh }) => { asked.push({ refresh, at: Date.now() - T0 }); return 'tok' + ++n; };
    const { client } = newClient(api, { token });
    await client.start('u');
    await advance(30000);
    await client.sessions('u');
    await client.stop();
    assert.deepEqual(api.calls.map((c) => [c.route, auth(c)]),
      [['canStream', 'Bearer tok1'], ['heartbeat', 'Bearer tok2'], ['streams', 'Bearer tok3'], ['endStream', 'Bearer tok4']]);
    assert.deepEqual(asked.map((a) => a.refresh), [false, false, false, false]);
    assert.equal(asked[1].at, 30000, 'asked when the heartbeat is sent, not before');
    // The token does not change the body: still text/plain, no preflight beyond the header's own.
    assert.match(api.calls[0].init.headers['Content-Type'], /^text\/plain/);
  });

  test('a 401 asks for a fresh token once and sends again', async () => {
    const api = fakeApi({ interval: 30 });
    let current = 'old';
    const asked = [];
    const token = async ({ refresh }) => {
      asked.push(refresh);
      if (refresh) current = 'new';
      return current;
    };
    const { client, of } = newClient(api, { token, fetch: guarded(api, () => 'new') });
    const r = await client.start('u');
    assert.equal(r.granted, true);
    assert.deepEqual(asked, [false, true]);
    assert.deepEqual(api.calls.map((c) => [c.route, auth(c)]), [['denied', 'Bearer old'], ['canStream', 'Bearer new']]);
    await advance(30000);
    assert.equal(api.count('heartbeat'), 1);
    assert.equal(of('renewed').length, 1);
  });

  test('a second 401 is not retried again: start() rejects with unauthorized', async () => {
    const api = fakeApi();
    let asked = 0;
    const { client } = newClient(api, { token: async () => 'expired' + ++asked, fetch: guarded(api, () => 'valid') });
    await assert.rejects(client.start('u'), (err) => err instanceof StreamLimitError
      && err.status === 401 && err.code === 'unauthorized' && !err.retryable && /valid credential/.test(err.message));
    assert.equal(asked, 2);
    assert.equal(api.count('denied'), 2);
    assert.equal(client.state, 'idle');
  });

  test('a refresh that gives the same token, or none, is not sent again', async () => {
    const api = fakeApi();
    for (const token of [async () => 'same', async ({ refresh }) => (refresh ? null : 'old')]) {
      api.calls.length = 0;
      const { client } = newClient(api, { token, fetch: guarded(api, () => 'valid') });
      await assert.rejects(client.start('u'), (err) => err.code === 'unauthorized');
      assert.equal(api.count('denied'), 1);
    }
  });

  test('a 401 on a heartbeat after a failed refresh stops the player (revoked, unauthorized)', async () => {
    const api = fakeApi({ interval: 30 });
    let valid = 'a';
    const { client, of } = newClient(api, { token: async () => 'a', fetch: guarded(api, () => valid) });
    await client.start('u');
    valid = 'b'; // the identity provider moved on; this app's provider did not
    await advance(30000);
    assert.equal(api.count('denied'), 1, 'the refresh gave the same token: not sent again');
    assert.equal(of('revoked')[0].detail.error, 'unauthorized');
    assert.equal(of('revoked')[0].detail.status, 401);
    await advance(300000);
    assert.equal(api.count('denied'), 1, 'then silence');
  });

  test('no token at all: a clear message naming the token option', async () => {
    const api = fakeApi();
    const { client } = newClient(api, { fetch: guarded(api, () => 'valid') });
    await assert.rejects(client.start('u'), (err) => err.code === 'unauthorized' && err.status === 401
      && /requires an access token and none was sent: give the client a token option/.test(err.message));
    assert.equal(api.count('denied'), 1, 'no provider, nothing to refresh');
    const withNull = newClient(api, { token: async () => null, fetch: guarded(api, () => 'valid') });
    await assert.rejects(withNull.client.start('u'), (err) => /none was sent: the token option gave none/.test(err.message));
    assert.equal(api.count('denied'), 2, 'a provider with no token: one request, not two');
  });

  test('a failing provider is a retryable error: start() retries it, a heartbeat backs off', async () => {
    const api = fakeApi({ interval: 30 });
    let fail = 1;
    const token = async () => {
      if (fail-- > 0) throw new Error('IdP unreachable');
      return 'tok';
    };
    const { client, of } = newClient(api, { token });
    const started = client.start('u');
    await advance(1000);
    assert.equal((await started).granted, true);
    assert.equal(api.count('canStream'), 1, 'the failed attempt sent nothing');
    fail = 1;
    await advance(30000);
    const retry = of('retrying');
    assert.equal(retry.length, 1);
    assert.equal(retry[0].detail.error, 'token_error');
    await advance(1000);
    assert.equal(of('renewed').length, 1, 'renewed once the provider answers');
    assert.equal(client.state, 'playing');
  });

  test('rejects a token option that is not a function, and a provider answering a non-string', async () => {
    assert.throws(() => new StreamLimitClient({ baseUrl: BASE, token: 'abc' }), /token must be a function/);
    const api = fakeApi();
    const { client } = newClient(api, { token: async () => 42, startAttempts: 1 });
    await assert.rejects(client.start('u'), (err) => err.code === 'token_error' && /number/.test(err.message));
  });

  test('pagehide ends the lease at once with the last token, not awaiting the provider', async () => {
    const api = fakeApi({ interval: 30 });
    let n = 0;
    let slow = false;
    const token = () => (slow ? new Promise(() => {}) : Promise.resolve('tok' + ++n));
    const { client, page } = newClient(api, { token });
    await client.start('u');
    await advance(30000); // the heartbeat got tok2
    slow = true; // a provider that would not answer in a closing page
    page.dispatchEvent(new Event('pagehide'));
    const end = api.calls.at(-1);
    assert.equal(end.route, 'endStream');
    assert.equal(end.init.keepalive, true);
    assert.deepEqual(end.init.headers, { Authorization: 'Bearer tok2' });
  });

  test('the reloaded page ends the noted lease with a token too', async () => {
    const api = fakeApi();
    const session = memoryStorage();
    const storage = memoryStorage();
    const before = newClient(api, { sessionStorage: session, storage, token: async () => 'tok' });
    await before.client.start('u');
    before.page.dispatchEvent(new Event('pagehide'));
    const after = newClient(api, { sessionStorage: session, storage, token: async () => 'tok' });
    await after.client.start('u');
    assert.deepEqual(api.calls.map((c) => [c.route, auth(c)]),
      [['canStream', 'Bearer tok'], ['endStream', 'Bearer tok'], ['endStream', 'Bearer tok'], ['canStream', 'Bearer tok']]);
  });
});

describe('stopping another device', () => {
  test('endSession ends a session by its handle; the listing and the refusal carry handles', async () => {
    const api = fakeApi();
    api.once('streams', () => api.json(200, { result: 'success', uid: 'u', session: '2ffe19b86c7e6cc6', removedStream: true, streamCount: 2 }));
    const { client } = newClient(api, { token: async () => 'tok' });
    const r = await client.endSession('u', '2ffe19b86c7e6cc6');
    assert.equal(r.removedStream, true);
    const call = api.calls[0];
    assert.equal(call.url, `${BASE}/streams/u/2ffe19b86c7e6cc6/end`);
    assert.equal(call.init.method, 'POST');
    assert.equal(call.init.headers.Authorization, 'Bearer tok');
  });

  test('endSession refuses anything but a handle (never a lease id) and sends nothing', async () => {
    const api = fakeApi();
    const { client } = newClient(api);
    for (const bad of [LEASE, '2ffe19b8', '../end', '', undefined]) {
      await assert.rejects(client.endSession('u', bad), TypeError);
    }
    assert.equal(api.calls.length, 0);
  });

  test('an unknown handle rejects with session_not_found', async () => {
    const api = fakeApi();
    api.once('streams', () => api.json(404, { result: 'error', error: 'session_not_found', message: 'No live session.' }));
    const { client } = newClient(api);
    await assert.rejects(client.endSession('u', '0123456789abcdef'), (err) => err.status === 404 && err.code === 'session_not_found');
  });
});

describe('device labels', () => {
  const CHROME_LINUX = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
  const withAgent = async (ua, fn) => {
    const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: { userAgent: ua }, configurable: true });
    try {
      await fn();
    } finally {
      if (had) Object.defineProperty(globalThis, 'navigator', had);
      else delete globalThis.navigator;
    }
  };

  test('canStream carries a readable label (device name, browser, OS) as client.userAgent', async () => {
    await withAgent(CHROME_LINUX, async () => {
      const api = fakeApi();
      const { client } = newClient(api, { deviceName: 'Living room TV' });
      await client.start('u', { client: { title: 'Film' } });
      await client.stop();
      await client.start('u', { client: { deviceName: 'Kitchen' } }); // per start
      await client.stop();
      await client.start('u', { client: { userAgent: 'MyTVApp/2.1' } }); // the app's own
      assert.deepEqual(bodiesOf(api).map((b) => b.client), [
        { title: 'Film', userAgent: 'Living room TV · Chrome 131 on Linux' },
        { userAgent: 'Kitchen · Chrome 131 on Linux' },
        { userAgent: 'MyTVApp/2.1' },
      ]);
    });
  });

  test('without a User-Agent or a name, no client is sent (the server keeps its header fallback)', async () => {
    await withAgent(undefined, async () => {
      const api = fakeApi();
      const { client } = newClient(api);
      await client.start('u');
      assert.equal('client' in bodiesOf(api)[0], false);
    });
  });
});
