// Checks of the session-manager Helm chart and of k8s/ (run by test/chart/run.sh).
//
//   node test/chart/validate.mjs [--render-dir DIR] [--prior-passed N] [--prior-failed N]
//
// DIR holds `helm template demo <chart> -n demo-ns [-f ci/<case>.yaml]` output as <case>.yaml
// (run.sh writes it); without it the renders are made here. Prior counts (helm lint/template
// steps of run.sh) are added to the final "N passed, M failed" line. Exit 1 on any failure.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { checkK8s, chartDir, repoRoot } from "./k8s-render.mjs";
import {
  Checks,
  assert,
  assertEqual,
  effectiveValues,
  helm,
  helmTemplate,
  mapSelects,
  parseManifests,
  parseProperties,
  selectorMatches,
  yaml,
} from "./lib.mjs";
import { checkEtcdUpkeep, checkOperationsDefaults, checkPrometheusRule } from "./operations.mjs";

const RELEASE = "demo";
const NAMESPACE = "demo-ns";
const FULLNAME = `${RELEASE}-session-manager`;
const CONTAINER = "session-manager";
const CONFIG_DIR = "/etc/session-manager/config";
const CLIENT_TYPES = ["web", "desktop", "plugin", "mobile", "widget", "api", "admin"];
const DASHBOARD_CM = `${FULLNAME}-dashboard`;
const DASHBOARD_FILE = "dashboards/session-manager.json";
const isDashboardCm = (o) => o.kind === "ConfigMap" && o.metadata.name === DASHBOARD_CM;

// Defaults of cluster-config.properties from the service contract.
const CONTRACT_DEFAULTS = {
  "session.timeout.web": "30",
  "session.timeout.desktop": "-1",
  "session.timeout.plugin": "-1",
  "session.timeout.mobile": "60",
  "session.timeout.widget": "60",
  "session.timeout.api": "30",
  "session.timeout.admin": "1440",
  "session.timeout.single-request": "5",
  "session.timeout.absolute": "1440",
  "session.presence.grace": "1",
  "session.connection.grace": "1",
  "session.single-per-user": "web",
  "session.limit.action": "deny",
  "session.hit-max": "0",
  "session.max-sessions": "0",
  "session.scavenge.interval": "5",
  "session.touch.granularity": "auto",
  "session.sites": "*",
  "session.attributes.max-bytes": "65536",
  "session.attributes.max-count": "64",
  "cache.max-staleness": "5s",
  "events.retention": "24h",
};

// ---------------------------------------------------------------- arguments and renders

const args = process.argv.slice(2);
const argValue = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const checks = new Checks({
  passed: Number(argValue("--prior-passed") ?? 0),
  failed: Number(argValue("--prior-failed") ?? 0),
});
const renderDir = argValue("--render-dir");

const ciDir = join(chartDir, "ci");
const cases = [
  { name: "default", valuesFile: undefined },
  ...readdirSync(ciDir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => ({ name: basename(f, ".yaml"), valuesFile: join(ciDir, f) })),
];

function renderCase(c) {
  if (renderDir) {
    const file = join(renderDir, `${c.name}.yaml`);
    if (!existsSync(file)) throw new Error(`render ${file} is missing`);
    return readFileSync(file, "utf8");
  }
  const r = helmTemplate([RELEASE, chartDir, "-n", NAMESPACE, ...(c.valuesFile ? ["-f", c.valuesFile] : [])]);
  if (!r.ok) throw new Error(`helm template failed: ${r.stderr}`);
  return r.stdout;
}

// ---------------------------------------------------------------- object helpers

const byKind = (objs, kind) => objs.filter((o) => o.kind === kind);
const one = (objs, kind, name) => {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert(found.length === 1, `expected exactly one ${kind}${name ? ` ${name}` : ""}, found ${found.length}`);
  return found[0];
};
const envOf = (container) => Object.fromEntries((container.env ?? []).map((e) => [e.name, e]));
const envValue = (container, name) => envOf(container)[name]?.value;
const isTestHook = (o) => o.metadata?.annotations?.["helm.sh/hook"] === "test";

function podSpecs(obj) {
  if (obj.kind === "Pod") return [obj.spec];
  if (obj.spec?.template?.spec) return [obj.spec.template.spec];
  return [];
}

function serverContainer(deploy) {
  const c = deploy.spec.template.spec.containers.find((x) => x.name === CONTAINER);
  assert(c, `container ${CONTAINER} not found in Deployment ${deploy.metadata.name}`);
  return c;
}

function checkHardenedSecurity(podSpec, container, what) {
  const psc = podSpec.securityContext ?? {};
  const csc = container.securityContext ?? {};
  assert(psc.runAsNonRoot === true, `${what}: pod runAsNonRoot is ${psc.runAsNonRoot}`);
  assert(psc.seccompProfile?.type === "RuntimeDefault", `${what}: pod seccompProfile is ${JSON.stringify(psc.seccompProfile)}`);
  assert(Number.isInteger(psc.runAsUser) && psc.runAsUser > 0, `${what}: pod runAsUser is ${psc.runAsUser}`);
  assert(csc.runAsNonRoot === true, `${what}: container runAsNonRoot is ${csc.runAsNonRoot}`);
  assert(csc.readOnlyRootFilesystem === true, `${what}: readOnlyRootFilesystem is ${csc.readOnlyRootFilesystem}`);
  assert(csc.allowPrivilegeEscalation === false, `${what}: allowPrivilegeEscalation is ${csc.allowPrivilegeEscalation}`);
  assertEqual(csc.capabilities?.drop, ["ALL"], `${what}: capabilities.drop`);
  assert(!csc.capabilities?.add?.length, `${what}: capabilities.add must be empty`);
  assert(csc.seccompProfile?.type === "RuntimeDefault", `${what}: container seccompProfile is ${JSON.stringify(csc.seccompProfile)}`);
  assert(csc.privileged !== true, `${what}: privileged`);
}

// ---------------------------------------------------------------- kubernetes-models

const modelCache = new Map();
async function modelClass(apiVersion, kind) {
  const key = `${apiVersion}/${kind}`;
  if (!modelCache.has(key)) {
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : [undefined, apiVersion];
    const spec = group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
    let cls;
    try {
      cls = (await import(spec))[kind];
    } catch {
      cls = undefined;
    }
    modelCache.set(key, cls);
  }
  return modelCache.get(key);
}

/** cert-manager Certificates have no model in kubernetes-models: check their structure by hand. */
function checkCertificateShape(c) {
  assert(c.apiVersion === "cert-manager.io/v1", `apiVersion ${c.apiVersion}`);
  assert(typeof c.spec?.secretName === "string" && c.spec.secretName === c.metadata.name, `secretName ${c.spec?.secretName}`);
  assert(c.spec.issuerRef?.name && ["Issuer", "ClusterIssuer"].includes(c.spec.issuerRef.kind), `issuerRef ${JSON.stringify(c.spec.issuerRef)}`);
  assert(Array.isArray(c.spec.usages) && c.spec.usages.length > 0, "usages");
  assert(c.spec.commonName || c.spec.dnsNames?.length, "no commonName or dnsNames");
}

/** ServiceMonitor has no model in kubernetes-models: check its structure by hand. */
function checkServiceMonitorShape(sm) {
  assert(sm.apiVersion === "monitoring.coreos.com/v1", `apiVersion ${sm.apiVersion}`);
  assert(typeof sm.metadata?.name === "string" && sm.metadata.name, "metadata.name missing");
  const spec = sm.spec ?? {};
  const allowed = ["jobLabel", "namespaceSelector", "selector", "endpoints", "podTargetLabels", "targetLabels", "sampleLimit"];
  for (const k of Object.keys(spec)) assert(allowed.includes(k), `unexpected spec.${k}`);
  assert(spec.selector && (spec.selector.matchLabels || spec.selector.matchExpressions), "spec.selector is empty");
  for (const e of spec.selector.matchExpressions ?? []) {
    assert(["In", "NotIn", "Exists", "DoesNotExist"].includes(e.operator), `bad selector operator ${e.operator}`);
  }
  assert(Array.isArray(spec.endpoints) && spec.endpoints.length > 0, "spec.endpoints is empty");
  for (const ep of spec.endpoints) {
    for (const k of Object.keys(ep)) {
      assert(["port", "path", "scheme", "interval", "scrapeTimeout", "relabelings", "metricRelabelings", "honorLabels"].includes(k), `unexpected endpoint field ${k}`);
    }
    assert(typeof ep.port === "string" && ep.port, "endpoint.port must be a port name");
    for (const d of ["interval", "scrapeTimeout"]) {
      if (ep[d] !== undefined) assert(/^[0-9]+(ms|s|m|h)$/.test(ep[d]), `endpoint.${d} ${ep[d]} is not a duration`);
    }
    if (ep.scheme !== undefined) assert(["http", "https"].includes(ep.scheme), `endpoint.scheme ${ep.scheme}`);
  }
  if (spec.namespaceSelector) {
    const ns = spec.namespaceSelector;
    assert(ns.any === true || Array.isArray(ns.matchNames), "namespaceSelector needs any or matchNames");
  }
}

