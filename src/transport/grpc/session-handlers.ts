import type { handleUnaryCall, ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import type { ClientInfo, RequestIdentity, SessionService, ValidateResult } from '../../app/session-service.js';
import type { Verdict } from '../../domain/decisions.js';
import type { Caller } from '../../auth/caller-auth.js';
import { withCaller } from '../../auth/caller-context.js';
import type { SessionCache } from '../../cache/session-cache.js';
import {
  AttachResponse_Kind,
  EndMySessionsRequest_Scope,
  type AttachRequest,
  type ClientInfo as ClientInfoPb,
  type AttachResponse,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type SessionServiceServer,
  type ValidateSessionRequest,
  type ValidateSessionResponse,
} from '../../gen/sessionmanager/v1/session_service.js';
import type { CallAccess } from './call-access.js';
import { clientTypeFromPb, idModeFromPb, mySessionToPb, sessionToPb } from './convert.js';
import { InvalidFieldError } from '../../domain/errors.js';
import { preEncoded, requireDecoded } from './safe-decode.js';
import { SessionWire } from './session-wire.js';
import { toServiceError } from './status.js';
import type { StreamRegistry } from './streams.js';

/** The caller-reported end-user connection of a request, checked against the session's bindings. */
function clientOf(c: ClientInfoPb | undefined): ClientInfo | undefined {
  return c ? { ip: c.ip, userAgent: c.userAgent } : undefined;
}


/** Observes each finished call (telemetry): method, gRPC code (0 = OK), duration, error reason. */
export type CallObserver = (method: string, code: number, durationMs: number, reason: string | undefined) => void;

/** Gate that refuses calls while the node is not serving (throws NotServingError). */
export type ServingGate = () => void;

/**
 * Wraps an async handler as a grpc-js unary handler: every thrown error becomes a status with
 * ErrorInfo through the one status table, and the callback is called exactly once.
 */
export function unary<Req, Res>(
  method: string,
  gate: ServingGate,
  observe: CallObserver,
  fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Res | Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const start = performance.now();
    let p: Res | Promise<Res>;
    try {
      gate();
      requireDecoded(call.request);
      p = fn(call.request, call);
    } catch (err) {
      p = Promise.reject(err);
    }
    // A handler that answered synchronously (a cache hit) is answered without a promise hop.
    if (!(p instanceof Promise)) {
      observe(method, 0, performance.now() - start, undefined);
      callback(null, p);
      return;
    }
    p.then(
      (res) => {
        observe(method, 0, performance.now() - start, undefined);
        callback(null, res);
      },
      (err: unknown) => {
        const e = toServiceError(err);
        observe(method, e.code, performance.now() - start, e.reason);
        callback(e);
      },
    );
  };
}

/**
 * Builds the SessionService handlers over the application service. Every call is first admitted
 * (caller, method class) and site-checked before the service reads or writes anything (SPEC rule 21).
 */
