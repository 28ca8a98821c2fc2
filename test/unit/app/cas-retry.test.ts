import assert from 'node:assert/strict';
import { AGAIN, casRetry, DEFAULT_CAS_ATTEMPTS } from '../../../src/app/cas-retry.js';
import { failsWith } from './reasons.js';

describe('app/cas-retry', () => {
  it('returns the first result that is not AGAIN, pausing between attempts only', async () => {
    const pauses: number[] = [];
    const seen: number[] = [];
    const r = await casRetry(async (i) => (seen.push(i), i < 2 ? AGAIN : 'done'), { pause: async (i) => void pauses.push(i) });
    assert.equal(r, 'done');
    assert.deepEqual(seen, [0, 1, 2]);
    assert.deepEqual(pauses, [1, 2]);
  });

  it(`gives up after ${DEFAULT_CAS_ATTEMPTS} attempts by default with CONCURRENT_UPDATE, or with the exhausted value`, async () => {
    let n = 0;
    await failsWith(casRetry(async () => (n++, AGAIN)), 'CONCURRENT_UPDATE');
    assert.equal(n, DEFAULT_CAS_ATTEMPTS);
    assert.equal(await casRetry(async () => AGAIN, { attempts: 2, exhausted: () => 'gave up' }), 'gave up');
  });

  it('passes errors of an attempt through and refuses fewer than one attempt', async () => {
    await assert.rejects(casRetry(async () => Promise.reject(new Error('boom'))), /boom/);
    await assert.rejects(casRetry(async () => 1, { attempts: 0 }), /at least 1/);
  });
});
