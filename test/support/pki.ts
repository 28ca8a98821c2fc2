import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throw-away CA with a server certificate for 127.0.0.1/localhost and client certificates (openssl). */
export function makePki(clients: string[]): { dir: string; ca: string } {
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
