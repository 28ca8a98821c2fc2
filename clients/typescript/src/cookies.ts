/**
 * Cookie settings of the session cookie. The cookie is always HttpOnly (scripts never see the
 * session id). Defaults: name `sid`, Secure on (browsers then send it over HTTPS only; turn it off
 * only for plain-HTTP development), SameSite `Lax` (sent on top-level navigations from other sites,
 * not on their subrequests or form POSTs; use `Strict` when no cross-site link must stay logged in),
 * Path `/`, no Domain (this host only), no Max-Age (a browser-session cookie: the server's idle and
 * absolute timeouts decide how long the session lives).
 */
export interface CookieOptions {
  /** Cookie name (default `sid`). */
  readonly name?: string;
  /** Secure attribute (default true). */
  readonly secure?: boolean;
  /** SameSite attribute (default `Lax`). */
  readonly sameSite?: 'Strict' | 'Lax' | 'None';
  /** Path attribute (default `/`). */
  readonly path?: string;
  /** Domain attribute (default none: this host only). */
  readonly domain?: string;
  /** Max-Age in seconds (default none: deleted when the browser closes). */
  readonly maxAgeSeconds?: number;
}

/** Default session cookie name. */
export const DEFAULT_COOKIE_NAME = 'sid';

/** Reads one cookie from a Cookie header (undefined when absent or undecodable). */
export function readCookie(header: string | string[] | undefined, name: string): string | undefined {
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (!text) return undefined;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    let v = part.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
    try {
      return decodeURIComponent(v);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Builds the Set-Cookie value that stores a session id. */
export function sessionCookie(sessionId: string, o: CookieOptions = {}): string {
  const parts = [`${o.name ?? DEFAULT_COOKIE_NAME}=${encodeURIComponent(sessionId)}`, `Path=${o.path ?? '/'}`, 'HttpOnly'];
  if (o.secure ?? true) parts.push('Secure');
  parts.push(`SameSite=${o.sameSite ?? 'Lax'}`);
  if (o.domain) parts.push(`Domain=${o.domain}`);
  if (o.maxAgeSeconds !== undefined) parts.push(`Max-Age=${Math.floor(o.maxAgeSeconds)}`);
  return parts.join('; ');
}

/** Builds the Set-Cookie value that deletes the session cookie (same name, path and domain). */
export function clearedCookie(o: CookieOptions = {}): string {
  const parts = [`${o.name ?? DEFAULT_COOKIE_NAME}=`, `Path=${o.path ?? '/'}`, 'HttpOnly'];
  if (o.secure ?? true) parts.push('Secure');
  parts.push(`SameSite=${o.sameSite ?? 'Lax'}`);
  if (o.domain) parts.push(`Domain=${o.domain}`);
  parts.push('Max-Age=0', 'Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  return parts.join('; ');
}
