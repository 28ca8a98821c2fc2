// Soak report (make soak, after bench/soak.ts): reads docs/soak.csv, judges RSS growth after warm-up
// against the 10 % target, writes docs/soak.md, and plots docs/soak.png with gnuplot when present.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { inRepo } from './lib.js';

const CSV = process.env['SOAK_OUT'] ?? inRepo('docs/soak.csv');
/** Samples before this many seconds are warm-up: the live-session set reaches its 20,000 target after about 200 s. */
const WARMUP_S = Number(process.env['SOAK_WARMUP_S'] ?? 240);

const lines = readFileSync(CSV, 'utf8').trim().split('\n');
const rows = lines.filter((l) => /^\d/.test(l)).map((l) => l.split(',').map(Number));
if (rows.length < 3) throw new Error(`soak-report: only ${rows.length} samples in ${CSV}`);
const after = rows.filter((r) => r[0]! >= WARMUP_S);
if (after.length < 2) throw new Error(`soak-report: no samples after the ${WARMUP_S} s warm-up`);
const rss0 = after[0]![1]!;
const rssEnd = after[after.length - 1]![1]!;
const rssMax = Math.max(...after.map((r) => r[1]!));
const growth = (rssEnd - rss0) / rss0;
const eldP99 = Math.max(...after.map((r) => r[5]!));
const verdict = growth < 0.1 ? 'met' : 'missed';
const md = `# Soak

\`make soak\`: one node under a bounded mixed load (create, validate, heartbeat, set/get attribute,
logout; about 20,000 live sessions) for ${rows[rows.length - 1]![0]} s, sampled every 10 s into
[soak.csv](soak.csv) (seconds, RSS MiB, heap used MiB, heap total MiB, event-loop delay p50/p99/max
ms, cached sessions, touch backlog, ops, ops/s, client errors).

| figure | value | target | verdict |
| --- | --- | --- | --- |
| RSS growth after the ${WARMUP_S} s warm-up (${rss0} → ${rssEnd} MiB, max ${rssMax}) | ${(growth * 100).toFixed(1)} % | < 10 % | **${verdict}** |
| worst event-loop delay p99 after warm-up | ${eldP99} ms | informational | – |

Client errors are NOT_FOUND answers when two workers of the load race on a session one of them just
logged out; they are expected by the workload, not faults of the node.

![RSS, heap and event-loop delay over time](soak.png)
`;
writeFileSync(inRepo('docs/soak.md'), md);
console.log(`soak: RSS growth after warm-up ${(growth * 100).toFixed(1)} % (${verdict}); wrote docs/soak.md`);
try {
  execFileSync('gnuplot', [
    '-e',
    [
      "set terminal pngcairo size 1000,500 noenhanced",
      `set output '${inRepo('docs/soak.png')}'`,
      "set datafile separator ','",
      "set xlabel 'seconds'",
      "set ylabel 'MiB'",
      "set y2label 'event-loop delay p99 (ms)'",
      'set y2tics',
      'set key top left',
      `plot '${CSV}' every ::1 using 1:2 with lines title 'RSS', '' every ::1 using 1:3 with lines title 'heap used', '' every ::1 using 1:6 axes x1y2 with lines title 'ELD p99'`,
    ].join('; '),
  ]);
  console.log('soak: wrote docs/soak.png');
} catch (err) {
  console.log(`soak: no plot (gnuplot not available: ${(err as Error).message.split('\n')[0]})`);
}
