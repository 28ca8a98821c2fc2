// Composition root of the session-manager process: parse flags, load config, start one node with
// its telemetry, and wire signals to a graceful stop. Nothing else lives here. Loaded by main.ts
// after the OpenTelemetry SDK has started.
import { ConfigInvalidError } from '../config/errors.js';
import { loadConfigFile } from '../config/loader.js';
import { openLiveConfigSource } from '../config/open-source.js';
import { forwardConfigEvents } from '../config/reloadable-config.js';
import { SessionNode } from '../node/session-node.js';
import { createLogger } from '../telemetry/log.js';
import { attachTelemetry } from '../telemetry/node-telemetry.js';
import { activeTelemetry } from '../telemetry/sdk.js';
import { parseStartArgs } from './args.js';

/** Exit status for an unusable configuration (sysexits EX_CONFIG). */
const EXIT_CONFIG = 78;

/** Runs one session-manager node until SIGTERM/SIGINT. */
export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  let args;
  try {
    args = parseStartArgs(argv, env);
  } catch (err) {
    process.stderr.write(`session-manager: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const log = createLogger({ nodeId: args.nodeId });
  let config;
  try {
    config = await loadConfigFile(args.configPath);
  } catch (err) {
    const msg = err instanceof ConfigInvalidError ? err.message : `config: cannot read ${args.configPath}: ${(err as Error).message}`;
    process.stderr.write(`session-manager: ${msg}\n`);
    process.exit(EXIT_CONFIG);
  }
  log.info({ config: config.source, version: config.version }, 'config loaded');
  let configSource;
  try {
    configSource = await openLiveConfigSource(config, {
      source: args.configSource,
      path: args.configPath,
      pollMs: args.configPollMs,
      ...(args.configMap ? { configMap: args.configMap } : {}),
      ...(args.configNamespace ? { namespace: args.configNamespace } : {}),
      log,
    });
  } catch (err) {
    process.stderr.write(`session-manager: ${(err as Error).message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const node = new SessionNode({
    nodeId: args.nodeId,
    listen: args.listen,
    etcd: {
      endpoints: args.etcdEndpoints,
      ...(args.etcdCaFile || args.etcdCertFile ? { tls: { caFile: args.etcdCaFile, certFile: args.etcdCertFile, keyFile: args.etcdKeyFile } } : {}),
      ...(args.etcdUsername ? { auth: { username: args.etcdUsername, password: args.etcdPassword ?? '' } } : {}),
    },
    prefix: args.prefix,
    config: configSource,
    logger: log,
    drainDelayMs: args.drainDelayMs,
    shutdownGraceMs: args.shutdownGraceMs,
    ...(args.adminTokenFile ? { adminTokenFile: args.adminTokenFile } : {}),
    nodeLeaseTtlSeconds: args.nodeLeaseTtlSeconds,
    electionTtlSeconds: args.electionTtlSeconds,
    maxStreams: args.maxStreams,
    ...(args.idKeyFile ? { idKeyFile: args.idKeyFile } : {}),
    ...(args.tls ? { tls: args.tls } : {}),
    adminIdentities: args.adminIdentities,
    allowAnonymous: args.allowAnonymous,
    ...(args.authPolicyFile ? { policyFile: args.authPolicyFile } : {}),
    policyPollMs: args.authPolicyPollMs,
    ...(args.healthListen ? { healthListen: args.healthListen } : {}),
    keepaliveTimeMs: args.keepaliveTimeMs,
    keepaliveTimeoutMs: args.keepaliveTimeoutMs,
    clockPublishIntervalMs: args.clockPublishIntervalMs,
  });
  attachTelemetry(node, { logger: log, config: configSource });
  // The source validates every update before it applies; both outcomes go to node.events (metrics, spans).
  forwardConfigEvents(configSource, node.events);
  configSource.start();
  // Last step of the shutdown order (ARCHITECTURE rule 8): flush telemetry, then the log, then exit.
  const exit = async (code: number) => {
    await activeTelemetry()?.shutdown();
    log.flush();
    process.exit(code);
  };
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      log.flush();
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'stopping');
    void configSource.stop();
    node.stop().then(
      () => exit(0),
      (err: Error) => {
        log.error({ err: err.message }, 'stop failed');
        return exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await node.start();
  } catch (err) {
    log.error({ err: (err as Error).message }, 'start failed');
    await exit(1);
  }
  process.stdout.write(''); // keep stdout open for the logger
}
