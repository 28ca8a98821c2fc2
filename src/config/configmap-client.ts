import { existsSync, readFileSync } from 'node:fs';
import { CoreV1Api, KubeConfig, Watch } from '@kubernetes/client-node';
import type { ConfigMapClient } from '../domain/ports.js';

/** Where a pod's ServiceAccount namespace is mounted. */
const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** Options of kubernetesConfigMapClient. */
export interface KubernetesConfigMapClientOptions {
  namespace: string;
  name: string;
  /** Default: in-cluster config (ServiceAccount token, re-read as it rotates); outside a pod, KUBECONFIG or ~/.kube/config. */
  kubeConfig?: KubeConfig;
  /** The server ends each watch after this long, so the loop re-lists now and then. Default 300. */
  watchTimeoutSeconds?: number;
}

/**
 * The pod's namespace: `explicit` (POD_NAMESPACE, set by the chart through the downward API), else
 * the mounted ServiceAccount namespace file; '' if neither exists.
 */
export function podNamespace(explicit: string | undefined): string {
  if (explicit) return explicit;
  return existsSync(SERVICE_ACCOUNT_NAMESPACE) ? readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim() : '';
}

/** The default KubeConfig: in-cluster inside a pod, the usual kubeconfig lookup elsewhere (development). */
function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  if (process.env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

/**
 * Adapts @kubernetes/client-node to ConfigMapClient for one named ConfigMap. Both list and watch
 * carry `fieldSelector=metadata.name=<name>`: a Role limited by `resourceNames` refuses them otherwise.
 */
export function kubernetesConfigMapClient(options: KubernetesConfigMapClientOptions): ConfigMapClient {
  const kc = options.kubeConfig ?? defaultKubeConfig();
  const api = kc.makeApiClient(CoreV1Api);
  const watcher = new Watch(kc);
  const fieldSelector = `metadata.name=${options.name}`;
  const path = `/api/v1/namespaces/${encodeURIComponent(options.namespace)}/configmaps`;
  return {
    async list() {
      const res = await api.listNamespacedConfigMap({ namespace: options.namespace, fieldSelector });
      return { items: res.items, resourceVersion: res.metadata?.resourceVersion ?? '' };
    },
    watch(resourceVersion, onEvent, onDone) {
      return watcher.watch(
        path,
        { fieldSelector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: options.watchTimeoutSeconds ?? 300 },
        (type: string, object: unknown) => onEvent(type, object),
        onDone,
      );
    },
  };
}
