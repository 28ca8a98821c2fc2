import { CLIENT_TYPES, type ClientType } from '../../domain/client-type.js';
import { IDLE_CONNECTION_BOUND, IDLE_NEVER } from '../../domain/policy.js';
import type { Verdict as DomainVerdict } from '../../domain/decisions.js';
import type { MySessionView, SessionView } from '../../app/session-service.js';
import type { SessionRecord } from '../../domain/session.js';
import { handleOf } from '../../app/ids.js';
import type { Duration } from '../../gen/google/protobuf/duration.js';
import { ClientType as PbClientType, SessionState, type Session } from '../../gen/sessionmanager/v1/session.js';
import { IdMode, Verdict, type MySession } from '../../gen/sessionmanager/v1/session_service.js';
import { InvalidFieldError } from '../../domain/errors.js';
import type { IdMode as DomainIdMode } from '../../app/session-service.js';

/** Maps the API's id mode; unknown values are refused. */
export function idModeFromPb(m: IdMode): DomainIdMode {
  if (m === IdMode.ID_MODE_UNSPECIFIED || m === IdMode.ID_MODE_TICKET) return 'TICKET';
  if (m === IdMode.ID_MODE_CLIENT_ADDRESS) return 'CLIENT_ADDRESS';
  throw new InvalidFieldError('id_mode', `unknown value ${m}`);
}

/** Maps the API's client type enum to the domain name; unknown values give their number, unspecified its enum name, so errors name them. */
export function clientTypeFromPb(t: PbClientType): string {
  if (t === PbClientType.CLIENT_TYPE_UNSPECIFIED) return 'CLIENT_TYPE_UNSPECIFIED';
  if (!Number.isInteger(t) || t < 1 || t > CLIENT_TYPES.length) return String(t);
  return CLIENT_TYPES[t - 1]!;
}

/** Maps a domain client type to the API enum. */
export function clientTypeToPb(t: ClientType): PbClientType {
  return (CLIENT_TYPES.indexOf(t) + 1) as PbClientType;
}

const VERDICTS: Record<DomainVerdict, Verdict> = {
  VALID: Verdict.VERDICT_VALID,
  NOT_FOUND: Verdict.VERDICT_NOT_FOUND,
  EXPIRED: Verdict.VERDICT_EXPIRED,
  REAUTH_REQUIRED: Verdict.VERDICT_REAUTH_REQUIRED,
  HIT_LIMIT: Verdict.VERDICT_HIT_LIMIT,
  BINDING_MISMATCH: Verdict.VERDICT_BINDING_MISMATCH,
};

/** Maps a domain verdict to the API enum. */
export function verdictToPb(v: DomainVerdict): Verdict {
  return VERDICTS[v];
}

function duration(ms: number): Duration {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

/** Converted policies by policy object: a record's policy is converted once, not on every answer. */
const POLICY_PB = new WeakMap<SessionRecord['policy'], NonNullable<Session['policy']>>();

/** The wire form of a session policy (cached per policy object; the encoder never changes it). */
function policyToPb(p: SessionRecord['policy']): NonNullable<Session['policy']> {
  let pb = POLICY_PB.get(p);
  if (pb) return pb;
  pb = {
    idleTimeout: p.idleMs > 0 ? duration(p.idleMs) : undefined,
    idleNever: p.idleMs === IDLE_NEVER,
    connectionBound: p.idleMs === IDLE_CONNECTION_BOUND,
    singleRequestTimeout: duration(p.singleRequestMs),
    absoluteTimeout: p.absoluteMs > 0 ? duration(p.absoluteMs) : undefined,
    hitMax: p.hitMax,
    touchGranularity: duration(p.touchGranularityMs),
  };
  POLICY_PB.set(p, pb);
  return pb;
}

/** Builds the API view of a session; it never contains the secret id. */
export function sessionToPb(v: SessionView): Session {
  const r = v.rec;
  const p = r.policy;
  return {
    site: r.site,
    user: r.user,
    clientType: clientTypeToPb(r.clientType),
    deviceId: r.deviceId,
    createTime: new Date(r.createdAt),
    lastAccessTime: new Date(r.lastAccessAt),
    hitCount: r.hits,
    state: v.state === 'ACTIVE' ? SessionState.SESSION_STATE_ACTIVE : SessionState.SESSION_STATE_REAUTH_REQUIRED,
    policy: policyToPb(p),
    idleDeadline: Number.isFinite(v.idleDeadline) ? new Date(v.idleDeadline) : undefined,
    absoluteDeadline: r.absoluteDeadline > 0 ? new Date(r.absoluteDeadline) : undefined,
    // The encoder only reads the list: the record's own (frozen-by-convention) array is passed as is.
    attributeNames: r.attributeNames as string[],
    handle: handleOf(v.hash),
  };
}

/** Builds the API view of one of the user's own sessions (ListMySessions); never the secret id. */
export function mySessionToPb(m: MySessionView): MySession {
  const r = m.view.rec;
  return {
    handle: handleOf(m.view.hash),
    clientType: clientTypeToPb(r.clientType),
    deviceId: r.deviceId,
    createTime: new Date(r.createdAt),
    lastAccessTime: new Date(r.lastAccessAt),
    present: m.present,
    persistent: m.persistent,
    current: m.current,
    state: m.view.state === 'ACTIVE' ? SessionState.SESSION_STATE_ACTIVE : SessionState.SESSION_STATE_REAUTH_REQUIRED,
  };
}
