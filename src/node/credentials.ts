import { readFileSync } from 'node:fs';
import type { ServerCredentials } from '@grpc/grpc-js';
import { serverCredentials } from '../transport/grpc/tls.js';
import type { SessionNodeOptions } from './options.js';

/** The shortest CLIENT_ADDRESS id key accepted: shorter keys could be guessed. */
export const MIN_ID_KEY_BYTES = 32;

/** Reads the CLIENT_ADDRESS id key; refuses keys too short to resist guessing. */
export function readIdKey(file: string): Buffer {
  const key = readFileSync(file);
  if (key.length < MIN_ID_KEY_BYTES) throw new Error(`node: the id key in ${file} must be at least ${MIN_ID_KEY_BYTES} bytes`);
  return key;
}

/**
 * The gRPC server credentials of a node: TLS from the configured files when set, requiring client
 * certificates unless callers may be anonymous; undefined means plaintext.
 */
export function nodeServerCredentials(tls: SessionNodeOptions['tls'], requireClientCert: boolean): ServerCredentials | undefined {
  return tls ? serverCredentials(tls, requireClientCert) : undefined;
}
