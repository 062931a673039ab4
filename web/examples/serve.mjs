#!/usr/bin/env node
// Serves the example pages of the player integrations (examples/*.html), the
// client's files, the test stream and the players installed by `npm ci` in
// web/ (node_modules/{video.js,hls.js,shaka-player}/dist) on a loopback port:
// an app origin of its own, so the pages call the streamlimit API cross-origin
// as a real player app does. Byte ranges are served (the HLS playlist of the
// test stream names byte ranges of testcard.mp4).
//
//   node web/examples/serve.mjs [--port 8080] [--api http://localhost:3000/dev]
//
// Loopback only; it serves the files of web/ and nothing above it.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.mp4': 'video/mp4',
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.woff': 'font/woff',
  '.png': 'image/png',
};

// The folders a page may load from: the package's own files, the examples,
// and the players' builds.
const ALLOWED = [/^[^/]+$/, /^examples\/[^/]+$/, /^node_modules\/(video\.js|hls\.js|shaka-player)\/dist\//];

function resolve(urlPath) {
  let rel;
  try {
    rel = decodeURIComponent(urlPath).replace(/^\/+/, '');
  } catch {
    return null;
  }
  if (rel === '' || rel === 'examples/') rel = 'examples/index.html';
  const file = path.resolve(webDir, rel);
  if (!file.startsWith(webDir + path.sep) || !ALLOWED.some((re) => re.test(rel))) return null;
  return TYPES[path.extname(file)] ? file : null;
}

// range parses a single "bytes=a-b" range of a file of size bytes.
function range(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header ?? '');
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start;
  let end;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start <= end && start < size ? { start, end } : 'unsatisfiable';
}

function handle(req, res) {
  const url = new URL(req.url, 'http://x');
  const file = req.method === 'GET' || req.method === 'HEAD' ? resolve(url.pathname) : null;
  let stat;
  try {
    stat = file && fs.statSync(file);
  } catch {
    stat = null;
  }
  if (!stat?.isFile()) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
    return;
  }
  const headers = {
    'Content-Type': TYPES[path.extname(file)],
    'Cache-Control': 'no-cache',
    'Accept-Ranges': 'bytes',
  };
  const r = req.headers.range ? range(req.headers.range, stat.size) : null;
  if (r === 'unsatisfiable') {
    res.writeHead(416, { 'Content-Range': `bytes */${stat.size}` }).end();
    return;
  }
  const { start, end } = r ?? { start: 0, end: stat.size - 1 };
  headers['Content-Length'] = String(end - start + 1);
  if (r) headers['Content-Range'] = `bytes ${start}-${end}/${stat.size}`;
  res.writeHead(r ? 206 : 200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  fs.createReadStream(file, { start, end }).pipe(res);
}

/** Starts the example server on host:port (0: a free port); resolves { url, close }. */
export async function serveExamples({ port = 0, host = '127.0.0.1' } = {}) {
  const server = http.createServer(handle);
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, ok);
  });
  const url = `http://${host === '127.0.0.1' ? 'localhost' : host}:${server.address().port}`;
  return {
    url,
    close: () => new Promise((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const api = arg('--api', 'http://localhost:3000/dev');
  if (!fs.existsSync(path.join(webDir, 'node_modules', 'hls.js'))) {
    console.error('serve: the players are not installed: run `npm ci` in web/ first');
    process.exit(1);
  }
  const { url } = await serveExamples({ port: Number(arg('--port', 8080)) });
  const q = `?api=${encodeURIComponent(api)}`;
  console.log(`examples against ${api} (make run):`);
  for (const name of ['videojs', 'hlsjs', 'shaka']) console.log(`  ${url}/examples/${name}.html${q}`);
}
