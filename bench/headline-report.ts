// The markdown of the headline figures (bench/headline.ts): the ratio table with its targets, every
// pair, the server CPU per request and the CPU profiles. Written into docs/PERFORMANCE.md by make
// bench and printed by make bench-quick.
import type { HeadlinePair, HeadlineResult, TopFunction } from './headline.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** A number with no decimals, or a dash. */
export const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '–');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '–');

/** The headline section of docs/PERFORMANCE.md: the ratio table and every pair. */
export function headlineMarkdown(r: HeadlineResult): string {
  const ratio = (f: (p: HeadlinePair) => number) => r.pairs.map(f);
  const vNoop = ratio((p) => p.node.rps / p.noop.rps);
  const vPeer = ratio((p) => p.node.rps / p.peer.rps);
  const p99 = ratio((p) => p.node.p99Ms / p.peer.p99Ms);
  const tNoop = ratio((p) => p.traced.rps / p.noop.rps);
  const hNoop = ratio((p) => p.heartbeat.rps / p.noopHeartbeat.rps);
  const verdict = (ok: boolean) => (ok ? '**met**' : '**missed**');
  const row = (figure: string, xs: number[], target: string, ok: boolean) => `| ${figure} | ${f2(median(xs))}× | ${xs.map(f2).join(', ')} | ${target} | ${verdict(ok)} |`;
  const lines = [
    '| figure | median | every pair | target | verdict |',
    '|---|---|---|---|---|',
    row('ValidateSession, chart default telemetry, ÷ no-op grpc-js', vNoop, '≥ 0.9×', median(vNoop) >= 0.9),
    row('ValidateSession, chart default telemetry, ÷ Redis peer', vPeer, '≥ 1.0×', median(vPeer) >= 1.0),
    row('ValidateSession p99 latency ÷ Redis peer p99 (lower is better)', p99, '≤ 1.0×', median(p99) <= 1.0),
    row('ValidateSession, every span exported (100 % sampled, OTLP to a local sink), ÷ no-op', tNoop, '≥ 0.6× (reported)', median(tNoop) >= 0.6),
    row('Heartbeat, chart default telemetry, ÷ no-op grpc-js Heartbeat', hNoop, '≥ 0.9×', median(hNoop) >= 0.9),
    ...(r.pairs.every((p) => p.before)
      ? [row('ValidateSession, the node as it was before this change (same chart environment), ÷ no-op', ratio((p) => p.before!.rps / p.noop.rps), 'reference', true).replace('**met**', '')]
      : []),
    ...(r.pairs.every((p) => p.cpuUs?.node !== undefined)
      ? [
          row('ValidateSession server CPU per request ÷ no-op (lower is better)', ratio((p) => p.cpuUs!.node! / p.cpuUs!.noop!), 'reference', true).replace('**met**', ''),
          row('ValidateSession server CPU per request ÷ Redis peer + redis-server (lower is better)', ratio((p) => p.cpuUs!.node! / p.cpuUs!.peer!), 'reference', true).replace('**met**', ''),
          row('Heartbeat server CPU per request ÷ no-op Heartbeat (lower is better)', ratio((p) => p.cpuUs!.heartbeat! / p.cpuUs!.noopHeartbeat!), 'reference', true).replace('**met**', ''),
          ...(r.pairs.every((p) => p.cpuUs?.before !== undefined)
            ? [row('ValidateSession server CPU per request, this build ÷ the build before (lower is better)', ratio((p) => p.cpuUs!.node! / p.cpuUs!.before!), 'reference', true).replace('**met**', '')]
            : []),
        ]
      : []),
    `| steady-state etcd writes per ValidateSession (${r.valids} VALID counted by the node's own metric) | ${r.writesPerValidate.toFixed(4)} | | ≤ 0.01 | ${verdict(r.writesPerValidate <= 0.01)} |`,
  ];
  const pairRows = r.pairs.map(
    (p, i) =>
      `| ${i + 1} | ${f0(p.noop.rps)} / ${f2(p.noop.p99Ms)} | ${f0(p.peer.rps)} / ${f2(p.peer.p99Ms)} | ${f0(p.node.rps)} / ${f2(p.node.p99Ms)} | ${f0(p.traced.rps)} / ${f2(p.traced.p99Ms)} | ${f0(p.noopHeartbeat.rps)} / ${f2(p.noopHeartbeat.p99Ms)} | ${f0(p.heartbeat.rps)} / ${f2(p.heartbeat.p99Ms)} |`,
  );
  return `${lines.join('\n')}

Every pair (req/s / p99 ms), each row run right after the one before it, ${r.seconds} s per row after a 2 s warm-up:

| pair | no-op validate | Redis peer validate | node validate (chart default) | node validate (100 % traced) | no-op heartbeat | node heartbeat |
|---|---|---|---|---|---|---|
${pairRows.join('\n')}

${
  r.pairs.every((p) => p.cpuUs)
    ? `Server CPU per request (µs; user + system of the serving processes over the row ÷ requests; the peer's includes redis-server):

| pair | no-op validate | Redis peer + redis-server | node validate | node traced | before-change node | no-op heartbeat | node heartbeat |
|---|---|---|---|---|---|---|---|
${r.pairs.map((p, i) => `| ${i + 1} | ${f0(p.cpuUs!.noop ?? NaN)} | ${f0(p.cpuUs!.peer ?? NaN)} | ${f0(p.cpuUs!.node ?? NaN)} | ${f0(p.cpuUs!.traced ?? NaN)} | ${f0(p.cpuUs!.before ?? NaN)} | ${f0(p.cpuUs!.noopHeartbeat ?? NaN)} | ${f0(p.cpuUs!.heartbeat ?? NaN)} |`).join('\n')}
`
    : ''
}
The traced node exported ${r.spansExported.requests} OTLP requests (${(r.spansExported.bytes / 2 ** 20).toFixed(1)} MiB) to the sink during the run.
${r.profiles ? profilesMarkdown(r.profiles) : ''}`;
}

/** The CPU profile section: top self-time functions of the node after (and before) the change. */
export function profilesMarkdown(p: NonNullable<HeadlineResult['profiles']>): string {
  const table = (t: TopFunction[]) => ['| self % | function |', '|---|---|', ...t.map((x) => `| ${x.selfPct.toFixed(1)} | \`${x.fn}\` |`)].join('\n');
  return `
### CPU profile${p.before ? ' before and after' : ''} (\`node --cpu-prof\`, self time as a share of the busy samples)

A chart-default node of its own, started after the pairs, under one validate row and one heartbeat row${p.before ? '; the same for the baseline build (BENCH_BASELINE_MAIN)' : ''}.

${p.before ? `After:\n\n${table(p.after)}\n\nBefore (BENCH_BASELINE_MAIN):\n\n${table(p.before)}` : table(p.after)}
`;
}

