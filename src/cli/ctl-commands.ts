// The command table of sessionctl (its order is the order of the help) and the help text built
// from it; the commands themselves live in one file per group (ctl-*-commands.ts).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { UsageError } from './ctl-credentials.js';
import { CLIENT_TYPES, command, GLOBAL_FLAGS, type Command } from './ctl-command.js';
import { CTL_FLAGS, type FlagName } from './ctl-flags.js';
import { attrDel, attrGet, attrSet } from './ctl-attribute-commands.js';
import { create, end, reauth, resume } from './ctl-login-commands.js';
import { endMine, get, heartbeat, mySessions, validate } from './ctl-session-commands.js';
import { events, list, revoke, revokeUser, status } from './ctl-admin-commands.js';

/** `version`: the versions of sessionctl, its client library and node. */
const version = command({ args: '', summary: 'print the versions of sessionctl and its client library', positionals: 0 }, async (ctx) => {
  const req = createRequire(import.meta.url);
  const own = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const client = req('@session-manager/client/package.json') as { version: string };
  ctx.out({ sessionctl: own.version, client: client.version, node: process.version });
});

/** `help`: the usage of sessionctl or of one command. */
const help = command({ args: '[command]', summary: 'show help for sessionctl or one command' }, async (_ctx, [cmd]) => {
  if (cmd !== undefined && !COMMANDS[cmd]) throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
  process.stdout.write((cmd ? commandHelp(cmd) : usage()) + '\n');
});

/** Every command by name, in the order `sessionctl --help` lists them. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  create,
  validate,
  heartbeat,
  get,
  end,
  resume,
  'my-sessions': mySessions,
  'end-mine': endMine,
  'attr-get': attrGet,
  'attr-set': attrSet,
  'attr-del': attrDel,
  reauth,
  list,
  revoke,
  'revoke-user': revokeUser,
  status,
  events,
  version,
  help,
};

function flagLine(name: FlagName): string {
  const f: { env: string; help: string; default?: string; short?: string } = CTL_FLAGS[name];
  return `  ${(('short' in f && f.short ? `-${f.short}, ` : '') + `--${name}`).padEnd(16)} ${f.help}${f.default ? ` (default ${f.default})` : ''} [$${f.env}]`;
}

/** The help of sessionctl: every command, the global flags, client types and exit codes. */
export function usage(): string {
  const cmds = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return [
    'sessionctl: command-line client of session-manager',
    '',
    'usage: sessionctl [global flags] <command> [args] [flags]',
    '',
    'commands:',
    ...cmds,
    '',
    'global flags (each also from its environment variable; a flag wins):',
    ...GLOBAL_FLAGS.map(flagLine),
    '  -h, --help       show help; `sessionctl help <command>` for one command',
    '',
    `client types: ${CLIENT_TYPES.join(', ')}`,
    'exit codes: 0 done; 1 the service said no (verdict not VALID, NOT_FOUND…); 2 usage error; 3 unavailable or timed out',
  ].join('\n');
}

/** The help of one command (which must be in COMMANDS): synopsis, summary and its own flags. */
export function commandHelp(name: string): string {
  const c = COMMANDS[name]!;
  return [
    `usage: sessionctl ${name} ${c.args}`.trimEnd(),
    '',
    c.summary + (c.admin ? '\nneeds an admin credential (--token-file or a client certificate the server lists)' : ''),
    ...(c.flags.length ? ['', 'flags:', ...c.flags.map(flagLine)] : []),
    '',
    'global flags: ' + GLOBAL_FLAGS.map((f) => `--${f}`).join(' ') + ' (see sessionctl --help)',
  ].join('\n');
}
