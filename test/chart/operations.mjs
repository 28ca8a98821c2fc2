// Chart checks of the operations features (run from validate.mjs): the PrometheusRule renders the
// one rules file (rules/session-manager.rules.yaml) and promtool accepts what it renders; the
// bundled etcd's snapshot and defragmentation CronJobs render as configured, with hardened pods,
// the etcd image's etcdctl, a snapshot volume, and a NetworkPolicy that admits them. Against the
// secured bundled etcd (etcd.tls) they use https and the root client certificate (CN=root): etcd
// allows the Snapshot and Defragment maintenance RPCs only to users with the root role.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chartDir } from "./k8s-render.mjs";
import { assert, assertEqual, selectorMatches, yaml } from "./lib.mjs";

const RULES_FILE = "rules/session-manager.rules.yaml";

/** The rules file's groups as the chart should render them for these values. */
function expectedGroups(values) {
  let text = readFileSync(join(chartDir, RULES_FILE), "utf8");
  if (values.prometheusRule.runbookUrl) text = text.replaceAll("runbook_url: docs/runbook.md#", `runbook_url: ${values.prometheusRule.runbookUrl}#`);
  return yaml().load(text).groups;
}

/** promtool check rules on a rules document; skipped (passes) only where promtool is not installed. */
function promtoolAccepts(groups) {
  const dir = mkdtempSync(join(tmpdir(), "sm-rules-"));
  try {
    const file = join(dir, "rules.yaml");
    writeFileSync(file, yaml().dump({ groups }));
    const r = spawnSync("promtool", ["check", "rules", file], { encoding: "utf8" });
    if (r.error?.code === "ENOENT") throw new Error("promtool is not installed (Debian package prometheus; make system-deps)");
    assert(r.status === 0, `promtool check rules failed:\n${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Structure of a PrometheusRule (no kubernetes-models class): the rules file, labels, namespace. */
export function checkPrometheusRule(rule, values) {
  assert(rule.apiVersion === "monitoring.coreos.com/v1", `apiVersion ${rule.apiVersion}`);
  for (const k of Object.keys(rule.spec ?? {})) assert(k === "groups", `unexpected spec.${k}`);
  assertEqual(rule.spec.groups, expectedGroups(values), `spec.groups (must equal ${RULES_FILE})`);
  for (const [k, v] of Object.entries(values.prometheusRule.labels)) assert(rule.metadata.labels[k] === v, `label ${k}`);
  for (const g of rule.spec.groups) {
    for (const r of g.rules) {
      if (!r.alert) continue;
      assert(["critical", "warning"].includes(r.labels?.severity), `${r.alert} severity ${r.labels?.severity}`);
      for (const a of ["summary", "description", "runbook_url"]) assert(r.annotations?.[a], `${r.alert} lacks ${a}`);
    }
  }
  promtoolAccepts(rule.spec.groups);
}

const cronJobs = (objs) => objs.filter((o) => o.kind === "CronJob");
const podOf = (cj) => cj.spec.jobTemplate.spec.template;

function checkJobPod(cj, values, what) {
  const e = values.etcd;
  const pod = podOf(cj);
  const spec = pod.spec;
  assert(["Never", "OnFailure"].includes(spec.restartPolicy), `${what}: restartPolicy ${spec.restartPolicy}`);
  assert(spec.automountServiceAccountToken === false, `${what}: service account token mounted`);
  assert(cj.spec.concurrencyPolicy === "Forbid", `${what}: concurrencyPolicy ${cj.spec.concurrencyPolicy}`);
  assertEqual(pod.metadata.labels, cj.metadata.labels, `${what}: pod labels`);
  assert(pod.metadata.labels["app.kubernetes.io/name"] === "etcd-maintenance", `${what}: pods must not carry the etcd selector labels (the etcd Services would route to them)`);
  const psc = spec.securityContext ?? {};
  assert(psc.runAsNonRoot === true && psc.seccompProfile?.type === "RuntimeDefault", `${what}: pod securityContext ${JSON.stringify(psc)}`);
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    const csc = c.securityContext ?? {};
    assert(csc.readOnlyRootFilesystem === true && csc.allowPrivilegeEscalation === false, `${what}/${c.name}: container securityContext`);
    assertEqual(csc.capabilities?.drop, ["ALL"], `${what}/${c.name}: capabilities.drop`);
    assert(c.resources?.limits?.memory, `${what}/${c.name}: no memory limit`);
  }
  const etcdImage = `${e.image.repository}${e.image.digest ? `@${e.image.digest}` : `:${e.image.tag}`}`;
  return { spec, etcdImage };
}

const ROOT_TLS_DIR = "/etc/etcd/root-tls";

/** The etcdctl connection flags the upkeep containers must pass: endpoint, then with TLS the root certificate. */
function connectionArgs(values, clientUrl) {
  const args = [`--endpoints=${clientUrl}`];
  if (values.etcd.tls.enabled) args.push(`--cacert=${ROOT_TLS_DIR}/ca.crt`, `--cert=${ROOT_TLS_DIR}/tls.crt`, `--key=${ROOT_TLS_DIR}/tls.key`);
  return args;
}

/** With etcd TLS, the container mounts the root client certificate Secret (CN=root) read-only. */
function checkRootTls(spec, container, values, fullname, what) {
  const vol = spec.volumes?.find((v) => v.secret?.secretName === `${fullname}-etcd-root-tls`);
  const mount = vol && container.volumeMounts?.find((m) => m.name === vol.name);
  if (!values.etcd.tls.enabled) return assert(!vol, `${what}: root client certificate mounted although etcd TLS is off`);
  assert(vol, `${what}: no volume of Secret ${fullname}-etcd-root-tls`);
  assert(mount && mount.mountPath === ROOT_TLS_DIR && mount.readOnly === true, `${what}/${container.name}: root client certificate not mounted read-only at ${ROOT_TLS_DIR}`);
}

/** etcd snapshot and defragmentation CronJobs for one rendered case. */
export function checkEtcdUpkeep(checks, tag, objs, values, fullname, namespace) {
  const e = values.etcd;
  const bundled = e.enabled;
  const etcdName = `${fullname}-etcd`;
  const clientUrl = `${e.tls.enabled ? "https" : "http"}://${etcdName}.${namespace}.svc.${values.clusterDomain}:2379`;
  const conn = connectionArgs(values, clientUrl);
  const snapshotOn = bundled && e.snapshot.enabled;
  const defragOn = bundled && e.defrag.enabled;

  const secured = e.tls.enabled ? " over https with the root client certificate" : "";
  checks.run(`${tag} etcd snapshot CronJob ${snapshotOn ? `saves to the snapshot volume${secured} and rotates` : "absent"}`, () => {
    const cj = cronJobs(objs).find((o) => o.metadata.name === `${etcdName}-snapshot`);
    if (!snapshotOn) {
      assert(!cj, "snapshot CronJob rendered although off");
      assert(!objs.some((o) => o.kind === "PersistentVolumeClaim" && o.metadata.name === `${etcdName}-snapshots`), "snapshot PVC rendered although off");
      return;
    }
    assert(cj, "no snapshot CronJob");
    const s = e.snapshot;
    assert(cj.spec.schedule === s.schedule, `schedule ${cj.spec.schedule}`);
    assert((cj.spec.timeZone ?? "") === s.timeZone, `timeZone ${cj.spec.timeZone}`);
    const { spec, etcdImage } = checkJobPod(cj, values, "snapshot");
    const [save] = spec.initContainers ?? [];
    assert(save && save.image === etcdImage, `snapshot init container image ${save?.image}, want ${etcdImage}`);
    assertEqual(save.command.slice(0, 1 + conn.length), [e.etcdctlCommand, ...conn], "etcdctl command, endpoint and client certificate");
    checkRootTls(spec, save, values, fullname, "snapshot");
    assertEqual(save.command.slice(-3), ["snapshot", "save", "/snapshots/.incoming.db"], "snapshot save arguments");
    const [rotate] = spec.containers;
    const shell = `${s.shellImage.repository}${s.shellImage.digest ? `@${s.shellImage.digest}` : `:${s.shellImage.tag}`}`;
    assert(rotate.image === shell, `rotate image ${rotate.image}, want ${shell}`);
    assert(rotate.env.find((v) => v.name === "KEEP")?.value === String(s.keep), "KEEP");
    assert(rotate.command.join(" ").includes("mv .incoming.db"), "rotate script does not name the snapshot");
    const claim = s.persistence.existingClaim || `${etcdName}-snapshots`;
    const vol = spec.volumes.find((v) => v.persistentVolumeClaim?.claimName === claim);
    assert(vol, `no volume of PVC ${claim}`);
    for (const c of [save, rotate]) assert(c.volumeMounts.some((m) => m.name === vol.name && m.mountPath === "/snapshots"), `${c.name} does not mount /snapshots`);
    const pvc = objs.find((o) => o.kind === "PersistentVolumeClaim" && o.metadata.name === claim);
    if (s.persistence.existingClaim) assert(!pvc, "a PVC was created although existingClaim is set");
    else {
      assert(pvc, `no PVC ${claim}`);
      assert(pvc.spec.resources.requests.storage === s.persistence.size, `PVC size ${pvc.spec.resources.requests.storage}`);
      assert(pvc.metadata.annotations?.["helm.sh/resource-policy"] === "keep", "snapshot PVC is not kept on uninstall");
    }
  });

  checks.run(`${tag} etcd defragmentation CronJob ${defragOn ? `runs etcdctl defrag --cluster${secured}` : "absent"}`, () => {
    const cj = cronJobs(objs).find((o) => o.metadata.name === `${etcdName}-defrag`);
    if (!defragOn) return assert(!cj, "defrag CronJob rendered although off");
    assert(cj, "no defrag CronJob");
    assert(cj.spec.schedule === e.defrag.schedule, `schedule ${cj.spec.schedule}`);
    const { spec, etcdImage } = checkJobPod(cj, values, "defrag");
    const [c] = spec.containers;
    assert(c.image === etcdImage, `image ${c.image}`);
    assertEqual(c.command, [e.etcdctlCommand, ...conn, "--dial-timeout=10s", `--command-timeout=${e.defrag.commandTimeout}`, "defrag", "--cluster"], "defrag command");
    checkRootTls(spec, c, values, fullname, "defrag");
  });

  if ((snapshotOn || defragOn) && values.networkPolicy.enabled) {
    checks.run(`${tag} the etcd NetworkPolicy admits the upkeep CronJobs on the client port`, () => {
      const np = objs.find((o) => o.kind === "NetworkPolicy" && o.metadata.name === etcdName);
      assert(np, "no etcd NetworkPolicy");
      for (const cj of cronJobs(objs)) {
        const labels = podOf(cj).metadata.labels;
        const ok = np.spec.ingress.some((r) => r.ports?.some((p) => p.port === "client") && r.from?.some((f) => f.podSelector && selectorMatches(f.podSelector, labels)));
        assert(ok, `${cj.metadata.name} pods cannot reach etcd's client port`);
      }
    });
  }
}

/** Renders the chart's defaults must keep: every operations feature off. */
export function checkOperationsDefaults(checks, values) {
  checks.run("operations defaults: PrometheusRule, etcd snapshot and defrag CronJobs off", () => {
    assert(values.prometheusRule.enabled === false, "prometheusRule.enabled");
    assert(values.etcd.snapshot.enabled === false && values.etcd.defrag.enabled === false, "etcd upkeep");
  });
}
