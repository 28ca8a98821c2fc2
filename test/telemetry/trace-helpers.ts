import { randomBytes } from 'node:crypto';
import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { ValidateSessionRequest, type ValidateSessionResponse, type CreateSessionResponse } from '../../src/gen/sessionmanager/v1/session_service.js';
import { createSessionRequest, type CreateSessionInput, type SessionApi } from '../../src/transport/grpc/client.js';
import { spans } from './setup.js';
import { eventually } from '../support/poll.js';

/** A caller's trace context, as a foreign service would send it. */
export interface CallerContext {
  traceId: string;
  spanId: string;
  traceparent: string;
  /** The caller's bearer token (SPEC rule 21), when the server requires callers. */
  token?: string;
}

/** A fresh sampled W3C trace context, sent with `token` when given. */
export function callerContext(token?: string): CallerContext {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01`, ...(token ? { token } : {}) };
}

function metadataOf(caller: CallerContext): Metadata {
  const md = new Metadata();
  md.set('traceparent', caller.traceparent);
  if (caller.token) md.set('authorization', `Bearer ${caller.token}`);
  return md;
}

/**
 * Runs a client call with tracing suppressed in this process, so the instrumented client neither
 * makes its own span nor replaces the traceparent the "foreign" caller put in the metadata.
 */
function asForeignCaller<T>(fn: (done: (err: ServiceError | null, res: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) =>
    context.with(suppressTracing(ROOT_CONTEXT), () => fn((err, res) => (err ? reject(err) : resolve(res)))),
  );
}

/** ValidateSession sent with the caller's traceparent header. */
export function validateAs(api: SessionApi, caller: CallerContext, sessionId: string): Promise<ValidateSessionResponse> {
  return asForeignCaller((done) => api.raw.validateSession(ValidateSessionRequest.fromPartial({ sessionId }), metadataOf(caller), { deadline: Date.now() + 5000 }, done));
}

/** CreateSession sent with the caller's traceparent header. */
export function createAs(api: SessionApi, caller: CallerContext, req: CreateSessionInput): Promise<CreateSessionResponse> {
  return asForeignCaller((done) => api.raw.createSession(createSessionRequest(req), metadataOf(caller), { deadline: Date.now() + 5000 }, done));
}

/** Finished spans of one trace. */
export function spansOf(traceId: string): ReadableSpan[] {
  return spans.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
}

/** Waits for a finished span matching `match` and returns it. */
export function waitForSpan(match: (s: ReadableSpan) => boolean, what: string): Promise<ReadableSpan> {
  return eventually(() => spans.getFinishedSpans().find(match), { what, timeoutMs: 5000 });
}

/** Every string a span carries: name, attribute values, event names and attributes, status message. */
export function spanStrings(s: ReadableSpan): string[] {
  const out = [s.name, s.status.message ?? ''];
  const values = (attrs: Record<string, unknown> | undefined) => {
    for (const [k, v] of Object.entries(attrs ?? {})) out.push(k, Array.isArray(v) ? v.join(' ') : String(v));
  };
  values(s.attributes);
  for (const e of s.events) {
    out.push(e.name);
    values(e.attributes);
  }
  for (const l of s.links) values(l.attributes);
  return out;
}
