import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { IKeyValue, IRangeRequest, IRangeResponse } from 'etcd3';
import { listPrefix, splitSpan } from '../../src/store/etcd/range-lister.js';

/**
 * An in-memory model of etcd's range with a limit: keys in [key, range_end) in byte order, the first
 * `limit` of them, `count` of all of them and `more`; `walked` adds up what etcd 3.4 walks to answer
 * (every key of the range, since it counts them all).
 */
function model(keys: Buffer[]) {
  const sorted = [...new Map(keys.map((k) => [k.toString('hex'), k])).values()].sort(Buffer.compare);
  const calls: IRangeRequest[] = [];
  let walked = 0;
  const range = async (req: IRangeRequest): Promise<IRangeResponse> => {
    calls.push(req);
    const from = req.key as Buffer;
    const to = req.range_end as Buffer;
    assert.ok(Buffer.compare(from, to) < 0, `an empty range [${from.toString('hex')}, ${to.toString('hex')}) was requested`);
    const inRange = sorted.filter((k) => Buffer.compare(k, from) >= 0 && Buffer.compare(k, to) < 0);
    walked += inRange.length;
    const limit = Number(req.limit ?? 0);
    const page = limit > 0 ? inRange.slice(0, limit) : inRange;
    return {
      header: { revision: '42' } as IRangeResponse['header'],
      kvs: page.map((key) => ({ key, value: Buffer.alloc(0) }) as unknown as IKeyValue),
      more: page.length < inRange.length,
      count: String(inRange.length),
    };
  };
  return { sorted, calls, range, walked: () => walked };
}

const PREFIX = '/p/s/';
const b64 = [...'-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz'];

async function listAll(m: ReturnType<typeof model>, pageSize: number, splitAbove?: number): Promise<{ keys: string[]; revision: number }> {
  const keys: string[] = [];
  const revision = await listPrefix(m.range, PREFIX, { pageSize, revision: 0, ...(splitAbove === undefined ? {} : { splitAbove }) }, (kvs) => {
    for (const kv of kvs) keys.push(kv.key.toString('hex'));
  });
  return { keys, revision };
}

describe('range lister: paging through a prefix', () => {
  it('a small prefix is one request', async () => {
    const m = model(Array.from({ length: 10 }, (_, i) => Buffer.from(`${PREFIX}k${i}`)));
    const r = await listAll(m, 100);
    assert.equal(r.keys.length, 10);
    assert.equal(m.calls.length, 1);
    assert.equal(r.revision, 42);
  });

  it('every page after the first is read at the revision of the first', async () => {
    const m = model(Array.from({ length: 50 }, (_, i) => Buffer.from(`${PREFIX}${b64[i % 64]}${i}`)));
    await listAll(m, 7);
    assert.ok(m.calls.length > 1);
    assert.equal(m.calls[0]!.revision, undefined);
    for (const c of m.calls.slice(1)) assert.equal(c.revision, 42);
  });

  it('a big prefix is split: the server walks far fewer keys than plain paging would', async () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => Buffer.from(`${PREFIX}${b64[(i * 7) % 64]}${b64[(i * 13) % 64]}${i.toString(36)}`));
    const split = model(keys);
    const plain = model(keys);
    const a = await listAll(split, 100);
    const b = await listAll(plain, 100, Number.POSITIVE_INFINITY);
    assert.deepEqual([...a.keys].sort(), split.sorted.map((k) => k.toString('hex')).sort());
    assert.equal(a.keys.length, 20_000);
    assert.equal(b.keys.length, 20_000);
    // Plain paging walks ~N²/(2·page) = 2,000,000 keys; split listing a small multiple of N.
    assert.ok(plain.walked() > 1_900_000, `plain walked ${plain.walked()}`);
    assert.ok(split.walked() < plain.walked() / 10, `split walked ${split.walked()}, plain ${plain.walked()}`);
  });

  it('property: any keys under the prefix, any page size → every key exactly once, nothing outside the prefix', async () => {
    const keyByte = fc.oneof(fc.constantFrom(...b64.map((c) => c.charCodeAt(0))), fc.integer({ min: 0, max: 255 }));
    const suffix = fc.array(keyByte, { minLength: 0, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(fc.array(suffix, { maxLength: 300 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 40 }), async (suffixes, page, splitAbove) => {
        const inside = suffixes.map((s) => Buffer.concat([Buffer.from(PREFIX), Buffer.from(s)]));
        const outside = [Buffer.from('/p/r'), Buffer.from('/p/s0'), Buffer.from('/p/t/'), Buffer.from([0x2f, 0x70, 0x2f, 0x73, 0x30])];
        const m = model([...inside, ...outside]);
        const r = await listAll(m, page, splitAbove);
        const want = [...new Set(inside.map((k) => k.toString('hex')))].sort();
        assert.deepEqual([...r.keys].sort(), want);
        assert.equal(new Set(r.keys).size, r.keys.length, 'no key twice');
      }),
      { numRuns: 200 },
    );
  });

  it('splitSpan covers exactly [from, to) with no empty span', () => {
    const base = Buffer.from('/p/s/');
    const spans = splitSpan(base, Buffer.from('/p/s/A7'), Buffer.from('/p/s/b'));
    assert.equal(spans[0]!.from.toString(), '/p/s/A7');
    assert.equal(spans[spans.length - 1]!.to.toString(), '/p/s/b');
    for (let i = 1; i < spans.length; i++) assert.equal(Buffer.compare(spans[i - 1]!.to, spans[i]!.from), 0, 'contiguous');
    for (const s of spans) assert.ok(Buffer.compare(s.from, s.to) < 0);
    assert.equal(spans.find((s) => s.from.toString() === '/p/s/B')?.base?.toString(), '/p/s/B');
  });

  it('refuses a page size that is not a positive integer', async () => {
    const m = model([]);
    await assert.rejects(listPrefix(m.range, PREFIX, { pageSize: 0, revision: 0 }, () => undefined), /pageSize/);
  });
});
