import { parseClusterConfig } from '../../../src/config/schema.js';
import type { ClusterPolicy } from '../../../src/domain/policy.js';

/** A cluster policy from properties text (defaults for every key not given); throws on a bad key. */
export function policyOf(text = ''): ClusterPolicy {
  const r = parseClusterConfig(text);
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.policy;
}

/** A fixed config source over `policy` (what the app reads of a ConfigSource: current()). */
export function configOf(policy: ClusterPolicy) {
  return {
    current: () => ({ policy, version: 'test', source: 'test' }),
    onChange: () => () => {},
  };
}
