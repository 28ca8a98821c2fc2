import type { ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import type { AdminService } from '../../app/admin-service.js';
import type { EventLog } from '../../domain/ports.js';
import { CLIENT_TYPES, type ClientType } from '../../domain/client-type.js';
import { UnknownClientTypeError } from '../../domain/errors.js';
import type { SessionEvent } from '../../domain/events.js';
import type { Caller } from '../../auth/caller-auth.js';
import type { EndReason as DomainEndReason } from '../../domain/session.js';
import {
  EventType,
  LoginEvent,
  type AdminServiceServer,
  type WatchEventsRequest,
  type WatchEventsResponse,
} from '../../gen/sessionmanager/v1/admin_service.js';
import { EndReason, SessionState } from '../../gen/sessionmanager/v1/session.js';
import { withCaller } from '../../auth/caller-context.js';
import type { CallAccess } from './call-access.js';
import { clientTypeToPb, sessionToPb } from './convert.js';
import { unary, type CallObserver, type ServingGate } from './session-handlers.js';
import { requireDecoded } from './safe-decode.js';
import { toServiceError } from './status.js';
import type { StreamRegistry } from './streams.js';

const END_REASONS: Record<DomainEndReason, EndReason> = {
  LOGGED_OUT: EndReason.END_REASON_LOGGED_OUT,
  EXPIRED_IDLE: EndReason.END_REASON_EXPIRED_IDLE,
  EXPIRED_SINGLE_REQUEST: EndReason.END_REASON_EXPIRED_SINGLE_REQUEST,
  EXPIRED_ABSOLUTE: EndReason.END_REASON_EXPIRED_ABSOLUTE,
  CONNECTION_LOST: EndReason.END_REASON_CONNECTION_LOST,
  REVOKED: EndReason.END_REASON_REVOKED,
  REPLACED: EndReason.END_REASON_REPLACED,
  HIT_LIMIT: EndReason.END_REASON_HIT_LIMIT,
  TOKEN_REUSED: EndReason.END_REASON_TOKEN_REUSED,
};

/** Maps a domain end reason to the API enum. */
export function endReasonToPb(r: DomainEndReason | undefined): EndReason {
  return r ? END_REASONS[r] : EndReason.END_REASON_UNSPECIFIED;
}

const EVENT_TYPES: Record<SessionEvent['type'], EventType> = {
  CREATED: EventType.EVENT_TYPE_CREATED,
  ENDED: EventType.EVENT_TYPE_ENDED,
  REPLACED: EventType.EVENT_TYPE_REPLACED,
  REAUTHENTICATED: EventType.EVENT_TYPE_REAUTHENTICATED,
};

/** Builds the wire form of one event. */
export function eventToPb(token: string, e: SessionEvent): WatchEventsResponse {
  return {
    resumeToken: token,
    type: EVENT_TYPES[e.type],
    endReason: endReasonToPb(e.endReason),
    site: e.site,
    user: e.user,
    clientType: clientTypeToPb(e.clientType),
    sessionRef: e.sessionRef,
    successorRef: e.successorRef ?? '',
    time: new Date(e.time),
    caller: e.caller ?? '',
    login: e.login === 'ISSUED' ? LoginEvent.LOGIN_EVENT_ISSUED : e.login === 'RESUMED' ? LoginEvent.LOGIN_EVENT_RESUMED : LoginEvent.LOGIN_EVENT_UNSPECIFIED,
    loginFamily: e.loginFamily ?? '',
  };
}

function clientTypeFilter(t: number): ClientType | undefined {
  if (t === 0) return undefined;
  const name = CLIENT_TYPES[t - 1];
  if (!name) throw new UnknownClientTypeError(String(t));
  return name;
}

/**
 * Builds the AdminService handlers; every call is first admitted (caller with the `admin` class). A
 * caller limited to some sites may list and revoke only there; cluster-wide calls need every site.
 */
export function adminHandlers(
  admin: AdminService,
  events: EventLog,
  access: CallAccess,
  gate: ServingGate,
  observe: CallObserver,
  streams: StreamRegistry,
  siteOfRef: (ref: string) => Promise<string | undefined>,
): AdminServiceServer {
  const u = <Req, Res>(m: string, fn: (req: Req, caller: Caller) => Promise<Res>) =>
    unary<Req, Res>(m, gate, observe, (req: Req, call: ServerUnaryCall<Req, Res>) => fn(req, access.admit(m, call)));
  return {
    listSessions: u('ListSessions', async (req, caller) => {
      if (caller.sites !== '*') access.checkSite(caller, req.site);
      const state =
        req.state === SessionState.SESSION_STATE_ACTIVE
          ? ('ACTIVE' as const)
          : req.state === SessionState.SESSION_STATE_REAUTH_REQUIRED
            ? ('REAUTH_REQUIRED' as const)
            : undefined;
      const r = admin.list(
        {
          ...(req.site ? { site: req.site } : {}),
          ...(req.user ? { user: req.user } : {}),
          ...(clientTypeFilter(req.clientType) ? { clientType: clientTypeFilter(req.clientType)! } : {}),
          ...(state ? { state } : {}),
        },
        req.pageSize,
        req.pageToken,
      );
      return { sessions: r.sessions.map((v) => ({ sessionRef: v.hash, session: sessionToPb(v) })), nextPageToken: r.next };
    }),
    revokeSession: u('RevokeSession', async (req, caller) => {
      const site = req.sessionRef ? await siteOfRef(req.sessionRef) : undefined;
      if (site !== undefined) access.checkSite(caller, site);
      else if (caller.sites !== '*') access.checkAllSites(caller);
      await withCaller(caller.name, () => admin.revokeSession(req.sessionRef));
      access.audit(caller, 'revoke', { site: site ?? '', sessionRef: req.sessionRef });
      return {};
    }),
    revokeUserSessions: u('RevokeUserSessions', async (req, caller) => {
      access.checkSite(caller, req.site);
      const revoked = await withCaller(caller.name, () => admin.revokeUser(req.site, req.user));
      access.audit(caller, 'revoke user', { site: req.site, user: req.user, revoked });
      return { revoked };
    }),
    getClusterStatus: u('GetClusterStatus', async (_req, caller) => {
      access.checkAllSites(caller);
      const st = await admin.status();
      const auth = access.auth.status();
      return {
        nodes: st.nodes.map((n) => ({ nodeId: n.nodeId, startTime: new Date(n.startTime), configVersion: n.configVersion })),
        scavengerLeader: st.leader,
        configVersion: st.configVersion,
        configError: st.configError,
        sessionCounts: st.counts.map((c) => ({ site: c.site, clientType: clientTypeToPb(c.clientType), count: c.count })),
        nodeId: '',
        anonymousAllowed: auth.anonymous,
        authPolicyVersion: auth.policyVersion,
        authPolicyError: auth.policyError,
      };
    }),
    watchEvents: (call: ServerWritableStream<WatchEventsRequest, WatchEventsResponse>) => {
      const start = performance.now();
      const fail = (err: unknown) => {
        const e = toServiceError(err);
        observe('WatchEvents', e.code, performance.now() - start, e.reason);
        call.emit('error', e);
      };
      try {
        gate();
        access.checkAllSites(access.admit('WatchEvents', call));
        requireDecoded(call.request);
        events.validateToken(call.request.resumeToken);
        streams.add(call as ServerWritableStream<unknown, unknown>);
      } catch (err) {
        fail(err);
        return;
      }
      const abort = new AbortController();
      const stop = () => abort.abort();
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
      void (async () => {
        try {
          for await (const env of events.stream(call.request.resumeToken, abort.signal)) {
            if (!call.write(eventToPb(env.token, env.event))) {
              await new Promise<void>((r) => {
                call.once('drain', r);
                abort.signal.addEventListener('abort', () => r(), { once: true });
              });
            }
          }
          if (!abort.signal.aborted) call.end();
        } catch (err) {
          if (!abort.signal.aborted) fail(err);
        }
      })();
    },
  };
}
