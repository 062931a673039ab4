// End-to-end tests of the player integrations: the demo page (attach() on a
// plain <video>, served by the local server) and the example pages of the
// video.js plugin, the hls.js and the Shaka Player adapters (served from
// another origin by examples/serve.mjs, with the players installed from npm),
// all playing the real test stream in Debian's Chromium against the real
// local server and DynamoDB Local. Run by `make web-test`.
// Screenshots go to test-output/e2e/.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import { Stack, devToken, freePort, outDir, sleep, waitFor } from './harness.mjs';
import { serveExamples } from '../examples/serve.mjs';

const TTL = 8;
const INTERVAL = 2;
const MAX = 3;
// Heartbeats are answered from the renewal token while this much is left.
const RENEW_BELOW = 5;

const stack = new Stack({ name: 'players', ttl: TTL, interval: INTERVAL, renewBelow: RENEW_BELOW, max: MAX });
let server;
let examples;
let chromeMajor;
before(async () => {
  await stack.start();
  server = stack.server;
  examples = await serveExamples();
  chromeMajor = stack.browser.version().split('.')[0];
});
after(async () => {
  await examples?.close();
  await stack.stop();
});
afterEach(() => stack.closeContexts());
const newUid = (name) => stack.newUid(name);

// The page of each integration, for one account and one device name.
const PAGES = {
  demo: (api, q) => `${api}/?${q}`,
  videojs: (api, q) => `${examples.url}/examples/videojs.html?api=${encodeURIComponent(api)}&${q}`,
  hlsjs: (api, q) => `${examples.url}/examples/hlsjs.html?api=${encodeURIComponent(api)}&${q}`,
  shaka: (api, q) => `${examples.url}/examples/shaka.html?api=${encodeURIComponent(api)}&${q}`,
};

// The Attachment of the page, whichever it is.
const STREAM = '(window.streamlimitDemo ?? window.example)?.stream';

// openPlayer opens an integration's page in a browser context of its own
// (its own localStorage: its own device), and records the page's requests.
async function openPlayer(kind, uid, device, { api = server.api, title = 'Film on ' + device } = {}) {
  const ctx = await stack.context({ width: 1200, height: 760 });
  const page = await ctx.newPage();
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(err.message));
  page.sent = [];
  page.on('request', (r) => page.sent.push({ r, url: r.url(), method: r.method(), at: Date.now() }));
  const q = new URLSearchParams({ uid, device, title });
  await page.goto(PAGES[kind](api, q));
  await page.waitForFunction(STREAM);
  page.deviceId = await page.evaluate(`${STREAM}.client.deviceId`);
  page.device = device;
  return { ctx, page };
}

const streamState = (page) => page.evaluate(`${STREAM}.state`);
const video = (page) => page.evaluate(() => {
  const v = document.querySelector('video');
  return { t: v.currentTime, paused: v.paused };
});

// play clicks the page's Play button (or another) and waits for the decision.
async function play(page, selector = '#play') {
  await page.click(selector);
  await page.waitForFunction(`['playing', 'refused', 'error'].includes(${STREAM}.state)`, null, { timeout: 20000 });
  return streamState(page);
}

// advancing waits until the <video>'s currentTime has moved on by 0.5 s.
async function advancing(page, what) {
  const { t } = await video(page);
  await waitFor(`${what}: currentTime to advance from ${t}`, async () => (await video(page)).t > t + 0.5, { timeout: 20000 });
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(outDir, `${name}.png`) });
}

const listed = async (uid, token) => (await server.sessions(uid, token)).streams.map((s) => s.deviceId);

// closeFrees closes a page as a user closing the tab (pagehide runs) and
// returns how long the slot took to come free.
async function closeFrees(srv, uid, player, token) {
  const t0 = Date.now();
  await player.page.close({ runBeforeUnload: true });
  const freedAt = await waitFor('the closed page\'s session to end', async () => {
    const { streams } = await srv.sessions(uid, token);
    return !streams.some((s) => s.deviceId === player.page.deviceId) && Date.now();
  }, { every: 20, timeout: 15000 });
  return freedAt - t0;
}

