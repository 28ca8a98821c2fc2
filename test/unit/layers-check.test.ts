import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'test/deps/layers.mjs');

describe('make check-layers (test/deps/layers.mjs)', () => {
  let root: string;
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  const run = (...flags: string[]) => spawnSync(process.execPath, [SCRIPT, '--root', root, ...flags], { encoding: 'utf8' });

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'sm-layers-'));
    write('src/domain/ports.ts', "import type { A } from './a.js';\nexport interface SessionStore { a: A }\n");
    write('src/domain/a.ts', 'export type A = string;\n');
    write('src/gen/big.ts', 'x\n'.repeat(500));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('passes a tree that keeps the rules (src/gen may be long; ports.ts may declare ports)', () => {
    const r = run();
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /keep the size, layering and ports rules/);
  });

  it('names every violation with file:line and fails; --report lists the same and exits 0', () => {
    write('src/domain/x.ts', "import { z } from 'zod';\nimport {\n  q,\n} from '../app/q.js';\nexport const y = await import('node:fs');\n");
    write('src/app/svc.ts', "// one\nimport type { G } from '../store/etcd/gateway.js';\nexport interface FreshnessGate { ok(): boolean }\nexport type Tick = () => void;\n");
    write('src/config/c.ts', "export * from '../app/svc.js';\n");
    write('src/cache/m.ts', "\nimport '../app/svc.js';\nexport type MirrorChannel = { put(): void };\n");
    write('src/app/long.ts', '// line\n'.repeat(301));
    const want = [
      'src/app/long.ts:301: size: 301 lines, more than 300: split it by concept',
      'src/app/svc.ts:2: app: imports src/store/etcd/gateway.ts: src/app reaches the store through the ports, not src/store/etcd',
      'src/app/svc.ts:3: ports: declares FreshnessGate: ports are declared in src/domain/ports.ts',
      'src/cache/m.ts:2: cache: imports src/app/svc.ts: src/cache must not import src/app',
      'src/cache/m.ts:3: ports: declares MirrorChannel: ports are declared in src/domain/ports.ts',
      'src/config/c.ts:1: config: imports src/app/svc.ts: src/config must not import src/app',
      'src/domain/x.ts:1: domain: imports zod: src/domain imports only src/domain',
      'src/domain/x.ts:4: domain: imports src/app/q.ts: src/domain imports only src/domain',
      'src/domain/x.ts:5: domain: imports node:fs: src/domain imports only src/domain',
    ];
    const r = run();
    assert.equal(r.status, 1);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, -1), want);
    assert.match(lines.at(-1)!, /^check-layers: 9 violation\(s\)/);
    const report = run('--report');
    assert.equal(report.status, 0);
    assert.deepEqual(report.stdout.trim().split('\n').slice(0, -1), want);
  });
});
