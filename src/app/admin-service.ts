import type { Clock } from '../domain/clock.js';
import type { ClientType } from '../domain/client-type.js';
import { InvalidPageSizeError, InvalidPageTokenError, SessionNotFoundError } from '../domain/errors.js';
import type { LiveState } from '../domain/session.js';
import type { SessionStore } from '../domain/ports.js';
import type { NodeInfo } from '../cache/node-mirror.js';
import type { SessionCache } from '../cache/session-cache.js';
import type { FreshnessGate, SessionService, SessionView } from './session-service.js';
import { requireName } from './validation.js';

/** Filters of ListSessions; undefined matches everything. */
export interface SessionFilter {
  site?: string;
  user?: string;
  clientType?: ClientType;
  state?: LiveState;
}

/** Default and maximum page sizes of ListSessions. */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/** Cluster overview for GetClusterStatus. */
export interface ClusterStatus {
  nodes: NodeInfo[];
  leader: string;
  configVersion: string;
  configError: string;
  counts: Array<{ site: string; clientType: ClientType; count: number }>;
}

/**
 * AdminService holds the operator use cases (SPEC rule 10): list sessions from the mirror with
 * filters and opaque page tokens, revoke one session or all of a user's, and describe the cluster.
 */
export class AdminService {
  constructor(
    private readonly deps: {
      service: SessionService;
      store: SessionStore;
      cache: SessionCache;
      feed: FreshnessGate;
      clock: Clock;
      nodes: () => NodeInfo[];
      leader: () => Promise<string | undefined>;
      config: () => { version: string; error: string };
    },
  ) {}

  /**
   * Lists live sessions ordered by reference; the token carries the last reference of the page.
   * page_size 0 means DEFAULT_PAGE_SIZE, above MAX_PAGE_SIZE is capped, negative is refused.
   */
  list(filter: SessionFilter, pageSize: number, pageToken: string): { sessions: SessionView[]; next: string } {
    if (!Number.isInteger(pageSize) || pageSize < 0) throw new InvalidPageSizeError(pageSize);
    this.deps.feed.assertFresh();
    let afterRef = '';
    if (pageToken) {
      const text = Buffer.from(pageToken, 'base64url').toString();
      if (!text.startsWith('after:') || Buffer.from(text).toString('base64url') !== pageToken) throw new InvalidPageTokenError();
      afterRef = text.slice('after:'.length);
    }
    const size = pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(pageSize, MAX_PAGE_SIZE);
    const now = this.deps.clock.now();
    const matches: SessionView[] = [];
    for (const s of this.deps.cache.values()) {
      if (afterRef && s.hash <= afterRef) continue;
      const r = s.rec;
      if (filter.site !== undefined && r.site !== filter.site) continue;
      if (filter.user !== undefined && r.user !== filter.user) continue;
      if (filter.clientType !== undefined && r.clientType !== filter.clientType) continue;
      const v = this.deps.service.view(s, now);
      if (!v || (filter.state !== undefined && v.state !== filter.state)) continue;
      matches.push(v);
    }
    matches.sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
    const page = matches.slice(0, size);
    const next = matches.length > size ? Buffer.from(`after:${page[page.length - 1]!.hash}`).toString('base64url') : '';
    return { sessions: page, next };
  }

  /** Ends one session (REVOKED). */
  async revokeSession(ref: string): Promise<void> {
    requireName('session_ref', ref);
    if ((await this.deps.service.revoke([ref])) === 0) throw new SessionNotFoundError();
  }

  /** Ends every session of a user at a site (REVOKED); returns how many. */
  async revokeUser(site: string, user: string): Promise<number> {
    requireName('site', site);
    requireName('user', user);
    return this.deps.service.revokeUser(site, user);
  }

  /** Describes the cluster as this node sees it. */
  async status(): Promise<ClusterStatus> {
    const counts = new Map<string, { site: string; clientType: ClientType; count: number }>();
    const now = this.deps.clock.now();
    for (const s of this.deps.cache.values()) {
      if (!this.deps.service.view(s, now)) continue;
      const k = `${s.rec.site}\u0000${s.rec.clientType}`;
      const c = counts.get(k) ?? { site: s.rec.site, clientType: s.rec.clientType, count: 0 };
      c.count++;
      counts.set(k, c);
    }
    const cfg = this.deps.config();
    return {
      nodes: this.deps.nodes(),
      leader: (await this.deps.leader().catch(() => undefined)) ?? '',
      configVersion: cfg.version,
      configError: cfg.error,
      counts: [...counts.values()].sort((a, b) => a.site.localeCompare(b.site) || a.clientType.localeCompare(b.clientType)),
    };
  }
}
