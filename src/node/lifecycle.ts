import type { Transitions } from '../lifecycle/lifecycle.js';

/**
 * Lifecycle of a node, in order: `new` until start(); `starting` while it binds and syncs (liveness
 * up, readiness down); `serving`; `draining` during stop() (NOT_SERVING, in-flight calls finish);
 * `stopped` (terminal). kill() goes to `stopped` from anywhere. Illegal transitions throw.
 */
export type NodeState = 'new' | 'starting' | 'serving' | 'draining' | 'stopped';

/** The node's state table (ARCHITECTURE rule 3): stop() may begin before start() finished. */
export const NODE_TRANSITIONS: Transitions<NodeState> = {
  new: ['starting', 'draining', 'stopped'],
  starting: ['serving', 'draining', 'stopped'],
  serving: ['draining', 'stopped'],
  draining: ['stopped'],
  stopped: [],
};

/** Whether calls are accepted in `state`: while serving, and while draining so in-flight work finishes. */
export function acceptsCalls(state: NodeState): boolean {
  return state === 'serving' || state === 'draining';
}
