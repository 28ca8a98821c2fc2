import { strict as assert } from 'node:assert';
import type { SessionView } from '../../src/app/session-service.js';
import { defaultClusterPolicy } from '../../src/config/schema.js';
import { CLIENT_TYPES } from '../../src/domain/client-type.js';
import type { Verdict } from '../../src/domain/decisions.js';
import { sessionPolicyFor, type SessionPolicy } from '../../src/domain/policy.js';
import { newSessionRecord, type SessionRecord } from '../../src/domain/session.js';
import { HeartbeatResponse, ValidateSessionResponse } from '../../src/gen/sessionmanager/v1/session_service.js';
import { sessionToPb, verdictToPb } from '../../src/transport/grpc/convert.js';
import { withSafeDecoding } from '../../src/transport/grpc/safe-decode.js';
import { SessionWire } from '../../src/transport/grpc/session-wire.js';
import { SessionServiceService } from '../../src/gen/sessionmanager/v1/session_service.js';

const T0 = 1_764_000_000_123;

/** The plain encoding the splice must decode equal to. */
function plain(verdict: Verdict, view: SessionView | undefined): ValidateSessionResponse {
  return ValidateSessionResponse.decode(ValidateSessionResponse.encode({ verdict: verdictToPb(verdict), session: view ? sessionToPb(view) : undefined }).finish());
}

function policy(type: (typeof CLIENT_TYPES)[number], patch: Partial<SessionPolicy> = {}): SessionPolicy {
  return { ...sessionPolicyFor(defaultClusterPolicy(), type), ...patch };
}

function view(patch: Partial<SessionRecord>, v: Partial<Omit<SessionView, 'rec'>> = {}): SessionView {
  const base = newSessionRecord({ site: 'shop', user: 'alice', clientType: 'web', deviceId: 'dev-1', policy: policy('web'), attributeNames: [], now: T0 });
  return { hash: 'h'.repeat(43), rec: { ...base, ...patch }, state: 'ACTIVE', idleDeadline: T0 + 1_800_000, ...v };
}

const TABLE: Array<[string, SessionView]> = [
  ['fresh web session', view({})],
  ['hits and later access', view({ hits: 7, lastAccessAt: T0 + 61_000 })],
  ['access on a whole second, no hits', view({ lastAccessAt: 1_764_000_001_000, hits: 0 })],
  ['access at epoch 0', view({ lastAccessAt: 0 })],
  ['large hit count (multi-byte varint)', view({ hits: 2 ** 40 + 3 })],
  ['idle never (no idle deadline)', view({ policy: policy('mobile', { idleMs: 0 }) }, { idleDeadline: Number.POSITIVE_INFINITY })],
  ['connection bound', view({ policy: policy('plugin', { idleMs: -1 }) }, { idleDeadline: T0 + 5_000 })],
  ['no absolute deadline', view({ absoluteDeadline: 0, policy: policy('api', { absoluteMs: 0 }) })],
  ['with attributes', view({ attributeNames: ['cart', 'locale', 'ünïcödé-name'] })],
  ['with bindings and a login family', view({ binding: { ipHash: 'ip-hash', userAgentHash: 'ua-hash', salt: 'salt' }, loginFamily: 'fam-1', hits: 3 })],
  ['re-authentication required', view({ state: 'REAUTH_REQUIRED', hits: 2 }, { state: 'REAUTH_REQUIRED' })],
  ['hit maximum in the policy', view({ policy: policy('widget', { hitMax: 10 }), hits: 9 })],
  ['every client type: admin', view({ clientType: 'admin', site: '', deviceId: '' })],
  ['long strings', view({ user: 'u'.repeat(300), site: 's'.repeat(200), attributeNames: Array.from({ length: 40 }, (_, i) => `attr-${i}`) })],
];

