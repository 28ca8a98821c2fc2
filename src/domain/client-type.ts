/** The client types a session can have; each has its own timeout policy (SPEC: concepts). */
export const CLIENT_TYPES = ['web', 'desktop', 'plugin', 'mobile', 'widget', 'api', 'admin'] as const;

/** One of CLIENT_TYPES. */
export type ClientType = (typeof CLIENT_TYPES)[number];

/** Reports whether a string names a known client type. */
export function isClientType(value: string): value is ClientType {
  return (CLIENT_TYPES as readonly string[]).includes(value);
}
