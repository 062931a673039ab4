// End-to-end tests of the browser client and the demo page (a real <video>
// driven by attach()): Debian's Chromium (playwright-core) against the real
// local server (cmd/local) and DynamoDB Local, all started here. The refusal,
// "stop another device" and a closed page are tested for every player in
// players.test.mjs. Run by `make web-test`:
//   node --test --test-concurrency=1 web/e2e/
// Screenshots of the states of the demo page go to test-output/e2e/.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import { Stack, outDir, sleep, waitFor } from './harness.mjs';

// Short leases so expiry can be watched: a lease lives TTL seconds after its
// last renewal; players renew every INTERVAL seconds.
const TTL = 8;
const INTERVAL = 2;
const MAX = 3;
// Heartbeats are answered from the renewal token while this much is left.
const RENEW_BELOW = 5;

const stack = new Stack({ name: 'demo', ttl: TTL, interval: INTERVAL, renewBelow: RENEW_BELOW, max: MAX });
let server;
before(async () => {
  await stack.start();
  server = stack.server;
});
after(() => stack.stop());
afterEach(() => stack.closeContexts());
const newUid = (name) => stack.newUid(name);

// openPlayer opens the demo page in a browser context of its own, so each
// player has its own localStorage and so its own deviceId.
async function openPlayer(uid, title) {
  const ctx = await stack.context();
  const page = await ctx.newPage();
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(err.message));
  await page.goto(`${server.api}/?uid=${encodeURIComponent(uid)}&title=${encodeURIComponent(title)}&device=${encodeURIComponent(title)}`);
  await page.waitForFunction(() => window.streamlimitDemo);
  page.deviceId = await page.evaluate(() => window.streamlimitDemo.client.deviceId);
  return { ctx, page };
}

const stateOf = (page) => page.evaluate(() => document.body.dataset.state);

// play clicks a play button (the overlay's "Try again": RETRY) and waits for
// the decision.
const RETRY = '[data-streamlimit-retry]';
async function play(page, button = '#play') {
  await page.click(button);
  await page.waitForSelector('body[data-state="playing"], body[data-state="refused"]', { timeout: 20000 });
  return stateOf(page);
}

// The demo's <video>: its clock, and whether it is paused.
const video = (page) => page.evaluate(() => ({ t: window.streamlimitDemo.video.currentTime, paused: window.streamlimitDemo.video.paused }));

async function shot(page, name) {
  await page.screenshot({ path: path.join(outDir, `${name}.png`) });
}

async function threePlaying(uid) {
  const players = [];
  for (const title of ['Film A', 'Film B', 'Film C']) {
    const p = await openPlayer(uid, title);
    assert.equal(await play(p.page), 'playing', `${title} should play`);
    players.push(p);
  }
  return players;
}

const devices = (listing) => listing.streams.map((s) => s.deviceId).sort();

test('the demo page before play: a real video, the device label, the live sessions', { timeout: 60000 }, async () => {
  const uid = newUid('idle');
  const { page } = await openPlayer(uid, 'Film A');
  assert.equal(await stateOf(page), 'idle');
  assert.match(await page.textContent('#device'), /^Film A · Chrome \d+ on Linux$/);
  await page.waitForFunction(() => window.streamlimitDemo.video.readyState >= 1, null, { timeout: 10000 });
  assert.equal(await page.evaluate(() => Math.round(window.streamlimitDemo.video.duration)), 12, 'the test card: 12 s, looped');
  const v = await video(page);
  assert.ok(v.paused && v.t < 0.1, `nothing played before the press of play: ${JSON.stringify(v)}`); // (the MP4's first frame is at 0.062 s)
  await shot(page, 'idle');
  assert.deepEqual(page.errors, []);
});

