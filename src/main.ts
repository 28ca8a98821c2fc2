#!/usr/bin/env node
// Composition root of the session-manager process: parse flags, load config, start one node, and
// wire signals to a graceful stop. Nothing else lives here.
import { parseStartArgs } from './cli/args.js';
import { ConfigInvalidError } from './config/errors.js';
import { loadConfigFile, StaticConfigSource } from './config/loader.js';
import { SessionNode } from './node.js';
import { createLogger } from './telemetry/log.js';

/** Exit status for an unusable configuration (sysexits EX_CONFIG). */
const EXIT_CONFIG = 78;

async function main(): Promise<void> {
  let args;
  try {
    args = parseStartArgs(process.argv.slice(2), process.env);
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
  const node = new SessionNode({
    nodeId: args.nodeId,
    listen: args.listen,
    etcd: {
      endpoints: args.etcdEndpoints,
      ...(args.etcdCaFile || args.etcdCertFile ? { tls: { caFile: args.etcdCaFile, certFile: args.etcdCertFile, keyFile: args.etcdKeyFile } } : {}),
      ...(args.etcdUsername ? { auth: { username: args.etcdUsername, password: args.etcdPassword ?? '' } } : {}),
    },
    prefix: args.prefix,
    config: new StaticConfigSource(config),
    logger: log,
    drainDelayMs: args.drainDelayMs,
    shutdownGraceMs: args.shutdownGraceMs,
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      log.flush();
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'stopping');
    node.stop().then(
      () => {
        log.flush();
        process.exit(0);
      },
      (err: Error) => {
        log.error({ err: err.message }, 'stop failed');
        log.flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await node.start();
  } catch (err) {
    log.error({ err: (err as Error).message }, 'start failed');
    log.flush();
    process.exit(1);
  }
  process.stdout.write(''); // keep stdout open for the logger
}

void main();
