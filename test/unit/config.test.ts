import assert from 'node:assert/strict';
import { parseTime } from '../../src/config/duration.js';
import { parseProperties } from '../../src/config/properties.js';
import { parseClusterConfig, DEFAULTS } from '../../src/config/schema.js';
import { loadConfigText } from '../../src/config/loader.js';
import { ConfigInvalidError } from '../../src/config/errors.js';
import { IDLE_CONNECTION_BOUND, IDLE_NEVER } from '../../src/domain/policy.js';
import { readFileSync } from 'node:fs';
import { DEFAULT_CONFIG_PATH } from '../../src/cli/args.js';

const MIN = 60_000;

function policyOf(text: string) {
  const r = parseClusterConfig(text);
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.policy;
}

function errorsOf(text: string): string[] {
  const r = parseClusterConfig(text);
  assert.equal(r.ok, false, `expected ${JSON.stringify(text)} to be rejected`);
  return r.ok ? [] : r.errors;
}

describe('config: times (rule 16)', () => {
  const cases: Array<[string, number | null]> = [
    ['30', 30 * MIN],
    ['90s', 90_000],
    ['2h', 120 * MIN],
    ['1d', 1440 * MIN],
    ['500ms', 500],
    ['5m', 5 * MIN],
    ['-1', -MIN],
    ['0', 0],
    ['abc', null],
    ['1.5', null],
    ['10x', null],
    ['', null],
  ];
  for (const [text, ms] of cases) {
    it(`parses ${JSON.stringify(text)} as ${ms}`, () => assert.equal(parseTime(text), ms));
  }
});

describe('config: properties syntax', () => {
  it('reads key=value, key: value, comments and continuations', () => {
    const { entries, errors } = parseProperties('# c\n! c\na=1\nb : 2\n\nc=x\\\n  y\n');
    assert.deepEqual(errors, []);
    assert.deepEqual(entries.map((e) => [e.key, e.value]), [['a', '1'], ['b', '2'], ['c', 'xy']]);
  });
  it('reports a line without a separator', () => {
    assert.deepEqual(parseProperties('novalue\n').errors, ['line 1: expected key=value']);
  });
});

describe('config: defaults (rules 1, 2, 3, 6, 14)', () => {
  const p = policyOf('');
  it('web 30, admin 1440, api 30, mobile 60, widget 60 minutes', () => {
    assert.equal(p.idleTimeoutMs.web, 30 * MIN);
    assert.equal(p.idleTimeoutMs.admin, 1440 * MIN);
    assert.equal(p.idleTimeoutMs.api, 30 * MIN);
    assert.equal(p.idleTimeoutMs.mobile, 60 * MIN);
    assert.equal(p.idleTimeoutMs.widget, 60 * MIN);
  });
  it('desktop and plugin are connection-bound', () => {
    assert.equal(p.idleTimeoutMs.desktop, IDLE_CONNECTION_BOUND);
    assert.equal(p.idleTimeoutMs.plugin, IDLE_CONNECTION_BOUND);
  });
  it('single-request 5 min, absolute 1440 min, scavenge 5 min, staleness 5 s, web single-per-user', () => {
    assert.equal(p.singleRequestMs, 5 * MIN);
    assert.equal(p.absoluteMs, 1440 * MIN);
    assert.equal(p.scavengeIntervalMs, 5 * MIN);
    assert.equal(p.cacheMaxStalenessMs, 5000);
    assert.deepEqual([...p.singlePerUser], ['web']);
    assert.equal(p.sites, null);
    assert.equal(p.touchGranularityMs, null);
  });
  it('the shipped default file parses to the built-in defaults', () => {
    const fromFile = policyOf(readFileSync(DEFAULT_CONFIG_PATH, 'utf8'));
    assert.deepEqual(fromFile, p);
  });
  it('every per-type key has a default', () => {
    for (const t of ['web', 'desktop', 'plugin', 'mobile', 'widget', 'api', 'admin']) {
      assert.ok(`session.timeout.${t}` in DEFAULTS, t);
      assert.equal(DEFAULTS[`session.limit.per-user.${t}`], '0');
    }
  });
});

