import type { Clock } from '../domain/clock.js';
import type { PresenceStore } from '../domain/ports.js';
import { Lifecycle, type LifecycleEvents, type LongRunning, type Transitions } from '../lifecycle/lifecycle.js';
import type { Listener, Unsubscribe } from '../lifecycle/listeners.js';
import { KeyedMutex } from './keyed-mutex.js';

/** Options of PresenceTracker. */
export interface PresenceTrackerOptions {
  /** session.presence.grace, read at each sweep so config reloads apply. Required. */
  graceMs: () => number;
  /** How often expired instances are swept. Default 1000 ms. */
  sweepIntervalMs?: number;
}

/** Lifecycle of the tracker: `new` until start(); `running` while it sweeps; `stopped` (terminal). */
export type PresenceTrackerState = 'new' | 'running' | 'stopped';

const TRANSITIONS: Transitions<PresenceTrackerState> = { new: ['running', 'stopped'], running: ['stopped'], stopped: [] };

/** The tracker's own events, next to the lifecycle's. */
export interface PresenceTrackerEvents {
  /** A background publish failed (it is retried on the next transition or sweep). */
  'publish-error': [error: unknown];
}

interface Local {
  instances: Map<string, number>;
  connections: number;
  /** What the presence key currently says: null = no key. */
  published: { connected: boolean; present: boolean } | null;
}

/**
 * PresenceTracker holds this node's view of which sessions have presence (SPEC rules 4 and 5): the
 * instances that heart-beat within the grace, and open Attach connections. It publishes one key per
 * session under the node lease on transitions only (none → present, connected ↔ not), never on every
 * heartbeat.
 */
export class PresenceTracker implements LongRunning<PresenceTrackerState, PresenceTrackerEvents> {
  private readonly life = new Lifecycle<PresenceTrackerState, PresenceTrackerEvents>('presence', TRANSITIONS, 'new');
  private readonly local = new Map<string, Local>();
  private readonly mutex = new KeyedMutex();
  private timer: NodeJS.Timeout | undefined;
  /** Writes done, for tests and telemetry. */
  writes = 0;

  constructor(
    private readonly store: Pick<PresenceStore, 'publish' | 'withdraw'>,
    private readonly lease: () => string,
    private readonly clock: Clock,
    private readonly options: PresenceTrackerOptions,
  ) {
    if ((options.sweepIntervalMs ?? 1000) <= 0) throw new Error('presence: sweepIntervalMs must be greater than 0');
  }

  /** The current state. */
  get state(): PresenceTrackerState {
    return this.life.state;
  }

  /** Subscribes to `publish-error` or a lifecycle event; returns the unsubscribe. */
  on<K extends keyof (LifecycleEvents<PresenceTrackerState> & PresenceTrackerEvents)>(
    event: K,
    fn: Listener<LifecycleEvents<PresenceTrackerState> & PresenceTrackerEvents, K>,
  ): Unsubscribe {
    return this.life.on(event, fn);
  }

  /** Starts the periodic sweep. Throws IllegalTransitionError unless `new`. */
  start(): void {
    this.life.expect('start', 'new');
    this.life.to('running');
    this.timer = setInterval(() => this.sweep(), this.options.sweepIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** Stops the sweep (published keys stay until the node lease goes); emits `stopped`. Idempotent. */
  async stop(): Promise<void> {
    if (this.life.state === 'stopped') return;
    this.life.to('stopped');
    clearInterval(this.timer);
    this.life.stopped();
  }

  private entry(hash: string): Local {
    let e = this.local.get(hash);
    if (!e) this.local.set(hash, (e = { instances: new Map(), connections: 0, published: null }));
    return e;
  }

  /** Records a heartbeat of one instance (tab, window, plugin). */
  heartbeat(hash: string, instanceId: string): void {
    const e = this.entry(hash);
    e.instances.set(instanceId, this.clock.now());
    if (!e.published?.present) void this.publish(hash);
  }

  /**
   * Registers an open connection; resolves once it is published (the session then cannot idle out).
   * Returns false, undoing the registration, when the session no longer exists.
   */
  async attach(hash: string): Promise<boolean> {
    this.entry(hash).connections++;
    const ok = await this.publish(hash, true);
    if (!ok) await this.detach(hash);
    return ok;
  }

  /** Unregisters a connection; resolves once published. Returns true when this node has none left. */
  async detach(hash: string): Promise<boolean> {
    const e = this.local.get(hash);
    if (!e) return true;
    e.connections = Math.max(0, e.connections - 1);
    await this.publish(hash);
    return e.connections === 0;
  }

  /** True when this node holds a connection of the session. */
  hasConnection(hash: string): boolean {
    return (this.local.get(hash)?.connections ?? 0) > 0;
  }

  /** Forgets a session that ended (its presence keys went with it). */
  forget(hash: string): void {
    this.local.delete(hash);
  }

  /** Drops instances older than the grace and publishes what changed. */
  sweep(): void {
    const cutoff = this.clock.now() - this.options.graceMs();
    for (const [hash, e] of this.local) {
      for (const [id, seen] of e.instances) if (seen < cutoff) e.instances.delete(id);
      const want = this.desired(e);
      if (!sameState(want, e.published)) void this.publish(hash);
      else if (!want && e.connections === 0) this.local.delete(hash);
    }
  }

  /** Re-publishes every key (after the node lease was lost and re-acquired). */
  async republishAll(): Promise<void> {
    for (const e of this.local.values()) e.published = null;
    await Promise.allSettled([...this.local.keys()].map((h) => this.publish(h)));
  }

  private desired(e: Local): { connected: boolean; present: boolean } | null {
    if (e.connections === 0 && e.instances.size === 0) return null;
    return { connected: e.connections > 0, present: true };
  }

  /** Brings the key in line with the local state; false when the session is gone. Throws only if `strict`. */
  private publish(hash: string, strict = false): Promise<boolean> {
    return this.mutex.run(hash, async () => {
      const e = this.local.get(hash);
      if (!e) return true;
      const want = this.desired(e);
      if (sameState(want, e.published)) return true;
      try {
        let ok = true;
        if (!want) {
          await this.store.withdraw(hash);
        } else {
          const lease = this.lease();
          if (lease === '0') throw new Error('presence: no node lease (re-acquiring)');
          ok = await this.store.publish(hash, e.connections, e.instances.size, lease);
        }
        this.writes++;
        if (ok) e.published = want;
        else this.local.delete(hash);
        return ok;
      } catch (err) {
        this.life.listeners.emit('publish-error', err);
        if (strict) throw err;
        return true;
      }
    });
  }
}

function sameState(a: { connected: boolean; present: boolean } | null, b: { connected: boolean; present: boolean } | null): boolean {
  if (!a || !b) return a === b;
  return a.connected === b.connected && a.present === b.present;
}
