import type { Clock } from '../../domain/clock.js';
import type { EtcdGateway } from './client.js';

/** Options of LeaseBuckets. */
export interface LeaseBucketsOptions {
  /** Most keys attached to one lease before a new one is granted. Default 1000. */
  maxKeysPerLease?: number;
  /** Most reuse window: a lease is reused while it outlives the request by at most this. Default 60 s. */
  maxReuseWindowMs?: number;
  /** Share of the TTL used as reuse window when smaller than maxReuseWindowMs. Default 0.05. */
  reuseFraction?: number;
}

interface Bucket {
  id: string;
  expiresAt: number;
  keys: number;
}

/**
 * LeaseBuckets hands out shared etcd leases as a backstop TTL, after kube-apiserver's lease manager:
 * a lease is reused for every request whose TTL it covers within a reuse window (min(60 s, 5 % of
 * TTL)), granted with TTL + window, and capped in attached keys. One lease per session would cost a
 * grant and a revoke per session; buckets cost one grant per window.
 */
export class LeaseBuckets {
  private readonly maxKeys: number;
  private readonly maxWindowMs: number;
  private readonly fraction: number;
  private buckets: Bucket[] = [];
  private readonly pending = new Map<number, Promise<Bucket>>();

  constructor(
    private readonly etcd: EtcdGateway,
    private readonly clock: Clock,
    options: LeaseBucketsOptions = {},
  ) {
    this.maxKeys = options.maxKeysPerLease ?? 1000;
    this.maxWindowMs = options.maxReuseWindowMs ?? 60_000;
    this.fraction = options.reuseFraction ?? 0.05;
    if (!(this.maxKeys >= 1)) throw new Error('lease-buckets: maxKeysPerLease must be at least 1');
    if (!(this.maxWindowMs >= 1000)) throw new Error('lease-buckets: maxReuseWindowMs must be at least 1000');
    if (!(this.fraction > 0 && this.fraction < 1)) throw new Error('lease-buckets: reuseFraction must be in (0, 1)');
  }

  /**
   * Returns a lease id that lives at least `ttlMs` from now, for `keys` more keys. A TTL of 0 means
   * "no lease" and returns '0'.
   */
  async leaseFor(ttlMs: number, keys: number): Promise<string> {
    if (ttlMs <= 0) return '0';
    const now = this.clock.now();
    const windowMs = Math.max(1000, Math.min(this.maxWindowMs, Math.floor(ttlMs * this.fraction)));
    this.buckets = this.buckets.filter((b) => b.expiresAt > now);
    const fit = this.buckets.find(
      (b) => b.expiresAt >= now + ttlMs && b.expiresAt <= now + ttlMs + windowMs && b.keys + keys <= this.maxKeys,
    );
    if (fit) {
      fit.keys += keys;
      return fit.id;
    }
    const ttlSeconds = Math.ceil((ttlMs + windowMs) / 1000);
    // Concurrent requests for the same TTL share one grant.
    let grant = this.pending.get(ttlSeconds);
    if (!grant) {
      grant = this.etcd.leaseGrant(ttlSeconds).then((r) => {
        const b: Bucket = { id: String(r.ID), expiresAt: now + ttlSeconds * 1000, keys: 0 };
        this.buckets.push(b);
        if (this.buckets.length > 64) this.buckets.shift();
        return b;
      });
      this.pending.set(ttlSeconds, grant);
      grant.finally(() => this.pending.delete(ttlSeconds)).catch(() => {});
    }
    const b = await grant;
    b.keys += keys;
    return b.id;
  }

  /** Forgets a lease that etcd reported gone, so the next request grants a fresh one. */
  forget(id: string): void {
    this.buckets = this.buckets.filter((b) => b.id !== id);
  }
}
