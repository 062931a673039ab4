// Unit tests of attach() (attach.js) and its player adapters: the real
// client against a small in-memory streamlimit service, a fake media element
// and page, Node's fake timers. `node --test web/test/`.
import { test, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';

import { attach } from '../attach.js';
import { attachHls } from '../hlsjs.js';
import { attachShaka } from '../shaka.js';
import { registerStreamLimit } from '../videojs.js';

const BASE = 'http://api.test/dev';
const T0 = Date.UTC(2026, 0, 2, 15, 0, 0);
const INTERVAL = 30;
const TTL = 90;

// The service: one account limit, leases by id, sessions by handle; kick()
// ends a session as another device would; down makes every request fail.
function service({ max = 1 } = {}) {
  let seq = 0;
  const leases = new Map(); // leaseId → { session, deviceId, expiresAt }
  const revoked = new Map(); // leaseId → reason
  const log = [];
  const live = () => [...leases.values()].filter((l) => l.expiresAt > Date.now());
  const answer = (status, body) => ({ ok: status < 300, status, headers: new Headers(), json: async () => body });
  const grant = (l) => answer(200, {
    result: 'success', canStream: true, leaseId: l.id, streamCount: live().length, maxStreams: max,
    expiresAt: new Date(l.expiresAt).toISOString(), heartbeatIntervalSeconds: INTERVAL,
  });
  const svc = {
    log, leases, down: false,
    async fetch(url, init = {}) {
      const [, , route, , id] = new URL(url).pathname.split('/'); // /dev/{route}/{uid}/{leaseId or session}
      log.push({ route, at: Date.now() - T0, body: init.body ? JSON.parse(init.body) : undefined });
      if (svc.down) throw new TypeError('Failed to fetch');
      if (route === 'canStream') {
        const body = JSON.parse(init.body);
        const held = body.leaseId && leases.get(body.leaseId);
        if (held && held.expiresAt > Date.now()) { // taken over: same session, new id
          leases.delete(held.id);
          revoked.set(held.id, 'superseded');
          const l = { ...held, id: 'lease-' + ++seq, expiresAt: Date.now() + TTL * 1000 };
          leases.set(l.id, l);
          return grant(l);
        }
        if (live().length >= max) {
          return answer(200, { result: 'success', canStream: false, streamCount: live().length, maxStreams: max,
            streams: live().map((l) => ({ session: l.session, deviceId: l.deviceId, client: l.client, createdAt: new Date(T0).toISOString() })) });
        }
        const l = { id: 'lease-' + ++seq, session: String(seq).padStart(16, '0'), deviceId: body.deviceId, client: body.client ?? {}, expiresAt: Date.now() + TTL * 1000 };
        leases.set(l.id, l);
        return grant(l);
      }
      if (route === 'heartbeat') {
        const l = leases.get(id);
        if (!l || l.expiresAt <= Date.now()) {
          const reason = revoked.get(id);
          return answer(410, { result: 'error', error: reason ? 'lease_revoked' : 'lease_expired', message: 'gone', ...(reason ? { reason } : {}) });
        }
        l.expiresAt = Date.now() + TTL * 1000;
        return answer(200, { result: 'success', leaseId: l.id, expiresAt: new Date(l.expiresAt).toISOString(), heartbeatIntervalSeconds: INTERVAL, streamCount: live().length });
      }
      if (route === 'endStream') return answer(200, { result: 'success', removedStream: leases.delete(id), streamCount: live().length });
      if (route === 'streams') { // POST /streams/{uid}/{session}/end
        const l = live().find((x) => x.session === id);
        if (!l) return answer(404, { result: 'error', error: 'session_not_found', message: 'none' });
        svc.kick(l.id);
        return answer(200, { result: 'success', session: id, removedStream: true, streamCount: live().length });
      }
      return answer(404, { result: 'error', error: 'not_found', message: route });
    },
    kick(leaseId) {
      leases.delete(leaseId);
      revoked.set(leaseId, 'kicked');
    },
    count: (route) => log.filter((c) => c.route === route).length,
  };
  return svc;
}

// A <video> as attach sees it: play() and pause() change `paused` and fire
// their events as tasks do (after the caller's code), as in a browser.
class FakeMedia extends EventTarget {
  paused = true;
  ended = false;
  plays = 0; // calls of the element's own play()
  play() {
    this.plays++;
    if (this.paused) {
      this.paused = false;
      queueMicrotask(() => this.dispatchEvent(new Event('play')));
    }
    return Promise.resolve();
  }
  pause() {
    if (!this.paused) {
      this.paused = true;
      queueMicrotask(() => this.dispatchEvent(new Event('pause')));
    }
  }
  // What native controls or autoplay do: play without calling play().
  nativePlay() {
    this.paused = false;
    this.dispatchEvent(new Event('play'));
  }
}

class FakeDocument extends EventTarget {
  hidden = false;
  setHidden(hidden) {
    this.hidden = hidden;
    this.dispatchEvent(new Event('visibilitychange'));
  }
}

async function settle(rounds = 50) {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

async function advance(ms, step = 1000) {
  await settle();
  for (let left = ms; left > 0; left -= step) {
    mock.timers.tick(Math.min(step, left));
    await settle();
  }
}

let page;
function setup({ max = 1, ...options } = {}) {
  const svc = service({ max });
  const media = new FakeMedia();
  const doc = new FakeDocument();
  const win = new EventTarget();
  const stream = attach(media, {
    uid: 'u', title: 'Film', ui: false, document: doc, window: win,
    clientOptions: { baseUrl: BASE, fetch: (u, i) => svc.fetch(u, i), storage: null, sessionStorage: null, pageLifecycle: page, random: () => 0 },
    ...options,
  });
  const events = [];
  for (const type of ['acquiring', 'granted', 'refused', 'revoked', 'released', 'error']) stream.on(type, (d) => events.push({ type, d }));
  return { svc, media, doc, win, stream, events, of: (t) => events.filter((e) => e.type === t) };
}

beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
  page = new EventTarget();
});
afterEach(() => mock.timers.reset());

