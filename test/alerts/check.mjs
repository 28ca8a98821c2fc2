// `make test-alerts` (after promtool): every alert of the rules file the chart renders is complete
// and covered. For each alert: severity critical|warning, summary, description, and runbook_url
// docs/runbook.md#<alert in lower case>, whose section exists with "What it means", "What to check"
// and "How to fix"; test/alerts/rules.test.yaml has a case where it fires and one where it does
// not; docs/observability.md names it. Prints "N passed, M failed".
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';

const root = new URL('../../', import.meta.url).pathname;
const rulesFile = 'helm/session-manager/rules/session-manager.rules.yaml';
const rules = yaml.load(readFileSync(join(root, rulesFile), 'utf8'));
const tests = yaml.load(readFileSync(join(root, 'test/alerts/rules.test.yaml'), 'utf8'));
const runbook = readFileSync(join(root, 'docs/runbook.md'), 'utf8');
const observability = readFileSync(join(root, 'docs/observability.md'), 'utf8');

let passed = 0;
let failed = 0;
const check = (name, problems) => {
  if (problems.length === 0) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}\n       ${problems.join('\n       ')}`);
  }
};

const alerts = rules.groups.flatMap((g) => g.rules.filter((r) => r.alert));
check('the rules file has alerts', alerts.length > 0 ? [] : ['no alert found']);
check('the promtool tests load the rules file the chart renders', tests.rule_files?.some((f) => f.endsWith(rulesFile)) ? [] : [`rule_files: ${tests.rule_files}`]);
const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);

// The runbook's sections: "## Name" headings and their text up to the next "## ".
const sections = new Map();
for (const part of runbook.split(/^## /m).slice(1)) sections.set(part.slice(0, part.indexOf('\n')).trim(), part);

for (const a of alerts) {
  const problems = [];
  const anchor = a.alert.toLowerCase();
  if (!['critical', 'warning'].includes(a.labels?.severity)) problems.push(`severity ${a.labels?.severity}`);
  for (const k of ['summary', 'description']) if (!a.annotations?.[k]) problems.push(`no ${k}`);
  if (a.annotations?.runbook_url !== `docs/runbook.md#${anchor}`) problems.push(`runbook_url ${a.annotations?.runbook_url}, want docs/runbook.md#${anchor}`);
  const section = sections.get(a.alert);
  if (!section) problems.push(`docs/runbook.md has no "## ${a.alert}" section`);
  else for (const h of ['What it means', 'What to check', 'How to fix']) if (!section.includes(`### ${h}`)) problems.push(`runbook section ${a.alert} lacks "### ${h}"`);
  const mine = cases.filter((c) => c.alertname === a.alert);
  if (!mine.some((c) => (c.exp_alerts ?? []).length > 0)) problems.push('no promtool case where it fires');
  if (!mine.some((c) => (c.exp_alerts ?? []).length === 0)) problems.push('no promtool case where it stays quiet');
  for (const c of mine) {
    for (const e of c.exp_alerts ?? []) {
      if (e.exp_labels?.severity !== a.labels?.severity) problems.push(`a case expects severity ${e.exp_labels?.severity}`);
      if (e.exp_annotations?.runbook_url !== a.annotations?.runbook_url) problems.push('a case does not check runbook_url');
    }
  }
  if (!observability.includes(a.alert)) problems.push('docs/observability.md does not name it');
  check(`${a.alert}: ${a.labels?.severity}, annotated, runbook section, fires and stays quiet in promtool tests`, problems);
}
const unknown = cases.map((c) => c.alertname).filter((n) => !alerts.some((a) => a.alert === n));
check('every promtool case names an alert of the rules file', unknown.length ? [`unknown: ${[...new Set(unknown)].join(', ')}`] : []);
const orphans = [...sections.keys()].filter((s) => /^SessionManager/.test(s) && !alerts.some((a) => a.alert === s));
check('every runbook alert section has its alert', orphans.length ? [`no such alert: ${orphans.join(', ')}`] : []);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