// ---------------------------------------------------------------- per-case checks

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const STD_LABELS = [
  "app.kubernetes.io/name",
  "app.kubernetes.io/instance",
  "app.kubernetes.io/version",
  "app.kubernetes.io/component",
  "app.kubernetes.io/part-of",
  "app.kubernetes.io/managed-by",
  "helm.sh/chart",
];

async function checkCase(c) {
  const tag = `[${c.name}]`;
  const values = effectiveValues(c.valuesFile);
  const chart = yaml().load(readFileSync(join(chartDir, "Chart.yaml"), "utf8"));
  let objs = [];
  checks.run(`${tag} rendered manifests parse`, () => {
    objs = parseManifests(renderCase(c));
    assert(objs.length > 0, "no objects rendered");
    for (const o of objs) assert(o.apiVersion && o.kind && o.metadata?.name, `object without apiVersion/kind/name: ${JSON.stringify(o).slice(0, 120)}`);
  });
  if (objs.length === 0) return;

  // Every object validates against its kubernetes-models class (ServiceMonitor: by hand).
  for (const o of objs) {
    const id = `${o.kind}/${o.metadata.name}`;
    if (o.kind === "ServiceMonitor") {
      checks.run(`${tag} ServiceMonitor structure ${id}`, () => checkServiceMonitorShape(o));
      continue;
    }
    if (o.kind === "PrometheusRule") {
      checks.run(`${tag} PrometheusRule ${id}: the rules file, accepted by promtool`, () => checkPrometheusRule(o, values));
      continue;
    }
    if (o.kind === "Certificate") {
      checks.run(`${tag} cert-manager Certificate structure ${id}`, () => checkCertificateShape(o));
      continue;
    }
    const cls = await modelClass(o.apiVersion, o.kind);
    checks.run(`${tag} kubernetes-models validates ${o.apiVersion} ${id}`, () => {
      assert(cls, `no kubernetes-models class for ${o.apiVersion} ${o.kind}`);
      new cls(o).validate();
    });
  }

  checks.run(`${tag} names are ${FULLNAME}[-...], DNS labels, in namespace ${NAMESPACE}`, () => {
    for (const o of objs) {
      const n = o.metadata.name;
      assert(n === FULLNAME || n.startsWith(`${FULLNAME}-`), `${o.kind} name ${n} does not start with ${FULLNAME}`);
      assert(DNS1123_LABEL.test(n) && n.length <= 63, `${o.kind} name ${n} is not a DNS label`);
      let wantNs = NAMESPACE;
      if (o.kind === "ServiceMonitor" && values.serviceMonitor.namespace) wantNs = values.serviceMonitor.namespace;
      if (isDashboardCm(o) && values.grafanaDashboard.namespace) wantNs = values.grafanaDashboard.namespace;
      if (o.kind === "PrometheusRule" && values.prometheusRule.namespace) wantNs = values.prometheusRule.namespace;
      assert(o.metadata.namespace === wantNs, `${o.kind}/${n} namespace ${o.metadata.namespace}, want ${wantNs}`);
    }
    const names = objs.map((o) => `${o.kind}/${o.metadata.name}`);
    assert(new Set(names).size === names.length, `duplicate objects: ${names}`);
  });

  checks.run(`${tag} standard app.kubernetes.io labels on every object and pod template`, () => {
    const expectedChart = `${chart.name}-${chart.version}`;
    for (const o of objs) {
      const sets = [["metadata", o.metadata.labels]];
      if (o.spec?.template?.metadata) sets.push(["pod template", o.spec.template.metadata.labels]);
      for (const [where, labels] of sets) {
        const id = `${o.kind}/${o.metadata.name} ${where}`;
        for (const l of STD_LABELS) assert(labels?.[l], `${id} lacks label ${l}`);
        assert(labels["app.kubernetes.io/instance"] === RELEASE, `${id} instance ${labels["app.kubernetes.io/instance"]}`);
        assert(labels["app.kubernetes.io/managed-by"] === "Helm", `${id} managed-by`);
        assert(labels["app.kubernetes.io/part-of"] === "session-manager", `${id} part-of`);
        assert(labels["app.kubernetes.io/version"] === String(chart.appVersion), `${id} version ${labels["app.kubernetes.io/version"]}`);
        assert(labels["helm.sh/chart"] === expectedChart, `${id} helm.sh/chart ${labels["helm.sh/chart"]}`);
        assert(["server", "etcd", "etcd-auth", "test"].includes(labels["app.kubernetes.io/component"]), `${id} component ${labels["app.kubernetes.io/component"]}`);
      }
    }
  });

  checks.run(`${tag} PrometheusRule ${values.prometheusRule.enabled ? "rendered" : "absent"}`, () => {
    const n = objs.filter((o) => o.kind === "PrometheusRule").length;
    assert(n === (values.prometheusRule.enabled ? 1 : 0), `${n} PrometheusRules`);
  });
  checkEtcdUpkeep(checks, tag, objs, values, FULLNAME, NAMESPACE);

  const deploy = (() => {
    let d;
    checks.run(`${tag} one Deployment ${FULLNAME}`, () => {
      d = one(objs, "Deployment", FULLNAME);
    });
    return d;
  })();
  if (!deploy) return;
  const podSpec = deploy.spec.template.spec;
  const podLabels = deploy.spec.template.metadata.labels;
  const selector = deploy.spec.selector;
  const server = podSpec.containers.find((x) => x.name === CONTAINER);
  const expectedSelector = { "app.kubernetes.io/name": "session-manager", "app.kubernetes.io/instance": RELEASE };

  checks.run(`${tag} Deployment selector is name + instance only and matches the pod labels`, () => {
    assertEqual(selector, { matchLabels: expectedSelector }, "spec.selector");
    assert(selectorMatches(selector, podLabels), "selector does not select the pod template");
  });

  checks.run(`${tag} Deployment replicas, rollout strategy`, () => {
    assert(deploy.spec.replicas === values.replicaCount, `replicas ${deploy.spec.replicas}, want ${values.replicaCount}`);
    assert(deploy.spec.strategy?.type === "RollingUpdate", "strategy is not RollingUpdate");
    assertEqual(deploy.spec.strategy.rollingUpdate, { maxSurge: values.strategy.maxSurge, maxUnavailable: values.strategy.maxUnavailable }, "rollingUpdate");
  });

  checks.run(`${tag} session-manager container: grpc startup, liveness and readiness probes`, () => {
    assert(server, `no container named ${CONTAINER}`);
    const grpcPort = server.ports.find((p) => p.name === "grpc");
    assert(grpcPort && grpcPort.containerPort === values.server.grpcPort, `grpc port ${JSON.stringify(grpcPort)}`);
    for (const [probe, cfg] of [["startupProbe", values.probes.startup], ["livenessProbe", values.probes.liveness], ["readinessProbe", values.probes.readiness]]) {
      const p = server[probe];
      assert(p?.grpc, `${probe} is not a native grpc probe: ${JSON.stringify(p)}`);
      // With gRPC TLS the kubelet probes the plaintext health-only port (gRPC probes cannot speak TLS).
      const probePort = values.tls.enabled ? server.ports.find((x) => x.name === "health")?.containerPort : grpcPort.containerPort;
      assert(p.grpc.port === probePort, `${probe}.grpc.port ${p.grpc.port} != ${probePort}`);
      assert(p.grpc.service === cfg.service, `${probe}.grpc.service ${JSON.stringify(p.grpc.service)}, want ${JSON.stringify(cfg.service)}`);
      assert(!p.exec && !p.httpGet && !p.tcpSocket, `${probe} has a second handler`);
    }
    assert(server.readinessProbe.grpc.service === "sessionmanager.v1.SessionService" || c.name !== "default",
      `default readiness service ${server.readinessProbe.grpc.service}`);
    assert(!server.lifecycle?.preStop, "preStop hook present (the node drains itself)");
  });

  checks.run(`${tag} pod and container securityContext hardened`, () => {
    checkHardenedSecurity(podSpec, server, "session-manager");
  });

  checks.run(`${tag} resources: requests and limits set`, () => {
    assert(server.resources?.requests?.cpu && server.resources?.requests?.memory, `requests ${JSON.stringify(server.resources?.requests)}`);
    assert(server.resources?.limits?.memory, `limits ${JSON.stringify(server.resources?.limits)}`);
  });

  checks.run(`${tag} no subPath on any volume mount; config ConfigMap mounted as a directory`, () => {
    for (const o of objs) {
      for (const spec of podSpecs(o)) {
        for (const ctr of [...(spec.initContainers ?? []), ...spec.containers]) {
          for (const m of ctr.volumeMounts ?? []) {
            assert(m.subPath === undefined && m.subPathExpr === undefined, `${o.kind}/${o.metadata.name} ${ctr.name} mounts ${m.name} with subPath`);
          }
        }
      }
    }
    const cmName = values.config.existingConfigMap || `${FULLNAME}-config`;
    const vol = podSpec.volumes.find((v) => v.configMap?.name === cmName);
    assert(vol, `no volume of ConfigMap ${cmName}`);
    assert(!vol.configMap.items, "config volume projects items (the whole ConfigMap must be mounted)");
    const mount = server.volumeMounts.find((m) => m.name === vol.name);
    assert(mount && mount.mountPath === CONFIG_DIR, `config mount ${JSON.stringify(mount)}`);
    assert(envValue(server, "SM_CONFIG") === `${CONFIG_DIR}/cluster-config.properties`, `SM_CONFIG ${envValue(server, "SM_CONFIG")}`);
  });

  checks.run(`${tag} no checksum annotation on the pod template (live reload instead)`, () => {
    const ann = deploy.spec.template.metadata.annotations ?? {};
    for (const k of Object.keys(ann)) assert(!/checksum/i.test(k), `pod annotation ${k}`);
  });

  checks.run(`${tag} /tmp is an emptyDir (read-only root filesystem)`, () => {
    const m = server.volumeMounts.find((x) => x.mountPath === "/tmp");
    assert(m, "no /tmp mount");
    const v = podSpec.volumes.find((x) => x.name === m.name);
    assert(v?.emptyDir, `/tmp volume ${JSON.stringify(v)} is not an emptyDir`);
  });

  checks.run(`${tag} terminationGracePeriodSeconds = drainDelay + shutdownGrace + margin (>= +5)`, () => {
    const s = values.shutdown;
    const want = s.drainDelaySeconds + s.graceSeconds + s.marginSeconds;
    assert(podSpec.terminationGracePeriodSeconds === want, `got ${podSpec.terminationGracePeriodSeconds}, want ${want}`);
    assert(podSpec.terminationGracePeriodSeconds >= s.drainDelaySeconds + s.graceSeconds + 5, "grace period too short");
    assert(envValue(server, "SM_DRAIN_DELAY") === String(s.drainDelaySeconds), `SM_DRAIN_DELAY ${envValue(server, "SM_DRAIN_DELAY")}`);
    assert(envValue(server, "SM_SHUTDOWN_GRACE") === String(s.graceSeconds), `SM_SHUTDOWN_GRACE ${envValue(server, "SM_SHUTDOWN_GRACE")}`);
  });

  checks.run(`${tag} topologySpreadConstraints by zone and hostname select the pods`, () => {
    const tsc = podSpec.topologySpreadConstraints ?? [];
    const keys = tsc.map((t) => t.topologyKey).sort();
    assertEqual(keys, ["kubernetes.io/hostname", "topology.kubernetes.io/zone"], "topology keys");
    for (const t of tsc) {
      assert(selectorMatches(t.labelSelector, podLabels), `${t.topologyKey} labelSelector does not select the pods`);
      assert(t.maxSkew >= 1, `${t.topologyKey} maxSkew ${t.maxSkew}`);
    }
  });

  checks.run(`${tag} env: SM_* contract`, () => {
    const env = envOf(server);
    assert(env.SM_NODE_ID?.valueFrom?.fieldRef?.fieldPath === "metadata.name", `SM_NODE_ID ${JSON.stringify(env.SM_NODE_ID)}`);
    assert(env.POD_NAMESPACE?.valueFrom?.fieldRef?.fieldPath === "metadata.namespace", "POD_NAMESPACE");
    assert(env.SM_LISTEN?.value === `0.0.0.0:${values.server.grpcPort}`, `SM_LISTEN ${env.SM_LISTEN?.value}`);
    assert(env.SM_ETCD_PREFIX?.value === values.server.etcdPrefix, `SM_ETCD_PREFIX ${env.SM_ETCD_PREFIX?.value}`);
    assert(env.SM_LOG_LEVEL?.value === values.server.logLevel, `SM_LOG_LEVEL ${env.SM_LOG_LEVEL?.value}`);
    assert(env.SM_CONFIG_SOURCE?.value === values.config.source, `SM_CONFIG_SOURCE ${env.SM_CONFIG_SOURCE?.value}`);
    // Admin token: a file inside the mounted admin Secret.
    const tokenFile = env.SM_ADMIN_TOKEN_FILE?.value;
    assert(tokenFile === "/etc/session-manager/admin/token", `SM_ADMIN_TOKEN_FILE ${tokenFile}`);
    const mount = server.volumeMounts.find((m) => tokenFile.startsWith(`${m.mountPath}/`));
    const vol = podSpec.volumes.find((v) => v.name === mount?.name);
    const wantSecret = values.admin.existingSecret || `${FULLNAME}-admin`;
    assert(vol?.secret?.secretName === wantSecret, `admin token volume ${JSON.stringify(vol)}, want Secret ${wantSecret}`);
    assertEqual(vol.secret.items, [{ key: values.admin.secretKey, path: "token" }], "admin Secret items");
    // Metrics through OpenTelemetry's Prometheus exporter.
    const metricsPort = server.ports.find((p) => p.name === "metrics");
    if (values.metrics.enabled) {
      assert(env.OTEL_METRICS_EXPORTER?.value === "prometheus", `OTEL_METRICS_EXPORTER ${env.OTEL_METRICS_EXPORTER?.value}`);
      assert(metricsPort?.containerPort === values.metrics.port, `metrics port ${JSON.stringify(metricsPort)}`);
      assert(env.OTEL_EXPORTER_PROMETHEUS_PORT?.value === String(metricsPort.containerPort), "OTEL_EXPORTER_PROMETHEUS_PORT");
    }
    if (values.otel.endpoint) {
      assert(env.OTEL_EXPORTER_OTLP_ENDPOINT?.value === values.otel.endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT");
      assert(env.OTEL_TRACES_EXPORTER?.value === "otlp", "OTEL_TRACES_EXPORTER");
    } else {
      assert(env.OTEL_TRACES_EXPORTER?.value === "none", `OTEL_TRACES_EXPORTER ${env.OTEL_TRACES_EXPORTER?.value}`);
    }
    // Logs are JSON on stdout (collected by a filelog receiver); the service exports no OTLP logs.
    assert(env.OTEL_LOGS_EXPORTER === undefined, `OTEL_LOGS_EXPORTER set: ${JSON.stringify(env.OTEL_LOGS_EXPORTER)}`);
    const names = (server.env ?? []).map((e) => e.name);
    assert(new Set(names).size === names.length, `duplicate env names: ${names}`);
    // $(VAR) references must point at variables defined earlier.
    names.forEach((n, i) => {
      const v = server.env[i].value ?? "";
      for (const [, ref] of v.matchAll(/\$\(([A-Z_]+)\)/g)) assert(names.slice(0, i).includes(ref), `${n} references $(${ref}) before it is defined`);
    });
  });

  // Services: ClusterIP + headless, both gRPC only for the server pods.
  const etcdPods = byKind(objs, "StatefulSet").map((s) => s.spec.template.metadata.labels);
  const testPods = objs.filter(isTestHook).map((p) => p.metadata.labels);
  checks.run(`${tag} Service ${FULLNAME} and headless ${FULLNAME}-headless (port grpc)`, () => {
    const svc = one(objs, "Service", FULLNAME);
    const headless = one(objs, "Service", `${FULLNAME}-headless`);
    for (const s of [svc, headless]) {
      assertEqual(s.spec.selector, expectedSelector, `${s.metadata.name} selector`);
      const grpc = s.spec.ports.find((p) => p.name === "grpc");
      assert(grpc && grpc.targetPort === "grpc" && grpc.port === values.service.port, `${s.metadata.name} grpc port ${JSON.stringify(grpc)}`);
      for (const l of etcdPods) assert(!mapSelects(s.spec.selector, l), `${s.metadata.name} selects etcd pods`);
      for (const l of testPods) assert(!mapSelects(s.spec.selector, l), `${s.metadata.name} selects the test pod`);
    }
    assert(headless.spec.clusterIP === "None", "headless Service has a cluster IP");
    assert(headless.spec.publishNotReadyAddresses !== true, "headless Service publishes not-ready pods");
    assert(svc.spec.clusterIP !== "None", "main Service is headless");
  });

  checks.run(`${tag} PodDisruptionBudget maxUnavailable 1 selects the pods`, () => {
    const pdb = one(objs, "PodDisruptionBudget", FULLNAME);
    assert(pdb.spec.maxUnavailable === 1, `maxUnavailable ${pdb.spec.maxUnavailable}`);
    assert(pdb.spec.minAvailable === undefined, "minAvailable set too");
    assertEqual(pdb.spec.selector, selector, "PDB selector");
  });

  checks.run(`${tag} ConfigMap holds cluster-config.properties`, () => {
    if (values.config.existingConfigMap) {
      const cms = byKind(objs, "ConfigMap").filter((o) => !isDashboardCm(o) && o.metadata.name !== `${FULLNAME}-etcd-auth`);
      assert(!cms.length, `ConfigMap rendered although config.existingConfigMap is set: ${cms.map((o) => o.metadata.name)}`);
      return;
    }
    const cm = one(objs, "ConfigMap", `${FULLNAME}-config`);
    assertEqual(Object.keys(cm.data), ["cluster-config.properties"], "ConfigMap keys");
    renderedConfigs.push({ name: c.name, text: cm.data["cluster-config.properties"] });
    const props = parseProperties(cm.data["cluster-config.properties"]);
    const expected = expectedProperties(values);
    assertEqual(Object.fromEntries(props), expected, "cluster-config.properties");
    if (c.name === "default") assertEqual(Object.fromEntries(props), CONTRACT_DEFAULTS, "defaults vs the service contract");
  });

  checks.run(`${tag} ServiceAccount token and RBAC only for config.source=kubernetes`, () => {
    const kube = values.config.source === "kubernetes";
    const sa = one(objs, "ServiceAccount", FULLNAME);
    assert(podSpec.serviceAccountName === FULLNAME, `serviceAccountName ${podSpec.serviceAccountName}`);
    assert(sa.automountServiceAccountToken === kube, `ServiceAccount automount ${sa.automountServiceAccountToken}`);
    assert(podSpec.automountServiceAccountToken === kube, `pod automount ${podSpec.automountServiceAccountToken}`);
    const roles = byKind(objs, "Role");
    const bindings = byKind(objs, "RoleBinding");
    assert(!byKind(objs, "ClusterRole").length && !byKind(objs, "ClusterRoleBinding").length, "cluster-wide RBAC rendered");
    if (!kube) {
      assert(roles.length === 0 && bindings.length === 0, `Role/RoleBinding rendered for config.source=${values.config.source}`);
      assert(envValue(server, "SM_CONFIG_MAP") === undefined, "SM_CONFIG_MAP set");
      return;
    }
    const cmName = values.config.existingConfigMap || `${FULLNAME}-config`;
    const role = one(objs, "Role", FULLNAME);
    assertEqual(role.rules, [{ apiGroups: [""], resources: ["configmaps"], resourceNames: [cmName], verbs: ["get", "list", "watch"] }], "Role rules");
    const rb = one(objs, "RoleBinding", FULLNAME);
    assertEqual(rb.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: FULLNAME }, "roleRef");
    assertEqual(rb.subjects, [{ kind: "ServiceAccount", name: FULLNAME, namespace: NAMESPACE }], "subjects");
    assert(envValue(server, "SM_CONFIG_MAP") === cmName, `SM_CONFIG_MAP ${envValue(server, "SM_CONFIG_MAP")}`);
  });

  checks.run(`${tag} admin Secret created unless admin.existingSecret`, () => {
    const secrets = byKind(objs, "Secret").filter((s) => s.metadata.name === `${FULLNAME}-admin`);
    if (values.admin.existingSecret) {
      assert(secrets.length === 0, `Secret rendered: ${secrets.map((s) => s.metadata.name)}`);
      return;
    }
    const s = one(objs, "Secret", `${FULLNAME}-admin`);
    const token = Buffer.from(s.data?.[values.admin.secretKey] ?? "", "base64").toString();
    assert(token.length >= 32, `admin token has ${token.length} characters`);
  });

  checks.run(`${tag} helm test authenticates: an admin-token call succeeds, an anonymous one is refused`, () => {
    const pod = one(objs, "Pod", `${FULLNAME}-test-auth`);
    assert(pod.spec.restartPolicy === "Never" && !selectorMatches(selector, pod.metadata.labels), "test-auth pod");
    const ctr = pod.spec.containers[0];
    const script = ctr.args.join("\n");
    assert(script.includes("SM_TOKEN_FILE=/etc/session-manager/admin/token") && script.includes(" status"), "no authenticated call");
    if (!values.auth.insecureAllowAnonymous) assert(script.includes("CALLER_CREDENTIAL_REQUIRED"), "does not check that an anonymous call is refused");
    const vol = pod.spec.volumes.find((v) => v.name === "admin-token");
    assert(vol?.secret?.secretName === (values.admin.existingSecret || `${FULLNAME}-admin`), "admin token volume");
    checkHardenedSecurity(pod.spec, ctr, "test-auth");
  });

  checks.run(`${tag} callers: policy Secret mounted as a directory, SM_AUTH_POLICY_FILE, anonymous only when asked`, () => {
    const env = envOf(server);
    assert(env.SM_AUTH_POLICY_FILE?.value === "/etc/session-manager/auth/callers.json", `SM_AUTH_POLICY_FILE ${env.SM_AUTH_POLICY_FILE?.value}`);
    const mount = server.volumeMounts.find((m) => m.mountPath === "/etc/session-manager/auth");
    const vol = podSpec.volumes.find((v) => v.name === mount?.name);
    const secretName = values.auth.existingPolicySecret || `${FULLNAME}-callers`;
    assert(mount && !mount.subPath && vol?.secret?.secretName === secretName, `policy volume ${JSON.stringify(vol)}`);
    assert((env.SM_INSECURE_ALLOW_ANONYMOUS?.value === "true") === values.auth.insecureAllowAnonymous, "SM_INSECURE_ALLOW_ANONYMOUS");
    if (!values.auth.existingPolicySecret) {
      const sec = one(objs, "Secret", secretName);
      const policy = JSON.parse(sec.stringData["callers.json"]);
      assertEqual(Object.keys(policy.callers).sort(), Object.keys(values.auth.callers).sort(), "callers");
      for (const [name, c] of Object.entries(values.auth.callers)) {
        const rule = policy.callers[name];
        assertEqual(rule.allow, c.allow, `${name} allow`);
        if (c.tokenSecret) {
          assertEqual(rule.tokenFiles, [`/etc/session-manager/tokens/${name}/token`], `${name} tokenFiles`);
          const tv = podSpec.volumes.find((v) => v.secret?.secretName === c.tokenSecret);
          assert(tv?.secret?.optional === true, `${name} token Secret volume must be optional (fail closed)`);
          assert(server.volumeMounts.some((m) => m.name === tv.name && m.mountPath === `/etc/session-manager/tokens/${name}`), `${name} token mount`);
        }
      }
    }
  });

  checks.run(`${tag} gRPC TLS ${values.tls.enabled ? "on: server certificate mounted, probes on the plaintext health port" : "off"}`, () => {
    const env = envOf(server);
    const probePorts = ["startupProbe", "livenessProbe", "readinessProbe"].map((p) => server[p].grpc.port);
    if (!values.tls.enabled) {
      assert(env.SM_TLS_CERT_FILE === undefined && env.SM_HEALTH_LISTEN === undefined, "TLS env set");
      assertEqual(probePorts, Array(3).fill(values.server.grpcPort), "probe ports");
      return;
    }
    assert(env.SM_TLS_CERT_FILE?.value === "/etc/session-manager/grpc-tls/tls.crt", "SM_TLS_CERT_FILE");
    assert(env.SM_HEALTH_LISTEN?.value === `0.0.0.0:${values.tls.healthPort}`, "SM_HEALTH_LISTEN");
    assertEqual(probePorts, Array(3).fill(values.tls.healthPort), "probe ports");
    assert((env.SM_TLS_CLIENT_CA_FILE?.value === "/etc/session-manager/grpc-tls/ca.crt") === values.tls.clientCertificates, "SM_TLS_CLIENT_CA_FILE");
    const vol = podSpec.volumes.find((v) => v.name === "grpc-tls");
    assert(vol?.secret?.secretName === (values.tls.existingSecret || `${FULLNAME}-grpc-tls`), "grpc-tls volume");
    if (values.tls.certManager.enabled) one(objs, "Certificate", `${FULLNAME}-grpc-tls`);
    if (values.networkPolicy.enabled) {
      const np = one(objs, "NetworkPolicy", FULLNAME);
      assert(np.spec.ingress.some((r) => r.ports?.some((p) => p.port === "health")), "the NetworkPolicy does not let the probes reach the health port");
    }
  });

  if (c.name === "default") {
    checks.run(`${tag} secure by default: NetworkPolicy on, no external gRPC, etcd TLS + auth, callers required`, () => {
      assert(values.networkPolicy.enabled && !values.networkPolicy.allowExternal, "networkPolicy");
      one(objs, "NetworkPolicy", FULLNAME);
      one(objs, "NetworkPolicy", `${FULLNAME}-etcd`);
      assert(values.etcd.enabled && values.etcd.tls.enabled && values.etcd.auth.enabled, "bundled etcd without TLS/auth");
      assert(!values.auth.insecureAllowAnonymous, "anonymous callers allowed");
      one(objs, "Job", `${FULLNAME}-etcd-auth`);
    });
  }

  checks.run(`${tag} no plaintext etcd client URL anywhere`, () => {
    if (!values.etcd.enabled && !values.externalEtcd.tls.enabled) return; // an external plaintext etcd is the operator's choice
    const bad = [];
    const walk = (v, path) => {
      if (typeof v === "string") {
        if (/http:\/\/[^,\s]*:2379/.test(v)) bad.push(`${path}: ${v}`);
      } else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
    };
    for (const o of objs) walk(o, `${o.kind}/${o.metadata.name}`);
    if (values.etcd.enabled && values.etcd.tls.enabled) assertEqual(bad, [], "plaintext etcd client URLs");
  });

  if (values.etcd.enabled) checkBundledEtcd(tag, objs, values, server);
  else checkExternalEtcd(tag, objs, values, server, podSpec);

  checks.run(`${tag} NetworkPolicy ${values.networkPolicy.enabled ? "rendered and consistent" : "absent"}`, () => {
    const nps = byKind(objs, "NetworkPolicy");
    if (!values.networkPolicy.enabled) {
      assert(nps.length === 0, "NetworkPolicy rendered although disabled");
      return;
    }
    const np = one(objs, "NetworkPolicy", FULLNAME);
    assert(selectorMatches(np.spec.podSelector, podLabels), "policy does not select the server pods");
    const grpcRule = np.spec.ingress.find((r) => r.ports?.some((p) => p.port === "grpc"));
    assert(grpcRule, "no ingress rule for port grpc");
    if (!values.networkPolicy.allowExternal) {
      assert(grpcRule.from?.length, "grpc open to all although allowExternal=false");
      const testPod = objs.find((o) => isTestHook(o) && o.metadata.name === `${FULLNAME}-test-auth`);
      assert(grpcRule.from.some((p) => p.podSelector && !p.namespaceSelector && selectorMatches(p.podSelector, testPod.metadata.labels)), "helm test pod is not allowed in");
      assert(!grpcRule.from.some((p) => p.podSelector && selectorMatches(p.podSelector, { ...etcdPods[0] })), "etcd pods may call gRPC");
    }
    if (values.networkPolicy.egress.enabled) {
      assert(np.spec.policyTypes.includes("Egress"), "egress not restricted");
      assert(np.spec.egress.some((r) => r.ports?.some((p) => p.port === 53)), "no DNS egress");
      if (values.etcd.enabled) {
        assert(np.spec.egress.some((r) => r.ports?.some((p) => p.port === 2379) && r.to?.some((t) => selectorMatches(t.podSelector, etcdPods[0]))), "no egress to the bundled etcd");
      }
    }
    if (values.etcd.enabled) {
      const enp = one(objs, "NetworkPolicy", `${FULLNAME}-etcd`);
      assert(selectorMatches(enp.spec.podSelector, etcdPods[0]), "etcd policy does not select etcd pods");
      const clientRule = enp.spec.ingress.find((r) => r.ports?.some((p) => p.port === "client"));
      assert(clientRule?.from?.some((p) => selectorMatches(p.podSelector, podLabels)), "session-manager pods cannot reach etcd");
      assert(!clientRule.from.some((p) => selectorMatches(p.podSelector, testPods[0] ?? {})), "test pod may reach etcd");
    }
  });

  checks.run(`${tag} ServiceMonitor ${values.serviceMonitor.enabled ? "scrapes port metrics of the main Service only" : "absent"}`, () => {
    const sms = byKind(objs, "ServiceMonitor");
    if (!values.serviceMonitor.enabled) {
      assert(sms.length === 0, "ServiceMonitor rendered although disabled");
      return;
    }
    const sm = one(objs, "ServiceMonitor", FULLNAME);
    const selected = byKind(objs, "Service").filter((s) => selectorMatches(sm.spec.selector, s.metadata.labels));
    assertEqual(selected.map((s) => s.metadata.name), [FULLNAME], "Services selected by the ServiceMonitor");
    assertEqual(sm.spec.endpoints.map((e) => e.port), ["metrics"], "endpoint ports");
    assert(sm.spec.endpoints[0].path === "/metrics", `path ${sm.spec.endpoints[0].path}`);
    assert(selected[0].spec.ports.some((p) => p.name === "metrics" && p.port === values.metrics.port), "main Service has no metrics port");
    for (const [k, v] of Object.entries(values.serviceMonitor.labels)) assert(sm.metadata.labels[k] === v, `ServiceMonitor label ${k}`);
  });

  checks.run(`${tag} Grafana dashboard ConfigMap ${values.grafanaDashboard.enabled ? "carries the sidecar label and the dashboard JSON" : "absent"}`, () => {
    const cms = objs.filter(isDashboardCm);
    if (!values.grafanaDashboard.enabled) {
      assert(cms.length === 0, "dashboard ConfigMap rendered although grafanaDashboard.enabled is false");
      assert(!objs.some((o) => o.metadata.labels?.grafana_dashboard !== undefined), "an object carries the grafana_dashboard label");
      return;
    }
    const cm = one(objs, "ConfigMap", DASHBOARD_CM);
    const gd = values.grafanaDashboard;
    assert(cm.metadata.namespace === (gd.namespace || NAMESPACE), `namespace ${cm.metadata.namespace}`);
    assert(Object.keys(gd.labels).length > 0, "grafanaDashboard.labels is empty: the sidecar would not find the ConfigMap");
    for (const [k, v] of Object.entries(gd.labels)) assert(cm.metadata.labels?.[k] === v, `label ${k}=${cm.metadata.labels?.[k]}, want ${v}`);
    assertEqual(cm.metadata.annotations ?? {}, gd.annotations, "annotations");
    assertEqual(Object.keys(cm.data ?? {}), ["session-manager.json"], "ConfigMap keys");
    let dashboard;
    try {
      dashboard = JSON.parse(cm.data["session-manager.json"]);
    } catch (e) {
      throw new Error(`session-manager.json is not JSON: ${e.message}`);
    }
    assert(dashboard.uid === "session-manager", `dashboard uid ${dashboard.uid}`);
    assert(typeof dashboard.title === "string" && Array.isArray(dashboard.panels) && dashboard.panels.length > 0, "not a dashboard (title, panels)");
    assertEqual(dashboard, JSON.parse(readFileSync(join(chartDir, DASHBOARD_FILE), "utf8")), `dashboard differs from ${DASHBOARD_FILE}`);
  });

  checks.run(`${tag} helm test pod calls grpc.health.v1.Health through both Services`, () => {
    const pods = objs.filter(isTestHook);
    assertEqual(pods.map((p) => p.metadata.name).sort(), [`${FULLNAME}-test-auth`, `${FULLNAME}-test-health`], "test hooks");
    const pod = pods.find((p) => p.metadata.name === `${FULLNAME}-test-health`);
    assert(pod.kind === "Pod" && pod.spec.restartPolicy === "Never", "test hook is not a run-once Pod");
    assert(!selectorMatches(selector, pod.metadata.labels), "Deployment selector matches the test pod (the ReplicaSet would adopt it)");
    const img = `${values.test.image.repository}:${values.test.image.tag}`;
    const targets = [];
    for (const ctr of pod.spec.containers) {
      assert(ctr.image === img, `test image ${ctr.image}, want ${img}`);
      assertEqual(ctr.command, [values.test.command], "test command");
      const addr = ctr.args.find((a) => a.startsWith("-addr="))?.slice(6);
      const service = ctr.args.find((a) => a.startsWith("-service="))?.slice(9);
      assert(addr !== undefined && service !== undefined, `args ${ctr.args}`);
      targets.push(`${addr} ${service}`);
      checkHardenedSecurity(pod.spec, ctr, `test ${ctr.name}`);
    }
    assertEqual(targets.sort(), [
      `${FULLNAME}-headless.${NAMESPACE}.svc:${values.service.port} sessionmanager.v1.SessionService`,
      `${FULLNAME}.${NAMESPACE}.svc:${values.service.port} `,
    ], "health checks");
  });
}

