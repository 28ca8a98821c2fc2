import type { LoadedConfig } from '../domain/ports.js';
import type { LiveConfigSource } from './live-source.js';
import type { ConfigLog } from './reloadable-config.js';

/** Where the live configuration comes from: the start flags that choose and tune the source. */
export interface LiveConfigOptions {
  /** `file`: the mounted ConfigMap directory; `kubernetes`: the ConfigMap through the API. */
  source: 'file' | 'kubernetes';
  /** The properties file (file source). */
  path: string;
  /** Content-hash poll interval of the file source. */
  pollMs: number;
  /** ConfigMap name (kubernetes source). */
  configMap?: string;
  /** ConfigMap namespace (kubernetes source); default the pod's. */
  namespace?: string;
  log?: ConfigLog;
}

/**
 * Builds the live ConfigSource the process runs with, starting from the configuration already
 * loaded (and validated) at start-up. Not started: the caller subscribes first, then calls start().
 * The Kubernetes client is imported only when that source is chosen.
 */
export async function openLiveConfigSource(initial: LoadedConfig, options: LiveConfigOptions): Promise<LiveConfigSource> {
  if (options.source === 'file') {
    const { FileConfigSource } = await import('./file-source.js');
    return new FileConfigSource(initial, { path: options.path, pollMs: options.pollMs, ...(options.log ? { log: options.log } : {}) });
  }
  // @kubernetes/client-node is an optional dependency (a third of the production install): an image
  // built with `npm ci --omit=optional` has no Kubernetes client and only the file source.
  const [{ KubeConfigSource }, { kubernetesConfigMapClient, podNamespace }] = await Promise.all([
    import('./kube-source.js'),
    import('./configmap-client.js').catch((err: Error & { code?: string }) => {
      if (err.code === 'ERR_MODULE_NOT_FOUND' && err.message.includes('@kubernetes/client-node'))
        throw new Error('config: --config-source=kubernetes needs the optional package @kubernetes/client-node (npm install @kubernetes/client-node)');
      throw err;
    }),
  ]);
  const namespace = podNamespace(options.namespace);
  if (!namespace) throw new Error('config: --config-source=kubernetes needs the pod namespace (POD_NAMESPACE)');
  if (!options.configMap) throw new Error('config: --config-source=kubernetes needs the ConfigMap name (SM_CONFIG_MAP)');
  return new KubeConfigSource(initial, {
    namespace,
    name: options.configMap,
    client: kubernetesConfigMapClient({ namespace, name: options.configMap }),
    ...(options.log ? { log: options.log } : {}),
  });
}
