// The demo player at {prefix}/ (http://localhost:3000/dev/ with `make run`):
// a real <video> (the test stream testcard.mp4) driven by attach(), the
// streamlimit client's player integration. Query parameters: uid (the
// account), title, device (this device's name), api (another API base URL).
import { attach } from './attach.js';
import { deviceLabel, sessionLabel } from './device.js';

const params = new URLSearchParams(location.search);
// This script is served at {base}/client/demo.js: the API is {base}.
const apiBase = params.get('api') || new URL('..', import.meta.url).href.replace(/\/$/, '');
const UID_KEY = 'streamlimit.demo.uid';
const NAME_KEY = 'streamlimit.demo.deviceName';
const PLAYING_KEY = 'streamlimit.demo.playing'; // sessionStorage: play on after a reload

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
};

$('uid').value = params.get('uid') || localStorage.getItem(UID_KEY) || 'demo-viewer';
$('title').value = params.get('title') || 'Test card';
$('device-name').value = params.get('device') ?? localStorage.getItem(NAME_KEY) ?? '';

const video = $('video');
const stream = attach(video, {
  baseUrl: apiBase,
  uid: () => $('uid').value.trim(),
  title: () => $('title').value.trim() || undefined,
  // With AUTH_MODE=jwt: the token pasted under "Identity" (an app asks its sign-in).
  token: () => $('token').value.trim() || null,
  deviceName: $('device-name').value.trim() || undefined,
});
const client = stream.client;
window.streamlimitDemo = { client, stream, apiBase, video };

let renewals = 0;
const known = { streamCount: null, maxStreams: null };

function showDevice() {
  $('device').textContent = deviceLabel({ userAgent: navigator.userAgent, name: $('device-name').value }) || client.deviceId;
  $('device').title = client.deviceId;
}
showDevice();

function setState(state) {
  document.body.dataset.state = state;
}

function log(text) {
  const list = $('log');
  list.prepend(el('li', {}, el('time', {}, clock(new Date())), ' ', text));
  while (list.children.length > 12) list.lastElementChild.remove();
}

function clock(d) {
  return d.toLocaleTimeString('en-GB', { hour12: false });
}

function showUsage(streamCount, maxStreams) {
  if (streamCount != null) known.streamCount = streamCount;
  if (maxStreams != null) known.maxStreams = maxStreams;
  const { streamCount: n, maxStreams: m } = known;
  $('usage').textContent = n == null ? 'streams in use: –' : `streams in use: ${n} of ${m ?? '?'}`;
  $('usage').dataset.count = n ?? '';
}

function sessionItem(s) {
  const mine = s.deviceId && s.deviceId === client.deviceId;
  const li = el('li', { className: mine ? 'mine' : '' },
    el('strong', {}, sessionLabel(s)),
    mine ? el('em', {}, 'this device') : el('button', { type: 'button', className: 'kick', textContent: 'Stop', onclick: () => kick(s) }),
    el('span', {}, s.client?.title ? `“${s.client.title}”` : ''),
    el('small', {}, `since ${clock(new Date(s.createdAt))}`));
  li.dataset.session = s.session;
  return li;
}

async function kick(s) {
  try {
    await client.endSession(currentUid(), s.session);
    log(`stopped ${sessionLabel(s)}`);
  } catch (err) {
    log(`could not stop ${sessionLabel(s)}: ${err.code ?? err.message}`);
  }
  refreshSessions();
}

let refreshing = false;
async function refreshSessions() {
  if (refreshing || document.hidden) return;
  refreshing = true;
  try {
    const r = await client.sessions(currentUid());
    $('sessions').replaceChildren(...(r.streams.length ? r.streams.map(sessionItem) : [el('li', { className: 'empty' }, 'none')]));
    showUsage(r.streamCount, r.maxStreams);
  } catch {
    // the heartbeat line says when the service is unreachable
  } finally {
    refreshing = false;
  }
}

function currentUid() {
  return $('uid').value.trim();
}

