// What every sessionctl command is built from: the context a command runs in, the command shape
// the table holds, and the argument checks the commands share.
import { ClientType, type AdminClient, type SessionClient } from '@session-manager/client';
import { UsageError } from './ctl-credentials.js';
import type { FlagName, ParsedCommandLine } from './ctl-flags.js';
import type { OutputFormat } from './ctl-output.js';

/** The client types `--type` accepts, in the order of the API's ClientType values (1-based). */
export const CLIENT_TYPES = ['web', 'desktop', 'plugin', 'mobile', 'widget', 'api', 'admin'] as const;

/** The flags every command takes, listed in the global help. */
export const GLOBAL_FLAGS: FlagName[] = ['endpoints', 'output', 'timeout', 'token-file', 'ca-file', 'cert-file', 'key-file', 'server-name'];

/** What a command runs with: the command line, its own arguments, lazily made clients and the printer. */
export interface CommandContext {
  /** The parsed command line (flags of every command; values apply flag > environment > default). */
  cl: ParsedCommandLine;
  /** The positional arguments after the command name. */
  args: string[];
  /** The `-o` format when one was given. */
  format: OutputFormat | undefined;
  /** The command's name, for usage errors. */
  name: string;
  /** The command's argument synopsis (Command.args), for usage errors. */
  synopsis: string;
  /** A SessionClient, closed when the command returns. */
  session: () => SessionClient;
  /** An AdminClient, closed when the command returns. */
  admin: () => AdminClient;
  /** Prints plain data in the chosen format; `tabular` is the table form, `listDefault` makes table the default. */
  out: (data: unknown, tabular?: () => string, listDefault?: boolean) => void;
}

/** One sessionctl command: its synopsis and help, its own flags, and what it does (returns the exit code). */
export interface Command {
  /** Argument synopsis shown after `sessionctl <name>`. */
  args: string;
  /** One line of help. */
  summary: string;
  /** The command's own flags (listed in its help; the global flags apply too). */
  flags: FlagName[];
  /** Needs an admin credential (said in its help). */
  admin?: boolean;
  /** Runs the command; resolves to its exit code. */
  run(ctx: CommandContext): Promise<number>;
}

/** Checks that the command got exactly `n` positional arguments and returns them. */
function need(ctx: CommandContext, n: number): string[] {
  if (ctx.args.length < n) throw new UsageError(`${ctx.name} needs ${n} argument(s): sessionctl ${ctx.name} ${ctx.synopsis}`);
  if (ctx.args.length > n) throw new UsageError(`${ctx.name}: unexpected argument ${JSON.stringify(ctx.args[n])}`);
  return ctx.args;
}

/** The API ClientType of a `--type` name (unspecified when none is given). */
export function clientTypeOf(name: string | undefined): ClientType {
  if (name === undefined) return ClientType.CLIENT_TYPE_UNSPECIFIED;
  const i = CLIENT_TYPES.indexOf(name as (typeof CLIENT_TYPES)[number]);
  if (i < 0) throw new UsageError(`unknown --type ${JSON.stringify(name)}; one of ${CLIENT_TYPES.join(', ')}`);
  return (i + 1) as ClientType;
}

/** How a command is declared: its synopsis, its help line, its own flags, and the exact number of positional arguments (unchecked when absent). */
export interface CommandSpec {
  /** As Command.args. */
  args: string;
  /** As Command.summary. */
  summary: string;
  /** As Command.flags; default none. */
  flags?: FlagName[];
  /** As Command.admin. */
  admin?: boolean;
  /** The exact number of positional arguments; default unchecked. */
  positionals?: number;
}

/**
 * Declares a command: the positional arguments are checked against `spec.positionals` before `run`
 * gets them, and a run that returns no number exits 0.
 */
export function command(spec: CommandSpec, run: (ctx: CommandContext, args: string[]) => Promise<unknown>): Command {
  const { positionals, flags = [], ...rest } = spec;
  return {
    ...rest,
    flags,
    async run(ctx) {
      const args = positionals === undefined ? ctx.args : need(ctx, positionals);
      const code = await run(ctx, args);
      // An expression-bodied run returns whatever its last call returned: only a number is an exit code.
      return typeof code === 'number' ? code : 0;
    },
  };
}

/** Exit code of a verdict: 0 when VALID, 1 otherwise. */
export const verdictExit = (valid: boolean): number => (valid ? 0 : 1);
