// Small helpers shared by the chart checks: a check runner, YAML loading, helm calls,
// label-selector matching and a .properties parser.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chartDir, helmBin, repoRoot } from "./k8s-render.mjs";

const require = createRequire(import.meta.url);

/** js-yaml (a devDependency of the repository through mocha; loaded lazily with a clear error). */
export function yaml() {
  try {
    return require(join(repoRoot, "node_modules/js-yaml"));
  } catch {
    throw new Error("js-yaml is not installed; run npm ci (it is needed to parse rendered manifests)");
  }
}

/** Collects named checks; each records pass or fail, and failures keep their message. */
export class Checks {
  constructor({ passed = 0, failed = 0 } = {}) {
    this.passed = passed;
    this.failed = failed;
    this.failures = [];
  }

  /** Runs fn; a thrown error (or a returned string) fails the check. */
  run(name, fn) {
    let problem;
    try {
      const r = fn();
      if (typeof r === "string") problem = r;
    } catch (e) {
      problem = e instanceof Error ? e.message : String(e);
    }
    if (problem === undefined) {
      this.passed++;
      console.log(`ok   ${name}`);
    } else {
      this.failed++;
      this.failures.push(`${name}: ${problem}`);
      console.log(`FAIL ${name}\n       ${problem.split("\n").join("\n       ")}`);
    }
  }

  summary() {
    if (this.failures.length > 0) {
      console.log(`\nfailures:\n  - ${this.failures.join("\n  - ")}`);
    }
    console.log(`${this.passed} passed, ${this.failed} failed`);
    return this.failed === 0 ? 0 : 1;
  }
}

/** Throws with msg unless cond. */
export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** Throws unless a deep-equals b (JSON comparison with sorted keys). */
export function assertEqual(actual, expected, what) {
  const a = stableJson(actual);
  const e = stableJson(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

export function stableJson(v) {
  return JSON.stringify(v, (_k, val) =>
    val && typeof val === "object" && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : val,
  );
}

/** `helm template` with args; returns {ok, stdout, stderr}. */
export function helmTemplate(args) {
  const r = spawnSync(helmBin(), ["template", ...args], { encoding: "utf8" });
  return { ok: r.status === 0, stdout: r.stdout, stderr: r.stderr };
}

/** `helm <args>` that must succeed; returns stdout. */
export function helm(args) {
  return execFileSync(helmBin(), args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Parses rendered manifests into objects (skipping empty documents). */
export function parseManifests(text) {
  return yaml()
    .loadAll(text)
    .filter((o) => o && typeof o === "object");
}

/** Deep merge of plain objects (values files): b wins; arrays are replaced; null deletes. */
export function mergeValues(a, b) {
  if (b === undefined) return a;
  if (!isPlainObject(a) || !isPlainObject(b)) return b;
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v === null) delete out[k];
    else out[k] = mergeValues(a[k], v);
  }
  return out;
}

function isPlainObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Default values.yaml merged with an optional values file. */
export function effectiveValues(valuesFile) {
  const defaults = yaml().load(readFileSync(join(chartDir, "values.yaml"), "utf8"));
  if (!valuesFile) return defaults;
  return mergeValues(defaults, yaml().load(readFileSync(valuesFile, "utf8")));
}

/** True when a LabelSelector (matchLabels + matchExpressions) selects the labels. */
export function selectorMatches(selector, labels = {}) {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[k] !== v) return false;
  }
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    switch (e.operator) {
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      case "In":
        if (!has || !e.values.includes(labels[e.key])) return false;
        break;
      case "NotIn":
        if (has && e.values.includes(labels[e.key])) return false;
        break;
      default:
        throw new Error(`unknown selector operator ${e.operator}`);
    }
  }
  return true;
}

/** Service-style selector (plain map) match. */
export function mapSelects(selector, labels = {}) {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

/** Parses .properties text into an ordered Map; throws on a duplicate or malformed line. */
export function parseProperties(text) {
  const props = new Map();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("!")) return;
    const m = /^([^=:\s]+)\s*[=:]\s*(.*)$/.exec(line);
    if (!m) throw new Error(`line ${i + 1} is not key=value: ${JSON.stringify(raw)}`);
    if (props.has(m[1])) throw new Error(`duplicate key ${m[1]} on line ${i + 1}`);
    props.set(m[1], m[2]);
  });
  return props;
}
