import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';

/** A throw-away certificate authority made with openssl, issuing server and client certificates. */
export class TestPki {
  readonly dir: string;

  constructor(readonly name = 'test-ca') {
    this.dir = mkdtempSync(join(tmpdir(), 'sm-pki-'));
    this.ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', `/CN=${name}`);
  }

  /** Path of the CA certificate. */
  get ca(): string {
    return join(this.dir, 'ca.crt');
  }

  private ossl(...args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: 'pipe' });
  }

  /** Issues `<file>.crt`/`<file>.key` with `subject` and the extension lines `ext` (e.g. subjectAltName=…). */
  issue(file: string, subject: string, ext: string[]): { cert: string; key: string } {
    this.ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${file}.key`, '-out', `${file}.csr`, '-subj', subject);
    writeFileSync(join(this.dir, `${file}.ext`), ext.join('\n') + '\n');
    this.ossl('x509', '-req', '-in', `${file}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${file}.crt`, '-days', '1', '-extfile', `${file}.ext`);
    return { cert: join(this.dir, `${file}.crt`), key: join(this.dir, `${file}.key`) };
  }

  /** A server certificate for 127.0.0.1 / localhost. */
  server(): { certFile: string; keyFile: string } {
    const { cert, key } = this.issue('server', '/CN=localhost', ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'extendedKeyUsage=serverAuth']);
    return { certFile: cert, keyFile: key };
  }

  /** Channel credentials trusting `serverCa`, presenting this CA's client certificate `file` if given. */
  static channel(serverCa: string, client?: { cert: string; key: string }): ChannelCredentials {
    return client
      ? credentials.createSsl(readFileSync(serverCa), readFileSync(client.key), readFileSync(client.cert))
      : credentials.createSsl(readFileSync(serverCa));
  }
}

/**
 * A throw-away CA with a server certificate for 127.0.0.1/localhost and one client certificate per
 * name (CN = the name), all in one folder: `<name>.crt` / `<name>.key`, the CA in `ca.crt`.
 */
export function makePki(clients: string[]): { dir: string; ca: string } {
  const pki = new TestPki();
  pki.server();
  for (const c of clients) pki.issue(c, `/CN=${c}`, ['extendedKeyUsage=clientAuth']);
  return { dir: pki.dir, ca: pki.ca };
}
