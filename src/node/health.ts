import type { Logger } from 'pino';
import type { ClockOffset } from '../app/clock-offset.js';
import type { HealthService } from '../transport/grpc/health.js';
import type { NodeState } from './lifecycle.js';

/** Health name for liveness: the process is up. */
export const LIVENESS_SERVICE = '';
/** Health name for readiness: synced, fresh and not draining. */
export const READINESS_SERVICE = 'sessionmanager.v1.SessionService';
/** The gRPC service names the health service reports on. */
export const HEALTH_SERVICES = [LIVENESS_SERVICE, READINESS_SERVICE] as const;

/** What the health policy looks at. */
export interface HealthInputs {
  health: Pick<HealthService, 'set' | 'setAll'>;
  clockOffset: Pick<ClockOffset, 'withinBound' | 'offsetMs' | 'peerCount'>;
  /** Whether the mirror is proven fresh (cache.max-staleness). */
  fresh: () => boolean;
  /** cluster.max-clock-skew now (for the log line). */
  maxClockSkewMs: () => number;
  log: Logger;
}

/**
 * HealthPolicy decides liveness and readiness. Liveness ("") says the process works: SERVING from
 * bind until draining, whatever etcd does, so an etcd outage never restarts pods. Readiness (the
 * service name) also needs a fresh mirror and a clock within cluster.max-clock-skew.
 */
export class HealthPolicy {
  private clockOk = true;
  private readyValue = false;

  constructor(private readonly inputs: HealthInputs) {}

  /** Whether readiness reports SERVING now (what a load balancer sees). */
  get ready(): boolean {
    return this.readyValue;
  }

  /** Re-evaluates both statuses for a node in `state`. */
  refresh(state: NodeState): void {
    const { health, clockOffset, log } = this.inputs;
    const up = state === 'starting' || state === 'serving';
    health.set(LIVENESS_SERVICE, up);
    const clockOk = clockOffset.withinBound();
    if (clockOk !== this.clockOk) {
      this.clockOk = clockOk;
      const fields = { offsetMs: Math.round(clockOffset.offsetMs), boundMs: this.inputs.maxClockSkewMs(), peers: clockOffset.peerCount };
      if (clockOk) log.info(fields, 'clock offset back within cluster.max-clock-skew; ready again');
      else log.warn(fields, 'clock offset beyond cluster.max-clock-skew: NOT_SERVING, ending nothing');
    }
    this.readyValue = state === 'serving' && this.inputs.fresh() && clockOk;
    health.set(READINESS_SERVICE, this.readyValue);
  }

  /** Reports NOT_SERVING on every name (first step of a stop). */
  notServing(): void {
    this.readyValue = false;
    this.inputs.health.setAll(false);
  }
}
