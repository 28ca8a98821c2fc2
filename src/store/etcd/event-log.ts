import type { IKeyValue, IWatchResponse } from 'etcd3';
import { InvalidResumeTokenError, StoreUnavailableError } from '../../domain/errors.js';
import type { EventEnvelope, EventLog } from '../../domain/ports.js';
import type { EtcdGateway } from './client.js';
import { decodeEvent } from './codec.js';
import { prefixEnd, type Keys } from './keys.js';

/** A place in the event order: revision, then key. */
interface Position {
  rev: number;
  key: string;
}

function tokenOf(p: Position): string {
  return Buffer.from(`${p.rev}:${p.key}`).toString('base64url');
}

function parseToken(token: string): Position {
  const text = Buffer.from(token, 'base64url').toString();
  const m = /^(\d+):(.+)$/s.exec(text);
  if (!m || Buffer.from(text).toString('base64url') !== token) throw new InvalidResumeTokenError();
  return { rev: Number(m[1]), key: m[2]! };
}

function after(a: Position, b: Position): boolean {
  return a.rev > b.rev || (a.rev === b.rev && a.key > b.key);
}

/**
 * EtcdEventLog streams lifecycle events (SPEC rule 18) in a total order — revision, then key — with a
 * resume token per event. Resuming reads the retained events after the token from the events prefix
 * (not from watch history, which compaction may have removed), then watches for new ones.
 */
export class EtcdEventLog implements EventLog {
  constructor(
    private readonly etcd: EtcdGateway,
    private readonly keys: Keys,
  ) {}

  /** Checks a token's form; throws InvalidResumeTokenError. */
  validateToken(token: string): void {
    if (token !== '') parseToken(token);
  }

  /** Yields events after `token` ('' = from now) until `signal` aborts; throws when etcd fails. */
  async *stream(token: string, signal: AbortSignal): AsyncGenerator<EventEnvelope> {
    const prefix = this.keys.events();
    let last: Position | null = token ? parseToken(token) : null;
    const toEnvelope = (kv: IKeyValue): { pos: Position; env: EventEnvelope } | null => {
      const event = decodeEvent(kv.value);
      if (!event) return null;
      const pos = { rev: Number(kv.mod_revision), key: kv.key.toString() };
      return { pos, env: { token: tokenOf(pos), event } };
    };
    let startRev: number;
    if (last) {
      const backlog: IKeyValue[] = [];
      let from = Buffer.from(prefix);
      let rev = 0;
      for (;;) {
        const r = await this.etcd.range(
          { key: from, range_end: prefixEnd(prefix), limit: 5000, min_mod_revision: last.rev, ...(rev ? { revision: rev } : {}) },
          'e',
        );
        if (!rev) rev = Number(r.header.revision);
        backlog.push(...r.kvs);
        if (!r.more || r.kvs.length === 0) break;
        from = Buffer.concat([r.kvs[r.kvs.length - 1]!.key, Buffer.from([0])]);
      }
      startRev = rev;
      const items = backlog.map(toEnvelope).filter((x): x is NonNullable<typeof x> => !!x && after(x.pos, last!));
      items.sort((a, b) => a.pos.rev - b.pos.rev || (a.pos.key < b.pos.key ? -1 : a.pos.key > b.pos.key ? 1 : 0));
      for (const it of items) {
        if (signal.aborted) return;
        last = it.pos;
        yield it.env;
      }
    } else {
      const r = await this.etcd.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix), count_only: true }, 'e');
      startRev = Number(r.header.revision);
    }

    const stream = await this.etcd.openWatch();
    const queue: Array<EventEnvelope | Error> = [];
    let wake: (() => void) | undefined;
    const push = (x: EventEnvelope | Error) => {
      queue.push(x);
      wake?.();
    };
    stream.on('data', (res: IWatchResponse) => {
      if (Number(res.compact_revision) > 0 || res.canceled) {
        push(new StoreUnavailableError('event watch interrupted; resume from the last token'));
        return;
      }
      const items = res.events
        .filter((e) => e.type !== 'Delete')
        .map((e) => toEnvelope(e.kv))
        .filter((x): x is NonNullable<typeof x> => !!x);
      // One txn's events share a revision; order them by key so tokens are a total order.
      items.sort((a, b) => a.pos.rev - b.pos.rev || (a.pos.key < b.pos.key ? -1 : a.pos.key > b.pos.key ? 1 : 0));
      for (const it of items) if (!last || after(it.pos, last)) push(it.env);
    });
    stream.on('error', (err: Error) => push(new StoreUnavailableError(err.message)));
    stream.on('end', () => push(new StoreUnavailableError('event watch ended')));
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort);
    stream.write({ create_request: { key: Buffer.from(prefix), range_end: prefixEnd(prefix), start_revision: startRev + 1 } });
    try {
      while (!signal.aborted) {
        const next = queue.shift();
        if (!next) {
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
          continue;
        }
        if (next instanceof Error) throw next;
        yield next;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      try {
        stream.cancel?.();
      } catch {
        /* closed */
      }
    }
  }
}
