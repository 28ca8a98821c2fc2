import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

/** Shortest bearer token accepted; shorter lines of a token file are ignored (and reported). */
export const MIN_TOKEN_LENGTH = 16;

interface FileState {
  /** The stat signature the digests were read at; '' when the file is missing or unreadable. */
  sig: string;
  digests: Buffer[];
}

/** The SHA-256 digest a presented token is compared by. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/**
 * TokenFiles holds the bearer tokens of a set of files (one token per line), each file re-read when
 * its stat changes, at most every `recheckMs`. A deleted, unreadable or emptied file has no tokens
 * any more (fail closed), so removing a rotated-out token file revokes it.
 */
export class TokenFiles {
  private readonly files = new Map<string, FileState>();
  private checkedAt = -Infinity;
  /** Bumped whenever any file's tokens change (callers cache what a token resolved to per version). */
  version = 0;

  constructor(
    private readonly recheckMs: number,
    private readonly onProblem: (file: string, problem: string) => void = () => {},
  ) {
    if (!(recheckMs >= 0)) throw new Error('auth: token recheck interval must not be negative');
  }

  /** Makes `paths` the watched set (files no longer listed are forgotten) and reads them now. */
  setFiles(paths: Iterable<string>): void {
    const keep = new Set(paths);
    this.version++;
    for (const p of [...this.files.keys()]) if (!keep.has(p)) this.files.delete(p);
    for (const p of keep) if (!this.files.has(p)) this.files.set(p, { sig: '?', digests: [] });
    this.refresh(true);
  }

  /** Re-reads changed files if the recheck interval has passed (or `force`). */
  refresh(force = false): void {
    const now = performance.now();
    if (!force && now - this.checkedAt < this.recheckMs) return;
    this.checkedAt = now;
    for (const [path, st] of this.files) this.reload(path, st);
  }

  /** How many tokens `path` holds now (tests, start-up checks). */
  count(path: string): number {
    return this.files.get(path)?.digests.length ?? 0;
  }

  /**
   * The file holding `token`, or undefined. Every digest is compared in constant time and the loop
   * never stops early, so timing does not tell which file or line almost matched.
   */
  match(token: string): string | undefined {
    this.refresh();
    const got = tokenDigest(token);
    let found: string | undefined;
    for (const [path, st] of this.files) {
      for (const d of st.digests) if (timingSafeEqual(got, d) && found === undefined) found = path;
    }
    return found;
  }

  private reload(path: string, st: FileState): void {
    let sig = '';
    try {
      const s = statSync(path);
      sig = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (err) {
      if (st.sig !== '') this.onProblem(path, `token file unreadable (${(err as NodeJS.ErrnoException).code ?? 'error'}); its tokens are disabled`);
      if (st.sig !== '') this.version++;
      st.sig = '';
      st.digests = [];
      return;
    }
    if (sig === st.sig) return;
    this.version++;
    st.sig = sig;
    st.digests = [];
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      this.onProblem(path, `token file unreadable (${(err as NodeJS.ErrnoException).code ?? 'error'}); its tokens are disabled`);
      st.sig = '';
      return;
    }
    const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const line of lines) {
      if (line.length < MIN_TOKEN_LENGTH) {
        this.onProblem(path, `a token shorter than ${MIN_TOKEN_LENGTH} characters is ignored`);
        continue;
      }
      st.digests.push(tokenDigest(line));
    }
    if (st.digests.length === 0) this.onProblem(path, 'token file holds no token; its caller cannot use a token');
  }
}
