import { isClientType, CLIENT_TYPES, type ClientType } from '../../domain/client-type.js';
import { UnreadableRecordError } from '../../domain/errors.js';
import type { SessionEvent, SessionEventType } from '../../domain/events.js';
import type { EndReason, SessionRecord } from '../../domain/session.js';
import { NO_ATTRIBUTES, sharedPolicy, sharedString, UNBOUND_DECODED } from './interned.js';
import {
  AttributeRecord,
  EventRecord,
  NodeRecord,
  PresenceEntry,
  SessionRecord as SessionRecordPb,
  UserIndexEntry,
} from '../../gen/sessionmanager/storage/v1/records.js';

/** The schema version written into every record; readers refuse other versions. */
export const RECORD_VERSION = 1;

const STATE_ACTIVE = 1;
const STATE_REAUTH = 2;

/** Encodes a session record as its versioned protobuf message. */
export function encodeSession(rec: SessionRecord): Uint8Array {
  return SessionRecordPb.encode({
    version: RECORD_VERSION,
    site: rec.site,
    user: rec.user,
    clientType: CLIENT_TYPES.indexOf(rec.clientType) + 1,
    deviceId: rec.deviceId,
    createTimeMs: rec.createdAt,
    lastAccessMs: rec.lastAccessAt,
    hitCount: rec.hits,
    state: rec.state === 'ACTIVE' ? STATE_ACTIVE : STATE_REAUTH,
    absoluteDeadlineMs: rec.absoluteDeadline,
    policy: {
      idleMs: rec.policy.idleMs,
      singleRequestMs: rec.policy.singleRequestMs,
      absoluteMs: rec.policy.absoluteMs,
      hitMax: rec.policy.hitMax,
      touchGranularityMs: rec.policy.touchGranularityMs,
      connectionGraceMs: rec.policy.connectionGraceMs,
    },
    attributeNames: [...rec.attributeNames],
    connectionLostMs: rec.connectionLostAt,
    boundIpHash: rec.binding.ipHash,
    boundUserAgentHash: rec.binding.userAgentHash,
    bindingSalt: rec.binding.salt ?? '',
    loginFamily: rec.loginFamily ?? '',
  }).finish();
}

/** Decodes a stored session record; throws UnreadableRecordError for corrupt bytes or unknown versions. */
export function decodeSession(bytes: Uint8Array): SessionRecord {
  let m: SessionRecordPb;
  try {
    m = SessionRecordPb.decode(bytes);
  } catch (err) {
    throw new UnreadableRecordError(`session record: ${(err as Error).message}`);
  }
  if (m.version !== RECORD_VERSION) throw new UnreadableRecordError(`session record version ${m.version}`);
  const type = CLIENT_TYPES[m.clientType - 1];
  if (!type || !isClientType(type)) throw new UnreadableRecordError(`client type ${m.clientType}`);
  if (m.state !== STATE_ACTIVE && m.state !== STATE_REAUTH) throw new UnreadableRecordError(`state ${m.state}`);
  const p = m.policy;
  if (!p) throw new UnreadableRecordError('policy missing');
  return {
    site: sharedString(m.site),
    user: m.user,
    clientType: type,
    deviceId: sharedString(m.deviceId),
    createdAt: m.createTimeMs,
    lastAccessAt: m.lastAccessMs,
    hits: m.hitCount,
    state: m.state === STATE_ACTIVE ? 'ACTIVE' : 'REAUTH_REQUIRED',
    absoluteDeadline: m.absoluteDeadlineMs,
    // Shared objects where records agree (store/etcd/interned.ts): the mirror's heap per session.
    policy: sharedPolicy(p),
    attributeNames: m.attributeNames.length === 0 ? NO_ATTRIBUTES : m.attributeNames,
    connectionLostAt: m.connectionLostMs,
    // A record without a salt is of the previous format: its hashes are salted with the session id.
    binding:
      m.boundIpHash === '' && m.boundUserAgentHash === '' && !m.bindingSalt
        ? UNBOUND_DECODED
        : { ipHash: m.boundIpHash, userAgentHash: m.boundUserAgentHash, ...(m.bindingSalt ? { salt: m.bindingSalt } : {}) },
    ...(m.loginFamily ? { loginFamily: m.loginFamily } : {}),
  };
}

/** Encodes an attribute value as its versioned protobuf message. */
export function encodeAttribute(value: Uint8Array, etag: string): Uint8Array {
  return AttributeRecord.encode({ version: RECORD_VERSION, value: Buffer.from(value), etag }).finish();
}

/** Decodes a stored attribute value with its etag. */
export function decodeAttribute(bytes: Uint8Array): { value: Uint8Array; etag: string } {
  let m: AttributeRecord;
  try {
    m = AttributeRecord.decode(bytes);
  } catch (err) {
    throw new UnreadableRecordError(`attribute: ${(err as Error).message}`);
  }
  if (m.version !== RECORD_VERSION) throw new UnreadableRecordError(`attribute version ${m.version}`);
  return { value: m.value, etag: m.etag };
}

