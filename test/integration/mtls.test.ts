import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, status } from '@grpc/grpc-js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { AdminApi, SessionApi } from '../../src/transport/grpc/client.js';
import { EtcdCluster } from '../support/etcd.js';
import { adminTokenFile } from '../support/cluster.js';
import { failure } from '../support/grpc-errors.js';
import { startNode, type TestNode } from '../support/nodes.js';

/** A throw-away CA with a server certificate for 127.0.0.1 and client certificates, made with openssl. */
function makePki(clients: string[]): { dir: string; ca: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sm-pki-'));
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=test-ca');
  const leaf = (name: string, subject: string, ext: string) => {
    ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    execFileSync('bash', ['-c', `printf '%s\\n' '${ext}' > ${name}.ext`], { cwd: dir });
    ossl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`);
  };
  leaf('server', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
  for (const c of clients) leaf(c, `/CN=${c}`, 'extendedKeyUsage=clientAuth');
  return { dir, ca: join(dir, 'ca.crt') };
}

describe('rule 10 over mTLS: client-certificate admin identities', function () {
  let etcd: EtcdCluster;
  let n: TestNode;
  let pki: { dir: string; ca: string };
  const { token, file } = adminTokenFile();

  before(async () => {
    etcd = await EtcdCluster.start();
    pki = makePki(['ops-admin', 'web-frontend']);
    n = await startNode({
      endpoints: etcd.endpoints,
      node: {
        tls: { certFile: join(pki.dir, 'server.crt'), keyFile: join(pki.dir, 'server.key'), clientCaFile: pki.ca },
        adminIdentities: ['ops-admin'],
        adminTokenFile: file,
      },
    });
    n.api.close();
  });
  after(async () => {
    await n?.node.stop();
    await etcd?.stop();
  });

  const credsOf = (client: string) =>
    credentials.createSsl(readFileSync(pki.ca), readFileSync(join(pki.dir, `${client}.key`)), readFileSync(join(pki.dir, `${client}.crt`)));

  it('a listed client certificate is an admin; another valid certificate is not; the token still works', async () => {
    const admin = new AdminApi(n.address, undefined, { credentials: credsOf('ops-admin') });
    const st = await admin.status({});
    assert.ok(st.configVersion);
    admin.close();

    const frontend = new AdminApi(n.address, undefined, { credentials: credsOf('web-frontend') });
    const f = await failure(frontend.status({}));
    assert.deepEqual([f.code, f.reason], [status.PERMISSION_DENIED, 'ADMIN_CREDENTIAL_REQUIRED']);
    frontend.close();

    const withToken = new AdminApi(n.address, token, { credentials: credsOf('web-frontend') });
    assert.ok((await withToken.status({})).configVersion);
    withToken.close();
  });

  it('ordinary calls work over mTLS; a client without a certificate cannot connect', async () => {
    const api = new SessionApi(n.address, { credentials: credsOf('web-frontend') });
    const { sessionId } = await api.create({ site: 'default', user: 'tls', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'd' });
    assert.equal((await api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
    api.close();
    const anon = new SessionApi(n.address, { credentials: credentials.createSsl(readFileSync(pki.ca)), timeoutMs: 3000 });
    const f = await failure(anon.validate({ sessionId }));
    assert.equal(f.code, status.UNAVAILABLE);
    anon.close();
  });
});
