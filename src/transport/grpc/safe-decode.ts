import type { handleUnaryCall, ServiceDefinition } from '@grpc/grpc-js';
import { MalformedRequestError } from '../../domain/errors.js';

const MALFORMED = Symbol('malformed request');

/**
 * Wraps every method's request decoder so undecodable bytes reach the handler as a marker instead of
 * throwing inside grpc-js, which would answer INTERNAL; the handler then answers INVALID_ARGUMENT.
 * Every response serializer also passes bytes through as they are, so a handler may answer with an
 * already encoded message (preEncoded; generated messages are plain objects, never bytes).
 */
export function withSafeDecoding<T extends ServiceDefinition>(def: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(def)) {
    const decode = m.requestDeserialize;
    const serialize = m.responseSerialize;
    out[name] = {
      ...m,
      responseSerialize: (value: unknown): Buffer => (value instanceof Uint8Array ? (Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)) : serialize(value)),
      requestDeserialize: (buf: Buffer) => {
        try {
          return decode(buf);
        } catch {
          return { [MALFORMED]: true };
        }
      },
    };
  }
  return out as T;
}

/** Throws MalformedRequestError when the request could not be decoded. */
export function requireDecoded(request: unknown): void {
  if (typeof request === 'object' && request !== null && MALFORMED in request) throw new MalformedRequestError();
}

/**
 * Types a handler that answers with encoded bytes as the generated one: sound only on a definition
 * passed through withSafeDecoding, whose serializers pass bytes through.
 */
export function preEncoded<Req, Res>(handler: handleUnaryCall<Req, Buffer>): handleUnaryCall<Req, Res> {
  return handler as unknown as handleUnaryCall<Req, Res>;
}