/** cluster-config.properties expected from the values (mirrors the chart's mapping table). */
function expectedProperties(values) {
  const s = values.config.session;
  const fmt = (v) => (Array.isArray(v) ? v.join(",") : String(v));
  const out = {};
  const put = (k, v) => {
    if (v !== undefined && v !== null) out[k] = fmt(v);
  };
  for (const t of CLIENT_TYPES) put(`session.timeout.${t}`, s.timeout[t]);
  put("session.timeout.single-request", s.timeout.singleRequest);
  put("session.timeout.absolute", s.timeout.absolute);
  put("session.presence.grace", s.presence.grace);
  put("session.connection.grace", s.connection.grace);
  put("session.single-per-user", s.singlePerUser);
  for (const t of CLIENT_TYPES) put(`session.limit.per-user.${t}`, s.limit.perUser[t]);
  put("session.limit.action", s.limit.action);
  put("session.hit-max", s.hitMax);
  put("session.max-sessions", s.maxSessions);
  put("session.scavenge.interval", s.scavenge.interval);
  put("session.touch.granularity", s.touch.granularity);
  put("session.sites", s.sites);
  put("session.attributes.max-bytes", s.attributes.maxBytes);
  put("session.attributes.max-count", s.attributes.maxCount);
  put("cache.max-staleness", values.config.cache.maxStaleness);
  put("events.retention", values.config.events.retention);
  for (const [k, v] of parseProperties(values.config.extraProperties ?? "")) out[k] = v;
  return out;
}

