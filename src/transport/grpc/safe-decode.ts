import type { ServiceDefinition } from '@grpc/grpc-js';
import { MalformedRequestError } from '../../domain/errors.js';

const MALFORMED = Symbol('malformed request');

/**
 * Wraps every method's request decoder so undecodable bytes reach the handler as a marker instead of
 * throwing inside grpc-js, which would answer INTERNAL; the handler then answers INVALID_ARGUMENT.
 */
export function withSafeDecoding<T extends ServiceDefinition>(def: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(def)) {
    const decode = m.requestDeserialize;
    out[name] = {
      ...m,
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
