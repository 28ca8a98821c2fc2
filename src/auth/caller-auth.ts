import type { Metadata } from '@grpc/grpc-js';
import { hash } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import {
  AdminCredentialError,
  CallerCredentialInvalidError,
  CallerCredentialRequiredError,
  MethodNotAllowedError,
  SiteNotAllowedError,
} from '../domain/errors.js';
import { certificateIdentities, legacyAdminIdentities, type TypedIdentity } from './identity.js';
import { METHOD_CLASS, METHOD_CLASSES, type MethodClass } from './method-classes.js';
import type { CallerPolicy, CallerRule, SiteScope } from './policy.js';
import { TokenFiles } from './token-files.js';

/** How callers are authenticated: `required` (the default) or `anonymous` (--insecure-allow-anonymous). */
export type AuthMode = 'required' | 'anonymous';

/** The policy name of the caller made from `--admin-token-file` / `--admin-identities`. */
export const LEGACY_ADMIN_CALLER = 'admin';

/** The caller name of an unidentified caller under --insecure-allow-anonymous. */
export const ANONYMOUS_CALLER = 'anonymous';

/** An authenticated (or, in anonymous mode, assumed) caller of one call. */
export interface Caller {
  /** Policy name; what audit logs and lifecycle events show (never a credential). */
  readonly name: string;
  /** The method classes the caller may call (validate, login, admin). */
  readonly allow: ReadonlySet<MethodClass>;
  /** The sites the caller may act on. */
  readonly sites: SiteScope;
  /** True in anonymous mode. */
  readonly anonymous: boolean;
  /** Anonymous mode with an admin credential configured: AdminService still needs it (SPEC rule 10). */
  readonly adminGuard?: 'missing' | 'invalid';
}

/** Where the caller policy comes from; a PolicyFileSource satisfies it. */
export interface PolicyProvider {
  /** The policy in force. */
  current(): CallerPolicy;
  /** Subscribes to applied policies; returns the unsubscribe. */
  onChange(listener: (p: CallerPolicy) => void): () => void;
  /** The last rejected update's error; '' when the last update was good. */
  lastError?(): string;
}

/** Options of CallerAuth; defaults in the field comments. */
export interface CallerAuthOptions {
  /** Default `required`. */
  mode?: AuthMode;
  /** The caller policy (live). Default none: only the legacy admin caller, if any, exists. */
  policy?: PolicyProvider;
  /** Legacy admin token file: caller `admin`, class admin, every site. Must hold a token at start. */
  adminTokenFile?: string;
  /** Legacy admin certificate identities (typed, or untyped as before): the same caller `admin`. */
  adminIdentities?: readonly string[];
  /** How often token files are re-checked for changes. Default 1000 ms. */
  tokenRecheckMs?: number;
  /** Told about unreadable or empty token files (logged by the node). */
  onTokenProblem?: (file: string, problem: string) => void;
}

const ALL_CLASSES: ReadonlySet<MethodClass> = new Set(METHOD_CLASSES);

/** Most bearer tokens whose caller is cached at once (the cache is emptied when full). */
const MAX_CACHED_TOKENS = 1024;

/**
 * CallerAuth answers who is calling and whether they may (SPEC rule 21): a verified client
 * certificate's typed identities or a bearer token name a caller of the policy; the caller's method
 * classes and sites then decide. Credentials are resolved per call against the live policy and token
 * files, so a reload or a deleted token file applies to the next call.
 */
export class CallerAuth {
  /** `required` (every call names a caller) or `anonymous` (no caller needed; AdminService may still be guarded). */
  readonly mode: AuthMode;
  private readonly tokens: TokenFiles;
  private readonly legacy: CallerRule | undefined;
  private byIdentity = new Map<TypedIdentity, CallerRule>();
  private byFile = new Map<string, CallerRule>();
  /**
   * Authenticated callers by bearer-token digest, valid while the policy and token files are those
   * they were resolved against (`version`): a validated token costs one hash and a map read per call.
   */
  private readonly byToken = new Map<string, { caller: Caller; version: number }>();
  private policyVersion = 0;

  constructor(private readonly options: CallerAuthOptions = {}) {
    this.mode = options.mode ?? 'required';
    if (this.mode !== 'required' && this.mode !== 'anonymous') throw new Error(`auth: unknown mode ${String(this.mode)}`);
    this.tokens = new TokenFiles(options.tokenRecheckMs ?? 1000, options.onTokenProblem);
    const ids = (options.adminIdentities ?? []).flatMap(legacyAdminIdentities);
    if (options.adminTokenFile || ids.length > 0) {
      this.legacy = {
        name: LEGACY_ADMIN_CALLER,
        identities: ids,
        tokenFiles: options.adminTokenFile ? [options.adminTokenFile] : [],
        allow: new Set<MethodClass>(['admin']),
        sites: '*',
      };
    }
    this.apply(options.policy?.current());
    options.policy?.onChange((p) => this.apply(p));
    if (options.adminTokenFile && this.tokens.count(options.adminTokenFile) === 0) {
      throw new Error(`admin: cannot use token file ${options.adminTokenFile}: it must hold a token of at least 16 characters`);
    }
  }

