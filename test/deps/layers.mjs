// `make check-layers`: the structure rules of ARCHITECTURE.md that a script can see, checked over
// every hand-written TypeScript file in src/ (src/gen is generated and exempt):
//   size    no file is over MAX_LINES lines (files stay small, one concept each);
//   domain  src/domain imports only src/domain (no package, no node: module, no other layer);
//   app     src/app imports no src/store/etcd module (it talks to the store through the ports);
//   config  src/config imports nothing from src/app;
//   cache   src/cache imports nothing from src/app;
//   ports   an exported interface or object type named like a port (…Store, …Source, …Gate, …Channel,
//           …Port, …Repository, …Client, …Election) is declared only in the one ports module:
//           src/domain/ports.ts, split by area into src/domain/ports/ and re-exported there.
//           Adapters (src/store/etcd) may declare the seams to their own driver (e.g. the lease
//           surface NodeRegistry is tested through): those are not ports of the core.
// Every violation is printed as `file:line: rule: what`. Exit 1 when there is any; with --report
// the same list is printed and the exit is 0 (to see what remains while a restructure is under way).
// Usage: node test/deps/layers.mjs [--report] [--root DIR]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

const MAX_LINES = 300;
const PORT_NAME = /(Store|Source|Gate|Channel|Port|Repository|Client|Election)$/;
const PORTS_MODULE = 'src/domain/ports.ts';

const args = process.argv.slice(2);
const reportOnly = args.includes('--report');
// --root DIR checks another tree laid out like this repository (the script's own test uses it).
const rootArg = args.indexOf('--root');
const root = rootArg >= 0 ? join(args[rootArg + 1] ?? '.', '/') : new URL('../../', import.meta.url).pathname;

/** Every .ts file under dir (relative to the repository root, with forward slashes), src/gen left out. */
function sources(dir) {
  const out = [];
  for (const e of readdirSync(join(root, dir)).sort()) {
    const rel = `${dir}/${e}`;
    if (rel === 'src/gen') continue;
    if (statSync(join(root, rel)).isDirectory()) out.push(...sources(rel));
    else if (rel.endsWith('.ts')) out.push(rel);
  }
  return out;
}

/** Line number (1-based) of a character offset. */
function lineAt(text, offset) {
  let n = 1;
  for (let i = 0; i < offset; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/**
 * The module specifiers a file imports or re-exports, with their lines: `import … from 'x'`,
 * `export … from 'x'`, `import 'x'` and `import('x')` (multi-line import lists included).
 */
function importsOf(text) {
  const out = [];
  const re = /(?:^|[;\s])(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|(?:^|[;\s])import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2] ?? m[3];
    out.push({ spec, line: lineAt(text, m.index + m[0].indexOf(spec)) });
  }
  return out;
}

/** The repository path an import points at (src/… for relative ones), or the package name. */
function target(file, spec) {
  if (!spec.startsWith('.')) return { pkg: spec };
  const p = normalize(join(dirname(file), spec)).replace(/\\/g, '/').replace(/\.js$/, '.ts');
  return { path: p };
}

const under = (path, dir) => path === dir || path.startsWith(`${dir}/`) || path === `${dir}.ts`;

const violations = [];
const add = (file, line, rule, what) => violations.push({ file, line, rule, what });

for (const file of sources('src')) {
  const text = readFileSync(join(root, file), 'utf8');
  const lines = text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
  if (lines > MAX_LINES) add(file, MAX_LINES + 1, 'size', `${lines} lines, more than ${MAX_LINES}: split it by concept`);

  for (const { spec, line } of importsOf(text)) {
    const t = target(file, spec);
    const shown = t.path ?? t.pkg;
    if (under(file, 'src/domain') && !(t.path && under(t.path, 'src/domain'))) add(file, line, 'domain', `imports ${shown}: src/domain imports only src/domain`);
    if (under(file, 'src/app') && t.path && under(t.path, 'src/store/etcd')) add(file, line, 'app', `imports ${shown}: src/app reaches the store through the ports, not src/store/etcd`);
    if (under(file, 'src/config') && t.path && under(t.path, 'src/app')) add(file, line, 'config', `imports ${shown}: src/config must not import src/app`);
    if (under(file, 'src/cache') && t.path && under(t.path, 'src/app')) add(file, line, 'cache', `imports ${shown}: src/cache must not import src/app`);
  }

  if (file !== PORTS_MODULE && !under(file, 'src/domain/ports') && !under(file, 'src/store')) {
    // Interfaces and object type aliases only: a function type (a callback such as a serving check) is not a port.
    for (const m of text.matchAll(/^export\s+(?:declare\s+)?(?:interface\s+(\w+)|type\s+(\w+)(?:<[^=]*>)?\s*=\s*\{)/gm)) {
      const name = m[1] ?? m[2];
      if (PORT_NAME.test(name)) add(file, lineAt(text, m.index), 'ports', `declares ${name}: ports are declared in ${PORTS_MODULE}`);
    }
  }
}

violations.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1));
for (const v of violations) console.log(`${v.file}:${v.line}: ${v.rule}: ${v.what}`);
const files = sources('src').length;
if (violations.length === 0) {
  console.log(`check-layers: ${files} files in src/ (src/gen left out) keep the size, layering and ports rules`);
} else {
  const byRule = {};
  for (const v of violations) byRule[v.rule] = (byRule[v.rule] ?? 0) + 1;
  const summary = Object.entries(byRule).map(([r, n]) => `${r} ${n}`).join(', ');
  console.log(`check-layers: ${violations.length} violation(s) in ${files} files (${summary})${reportOnly ? ' [--report: not failing]' : ''}`);
  if (!reportOnly) process.exitCode = 1;
}
