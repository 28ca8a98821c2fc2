import { credentials, Metadata } from '@grpc/grpc-js';
import { HealthClient, HealthCheckResponse_ServingStatus as Serving } from '../../src/gen/grpc/health/v1/health.js';
import { READINESS_SERVICE } from '../../src/node/health.js';

/** Asks a node's gRPC health service (as kubelet does) whether it is ready; false on any error. */
export async function isReady(address: string, service = READINESS_SERVICE): Promise<boolean> {
  const c = new HealthClient(address, credentials.createInsecure());
  try {
    return await new Promise<boolean>((resolve) =>
      c.check({ service }, new Metadata(), { deadline: Date.now() + 2000 }, (err, res) => resolve(!err && res?.status === Serving.SERVING)),
    );
  } finally {
    c.close();
  }
}
