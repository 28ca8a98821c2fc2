import type { Metadata } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import type { Caller, CallerAuth } from '../../auth/caller-auth.js';
import { SiteNotAllowedError } from '../../domain/errors.js';

/** The part of a grpc-js server call that carries credentials. */
export interface CredentialedCall {
  metadata: Metadata;
  getAuthContext?: () => { sslPeerCertificate?: PeerCertificate } | null;
}

/** Writes one audit line (who did what); never given a secret. */
export type AuditLog = (fields: Record<string, string | number>, msg: string) => void;

/**
 * CallAccess is what the handlers ask before doing anything (SPEC rule 21): who calls, may they call
 * this method, may they act on this site; and it writes the audit lines of logins and revokes.
 */
export class CallAccess {
  constructor(
    readonly auth: CallerAuth,
    private readonly auditLog: AuditLog = () => {},
  ) {}

  /** Authenticates the call and checks its method class; returns the caller. Throws before any work. */
  admit(method: string, call: CredentialedCall): Caller {
    const caller = this.auth.authenticate(call.metadata, call.getAuthContext?.()?.sslPeerCertificate);
    this.auth.authorize(caller, method);
    return caller;
  }

  /** Throws SITE_NOT_ALLOWED unless the caller may act on `site`. */
  checkSite(caller: Caller, site: string): void {
    this.auth.checkSite(caller, site);
  }

  /** Throws SITE_NOT_ALLOWED unless the caller may act on every site (cluster-wide admin calls). */
  checkAllSites(caller: Caller): void {
    if (caller.sites !== '*') throw new SiteNotAllowedError(caller.name, '*');
  }

  /**
   * The site check of a call that names a session, to run on the session the call looks up anyway:
   * undefined (nothing to check) for callers allowed every site.
   */
  siteChecker(caller: Caller): ((site: string) => void) | undefined {
    if (caller.sites === '*') return undefined;
    return (site) => this.auth.checkSite(caller, site);
  }

  /**
   * Checks the site of the session a call names, found by `siteOf` (a lookup). Skipped for callers
   * allowed every site, so the common validate path costs nothing; a session not found is left to the
   * call, which then answers NOT_FOUND itself.
   */
  async checkSessionSite(caller: Caller, siteOf: () => Promise<string | undefined>): Promise<void> {
    if (caller.sites === '*') return;
    const site = await siteOf();
    if (site !== undefined) this.auth.checkSite(caller, site);
  }

  /** Writes an audit line naming the caller. */
  audit(caller: Caller, msg: string, fields: Record<string, string | number>): void {
    this.auditLog({ caller: caller.name, ...fields }, msg);
  }
}
