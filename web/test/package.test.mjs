// The npm package @streamlimit/client as a user gets it: what `npm pack`
// puts in the tarball, its license, its exports. `node --test web/test/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
const MODULES = { '.': 'streamlimit', './attach': 'attach', './device': 'device', './videojs': 'videojs', './hls': 'hlsjs', './shaka': 'shaka' };

test('npm pack puts in what a user needs and nothing else', () => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: pkgDir, encoding: 'utf8' });
  const [packed] = JSON.parse(out);
  assert.equal(packed.name, '@streamlimit/client');
  const files = packed.files.map((f) => f.path).sort();
  const want = ['LICENSE', 'README.md', 'package.json', ...Object.values(MODULES).flatMap((m) => [m + '.js', m + '.d.ts'])].sort();
  assert.deepEqual(files, want);
  // No demo, test, example, fixture or player in it.
  for (const f of files) assert.doesNotMatch(f, /demo|test|example|node_modules|\.go$|\.mp4$|\.m3u8$/);
  assert.ok(packed.size < 64 * 1024, `the tarball is ${packed.size} bytes`);
});

test('publishable: semver, Apache-2.0 (the repository\'s LICENSE), no build step, players as optional peers', () => {
  assert.match(pkg.version, /^\d+\.\d+\.\d+$/);
  assert.equal(pkg.private, undefined);
  assert.equal(pkg.license, 'Apache-2.0');
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.publishConfig?.access, 'public');
  const license = fs.readFileSync(path.join(pkgDir, 'LICENSE'), 'utf8');
  assert.equal(license, fs.readFileSync(path.join(pkgDir, '..', 'LICENSE'), 'utf8'), 'web/LICENSE is the repository\'s LICENSE');
  assert.match(license, /Apache License\s+Version 2\.0, January 2004/);
  assert.equal(pkg.scripts?.prepare ?? pkg.scripts?.prepack ?? pkg.scripts?.build, undefined, 'no build step');
  assert.deepEqual(pkg.dependencies ?? {}, {}, 'no runtime dependency');
  for (const player of ['video.js', 'hls.js', 'shaka-player']) {
    assert.ok(pkg.peerDependencies[player], player);
    assert.equal(pkg.peerDependenciesMeta[player].optional, true, player);
    assert.ok(pkg.devDependencies[player], `${player} for the examples and the end-to-end tests`);
  }
});

test('every export resolves to a module with its types, and imports under its package name', async () => {
  assert.deepEqual(Object.keys(pkg.exports).filter((k) => k !== './package.json').sort(), Object.keys(MODULES).sort());
  for (const [sub, file] of Object.entries(MODULES)) {
    assert.deepEqual(pkg.exports[sub], { types: `./${file}.d.ts`, default: `./${file}.js` }, sub);
    for (const f of [file + '.js', file + '.d.ts']) assert.ok(fs.existsSync(path.join(pkgDir, f)), f);
  }
  assert.equal(pkg.main, './streamlimit.js');
  assert.equal(pkg.types, './streamlimit.d.ts');
  // Self-reference through "exports", as a user's import resolves it.
  const client = await import('@streamlimit/client');
  assert.equal(typeof client.StreamLimitClient, 'function');
  assert.equal(typeof client.deviceLabel, 'function');
  assert.equal(typeof (await import('@streamlimit/client/attach')).attach, 'function');
  assert.equal(typeof (await import('@streamlimit/client/device')).sessionLabel, 'function');
  assert.equal(typeof (await import('@streamlimit/client/videojs')).registerStreamLimit, 'function');
  assert.equal(typeof (await import('@streamlimit/client/hls')).attachHls, 'function');
  assert.equal(typeof (await import('@streamlimit/client/shaka')).attachShaka, 'function');
});

test('the modules import only each other: nothing to bundle, no player imported', () => {
  for (const file of Object.values(MODULES)) {
    const src = fs.readFileSync(path.join(pkgDir, file + '.js'), 'utf8');
    for (const [, spec] of src.matchAll(/^\s*(?:import|export)\s[^'"]*from\s+'([^']+)'/gm)) {
      assert.match(spec, /^\.\/[a-z]+\.js$/, `${file}.js imports ${spec}`);
    }
  }
});
