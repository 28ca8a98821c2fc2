// An express-session Store backed by session-manager: express-session's session id IS the
// session-manager session id, so the server's timeouts, hit limits, revocation and logout apply to
// the cookie, and the session data lives in one attribute of that session.
import { createHash, randomUUID } from 'node:crypto';
import expressSession, { type SessionData } from 'express-session';
import { InvalidArgumentError, NotFoundError } from './errors.js';
import { ClientType } from './gen/sessionmanager/v1/session.js';
import type { SessionClient } from './session-client.js';

/** Name of the attribute that holds the JSON of the express-session data. */
export const DEFAULT_DATA_ATTRIBUTE = 'express-session';

/** Prefix of the placeholder ids express-session gets for visitors who have not logged in. */
export const ANONYMOUS_PREFIX = 'anon.';

const PENDING = Symbol.for('session-manager.pending-session-id');

/** Options of SessionManagerStore. */
export interface SessionManagerStoreOptions {
  /** The client to call. */
  readonly client: SessionClient;
  /** The site logins belong to (a site of the cluster config). */
  readonly site: string;
  /** Client type of the sessions (its timeout policy applies): a ClientType or its short name; default `web`. */
  readonly clientType?: ClientType | 'web' | 'desktop' | 'plugin' | 'mobile' | 'widget' | 'api' | 'admin';
  /** Attribute holding the data (default `express-session`). */
  readonly attribute?: string;
  /** Instance id of the Heartbeat that `touch` sends (default `express-session`). */
  readonly instanceId?: string;
}

/** What `login` needs beyond the store's site and client type. */
export interface StoreLogin {
  readonly user: string;
  /**
   * The machine or installation the login comes from (device rules of the cluster config apply to
   * it). Default: `ua-` and a hash of the request's user agent, so one browser is one device.
   */
  readonly deviceId?: string;
}

type Cb<T = void> = (err?: unknown, value?: T) => void;
type RequestWithSession = {
  headers: Record<string, string | string[] | undefined>;
  ip?: string | undefined;
  socket?: { remoteAddress?: string | undefined };
  session?: { regenerate(cb: (err?: unknown) => void): unknown };
  sessionID?: string;
  [PENDING]?: string;
};

function clientTypeOf(t: SessionManagerStoreOptions['clientType']): ClientType {
  if (t === undefined) return ClientType.CLIENT_TYPE_WEB;
  if (typeof t === 'number') return t;
  const v = (ClientType as unknown as Record<string, ClientType>)[`CLIENT_TYPE_${t.toUpperCase()}`];
  if (v === undefined) throw new TypeError(`SessionManagerStore: unknown clientType ${JSON.stringify(t)}`);
  return v;
}

/**
 * express-session Store over session-manager. Use it with its `genid` and log users in with
 * `store.login(req, { user })`, which creates the session-manager session and makes its id the
 * express-session id (a regenerate, so a pre-login id never survives login):
 *
 *     const store = new SessionManagerStore({ client, site: 'shop', clientType: 'web' });
 *     app.use(session({ store, genid: store.genid, secret, resave: false, saveUninitialized: false }));
 *
 * get = ValidateSession (counts a hit, renews the idle timer; not VALID → no session) + GetAttribute;
 * set = SetAttribute of the JSON data; touch = Heartbeat; destroy = EndSession. Before login a
 * visitor has only a placeholder id that is never sent to the server; writing data to it is an error
 * (nothing would hold it). all/length/clear are not implemented: the SessionService cannot list
 * sessions, and emulating them would need admin rights over every session of the cluster.
 */
export class SessionManagerStore extends expressSession.Store {
  private readonly client: SessionClient;
  private readonly site: string;
  private readonly clientType: ClientType;
  private readonly attribute: string;
  private readonly instanceId: string;

  constructor(options: SessionManagerStoreOptions) {
    super();
    if (!options?.client) throw new TypeError('SessionManagerStore: options.client is required');
    if (!options.site) throw new TypeError('SessionManagerStore: options.site is required');
    this.client = options.client;
    this.site = options.site;
    this.clientType = clientTypeOf(options.clientType);
    this.attribute = options.attribute ?? DEFAULT_DATA_ATTRIBUTE;
    this.instanceId = options.instanceId ?? 'express-session';
  }

