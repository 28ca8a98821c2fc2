// sessionctl commands on one live session, as a web application would call them: validate,
// heartbeat, read, and the user's own session list.
import { UsageError } from './ctl-credentials.js';
import { command, verdictExit } from './ctl-command.js';
import { plain, table } from './ctl-output.js';

/** `validate`: check a session as a request would (counts a hit). */
export const validate = command(
  { args: '<session-id>', summary: 'check a session as a request would (counts a hit); exit 1 unless VALID', positionals: 1 },
  async (ctx, [sessionId]) => {
    const r = await ctx.session().validateSession({ sessionId: sessionId! });
    ctx.out(plain(r.valid ? { verdict: r.verdict, session: r.session } : { verdict: r.verdict }));
    return verdictExit(r.valid);
  },
);

/** `heartbeat`: keep a session alive without a hit. */
export const heartbeat = command(
  { args: '<session-id> [--instance I]', summary: 'keep a session alive without a hit; exit 1 unless VALID', flags: ['instance'], positionals: 1 },
  async (ctx, [sessionId]) => {
    const r = await ctx.session().heartbeat({ sessionId: sessionId!, instanceId: ctx.cl.get('instance')! });
    ctx.out({ verdict: r.verdict });
    return verdictExit(r.valid);
  },
);

/** `get`: show a session without touching it. */
export const get = command(
  { args: '<session-id>', summary: 'show a session without touching it', positionals: 1 },
  async (ctx, [sessionId]) => ctx.out(plain(await ctx.session().getSession(sessionId!))),
);

/** `my-sessions`: the user's own sessions at the site, listed through one of them. */
export const mySessions = command(
  { args: '<session-id>', summary: "list the user's own sessions at the site through one of them (* marks that one)", positionals: 1 },
  async (ctx, [sessionId]) => {
    const sessions = plain(await ctx.session().listMySessions(sessionId!)) as Array<Record<string, unknown>>;
    const columns = ['', 'HANDLE', 'TYPE', 'DEVICE', 'CREATED', 'LAST ACCESS', 'PRESENT', 'PERSISTENT'];
    const row = (s: Record<string, unknown>) => [s['current'] ? '*' : '', String(s['handle']), String(s['clientType']), String(s['deviceId']), String(s['createTime']), String(s['lastAccessTime']), String(s['present']), String(s['persistent'])];
    ctx.out({ sessions }, () => table(columns, sessions.map(row)), true);
  },
);

/** `end-mine`: end the user's other sessions, all of them, or one by handle. */
export const endMine = command(
  { args: '<session-id> [--scope others|all] [--handle H]', summary: "end the user's other sessions (default), all of them, or one by handle", flags: ['scope', 'handle'], positionals: 1 },
  async (ctx, [sessionId]) => {
    const handle = ctx.cl.get('handle');
    const scope = ctx.cl.get('scope') ?? 'others';
    if (scope !== 'others' && scope !== 'all') throw new UsageError('--scope is others or all');
    if (handle !== undefined && ctx.cl.get('scope') !== undefined) throw new UsageError('give --scope or --handle, not both');
    ctx.out({ ended: await ctx.session().endMySessions(sessionId!, handle !== undefined ? { handle } : scope) });
  },
);
