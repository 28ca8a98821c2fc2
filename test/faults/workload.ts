// A bounded mixed workload (create / validate / set attribute / end) over several nodes, with a
// ledger of what the service acknowledged, so a fault test can prove afterwards that nothing
// acknowledged was lost. Ambiguous outcomes (timeouts, UNAVAILABLE on a write) are remembered as
// "maybe applied" and accepted either way.
import { status } from '@grpc/grpc-js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { hashSessionId } from '../../src/app/ids.js';
import { outcome, type CapturedNode } from '../property/support.js';

/** What the ledger knows of one attribute: the last acknowledged value and later maybe-applied ones. */
interface AttrLedger {
  acked: string | undefined;
  maybe: Set<string>;
}

/** What the ledger knows of one session. */
interface SessionLedger {
  ended: 'no' | 'yes' | 'maybe';
  attrs: Map<string, AttrLedger>;
  busy: boolean;
  /** EndSession calls issued so far (a validate overlapping one may rightly see the session gone). */
  endsIssued: number;
  /** EndSession calls not answered yet. */
  endsInFlight: number;
}

/** The name of a gRPC status code. */
export const codeName = (c: number): string => status[c] ?? String(c);

/** Counts of one operation's outcomes, by code name (and verdict for validates). */
export type Tally = Record<string, number>;

/** A time-stamped validate outcome, for error rates inside a window. */
export interface Sample {
  at: number;
  ok: boolean;
  code: number;
}

/** Options of one workload run: it stops at `durationMs` or after `maxOps`, whichever comes first. */
export interface WorkloadOptions {
  nodes: CapturedNode[];
  durationMs: number;
  maxOps: number;
  concurrency?: number;
  /** Relative weights of the operations. */
  mix?: { create: number; validate: number; set: number; end: number };
}

/** Ledger keeps the acknowledged state and every outcome of a workload. */
export class Ledger {
  readonly sessions = new Map<string, SessionLedger>();
  readonly tallies: Record<'create' | 'validate' | 'set' | 'end', Tally> = { create: {}, validate: {}, set: {}, end: {} };
  readonly validates: Sample[] = [];
  /**
   * Sessions a validate called NOT_FOUND although they were acknowledged and live and no EndSession of
   * them overlapped the validate: a session lost.
   */
  readonly lostOnValidate: string[] = [];
  /**
   * Validates answered NOT_FOUND while an EndSession of the same session was in flight (issued before
   * the validate's answer, not yet answered): linearizable, the end may have taken effect first.
   */
  overlappingEnds = 0;
  /** Acknowledged live sessions that EndSession found already gone (deleted by something else): a loss. */
  readonly lostOnEnd: string[] = [];
  /** Where and when each of those answers came, and what the answering node's mirror held right after. */
  private readonly nodeIds = new Map<CapturedNode, number>();
  readonly lostDetails: Array<{ id: string; node: string; at: number; cached: boolean; feed: string }> = [];
  private counter = 0;

  get ids(): string[] {
    return [...this.sessions.keys()];
  }

  private tally(op: keyof Ledger['tallies'], key: string): void {
    this.tallies[op][key] = (this.tallies[op][key] ?? 0) + 1;
  }

  /** Creates a session through `n` and records it if acknowledged. */
  async create(n: CapturedNode, attrs = 1): Promise<string | undefined> {
    const attributes: Record<string, Buffer> = {};
    const seed = new Map<string, AttrLedger>();
    for (let i = 0; i < attrs; i++) {
      const v = `init-${++this.counter}`;
      attributes[`a${i}`] = Buffer.from(v);
      seed.set(`a${i}`, { acked: v, maybe: new Set() });
    }
    const o = await outcome(n.api.create({ site: 'default', user: `u${this.counter % 50}`, clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: 'd', attributes }));
    this.tally('create', codeName(o.code));
    if (o.code !== status.OK) return undefined;
    this.sessions.set(o.res!.sessionId, { ended: 'no', attrs: seed, busy: false, endsIssued: 0, endsInFlight: 0 });
    return o.res!.sessionId;
  }

  /** Validates a session through `n`; counts a loss when an acknowledged live session is NOT_FOUND. */
  async validate(n: CapturedNode, id: string): Promise<void> {
    const before = this.sessions.get(id);
    const issuedBefore = before?.endsIssued ?? 0;
    const inFlightBefore = before?.endsInFlight ?? 0;
    const o = await outcome(n.api.validate({ sessionId: id }));
    const s = this.sessions.get(id);
    this.validates.push({ at: Date.now(), ok: o.code === status.OK, code: o.code });
    if (o.code !== status.OK) {
      this.tally('validate', codeName(o.code));
      return;
    }
    this.tally('validate', Verdict[o.res!.verdict] ?? String(o.res!.verdict));
    if (o.res!.verdict === Verdict.VERDICT_NOT_FOUND && s?.ended === 'no') {
      // An end issued before this answer arrived (in flight at the start, or started meanwhile) may
      // have deleted the session first, its acknowledgement still on the way: not a loss.
      if (inFlightBefore > 0 || s.endsIssued !== issuedBefore) {
        this.overlappingEnds++;
        return;
      }
      this.lostOnValidate.push(id);
      this.lostDetails.push({ id, node: `node ${this.nodeIds.get(n) ?? this.nodeIds.set(n, this.nodeIds.size).size - 1}`, at: Date.now(), cached: !!n.node.cache.get(hashSessionId(id)), feed: n.node.feed.state });
    }
  }

