// sessionctl commands that begin and end sessions: log in (optionally persistent), log out, resume a
// persistent login, re-authenticate.
import { UsageError } from './ctl-credentials.js';
import { clientTypeOf, command } from './ctl-command.js';
import { plain } from './ctl-output.js';

/** The `--attr name=value` flags of `create` as an attribute map. */
function attributesOf(given: string[]): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const a of given) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new UsageError(`--attr wants name=value, got ${JSON.stringify(a)}`);
    attributes[a.slice(0, eq)] = a.slice(eq + 1);
  }
  return attributes;
}

/** `create`: log in; prints the secret session id and the session. */
export const create = command(
  { args: '--user U [--site S] [--type T] [--device D] [--attr name=value ...]', summary: 'log in; prints the secret session id and the session', flags: ['site', 'user', 'type', 'device', 'attr', 'persistent'], positionals: 0 },
  async (ctx) => {
    const attributes = attributesOf(ctx.cl.list('attr'));
    const res = await ctx.session().createSession({
      site: ctx.cl.get('site') ?? 'default',
      user: ctx.cl.get('user') ?? '',
      clientType: clientTypeOf(ctx.cl.get('type') ?? 'web'),
      deviceId: ctx.cl.get('device') ?? 'sessionctl',
      attributes,
      persistent: ctx.cl.bool('persistent'),
    });
    ctx.out(plain(res));
  },
);

/** `end`: log out (and with --forget revoke the persistent login too). */
export const end = command(
  { args: '<session-id> [--forget]', summary: 'log out: end the session and destroy its data (--forget: also revoke its persistent login)', flags: ['forget'], positionals: 1 },
  async (ctx, [sessionId]) => {
    await ctx.session().endSession(sessionId!, { forgetLogin: ctx.cl.bool('forget') });
    ctx.out({ ended: true });
  },
);

/** `resume`: trade a persistent-login token for a new session and a rotated token. */
export const resume = command(
  { args: '<login-token> [--device D]', summary: 'resume a persistent login: prints the new session id and the rotated login token (the given one is spent)', flags: ['device'], positionals: 1 },
  async (ctx, [token]) => ctx.out(plain(await ctx.session().resumeSession(token!, ctx.cl.get('device') ?? 'sessionctl'))),
);

/** `reauth`: re-authenticate a session after its absolute timeout. */
export const reauth = command(
  { args: '<session-id> --user U', summary: 're-authenticate after the absolute timeout; prints the new session id', flags: ['user'], positionals: 1 },
  async (ctx, [sessionId]) => ctx.out(plain(await ctx.session().reauthenticate(sessionId!, ctx.cl.get('user') ?? ''))),
);
