/** The label value that stands for every value past a BoundedLabel's limit. */
export const OTHER = 'other';

/**
 * BoundedLabel caps the cardinality of a caller-controlled label (the site): the first `limit`
 * distinct values keep their name for the life of the process, every later one becomes `other`.
 */
export class BoundedLabel {
  private readonly admitted = new Set<string>();

  constructor(readonly limit: number) {
    if (!(Number.isInteger(limit) && limit >= 1)) throw new Error('telemetry: label limit must be a positive integer');
  }

  /** The label value to use for `value`. */
  of(value: string): string {
    if (this.admitted.has(value)) return value;
    if (this.admitted.size >= this.limit) return OTHER;
    this.admitted.add(value);
    return value;
  }
}

/** Readable names of the store's key classes (src/store/etcd/keys.ts). */
const KEY_CLASSES: Readonly<Record<string, string>> = {
  '': 'none',
  s: 'session',
  a: 'attribute',
  u: 'user_index',
  p: 'presence',
  n: 'node',
  e: 'event',
  m: 'meta',
};

/**
 * The label of an etcd key class: a readable name for the known one-letter classes, the class itself
 * when it is a short lowercase word, else `other` — so a key can never leak into a label.
 */
export function keyClassLabel(keyClass: string): string {
  const known = KEY_CLASSES[keyClass];
  if (known !== undefined) return known;
  return /^[a-z][a-z_]{0,23}$/.test(keyClass) ? keyClass : OTHER;
}

/** The label of an etcd operation name (the gateway's RPC names are short lowercase words). */
export function opLabel(op: string): string {
  return /^[a-z][a-z_]{0,23}$/.test(op) ? op : OTHER;
}

/** A bounded error label: the error's stable reason code when it has one, else its class name. */
export function errorLabel(err: unknown): string {
  if (err && typeof err === 'object') {
    const reason = (err as { reason?: unknown }).reason;
    if (typeof reason === 'string' && /^[A-Z][A-Z0-9_]{0,47}$/.test(reason)) return reason;
    const name = (err as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string' && /^[A-Za-z][A-Za-z0-9_]{0,47}$/.test(name)) return name;
  }
  return OTHER;
}
