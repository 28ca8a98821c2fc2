import assert from 'node:assert/strict';

/** Asserts that `p` (a promise, or a function that may throw or return one) fails with this stable reason. */
export async function failsWith(p: Promise<unknown> | (() => unknown), reason: string): Promise<void> {
  await assert.rejects(
    async () => (typeof p === 'function' ? await p() : await p),
    (e: unknown) => {
      assert.equal((e as { reason?: string }).reason, reason, `wanted ${reason}, got ${String(e)}`);
      return true;
    },
  );
}
