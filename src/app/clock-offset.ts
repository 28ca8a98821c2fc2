import type { Clock } from '../domain/clock.js';

/** Options of ClockOffset. */
export interface ClockOffsetOptions {
  /** cluster.max-clock-skew, read at every check so config reloads apply. Required. */
  boundMs: () => number;
  /** Samples kept per peer; the peer's estimate is their minimum. Default 3. */
  samplesPerPeer?: number;
  /** A peer not heard from for this long (monotonic ms) no longer counts. Required (3 publish intervals). */
  peerTimeoutMs: number;
  /** Monotonic time source for peer timeouts. Default performance.now. */
  monotonic?: () => number;
}

interface Peer {
  samples: number[];
  heardAt: number;
}

/**
 * ClockOffset estimates how far this node's wall clock is from the cluster's (issue 10, clock skew).
 *
 * Every node rewrites its registry key with its wall time every few seconds. When such a write
 * arrives on the watch, `sample` takes d = (this clock at receipt) − (the writer's clock at write):
 * the offset between the two clocks plus the write's commit and watch delivery delay, which is never
 * negative. Each peer's estimate is the smallest of its last few samples (the one delayed least; a
 * watch that replays old writes after a reconnect only adds larger values), and this node's offset
 * is the median of {0 (itself)} ∪ {each live peer's estimate}: with three or more nodes one skewed
 * clock cannot move the others' offsets, and the skewed node sees the majority's. Error bound: the
 * estimate overstates how far ahead this node is by at most one etcd write latency plus the watch
 * delivery delay (milliseconds when healthy); it never understates it. It follows this clock falling
 * behind at the next sample and running ahead within `samplesPerPeer` samples. With two nodes the
 * median is their mean: each reports half the difference, so both leave readiness when they disagree
 * by more than twice the bound (it cannot be told which is wrong; fail closed).
 */
export class ClockOffset {
  private readonly peers = new Map<string, Peer>();
  private readonly keep: number;
  private readonly mono: () => number;
  /** The last offset computed, good until a sample changes or a live peer times out (every session call asks). */
  private memo: { value: number; until: number } | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly options: ClockOffsetOptions,
  ) {
    this.keep = options.samplesPerPeer ?? 3;
    if (!Number.isInteger(this.keep) || this.keep < 1) throw new Error('clock-offset: samplesPerPeer must be a whole number >= 1');
    if (!(options.peerTimeoutMs > 0)) throw new Error('clock-offset: peerTimeoutMs must be greater than 0');
    this.mono = options.monotonic ?? (() => performance.now());
  }

  /** Records a peer's published wall time, received now. Values of 0 (writers that publish none) are ignored. */
  sample(peer: string, publishedWallMs: number): void {
    if (!(publishedWallMs > 0)) return;
    this.memo = undefined;
    let p = this.peers.get(peer);
    if (!p) this.peers.set(peer, (p = { samples: [], heardAt: 0 }));
    p.samples.push(this.clock.now() - publishedWallMs);
    if (p.samples.length > this.keep) p.samples.shift();
    p.heardAt = this.mono();
  }

  /** Forgets a peer (its registration went). */
  forget(peer: string): void {
    this.memo = undefined;
    this.peers.delete(peer);
  }

  /** Forgets every peer but those named (after a relist). */
  retain(peers: ReadonlySet<string>): void {
    this.memo = undefined;
    for (const k of this.peers.keys()) if (!peers.has(k)) this.peers.delete(k);
  }

  /** True when a sample of `peer` is held (start-up waits for one from each registered peer). */
  has(peer: string): boolean {
    return (this.peers.get(peer)?.samples.length ?? 0) > 0;
  }

  /** How many peers are measured now. */
  get peerCount(): number {
    return this.live().length;
  }

  /** This node's clock minus the cluster's, in ms (positive: ahead); 0 while no peer is measured. */
  get offsetMs(): number {
    const now = this.mono();
    if (this.memo && now < this.memo.until) return this.memo.value;
    const values = [0, ...this.live()].sort((a, b) => a - b);
    const mid = values.length >> 1;
    const value = values.length % 2 === 1 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
    // The set of live peers changes only by a sample (which clears the memo) or when one times out.
    let until = Infinity;
    for (const p of this.peers.values()) if (p.samples.length > 0 && p.heardAt + this.options.peerTimeoutMs >= now) until = Math.min(until, p.heardAt + this.options.peerTimeoutMs);
    this.memo = { value, until };
    return value;
  }

  /** True while |offset| is within cluster.max-clock-skew. */
  withinBound(): boolean {
    return Math.abs(this.offsetMs) <= this.options.boundMs();
  }

  private live(): number[] {
    const cutoff = this.mono() - this.options.peerTimeoutMs;
    const out: number[] = [];
    for (const p of this.peers.values()) if (p.heardAt >= cutoff && p.samples.length > 0) out.push(Math.min(...p.samples));
    return out;
  }
}
