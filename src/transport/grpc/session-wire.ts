import type { SessionView } from '../../app/session-service.js';
import type { SessionRecord } from '../../domain/session.js';
import type { Verdict as DomainVerdict } from '../../domain/decisions.js';
import { Session } from '../../gen/sessionmanager/v1/session.js';
import { HeartbeatResponse, ValidateSessionResponse } from '../../gen/sessionmanager/v1/session_service.js';
import { sessionToPb, verdictToPb } from './convert.js';

// The wire form of the hot answers, built with the least work (issue 12). A VALID answer's Session
// has three fields that change on every hit (last_access_time, hit_count, idle_deadline) and many
// that change only when the record is rewritten. The stable ones are encoded once (ts-proto's
// Session.encode with the changing ones left out) and kept per session hash in a direct-mapped
// table (no map, no eviction bookkeeping); each answer is those bytes with the changing fields
// appended. A session is admitted on its second answer while it holds its slot: with many sessions
// each validated once, caching would cost more than it saves (measured: ~3× a plain encoding per
// answer when every lookup misses), so a first answer is encoded plainly. Protobuf allows fields in any order, so the spliced bytes
// decode equal to the plain encoding (test/unit/session-wire.test.ts checks it over a table).

/** Field tags (field number << 3 | wire type) of the spliced Session fields. */
const TAG_LAST_ACCESS = (6 << 3) | 2;
const TAG_HIT_COUNT = (7 << 3) | 0;
const TAG_IDLE_DEADLINE = (10 << 3) | 2;
/** ValidateSessionResponse: verdict (1, varint) and session (2, length-delimited). */
const TAG_VERDICT = (1 << 3) | 0;
const TAG_SESSION = (2 << 3) | 2;

/** Options of SessionWire. */
export interface SessionWireOptions {
  /**
   * Slots of the table of stable encodings (rounded up to a power of two; a session's slot is
   * chosen by its hash, a newcomer takes it over). Default 16 384; 0 keeps none.
   */
  maxEntries?: number;
}

/** Default number of slots of the table of stable encodings. */
export const DEFAULT_SESSION_WIRE_ENTRIES = 16_384;

/** The stable bytes of one session and the values they were encoded from. */
interface Stable {
  readonly hash: string;
  readonly rec: SessionRecord;
  readonly state: SessionView['state'];
  /** The encoder's own exact-size array: a pooled Buffer slice would keep its whole 8 KiB slab alive. */
  readonly bytes: Uint8Array;
}

/** The slot of `hash` in a table of `mask + 1` slots, from its last characters (a digest's are uniform). */
function slotOf(hash: string, mask: number): number {
  let h = 0;
  for (let i = Math.max(0, hash.length - 4); i < hash.length; i++) h = (h * 31 + hash.charCodeAt(i)) | 0;
  return h & mask;
}

/** Whether `s` was encoded from the same stable values as `rec` (records are replaced, never mutated, on a write). */
function sameStable(s: Stable, rec: SessionRecord, state: SessionView['state']): boolean {
  const a = s.rec;
  if (s.state !== state) return false;
  return (
    a === rec ||
    (a.policy === rec.policy &&
      a.attributeNames === rec.attributeNames &&
      a.site === rec.site &&
      a.user === rec.user &&
      a.clientType === rec.clientType &&
      a.deviceId === rec.deviceId &&
      a.createdAt === rec.createdAt &&
      a.absoluteDeadline === rec.absoluteDeadline)
  );
}