for (const kind of Object.keys(PAGES)) {
  test(`${kind}: three play, a fourth lists them, stops one from its refusal screen and plays; the stopped one says why; a closed page frees its slot`,
    { timeout: 120000 }, async () => {
      const uid = newUid(kind);
      const names = ['Living room TV', 'Phone', 'Tablet'];
      const players = [];
      for (const name of names) {
        const p = await openPlayer(kind, uid, name);
        assert.equal(await play(p.page), 'playing', `${name} should play`);
        players.push(p);
      }
      for (const p of players) await advancing(p.page, p.page.device);
      assert.deepEqual((await listed(uid)).sort(), players.map((p) => p.page.deviceId).sort());
      await shot(players[0].page, `${kind}-playing`);

      const fourth = await openPlayer(kind, uid, 'Laptop');
      assert.equal(await play(fourth.page), 'refused');
      await fourth.page.waitForSelector('.streamlimit-overlay[data-streamlimit="refused"]');
      assert.equal(await fourth.page.textContent('.streamlimit-title'), `All ${MAX} streams of this account are in use`);
      const labels = await fourth.page.$$eval('[data-streamlimit-session] .streamlimit-device', (els) => els.map((e) => e.textContent));
      assert.deepEqual(labels.sort(), names.map((n) => `${n} · Chrome ${chromeMajor} on Linux`).sort(), 'three human-readable devices');
      const before = await video(fourth.page);
      await sleep(500);
      assert.equal((await video(fourth.page)).t, before.t, 'the refused player does not play');
      await shot(fourth.page, `${kind}-refused`);

      // "Stop watching on that device": the phone, from the refusal screen.
      const phone = players[1].page;
      const from = fourth.page.sent.length;
      const kickedAt = Date.now();
      await fourth.page.locator('[data-streamlimit-session]', { hasText: 'Phone ·' }).locator('[data-streamlimit-stop]').click();
      await fourth.page.waitForFunction(`${STREAM}.state === 'playing'`, null, { timeout: 20000 });
      const calls = fourth.page.sent.slice(from).filter((s) => s.method === 'POST').map((s) => new URL(s.url).pathname.split('/')[2]);
      assert.deepEqual(calls, ['streams', 'canStream'], 'the end of the phone\'s session, then one canStream');
      assert.equal(await fourth.page.isVisible('.streamlimit-overlay'), false);
      await advancing(fourth.page, 'the fourth player');

      // The phone learns it at its first heartbeat that writes: paused, with
      // the reason. Until then its heartbeats are answered from its renewal
      // token (at worst stack.noticeSeconds() after its last renewal).
      await phone.waitForSelector('.streamlimit-overlay [data-streamlimit-reason="kicked"]', { timeout: (stack.noticeSeconds() + 3) * 1000 });
      console.log(`${kind}: the stopped player showed the reason ${Date.now() - kickedAt} ms after the stop (heartbeat every ${INTERVAL} s, at worst ${stack.noticeSeconds()} s after its last renewal)`);
      assert.match(await phone.textContent('.streamlimit-reason'), /stopped from another device/);
      const stopped = await video(phone);
      assert.equal(stopped.paused, true);
      await sleep(600);
      assert.equal((await video(phone)).t, stopped.t, 'the stopped player does not play on');
      assert.equal(await streamState(phone), 'revoked');
      await shot(phone, `${kind}-stopped-elsewhere`);
      assert.ok(!(await listed(uid)).includes(phone.deviceId));

      // Closing a page ends its lease (keepalive fetch on pagehide).
      const took = await closeFrees(server, uid, players[0]);
      console.log(`${kind}: slot freed ${took} ms after the page was closed`);
      assert.ok(took < 2000, `slot freed after ${took} ms`);
      for (const p of [fourth, ...players]) assert.deepEqual(p.page.isClosed() ? [] : p.page.errors, []);
    });
}

test('identity on: a missing token is a clear message; with one the player plays, sends it, and its closed page frees the slot', { timeout: 120000 }, async () => {
  // The local identity provider of `make run AUTH=jwks` (DEV_ISSUER): the
  // server verifies its RS256 tokens against its key set, as when deployed.
  const issuerPort = await freePort();
  const jwt = await stack.newServer('players-jwt-server', { AUTH_MODE: 'jwt', DEV_ISSUER: 'true', DEV_ISSUER_PORT: String(issuerPort) });
  await jwt.start();
  try {
    const uid = newUid('jwt');
    const token = await devToken(issuerPort, uid);
    // hls.js from the examples' origin: cross-origin, so every request with
    // the Authorization header is preflighted, the pagehide end included.
    const { page } = await openPlayer('hlsjs', uid, 'TV', { api: jwt.api });
    assert.equal(await play(page), 'error');
    await page.waitForSelector('.streamlimit-overlay [data-streamlimit-reason="unauthorized"]');
    assert.match(await page.textContent('.streamlimit-reason'), /^Sign-in required/);
    assert.deepEqual(await video(page), { t: 0, paused: true });
    await shot(page, 'identity-missing-token');
    assert.equal((await jwt.sessions(uid, token)).streamCount, 0);

    await page.evaluate((t) => sessionStorage.setItem('streamlimit.example.token', t), token);
    const from = page.sent.length;
    assert.equal(await play(page, '[data-streamlimit-retry]'), 'playing');
    await advancing(page, 'the player with a token');
    await sleep(INTERVAL * 1000 + 500); // a heartbeat too
    const calls = page.sent.slice(from).filter((s) => s.url.startsWith(jwt.api));
    assert.ok(calls.some((s) => s.url.includes('/heartbeat/')), 'a heartbeat was sent');
    for (const s of calls) assert.equal((await s.r.allHeaders()).authorization, 'Bearer ' + token, s.url);
    // (Preflights do not show as page requests; the server logs them.)
    assert.ok(jwt.requests().some((r) => r.operation === 'preflight'), 'cross-origin with a token: preflighted');
    assert.equal((await jwt.sessions(uid, token)).streamCount, 1);

    const took = await closeFrees(jwt, uid, { page }, token);
    console.log(`identity on: slot freed ${took} ms after the page was closed (keepalive end with the token, preflighted)`);
    assert.ok(took < 2000, `slot freed after ${took} ms`);
    // (Its log line is written once the answer is: it may come a little after the listing.)
    await waitFor('the keepalive end, accepted with its token, in the server log', () =>
      jwt.requests().some((r) => r.operation === 'endStream' && r.status === 200), { timeout: 5000 });
  } finally {
    await jwt.stop();
  }
});
