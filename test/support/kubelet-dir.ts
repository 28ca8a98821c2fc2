import { mkdirSync, mkdtempSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * KubeletDir lays out and updates a directory the way kubelet's AtomicWriter does for a ConfigMap
 * volume (pkg/volume/util/atomic_writer.go):
 *
 *   ..2026_11_22_00_00_00.1/cluster-config.properties   the data, in a timestamped directory
 *   ..data -> ..2026_11_22_00_00_00.1                   swapped atomically on update
 *   cluster-config.properties -> ..data/cluster-config.properties
 *
 * An update writes a new timestamped directory, points a `..data_tmp` symlink at it, renames
 * `..data_tmp` over `..data` (one atomic rename), then removes the old directory. The visible file
 * is a symlink whose own inode never changes.
 */
export class KubeletDir {
  readonly dir: string;
  private generation = 0;

  constructor(files: Record<string, string>, dir = mkdtempSync(join(tmpdir(), 'sm-configmap-'))) {
    this.dir = dir;
    const first = this.writeData(files);
    symlinkSync(first, join(this.dir, '..data'));
    for (const name of Object.keys(files)) symlinkSync(join('..data', name), join(this.dir, name));
  }

  /** The path a pod reads one key at. */
  path(name: string): string {
    return join(this.dir, name);
  }

  /** Replaces the content of every key, exactly as kubelet does when the ConfigMap changes. */
  update(files: Record<string, string>): void {
    const old = readlinkSync(join(this.dir, '..data'));
    const next = this.writeData(files);
    const tmp = join(this.dir, '..data_tmp');
    symlinkSync(next, tmp);
    renameSync(tmp, join(this.dir, '..data'));
    rmSync(join(this.dir, old), { recursive: true, force: true });
  }

  /** Removes the whole directory. */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Writes a new timestamped data directory; returns its name (relative, as kubelet links it). */
  private writeData(files: Record<string, string>): string {
    const name = `..2026_11_22_00_00_00.${++this.generation}`;
    mkdirSync(join(this.dir, name));
    for (const [file, text] of Object.entries(files)) writeFileSync(join(this.dir, name, file), text);
    return name;
  }
}