test('a crashed page frees its slot only after the lease TTL, never before', { timeout: 120000 }, async () => {
  const uid = newUid('crash');
  const players = await threePlaying(uid);
  const fourth = await openPlayer(uid, 'Film D');
  assert.equal(await play(fourth.page), 'refused');
  const crashed = players[0];
  const ends = () => server.requests().filter((r) => r.operation === 'endStream').length;
  const endsBefore = ends();

  const cdp = await crashed.ctx.newCDPSession(crashed.page);
  const crashEvent = new Promise((resolve) => crashed.page.once('crash', resolve));
  const tCrash = Date.now();
  // The renderer dies: no pagehide, no beacon. (Page.crash never answers.)
  cdp.send('Page.crash').catch(() => {});
  await crashEvent;
  await crashed.ctx.close(); // and its context goes, without any unload
  stack.forget(crashed.ctx);

  // Until the fourth page gets the slot: watch the listing and ask again
  // (the refusal screen's "Try again") about twice a second.
  let expiry = 0; // the crashed lease's expiresAt, as last listed
  let renewed = 0; // and its renewedAt (its last heartbeat, whole seconds)
  const seen = []; // [time, crashed lease listed?]
  let grantedAt = 0;
  while (!grantedAt) {
    assert.ok(Date.now() - tCrash < (TTL + 15) * 1000, 'the slot was never freed');
    const listing = await server.sessions(uid);
    const t = Date.now();
    const s = listing.streams.find((x) => x.deviceId === crashed.page.deviceId);
    if (s) {
      expiry = Math.max(expiry, Date.parse(s.expiresAt));
      renewed = Math.max(renewed, Date.parse(s.renewedAt));
    }
    seen.push([t, Boolean(s)]);
    if (await play(fourth.page, RETRY) === 'playing') grantedAt = Date.now();
    else await sleep(300);
  }
  assert.ok(expiry > 0, 'the crashed lease was listed after the crash');
  // Never before: the lease was listed at every look before its expiresAt,
  // and the fourth page was granted only after it (one clock: same machine).
  for (const [t, listed] of seen) {
    if (t < expiry) assert.ok(listed, `the crashed lease was gone at ${t - tCrash} ms, before its expiry at ${expiry - tCrash} ms`);
  }
  assert.ok(grantedAt >= expiry, `granted ${expiry - grantedAt} ms before the crashed lease expired`);
  // ...which is a whole TTL after its last heartbeat.
  assert.ok(grantedAt >= renewed + TTL * 1000, `granted ${grantedAt - renewed} ms after the last heartbeat`);
  // The watch went on close to the expiry (each look takes a request and a
  // click: up to seconds on a busy machine), so "never before" was tested.
  assert.ok(seen.some(([t, listed]) => listed && t >= expiry - 4000), 'the crashed lease was not watched close to its expiry');
  assert.equal(ends(), endsBefore, 'an endStream reached the server: the crash was not a crash');
  console.log(`crashed lease expired ${expiry - tCrash} ms after the crash; fourth page granted ${grantedAt - expiry} ms later`);
  await shot(fourth.page, 'playing-after-crash');
});