function checkBundledEtcd(tag, objs, values, server) {
  const e = values.etcd;
  const sts = `${FULLNAME}-etcd`;
  const headless = `${FULLNAME}-etcd-headless`;
  const domain = `${headless}.${NAMESPACE}.svc.${values.clusterDomain}`;
  const members = [...Array(e.replicaCount).keys()].map((i) => `${sts}-${i}`);
  checks.run(`${tag} bundled etcd StatefulSet (${e.replicaCount} members, Parallel, PVCs)`, () => {
    const ss = one(objs, "StatefulSet", sts);
    assert(ss.spec.replicas === e.replicaCount, `replicas ${ss.spec.replicas}`);
    assert(ss.spec.serviceName === headless, `serviceName ${ss.spec.serviceName}`);
    assert(ss.spec.podManagementPolicy === "Parallel", `podManagementPolicy ${ss.spec.podManagementPolicy}`);
    assert(selectorMatches(ss.spec.selector, ss.spec.template.metadata.labels), "selector does not match the pods");
    assert(ss.spec.template.metadata.labels["app.kubernetes.io/name"] === "etcd", "etcd pods are not named etcd");
    const image = `${e.image.repository}${e.image.digest ? `@${e.image.digest}` : `:${e.image.tag}`}`;
    assert(/^(registry\.k8s\.io\/etcd|quay\.io\/coreos\/etcd)$/.test(e.image.repository) || tag !== "[default]", `default etcd image ${e.image.repository} is not official`);
    const ctr = ss.spec.template.spec.containers[0];
    assert(ctr.image === image, `image ${ctr.image}, want ${image}`);
    checkHardenedSecurity(ss.spec.template.spec, ctr, "etcd");
    const vct = ss.spec.volumeClaimTemplates ?? [];
    if (e.persistence.enabled) {
      assert(vct.length === 1, `${vct.length} volumeClaimTemplates`);
      assert(vct[0].spec.resources.requests.storage === e.persistence.size, `PVC size ${vct[0].spec.resources.requests.storage}`);
      if (e.persistence.storageClass) assert(vct[0].spec.storageClassName === e.persistence.storageClass, "storageClassName");
      const mount = ctr.volumeMounts.find((m) => m.name === vct[0].metadata.name);
      const dataDir = envValue(ctr, "ETCD_DATA_DIR");
      assert(mount && dataDir.startsWith(`${mount.mountPath}/`), `data dir ${dataDir} not on the PVC mount ${JSON.stringify(mount)}`);
    }
    for (const p of ["startupProbe", "livenessProbe", "readinessProbe"]) assert(ctr[p]?.httpGet?.path?.startsWith("/health"), `etcd ${p}`);
    assert(ctr.resources?.requests?.cpu && ctr.resources?.requests?.memory && ctr.resources?.limits?.memory, "etcd resources");
  });

  const scheme = e.tls.enabled ? "https" : "http";
  checks.run(`${tag} etcd initial-cluster and advertise URLs computed from replicaCount`, () => {
    const ctr = one(objs, "StatefulSet", sts).spec.template.spec.containers[0];
    const want = members.map((m) => `${m}=${scheme}://${m}.${domain}:2380`).join(",");
    assert(envValue(ctr, "ETCD_INITIAL_CLUSTER") === want, `ETCD_INITIAL_CLUSTER\n  got  ${envValue(ctr, "ETCD_INITIAL_CLUSTER")}\n  want ${want}`);
    assert(envValue(ctr, "ETCD_NAME") === "$(POD_NAME)", "ETCD_NAME");
    assert(envValue(ctr, "ETCD_INITIAL_ADVERTISE_PEER_URLS") === `${scheme}://$(POD_NAME).${domain}:2380`, "ETCD_INITIAL_ADVERTISE_PEER_URLS");
    assert(envValue(ctr, "ETCD_ADVERTISE_CLIENT_URLS") === `${scheme}://$(POD_NAME).${domain}:2379`, "ETCD_ADVERTISE_CLIENT_URLS");
    assert(envValue(ctr, "ETCD_LISTEN_CLIENT_URLS") === `${scheme}://0.0.0.0:2379`, "ETCD_LISTEN_CLIENT_URLS");
    assert(envValue(ctr, "ETCD_INITIAL_CLUSTER_STATE") === "new", "ETCD_INITIAL_CLUSTER_STATE");
  });

  checks.run(`${tag} SM_ETCD_ENDPOINTS lists every bundled member`, () => {
    const want = members.map((m) => `${scheme}://${m}.${domain}:2379`).join(",");
    assert(envValue(server, "SM_ETCD_ENDPOINTS") === want, `SM_ETCD_ENDPOINTS ${envValue(server, "SM_ETCD_ENDPOINTS")}`);
  });

  checks.run(`${tag} bundled etcd ${e.tls.enabled ? "client + peer TLS with client certificates required" : "plaintext"}${e.auth.enabled ? ", auth Job limits session-manager to its prefix" : ""}`, () => {
    const ss = one(objs, "StatefulSet", sts);
    const ctr = ss.spec.template.spec.containers[0];
    if (!e.tls.enabled) return;
    for (const [k, v] of [["ETCD_CLIENT_CERT_AUTH", "true"], ["ETCD_PEER_CLIENT_CERT_AUTH", "true"], ["ETCD_TRUSTED_CA_FILE", "/etc/etcd/tls/ca.crt"], ["ETCD_PEER_TRUSTED_CA_FILE", "/etc/etcd/tls/ca.crt"], ["ETCD_CERT_FILE", "/etc/etcd/tls/tls.crt"]]) {
      assert(envValue(ctr, k) === v, `${k} ${envValue(ctr, k)}`);
    }
    const vol = ss.spec.template.spec.volumes.find((v) => v.name === "tls");
    assert(vol?.secret?.secretName === `${FULLNAME}-etcd-member-tls`, `member TLS volume ${JSON.stringify(vol)}`);
    const kind = e.tls.source === "certManager" ? "Certificate" : "Secret";
    for (const n of ["member", "client", "root"]) one(objs, kind, `${FULLNAME}-etcd-${n}-tls`);
    const sm = envOf(server);
    assert(sm.SM_ETCD_CA_FILE?.value === "/etc/session-manager/etcd-tls/ca.crt" && sm.SM_ETCD_CERT_FILE?.value && sm.SM_ETCD_KEY_FILE?.value, "session-manager etcd TLS env");
    if (!e.auth.enabled) return;
    const job = one(objs, "Job", `${FULLNAME}-etcd-auth`);
    assert(String(job.metadata.annotations?.["helm.sh/hook"]).includes("post-install"), "auth Job is not a post-install hook");
    const jc = job.spec.template.spec.containers[0];
    assert(envValue(jc, "SM_PREFIX") === values.server.etcdPrefix && envValue(jc, "SM_USER") === e.auth.user, "auth Job prefix/user");
    assert(envOf(jc).ROOT_PASSWORD?.valueFrom?.secretKeyRef?.name === (e.auth.existingRootPasswordSecret || `${FULLNAME}-etcd-root`), "root password Secret");
    checkHardenedSecurity(job.spec.template.spec, jc, "etcd-auth");
    const script = one(objs, "ConfigMap", `${FULLNAME}-etcd-auth`).data["etcd-auth-bootstrap.sh"];
    assertEqual(script.trimEnd(), readFileSync(join(chartDir, "files/etcd-auth-bootstrap.sh"), "utf8").trimEnd(), "bootstrap script");
    const enp = one(objs, "NetworkPolicy", `${FULLNAME}-etcd`);
    const clientRule = enp.spec.ingress.find((r) => r.ports?.some((p) => p.port === "client"));
    assert(clientRule.from.some((p) => selectorMatches(p.podSelector, job.spec.template.metadata.labels)), "the auth Job cannot reach etcd");
  });

  checks.run(`${tag} etcd peer (headless) and client Services, PDB`, () => {
    const ss = one(objs, "StatefulSet", sts);
    const pods = ss.spec.template.metadata.labels;
    const h = one(objs, "Service", headless);
    assert(h.spec.clusterIP === "None" && h.spec.publishNotReadyAddresses === true, "peer Service must be headless and publish not-ready members");
    assertEqual(h.spec.ports.map((p) => p.port).sort(), [2379, 2380], "peer Service ports");
    const client = one(objs, "Service", sts);
    assert(client.spec.ports.some((p) => p.name === "client" && p.port === 2379), "client Service port");
    for (const s of [h, client]) assert(mapSelects(s.spec.selector, pods), `${s.metadata.name} does not select etcd pods`);
    const sm = one(objs, "Deployment", FULLNAME).spec.template.metadata.labels;
    for (const s of [h, client]) assert(!mapSelects(s.spec.selector, sm), `${s.metadata.name} selects session-manager pods`);
    if (e.podDisruptionBudget.enabled) {
      const pdb = one(objs, "PodDisruptionBudget", sts);
      assert(pdb.spec.maxUnavailable === 1 && selectorMatches(pdb.spec.selector, pods), "etcd PDB");
    }
  });
}

