// sessionctl's admin commands (they need an admin credential): list and revoke sessions, cluster
// status, and the lifecycle event stream.
import { SessionState, type WatchEventsResponse } from '@session-manager/client';
import { UsageError } from './ctl-credentials.js';
import { clientTypeOf, command } from './ctl-command.js';
import { age, plain, render, table } from './ctl-output.js';

/** The API SessionState of a `--state` filter (unspecified when none is given). */
function stateOf(s: string | undefined): SessionState {
  if (s === undefined) return SessionState.SESSION_STATE_UNSPECIFIED;
  if (s === 'active') return SessionState.SESSION_STATE_ACTIVE;
  if (s === 'reauth') return SessionState.SESSION_STATE_REAUTH_REQUIRED;
  throw new UsageError('--state is active or reauth');
}

/** `list`: one page of sessions (or every page with --all), filtered. */
export const list = command(
  { args: '[--site S] [--user U] [--type T] [--state active|reauth] [--page-size N] [--page-token P] [--all]', summary: 'list sessions (admin); one page unless --all', flags: ['site', 'user', 'type', 'state', 'page-size', 'page-token', 'all'], admin: true, positionals: 0 },
  async (ctx) => {
    const state = stateOf(ctx.cl.get('state'));
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
  },
);

/** `revoke`: end one session by the REF that list shows. */
export const revoke = command(
  { args: '<session-ref>', summary: 'end one session (REVOKED) by the REF that list shows (admin)', admin: true, positionals: 1 },
  async (ctx, [ref]) => {
    await ctx.admin().revokeSession(ref!);
    ctx.out({ revoked: 1 });
  },
);

/** `revoke-user`: end all of a user's sessions at a site. */
export const revokeUser = command(
  { args: '--site S --user U', summary: "end all of a user's sessions at a site (admin)", flags: ['site', 'user'], admin: true, positionals: 0 },
  async (ctx) => {
    ctx.out({ revoked: await ctx.admin().revokeUserSessions(ctx.cl.get('site') ?? '', ctx.cl.get('user') ?? '') });
  },
);

/** `status`: nodes, scavenger leader, config version and session counts. */
export const status = command(
  { args: '', summary: 'nodes, scavenger leader, config version, session counts (admin)', admin: true, positionals: 0 },
  async (ctx) => {
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
  },
);

/** `events`: follow lifecycle events until Ctrl-C, one line (or document) per event. */
export const events = command(
  { args: '[--from TOKEN]', summary: 'follow lifecycle events until Ctrl-C (admin); resume with --from', flags: ['from'], admin: true, positionals: 0 },
  async (ctx) => {
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
  },
);
