#!/usr/bin/env node
// sessionctl: the command-line client of session-manager, built on @session-manager/client.
// Exit codes: 0 done; 1 the service said no (a verdict other than VALID, or an error such as
// NOT_FOUND); 2 a usage error; 3 the service was unavailable or the call timed out.
import { readFileSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { createRequire } from 'node:module';
import {
  AdminClient,
  ClientType,
  SessionClient,
  SessionManagerError,
  SessionState,
  UnavailableError,
  type ClientOptions,
  type WatchEventsResponse,
} from '@session-manager/client';
import { resolveCredentials, UsageError } from './ctl-credentials.js';
import { CTL_FLAGS, parseCommandLine, type FlagName, type ParsedCommandLine } from './ctl-flags.js';
import { age, OUTPUT_FORMATS, parseDuration, plain, render, table, type OutputFormat } from './ctl-output.js';

const CLIENT_TYPES = ['web', 'desktop', 'plugin', 'mobile', 'widget', 'api', 'admin'] as const;
const GLOBAL_FLAGS: FlagName[] = ['endpoints', 'output', 'timeout', 'token-file', 'ca-file', 'cert-file', 'key-file', 'server-name'];

interface Ctx {
  cl: ParsedCommandLine;
  args: string[];
  format: OutputFormat | undefined;
  session: () => SessionClient;
  admin: () => AdminClient;
  out: (data: unknown, tabular?: () => string, listDefault?: boolean) => void;
}

interface Command {
  args: string;
  summary: string;
  flags: FlagName[];
  admin?: boolean;
  run(ctx: Ctx): Promise<number>;
}

function need(ctx: Ctx, n: number, cmd: string): string[] {
  if (ctx.args.length < n) throw new UsageError(`${cmd} needs ${n} argument(s): sessionctl ${cmd} ${COMMANDS[cmd]!.args}`);
  if (ctx.args.length > n) throw new UsageError(`${cmd}: unexpected argument ${JSON.stringify(ctx.args[n])}`);
  return ctx.args;
}

function clientTypeOf(name: string | undefined): ClientType {
  if (name === undefined) return ClientType.CLIENT_TYPE_UNSPECIFIED;
  const i = CLIENT_TYPES.indexOf(name as (typeof CLIENT_TYPES)[number]);
  if (i < 0) throw new UsageError(`unknown --type ${JSON.stringify(name)}; one of ${CLIENT_TYPES.join(', ')}`);
  return (i + 1) as ClientType;
}

const verdictExit = (valid: boolean) => (valid ? 0 : 1);

const COMMANDS: Record<string, Command> = {
  create: {
    args: '--user U [--site S] [--type T] [--device D] [--attr name=value ...]',
    summary: 'log in; prints the secret session id and the session',
    flags: ['site', 'user', 'type', 'device', 'attr', 'persistent'],
    async run(ctx) {
      need(ctx, 0, 'create');
      const attributes: Record<string, string> = {};
      for (const a of ctx.cl.list('attr')) {
        const eq = a.indexOf('=');
        if (eq <= 0) throw new UsageError(`--attr wants name=value, got ${JSON.stringify(a)}`);
        attributes[a.slice(0, eq)] = a.slice(eq + 1);
      }
      const res = await ctx.session().createSession({
        site: ctx.cl.get('site') ?? 'default',
        user: ctx.cl.get('user') ?? '',
        clientType: clientTypeOf(ctx.cl.get('type') ?? 'web'),
        deviceId: ctx.cl.get('device') ?? 'sessionctl',
        attributes,
        persistent: ctx.cl.bool('persistent'),
      });
      ctx.out(plain(res));
      return 0;
    },
  },
  validate: {
    args: '<session-id>',
    summary: 'check a session as a request would (counts a hit); exit 1 unless VALID',
    flags: [],
    async run(ctx) {
      const [sessionId] = need(ctx, 1, 'validate');
      const r = await ctx.session().validateSession({ sessionId: sessionId! });
      ctx.out(plain(r.valid ? { verdict: r.verdict, session: r.session } : { verdict: r.verdict }));
      return verdictExit(r.valid);
    },
  },
  heartbeat: {
    args: '<session-id> [--instance I]',
    summary: 'keep a session alive without a hit; exit 1 unless VALID',
    flags: ['instance'],
    async run(ctx) {
      const [sessionId] = need(ctx, 1, 'heartbeat');
      const r = await ctx.session().heartbeat({ sessionId: sessionId!, instanceId: ctx.cl.get('instance')! });
      ctx.out({ verdict: r.verdict });
      return verdictExit(r.valid);
    },
  },
  get: {
    args: '<session-id>',
    summary: 'show a session without touching it',
    flags: [],
    async run(ctx) {
      const [sessionId] = need(ctx, 1, 'get');
      ctx.out(plain(await ctx.session().getSession(sessionId!)));
      return 0;
    },
  },
  end: {
    args: '<session-id> [--forget]',
    summary: 'log out: end the session and destroy its data (--forget: also revoke its persistent login)',
    flags: ['forget'],
    async run(ctx) {
      const [sessionId] = need(ctx, 1, 'end');
      await ctx.session().endSession(sessionId!, { forgetLogin: ctx.cl.bool('forget') });
      ctx.out({ ended: true });
      return 0;
    },
  },
  resume: {
    args: '<login-token> [--device D]',
    summary: 'resume a persistent login: prints the new session id and the rotated login token (the given one is spent)',
    flags: ['device'],
    async run(ctx) {
      const [token] = need(ctx, 1, 'resume');
      ctx.out(plain(await ctx.session().resumeSession(token!, ctx.cl.get('device') ?? 'sessionctl')));
      return 0;
    },
  },
  'my-sessions': {
    args: '<session-id>',
    summary: "list the user's own sessions at the site through one of them (* marks that one)",
    flags: [],
    async run(ctx) {
      const [sessionId] = need(ctx, 1, 'my-sessions');
      const sessions = plain(await ctx.session().listMySessions(sessionId!)) as Array<Record<string, unknown>>;
      ctx.out(
        { sessions },
        () =>
          table(
            ['', 'HANDLE', 'TYPE', 'DEVICE', 'CREATED', 'LAST ACCESS', 'PRESENT', 'PERSISTENT'],
            sessions.map((s) => [s['current'] ? '*' : '', String(s['handle']), String(s['clientType']), String(s['deviceId']), String(s['createTime']), String(s['lastAccessTime']), String(s['present']), String(s['persistent'])]),
          ),
        true,
      );
      return 0;
    },
  },
  'end-mine': {
    args: '<session-id> [--scope others|all] [--handle H]',
    summary: "end the user's other sessions (default), all of them, or one by handle",
    flags: ['scope', 'handle'],
    async run(ctx) {
      const [sessionId] = need(ctx, 1, 'end-mine');
      const handle = ctx.cl.get('handle');
      const scope = ctx.cl.get('scope') ?? 'others';
      if (scope !== 'others' && scope !== 'all') throw new UsageError('--scope is others or all');
      if (handle !== undefined && ctx.cl.get('scope') !== undefined) throw new UsageError('give --scope or --handle, not both');
      ctx.out({ ended: await ctx.session().endMySessions(sessionId!, handle !== undefined ? { handle } : scope) });
      return 0;
    },
  },
  'attr-get': {
    args: '<session-id> <name>',
    summary: 'read one attribute with its etag',
    flags: [],
    async run(ctx) {
      const [sessionId, name] = need(ctx, 2, 'attr-get');
      ctx.out(plain(await ctx.session().getAttribute(sessionId!, name!)));
      return 0;
    },
  },
  'attr-set': {
    args: '<session-id> <name> <value> [--etag E] [--create-only]',
    summary: 'write one attribute; prints the new etag',
    flags: ['etag', 'create-only'],
    async run(ctx) {
      const [sessionId, name, value] = need(ctx, 3, 'attr-set');
      const etag = ctx.cl.get('etag');
      ctx.out(await ctx.session().setAttribute(sessionId!, name!, value!, { ...(etag ? { etag } : {}), createOnly: ctx.cl.bool('create-only') }));
      return 0;
    },
  },
  'attr-del': {
    args: '<session-id> <name> [--etag E]',
    summary: 'delete one attribute',
    flags: ['etag'],
    async run(ctx) {
      const [sessionId, name] = need(ctx, 2, 'attr-del');
      const etag = ctx.cl.get('etag');
      await ctx.session().deleteAttribute(sessionId!, name!, etag ? { etag } : {});
      ctx.out({ deleted: true });
      return 0;
    },
  },
  reauth: {
    args: '<session-id> --user U',
    summary: 're-authenticate after the absolute timeout; prints the new session id',
    flags: ['user'],
    async run(ctx) {
      const [sessionId] = need(ctx, 1, 'reauth');
      ctx.out(plain(await ctx.session().reauthenticate(sessionId!, ctx.cl.get('user') ?? '')));
      return 0;
    },
  },
  list: {
    args: '[--site S] [--user U] [--type T] [--state active|reauth] [--page-size N] [--page-token P] [--all]',
    summary: 'list sessions (admin); one page unless --all',
    flags: ['site', 'user', 'type', 'state', 'page-size', 'page-token', 'all'],
    admin: true,
    async run(ctx) {
      need(ctx, 0, 'list');
      const s = ctx.cl.get('state');
      const state =
        s === undefined ? SessionState.SESSION_STATE_UNSPECIFIED
        : s === 'active' ? SessionState.SESSION_STATE_ACTIVE
        : s === 'reauth' ? SessionState.SESSION_STATE_REAUTH_REQUIRED
        : (() => {
            throw new UsageError('--state is active or reauth');
          })();
      const ps = ctx.cl.get('page-size');
      const pageSize = ps === undefined ? 0 : Number(ps);
      if (!Number.isInteger(pageSize) || pageSize < 0) throw new UsageError('--page-size must be a whole number >= 0');
      const req = { site: ctx.cl.get('site') ?? '', user: ctx.cl.get('user') ?? '', clientType: clientTypeOf(ctx.cl.get('type')), state, pageSize };
      const admin = ctx.admin();
      let sessions: unknown[] = [];
      let nextPageToken = '';
      if (ctx.cl.bool('all')) {
        for await (const s of admin.listAllSessions(req)) sessions.push(s);
      } else {
        const page = await admin.listSessions({ ...req, pageToken: ctx.cl.get('page-token') ?? '' });
        sessions = page.sessions;
        nextPageToken = page.nextPageToken;
      }
      const data = plain({ sessions, nextPageToken }) as { sessions: Array<{ sessionRef: string; session: Record<string, unknown> }>; nextPageToken: string };
      ctx.out(
        data,
        () =>
          table(
            ['REF', 'SITE', 'USER', 'TYPE', 'STATE', 'DEVICE', 'AGE', 'IDLE', 'HITS'],
            data.sessions.map(({ sessionRef, session: s }) => [sessionRef, s['site'], s['user'], s['clientType'], s['state'], s['deviceId'], age(s['createTime']), age(s['lastAccessTime']), s['hitCount']]),
          ) + (data.nextPageToken ? `\n\nmore: --page-token ${data.nextPageToken}` : ''),
        true,
      );
      return 0;
    },
  },
  revoke: {
    args: '<session-ref>',
    summary: 'end one session (REVOKED) by the REF that list shows (admin)',
    flags: [],
    admin: true,
    async run(ctx) {
      const [ref] = need(ctx, 1, 'revoke');
      await ctx.admin().revokeSession(ref!);
      ctx.out({ revoked: 1 });
      return 0;
    },
  },
  'revoke-user': {
    args: '--site S --user U',
    summary: "end all of a user's sessions at a site (admin)",
    flags: ['site', 'user'],
    admin: true,
    async run(ctx) {
      need(ctx, 0, 'revoke-user');
      ctx.out({ revoked: await ctx.admin().revokeUserSessions(ctx.cl.get('site') ?? '', ctx.cl.get('user') ?? '') });
      return 0;
    },
  },
  status: {
    args: '',
    summary: 'nodes, scavenger leader, config version, session counts (admin)',
    flags: [],
    admin: true,
    async run(ctx) {
      need(ctx, 0, 'status');
      const st = plain(await ctx.admin().getClusterStatus()) as {
        nodes?: Array<Record<string, unknown>>;
        sessionCounts?: Array<Record<string, unknown>>;
        scavengerLeader?: string;
        configVersion?: string;
        configError?: string;
      };
      ctx.out(
        st,
        () =>
          [
            `scavenger leader: ${st.scavengerLeader || '-'}`,
            `config version:   ${st.configVersion || '-'}${st.configError ? `\nconfig error:     ${st.configError}` : ''}`,
            '',
            table(['NODE', 'AGE', 'CONFIG'], (st.nodes ?? []).map((n) => [n['nodeId'], age(n['startTime']), n['configVersion']])),
            '',
            table(['SITE', 'TYPE', 'SESSIONS'], (st.sessionCounts ?? []).map((c) => [c['site'], c['clientType'], c['count']])),
          ].join('\n'),
        true,
      );
      return 0;
    },
  },
  events: {
    args: '[--from TOKEN]',
    summary: 'follow lifecycle events until Ctrl-C (admin); resume with --from',
    flags: ['from'],
    admin: true,
    async run(ctx) {
      need(ctx, 0, 'events');
      const format = ctx.format ?? 'table';
      const stream = ctx.admin().watchEvents(ctx.cl.get('from') ?? '');
      let header = false;
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (e: WatchEventsResponse) => {
          const p = plain(e) as Record<string, unknown>;
          if (format === 'json') process.stdout.write(JSON.stringify(p) + '\n');
          else if (format === 'yaml') process.stdout.write('---\n' + render(p, 'yaml') + '\n');
          else {
            const cols = ['TIME', 'EVENT', 'REASON', 'SITE', 'USER', 'TYPE', 'REF', 'RESUME'];
            const row = [p['time'], p['type'], p['endReason'] === 'UNSPECIFIED' ? '' : p['endReason'], p['site'], p['user'], p['clientType'], p['sessionRef'], p['resumeToken']];
            const t = table(cols, [row]).split('\n');
            if (!header) process.stdout.write(t[0] + '\n');
            header = true;
            process.stdout.write(t[1] + '\n');
          }
        });
        stream.on('error', (err: Error & { code?: number }) => (err.code === 1 ? resolve() : reject(err)));
        stream.on('end', resolve);
        process.once('SIGINT', () => {
          stream.cancel();
          resolve();
        });
      });
      return 0;
    },
  },
  version: {
    args: '',
    summary: 'print the versions of sessionctl and its client library',
    flags: [],
    async run(ctx) {
      need(ctx, 0, 'version');
      const req = createRequire(import.meta.url);
      const own = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
      const client = req('@session-manager/client/package.json') as { version: string };
      ctx.out({ sessionctl: own.version, client: client.version, node: process.version });
      return 0;
    },
  },
  help: {
    args: '[command]',
    summary: 'show help for sessionctl or one command',
    flags: [],
    async run(ctx) {
      const [cmd] = ctx.args;
      if (cmd !== undefined && !COMMANDS[cmd]) throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
      process.stdout.write((cmd ? commandHelp(cmd) : usage()) + '\n');
      return 0;
    },
  },
};