describe('config: value rules (rule 16)', () => {
  const table: Array<[string, string, (p: ReturnType<typeof policyOf>) => unknown, unknown]> = [
    ['web 0 falls back to 30', 'session.timeout.web=0', (p) => p.idleTimeoutMs.web, 30 * MIN],
    ['web -1 falls back to 30', 'session.timeout.web=-1', (p) => p.idleTimeoutMs.web, 30 * MIN],
    ['web -90s falls back to 30', 'session.timeout.web=-90s', (p) => p.idleTimeoutMs.web, 30 * MIN],
    ['web 45', 'session.timeout.web=45', (p) => p.idleTimeoutMs.web, 45 * MIN],
    ['web never', 'session.timeout.web=never', (p) => p.idleTimeoutMs.web, IDLE_NEVER],
    ['mobile -1 is connection-bound', 'session.timeout.mobile=-1', (p) => p.idleTimeoutMs.mobile, IDLE_CONNECTION_BOUND],
    ['api never', 'session.timeout.api=never', (p) => p.idleTimeoutMs.api, IDLE_NEVER],
    ['desktop 2h', 'session.timeout.desktop=2h', (p) => p.idleTimeoutMs.desktop, 120 * MIN],
    ['widget 90s', 'session.timeout.widget=90s', (p) => p.idleTimeoutMs.widget, 90_000],
    ['absolute 0 = none', 'session.timeout.absolute=0', (p) => p.absoluteMs, 0],
    ['absolute never = none', 'session.timeout.absolute=never', (p) => p.absoluteMs, 0],
    ['scavenge 15 (DAF)', 'session.scavenge.interval=15', (p) => p.scavengeIntervalMs, 15 * MIN],
    ['touch granularity 10s', 'session.touch.granularity=10s', (p) => p.touchGranularityMs, 10_000],
    ['sites list', 'session.sites=a, b', (p) => [...(p.sites ?? [])], ['a', 'b']],
    ['single-per-user empty', 'session.single-per-user=', (p) => p.singlePerUser.size, 0],
    ['limit terminate-oldest', 'session.limit.action=terminate-oldest', (p) => p.limitAction, 'terminate-oldest'],
    ['per-user limit', 'session.limit.per-user.mobile=3', (p) => p.limitPerUser.mobile, 3],
    ['hit max', 'session.hit-max=100', (p) => p.hitMax, 100],
    ['persistent types default', '', (p) => [...p.persistentTypes].sort(), ['desktop', 'mobile', 'web']],
    ['persistent off', 'session.persistent.types=', (p) => p.persistentTypes.size, 0],
    ['persistent lifetime default 30d', '', (p) => p.persistentLifetimeMs, 30 * 1440 * MIN],
    ['persistent idle default 14d', '', (p) => p.persistentIdleMs, 14 * 1440 * MIN],
    ['persistent reuse grace default 10s', '', (p) => p.persistentReuseGraceMs, 10_000],
    ['persistent reuse grace 0 allowed', 'session.persistent.reuse-grace=0', (p) => p.persistentReuseGraceMs, 0],
  ];
  for (const [name, text, pick, want] of table) {
    it(name, () => assert.deepEqual(pick(policyOf(text)), want));
  }

  const invalid: Array<[string, string, string]> = [
    ['desktop 0 is invalid', 'session.timeout.desktop=0', 'session.timeout.desktop'],
    ['api 0 is invalid', 'session.timeout.api=0', 'session.timeout.api'],
    ['mobile -2 is invalid', 'session.timeout.mobile=-2', 'session.timeout.mobile'],
    ['plugin -1s is not -1', 'session.timeout.plugin=-1s', 'session.timeout.plugin'],
    ['web garbage', 'session.timeout.web=soon', 'session.timeout.web'],
    ['unknown key', 'session.timeout.wbe=30', 'session.timeout.wbe'],
    ['duplicate key', 'session.hit-max=1\nsession.hit-max=2', 'session.hit-max'],
    ['negative hit max', 'session.hit-max=-1', 'session.hit-max'],
    ['bad action', 'session.limit.action=kick', 'session.limit.action'],
    ['bad single-per-user type', 'session.single-per-user=web,tv', 'session.single-per-user'],
    ['zero scavenge interval', 'session.scavenge.interval=0', 'session.scavenge.interval'],
    ['zero staleness', 'cache.max-staleness=0', 'cache.max-staleness'],
    ['empty site in list', 'session.sites=a,,b', 'session.sites'],
    ['attribute count over limit', 'session.attributes.max-count=1000', 'session.attributes.max-count'],
    ['persistent unknown type', 'session.persistent.types=web,tv', 'session.persistent.types'],
    ['persistent lifetime 0', 'session.persistent.lifetime=0', 'session.persistent.lifetime'],
    ['persistent idle garbage', 'session.persistent.idle=soon', 'session.persistent.idle'],
    ['persistent reuse grace over 60s', 'session.persistent.reuse-grace=2m', 'session.persistent.reuse-grace'],
  ];
  for (const [name, text, key] of invalid) {
    it(name, () => {
      const errs = errorsOf(text);
      assert.ok(errs.some((e) => e.startsWith(key)), `errors ${JSON.stringify(errs)} should name ${key}`);
    });
  }

  it('names every bad key in one error and rejects the whole file', () => {
    const text = 'session.timeout.web=45\nsession.timeout.desktop=0\nsession.hit-max=x\nbogus.key=1\n';
    const errs = errorsOf(text);
    assert.equal(errs.length, 3);
    assert.throws(
      () => loadConfigText(text, 'f.properties'),
      (e: unknown) =>
        e instanceof ConfigInvalidError &&
        ['session.timeout.desktop', 'session.hit-max', 'bogus.key'].every((k) => e.message.includes(k)) &&
        e.problems.length === 3,
    );
  });

  it('gives a new version for new text and the same for the same text', () => {
    assert.equal(loadConfigText('a=1'.replace('a=1', ''), 'x').version, loadConfigText('', 'y').version);
    assert.notEqual(loadConfigText('session.hit-max=1', 'x').version, loadConfigText('', 'x').version);
  });
});