describe('SessionWire (issue 12: the spliced ValidateSession answer)', () => {
  for (const [name, v] of TABLE) {
    it(`decodes equal to the plain encoding: ${name}`, () => {
      const wire = new SessionWire();
      // First answer (plain), second (stable part encoded and kept), third (from the kept part).
      for (let i = 0; i < 3; i++) assert.deepEqual(ValidateSessionResponse.decode(wire.validateResponse('VALID', v)), plain('VALID', v));
      assert.equal(wire.size, 1);
    });
  }

  it('reuses the stable part while only activity changes, and re-encodes when a stable field changes', () => {
    const wire = new SessionWire();
    let v = view({ attributeNames: ['a'] });
    for (let i = 1; i <= 50; i++) {
      // As the service answers: a fresh record object per hit, the same policy and attribute list.
      v = { ...v, rec: { ...v.rec, hits: i, lastAccessAt: T0 + i * 1013 }, idleDeadline: T0 + i * 1013 + 1_800_000 };
      assert.deepEqual(ValidateSessionResponse.decode(wire.validateResponse('VALID', v)), plain('VALID', v));
    }
    assert.equal(wire.size, 1);
    for (const patch of [{ attributeNames: ['a', 'b'] }, { user: 'bob' }, { absoluteDeadline: T0 + 5 }, { policy: policy('desktop') }, { deviceId: 'dev-2' }, { site: 'other' }, { createdAt: T0 - 1 }]) {
      v = { ...v, rec: { ...v.rec, ...patch } };
      for (let k = 0; k < 3; k++) assert.deepEqual(ValidateSessionResponse.decode(wire.validateResponse('VALID', v)), plain('VALID', v), JSON.stringify(patch));
    }
    const reauth: SessionView = { ...v, state: 'REAUTH_REQUIRED' };
    for (let k = 0; k < 3; k++) assert.deepEqual(ValidateSessionResponse.decode(wire.validateResponse('VALID', reauth)), plain('VALID', reauth));
    assert.equal(wire.size, 1);
  });

  it('keeps at most maxEntries sessions (rounded up to a power of two), a session only from its second answer, and none with 0', () => {
    const wire = new SessionWire({ maxEntries: 3 });
    for (let i = 0; i < 10; i++) {
      const v = { ...view({ hits: i }), hash: `${'h'.repeat(40)}${i}${i}${i}` };
      assert.deepEqual(ValidateSessionResponse.decode(wire.validateResponse('VALID', v)), plain('VALID', v));
    }
    assert.equal(wire.size, 0, 'sessions answered once are not kept');
    for (let i = 0; i < 10; i++) {
      const v = { ...view({ hits: i }), hash: `${'h'.repeat(40)}${i}${i}${i}` };
      for (let k = 0; k < 2; k++) assert.deepEqual(ValidateSessionResponse.decode(wire.validateResponse('VALID', v)), plain('VALID', v));
    }
    assert.ok(wire.size >= 1 && wire.size <= 4, `size ${wire.size}`);
    const none = new SessionWire({ maxEntries: 0 });
    const v = view({});
    assert.deepEqual(ValidateSessionResponse.decode(none.validateResponse('VALID', v)), plain('VALID', v));
    assert.equal(none.size, 0);
    assert.throws(() => new SessionWire({ maxEntries: -1 }), /maxEntries/);
    assert.throws(() => new SessionWire({ maxEntries: 2 ** 25 }), /maxEntries/);
  });

  it('encodes answers without a session and Heartbeat answers as their plain encodings', () => {
    const wire = new SessionWire();
    for (const verdict of ['VALID', 'NOT_FOUND', 'EXPIRED', 'REAUTH_REQUIRED', 'HIT_LIMIT', 'BINDING_MISMATCH'] as const) {
      assert.deepEqual(ValidateSessionResponse.decode(wire.validateResponse(verdict, undefined)), plain(verdict, undefined));
      assert.deepEqual(HeartbeatResponse.decode(wire.heartbeatResponse(verdict)), { verdict: verdictToPb(verdict) });
    }
  });

  it('falls back to the plain encoding for values the splice does not write (negative times)', () => {
    const wire = new SessionWire();
    const v = view({ lastAccessAt: -1500 });
    assert.deepEqual(ValidateSessionResponse.decode(wire.validateResponse('VALID', v)), plain('VALID', v));
  });

  it('the wrapped service definition passes bytes through and still encodes messages', () => {
    const def = withSafeDecoding(SessionServiceService);
    const bytes = new SessionWire().validateResponse('VALID', view({}));
    assert.equal(def.validateSession.responseSerialize(bytes as unknown as ValidateSessionResponse), bytes);
    const msg = plain('VALID', view({ hits: 4 }));
    assert.deepEqual(ValidateSessionResponse.decode(def.validateSession.responseSerialize(msg)), msg);
  });
});
