/** ConfigInvalidError lists every invalid key of a rejected cluster-config.properties. */
export class ConfigInvalidError extends Error {
  readonly reason = 'CONFIG_INVALID';
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[]) {
    super(`config: ${source} rejected, ${problems.length} problem(s): ${problems.join('; ')}`);
    this.name = 'ConfigInvalidError';
    this.problems = problems;
  }
}
