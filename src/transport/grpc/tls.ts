import { readFileSync } from 'node:fs';
import { experimental, ServerCredentials } from '@grpc/grpc-js';

/** TLS files of the gRPC server; a client CA turns on client certificates. */
export interface ServerTlsFiles {
  certFile: string;
  keyFile: string;
  clientCaFile?: string;
}

/**
 * Builds the server's TLS credentials. With a client CA and `verifyInCalls`, client certificates
 * are requested and verified against the CA but not demanded by the handshake: a caller without a
 * valid one still connects, and the call layer answers UNAUTHENTICATED (or accepts a bearer token)
 * — SPEC rule 21. Without `verifyInCalls` a client certificate is mandatory at the handshake.
 */
export function serverCredentials(tls: ServerTlsFiles, verifyInCalls: boolean): ServerCredentials {
  const cert = readFileSync(tls.certFile);
  const key = readFileSync(tls.keyFile);
  const ca = tls.clientCaFile ? readFileSync(tls.clientCaFile) : null;
  if (!ca || !verifyInCalls) return ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], !!ca);
  // Updates are delivered on the next tick: grpc-js registers its own watcher only after it has
  // subscribed to the provider, and would miss an update delivered synchronously.
  const provider: experimental.CertificateProvider = {
    addCaCertificateListener: (l) => queueMicrotask(() => l({ caCertificate: ca })),
    removeCaCertificateListener: () => {},
    addIdentityCertificateListener: (l) => queueMicrotask(() => l({ certificate: cert, privateKey: key })),
    removeIdentityCertificateListener: () => {},
  };
  // grpc-js takes the identity provider first, then the CA provider.
  return experimental.createCertificateProviderServerCredentials(provider, provider, false);
}