test('play() asks for the slot before the element plays; granted, it plays and heartbeats', async () => {
  const { svc, media, stream } = setup();
  const played = media.play();
  assert.equal(media.plays, 0, 'nothing plays before the answer');
  await played;
  assert.equal(media.plays, 1);
  assert.equal(media.paused, false);
  assert.equal(stream.state, 'playing');
  assert.deepEqual(svc.log.map((c) => c.route), ['canStream']);
  assert.equal(svc.log[0].body.client.title, 'Film');
  await advance(65000);
  assert.equal(svc.count('heartbeat'), 2);
  await media.play(); // already playing: no second canStream
  assert.equal(svc.count('canStream'), 1);
});

test('a play that went around play() (native controls, autoplay) is paused until granted', async () => {
  const { svc, media, stream } = setup();
  media.nativePlay();
  assert.equal(media.paused, true, 'paused at once');
  await settle();
  assert.equal(svc.count('canStream'), 1);
  assert.equal(media.paused, false, 'playing once granted');
  assert.equal(stream.state, 'playing');
});

test('refused: play() rejects with an AbortError, the element stays paused, the sessions are told', async () => {
  const { svc, media, stream, of } = setup();
  await setupOn(svc).media.play(); // another device takes the slot
  await assert.rejects(media.play(), (err) => err.name === 'AbortError');
  assert.equal(media.paused, true);
  assert.equal(media.plays, 0);
  assert.equal(stream.state, 'refused');
  assert.equal(of('refused')[0].d.streams.length, 1);
});

// Another player of the service's account (another device).
function setupOn(svc, media = new FakeMedia()) {
  const stream = attach(media, {
    uid: 'u', ui: false, document: null, window: null,
    clientOptions: { baseUrl: BASE, fetch: (u, i) => svc.fetch(u, i), storage: null, sessionStorage: null, pageLifecycle: null, random: () => 0 },
  });
  return { media, stream };
}

test('stopSession ends the other device by its handle, then this one starts with one canStream', async () => {
  const { svc, media, stream } = setup();
  const tv = setupOn(svc);
  await tv.media.play();
  const refused = [];
  stream.on('refused', (r) => refused.push(r));
  await media.play().catch(() => {});
  const handle = refused[0].streams[0].session;
  const before = svc.log.length;
  assert.equal(await stream.stopSession(handle), true);
  assert.deepEqual(svc.log.slice(before).map((c) => c.route), ['streams', 'canStream']);
  assert.equal(media.paused, false);
  assert.equal(stream.state, 'playing');
  // The TV learns it at its next heartbeat: paused, with the reason.
  const revoked = [];
  tv.stream.on('revoked', (d) => revoked.push(d));
  await advance(INTERVAL * 1000);
  assert.equal(revoked[0].error, 'lease_revoked');
  assert.equal(revoked[0].reason, 'kicked');
  assert.equal(tv.media.paused, true);
  assert.equal(tv.stream.state, 'revoked');
  await assert.rejects(stream.stopSession(tv.stream.client.lease?.leaseId ?? 'lease-1'), TypeError, 'a handle, never a lease id');
});