test('reloading a playing page keeps streamCount unchanged (same deviceId)', { timeout: 120000 }, async () => {
  const uid = newUid('reload');
  const players = await threePlaying(uid);
  const page = players[0].page;
  const before = await server.sessions(uid);
  assert.equal(before.streamCount, 3);

  await page.reload();
  await page.waitForSelector('body[data-state="playing"]', { timeout: 20000 }); // the demo resumes a playing page
  assert.equal(await page.evaluate(() => window.streamlimitDemo.client.deviceId), page.deviceId, 'the deviceId survives the reload');
  const after = await server.sessions(uid);
  assert.equal(after.streamCount, 3);
  assert.deepEqual(devices(after), devices(before));
  await waitFor('the reloaded page to show 3 of 3', async () => (await page.textContent('#usage')) === `streams in use: 3 of ${MAX}`);
  // The other two play on, unaffected.
  for (const p of players.slice(1)) assert.equal(await stateOf(p.page), 'playing');
  await sleep(INTERVAL * 1000 + 500);
  assert.equal((await server.sessions(uid)).streamCount, 3);
  await shot(page, 'reloaded');

  // Again, with every endStream of the page lost (the pagehide end and the
  // reloaded page's own end of it): the old lease stays live, the account is
  // at its limit, and only the proof in the reloaded page's canStream body
  // (device secret, and the lease id noted on pagehide) keeps its slot.
  // Keepalive requests sent while a page unloads escape page routes, so the
  // page is first reloaded with a fetch that loses them (a lost end).
  await players[0].ctx.addInitScript(() => {
    const real = window.fetch;
    window.fetch = (url, init) => (init?.keepalive && String(url).includes('/endStream/')
      ? Promise.reject(new TypeError('lost'))
      : real(url, init));
  });
  await page.reload();
  await page.waitForSelector('body[data-state="playing"]', { timeout: 20000 });
  const oldLease = await page.evaluate(() => window.streamlimitDemo.client.lease.leaseId);
  const secret = await page.evaluate(() => localStorage.getItem('streamlimit.deviceSecret'));
  assert.match(secret, /^[A-Za-z0-9_-]{32}$/);
  assert.equal((await server.sessions(uid)).streamCount, 3);
  const lost = [];
  await players[0].ctx.route('**/endStream/**', (route) => {
    lost.push(route.request().url());
    return route.abort('connectionfailed');
  });
  const sent = [];
  page.on('request', (r) => sent.push({ url: r.url(), body: r.postData() }));
  await page.reload();
  await page.waitForSelector('body[data-state="playing"], body[data-state="refused"]', { timeout: 20000 });
  assert.equal(await stateOf(page), 'playing', 'the reloaded page lost its slot');
  await players[0].ctx.unroute('**/endStream/**');
  assert.deepEqual(lost, [`${server.api}/endStream/${uid}/${oldLease}`], 'the reloaded page ends the old lease first');
  const lease = await page.evaluate(() => window.streamlimitDemo.client.lease);
  assert.equal(lease.resumed, true, 'the live lease was taken over');
  assert.notEqual(lease.leaseId, oldLease, 'under a new lease id');
  const canStream = sent.filter((r) => r.url.includes('/canStream/'));
  assert.equal(canStream.length, 1);
  assert.equal(JSON.parse(canStream[0].body).deviceSecret, secret, 'the secret is in the body');
  for (const r of sent) assert.ok(!r.url.includes(secret), `the secret in a URL: ${r.url}`);
  assert.equal((await server.sessions(uid)).streamCount, 3);
  // The old id is a tombstone now: its heartbeat is told why.
  const late = await server.json(`/heartbeat/${uid}/${oldLease}`, { method: 'POST' });
  assert.equal(late.status, 410);
  assert.equal(late.body.error, 'lease_revoked');
  assert.equal(late.body.reason, 'superseded');
  for (const p of players.slice(1)) assert.equal(await stateOf(p.page), 'playing');
  const renewals = Number(await page.evaluate(() => document.body.dataset.renewals ?? 0));
  await page.waitForFunction((n) => Number(document.body.dataset.renewals ?? 0) > n, renewals, { timeout: (INTERVAL + 5) * 1000 });
  assert.equal((await server.sessions(uid)).streamCount, 3);
  for (const p of players) assert.deepEqual(p.page.errors, []);
});

