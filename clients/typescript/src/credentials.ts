import { credentials as grpcCredentials, Metadata, status, type ChannelCredentials, type Interceptor, InterceptingCall } from '@grpc/grpc-js';
import { readFileSync, statSync } from 'node:fs';

/**
 * Where the caller's bearer token comes from: a string, a file (re-read whenever its modification
 * time or size changes, so a rotated Kubernetes Secret is picked up without a restart), or a function
 * (sync or async, called before every call).
 */
export type TokenSource = string | { readonly file: string } | (() => string | Promise<string>);

/** TLS settings: the server CA, and for mutual TLS the client certificate and key (PEM, as data or file paths). */
export interface TlsOptions {
  /** CA bundle that signed the server certificate (PEM data or a file path); omitted: system roots. */
  readonly ca?: string | Buffer;
  /** Client certificate for mutual TLS (PEM data or a file path); needs `key`. */
  readonly cert?: string | Buffer;
  /** Client private key for mutual TLS (PEM data or a file path); needs `cert`. */
  readonly key?: string | Buffer;
  /** Name to verify the server certificate against when it differs from the target host. */
  readonly serverName?: string;
}

function pem(v: string | Buffer | undefined): Buffer | null {
  if (v === undefined) return null;
  if (Buffer.isBuffer(v)) return v;
  return v.includes('-----BEGIN') ? Buffer.from(v) : readFileSync(v);
}

/** Builds grpc-js channel credentials: TLS when `tls` is given (true: system roots), else plaintext. */
export function channelCredentials(tls: TlsOptions | boolean | undefined): ChannelCredentials {
  if (!tls) return grpcCredentials.createInsecure();
  const t: TlsOptions = tls === true ? {} : tls;
  if ((t.cert === undefined) !== (t.key === undefined)) throw new TypeError('tls.cert and tls.key go together (mutual TLS needs both)');
  return grpcCredentials.createSsl(pem(t.ca), pem(t.key), pem(t.cert));
}

/** Returns a function that yields the current token of a TokenSource (undefined source: no token). */
export function tokenReader(source: TokenSource | undefined): (() => Promise<string | undefined>) | undefined {
  if (source === undefined) return undefined;
  if (typeof source === 'string') {
    if (!source.trim()) throw new TypeError('token must not be empty');
    const token = source.trim();
    return async () => token;
  }
  if (typeof source === 'function') return async () => (await source()).trim();
  const file = source.file;
  let seen = '';
  let token = '';
  return async () => {
    const st = statSync(file);
    const stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (stamp !== seen) {
      token = readFileSync(file, 'utf8').trim();
      seen = stamp;
    }
    return token;
  };
}

/**
 * An interceptor that puts `authorization: Bearer <token>` on every call (unary and streaming),
 * the convention of the server's caller authentication. A token that cannot be read fails the call
 * (UNAUTHENTICATED on the client side) instead of sending it without credentials.
 */
export function bearerInterceptor(read: () => Promise<string | undefined>): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata: Metadata, listener, next) {
        read().then(
          (token) => {
            if (token) metadata.set('authorization', `Bearer ${token}`);
            next(metadata, listener);
          },
          (err: Error) => {
            // Never send the call without its credential: answer it here with UNAUTHENTICATED.
            listener.onReceiveStatus?.({ code: status.UNAUTHENTICATED, details: `caller token unavailable: ${err.message}`, metadata: new Metadata() });
          },
        );
      },
    });
}