  /** Version of the policy in force ('' without a policy file) and its last reload error. */
  status(): { anonymous: boolean; policyVersion: string; policyError: string } {
    return {
      anonymous: this.mode === 'anonymous',
      policyVersion: this.options.policy?.current().version ?? '',
      policyError: this.options.policy?.lastError?.() ?? '',
    };
  }

  private apply(policy: CallerPolicy | undefined): void {
    const rules = [...(policy?.callers ?? [])];
    if (this.legacy) rules.push(this.legacy);
    const byIdentity = new Map<TypedIdentity, CallerRule>();
    const byFile = new Map<string, CallerRule>();
    for (const r of rules) {
      for (const id of r.identities) if (!byIdentity.has(id)) byIdentity.set(id, r);
      for (const f of r.tokenFiles) if (!byFile.has(f)) byFile.set(f, r);
    }
    this.byIdentity = byIdentity;
    this.byFile = byFile;
    this.policyVersion++;
    this.byToken.clear();
    this.tokens.setFiles(byFile.keys());
  }

  /**
   * Who is calling: throws CallerCredentialRequiredError without any credential and
   * CallerCredentialInvalidError for one that names no caller. A bearer token, when sent, decides;
   * otherwise the verified client certificate does. In anonymous mode nothing throws.
   */
  authenticate(md: Metadata, cert: PeerCertificate | undefined): Caller {
    if (this.mode === 'required') {
      const header = md.get('authorization')[0];
      if (typeof header === 'string') return this.byBearer(header, md, cert);
    }
    return this.resolve(md, cert);
  }

  /** A bearer-token caller, from the cache when the policy and token files have not changed since. */
  private byBearer(header: string, md: Metadata, cert: PeerCertificate | undefined): Caller {
    this.tokens.refresh();
    const version = this.policyVersion * 2 ** 26 + this.tokens.version;
    const key = hash('sha256', header, 'base64');
    const hit = this.byToken.get(key);
    if (hit && hit.version === version) return hit.caller;
    const caller = this.resolve(md, cert);
    // Only callers found are cached (a flood of bad tokens cannot grow the map), and the map is bounded.
    if (this.byToken.size >= MAX_CACHED_TOKENS) this.byToken.clear();
    this.byToken.set(key, { caller, version });
    return caller;
  }

  private resolve(md: Metadata, cert: PeerCertificate | undefined): Caller {
    const found = this.identify(md, cert);
    if (this.mode === 'anonymous') {
      const rule = 'rule' in found ? found.rule : undefined;
      const guard = this.legacy && rule !== this.legacy ? ('problem' in found && found.problem === 'required' ? 'missing' : 'invalid') : undefined;
      return { name: rule?.name ?? ANONYMOUS_CALLER, allow: ALL_CLASSES, sites: '*', anonymous: true, ...(guard ? { adminGuard: guard } : {}) };
    }
    if ('rule' in found) return { name: found.rule.name, allow: found.rule.allow, sites: found.rule.sites, anonymous: false };
    if (found.problem === 'required') throw new CallerCredentialRequiredError();
    throw new CallerCredentialInvalidError(found.detail);
  }

  private identify(md: Metadata, cert: PeerCertificate | undefined): { rule: CallerRule } | { problem: 'required' | 'invalid'; detail: string } {
    const header = md.get('authorization')[0];
    if (header !== undefined) {
      const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header.trim()) : null;
      if (!m) return { problem: 'invalid', detail: 'the authorization header must be "Bearer <token>"' };
      const file = this.tokens.match(m[1]!);
      const rule = file ? this.byFile.get(file) : undefined;
      return rule ? { rule } : { problem: 'invalid', detail: 'the bearer token is not valid' };
    }
    const ids = certificateIdentities(cert);
    if (ids.length === 0) return { problem: 'required', detail: '' };
    for (const id of ids) {
      const rule = this.byIdentity.get(id);
      if (rule) return { rule };
    }
    return { problem: 'invalid', detail: `no caller of the policy has the client certificate identity ${ids.join(', ')}` };
  }

  /** Throws unless `caller` may call `method` (PERMISSION_DENIED METHOD_NOT_ALLOWED). */
  authorize(caller: Caller, method: string): void {
    const cls = METHOD_CLASS[method];
    if (!cls) throw new MethodNotAllowedError(caller.name, method, 'unknown');
    if (caller.anonymous && cls === 'admin' && caller.adminGuard) {
      throw new AdminCredentialError(caller.adminGuard === 'missing' ? 'an admin credential is required (authorization: Bearer <token>)' : 'the admin credential is not valid');
    }
    if (!caller.allow.has(cls)) throw new MethodNotAllowedError(caller.name, method, cls);
  }

  /** Throws unless `caller` may act on `site` (PERMISSION_DENIED SITE_NOT_ALLOWED). */
  checkSite(caller: Caller, site: string): void {
    if (caller.sites !== '*' && !caller.sites.has(site)) throw new SiteNotAllowedError(caller.name, site);
  }
}
