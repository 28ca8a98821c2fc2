import type { handleUnaryCall, ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import type { ClientInfo, SessionService } from '../../app/session-service.js';
import type { SessionCache } from '../../cache/session-cache.js';
import {
  AttachResponse_Kind,
  type AttachRequest,
  type ClientInfo as ClientInfoPb,
  type AttachResponse,
  type SessionServiceServer,
} from '../../gen/sessionmanager/v1/session_service.js';
import { clientTypeFromPb, idModeFromPb, sessionToPb, verdictToPb } from './convert.js';
import { requireDecoded } from './safe-decode.js';
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
  fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const start = performance.now();
    let p: Promise<Res>;
    try {
      gate();
      requireDecoded(call.request);
      p = fn(call.request, call);
    } catch (err) {
      p = Promise.reject(err);
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

/** Builds the SessionService handlers over the application service. */
export function sessionHandlers(
  svc: SessionService,
  gate: ServingGate,
  observe: CallObserver,
  streams: StreamRegistry,
  cache: SessionCache,
): SessionServiceServer {
  const u = <Req, Res>(m: string, fn: (req: Req) => Promise<Res>) => unary<Req, Res>(m, gate, observe, fn);
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
    createSession: u('CreateSession', async (req) => {
      const r = await svc.create({
        site: req.site,
        user: req.user,
        clientType: clientTypeFromPb(req.clientType),
        deviceId: req.deviceId,
        attributes: req.attributes,
        idMode: idModeFromPb(req.idMode),
        client: { ip: req.client?.ip ?? '', userAgent: req.client?.userAgent ?? '' },
        bindIp: req.bindIp,
        bindUserAgent: req.bindUserAgent,
      });
      return { sessionId: r.id, session: sessionToPb(r.view) };
    }),
    validateSession: u('ValidateSession', async (req) => {
      const r = await svc.validate({
        sessionId: req.sessionId,
        idMode: idModeFromPb(req.idMode),
        site: req.site,
        ...(req.client ? { client: clientOf(req.client)! } : {}),
      });
      return { verdict: verdictToPb(r.verdict), session: r.view ? sessionToPb(r.view) : undefined };
    }),
    heartbeat: u('Heartbeat', async (req) => ({ verdict: verdictToPb(await svc.heartbeat(req.sessionId, req.instanceId, clientOf(req.client))) })),
    endSession: u('EndSession', async (req) => {
      await svc.end(req.sessionId);
      return {};
    }),
    getSession: u('GetSession', async (req) => ({ session: sessionToPb(await svc.get(req.sessionId, clientOf(req.client))) })),
    getAttribute: u('GetAttribute', async (req) => {
      const a = await svc.getAttribute(req.sessionId, req.name, clientOf(req.client));
      return { attribute: { name: req.name, value: Buffer.from(a.value), etag: a.etag } };
    }),
    setAttribute: u('SetAttribute', async (req) => ({
      etag: await svc.setAttribute(req.sessionId, req.name, req.value, { etag: req.etag, createOnly: req.createOnly }, clientOf(req.client)),
    })),
    deleteAttribute: u('DeleteAttribute', async (req) => {
      await svc.deleteAttribute(req.sessionId, req.name, { etag: req.etag }, clientOf(req.client));
      return {};
    }),
    reauthenticate: u('Reauthenticate', async (req) => {
      const r = await svc.reauthenticate(req.sessionId, req.user, clientOf(req.client));
      return { sessionId: r.id, session: sessionToPb(r.view) };
    }),
    attach: (call: ServerWritableStream<AttachRequest, AttachResponse>) => {
      const start = performance.now();
      const fail = (err: unknown) => {
        const e = toServiceError(err);
        observe('Attach', e.code, performance.now() - start, e.reason);
        call.emit('error', e);
      };
      try {
        gate();
        requireDecoded(call.request);
        streams.add(call as ServerWritableStream<unknown, unknown>);
      } catch (err) {
        fail(err);
        return;
      }
      svc.attach(call.request.sessionId, call.request.instanceId, clientOf(call.request.client)).then(
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