test('a borrowed deviceId without its secret gets no slot at the limit and takes no stream over', { timeout: 120000 }, async () => {
  const uid = newUid('borrow');
  const players = await threePlaying(uid);
  const owner = players[0].page;
  const ownerLease = await owner.evaluate(() => window.streamlimitDemo.client.lease.leaseId);
  const ownerStore = await owner.evaluate(() => ({
    deviceId: localStorage.getItem('streamlimit.deviceId'),
    secret: localStorage.getItem('streamlimit.deviceSecret'),
  }));
  assert.equal(ownerStore.deviceId, owner.deviceId);
  assert.match(ownerStore.secret, /^[A-Za-z0-9_-]{32}$/);

  // Someone else's browser (a context of its own) given only the owner's
  // device id: the label shows up, the proof does not.
  const ctx = await stack.context();
  await ctx.addInitScript((deviceId) => {
    try {
      if (location.pathname.endsWith('/dev/') && !localStorage.getItem('streamlimit.deviceId')) {
        localStorage.setItem('streamlimit.deviceId', deviceId);
      }
    } catch {
      // about:blank: no storage
    }
  }, ownerStore.deviceId);
  const page = await ctx.newPage();
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(err.message));
  const sent = [];
  page.on('request', (r) => sent.push({ url: r.url(), body: r.postData() }));
  await page.goto(`${server.api}/?uid=${encodeURIComponent(uid)}&title=Borrowed`);
  await page.waitForFunction(() => window.streamlimitDemo);
  assert.equal(await page.evaluate(() => window.streamlimitDemo.client.deviceId), ownerStore.deviceId, 'the borrowed device id is used');

  assert.equal(await play(page), 'refused', 'a borrowed device id got a slot at the limit');
  await shot(page, 'borrowed-device-refused');
  const borrowerSecret = await page.evaluate(() => localStorage.getItem('streamlimit.deviceSecret'));
  assert.match(borrowerSecret, /^[A-Za-z0-9_-]{32}$/, 'the borrower made a secret of its own');
  const bodies = sent.filter((r) => r.url.includes('/canStream/')).map((r) => JSON.parse(r.body));
  assert.equal(bodies.length, 1);
  assert.equal(bodies[0].deviceId, ownerStore.deviceId);
  assert.match(bodies[0].deviceSecret, /^[A-Za-z0-9_-]{32}$/);
  assert.notEqual(bodies[0].deviceSecret, ownerStore.secret);
  assert.equal(bodies[0].deviceSecret, borrowerSecret);
  assert.equal(bodies[0].leaseId, undefined);
  for (const r of sent) assert.ok(!r.url.includes(borrowerSecret), `the secret in a URL: ${r.url}`);

  // The owner plays on with the same lease: it was neither taken over nor revoked.
  const renewals = Number(await owner.evaluate(() => document.body.dataset.renewals ?? 0));
  await owner.waitForFunction((n) => Number(document.body.dataset.renewals ?? 0) > n, renewals, { timeout: (INTERVAL + 5) * 1000 });
  assert.equal(await stateOf(owner), 'playing');
  assert.equal(await owner.evaluate(() => window.streamlimitDemo.client.lease?.leaseId), ownerLease);
  const listing = await server.sessions(uid);
  assert.equal(listing.streamCount, 3);
  assert.deepEqual(devices(listing), players.map((p) => p.page.deviceId).sort());

  // Below the limit the borrowed id is a stream of its own, not the owner's.
  await players[2].page.click('#stop');
  await players[2].page.waitForSelector('body[data-state="stopped"]');
  assert.equal(await play(page, RETRY), 'playing');
  const taken = await page.evaluate(() => window.streamlimitDemo.client.lease);
  assert.equal(taken.resumed, false, 'the borrower took the owner\'s lease over');
  assert.notEqual(taken.leaseId, ownerLease);
  assert.equal((await server.sessions(uid)).streamCount, 3);
  await sleep(INTERVAL * 1000 + 500);
  assert.equal(await stateOf(owner), 'playing');
  assert.equal(await owner.evaluate(() => window.streamlimitDemo.client.lease?.leaseId), ownerLease);
  const both = (await server.sessions(uid)).streams.filter((x) => x.deviceId === ownerStore.deviceId);
  assert.equal(both.length, 2, 'the owner and the borrower: two sessions, one label');
  for (const p of [page, ...players.map((x) => x.page)]) assert.deepEqual(p.errors, []);
});

