import { isClientType, CLIENT_TYPES } from '../../domain/client-type.js';
import { UnreadableRecordError } from '../../domain/errors.js';
import type { SessionRecord } from '../../domain/session.js';
import { AttributeRecord, SessionRecord as SessionRecordPb } from '../../gen/sessionmanager/storage/v1/records.js';

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
    },
    attributeNames: [...rec.attributeNames],
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
    site: m.site,
    user: m.user,
    clientType: type,
    deviceId: m.deviceId,
    createdAt: m.createTimeMs,
    lastAccessAt: m.lastAccessMs,
    hits: m.hitCount,
    state: m.state === STATE_ACTIVE ? 'ACTIVE' : 'REAUTH_REQUIRED',
    absoluteDeadline: m.absoluteDeadlineMs,
    policy: {
      idleMs: p.idleMs,
      singleRequestMs: p.singleRequestMs,
      absoluteMs: p.absoluteMs,
      hitMax: p.hitMax,
      touchGranularityMs: p.touchGranularityMs,
    },
    attributeNames: m.attributeNames,
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