  /**
   * The `genid` to give express-session: the id of the session `login` just created, else a
   * placeholder for an anonymous visitor. Bound, so `genid: store.genid` works.
   */
  readonly genid = (req: unknown): string => {
    const r = req as RequestWithSession;
    const pending = r[PENDING];
    if (pending) {
      delete r[PENDING];
      return pending;
    }
    return ANONYMOUS_PREFIX + randomUUID();
  };

  /**
   * Logs the request's visitor in: CreateSession (with the request's IP and user agent), then
   * `req.session.regenerate` so the new session-manager id becomes `req.sessionID` and the cookie.
   * The previous session, if any, is ended. Resolves with the new session id.
   */
  async login(req: unknown, login: StoreLogin): Promise<string> {
    const r = req as RequestWithSession;
    if (!r.session) throw new TypeError('SessionManagerStore.login: req.session is missing (is the session middleware installed with this store?)');
    const ua = r.headers['user-agent'];
    const agent = (Array.isArray(ua) ? ua[0] : ua) ?? '';
    const created = await this.client.createSession({
      site: this.site,
      user: login.user,
      clientType: this.clientType,
      deviceId: login.deviceId ?? `ua-${createHash('sha256').update(agent).digest('hex').slice(0, 16)}`,
      client: { ip: r.ip ?? r.socket?.remoteAddress ?? '', userAgent: agent },
    });
    r[PENDING] = created.sessionId;
    await new Promise<void>((resolve, reject) => r.session!.regenerate((err) => (err ? reject(err) : resolve())));
    if (r.sessionID !== created.sessionId) throw new Error('SessionManagerStore.login: express-session is not using store.genid; pass `genid: store.genid`');
    return created.sessionId;
  }

  /** Loads a session: null unless ValidateSession says VALID; errors (503 when unavailable) fail the request. */
  override get(sid: string, cb: Cb<SessionData | null>): void {
    if (sid.startsWith(ANONYMOUS_PREFIX)) return void cb(null, null);
    this.load_(sid).then((v) => cb(null, v), (err) => cb(this.invalidId(err) ? null : err, null));
  }

  private async load_(sid: string): Promise<SessionData | null> {
    const v = await this.client.validateSession({ sessionId: sid });
    if (!v.valid) return null;
    try {
      const attr = await this.client.getAttribute(sid, this.attribute);
      return JSON.parse(Buffer.from(attr.value).toString('utf8')) as SessionData;
    } catch (err) {
      // Logged in but nothing saved yet: an empty session with a browser-session cookie.
      if (err instanceof NotFoundError && err.reason === 'ATTRIBUTE_NOT_FOUND') return { cookie: { path: '/', httpOnly: true, originalMaxAge: null } } as unknown as SessionData;
      throw err;
    }
  }

  /** Saves the session data into the attribute; an anonymous session with data is refused (log in first). */
  override set(sid: string, data: SessionData, cb: Cb = () => {}): void {
    if (sid.startsWith(ANONYMOUS_PREFIX)) {
      const keys = Object.keys(data as object).filter((k) => k !== 'cookie');
      if (keys.length === 0) return void cb();
      return void cb(new Error('SessionManagerStore: session data before login cannot be stored; call store.login(req, { user }) first'));
    }
    this.client.setAttribute(sid, this.attribute, JSON.stringify(data)).then(() => cb(), cb);
  }

  /** Renews the idle timer without a hit (Heartbeat); a session that is no longer valid is left alone. */
  override touch(sid: string, _data: SessionData, cb: Cb = () => {}): void {
    if (sid.startsWith(ANONYMOUS_PREFIX)) return void cb();
    this.client.heartbeat({ sessionId: sid, instanceId: this.instanceId }).then(() => cb(), (err) => cb(this.invalidId(err) ? undefined : err));
  }

  /** Logs out: EndSession; a session already gone counts as destroyed. */
  override destroy(sid: string, cb: Cb = () => {}): void {
    if (sid.startsWith(ANONYMOUS_PREFIX)) return void cb();
    this.client.endSession(sid).then(() => cb(), (err) => cb(this.invalidId(err) || err instanceof NotFoundError ? undefined : err));
  }

  private invalidId(err: unknown): boolean {
    return err instanceof InvalidArgumentError && err.reason === 'MALFORMED_SESSION_ID';
  }
}