export function sessionHandlers(
  svc: SessionService,
  gate: ServingGate,
  observe: CallObserver,
  streams: StreamRegistry,
  cache: SessionCache,
  access: CallAccess,
  wire: SessionWire = new SessionWire(),
): SessionServiceServer {
  const u = <Req, Res>(m: string, fn: (req: Req, caller: Caller) => Res | Promise<Res>) =>
    unary<Req, Res>(m, gate, observe, (req: Req, call: ServerUnaryCall<Req, Res>) => fn(req, access.admit(m, call)));
  // For calls that name only a session: its site, after lookup, must be one the caller may act on.
  const bySession = <Req extends { sessionId: string }, Res>(m: string, fn: (req: Req, caller: Caller) => Promise<Res>) =>
    u<Req, Res>(m, async (req, caller) => {
      await access.checkSessionSite(caller, () => svc.siteOf(req.sessionId));
      return fn(req, caller);
    });
  const encodeValidate = (r: ValidateResult): Buffer => wire.validateResponse(r.verdict, r.view);
  const encodeHeartbeat = (v: Verdict): Buffer => wire.heartbeatResponse(v);
  // Attach streams by session, so the stream learns when its session ends on any node.
  const attached = new Map<string, Set<ServerWritableStream<AttachRequest, AttachResponse>>>();
  cache.onDelete((hash) => {
    for (const call of attached.get(hash) ?? []) {
      call.write({ kind: AttachResponse_Kind.KIND_ENDED, endReason: 0 });
      call.end();
    }
    attached.delete(hash);
  });
  return {
    createSession: u('CreateSession', async (req, caller) => {
      access.checkSite(caller, req.site);
      const r = await withCaller(caller.name, () => svc.create({
        site: req.site,
        user: req.user,
        clientType: clientTypeFromPb(req.clientType),
        deviceId: req.deviceId,
        attributes: req.attributes,
        idMode: idModeFromPb(req.idMode),
        client: { ip: req.client?.ip ?? '', userAgent: req.client?.userAgent ?? '' },
        bindIp: req.bindIp,
        bindUserAgent: req.bindUserAgent,
        persistent: req.persistent,
      }));
      access.audit(caller, 'login', { site: req.site, user: req.user, clientType: r.view.rec.clientType, sessionRef: r.view.hash });
      return { sessionId: r.id, session: sessionToPb(r.view), loginToken: r.loginToken ?? '' };
    }),
    resumeSession: u('ResumeSession', async (req, caller) => {
      // The site of the token's family must be one the caller may act on, before anything is written.
      const site = await svc.siteOfLoginToken(req.loginToken);
      if (site !== undefined) access.checkSite(caller, site);
      const r = await withCaller(caller.name, () => svc.resume(req.loginToken, req.deviceId, clientOf(req.client)));
      access.audit(caller, 'resumed', { site: r.view.rec.site, user: r.view.rec.user, clientType: r.view.rec.clientType, sessionRef: r.view.hash });
      return { sessionId: r.id, session: sessionToPb(r.view), loginToken: r.loginToken };
    }),
    listMySessions: bySession('ListMySessions', async (req) => ({
      sessions: (await svc.listMine(req.sessionId, clientOf(req.client))).map(mySessionToPb),
    })),
    endMySessions: bySession('EndMySessions', async (req, caller) => {
      const scope =
        req.scope === EndMySessionsRequest_Scope.SCOPE_OTHERS ? 'OTHERS'
        : req.scope === EndMySessionsRequest_Scope.SCOPE_ALL ? 'ALL'
        : req.scope === EndMySessionsRequest_Scope.SCOPE_ONE ? 'ONE'
        : null;
      if (!scope) throw new InvalidFieldError('scope', 'expected SCOPE_OTHERS, SCOPE_ALL or SCOPE_ONE');
      const ended = await withCaller(caller.name, () => svc.endMine(req.sessionId, scope, req.handle, clientOf(req.client)));
      access.audit(caller, 'ended own sessions', { scope, ended });
      return { ended };
    }),
    // The hot answers go out as bytes (SessionWire): the service definition's serializer passes them through.
    validateSession: preEncoded<ValidateSessionRequest, ValidateSessionResponse>(
      u<ValidateSessionRequest, Buffer>('ValidateSession', (req, caller) => {
        const idMode = idModeFromPb(req.idMode);
        const identity: RequestIdentity = req.client
          ? { sessionId: req.sessionId, idMode, site: req.site, client: clientOf(req.client)! }
          : { sessionId: req.sessionId, idMode, site: req.site };
        if (idMode === 'CLIENT_ADDRESS' && caller.sites !== '*') access.checkSite(caller, req.site);
        // The session's site is checked on the one lookup validate makes (none for callers of every site).
        const r = svc.validateNow(identity, access.siteChecker(caller));
        return r instanceof Promise ? r.then(encodeValidate) : encodeValidate(r);
      }),
    ),
    heartbeat: preEncoded<HeartbeatRequest, HeartbeatResponse>(
      u<HeartbeatRequest, Buffer>('Heartbeat', (req, caller) => {
        const v = svc.heartbeatNow(req.sessionId, req.instanceId, clientOf(req.client), access.siteChecker(caller));
        return v instanceof Promise ? v.then(encodeHeartbeat) : encodeHeartbeat(v);
      }),
    ),
    endSession: u('EndSession', async (req, caller) => {
      const site = await svc.siteOf(req.sessionId);
      if (site !== undefined) access.checkSite(caller, site);
      await withCaller(caller.name, () => svc.end(req.sessionId, req.forgetLogin, clientOf(req.client)));
      access.audit(caller, 'logout', { site: site ?? '' });
      return {};
    }),
    getSession: bySession('GetSession', async (req) => ({ session: sessionToPb(await svc.get(req.sessionId, clientOf(req.client))) })),
    getAttribute: bySession('GetAttribute', async (req) => {
      const a = await svc.getAttribute(req.sessionId, req.name, clientOf(req.client));
      return { attribute: { name: req.name, value: Buffer.from(a.value), etag: a.etag } };
    }),
    setAttribute: bySession('SetAttribute', async (req) => ({
      etag: await svc.setAttribute(req.sessionId, req.name, req.value, { etag: req.etag, createOnly: req.createOnly }, clientOf(req.client)),
    })),
    deleteAttribute: bySession('DeleteAttribute', async (req) => {
      await svc.deleteAttribute(req.sessionId, req.name, { etag: req.etag }, clientOf(req.client));
      return {};
    }),
    reauthenticate: bySession('Reauthenticate', async (req, caller) => {
      const r = await withCaller(caller.name, () => svc.reauthenticate(req.sessionId, req.user, clientOf(req.client)));
      access.audit(caller, 'reauthenticated', { site: r.view.rec.site, user: req.user, sessionRef: r.view.hash });
      return { sessionId: r.id, session: sessionToPb(r.view) };
    }),
    attach: (call: ServerWritableStream<AttachRequest, AttachResponse>) => {
      const start = performance.now();
      const fail = (err: unknown) => {
        const e = toServiceError(err);
        observe('Attach', e.code, performance.now() - start, e.reason);
        call.emit('error', e);
      };
      let caller: Caller;
      try {
        gate();
        requireDecoded(call.request);
        caller = access.admit('Attach', call);
        streams.add(call as ServerWritableStream<unknown, unknown>);
      } catch (err) {
        fail(err);
        return;
      }
      access.checkSessionSite(caller, () => svc.siteOf(call.request.sessionId)).then(() => svc.attach(call.request.sessionId, call.request.instanceId, clientOf(call.request.client))).then(
        (att) => {
          let set = attached.get(att.hash);
          if (!set) attached.set(att.hash, (set = new Set()));
          set.add(call);
          let closed = false;
          const close = () => {
            if (closed) return;
            closed = true;
            attached.get(att.hash)?.delete(call);
            if (attached.get(att.hash)?.size === 0) attached.delete(att.hash);
            observe('Attach', 0, performance.now() - start, undefined);
            att.detach().catch(() => {});
          };
          call.on('cancelled', close);
          call.on('close', close);
          call.on('finish', close);
          call.on('error', close);
          if (call.cancelled) close();
          else call.write({ kind: AttachResponse_Kind.KIND_ATTACHED, endReason: 0 });
        },
        (err: unknown) => fail(err),
      );
    },
  };
}
