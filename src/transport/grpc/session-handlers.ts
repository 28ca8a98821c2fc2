import type { handleUnaryCall, ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import type { SessionService } from '../../app/session-service.js';
import type { SessionServiceServer } from '../../gen/sessionmanager/v1/session_service.js';
import { clientTypeFromPb, sessionToPb, verdictToPb } from './convert.js';
import { toServiceError } from './status.js';

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
export function sessionHandlers(svc: SessionService, gate: ServingGate, observe: CallObserver): SessionServiceServer {
  const u = <Req, Res>(m: string, fn: (req: Req) => Promise<Res>) => unary<Req, Res>(m, gate, observe, fn);
  return {
    createSession: u('CreateSession', async (req) => {
      const r = await svc.create({
        site: req.site,
        user: req.user,
        clientType: clientTypeFromPb(req.clientType),
        deviceId: req.deviceId,
        attributes: new Map(Object.entries(req.attributes)),
      });
      return { sessionId: r.id, session: sessionToPb(r.view) };
    }),
    validateSession: u('ValidateSession', async (req) => {
      const r = await svc.validate(req.sessionId);
      return { verdict: verdictToPb(r.verdict), session: r.view ? sessionToPb(r.view) : undefined };
    }),
    heartbeat: u('Heartbeat', async (req) => ({ verdict: verdictToPb(await svc.heartbeat(req.sessionId, req.instanceId)) })),
    endSession: u('EndSession', async (req) => {
      await svc.end(req.sessionId);
      return {};
    }),
    getSession: u('GetSession', async (req) => ({ session: sessionToPb(await svc.get(req.sessionId)) })),
    getAttribute: u('GetAttribute', async (req) => {
      const a = await svc.getAttribute(req.sessionId, req.name);
      return { attribute: { name: req.name, value: Buffer.from(a.value), etag: a.etag } };
    }),
    setAttribute: u('SetAttribute', async (req) => ({
      etag: await svc.setAttribute(req.sessionId, req.name, req.value, { etag: req.etag, createOnly: req.createOnly }),
    })),
    deleteAttribute: u('DeleteAttribute', async (req) => {
      await svc.deleteAttribute(req.sessionId, req.name, { etag: req.etag });
      return {};
    }),
  };
}
