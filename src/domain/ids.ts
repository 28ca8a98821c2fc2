/** Length of a session id: 32 random bytes in URL-safe base64 without padding (SPEC rule 13). */
export const SESSION_ID_LENGTH = 43;
/** Number of random bytes behind a session id (256 bits). */
export const SESSION_ID_BYTES = 32;

const ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** Formats random bytes as a session id; the caller supplies the randomness. */
export function formatSessionId(random: Uint8Array): string {
  if (random.length !== SESSION_ID_BYTES) throw new RangeError(`session id needs ${SESSION_ID_BYTES} random bytes`);
  return Buffer.from(random).toString('base64url');
}

/** Reports whether a string has the shape of a session id (a cheap check before any lookup). */
export function isWellFormedSessionId(id: string): boolean {
  return id.length === SESSION_ID_LENGTH && ID_PATTERN.test(id);
}
