import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminApi } from '../../src/transport/grpc/client.js';
import type { TestNode } from './nodes.js';

/** A fresh admin token file for tests; returns the token and the path. */
export function adminTokenFile(): { token: string; file: string } {
  const token = `test-admin-token-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  const file = join(mkdtempSync(join(tmpdir(), 'sm-admin-')), 'token');
  writeFileSync(file, token + '\n');
  return { token, file };
}

/** An admin client for a test node. */
export function adminOf(n: TestNode, token: string | undefined): AdminApi {
  return new AdminApi(n.address, token, { timeoutMs: 5000 });
}
