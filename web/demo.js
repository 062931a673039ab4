// The demo player at {prefix}/ (http://localhost:3000/dev/ with `make run`):
// a video-player mock driven by the streamlimit browser client. Query
// parameters: uid (the account), title, api (another API base URL).
import { StreamLimitClient } from './streamlimit.js';

const params = new URLSearchParams(location.search);
// This script is served at {base}/client/demo.js: the API is {base}.
const apiBase = params.get('api') || new URL('..', import.meta.url).href.replace(/\/$/, '');
const client = new StreamLimitClient({ baseUrl: apiBase });
window.streamlimitDemo = { client, apiBase };

const PLAYING_KEY = 'streamlimit.demo.playing'; // sessionStorage: resume after a reload
const UID_KEY = 'streamlimit.demo.uid';

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
};

let playStartedAt = 0;
let renewals = 0;
let known = { streamCount: null, maxStreams: null };

$('uid').value = params.get('uid') || localStorage.getItem(UID_KEY) || 'demo-viewer';
$('title').value = params.get('title') || 'The Demo Film';
$('device').textContent = client.deviceId;

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

function shortAgent(ua = '') {
  const browser = ua.match(/(HeadlessChrome|Edg|Firefox|Chrome|Safari)\/(\d+)/);
  const os = ua.match(/Windows|Android|iPhone|iPad|Mac OS X|Linux|CrOS/);
  if (!browser) return ua.slice(0, 40);
  return `${browser[1]} ${browser[2]}${os ? ' · ' + os[0].replace('Mac OS X', 'macOS') : ''}`;
}

function deviceItem(s) {
  const mine = s.deviceId && s.deviceId === client.deviceId;
  const li = el('li', { className: mine ? 'mine' : '' },
    el('strong', {}, s.deviceId || 'unnamed device'),
    mine ? el('em', {}, ' this device') : '',
    el('span', {}, s.client?.title ? `“${s.client.title}”` : ''),
    el('small', {}, `${shortAgent(s.client?.userAgent)} · since ${clock(new Date(s.createdAt))}`));
  li.dataset.device = s.deviceId || '';
  return li;
}

function renderList(list, sessions) {
  list.replaceChildren(...(sessions.length ? sessions.map(deviceItem) : [el('li', { className: 'empty' }, 'none')]));
}

let refreshing = false;
async function refreshSessions() {
  if (refreshing || document.hidden) return;
  refreshing = true;
  try {
    const r = await client.sessions(currentUid());
    renderList($('sessions'), r.streams);
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
  const uid = currentUid();
  localStorage.setItem(UID_KEY, uid);
  setState('starting');
  const title = $('title').value.trim();
  try {
    const r = await client.start(uid, { client: title ? { title } : undefined });
    showUsage(r.streamCount, r.maxStreams);
    if (r.granted) {
      sessionStorage.setItem(PLAYING_KEY, uid);
      playStartedAt = Date.now();
      $('playing-title').textContent = title || 'Untitled';
      setState('playing');
      log(`granted${r.lease.resumed ? ' (resumed)' : ''}: lease ${r.lease.leaseId.slice(0, 8)}…`);
    } else {
      sessionStorage.removeItem(PLAYING_KEY);
      $('refused-title').textContent = `All ${r.maxStreams} streams of this account are in use`;
      renderList($('others'), r.streams);
      setState('refused');
      log(`refused: ${r.streamCount} of ${r.maxStreams} in use`);
    }
  } catch (err) {
    if (err.name === 'AbortError') return;
    sessionStorage.removeItem(PLAYING_KEY);
    // lease_revoked: the lease this player last held was revoked meanwhile
    // (the client forgets it: playing again asks afresh).
    showRevoked(err.code === 'lease_revoked'
      ? explain(err.code, err.reason, err.message) + ` (${err.reason})`
      : `Could not start: ${err.message}`, err.reason);
    setState('revoked');
    log(`start failed: ${err.code ?? err.name}${err.reason ? ' / ' + err.reason : ''}`);
  }
  refreshSessions();
}

async function stop() {
  const state = document.body.dataset.state;
  if (state !== 'playing' && state !== 'starting') return;
  sessionStorage.removeItem(PLAYING_KEY);
  const r = await client.stop();
  setState('stopped');
  $('heartbeat').dataset.status = 'none';
  $('heartbeat').textContent = 'stopped';
  if (r.streamCount != null) showUsage(r.streamCount);
  log(r.removedStream ? 'stopped: slot freed' : 'stopped');
  refreshSessions();
}

const reasons = {
  lease_expired: 'The lease has ended: it expired, or was ended on another device.',
  lease_lost: 'The service could not be reached before the lease ran out.',
  lease_revoked: 'This stream was ended from another device or by the service.',
};
// lease_revoked, by its reason.
const revocations = {
  superseded: 'This stream continues in another player or tab of yours.',
  kicked: 'This stream was ended from another device of the account.',
  evicted_oldest: 'This stream made room for a newer one on this account.',
  admin: 'This stream was ended by the service.',
};

function explain(error, reason, message) {
  return (error === 'lease_revoked' && revocations[reason]) || reasons[error] || message;
}

function showRevoked(text, reason) {
  $('revoked-reason').textContent = text;
  $('revoked-reason').dataset.reason = reason ?? '';
}

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

client.on('revoked', ({ error, reason, message }) => {
  sessionStorage.removeItem(PLAYING_KEY);
  document.body.classList.remove('offline');
  $('heartbeat').dataset.status = 'stopped';
  $('heartbeat').textContent = `stopped · ${error}`;
  showRevoked(explain(error, reason, message) + (reason ? ` (${reason})` : ''), reason);
  setState('revoked');
  log(`revoked: ${error}${reason ? ' / ' + reason : ''}`);
  refreshSessions();
});

// Every second: the lease countdown and the mock video's clock.
function tick() {
  const lease = client.lease;
  $('countdown').textContent = lease
    ? `expires in ${Math.max(0, Math.ceil((lease.expiresAt - Date.now()) / 1000))} s · renewed every ${lease.heartbeatIntervalSeconds} s`
    : '–';
  if (document.body.dataset.state === 'playing') {
    const secs = Math.floor((Date.now() - playStartedAt) / 1000);
    $('elapsed').textContent = `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, '0')}`;
    $('progress-bar').style.width = `${((secs % 600) / 600) * 100}%`;
  }
}
setInterval(tick, 250);
setInterval(refreshSessions, 3000);

$('play').addEventListener('click', play);
$('retry').addEventListener('click', play);
$('restart').addEventListener('click', play);
$('play-again').addEventListener('click', play);
$('stop').addEventListener('click', stop);
$('setup').addEventListener('submit', (e) => {
  e.preventDefault();
  play();
});

// Back from the back/forward cache: the client ended the lease on pagehide.
window.addEventListener('pageshow', (e) => {
  if (e.persisted && sessionStorage.getItem(PLAYING_KEY)) play();
});

// A reload of a playing page plays on: its device secret (and the lease id
// noted on pagehide) prove the lease is this page's, so no second slot.
if (sessionStorage.getItem(PLAYING_KEY) === currentUid()) {
  play();
} else {
  refreshSessions();
}