test('410 on a heartbeat pauses, halts loading and tells why; play again resumes loading', async () => {
  let halts = 0;
  let resumes = 0;
  const { svc, media, stream, of } = setup({ max: 2, halt: () => halts++, resume: () => resumes++ });
  await media.play();
  svc.kick([...svc.leases.keys()][0]);
  await advance(INTERVAL * 1000);
  assert.equal(media.paused, true);
  assert.equal(halts, 1);
  assert.equal(of('revoked')[0].d.reason, 'kicked');
  assert.equal(stream.state, 'revoked');
  await media.play();
  assert.equal(resumes, 1);
  assert.equal(stream.state, 'playing');
  assert.equal(media.paused, false);
});

test('paused: the lease is kept for pausedReleaseMs, then given back; play asks again', async () => {
  const { svc, media, stream, of } = setup({ pausedReleaseMs: 120000 });
  await media.play();
  media.pause();
  await advance(119000);
  assert.equal(stream.state, 'playing', 'still held');
  assert.equal(svc.count('endStream'), 0);
  assert.ok(svc.count('heartbeat') >= 3, 'heartbeats go on while paused');
  await advance(1000);
  assert.equal(svc.count('endStream'), 1);
  assert.equal(stream.state, 'released');
  assert.equal(of('released')[0].d.reason, 'paused');
  await advance(300000);
  assert.equal(svc.count('heartbeat'), 3, 'no heartbeat after the release');
  await media.play();
  assert.equal(svc.count('canStream'), 2);
  assert.equal(stream.state, 'playing');
});

test('a pause shorter than pausedReleaseMs keeps the lease; play again sends no canStream', async () => {
  const { svc, media } = setup({ pausedReleaseMs: 120000 });
  await media.play();
  media.pause();
  await advance(60000);
  await media.play();
  await advance(120000);
  assert.equal(svc.count('endStream'), 0);
  assert.equal(svc.count('canStream'), 1);
});

test('paused and hidden: hiddenPausedReleaseMs counts from the pause; playing and hidden keeps heartbeating', async () => {
  const { svc, media, doc, stream } = setup({ pausedReleaseMs: Infinity, hiddenPausedReleaseMs: 60000 });
  await media.play();
  doc.setHidden(true);
  await advance(200000);
  assert.equal(stream.state, 'playing', 'a stream playing in a hidden page keeps its lease');
  assert.equal(svc.count('endStream'), 0);
  doc.setHidden(false);
  media.pause();
  await advance(45000);
  assert.equal(stream.state, 'playing', 'visible, Infinity: held');
  doc.setHidden(true); // 45 s into the pause: 15 s left
  await advance(14000);
  assert.equal(svc.count('endStream'), 0);
  await advance(1000);
  assert.equal(svc.count('endStream'), 1);
  assert.equal(stream.state, 'released');
});

test('ended gives the slot back at once', async () => {
  const { svc, media, stream, of } = setup();
  await media.play();
  media.ended = true;
  media.paused = true;
  media.dispatchEvent(new Event('pause'));
  media.dispatchEvent(new Event('ended'));
  await settle();
  assert.equal(svc.count('endStream'), 1);
  assert.equal(of('released')[0].d.reason, 'ended');
  assert.equal(stream.state, 'released');
});

test('a network blip: playback goes on with the same lease, heartbeats resume', async () => {
  const { svc, media, stream, of } = setup();
  await media.play();
  const leaseId = stream.client.lease.leaseId;
  svc.down = true;
  await advance(INTERVAL * 1000 + 20000);
  assert.equal(media.paused, false);
  assert.equal(stream.state, 'playing');
  svc.down = false;
  await advance(40000);
  assert.equal(stream.client.lease.leaseId, leaseId);
  assert.equal(of('revoked').length, 0);
});