/** Encodes a user-index value. */
export function encodeIndexEntry(rec: SessionRecord): Uint8Array {
  return UserIndexEntry.encode({
    version: RECORD_VERSION,
    clientType: CLIENT_TYPES.indexOf(rec.clientType) + 1,
    deviceId: rec.deviceId,
    createTimeMs: rec.createdAt,
  }).finish();
}

/** Decodes a user-index value; null when unreadable (the entry is then ignored, not fatal). */
export function decodeIndexEntry(bytes: Uint8Array): { clientType: ClientType; deviceId: string; createdAt: number } | null {
  try {
    const m = UserIndexEntry.decode(bytes);
    const type = CLIENT_TYPES[m.clientType - 1];
    if (m.version !== RECORD_VERSION || !type) return null;
    return { clientType: type, deviceId: m.deviceId, createdAt: m.createTimeMs };
  } catch {
    return null;
  }
}

/** Encodes a presence value. */
export function encodePresence(nodeId: string, connections: number, instances: number): Uint8Array {
  return PresenceEntry.encode({ version: RECORD_VERSION, nodeId, connections, instances }).finish();
}

/** Decodes a presence value; unreadable values count as present (fail safe for rule 7). */
export function decodePresence(bytes: Uint8Array): { connections: number; instances: number } {
  try {
    const m = PresenceEntry.decode(bytes);
    return { connections: m.connections, instances: m.instances };
  } catch {
    return { connections: 1, instances: 1 };
  }
}

/** Encodes a node registration. */
export function encodeNode(nodeId: string, startTime: number, configVersion: string, wallTime = 0): Uint8Array {
  return NodeRecord.encode({ version: RECORD_VERSION, nodeId, startTimeMs: startTime, configVersion, wallTimeMs: wallTime }).finish();
}

/** Decodes a node registration; wallTime is the writer's clock at write (0 from writers that predate it). */
export function decodeNode(bytes: Uint8Array): { nodeId: string; startTime: number; configVersion: string; wallTime: number } | null {
  try {
    const m = NodeRecord.decode(bytes);
    return { nodeId: m.nodeId, startTime: m.startTimeMs, configVersion: m.configVersion, wallTime: m.wallTimeMs };
  } catch {
    return null;
  }
}

const EVENT_TYPES: readonly SessionEventType[] = ['CREATED', 'ENDED', 'REPLACED', 'REAUTHENTICATED'];
const END_REASONS: readonly EndReason[] = [
  'LOGGED_OUT',
  'EXPIRED_IDLE',
  'EXPIRED_SINGLE_REQUEST',
  'EXPIRED_ABSOLUTE',
  'CONNECTION_LOST',
  'REVOKED',
  'REPLACED',
  'HIT_LIMIT',
  'TOKEN_REUSED',
];

/** Encodes a lifecycle event. */
export function encodeEvent(e: SessionEvent): Uint8Array {
  return EventRecord.encode({
    version: RECORD_VERSION,
    type: EVENT_TYPES.indexOf(e.type) + 1,
    endReason: e.endReason ? END_REASONS.indexOf(e.endReason) + 1 : 0,
    site: e.site,
    user: e.user,
    clientType: CLIENT_TYPES.indexOf(e.clientType) + 1,
    sessionRef: e.sessionRef,
    successorRef: e.successorRef ?? '',
    timeMs: e.time,
    caller: e.caller ?? '',
    login: e.login === 'ISSUED' ? 1 : e.login === 'RESUMED' ? 2 : 0,
    loginFamily: e.loginFamily ?? '',
  }).finish();
}

/** Decodes a lifecycle event; null when unreadable. */
export function decodeEvent(bytes: Uint8Array): SessionEvent | null {
  try {
    const m = EventRecord.decode(bytes);
    const type = EVENT_TYPES[m.type - 1];
    const clientType = CLIENT_TYPES[m.clientType - 1];
    if (m.version !== RECORD_VERSION || !type || !clientType) return null;
    const endReason = END_REASONS[m.endReason - 1];
    return {
      type,
      ...(endReason ? { endReason } : {}),
      site: m.site,
      user: m.user,
      clientType,
      sessionRef: m.sessionRef,
      ...(m.successorRef ? { successorRef: m.successorRef } : {}),
      time: m.timeMs,
      ...(m.caller ? { caller: m.caller } : {}),
      ...(m.login === 1 ? { login: 'ISSUED' as const } : m.login === 2 ? { login: 'RESUMED' as const } : {}),
      ...(m.loginFamily ? { loginFamily: m.loginFamily } : {}),
    };
  } catch {
    return null;
  }
}
