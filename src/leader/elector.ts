import { EventEmitter } from 'node:events';
import type { Campaign, Election, Etcd3 } from 'etcd3';
import type { Fence } from '../domain/ports.js';

/** Lifecycle of the elector. */
export type ElectorState = 'idle' | 'campaigning' | 'leader' | 'stopped';

/** Options of Elector. */
export interface ElectorOptions {
  /** Election name under `<prefix>election/`. Required. */
  name: string;
  /** The value this node campaigns with (its node id). Required. */
  nodeId: string;
  /** TTL of the campaign lease in seconds: how fast a dead leader is replaced. Default 10. */
  ttlSeconds?: number;
  /** Delay before campaigning again after losing. Default 500 ms. */
  retryDelayMs?: number;
}

/**
 * Elector runs a leader election with etcd3's Election and hands the leader a fence: the leader key
 * and its create revision. Election alone does not guarantee a single leader (client-go says so),
 * so every leader write must compare on the fence. Events: 'elected' (Fence), 'lost' (Error) — lost
 * leadership is distinct from stop(), after which nothing is emitted.
 */
export class Elector extends EventEmitter {
  private stateValue: ElectorState = 'idle';
  private readonly election: Election;
  private campaign: Campaign | undefined;
  private fenceValue: Fence | null = null;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly ttl: number;
  private readonly retryDelayMs: number;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
    private readonly options: ElectorOptions,
  ) {
    super();
    this.ttl = options.ttlSeconds ?? 10;
    this.retryDelayMs = options.retryDelayMs ?? 500;
    if (!Number.isInteger(this.ttl) || this.ttl < 1) throw new Error('elector: ttlSeconds must be a whole number >= 1');
    if (!options.name || !options.nodeId) throw new Error('elector: name and nodeId are required');
    this.election = client.namespace(prefix).election(options.name, this.ttl);
  }

  get state(): ElectorState {
    return this.stateValue;
  }

  /** The fence while leader, else null. */
  get fence(): Fence | null {
    return this.fenceValue;
  }

  /** Starts campaigning; returns at once. */
  start(): void {
    if (this.stateValue !== 'idle') throw new Error(`elector: start in state ${this.stateValue}`);
    this.campaignOnce();
  }

  private campaignOnce(): void {
    if (this.stateValue === 'stopped') return;
    this.stateValue = 'campaigning';
    const c = this.election.campaign(this.options.nodeId);
    this.campaign = c;
    c.on('elected', () => {
      void (async () => {
        try {
          const key = await c.getCampaignKey();
          const r = await this.client.get(key).exec();
          const kv = r.kvs[0];
          if (!kv || this.campaign !== c || this.stateValue === 'stopped') return;
          this.fenceValue = { key, incarnation: Number(kv.create_revision) };
          this.stateValue = 'leader';
          this.emit('elected', this.fenceValue);
        } catch (err) {
          this.onLost(c, err as Error);
        }
      })();
    });
    c.on('error', (err: Error) => this.onLost(c, err));
  }

  private onLost(c: Campaign, err: Error): void {
    if (this.campaign !== c || this.stateValue === 'stopped') return;
    const wasLeader = this.stateValue === 'leader';
    this.fenceValue = null;
    this.campaign = undefined;
    this.stateValue = 'campaigning';
    c.resign().catch(() => {});
    if (wasLeader) this.emit('lost', err);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.campaignOnce(), this.retryDelayMs);
    this.retryTimer.unref();
  }

  /** The node id of the current leader, if any. */
  async leader(): Promise<string | undefined> {
    return this.election.leader();
  }

  /** Stops campaigning without resigning, as a crash would: the campaign lease expires on its own. */
  abandon(): void {
    this.stateValue = 'stopped';
    this.fenceValue = null;
    clearTimeout(this.retryTimer);
    const c = this.campaign as unknown as { lease?: { release(): void } } | undefined;
    this.campaign = undefined;
    c?.lease?.release();
  }

  /** Resigns (hands leadership over at once) and stops campaigning. */
  async stop(): Promise<void> {
    if (this.stateValue === 'stopped') return;
    this.stateValue = 'stopped';
    this.fenceValue = null;
    clearTimeout(this.retryTimer);
    const c = this.campaign;
    this.campaign = undefined;
    await c?.resign().catch(() => {});
  }
}
