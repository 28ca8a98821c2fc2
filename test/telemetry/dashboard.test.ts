import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { METRIC } from '../../src/telemetry/metrics.js';

const DASHBOARD = new URL('../../../helm/session-manager/dashboards/session-manager.json', import.meta.url);

interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: Array<{ expr: string }>;
}

describe('telemetry: the Grafana dashboard', () => {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; panels: Panel[] };
  const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

  it('has a stable uid and unique panel ids', () => {
    assert.equal(dash.uid, 'session-manager');
    const ids = dash.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('queries only metrics the service exports, and shows every one of them', () => {
    const known = new Set<string>(Object.values(METRIC));
    const used = new Set<string>();
    for (const e of exprs) {
      for (const [name] of e.matchAll(/session_manager_[a-z_]+/g)) {
        const base = name.replace(/_(total|bucket|count|sum)$/, '');
        assert.ok(known.has(base) || known.has(name), `${name} in ${e}`);
        used.add(known.has(name) ? name : base);
      }
    }
    assert.deepEqual([...known].filter((m) => !used.has(m)), [], 'metrics missing from the dashboard');
  });

  it('every query is valid PromQL (promtool check rules)', function () {
    const dir = mkdtempSync(join(tmpdir(), 'sm-dash-'));
    try {
      const rules = exprs.map((e, i) => {
        const expr = e.replaceAll('$__rate_interval', '5m').replaceAll('$__range', '1h').replaceAll('$job', '.*').replaceAll('$namespace', '.*');
        return `      - record: dashboard:expr_${i}\n        expr: ${JSON.stringify(expr)}`;
      });
      const file = join(dir, 'rules.yaml');
      writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
      const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
      if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') assert.fail('promtool not found: install the Debian package "prometheus"');
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