function checkExternalEtcd(tag, objs, values, server, podSpec) {
  const x = values.externalEtcd;
  checks.run(`${tag} external etcd: no bundled etcd objects`, () => {
    const etcdObjs = objs.filter((o) => o.metadata.labels?.["app.kubernetes.io/component"] === "etcd");
    assert(etcdObjs.length === 0, `bundled etcd objects rendered: ${etcdObjs.map((o) => `${o.kind}/${o.metadata.name}`)}`);
    assert(envValue(server, "SM_ETCD_ENDPOINTS") === x.endpoints.join(","), `SM_ETCD_ENDPOINTS ${envValue(server, "SM_ETCD_ENDPOINTS")}`);
  });
  checks.run(`${tag} external etcd TLS files come from the existing Secret`, () => {
    const env = envOf(server);
    if (!x.tls.enabled) {
      assert(!env.SM_ETCD_CA_FILE, "SM_ETCD_CA_FILE set without TLS");
      return;
    }
    const vol = podSpec.volumes.find((v) => v.secret?.secretName === x.tls.existingSecret);
    assert(vol, `no volume of Secret ${x.tls.existingSecret}`);
    const mount = server.volumeMounts.find((m) => m.name === vol.name);
    assert(mount?.readOnly, "TLS mount missing or writable");
    const files = Object.fromEntries(vol.secret.items.map((i) => [`${mount.mountPath}/${i.path}`, i.key]));
    assert(files[env.SM_ETCD_CA_FILE?.value] === x.tls.caKey, `SM_ETCD_CA_FILE ${env.SM_ETCD_CA_FILE?.value} is not key ${x.tls.caKey}`);
    if (x.tls.certKey) {
      assert(files[env.SM_ETCD_CERT_FILE?.value] === x.tls.certKey, "SM_ETCD_CERT_FILE");
      assert(files[env.SM_ETCD_KEY_FILE?.value] === x.tls.keyKey, "SM_ETCD_KEY_FILE");
    }
    for (const ep of x.endpoints) assert(ep.startsWith("https://"), `endpoint ${ep} is not https`);
  });
  checks.run(`${tag} external etcd credentials from the existing Secret`, () => {
    const env = envOf(server);
    if (!x.auth.enabled) {
      assert(!env.SM_ETCD_USERNAME && !env.SM_ETCD_PASSWORD, "credentials set without auth");
      return;
    }
    assertEqual(env.SM_ETCD_USERNAME?.valueFrom?.secretKeyRef, { name: x.auth.existingSecret, key: x.auth.usernameKey }, "SM_ETCD_USERNAME");
    assertEqual(env.SM_ETCD_PASSWORD?.valueFrom?.secretKeyRef, { name: x.auth.existingSecret, key: x.auth.passwordKey }, "SM_ETCD_PASSWORD");
  });
}

