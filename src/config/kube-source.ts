import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../domain/clock.js';
import type { ConfigMapClient, ConfigMapObject, LoadedConfig, WatchHandle } from '../domain/ports.js';
import { Backoff, type BackoffOptions } from '../lifecycle/backoff.js';
import { LiveConfigSource, requireOptions, type ConfigSourceState } from './live-source.js';
import type { ConfigLog } from './reloadable-config.js';

/** The key of the ConfigMap that holds the properties text. */
export const CONFIG_MAP_KEY = 'cluster-config.properties';

/** Options of KubeConfigSource; defaults in the field comments. */
export interface KubeConfigSourceOptions {
  /** Namespace of the ConfigMap (the pod's, POD_NAMESPACE). Required. */
  namespace: string;
  /** Name of the ConfigMap. Required. */
  name: string;
  /** Key holding the properties text. Default `cluster-config.properties`. */
  key?: string;
  client: ConfigMapClient;
  /** Re-list delay after a failed list or watch. Default 1 s doubling to 30 s, no jitter. */
  backoff?: BackoffOptions;
  /** A watch that ends without error sooner than this, having delivered nothing, counts as failed (no hot loop). Default 1 s. */
  minWatchMs?: number;
  /** Time for the watch-duration check. Default the system clock. */
  clock?: Clock;
  log?: ConfigLog;
}

/** Lifecycle of a KubeConfigSource: the one state union of the live config sources. */
export type KubeConfigSourceState = ConfigSourceState;

/**
 * KubeConfigSource reloads cluster-config.properties from a ConfigMap through the Kubernetes API:
 * list, apply, watch from the list's resourceVersion, apply each change, and re-list when the watch
 * ends (with backoff after errors), so a missed event is always caught by the next list. Updates
 * are validated before they apply, exactly as for the file source.
 */
export class KubeConfigSource extends LiveConfigSource {
  private readonly namespace: string;
  private readonly name: string;
  private readonly key: string;
  private readonly client: ConfigMapClient;
  private readonly backoff: Backoff;
  private readonly minWatchMs: number;
  private readonly clock: Clock;
  /** Aborted by stop(): ends a backoff sleep or a list in flight at once. */
  private readonly stopping = new AbortController();
  private endWatch: (() => void) | undefined;
  private loop: Promise<void> = Promise.resolve();

  constructor(initial: LoadedConfig, options: KubeConfigSourceOptions) {
    super('KubeConfigSource', initial, options.log);
    requireOptions([
      [options.namespace, 'config: KubeConfigSource needs a namespace (POD_NAMESPACE)'],
      [options.name, 'config: KubeConfigSource needs a ConfigMap name (SM_CONFIG_MAP)'],
    ]);
    this.backoff = new Backoff('config', { multiplier: 2, jitter: 0, ...(options.backoff ?? { initialMs: 1000, maxMs: 30_000 }) });
    this.namespace = options.namespace;
    this.name = options.name;
    this.key = options.key ?? CONFIG_MAP_KEY;
    this.client = options.client;
    this.minWatchMs = options.minWatchMs ?? 1000;
    this.clock = options.clock ?? { now: () => Date.now() };
  }

  /** What logs and errors call this source. */
  get sourceName(): string {
    return `configmap ${this.namespace}/${this.name}`;
  }

  /** Starts the list+watch loop. */
  protected begin(): void {
    this.loop = this.run();
  }

  /** Ends the watch and the loop; resolves when the loop has ended. */
  protected end(): Promise<void> {
    this.stopping.abort();
    this.endWatch?.();
    return this.loop;
  }

  /** Resolves when the loop has ended after stop() (tests). */
  stopped(): Promise<void> {
    return this.loop;
  }

