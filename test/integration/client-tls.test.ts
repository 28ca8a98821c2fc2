// The client package and sessionctl over TLS and mutual TLS against a real node.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminClient, ClientType, PermissionDeniedError, SessionClient, UnavailableError } from '@session-manager/client';
import { EtcdCluster } from '../support/etcd.js';
import { makePki } from '../support/pki.js';
import { startNode, type TestNode } from '../support/nodes.js';

const CTL = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'dist/src/cli/sessionctl.js');

describe('client package over TLS', function () {
  let etcd: EtcdCluster;
  let n: TestNode;
  let pki: { dir: string; ca: string };

  before(async () => {
    etcd = await EtcdCluster.start();
    pki = makePki(['ops-admin', 'web-frontend']);
    n = await startNode({
      endpoints: etcd.endpoints,
      node: { tls: { certFile: join(pki.dir, 'server.crt'), keyFile: join(pki.dir, 'server.key'), clientCaFile: pki.ca }, adminIdentities: ['ops-admin'] },
    });
    n.api.close();
  });
  after(async () => {
    await n?.node.stop();
    await etcd?.stop();
  });

  it('SessionClient and AdminClient take the CA and client certificate as files or PEM data', async () => {
    const pem = (f: string) => readFileSync(join(pki.dir, f), 'utf8');
    const client = new SessionClient({ endpoints: n.address, tls: { ca: pki.ca, cert: join(pki.dir, 'web-frontend.crt'), key: join(pki.dir, 'web-frontend.key') } });
    const admin = new AdminClient({ endpoints: n.address, tls: { ca: pem('ca.crt'), cert: pem('ops-admin.crt'), key: pem('ops-admin.key') } });
    const notAdmin = new AdminClient({ endpoints: n.address, tls: { ca: pki.ca, cert: join(pki.dir, 'web-frontend.crt'), key: join(pki.dir, 'web-frontend.key') } });
    const noCert = new SessionClient({ endpoints: n.address, tls: { ca: pki.ca }, deadlineMs: 3000 });
    try {
      const { sessionId } = await client.createSession({ site: 'default', user: 'tls', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'd' });
      assert.equal((await client.validateSession({ sessionId })).valid, true);
      assert.ok((await admin.getClusterStatus()).configVersion);
      await assert.rejects(notAdmin.getClusterStatus(), (e: unknown) => e instanceof PermissionDeniedError && e.reason === 'ADMIN_CREDENTIAL_REQUIRED');
      await assert.rejects(noCert.validateSession({ sessionId }), (e: unknown) => e instanceof UnavailableError);
    } finally {
      for (const c of [client, admin, notAdmin, noCert]) c.close();
    }
    assert.throws(() => new SessionClient({ endpoints: n.address, tls: { ca: pki.ca, cert: join(pki.dir, 'web-frontend.crt') } }), /go together/);
  });

  it('sessionctl: --ca-file/--cert-file/--key-file, and several endpoint names resolved to their addresses', async () => {
    const port = n.address.split(':')[1];
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SM_')));
    // Asynchronous: the node runs in this process and must keep answering while sessionctl runs.
    const run = (args: string[], env: Record<string, string> = {}) =>
      new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const p = spawn(process.execPath, [CTL, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        p.stderr.on('data', (d: Buffer) => (stderr += d));
        p.on('close', (status) => resolve({ status, stderr }));
      });
    const tls = ['--ca-file', pki.ca, '--cert-file', join(pki.dir, 'ops-admin.crt'), '--key-file', join(pki.dir, 'ops-admin.key')];
    const st = await run(['status', '-o', 'json', '--endpoints', n.address, ...tls]);
    assert.equal(st.status, 0, st.stderr);
    const two = await run(['status', '-o', 'json', '--endpoints', `localhost:${port},localhost:${port}`], {
      SM_CA_FILE: pki.ca,
      SM_CERT_FILE: join(pki.dir, 'ops-admin.crt'),
      SM_KEY_FILE: join(pki.dir, 'ops-admin.key'),
    });
    assert.equal(two.status, 0, two.stderr);
    const plain = await run(['validate', 'x', '--endpoints', n.address, '--timeout', '2s']);
    assert.equal(plain.status, 3, 'a plaintext client cannot talk to a TLS node');
  });
});