// ---------------------------------------------------------------- the service's own config parser

const renderedConfigs = [];

/**
 * Loads parseClusterConfig from src/config/schema.ts: each relative import is transpiled with the
 * repository's TypeScript (no type check) into a temp dir, so the chart is checked against the
 * parser the nodes run, without a build.
 */
async function loadServiceConfigParser() {
  const require = createRequire(import.meta.url);
  const ts = require(join(repoRoot, "node_modules/typescript"));
  const out = mkdtempSync(join(tmpdir(), "sm-config-"));
  const pending = [join(repoRoot, "src/config/schema.ts")];
  const done = new Set();
  while (pending.length) {
    const file = pending.pop();
    if (done.has(file)) continue;
    done.add(file);
    const source = readFileSync(file, "utf8");
    const js = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
    }).outputText;
    const target = join(out, relative(repoRoot, file)).replace(/\.ts$/, ".js");
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, js);
    for (const [, spec] of source.matchAll(/from\s+['"](\.{1,2}\/[^'"]+)\.js['"]/g)) {
      pending.push(resolve(dirname(file), `${spec}.ts`));
    }
  }
  writeFileSync(join(out, "package.json"), '{"type":"module"}');
  try {
    const mod = await import(pathToFileURL(join(out, "src/config/schema.js")).href);
    assert(typeof mod.parseClusterConfig === "function", "src/config/schema.ts does not export parseClusterConfig");
    return mod.parseClusterConfig;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

async function checkAgainstServiceParser() {
  let parse;
  let loadError;
  try {
    parse = await loadServiceConfigParser();
  } catch (e) {
    loadError = e;
  }
  checks.run("service config parser (src/config/schema.ts) loads", () => {
    if (loadError) throw loadError;
  });
  if (!parse) return;
  for (const { name, text } of renderedConfigs) {
    checks.run(`[${name}] rendered cluster-config.properties is accepted by the service parser`, () => {
      const r = parse(text);
      assert(r.ok, `rejected: ${(r.errors ?? []).join("; ")}`);
    });
  }
  checks.run("chart defaults give the same policy as the service's src/config/cluster-config.properties", () => {
    const chartText = renderedConfigs.find((r) => r.name === "default")?.text;
    assert(chartText, "default render has no ConfigMap");
    const fromChart = parse(chartText);
    const fromService = parse(readFileSync(join(repoRoot, "src/config/cluster-config.properties"), "utf8"));
    assert(fromService.ok, `service default file rejected: ${fromService.errors}`);
    assertEqual(toPlain(fromChart.policy), toPlain(fromService.policy), "policy");
  });
}

/** Policies hold Sets; compare them as sorted arrays. */
function toPlain(v) {
  if (v instanceof Set) return [...v].sort();
  if (Array.isArray(v)) return v.map(toPlain);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toPlain(x)]));
  return v;
}