  /** Writes a fresh unique value to one attribute of a session (unconditionally). */
  async set(n: CapturedNode, id: string): Promise<void> {
    const s = this.sessions.get(id)!;
    const name = `a${this.counter % 3}`;
    const value = `v-${++this.counter}`;
    const a = s.attrs.get(name) ?? { acked: undefined, maybe: new Set<string>() };
    s.attrs.set(name, a);
    const o = await outcome(n.api.setAttribute({ sessionId: id, name, value: Buffer.from(value), etag: '', createOnly: false }));
    this.tally('set', `${codeName(o.code)}${o.reason ? ` ${o.reason}` : ''}`);
    if (o.code === status.OK) {
      a.acked = value;
      a.maybe.clear();
    } else if (o.code === status.UNAVAILABLE || o.code === status.DEADLINE_EXCEEDED || o.code === status.CANCELLED) {
      a.maybe.add(value);
    }
  }

  /** Ends a session. */
  async end(n: CapturedNode, id: string): Promise<void> {
    const s = this.sessions.get(id)!;
    s.endsIssued++;
    s.endsInFlight++;
    const o = await outcome(n.api.end({ sessionId: id })).finally(() => s.endsInFlight--);
    this.tally('end', codeName(o.code));
    if (o.code === status.NOT_FOUND && s.ended === 'no') this.lostOnEnd.push(id);
    if (o.code === status.OK) s.ended = 'yes';
    else if (o.code !== status.NOT_FOUND) s.ended = s.ended === 'yes' ? 'yes' : 'maybe';
  }

  /** Validate error rate (non-OK / all) of the validates in [from, to]. */
  validateErrorRate(from: number, to: number): { total: number; errors: number; rate: number; codes: Tally } {
    const inWindow = this.validates.filter((v) => v.at >= from && v.at <= to);
    const errors = inWindow.filter((v) => !v.ok);
    const codes: Tally = {};
    for (const e of errors) codes[codeName(e.code)] = (codes[codeName(e.code)] ?? 0) + 1;
    return { total: inWindow.length, errors: errors.length, rate: inWindow.length ? errors.length / inWindow.length : 0, codes };
  }

  private pickLive(r: number): string | undefined {
    const live = [...this.sessions].filter(([, s]) => s.ended === 'no' && !s.busy);
    return live.length ? live[Math.floor(r * live.length)]![0] : undefined;
  }

  /** Runs the mixed workload until its time or op budget is spent. */
  async run(o: WorkloadOptions): Promise<void> {
    const mix = o.mix ?? { create: 2, validate: 6, set: 2, end: 1 };
    const total = mix.create + mix.validate + mix.set + mix.end;
    const stopAt = Date.now() + o.durationMs;
    let ops = 0;
    const worker = async () => {
      while (Date.now() < stopAt && ops++ < o.maxOps) {
        const n = o.nodes[Math.floor(Math.random() * o.nodes.length)]!;
        let r = Math.random() * total;
        const id = this.pickLive(Math.random());
        if (!id || (r -= mix.create) < 0) {
          await this.create(n);
        } else if ((r -= mix.validate) < 0) {
          await this.validate(n, id);
        } else {
          const s = this.sessions.get(id)!;
          s.busy = true; // one writer per session at a time, so "last acknowledged" is well defined
          try {
            if ((r -= mix.set) < 0) await this.set(n, id);
            else await this.end(n, id);
          } finally {
            s.busy = false;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: o.concurrency ?? 8 }, worker));
  }

  /**
   * Checks every acknowledged fact through `n`: live sessions validate VALID, ended ones NOT_FOUND,
   * every attribute holds its last acknowledged value (or a later maybe-applied one). Returns problems.
   */
  async verify(n: CapturedNode): Promise<string[]> {
    const problems: string[] = [];
    for (const [id, s] of this.sessions) {
      const short = `${id.slice(0, 4)}…`;
      const v = await outcome(n.api.validate({ sessionId: id }));
      if (v.code !== status.OK) {
        problems.push(`${short}: validate ${status[v.code]} ${v.reason ?? ''}`);
        continue;
      }
      const verdict = v.res!.verdict;
      if (s.ended === 'no' && verdict !== Verdict.VERDICT_VALID) problems.push(`${short}: acknowledged live session is ${Verdict[verdict]}`);
      if (s.ended === 'yes' && verdict !== Verdict.VERDICT_NOT_FOUND) problems.push(`${short}: ended session is ${Verdict[verdict]}`);
      if (verdict !== Verdict.VERDICT_VALID) continue;
      for (const [name, a] of s.attrs) {
        const g = await outcome(n.api.getAttribute({ sessionId: id, name }));
        const got = g.code === status.OK ? Buffer.from(g.res!.attribute!.value).toString() : undefined;
        const allowed = new Set([a.acked, ...a.maybe]);
        if (!allowed.has(got)) problems.push(`${short}/${name}: holds ${got ?? status[g.code]}, acknowledged ${a.acked}`);
      }
    }
    return problems;
  }

  /** A one-line summary of every tally, for the test log. */
  summary(): string {
    return Object.entries(this.tallies)
      .map(([op, t]) => `${op} ${Object.entries(t).map(([k, v]) => `${k}=${v}`).join(',')}`)
      .join(' | ');
  }
}
