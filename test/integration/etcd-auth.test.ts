// The chart's bundled etcd is client-TLS + auth (SPEC rule 21): this runs a real etcd the same way,
// turns auth on with the chart's own script (helm/session-manager/files/etcd-auth-bootstrap.sh),
// and checks that session-manager works with a role limited to its prefix, and nothing more — once
// with certificates from a throw-away openssl CA, once with the certificates the chart itself
// generates (helm genCA / genSignedCert, rendered from templates/etcd/tls.yaml).
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { load } from 'js-yaml';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { TestPki } from '../support/pki.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';
import { freePort } from '../support/ports.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SCRIPT = join(REPO, 'helm/session-manager/files/etcd-auth-bootstrap.sh');
const PREFIX = '/sm-secure/';

type Pem = { cert: string; key: string };
interface EtcdCerts {
  ca: string;
  member: Pem;
  root: Pem;
  sm: Pem;
}

/** Certificates from a throw-away openssl CA. */
function opensslCerts(): EtcdCerts {
  const pki = new TestPki('etcd-ca');
  return {
    ca: pki.ca,
    member: pki.issue('member', '/CN=etcd-0', ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'extendedKeyUsage=serverAuth,clientAuth']),
    root: pki.issue('root', '/CN=root', ['extendedKeyUsage=clientAuth']),
    sm: pki.issue('sm', '/CN=session-manager', ['extendedKeyUsage=clientAuth']),
  };
}

/** The three Secrets the chart generates with default values, written out as files. */
function chartCerts(): EtcdCerts {
  const helm = execFileSync('bash', [join(REPO, 'test/chart/install-helm.sh')], { encoding: 'utf8' }).trim();
  const out = execFileSync(helm, ['template', 'demo', join(REPO, 'helm/session-manager'), '--namespace', 'demo-ns', '-s', 'templates/etcd/tls.yaml'], { encoding: 'utf8' });
  const dir = mkdtempSync(join(tmpdir(), 'sm-chart-certs-'));
  const files: Record<string, Pem> = {};
  let ca = '';
  const docs = out.split(/^---$/m).filter((d) => d.replace(/^#.*$/gm, '').trim());
  for (const doc of docs.map((d) => load(d) as { metadata?: { name: string }; data?: Record<string, string> } | null)) {
    if (!doc?.metadata || !doc.data) continue;
    const kind = doc.metadata.name.replace(/^demo-session-manager-etcd-/, '').replace(/-tls$/, '');
    const write = (name: string, b64: string) => {
      const p = join(dir, `${kind}-${name}`);
      writeFileSync(p, Buffer.from(b64, 'base64'));
      return p;
    };
    files[kind] = { cert: write('tls.crt', doc.data['tls.crt']!), key: write('tls.key', doc.data['tls.key']!) };
    ca = write('ca.crt', doc.data['ca.crt']!);
  }
  assert.ok(files['member'] && files['client'] && files['root'], `chart Secrets: ${Object.keys(files)}`);
  return { ca, member: files['member'], root: files['root'], sm: files['client'] };
}

for (const [source, make] of [
  ['openssl certificates', opensslCerts],
  ["the chart's generated certificates", chartCerts],
] as const) {
  describe(`rule 21: etcd with client TLS and auth, session-manager limited to its prefix (${source})`, function () {
    let certs: EtcdCerts;
    let etcd: ChildProcess;
    let dataDir: string;
    let endpoint: string;
    let n: TestNode | undefined;
    const bootstrap = () =>
      spawnSync('sh', [SCRIPT], {
        encoding: 'utf8',
        env: {
          ...process.env,
          ETCDCTL_ENDPOINTS: endpoint,
          ETCDCTL_CACERT: certs.ca,
          ETCDCTL_CERT: certs.root.cert,
          ETCDCTL_KEY: certs.root.key,
          ROOT_PASSWORD: 'root-password-for-the-test',
          SM_USER: 'session-manager',
          SM_PREFIX: PREFIX,
        },
      });
    const client = (who: Pem) =>
      new Etcd3({ hosts: [endpoint], credentials: { rootCertificate: readFileSync(certs.ca), certChain: readFileSync(who.cert), privateKey: readFileSync(who.key) } });

    before(async () => {
      certs = make();
      dataDir = mkdtempSync(join(tmpdir(), 'sm-etcd-tls-'));
      const [cp, pp] = [await freePort(), await freePort()];
      endpoint = `https://127.0.0.1:${cp}`;
      etcd = spawn('etcd', [
        '--name', 'm0', '--data-dir', dataDir,
        '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
        '--listen-peer-urls', `http://127.0.0.1:${pp}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${pp}`,
        '--initial-cluster', `m0=http://127.0.0.1:${pp}`,
        '--cert-file', certs.member.cert, '--key-file', certs.member.key, '--trusted-ca-file', certs.ca, '--client-cert-auth',
        '--log-level', 'error',
      ], { stdio: 'ignore' });
      const r = bootstrap();
      assert.equal(r.status, 0, r.stdout + r.stderr);
    });
    after(async () => {
      await n?.stop();
      etcd?.kill('SIGKILL');
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    it('the bootstrap script is idempotent (it runs on every helm upgrade)', () => {
      const r = bootstrap();
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /etcd auth ready/);
    });

    it('session-manager with its client certificate works: login, attributes, logout, scavenger election', async () => {
      n = await startNode({
        endpoints: [endpoint],
        prefix: PREFIX,
        node: { etcd: { endpoints: [endpoint], requestTimeoutMs: 3000, tls: { caFile: certs.ca, certFile: certs.sm.cert, keyFile: certs.sm.key } } },
      });
      const { sessionId } = await n.api.create({ site: 'shop', user: 'alice', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'd' });
      assert.equal((await n.api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
      await n.api.setAttribute({ sessionId, name: 'cart', value: Buffer.from('1'), etag: '', createOnly: false });
      await n.api.end({ sessionId });
      await eventually(() => n!.node.elector.leader());
    });

    it('its user cannot read or write outside the prefix; no certificate, no access', async () => {
      const sm = client(certs.sm);
      await assert.rejects(sm.put('/other/key').value('x').exec(), /permission denied/i);
      await assert.rejects(sm.get('/other/key').string(), /permission denied/i);
      await sm.put(`${PREFIX}probe`).value('ok');
      sm.close();
      const anon = new Etcd3({ hosts: [endpoint], credentials: { rootCertificate: readFileSync(certs.ca) }, dialTimeout: 2000 });
      await assert.rejects(anon.get(`${PREFIX}probe`).string());
      anon.close();
    });
  });
}
