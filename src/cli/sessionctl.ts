#!/usr/bin/env node
// sessionctl: the command-line client of session-manager, built on @session-manager/client.
// Exit codes: 0 done; 1 the service said no (a verdict other than VALID, or an error such as
// NOT_FOUND); 2 a usage error; 3 the service was unavailable or the call timed out.
// This file is the entry point: it parses the command line, builds the clients and maps errors to
// exit codes; the commands are in ctl-commands.ts.
import { AdminClient, SessionClient, SessionManagerError, UnavailableError, type ClientOptions } from '@session-manager/client';
import type { CommandContext } from './ctl-command.js';
import { commandHelp, COMMANDS, usage } from './ctl-commands.js';
import { resolveCredentials, UsageError } from './ctl-credentials.js';
import { clientOptionsOf } from './ctl-endpoints.js';
import { parseCommandLine, type ParsedCommandLine } from './ctl-flags.js';
import { OUTPUT_FORMATS, parseDuration, render, type OutputFormat } from './ctl-output.js';

async function main(argv: string[]): Promise<number> {
  let cl: ParsedCommandLine;
  try {
    cl = parseCommandLine(argv, process.env);
  } catch (err) {
    process.stderr.write(`sessionctl: ${(err as Error).message}\nRun 'sessionctl --help' for usage.\n`);
    return 2;
  }
  const [name, ...args] = cl.positionals;
  if (cl.bool('help') || name === undefined) {
    process.stdout.write((name && COMMANDS[name] ? commandHelp(name) : usage()) + '\n');
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`sessionctl: unknown command ${JSON.stringify(name)}\nRun 'sessionctl --help' for usage.\n`);
    return 2;
  }
  const clients: Array<{ close(): void }> = [];
  try {
    const o = cl.get('output');
    if (o !== undefined && !(OUTPUT_FORMATS as readonly string[]).includes(o)) throw new UsageError(`-o must be one of ${OUTPUT_FORMATS.join(', ')}`);
    const format = o as OutputFormat | undefined;
    let deadlineMs: number;
    try {
      deadlineMs = parseDuration(cl.get('timeout')!);
    } catch (err) {
      throw new UsageError(`--timeout: ${(err as Error).message}`);
    }
    if (deadlineMs <= 0) throw new UsageError('--timeout must be more than 0');
    const creds = resolveCredentials(
      { tokenFile: cl.get('token-file'), caFile: cl.get('ca-file'), certFile: cl.get('cert-file'), keyFile: cl.get('key-file'), serverName: cl.get('server-name') },
      process.env,
    );
    const needsClient = name !== 'help' && name !== 'version';
    const opts: ClientOptions | undefined = needsClient ? await clientOptionsOf(cl, deadlineMs, creds) : undefined;
    const ctx: CommandContext = {
      cl,
      args,
      format,
      name,
      synopsis: cmd.args,
      session: () => {
        const c = new SessionClient(opts!);
        clients.push(c);
        return c;
      },
      admin: () => {
        const c = new AdminClient(opts!);
        clients.push(c);
        return c;
      },
      out: (data, tabular, listDefault) => {
        process.stdout.write(render(data, format ?? (listDefault ? 'table' : 'yaml'), tabular) + '\n');
      },
    };
    return await cmd.run(ctx);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`sessionctl: ${err.message}\nRun 'sessionctl help ${name}' for usage.\n`);
      return 2;
    }
    if (err instanceof SessionManagerError) {
      process.stderr.write(`sessionctl: ${err.message} [${err.reason}]\n`);
      return err instanceof UnavailableError ? 3 : 1;
    }
    process.stderr.write(`sessionctl: ${(err as Error).message}\n`);
    return 1;
  } finally {
    for (const c of clients) c.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`sessionctl: ${err.message}\n`);
    process.exit(1);
  },
);