async function play() {
  if (!$('setup').reportValidity()) return;
  localStorage.setItem(UID_KEY, currentUid());
  localStorage.setItem(NAME_KEY, $('device-name').value.trim());
  // attach asks for the slot first; a refusal shows on the player. A play
  // without a click (a reload playing on) may only start muted.
  video.play().catch((err) => {
    if (err.name !== 'NotAllowedError') return;
    video.muted = true;
    video.play().catch(() => {});
  });
}

async function stop() {
  sessionStorage.removeItem(PLAYING_KEY);
  const r = await stream.release('stop');
  setState('stopped');
  $('heartbeat').dataset.status = 'none';
  $('heartbeat').textContent = 'stopped';
  if (r.streamCount != null) showUsage(r.streamCount);
  log(r.removedStream ? 'stopped: slot freed' : 'stopped');
  refreshSessions();
}

stream.on('acquiring', () => setState('starting'));
stream.on('granted', (r) => {
  sessionStorage.setItem(PLAYING_KEY, currentUid());
  $('now-playing').textContent = $('title').value.trim() || 'Untitled';
  showUsage(r.streamCount, r.maxStreams);
  setState('playing');
  log(`granted${r.lease.resumed ? ' (resumed)' : ''}: lease ${r.lease.leaseId.slice(0, 8)}…`);
  refreshSessions();
});
stream.on('refused', (r) => {
  sessionStorage.removeItem(PLAYING_KEY);
  showUsage(r.streamCount, r.maxStreams);
  setState('refused');
  log(`refused: ${r.streamCount} of ${r.maxStreams} in use`);
  refreshSessions();
});
stream.on('error', ({ error }) => {
  sessionStorage.removeItem(PLAYING_KEY);
  setState('revoked');
  log(`start failed: ${error.code ?? error.name}${error.reason ? ' / ' + error.reason : ''}`);
});
stream.on('revoked', ({ error, reason }) => {
  sessionStorage.removeItem(PLAYING_KEY);
  document.body.classList.remove('offline');
  $('heartbeat').dataset.status = 'stopped';
  $('heartbeat').textContent = `stopped · ${error}`;
  setState('revoked');
  log(`revoked: ${error}${reason ? ' / ' + reason : ''}`);
  refreshSessions();
});
stream.on('released', ({ reason }) => {
  if (reason !== 'stop') {
    setState('stopped');
    log(`slot given back (${reason})`);
  }
});

client.on('renewed', ({ streamCount }) => {
  renewals++;
  document.body.dataset.renewals = renewals;
  document.body.classList.remove('offline');
  const hb = $('heartbeat');
  hb.dataset.status = 'ok';
  hb.textContent = `ok · ${clock(new Date())} · ${renewals} renewed`;
  showUsage(streamCount);
  refreshSessions();
});
client.on('retrying', ({ attempt, delayMs, status }) => {
  document.body.classList.add('offline');
  const hb = $('heartbeat');
  hb.dataset.status = 'retrying';
  hb.textContent = `reconnecting · attempt ${attempt}, next in ${(delayMs / 1000).toFixed(1)} s`;
  log(`heartbeat failed (${status || 'network'}); retry ${attempt}`);
});

// Four times a second: the lease countdown and the video's clock.
function tick() {
  const lease = client.lease;
  $('countdown').textContent = lease
    ? `expires in ${Math.max(0, Math.ceil((lease.expiresAt - Date.now()) / 1000))} s · renewed every ${lease.heartbeatIntervalSeconds} s`
    : '–';
  const secs = Math.floor(video.currentTime);
  $('elapsed').textContent = `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, '0')}`;
}
setInterval(tick, 250);
setInterval(refreshSessions, 3000);

$('play').addEventListener('click', play);
$('stop').addEventListener('click', stop);
$('device-name').addEventListener('change', showDevice);
$('setup').addEventListener('submit', (e) => {
  e.preventDefault();
  play();
});

// (Back from the back/forward cache, attach() asks for a slot again and
// plays on: the client ended the lease on pagehide.)

// A reload of a playing page plays on: its device secret (and the lease id
// noted on pagehide) prove the lease is this page's, so no second slot.
if (sessionStorage.getItem(PLAYING_KEY) === currentUid()) {
  play();
} else {
  refreshSessions();
}
