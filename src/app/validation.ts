import { isClientType, type ClientType } from '../domain/client-type.js';
import {
  AttributeTooLargeError,
  InvalidFieldError,
  MalformedSessionIdError,
  SiteNotFoundError,
  TooManyAttributesError,
  UnknownClientTypeError,
} from '../domain/errors.js';
import { isWellFormedSessionId } from '../domain/ids.js';
import type { ClusterPolicy } from '../domain/policy.js';

/** Longest site, user, device, instance or attribute name accepted, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 256;

/** Throws MalformedSessionIdError unless `id` has the shape of a session id. */
export function requireSessionId(id: string): void {
  if (!isWellFormedSessionId(id)) throw new MalformedSessionIdError();
}

/** Checks a caller-supplied name: non-empty, at most MAX_NAME_BYTES, no control characters. */
export function requireName(field: string, value: string): void {
  if (value === '') throw new InvalidFieldError(field, 'must not be empty');
  if (Buffer.byteLength(value, 'utf8') > MAX_NAME_BYTES) throw new InvalidFieldError(field, `longer than ${MAX_NAME_BYTES} bytes`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new InvalidFieldError(field, 'contains control characters');
}

/** Checks a client type name. */
export function requireClientType(value: string): ClientType {
  if (!isClientType(value)) throw new UnknownClientTypeError(value);
  return value;
}

/** Checks that the site is one the configuration allows. */
export function requireSite(policy: ClusterPolicy, site: string): void {
  requireName('site', site);
  if (policy.sites && !policy.sites.has(site)) throw new SiteNotFoundError(site);
}

/** Checks one attribute's name and size. */
export function requireAttribute(policy: ClusterPolicy, name: string, value: Uint8Array): void {
  requireName('attribute name', name);
  if (value.length > policy.attributeMaxBytes) throw new AttributeTooLargeError(name, value.length, policy.attributeMaxBytes);
}

/** Checks a whole attribute set (creation). */
export function requireAttributes(policy: ClusterPolicy, attrs: ReadonlyMap<string, Uint8Array>): void {
  if (attrs.size > policy.attributeMaxCount) throw new TooManyAttributesError(policy.attributeMaxCount);
  for (const [name, value] of attrs) requireAttribute(policy, name, value);
}