// ---------------------------------------------------------------- renders that must fail

function checkRejected() {
  const chart = [RELEASE, chartDir, "-n", NAMESPACE];
  const cases = [
    ["neither bundled nor external etcd", ["--set", "etcd.enabled=false"], /choose exactly one etcd.*neither/],
    ["both bundled and external etcd", ["--set", "externalEtcd.endpoints={http://etcd:2379}"], /choose exactly one etcd.*both/],
    ["external TLS without a Secret", ["--set", "etcd.enabled=false", "--set", "externalEtcd.endpoints={https://etcd:2379}", "--set", "externalEtcd.tls.enabled=true"], /tls\.existingSecret/],
    ["external TLS with an http:// endpoint", ["--set", "etcd.enabled=false", "--set", "externalEtcd.endpoints={http://etcd:2379}", "--set", "externalEtcd.tls.enabled=true", "--set", "externalEtcd.tls.existingSecret=x"], /not https/],
    ["auth without a Secret", ["--set", "etcd.enabled=false", "--set", "externalEtcd.endpoints={http://etcd:2379}", "--set", "externalEtcd.auth.enabled=true"], /auth\.existingSecret/],
    ["unknown top-level value", ["--set", "replicas=3"], /additional propert/],
    ["unknown nested value", ["--set", "config.session.timeout.kiosk=5"], /additional propert/],
    ["bad enum config.source", ["--set", "config.source=etcd"], /config\/source/],
    ["idle timeout 0 for a non-web type", ["--set", "config.session.timeout.mobile=0"], /timeout\/mobile/],
    ["malformed duration", ["--set", "config.cache.maxStaleness=5 seconds"], /maxStaleness/],
    ["unknown client type in singlePerUser", ["--set", "config.session.singlePerUser={web,kiosk}"], /singlePerUser/],
    ["attributes.maxCount above the service limit (100)", ["--set", "config.session.attributes.maxCount=101"], /maxCount/],
    ["\"*\" mixed with site names", ["--set", "config.session.sites={*,intranet}"], /sites/],
    ["even etcd member count", ["--set", "etcd.replicaCount=2"], /replicaCount/],
    ["marginSeconds below 5", ["--set", "shutdown.marginSeconds=2"], /marginSeconds/],
    ["extraProperties duplicating a rendered key", ["--set", "config.extraProperties=session.hit-max=3"], /extraProperties sets "session\.hit-max"/],
    ["admin token and existing Secret together", ["--set", "admin.token=abc", "--set", "admin.existingSecret=x"], /admin\.existingSecret or admin\.token/],
    ["otel.exportLogs (removed: logs go to stdout only)", ["--set", "otel.exportLogs=true"], /additional propert/],
    ["unquoted Grafana sidecar label value", ["--set", "grafanaDashboard.labels.grafana_dashboard=1"], /grafanaDashboard\/labels/],
    ["ServiceMonitor without metrics", ["--set", "serviceMonitor.enabled=true", "--set", "metrics.enabled=false"], /needs metrics\.enabled/],
    ["etcd snapshots keeping 0", ["--set", "etcd.snapshot.enabled=true", "--set", "etcd.snapshot.keep=0"], /snapshot\/keep/],
    ["malformed defrag command timeout", ["--set", "etcd.defrag.commandTimeout=5 minutes"], /commandTimeout/],
  ];
  for (const [name, extra, pattern] of cases) {
    checks.run(`render rejected: ${name}`, () => {
      const r = helmTemplate([...chart, ...extra]);
      assert(!r.ok, "render succeeded");
      assert(pattern.test(r.stderr.replace(/\n/g, " ")), `error does not match ${pattern}: ${r.stderr.trim().slice(0, 400)}`);
    });
  }
  checks.run("render accepted: never / ms and s suffixes / 0 / null-ed key left out", () => {
    const r = helmTemplate([...chart, "-s", "templates/configmap.yaml", "--set", "config.session.timeout.web=never", "--set", "config.session.timeout.api=90s",
      "--set", "config.cache.maxStaleness=2500ms", "--set", "config.session.timeout.singleRequest=0", "--set", "config.session.hitMax=null"]);
    assert(r.ok, r.stderr);
    const props = parseProperties(parseManifests(r.stdout)[0].data["cluster-config.properties"]);
    assert(props.get("session.timeout.web") === "never" && props.get("session.timeout.api") === "90s", "values not rendered");
    assert(props.get("cache.max-staleness") === "2500ms" && props.get("session.timeout.single-request") === "0", "ms / 0 values not rendered");
    assert(!props.has("session.hit-max"), "null-ed key still rendered");
  });
}

// ---------------------------------------------------------------- chart files

