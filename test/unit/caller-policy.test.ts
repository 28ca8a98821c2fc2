import assert from 'node:assert/strict';
import { mkdtempSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { Metadata } from '@grpc/grpc-js';
import { CallerAuth } from '../../src/auth/caller-auth.js';
import { certificateIdentities, legacyAdminIdentities, parseIdentity } from '../../src/auth/identity.js';
import { METHOD_CLASS } from '../../src/auth/method-classes.js';
import { parsePolicy, PolicyInvalidError, type CallerPolicy } from '../../src/auth/policy.js';
import { TokenFiles } from '../../src/auth/token-files.js';
import { AdminServiceService } from '../../src/gen/sessionmanager/v1/admin_service.js';
import { SessionServiceService } from '../../src/gen/sessionmanager/v1/session_service.js';

const cert = (cn: string, san?: string) => ({ subject: { CN: cn }, ...(san !== undefined ? { subjectaltname: san } : {}) }) as unknown as PeerCertificate;

describe('caller identities (SPEC rule 21)', () => {
  it('types certificate identities; the CN counts only without any SAN', () => {
    const cases: Array<[PeerCertificate | undefined, string[]]> = [
      [undefined, []],
      [cert('web'), ['cn:web']],
      [cert('web', 'URI:spiffe://c/ns/shop/sa/web'), ['uri:spiffe://c/ns/shop/sa/web']],
      [cert('web', 'DNS:Web.Shop.svc, URI:spiffe://x'), ['dns:web.shop.svc', 'uri:spiffe://x']],
      [cert('web', 'IP Address:10.0.0.1'), []],
      [cert('spiffe://c/ns/shop/sa/login'), ['cn:spiffe://c/ns/shop/sa/login']],
    ];
    for (const [c, want] of cases) assert.deepEqual(certificateIdentities(c), want);
  });
  it('parses typed identities and maps legacy --admin-identities entries', () => {
    assert.equal(parseIdentity('uri:spiffe://x'), 'uri:spiffe://x');
    for (const bad of ['spiffe://x', 'ip:1.2.3.4', 'cn:', 'dns: x']) assert.equal(parseIdentity(bad), null, bad);
    assert.deepEqual(legacyAdminIdentities('ops-admin'), ['dns:ops-admin', 'cn:ops-admin']);
    assert.deepEqual(legacyAdminIdentities('spiffe://c/sa/ops'), ['uri:spiffe://c/sa/ops']);
    assert.deepEqual(legacyAdminIdentities('cn:ops'), ['cn:ops']);
  });
  it('every API method has a class', () => {
    for (const def of [SessionServiceService, AdminServiceService]) {
      for (const m of Object.values(def)) {
        const name = m.path.split('/').pop()!;
        assert.ok(METHOD_CLASS[name], name);
      }
    }
  });
});

describe('caller policy file', () => {
  const ok = { callers: { web: { identities: ['uri:spiffe://x'], allow: ['validate'], sites: ['shop'] }, ops: { tokenFiles: ['t'], allow: ['admin'], sites: '*' } } };
  it('parses a valid policy; relative token files are resolved against its directory', () => {
    const p = parsePolicy(JSON.stringify(ok), 'p.json', '/etc/sm');
    assert.equal(p.callers.length, 2);
    assert.deepEqual(p.callers[1]!.tokenFiles, ['/etc/sm/t']);
    assert.equal(p.callers[1]!.sites, '*');
    assert.match(p.version, /^[0-9a-f]{12}$/);
  });
  it('rejects an invalid policy whole, naming every problem', () => {
    const cases: Array<[unknown, RegExp[]]> = [
      [[], [/top level/]],
      [{ callers: { a: { identities: ['spiffe://x'], allow: ['root'], sites: [] } } }, [/not uri:/, /unknown method class "root"/, /non-empty list of sites/, /at least one of identities/]],
      [{ callers: { a: { identities: ['cn:x'], allow: ['login'], sites: '*' }, b: { identities: ['cn:x'], allow: ['login'], sites: '*' } } }, [/already caller a's/]],
      [{ callers: {}, extra: 1 }, [/unknown top-level key/]],
      [{ callers: { a: { tokenFiles: ['t'], allow: ['login'], sites: ['*', 'x'], color: 'red' } } }, [/"\*" alone/, /unknown key "color"/]],
    ];
    for (const [doc, want] of cases) {
      try {
        parsePolicy(JSON.stringify(doc), 'p.json', '/');
        assert.fail(`accepted ${JSON.stringify(doc)}`);
      } catch (err) {
        assert.ok(err instanceof PolicyInvalidError, String(err));
        for (const re of want) assert.ok(err.problems.some((p) => re.test(p)), `${re} in ${err.problems.join(' | ')}`);
      }
    }
    assert.throws(() => parsePolicy('{', 'p.json', '/'), /not valid JSON/);
  });
});

describe('token files', () => {
  it('several tokens per file and per caller; a deleted or emptied file disables its tokens', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sm-tok-'));
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    writeFileSync(a, '# rotated 2026-11\nfirst-token-0123456789\nsecond-token-0123456789\nshort\n');
    const problems: string[] = [];
    const t = new TokenFiles(0, (_f, p) => problems.push(p));
    t.setFiles([a, b]);
    assert.equal(t.match('first-token-0123456789'), a);
    assert.equal(t.match('second-token-0123456789'), a);
    assert.equal(t.match('short'), undefined);
    assert.ok(problems.some((p) => /shorter than 16/.test(p)));
    writeFileSync(b, 'third-token-0123456789');
    assert.equal(t.match('third-token-0123456789'), b);
    unlinkSync(a);
    assert.equal(t.match('first-token-0123456789'), undefined);
    writeFileSync(b, '\n');
    assert.equal(t.match('third-token-0123456789'), undefined);
  });

  it('CallerAuth: bearer token decides over the certificate; a CN never matches a uri: entry', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sm-tok-'));
    writeFileSync(join(dir, 'login'), 'login-token-0123456789\n');
    const policy: CallerPolicy = parsePolicy(
      JSON.stringify({
        callers: {
          web: { identities: ['uri:spiffe://web'], allow: ['validate'], sites: ['shop'] },
          login: { tokenFiles: ['login'], allow: ['login'], sites: '*' },
        },
      }),
      'p',
      dir,
    );
    const auth = new CallerAuth({ policy: { current: () => policy, onChange: () => () => {} }, tokenRecheckMs: 0 });
    const md = (tok?: string) => {
      const m = new Metadata();
      if (tok) m.set('authorization', `Bearer ${tok}`);
      return m;
    };
    assert.equal(auth.authenticate(md(), cert('web', 'URI:spiffe://web')).name, 'web');
    assert.equal(auth.authenticate(md('login-token-0123456789'), cert('web', 'URI:spiffe://web')).name, 'login');
    assert.throws(() => auth.authenticate(md(), cert('spiffe://web')), { reason: 'CALLER_CREDENTIAL_INVALID' });
    assert.throws(() => auth.authenticate(md(), undefined), { reason: 'CALLER_CREDENTIAL_REQUIRED' });
    const web = auth.authenticate(md(), cert('web', 'URI:spiffe://web'));
    auth.authorize(web, 'ValidateSession');
    assert.throws(() => auth.authorize(web, 'CreateSession'), { reason: 'METHOD_NOT_ALLOWED' });
    assert.throws(() => auth.authorize(web, 'NoSuchMethod'), { reason: 'METHOD_NOT_ALLOWED' });
    auth.checkSite(web, 'shop');
    assert.throws(() => auth.checkSite(web, 'other'), { reason: 'SITE_NOT_ALLOWED' });
  });
  it('CallerAuth caches a bearer caller per token, and a token file or policy change applies to the very next call', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sm-tok-'));
    writeFileSync(join(dir, 'app'), 'app-token-0123456789\n');
    let policy: CallerPolicy = parsePolicy(JSON.stringify({ callers: { app: { tokenFiles: ['app'], allow: ['validate'], sites: '*' } } }), 'p', dir);
    let listener: (p: CallerPolicy) => void = () => {};
    const auth = new CallerAuth({ policy: { current: () => policy, onChange: (l) => ((listener = l), () => {}) }, tokenRecheckMs: 0 });
    const md = (tok: string) => {
      const m = new Metadata();
      m.set('authorization', `Bearer ${tok}`);
      return m;
    };
    const first = auth.authenticate(md('app-token-0123456789'), undefined);
    assert.equal(auth.authenticate(md('app-token-0123456789'), undefined), first, 'the second call is served from the cache');
    // Rotated: the file now holds another token (different size, so its stat changes).
    writeFileSync(join(dir, 'app'), 'app-token-rotated-0123456789\n');
    assert.throws(() => auth.authenticate(md('app-token-0123456789'), undefined), { reason: 'CALLER_CREDENTIAL_INVALID' });
    assert.equal(auth.authenticate(md('app-token-rotated-0123456789'), undefined).name, 'app');
    // A policy change that narrows the caller applies at once, cache or not.
    policy = parsePolicy(JSON.stringify({ callers: { app: { tokenFiles: ['app'], allow: ['validate'], sites: ['shop'] } } }), 'p', dir);
    listener(policy);
    assert.throws(() => auth.checkSite(auth.authenticate(md('app-token-rotated-0123456789'), undefined), 'other'), { reason: 'SITE_NOT_ALLOWED' });
    // An unknown token is never cached as anything.
    assert.throws(() => auth.authenticate(md('nobody-0123456789abc'), undefined), { reason: 'CALLER_CREDENTIAL_INVALID' });
    assert.throws(() => auth.authenticate(md('nobody-0123456789abc'), undefined), { reason: 'CALLER_CREDENTIAL_INVALID' });
  });
});