  private async run(): Promise<void> {
    let delayMs = 0;
    while (this.isRunning) {
      if (delayMs > 0) {
        try {
          await sleep(delayMs, undefined, { signal: this.stopping.signal, ref: false });
        } catch {
          break; // stopped
        }
      }
      if (!this.isRunning) break;
      let listed: { items: ConfigMapObject[]; resourceVersion: string };
      try {
        listed = await this.untilStopped(this.client.list());
      } catch (err) {
        if (this.stopping.signal.aborted) break;
        delayMs = this.backoff.next();
        this.sourceLost(err as Error);
        this.log?.warn({ configMap: this.sourceName, err: (err as Error).message, retryMs: delayMs }, 'cannot list the config ConfigMap; retrying');
        continue;
      }
      if (!this.isRunning) break;
      this.sourceBack();
      const item = listed.items.find((i) => i.metadata?.name === this.name);
      if (item) this.apply(item);
      else this.reject(this.sourceName, [`ConfigMap ${this.namespace}/${this.name} not found`]);
      const failure = await this.watchOnce(listed.resourceVersion);
      if (!failure) {
        delayMs = 0;
        this.backoff.reset();
        continue;
      }
      delayMs = this.backoff.next();
      this.sourceLost(new Error(failure));
      this.log?.warn({ configMap: this.sourceName, err: failure, retryMs: delayMs }, 'config ConfigMap watch ended; re-listing');
    }
  }

  /** `p`, or a rejection as soon as stop() is called (a hung API request must not hold up stop). */
  private untilStopped<T>(p: Promise<T>): Promise<T> {
    const signal = this.stopping.signal;
    return new Promise<T>((resolve, reject) => {
      const onStop = () => reject(new Error('config: KubeConfigSource stopped'));
      if (signal.aborted) return onStop();
      signal.addEventListener('abort', onStop, { once: true });
      p.then(
        (v) => {
          signal.removeEventListener('abort', onStop);
          resolve(v);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onStop);
          reject(err);
        },
      );
    });
  }

  /** Applies one ConfigMap object; a missing key is a rejected update. */
  private apply(obj: ConfigMapObject): void {
    const text = obj.data?.[this.key];
    if (text === undefined) this.reject(this.sourceName, [`${this.key}: missing from ConfigMap ${this.namespace}/${this.name}`]);
    else this.offer(text, this.sourceName);
  }

  /**
   * Watches until the stream ends. Resolves '' when it ended normally (server timeout, 410 Gone,
   * stop) so the loop re-lists at once, else why it failed, so the loop backs off first.
   */
  private watchOnce(resourceVersion: string): Promise<string> {
    return new Promise<string>((resolve) => {
      if (!this.isRunning) return resolve('');
      const startedAt = this.clock.now();
      let events = 0;
      let settled = false;
      let handle: WatchHandle | undefined;
      const finish = (failure: string) => {
        if (settled) return;
        settled = true;
        this.endWatch = undefined;
        handle?.abort();
        resolve(failure);
      };
      this.endWatch = () => finish('');
      const onEvent = (type: string, object: unknown) => {
        if (settled) return;
        events++;
        switch (type) {
          case 'ADDED':
          case 'MODIFIED': {
            const obj = object as ConfigMapObject | undefined;
            if (obj?.metadata?.name === this.name) this.apply(obj);
            return;
          }
          case 'DELETED':
            this.reject(this.sourceName, [`ConfigMap ${this.namespace}/${this.name} was deleted`]);
            return;
          case 'ERROR': {
            const status = object as { code?: number; message?: string } | undefined;
            // 410 Gone: the resourceVersion was compacted away. Normal; re-list at once.
            if (status?.code === 410) return finish('');
            return finish(`watch error ${status?.code ?? '?'}: ${status?.message ?? 'no message'}`);
          }
          default:
            return; // BOOKMARK and anything newer: nothing to apply
        }
      };
      const onDone = (err: unknown) => {
        if (err) return finish((err as Error).message ?? String(err));
        if (events > 0 || this.clock.now() - startedAt >= this.minWatchMs) return finish('');
        finish('watch closed at once without events');
      };
      this.client.watch(resourceVersion, onEvent, onDone).then(
        (h) => {
          handle = h;
          if (settled) h.abort();
        },
        (err: unknown) => onDone(err ?? new Error('watch failed')),
      );
    });
  }
}
