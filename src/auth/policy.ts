import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { parseIdentity, type TypedIdentity } from './identity.js';
import { METHOD_CLASSES, type MethodClass } from './method-classes.js';

/** The sites a caller may act on: every site, or the listed ones. */
export type SiteScope = '*' | ReadonlySet<string>;

/** One calling service of the policy file, under its name. */
export interface CallerRule {
  /** The policy's name for this caller: what audit logs and events show. */
  readonly name: string;
  /** Client-certificate identities that are this caller. */
  readonly identities: readonly TypedIdentity[];
  /** Files with this caller's bearer tokens (one per line; several files or lines overlap a rotation). */
  readonly tokenFiles: readonly string[];
  readonly allow: ReadonlySet<MethodClass>;
  readonly sites: SiteScope;
}

/** A validated caller policy. */
export interface CallerPolicy {
  /** Content hash of the policy text (first 12 hex digits of SHA-256); '' for a built-in policy. */
  readonly version: string;
  readonly callers: readonly CallerRule[];
}

/** A policy text with problems: rejected whole, naming every problem. */
export class PolicyInvalidError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`caller policy ${source} is invalid: ${problems.join('; ')}`);
    this.name = 'PolicyInvalidError';
  }
}

const CALLER_KEYS = new Set(['identities', 'tokenFiles', 'allow', 'sites']);
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * Parses and validates a caller policy (JSON, see README "Security"): `{"callers": {"<name>":
 * {"identities": ["uri:…"], "tokenFiles": ["…"], "allow": ["validate"], "sites": ["shop"] | "*"}}}`.
 * Relative token file paths are resolved against `baseDir`. Throws PolicyInvalidError listing
 * every problem; nothing of an invalid text is used.
 */
export function parsePolicy(text: string, source: string, baseDir: string): CallerPolicy {
  const problems: string[] = [];
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new PolicyInvalidError(source, [`not valid JSON: ${(err as Error).message}`]);
  }
  if (!isObject(doc)) throw new PolicyInvalidError(source, ['the top level must be an object with "callers"']);
  for (const k of Object.keys(doc)) if (k !== 'callers') problems.push(`unknown top-level key ${JSON.stringify(k)}`);
  const callersDoc = doc['callers'];
  if (!isObject(callersDoc)) throw new PolicyInvalidError(source, [...problems, '"callers" must be an object of caller name → rule']);
  const callers: CallerRule[] = [];
  const identityOwner = new Map<string, string>();
  const fileOwner = new Map<string, string>();
  for (const [name, rule] of Object.entries(callersDoc)) {
    const at = `callers.${name}`;
    if (!NAME.test(name)) problems.push(`${at}: a caller name is 1-63 letters, digits, '.', '_' or '-'`);
    if (!isObject(rule)) {
      problems.push(`${at}: must be an object`);
      continue;
    }
    for (const k of Object.keys(rule)) if (!CALLER_KEYS.has(k)) problems.push(`${at}: unknown key ${JSON.stringify(k)}`);
    const identities: TypedIdentity[] = [];
    for (const v of stringList(rule['identities'], `${at}.identities`, problems)) {
      const id = parseIdentity(v);
      if (!id) {
        problems.push(`${at}.identities: ${JSON.stringify(v)} is not uri:…, dns:… or cn:…`);
        continue;
      }
      const norm = (id.startsWith('dns:') ? id.toLowerCase() : id) as TypedIdentity;
      const owner = identityOwner.get(norm);
      if (owner && owner !== name) problems.push(`${at}.identities: ${norm} is already caller ${owner}'s`);
      identityOwner.set(norm, name);
      identities.push(norm);
    }
    const tokenFiles: string[] = [];
    for (const f of stringList(rule['tokenFiles'], `${at}.tokenFiles`, problems)) {
      const path = isAbsolute(f) ? f : resolve(baseDir, f);
      const owner = fileOwner.get(path);
      if (owner && owner !== name) problems.push(`${at}.tokenFiles: ${path} is already caller ${owner}'s`);
      fileOwner.set(path, name);
      tokenFiles.push(path);
    }
    if (identities.length === 0 && tokenFiles.length === 0) problems.push(`${at}: needs at least one of identities or tokenFiles`);
    const allow = new Set<MethodClass>();
    const allowList = stringList(rule['allow'], `${at}.allow`, problems);
    if (allowList.length === 0) problems.push(`${at}.allow: list at least one of ${METHOD_CLASSES.join(', ')}`);
    for (const c of allowList) {
      if ((METHOD_CLASSES as readonly string[]).includes(c)) allow.add(c as MethodClass);
      else problems.push(`${at}.allow: unknown method class ${JSON.stringify(c)} (one of ${METHOD_CLASSES.join(', ')})`);
    }
    let sites: SiteScope = new Set<string>();
    if (rule['sites'] === '*') sites = '*';
    else {
      const list = stringList(rule['sites'], `${at}.sites`, problems);
      if (list.length === 0) problems.push(`${at}.sites: "*" or a non-empty list of sites`);
      if (list.includes('*')) problems.push(`${at}.sites: write "*" alone, not inside a list`);
      sites = new Set(list);
    }
    callers.push({ name, identities, tokenFiles, allow, sites });
  }
  if (problems.length > 0) throw new PolicyInvalidError(source, problems);
  return { version: policyVersionOf(text), callers };
}

/** The content hash a policy version is made of. */
export function policyVersionOf(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringList(v: unknown, at: string, problems: string[]): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x.length > 0)) {
    problems.push(`${at}: must be a list of non-empty strings`);
    return [];
  }
  return v as string[];
}
