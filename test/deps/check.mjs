// `make check-deps`: the production dependency tree and the runtime the suite runs on.
// - one version of each @opentelemetry/* package (`npm ls --omit=dev`), and no @opentelemetry/sdk-node
//   (the SDK is built from the pieces used: src/telemetry/sdk.ts);
// - @kubernetes/client-node is optional: declared in optionalDependencies, imported by one module
//   (src/config/configmap-client.ts) that only open-source.ts loads, and only with a dynamic import;
// - this node is at least the major version package.json's engines names (what the image runs).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;
const failures = [];
let checks = 0;
const check = (ok, message) => {
  checks++;
  if (!ok) failures.push(message);
};

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const tree = JSON.parse(execFileSync('npm', ['ls', '--omit=dev', '--all', '--json'], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 }));
const versions = new Map();
const walk = (node) => {
  for (const [name, child] of Object.entries(node.dependencies ?? {})) {
    if (child.version) (versions.get(name) ?? versions.set(name, new Set()).get(name)).add(child.version);
    walk(child);
  }
};
walk(tree);
const otel = [...versions].filter(([name]) => name.startsWith('@opentelemetry/'));
check(otel.length > 0, 'no @opentelemetry package in the production tree');
for (const [name, vs] of otel) check(vs.size === 1, `${name} has ${vs.size} versions in the production tree: ${[...vs].join(', ')}`);
check(versions.get('@opentelemetry/core')?.size === 1, '@opentelemetry/core: expected exactly one version');
check(!versions.has('@opentelemetry/sdk-node'), '@opentelemetry/sdk-node is in the production tree (the SDK is built from pieces)');
for (const name of Object.keys(pkg.dependencies)) check(versions.has(name), `${name} is declared but not installed`);

check(pkg.optionalDependencies?.['@kubernetes/client-node'] && !pkg.dependencies['@kubernetes/client-node'], '@kubernetes/client-node must be an optionalDependency');
const sources = [];
const list = (dir) => {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) list(p);
    else if (p.endsWith('.ts')) sources.push(p);
  }
};
list(join(root, 'src'));
for (const file of sources) {
  const text = readFileSync(file, 'utf8');
  const rel = file.slice(root.length);
  if (/from '@kubernetes\/client-node'/.test(text)) check(rel === 'src/config/configmap-client.ts', `${rel} imports @kubernetes/client-node (only configmap-client.ts may)`);
  if (/from '\.\/configmap-client\.js'|from '\.\.\/config\/configmap-client\.js'/.test(text)) check(false, `${rel} imports configmap-client statically`);
}
// Every declared production dependency is imported somewhere in src/ (none left unused).
const all = sources.map((f) => readFileSync(f, 'utf8')).join('\n');
for (const dep of Object.keys(pkg.dependencies)) check(new RegExp(`['"]${dep}(/[^'"]*)?['"]`).test(all), `${dep} is declared in dependencies but src/ never imports it`);

const wanted = Number(/>=\s*(\d+)/.exec(pkg.engines.node)?.[1]);
const major = Number(process.versions.node.split('.')[0]);
check(major >= wanted, `running on node ${process.versions.node}, package.json engines wants ${pkg.engines.node}`);

for (const f of failures) console.error(`check-deps: ${f}`);
console.log(`check-deps: node ${process.versions.node}; ${otel.length} @opentelemetry packages, one version each: ${failures.length === 0 ? 'yes' : 'no'}`);
console.log(`check-deps: ${checks - failures.length} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