function checkChartFiles() {
  const chart = yaml().load(readFileSync(join(chartDir, "Chart.yaml"), "utf8"));
  checks.run("Chart.yaml: apiVersion v2, kubeVersion >=1.27.0-0", () => {
    assert(chart.apiVersion === "v2", `apiVersion ${chart.apiVersion}`);
    assert(chart.kubeVersion === ">=1.27.0-0", `kubeVersion ${chart.kubeVersion}`);
    const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8"));
    assert(String(chart.appVersion) === pkg.version, `appVersion ${chart.appVersion} != package.json version ${pkg.version}`);
  });

  checks.run("helm refuses clusters older than 1.27", () => {
    const r = helmTemplate([RELEASE, chartDir, "-n", NAMESPACE, "--kube-version", "1.26.9"]);
    assert(!r.ok && /kubeVersion|incompatible/i.test(r.stderr), `render on 1.26 did not fail: ${r.stderr.slice(0, 200)}`);
  });

  const schema = JSON.parse(readFileSync(join(chartDir, "values.schema.json"), "utf8"));
  checks.run("values.schema.json: additionalProperties declared at every object level", () => {
    const loose = [];
    const walk = (node, path) => {
      if (!node || typeof node !== "object") return;
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${path}[${i}]`));
      const types = [].concat(node.type ?? []);
      if (types.includes("object")) {
        const ap = node.additionalProperties;
        const passthrough = typeof node.$comment === "string" && node.$comment.startsWith("passthrough:");
        if (ap === undefined || (ap === true && !passthrough)) loose.push(path || "/");
        if (ap === true && passthrough && node.properties) loose.push(`${path} (passthrough with properties)`);
      }
      for (const [k, v] of Object.entries(node)) walk(v, `${path}/${k}`);
    };
    walk(schema, "");
    assert(loose.length === 0, `objects without additionalProperties: false: ${loose.join(", ")}`);
  });

  const values = yaml().load(readFileSync(join(chartDir, "values.yaml"), "utf8"));
  checks.run("values.yaml and values.schema.json declare the same keys", () => {
    const missing = [];
    const resolve = (node) => (node?.$ref ? resolve(schema.definitions[node.$ref.split("/").pop()]) : node);
    // values.yaml -> schema everywhere; schema -> values.yaml only for the chart's own settings
    // (shared Kubernetes types such as resources or securityContext list optional fields).
    const walk = (v, node, path, shared = false) => {
      const s = resolve(node);
      shared = shared || Boolean(node?.$ref);
      if (!s) return missing.push(`${path} (no schema)`);
      if (v === null || typeof v !== "object" || Array.isArray(v)) return;
      if (!s.properties) return; // map-typed values (labels, annotations): any key
      // An empty map in values.yaml (e.g. limit.perUser: {}) documents optional keys in comments.
      if (!shared && Object.keys(v).length > 0) {
        for (const k of Object.keys(s.properties)) if (!(k in v)) missing.push(`${path}.${k} (in schema, not in values.yaml)`);
      }
      for (const [k, child] of Object.entries(v)) {
        if (!s.properties[k]) missing.push(`${path}.${k} (in values.yaml, not in schema)`);
        else walk(child, s.properties[k], `${path}.${k}`, shared);
      }
    };
    walk(values, schema, "");
    assert(missing.length === 0, missing.join("\n"));
  });

  checkOperationsDefaults(checks, values);

  checks.run('grafanaDashboard defaults: off, release namespace, sidecar label grafana_dashboard: "1"', () => {
    assertEqual(values.grafanaDashboard, { enabled: false, namespace: "", labels: { grafana_dashboard: "1" }, annotations: {} }, "grafanaDashboard");
    const dashboard = JSON.parse(readFileSync(join(chartDir, DASHBOARD_FILE), "utf8"));
    assert(dashboard.uid === "session-manager", `${DASHBOARD_FILE} uid ${dashboard.uid}`);
  });

  checks.run("values.yaml: every key is documented by a comment", () => {
    const undocumented = [];
    const lines = readFileSync(join(chartDir, "values.yaml"), "utf8").split("\n");
    const stack = []; // {indent, covers}: ancestors whose "# --" comment documents the whole block
    lines.forEach((line, i) => {
      const m = /^(\s*)(- )?([A-Za-z0-9_.\-"/]+):(\s|$)/.exec(line);
      if (!m || m[2]) return; // list items are documented by their key
      const indent = m[1].length;
      while (stack.length && stack[stack.length - 1].indent >= indent) stack.pop();
      let j = i - 1;
      const comments = [];
      while (j >= 0 && /^\s*#/.test(lines[j])) comments.unshift(lines[j--].trim());
      const inline = /\s#\s/.test(line);
      const covered = stack.some((s) => s.covers);
      if (!comments.length && !inline && !covered) undocumented.push(`line ${i + 1}: ${line.trim()}`);
      stack.push({ indent, covers: covered || comments.some((c) => c.startsWith("# --")) });
    });
    assert(undocumented.length === 0, undocumented.join("\n"));
  });

  checks.run("helm install --dry-run NOTES explain the headless Service and dns:/// round_robin", () => {
    const out = helm(["install", RELEASE, chartDir, "-n", NAMESPACE, "--dry-run=client"]);
    const notes = out.slice(out.indexOf("NOTES:"));
    assert(notes.includes(`dns:///${FULLNAME}-headless.${NAMESPACE}.svc.cluster.local:50051`), "NOTES lack the dns:/// target");
    assert(notes.includes("round_robin"), "NOTES lack round_robin");
    assert(notes.includes(`helm test ${RELEASE}`), "NOTES lack helm test");
  });

  checks.run("helm/README.md documents the headless Service and round_robin", () => {
    const readme = readFileSync(join(repoRoot, "helm/README.md"), "utf8");
    assert(/-headless/.test(readme) && /dns:\/\/\//.test(readme) && /round_robin/.test(readme), "missing headless / dns:/// / round_robin");
  });
}

function checkImage() {
  const dockerfile = readFileSync(join(repoRoot, "k8s/image/Dockerfile"), "utf8");
  const ignore = readFileSync(join(repoRoot, "k8s/image/Dockerfile.dockerignore"), "utf8");
  const instr = dockerfile
    .replace(/\\\n/g, " ")
    .split("\n")
    .filter((l) => l.trim() && !l.trim().startsWith("#"));
  checks.run("Dockerfile: node 24 bookworm-slim (the Node major of package.json engines and the Makefile), npm ci + build, runtime npm ci --omit=dev", () => {
    assert(/ARG NODE_IMAGE=node:24-bookworm-slim/.test(dockerfile), "base is not node:24-bookworm-slim");
    const engines = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).engines.node;
    assert(engines === ">=24", `package.json engines.node ${engines}, want >=24 (what the image runs)`);
    assert(/^NODE_MAJOR := 24$/m.test(readFileSync(join(repoRoot, "Makefile"), "utf8")), "Makefile NODE_MAJOR is not 24 (the suite must run on the image's Node)");
    const stages = instr.filter((l) => /^FROM /.test(l));
    assert(stages.length === 2, `${stages.length} stages`);
    const runtime = instr.slice(instr.indexOf(stages[1]));
    const build = instr.slice(0, instr.indexOf(stages[1]));
    assert(build.some((l) => /npm ci(?!.*--omit)/.test(l)) && build.some((l) => /npm run build/.test(l)), "build stage does not npm ci && npm run build");
    assert(runtime.some((l) => /npm ci .*--omit=dev/.test(l)), "runtime stage lacks npm ci --omit=dev");
    assert(runtime.some((l) => /COPY --from=build \S*dist \.\/dist/.test(l)), "runtime does not copy dist/");
    assert(runtime.some((l) => /COPY src\/config\/cluster-config\.properties/.test(l)), "default config not copied");
    assert(runtime.some((l) => /ENV NODE_ENV=production/.test(l)), "NODE_ENV");
  });
  checks.run("Dockerfile: non-root uid 10001, tini as PID 1, node dist/src/main.js", () => {
    assert(instr.some((l) => /^USER 10001(:10001)?$/.test(l.trim())), "USER 10001 missing");
    assert(instr.some((l) => /apt-get install .*tini/.test(l)), "tini not installed from Debian");
    assert(instr.some((l) => l.trim() === 'ENTRYPOINT ["/usr/bin/tini", "--"]'), "ENTRYPOINT is not tini");
    assert(instr.some((l) => l.trim() === 'CMD ["node", "dist/src/main.js"]'), "CMD is not node dist/src/main.js");
    assert(/tini/.test(dockerfile.split("\n").filter((l) => l.trim().startsWith("#")).join(" ")), "no comment explaining the init choice");
  });
  checks.run("Dockerfile.dockerignore drops node_modules, dist and .git", () => {
    const entries = ignore.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    for (const e of [".git", "dist"]) assert(entries.includes(e), `${e} not ignored`);
    assert(entries.some((e) => /node_modules$/.test(e)), "node_modules not ignored");
    assert(!entries.includes("src") && !entries.includes("src/"), "src is ignored");
  });
}

// ---------------------------------------------------------------- main

// A crash inside a group (a values file that does not parse, say) fails that group, not the run.
async function guarded(name, fn) {
  try {
    await fn();
  } catch (e) {
    checks.run(`${name} completed`, () => {
      throw e;
    });
  }
}

for (const c of cases) await guarded(`[${c.name}] checks`, () => checkCase(c));
await guarded("service config parser checks", checkAgainstServiceParser);
await guarded("rejected renders", checkRejected);
await guarded("chart file checks", checkChartFiles);
await guarded("image checks", checkImage);
checks.run("k8s/ equals a fresh render of the chart (default values, release/namespace session-manager)", () => {
  const problems = checkK8s();
  assert(problems.length === 0, `${problems.join("\n")}\nrun: bash test/chart/render-k8s.sh`);
});
process.exit(checks.summary());