test('the server down for a few seconds does not stop a playing page; heartbeats resume', { timeout: 120000 }, async () => {
  const uid = newUid('outage');
  const { page } = await openPlayer(uid, 'Film A');
  assert.equal(await play(page), 'playing');
  // Record every state the page goes through from now on.
  await page.evaluate(() => {
    window.seenStates = [];
    new MutationObserver(() => window.seenStates.push(document.body.dataset.state))
      .observe(document.body, { attributes: true, attributeFilter: ['data-state'] });
  });
  await page.waitForSelector('#heartbeat[data-status="ok"]', { timeout: 10000 });
  const leaseId = await page.evaluate(() => window.streamlimitDemo.client.lease.leaseId);

  await server.stop();
  const downAt = Date.now();
  await page.waitForSelector('#heartbeat[data-status="retrying"]', { timeout: (INTERVAL + 5) * 1000 });
  await shot(page, 'reconnecting');
  await sleep(Math.max(0, 3000 - (Date.now() - downAt)));
  const renewals = Number(await page.evaluate(() => document.body.dataset.renewals));
  await server.start();
  console.log(`server down for ${Date.now() - downAt} ms`);

  await page.waitForFunction((n) => Number(document.body.dataset.renewals) > n + 1, renewals, { timeout: (INTERVAL * 3 + 5) * 1000 });
  assert.equal(await page.getAttribute('#heartbeat', 'data-status'), 'ok');
  assert.equal(await page.evaluate(() => window.streamlimitDemo.client.lease?.leaseId), leaseId, 'the same lease, renewed');
  assert.deepEqual(await page.evaluate(() => window.seenStates.filter((s) => s !== 'playing')), [], 'the page left the playing state');
  assert.equal((await video(page)).paused, false, 'the video played through the outage');
  assert.equal((await server.sessions(uid)).streamCount, 1);
});

test('stop ends the lease and no heartbeat follows; an ended lease stops its player', { timeout: 120000 }, async () => {
  const uid = newUid('stop');
  const a = await openPlayer(uid, 'Film A');
  const b = await openPlayer(uid, 'Film B');
  assert.equal(await play(a.page), 'playing');
  assert.equal(await play(b.page), 'playing');

  const requests = [];
  a.page.on('request', (r) => requests.push({ url: r.url(), at: Date.now() }));
  await a.page.click('#stop');
  await a.page.waitForSelector('body[data-state="stopped"]');
  const endAt = requests.find((r) => r.url.includes('/endStream/'))?.at;
  assert.ok(endAt, 'stop sent endStream');
  assert.equal((await server.sessions(uid)).streamCount, 1);
  await sleep(INTERVAL * 2500);
  const late = requests.filter((r) => r.url.includes('/heartbeat/') && r.at >= endAt);
  assert.deepEqual(late, [], 'heartbeats after stop');
  await shot(a.page, 'stopped');

  // Ending b's lease from elsewhere: b's next heartbeat gets 410 and b stops.
  const leaseId = await b.page.evaluate(() => window.streamlimitDemo.client.lease.leaseId);
  const end = await server.json(`/endStream/${uid}/${leaseId}`, { method: 'POST' });
  assert.equal(end.body.removedStream, true);
  await b.page.waitForSelector('body[data-state="revoked"]', { timeout: (stack.noticeSeconds() + 3) * 1000 });
  assert.match(await b.page.textContent('.streamlimit-reason'), /The stream has ended/);
  assert.equal(await b.page.getAttribute('.streamlimit-reason', 'data-streamlimit-reason'), 'lease_expired');
  assert.equal((await video(b.page)).paused, true, 'the video stops with its lease');
  assert.equal(await b.page.getAttribute('#heartbeat', 'data-status'), 'stopped');
  await shot(b.page, 'revoked');
});
