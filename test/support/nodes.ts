import { pino } from 'pino';
import { loadConfigText, StaticConfigSource } from '../../src/config/loader.js';
import type { ConfigSource } from '../../src/domain/ports.js';
import type { Clock } from '../../src/domain/clock.js';
import { SessionNode, type SessionNodeOptions } from '../../src/node/session-node.js';
import { SessionApi } from '../../src/transport/grpc/client.js';

let counter = 0;

/** A node under test with a client connected to it. */
export interface TestNode {
  node: SessionNode;
  api: SessionApi;
  address: string;
  stop(): Promise<void>;
}

/** Builds a ConfigSource from properties text (throws on invalid text). */
export function configOf(text = ''): ConfigSource {
  return new StaticConfigSource(loadConfigText(text, 'test'));
}

/** Starts an in-process node on port 0 against the given etcd endpoints. */
export async function startNode(options: {
  endpoints: string[];
  config?: string | ConfigSource;
  clock?: Clock;
  prefix?: string;
  nodeId?: string;
  /** Extra node options (short leases, admin token, stream limits…). */
  node?: Partial<SessionNodeOptions>;
}): Promise<TestNode> {
  const node = new SessionNode({
    nodeId: options.nodeId ?? `test-${++counter}`,
    listen: '127.0.0.1:0',
    etcd: { endpoints: options.endpoints, requestTimeoutMs: 2000 },
    prefix: options.prefix ?? '/sm-test/',
    config: typeof options.config === 'object' ? options.config : configOf(options.config ?? ''),
    ...(options.clock ? { clock: options.clock } : {}),
    logger: pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }),
    shutdownGraceMs: 2000,
    // In-process test nodes run without caller authentication unless a test turns it on
    // (test/integration/caller-auth.test.ts); processes started from dist/src/main.js require it.
    allowAnonymous: true,
    ...options.node,
  });
  await node.start();
  const address = `127.0.0.1:${node.port}`;
  const api = new SessionApi(address, { timeoutMs: 5000 });
  return {
    node,
    api,
    address,
    async stop() {
      api.close();
      await node.stop();
    },
  };
}
