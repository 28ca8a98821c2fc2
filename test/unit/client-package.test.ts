// Pure parts of the client package and of sessionctl's output: table tests, no I/O.
import assert from 'node:assert/strict';
import { Metadata, status } from '@grpc/grpc-js';
import { clearedCookie, ConflictError, fromServiceError, readCookie, sessionCookie, InternalError, NotFoundError, UnavailableError, Verdict, verdictName } from '@session-manager/client';
import { statusDetails } from '../../src/transport/grpc/status.js';
import { humanDuration, parseDuration, plain, table, toYaml } from '../../src/cli/ctl-output.js';

describe('client package: pure helpers', () => {
  it('decodes ErrorInfo into the class of the status code', () => {
    const cases: Array<[status, string, new (...a: never[]) => Error]> = [
      [status.NOT_FOUND, 'SESSION_NOT_FOUND', NotFoundError],
      [status.ABORTED, 'ETAG_MISMATCH', ConflictError],
      [status.UNAVAILABLE, 'CACHE_STALE', UnavailableError],
      [status.DATA_LOSS, 'RECORD_UNREADABLE', InternalError],
    ];
    for (const [code, reason, Cls] of cases) {
      const md = new Metadata();
      md.set('grpc-status-details-bin', statusDetails(code, 'm', reason, { field: 'x' }));
      const e = fromServiceError(Object.assign(new Error('m'), { code, details: 'm', metadata: md }));
      assert.ok(e instanceof Cls, `${reason} → ${Cls.name}`);
      assert.deepEqual([e.reason, e.code, e.domain, e.metadata], [reason, code, 'sessionmanager.v1', { field: 'x' }]);
    }
    const bare = fromServiceError(Object.assign(new Error('late'), { code: status.DEADLINE_EXCEEDED, details: 'late', metadata: new Metadata() }));
    assert.ok(bare instanceof UnavailableError);
    assert.equal(bare.reason, 'DEADLINE_EXCEEDED');
    assert.equal(bare.statusCode, 503);
  });

  it('names verdicts without the prefix', () => {
    assert.equal(verdictName(Verdict.VERDICT_VALID), 'VALID');
    assert.equal(verdictName(Verdict.VERDICT_BINDING_MISMATCH), 'BINDING_MISMATCH');
    assert.equal(verdictName(99 as Verdict), 'UNSPECIFIED');
  });

  it('reads and writes the session cookie', () => {
    assert.equal(readCookie('a=1; sid=abc-_9; b=2', 'sid'), 'abc-_9');
    assert.equal(readCookie(['a=1', 'sid="q"'], 'sid'), 'q');
    assert.equal(readCookie('sidx=1', 'sid'), undefined);
    assert.equal(readCookie('sid=%E0%A4%A', 'sid'), undefined);
    assert.equal(sessionCookie('abc'), 'sid=abc; Path=/; HttpOnly; Secure; SameSite=Lax');
    assert.equal(sessionCookie('abc', { name: 's', secure: false, sameSite: 'Strict', domain: 'ex.org', maxAgeSeconds: 60 }), 's=abc; Path=/; HttpOnly; SameSite=Strict; Domain=ex.org; Max-Age=60');
    assert.match(clearedCookie(), /^sid=; Path=\/; HttpOnly; Secure; SameSite=Lax; Max-Age=0; Expires=Thu, 01 Jan 1970/);
  });
});

describe('sessionctl output', () => {
  it('formats durations and parses --timeout', () => {
    const cases: Array<[number, string]> = [[0, '0s'], [250, '250ms'], [1000, '1s'], [90_000, '1m30s'], [1_800_000, '30m'], [5_400_000, '1h30m'], [90_061_000, '1d1h']];
    for (const [ms, text] of cases) assert.equal(humanDuration(ms), text);
    assert.deepEqual(['10s', '500ms', '2m', '1h', '1.5'].map(parseDuration), [10_000, 500, 120_000, 3_600_000, 1500]);
    assert.throws(() => parseDuration('soon'), /not a duration/);
  });

  it('turns enum numbers, durations, dates and bytes into readable values', () => {
    const out = plain({
      clientType: 2,
      state: 1,
      verdict: 1,
      endReason: 6,
      policy: { idleTimeout: { seconds: 1800, nanos: 0 } },
      createTime: new Date('2026-01-02T03:04:05.000Z'),
      value: Buffer.from('apples'),
      binary: new Uint8Array([0, 255]),
      attrs: new Map([['k', Buffer.from('v')]]),
    });
    assert.deepEqual(out, {
      clientType: 'desktop',
      state: 'ACTIVE',
      verdict: 'VALID',
      endReason: 'REVOKED',
      policy: { idleTimeout: '30m' },
      createTime: '2026-01-02T03:04:05.000Z',
      value: 'apples',
      binary: 'base64:AP8=',
      attrs: { k: 'v' },
    });
  });

  it('writes YAML that quotes only what YAML would misread, and aligned tables', () => {
    assert.equal(toYaml({ a: 'x', b: '0.1.0', c: '10', d: 'true', e: 'a: b', f: [], g: [{ h: 1 }], i: {} }).trim(), 'a: x\nb: 0.1.0\nc: "10"\nd: "true"\ne: "a: b"\nf: []\ng:\n  - h: 1\ni: {}');
    assert.equal(table(['A', 'LONG'], [['xx', ''], ['y', 2]]), 'A    LONG\nxx   -\ny    2');
  });
});