/** Bytes a varint of `n` (a non-negative integer below 2^53) takes. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes `n` (non-negative, below 2^53) as a varint at `at`; returns the position after it. */
function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 128) {
    buf[at++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

/** Size of the Timestamp body ts-proto writes for epoch ms `ms` (seconds and nanos, zeros left out). */
function timestampBodySize(ms: number): number {
  const seconds = Math.trunc(ms / 1000);
  const nanos = (ms % 1000) * 1_000_000;
  return (seconds !== 0 ? 1 + varintSize(seconds) : 0) + (nanos !== 0 ? 1 + varintSize(nanos) : 0);
}

/** Writes a length-delimited Timestamp field for epoch ms `ms` (≥ 0); returns the position after it. */
function writeTimestamp(buf: Buffer, at: number, tag: number, ms: number, bodySize: number): number {
  buf[at++] = tag;
  at = writeVarint(buf, at, bodySize);
  const seconds = Math.trunc(ms / 1000);
  const nanos = (ms % 1000) * 1_000_000;
  if (seconds !== 0) {
    buf[at++] = 8;
    at = writeVarint(buf, at, seconds);
  }
  if (nanos !== 0) {
    buf[at++] = 16;
    at = writeVarint(buf, at, nanos);
  }
  return at;
}

/** Whether the spliced fields of `v` can be hand-written (non-negative integers the varint writer handles). */
function spliceable(v: SessionView): boolean {
  const r = v.rec;
  return (
    Number.isSafeInteger(r.lastAccessAt) && r.lastAccessAt >= 0 &&
    Number.isSafeInteger(r.hits) && r.hits >= 0 &&
    (!Number.isFinite(v.idleDeadline) || (Number.isSafeInteger(v.idleDeadline) && v.idleDeadline >= 0))
  );
}

/**
 * SessionWire encodes the answers of the hot RPCs as bytes: a VALID ValidateSession answer from the
 * cached stable part of its Session plus the changing fields; every other answer (a bare verdict,
 * a Heartbeat verdict) is a constant encoded once. The service definition's serializer passes these
 * bytes through (withSafeDecoding).
 */
export class SessionWire {
  private readonly slots: Array<Stable | undefined>;
  /** Per slot, the hash of the last session answered once there (admitted on its next answer). */
  private readonly candidates: string[];
  private readonly mask: number;
  private filled = 0;
  private readonly verdictOnly = new Map<DomainVerdict, Buffer>();
  private readonly heartbeats = new Map<DomainVerdict, Buffer>();

  constructor(options: SessionWireOptions = {}) {
    const max = options.maxEntries ?? DEFAULT_SESSION_WIRE_ENTRIES;
    if (!(Number.isInteger(max) && max >= 0 && max <= 2 ** 24)) throw new Error('session wire: maxEntries must be an integer from 0 to 2^24');
    let n = max === 0 ? 0 : 1;
    while (n < max) n *= 2;
    this.slots = new Array<Stable | undefined>(n).fill(undefined);
    this.candidates = new Array<string>(n).fill('');
    this.mask = n - 1;
  }

  /** Sessions whose stable bytes are kept now. */
  get size(): number {
    return this.filled;
  }

  /** The encoded ValidateSessionResponse of `verdict` with `view` (or none). */
  validateResponse(verdict: DomainVerdict, view: SessionView | undefined): Buffer {
    if (!view) return this.verdictOnlyResponse(verdict);
    if (!spliceable(view)) return Buffer.from(ValidateSessionResponse.encode({ verdict: verdictToPb(verdict), session: sessionToPb(view) }).finish());
    const stable = this.stableOf(view);
    if (!stable) return Buffer.from(ValidateSessionResponse.encode({ verdict: verdictToPb(verdict), session: sessionToPb(view) }).finish());
    const r = view.rec;
    const lastSize = timestampBodySize(r.lastAccessAt);
    const idle = Number.isFinite(view.idleDeadline);
    const idleSize = idle ? timestampBodySize(view.idleDeadline) : 0;
    const sessionSize =
      stable.length +
      (1 + varintSize(lastSize) + lastSize) +
      (r.hits !== 0 ? 1 + varintSize(r.hits) : 0) +
      (idle ? 1 + varintSize(idleSize) + idleSize : 0);
    const v = verdictToPb(verdict);
    const head = (v !== 0 ? 1 + varintSize(v) : 0) + 1 + varintSize(sessionSize);
    const out = Buffer.allocUnsafe(head + sessionSize);
    let at = 0;
    if (v !== 0) {
      out[at++] = TAG_VERDICT;
      at = writeVarint(out, at, v);
    }
    out[at++] = TAG_SESSION;
    at = writeVarint(out, at, sessionSize);
    out.set(stable, at);
    at += stable.length;
    at = writeTimestamp(out, at, TAG_LAST_ACCESS, r.lastAccessAt, lastSize);
    if (r.hits !== 0) {
      out[at++] = TAG_HIT_COUNT;
      at = writeVarint(out, at, r.hits);
    }
    if (idle) at = writeTimestamp(out, at, TAG_IDLE_DEADLINE, view.idleDeadline, idleSize);
    return out;
  }

  /** The encoded HeartbeatResponse of `verdict` (a constant). */
  heartbeatResponse(verdict: DomainVerdict): Buffer {
    let b = this.heartbeats.get(verdict);
    if (!b) this.heartbeats.set(verdict, (b = Buffer.from(HeartbeatResponse.encode({ verdict: verdictToPb(verdict) }).finish())));
    return b;
  }

  private verdictOnlyResponse(verdict: DomainVerdict): Buffer {
    let b = this.verdictOnly.get(verdict);
    if (!b) this.verdictOnly.set(verdict, (b = Buffer.from(ValidateSessionResponse.encode({ verdict: verdictToPb(verdict), session: undefined }).finish())));
    return b;
  }

  /**
   * The stable bytes of a view's session while its stable values stay the same; undefined on its
   * first answer (it then takes the slot as a candidate, and its next answer encodes them).
   */
  private stableOf(view: SessionView): Uint8Array | undefined {
    if (this.slots.length === 0) return undefined;
    const i = slotOf(view.hash, this.mask);
    const held = this.slots[i];
    if (held !== undefined && held.hash === view.hash && sameStable(held, view.rec, view.state)) return held.bytes;
    // First answer in this slot: remember the hash only (no allocation), encode plainly.
    if (this.candidates[i] !== view.hash) {
      this.candidates[i] = view.hash;
      return undefined;
    }
    const pb = sessionToPb(view);
    pb.lastAccessTime = undefined;
    pb.hitCount = 0;
    pb.idleDeadline = undefined;
    const bytes = Session.encode(pb).finish();
    if (held === undefined) this.filled++;
    this.slots[i] = { hash: view.hash, rec: view.rec, state: view.state, bytes };
    return bytes;
  }
}
