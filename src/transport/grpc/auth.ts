import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Metadata } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { AdminCredentialError } from '../../domain/errors.js';

/** Options of AdminAuth. */
export interface AdminAuthOptions {
  /** File holding the admin bearer token (a mounted Kubernetes Secret); unset disables admin calls. */
  tokenFile?: string;
  /** How often the file is checked for a rotated token. Default 5000 ms. */
  recheckMs?: number;
  /**
   * Client-certificate identities (subject CN or a DNS / URI subject alternative name) that are admins
   * when mTLS is on; the certificate itself is verified by the TLS layer against the client CA.
   */
  identities?: readonly string[];
}

/** The names a verified client certificate goes by: its subject CN and its DNS and URI SANs. */
export function certificateIdentities(cert: PeerCertificate | undefined): string[] {
  if (!cert || !cert.subject) return [];
  const names: string[] = [];
  const cn = cert.subject.CN;
  if (typeof cn === 'string' && cn) names.push(cn);
  for (const part of (cert.subjectaltname ?? '').split(',')) {
    const m = /^\s*(DNS|URI):(.+)$/.exec(part);
    if (m) names.push(m[2]!.trim());
  }
  return names;
}

/**
 * AdminAuth checks the admin credential of AdminService calls (SPEC rule 10): `authorization:
 * Bearer <token>` compared in constant time with the token file, which is re-read when it changes so
 * a rotated Secret takes effect without a restart.
 */
export class AdminAuth {
  private digest: Buffer | null = null;
  private checkedAt = 0;
  private mtimeMs = -1;

  constructor(private readonly options: AdminAuthOptions) {
    if (options.tokenFile) this.load(true);
  }

  private load(initial: boolean): void {
    const file = this.options.tokenFile;
    if (!file) return;
    try {
      const st = statSync(file);
      if (st.mtimeMs === this.mtimeMs) return;
      const token = readFileSync(file, 'utf8').trim();
      if (token.length < 16) throw new Error('admin token must be at least 16 characters');
      this.digest = createHash('sha256').update(token).digest();
      this.mtimeMs = st.mtimeMs;
    } catch (err) {
      if (initial) throw new Error(`admin: cannot use token file ${file}: ${(err as Error).message}`);
      // Keep the last good token when a rotation is half-written.
    }
  }

  /** True when admin calls can succeed at all. */
  get enabled(): boolean {
    return this.digest !== null || (this.options.identities?.length ?? 0) > 0;
  }

  /**
   * Throws AdminCredentialError unless the call carries the admin token, or comes over mTLS with a
   * client certificate whose identity is listed.
   */
  check(md: Metadata, peer?: PeerCertificate): void {
    const allowed = this.options.identities ?? [];
    if (allowed.length > 0 && certificateIdentities(peer).some((n) => allowed.includes(n))) return;
    const now = Date.now();
    if (now - this.checkedAt > (this.options.recheckMs ?? 5000)) {
      this.checkedAt = now;
      this.load(false);
    }
    if (!this.digest) {
      throw new AdminCredentialError(
        allowed.length > 0 ? 'an admin client certificate is required' : 'admin calls are disabled (no admin token configured)',
      );
    }
    const header = md.get('authorization')[0];
    const m = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
    if (!m) throw new AdminCredentialError('an admin credential is required (authorization: Bearer <token>)');
    const got = createHash('sha256').update(m[1]!).digest();
    if (!timingSafeEqual(got, this.digest)) throw new AdminCredentialError('the admin credential is not valid');
  }
}