function flagLine(name: FlagName): string {
  const f: { env: string; help: string; default?: string; short?: string } = CTL_FLAGS[name];
  return `  ${(('short' in f && f.short ? `-${f.short}, ` : '') + `--${name}`).padEnd(16)} ${f.help}${f.default ? ` (default ${f.default})` : ''} [$${f.env}]`;
}

function usage(): string {
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

function commandHelp(name: string): string {
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

/** Expands several endpoints to IP addresses (grpc-js balances over IP lists, not over several names). */
async function endpointsOf(cl: ParsedCommandLine): Promise<{ endpoints: string[]; serverName?: string }> {
  const given = cl.flag('endpoints') ?? cl.flag('addr') ?? cl.envValue('endpoints') ?? cl.envValue('addr') ?? CTL_FLAGS.endpoints.default;
  const raw = given
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (raw.length === 0) throw new UsageError('--endpoints is empty');
  if (raw.length === 1) return { endpoints: raw };
  const out: string[] = [];
  let serverName: string | undefined;
  for (const ep of raw) {
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(ep);
    if (!m) throw new UsageError(`--endpoints: ${JSON.stringify(ep)} is not host:port`);
    const host = m[1] ?? m[2]!;
    if (isIP(host)) {
      out.push(ep);
      continue;
    }
    serverName ??= host;
    for (const a of await lookup(host, { all: true, family: 4 })) out.push(`${a.address}:${m[3]}`);
  }
  return { endpoints: out, ...(serverName ? { serverName } : {}) };
}

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
    let options: ClientOptions | undefined;
    const optionsOf = async (): Promise<ClientOptions> => {
      if (options) return options;
      const ep = await endpointsOf(cl);
      const tls = creds.tls ?? undefined;
      options = {
        endpoints: ep.endpoints,
        deadlineMs,
        ...(creds.token ? { token: creds.token } : {}),
        ...(tls ? { tls: ep.serverName && !tls.serverName ? { ...tls, serverName: ep.serverName } : tls } : {}),
      };
      return options;
    };
    const needsClient = name !== 'help' && name !== 'version';
    const opts = needsClient ? await optionsOf() : undefined;
    const ctx: Ctx = {
      cl,
      args,
      format,
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
      out: (data, tabular, listDefault) => process.stdout.write(render(data, format ?? (listDefault ? 'table' : 'yaml'), tabular) + '\n'),
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
