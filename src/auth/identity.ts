import type { PeerCertificate } from 'node:tls';

/** The kinds of certificate identity a policy can name; the kind is part of the identity. */
export const IDENTITY_KINDS = ['uri', 'dns', 'cn'] as const;

/** One identity kind: URI SAN, DNS SAN, or subject CN (only of certificates without SANs). */
export type IdentityKind = (typeof IDENTITY_KINDS)[number];

/**
 * A typed certificate identity written `kind:value` (`uri:spiffe://…`, `dns:web.shop.svc`,
 * `cn:ops-admin`), so a CN can never stand in for a URI or DNS name with the same text.
 */
export type TypedIdentity = `${IdentityKind}:${string}`;

/** Parses `kind:value`; null when the kind is unknown or the value empty. */
export function parseIdentity(text: string): TypedIdentity | null {
  const i = text.indexOf(':');
  if (i <= 0) return null;
  const kind = text.slice(0, i);
  const value = text.slice(i + 1);
  if (!(IDENTITY_KINDS as readonly string[]).includes(kind) || !value || value.trim() !== value) return null;
  return `${kind as IdentityKind}:${value}`;
}

/**
 * The typed identities of a verified client certificate: its URI and DNS SANs; its subject CN only
 * when it has no SAN at all (the CN of a certificate with SANs is ignored, as in RFC 6125).
 */
export function certificateIdentities(cert: PeerCertificate | undefined): TypedIdentity[] {
  if (!cert || !cert.subject) return [];
  const out: TypedIdentity[] = [];
  let sans = 0;
  for (const part of splitSans(cert.subjectaltname ?? '')) {
    const m = /^(DNS|URI|IP Address|email|DirName|othername):(.*)$/i.exec(part);
    if (!m) continue;
    sans++;
    const kind = m[1]!.toUpperCase();
    if (kind === 'URI' && m[2]) out.push(`uri:${m[2]}`);
    else if (kind === 'DNS' && m[2]) out.push(`dns:${m[2].toLowerCase()}`);
  }
  const cn = cert.subject.CN;
  if (sans === 0 && typeof cn === 'string' && cn) out.push(`cn:${cn}`);
  return out;
}

/** Splits Node's `subjectaltname` string (`DNS:a, URI:b`, values with commas quoted) into entries. */
function splitSans(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out.map((p) => p.replace(/^([^:]+):"(.*)"$/, '$1:$2'));
}

/**
 * Maps one `--admin-identities` entry (written before identities were typed) to typed identities:
 * a typed entry is kept; an untyped one with `://` is a URI SAN; any other is a DNS SAN or a CN.
 */
export function legacyAdminIdentities(entry: string): TypedIdentity[] {
  const typed = parseIdentity(entry);
  if (typed) return [typed];
  if (entry.includes('://')) return [`uri:${entry}`];
  return [`dns:${entry.toLowerCase()}`, `cn:${entry}`];
}
