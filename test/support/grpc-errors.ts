import type { ServiceError } from '@grpc/grpc-js';
import { errorInfoOf } from '../../src/transport/grpc/status.js';

/** Awaits a call that must fail; returns its gRPC code and ErrorInfo reason. */
export async function failure(p: Promise<unknown>): Promise<{ code: number; reason: string | undefined; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as ServiceError;
    return { code: e.code, reason: errorInfoOf(e)?.reason, message: e.details };
  }
  throw new Error('expected the call to fail, it succeeded');
}
