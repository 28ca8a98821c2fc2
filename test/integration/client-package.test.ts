// The client package as it would be published: `npm pack` it, unpack it outside the repository and
// import every entry point with only its declared dependencies next to it.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const PKG = join(REPO, 'clients/typescript');

/** Packages reachable from `roots` through dependencies, resolved at the repository root (npm hoists). */
function closure(roots: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...roots];
  while (todo.length) {
    const name = todo.pop()!;
    if (seen.has(name) || !existsSync(join(REPO, 'node_modules', name, 'package.json'))) continue;
    seen.add(name);
    const pkg = JSON.parse(readFileSync(join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    todo.push(...Object.keys(pkg.dependencies ?? {}));
  }
  return seen;
}

describe('client package: publishable as it is', function () {
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'sm-client-pack-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('package.json: public, versioned, Apache-2.0, ESM with types for every export', () => {
    const pkg = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8')) as Record<string, unknown> & {
      exports: Record<string, { types?: string; import?: string } | string>;
      dependencies: Record<string, string>;
    };
    assert.equal(pkg['private'], undefined);
    assert.match(String(pkg['version']), /^\d+\.\d+\.\d+$/);
    assert.equal(pkg['license'], 'Apache-2.0');
    assert.equal(pkg['type'], 'module');
    for (const [k, v] of Object.entries(pkg.exports)) {
      if (k === './package.json') continue;
      assert.ok(typeof v === 'object' && v.types && v.import, `${k} has types and import`);
    }
    assert.deepEqual(Object.keys(pkg.dependencies).sort(), ['@bufbuild/protobuf', '@grpc/grpc-js']);
  });

  it('npm pack ships dist, the README and the LICENSE, and every entry point imports outside the repository', () => {
    const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: PKG, encoding: 'utf8' });
    const [info] = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = info!.files.map((f) => f.path);
    assert.ok(['README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/express-session-store.d.ts'].every((f) => files.includes(f)), files.join(', '));
    assert.ok(files.every((f) => ['README.md', 'LICENSE', 'package.json'].includes(f) || f.startsWith('dist/')), files.join(', '));
    const app = join(tmp, 'app');
    const target = join(app, 'node_modules/@session-manager/client');
    mkdirSync(target, { recursive: true });
    execFileSync('tar', ['xzf', join(tmp, info!.filename), '-C', target, '--strip-components=1']);
    // Only the declared dependencies, the optional peers and what they need are visible.
    for (const dep of closure(['@grpc/grpc-js', '@bufbuild/protobuf', 'express-session', 'fastify'])) {
      const link = join(app, 'node_modules', dep);
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(join(REPO, 'node_modules', dep), link);
    }
    const script = `
      const m = await import('@session-manager/client');
      for (const n of ['SessionClient', 'AdminClient', 'UnavailableError', 'serviceConfig']) if (!m[n]) throw new Error('missing ' + n);
      const e = await import('@session-manager/client/express');
      if (typeof e.sessionMiddleware !== 'function') throw new Error('express');
      const f = await import('@session-manager/client/fastify');
      if (typeof f.sessionManagerPlugin !== 'function') throw new Error('fastify');
      const s = await import('@session-manager/client/express-session');
      if (typeof s.SessionManagerStore !== 'function') throw new Error('store');
      const c = new m.SessionClient({ endpoints: '127.0.0.1:1' }); c.close();
      console.log('ok');`;
    const res = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: app, encoding: 'utf8' });
    assert.equal(res.trim(), 'ok');
    const outside = spawnSync('grep', ['-rlE', "from '(\\.\\./)+(src|transport)/|\\.\\./\\.\\./\\.\\./", join(target, 'dist'), '--include=*.js'], { encoding: 'utf8' });
    assert.equal(outside.stdout.trim(), '', 'no import reaches outside the package');
  });
});
