import { status, type ServerWritableStream, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import {
  HealthCheckResponse_ServingStatus as Serving,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
} from '../../gen/grpc/health/v1/health.js';

/**
 * HealthService implements grpc.health.v1 for the probes: each registered service name reports
 * SERVING or NOT_SERVING, and Watch streams every change.
 */
export class HealthService {
  private readonly statuses = new Map<string, Serving>();
  private readonly watchers = new Set<{ service: string; call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse> }>();

  constructor(services: readonly string[]) {
    for (const s of services) this.statuses.set(s, Serving.NOT_SERVING);
  }

  /** Sets every registered service to SERVING or NOT_SERVING. */
  setAll(serving: boolean): void {
    for (const s of this.statuses.keys()) this.set(s, serving);
  }

  set(service: string, serving: boolean): void {
    const next = serving ? Serving.SERVING : Serving.NOT_SERVING;
    if (this.statuses.get(service) === next) return;
    this.statuses.set(service, next);
    for (const w of this.watchers) if (w.service === service) w.call.write({ status: next });
  }

  /** Ends every Watch stream (shutdown). */
  closeWatchers(): void {
    for (const w of this.watchers) w.call.end();
    this.watchers.clear();
  }

  readonly implementation: HealthServer = {
    check: (call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: sendUnaryData<HealthCheckResponse>) => {
      const st = this.statuses.get(call.request.service);
      if (st === undefined) {
        callback({ code: status.NOT_FOUND, details: `unknown service ${JSON.stringify(call.request.service)}` });
        return;
      }
      callback(null, { status: st });
    },
    watch: (call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) => {
      const service = call.request.service;
      const w = { service, call };
      this.watchers.add(w);
      call.write({ status: this.statuses.get(service) ?? Serving.SERVICE_UNKNOWN });
      call.on('cancelled', () => this.watchers.delete(w));
      call.on('close', () => this.watchers.delete(w));
    },
  };
}
