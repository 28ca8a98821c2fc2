import { EventEmitter } from 'node:events';
import type { IKeyValue, IRangeRequest, ITxnRequest, IWatchRequest, IWatchResponse } from 'etcd3';
import type { EtcdGateway } from '../../src/store/etcd/client.js';

/** One fake watch stream: records what the feed writes, lets the test answer. */
export class FakeWatchStream extends EventEmitter {
  /** start_revision of every create request, in order. */
  readonly starts: number[] = [];
  /** Progress requests received. */
  progressRequests = 0;
  canceled = false;

  constructor(private readonly etcd: FakeWatchEtcd) {
    super();
  }

  /** The feed writes a request: creates are acknowledged (a microtask later, unless told not to), progress requests answered if autoProgress. */
  write(r: IWatchRequest): void {
    if (r.create_request) {
      this.starts.push(Number(r.create_request.start_revision));
      const id = String(this.starts.length - 1);
      if (this.etcd.ackCreates) queueMicrotask(() => this.respond({ created: true, watch_id: id }));
    } else if (r.progress_request) {
      this.progressRequests++;
      if (this.etcd.autoProgress) queueMicrotask(() => this.respond({ watch_id: '-1' }));
    } else this.etcd.unexpected(`watch request ${JSON.stringify(r)}`);
  }

  cancel(): void {
    this.canceled = true;
  }

  /** Sends a response (header revision = the fake's revision unless given). */
  respond(res: Partial<IWatchResponse>): void {
    this.emit('data', { header: { revision: String(this.etcd.revision) }, watch_id: '0', created: false, canceled: false, compact_revision: '0', events: [], fragment: false, ...res });
  }

  /** Sends events to the watch of the `watch`-th create request. */
  events(watch: number, events: Array<{ type: 'Put' | 'Delete'; kv: IKeyValue }>): void {
    this.respond({ watch_id: String(watch), events: events as never });
  }
}

/** A key-value as etcd returns it. */
export function kv(key: string, value: Uint8Array | string, mod: number, created = mod): IKeyValue {
  return { key: Buffer.from(key), value: Buffer.from(value), mod_revision: String(mod), create_revision: String(created), version: '1', lease: '0' } as IKeyValue;
}

/**
 * FakeWatchEtcd is the etcd a WatchFeed sees, strict: it answers prefix lists (from `data`), count-only
 * revision reads, the sync-marker put and watch streams; any other call fails loudly (recorded in
 * `problems` and thrown).
 */
export class FakeWatchEtcd {
  revision = 5;
  /** The keys a list returns (any prefix). */
  data: IKeyValue[] = [];
  /** Ops in order: list:<prefix>@<rev>, revision, txn, watch. */
  readonly calls: string[] = [];
  readonly streams: FakeWatchStream[] = [];
  readonly problems: string[] = [];
  ackCreates = true;
  autoProgress = true;
  /** When set, lists and revision reads fail with it (etcd unreachable). */
  rangeError: Error | undefined;
  /** When set, the marker put fails with it. */
  txnError: Error | undefined;
  /** When set, the marker put is allowed on this key only, and its event is sent on watch 0. */
  syncKey: string | undefined;
  /** When false, the marker put's event is not sent (the test sends it). */
  markerEvents = true;
  /** When false, openWatch is a loud failure (after stop, say). */
  watchAllowed = true;

  unexpected(what: string): never {
    this.problems.push(what);
    throw new Error(`fake etcd: unexpected ${what}`);
  }

  /** The latest stream. */
  get stream(): FakeWatchStream {
    const s = this.streams.at(-1);
    if (!s) throw new Error('no watch stream opened');
    return s;
  }

  /** The gateway, as a proxy that fails on anything the feed should not call. */
  readonly gateway: EtcdGateway = new Proxy({} as EtcdGateway, {
    get: (_t, prop) => {
      if (prop === 'range') return (req: IRangeRequest, op: string) => this.range(req, op);
      if (prop === 'txn') return (req: ITxnRequest) => this.txn(req);
      if (prop === 'openWatch') return (o: { requireLeader?: boolean }) => this.openWatch(o);
      if (prop === 'then') return undefined;
      return this.unexpected(`gateway.${String(prop)}`);
    },
  });

  private async range(req: IRangeRequest, op: string) {
    if (this.rangeError) throw this.rangeError;
    const key = Buffer.from(req.key as Buffer).toString();
    if (op === 'revision' && req.count_only) {
      this.calls.push('revision');
      return { header: { revision: String(this.revision) }, kvs: [], more: false, count: '0' };
    }
    if (op !== 'list' || !req.range_end) this.unexpected(`range ${op} ${key}`);
    const at = Number(req.revision ?? 0) || this.revision;
    this.calls.push(`list:${key}@${at}`);
    const kvs = this.data.filter((k) => k.key.toString() >= key && k.key.toString() < Buffer.from(req.range_end as Buffer).toString());
    return { header: { revision: String(at) }, kvs, more: false, count: String(kvs.length) };
  }

  private async txn(req: ITxnRequest) {
    this.calls.push('txn');
    if (this.txnError) throw this.txnError;
    const put = req.success?.[0]?.request_put;
    if (!this.syncKey || !put || Buffer.from(put.key as Buffer).toString() !== this.syncKey || req.success!.length !== 1) this.unexpected(`txn ${JSON.stringify(req)}`);
    const rev = ++this.revision;
    const s = this.stream;
    if (this.markerEvents) queueMicrotask(() => s.events(0, [{ type: 'Put', kv: kv(this.syncKey!, '', rev) }]));
    return { header: { revision: String(rev) }, succeeded: true, responses: [] };
  }

  private async openWatch(o: { requireLeader?: boolean }) {
    if (!this.watchAllowed) this.unexpected('openWatch');
    if (!o.requireLeader) this.unexpected('a watch without require-leader');
    this.calls.push('watch');
    const s = new FakeWatchStream(this);
    this.streams.push(s);
    return s as never;
  }
}
