// Unit tests of the device labels (device.js): `node --test web/test/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { describeUserAgent, deviceLabel, sessionLabel } from '../device.js';

const AGENTS = {
  'Chrome 131 on Windows': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Edge 131 on Windows': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
  'Firefox 133 on macOS': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Safari 17 on macOS': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15',
  'Safari 17 on iOS': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  'Chrome 131 on iOS': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1',
  'Chrome 131 on Android': 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
  'Samsung Internet 26 on Android': 'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36',
  'Opera 114 on Linux': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36 OPR/114.0.0.0',
  'Chrome 156 on Linux': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36',
  'Chrome 130 on ChromeOS': 'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36',
};

test('browser, major version and OS of common User-Agents', () => {
  for (const [label, ua] of Object.entries(AGENTS)) assert.equal(deviceLabel({ userAgent: ua }), label, ua);
});

test('what a User-Agent does not tell is left out', () => {
  assert.deepEqual(describeUserAgent('curl/8.5.0'), { browser: '', version: '', os: '' });
  assert.equal(deviceLabel({ userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Foo/1' }), 'Linux');
  assert.equal(deviceLabel({}), '');
  assert.equal(deviceLabel({ userAgent: undefined, name: undefined }), '');
});

test('the app-given device name comes first, trimmed and bounded', () => {
  assert.equal(deviceLabel({ userAgent: AGENTS['Chrome 131 on Windows'], name: '  Living   room TV ' }), 'Living room TV · Chrome 131 on Windows');
  assert.equal(deviceLabel({ name: 'TV' }), 'TV');
  assert.equal(deviceLabel({ name: 'x'.repeat(100) }).length, 64);
});

test('sessionLabel: a label as sent, a raw User-Agent turned into one, else the device id', () => {
  assert.equal(sessionLabel({ client: { userAgent: 'Phone · Safari 17 on iOS' }, deviceId: 'web-1' }), 'Phone · Safari 17 on iOS');
  assert.equal(sessionLabel({ client: { userAgent: AGENTS['Firefox 133 on macOS'] }, deviceId: 'web-1' }), 'Firefox 133 on macOS');
  assert.equal(sessionLabel({ client: { userAgent: 'TV/2' }, deviceId: 'tv' }), 'TV/2');
  assert.equal(sessionLabel({ client: {}, deviceId: 'living-room-tv' }), 'living-room-tv');
  assert.equal(sessionLabel({ client: {} }), 'unnamed device');
});
