import { generateSessionId, hashSessionId } from '../../../src/app/ids.js';
import { NodeEvents } from '../../../src/app/node-events.js';
import { SessionService, type SessionServiceOptions } from '../../../src/app/session-service.js';
import type { ClientType } from '../../../src/domain/client-type.js';
import { sessionPolicyFor } from '../../../src/domain/policy.js';
import type { StoredSession } from '../../../src/domain/ports.js';
import { newSessionRecord, type SessionRecord } from '../../../src/domain/session.js';
import { FakeClock } from '../fake-clock.js';
import { configOf, policyOf } from './config.js';
import { FakeFeed, FakePresenceMirror, MemoryMirror } from './mirrors.js';
import { FakeActivityLog, FakeLocalPresence } from './presence.js';
import { MemorySessionStore } from './session-store.js';
import { strict } from './strict.js';

/** Options of sessionServiceOnFakes. */
export interface FakesOptions {
  /** Cluster properties text (defaults for the rest). */
  properties?: string;
  /** SessionService options beyond nodeId. */
  service?: Partial<SessionServiceOptions>;
}

/**
 * A SessionService over in-memory fakes. The store, the presence store and the feed's sync() are
 * strict: a call the test did not allow (`allowStore('get', …)`, `allowSync`)
 * throws UnexpectedCallError. The events the service emits are logged in `emitted`.
 */
export function sessionServiceOnFakes(options: FakesOptions = {}) {
  const clock = new FakeClock();
  const policy = policyOf(options.properties);
  const mem = new MemorySessionStore();
  mem.now = () => clock.now();
  const storeAllowed = new Set<string>();
  const store = strict('store', mem, storeAllowed);
  const feedAllowed = new Set<string>(['assertFresh']);
  const feedImpl = new FakeFeed();
  const feed = strict('feed', feedImpl, feedAllowed);
  const mirror = new MemoryMirror();
  const presence = new FakeLocalPresence();
  const presenceMirror = new FakePresenceMirror();
  const touches = new FakeActivityLog();
  const events = new NodeEvents();
  const emitted: string[] = [];
  events.on('session-created', (site, type) => emitted.push(`created:${site}:${type}`));
  events.on('session-ended', (site, type, reason) => emitted.push(`ended:${site}:${type}:${reason}`));
  events.on('verdict', (v) => emitted.push(`verdict:${v}`));
  const svc = new SessionService(
    { store, cache: mirror, feed, config: configOf(policy), clock, touches, presence, presenceMirror, events },
    { nodeId: 'node-a', ...options.service },
  );
  /** Stores a session in the store and the mirror (as the watch would); returns its id and stored form. */
  const seed = (type: ClientType = 'mobile', change: Partial<SessionRecord> = {}, user = 'alice'): { id: string; s: StoredSession } => {
    const id = generateSessionId();
    const rec = newSessionRecord({ site: 'default', user, clientType: type, deviceId: 'd1', policy: sessionPolicyFor(policy, type), attributeNames: [], now: clock.now() });
    const s = mem.put(hashSessionId(id), { ...rec, ...change });
    mirror.upsert(s);
    return { id, s };
  };
  return {
    svc,
    clock,
    policy,
    mem,
    store,
    feed: feedImpl,
    mirror,
    presence,
    presenceMirror,
    touches,
    emitted,
    seed,
    allowStore: (...m: string[]) => m.forEach((x) => storeAllowed.add(x)),
    allowSync: () => feedAllowed.add('sync'),
  };
}