test('a lease lost to a long outage stops playback; back online, the same session is taken over', async () => {
  const { svc, media, win, stream, of } = setup();
  await media.play();
  const session = [...svc.leases.values()][0].session;
  const leaseId = stream.client.lease.leaseId;
  svc.down = true;
  await advance(TTL * 1000);
  assert.equal(of('revoked')[0].d.error, 'lease_lost');
  assert.equal(media.paused, true);
  svc.down = false;
  // The service kept the lease alive a little longer than the client could
  // tell (its last heartbeat answer was lost): the proof takes it over.
  [...svc.leases.values()][0].expiresAt = Date.now() + 10000;
  win.dispatchEvent(new Event('online'));
  await settle();
  const body = svc.log.filter((c) => c.route === 'canStream').at(-1).body;
  assert.equal(body.leaseId, leaseId, 'the lost lease is sent as proof');
  assert.equal(stream.state, 'playing');
  assert.equal(media.paused, false);
  assert.equal([...svc.leases.values()][0].session, session, 'the same session, no second slot');
  assert.equal(svc.leases.size, 1);
});

test('pagehide: the client ends the lease and the video pauses; back from the bfcache it asks again and plays on', async () => {
  const { svc, media, win, stream } = setup();
  await media.play();
  page.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: true }));
  assert.equal(svc.count('endStream'), 1, 'ended with a keepalive fetch, at once');
  assert.equal(media.paused, true, 'no playing without a lease');
  assert.equal(stream.state, 'released');
  await settle();
  win.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }));
  await settle();
  assert.equal(svc.count('canStream'), 2);
  assert.equal(stream.state, 'playing');
  assert.equal(media.paused, false);
  // A page that was paused when hidden stays paused.
  media.pause();
  await settle();
  page.dispatchEvent(Object.assign(new Event('pagehide'), { persisted: true }));
  win.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }));
  await settle();
  assert.equal(svc.count('canStream'), 2);
  assert.equal(media.paused, true);
});

test('detach restores play(), ends the lease and stops listening', async () => {
  const { svc, media, stream } = setup();
  const own = media.play;
  assert.notEqual(Object.getOwnPropertyDescriptor(media, 'play'), undefined);
  await media.play();
  await stream.detach();
  assert.equal(svc.count('endStream'), 1);
  assert.equal(Object.getOwnPropertyDescriptor(media, 'play'), undefined, 'the wrapper is gone');
  assert.notEqual(media.play, own);
  media.nativePlay();
  await settle();
  assert.equal(svc.count('canStream'), 1, 'no longer gated');

  // A play() of the element's own (someone else's wrapper) is put back as it was.
  const other = new FakeMedia();
  const theirs = () => Promise.resolve('theirs');
  other.play = theirs;
  const s2 = setupOn(svc, other);
  await s2.stream.detach();
  assert.equal(other.play, theirs);
});

test('adapters: hls.js stops and starts loading; Shaka and video.js find their element', async () => {
  const media = new FakeMedia();
  const calls = [];
  const hls = { media, stopLoad: () => calls.push('stopLoad'), startLoad: () => calls.push('startLoad') };
  const common = { uid: 'u', ui: false, document: null, window: null, clientOptions: { baseUrl: BASE, fetch: () => new Promise(() => {}), pageLifecycle: null, storage: null } };
  const h = attachHls(hls, common);
  assert.equal(h.media, media);
  assert.throws(() => attachHls({}, common), /attachMedia/);
  const s = attachShaka({ getMediaElement: () => media }, common);
  assert.equal(s.media, media);
  assert.throws(() => attachShaka({ getMediaElement: () => null }, common), /player.attach/);

  const plugins = {};
  const disposers = [];
  const videojs = {
    registerPlugin: (name, fn) => { plugins[name] = fn; return fn; },
    getPlugin: (name) => plugins[name],
  };
  registerStreamLimit(videojs);
  const player = {
    tech: () => ({ el: () => media }), el: () => ({}),
    on: (type, fn) => type === 'dispose' && disposers.push(fn),
  };
  const v = plugins.streamlimit.call(player, common);
  assert.equal(v.media, media);
  assert.equal(registerStreamLimit(videojs), plugins.streamlimit, 'registered once');
  assert.equal(disposers.length, 1, 'detached when the player is disposed');
});
