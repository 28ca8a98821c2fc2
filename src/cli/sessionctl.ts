#!/usr/bin/env node
// sessionctl: a small command-line client of the SessionService, for trying the service by hand.
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { parseArgs } from 'node:util';
import { CLIENT_TYPES } from '../domain/client-type.js';
import { readFileSync } from 'node:fs';
import { ClientType, EndReason, SessionState } from '../gen/sessionmanager/v1/session.js';
import { EventType, type WatchEventsResponse } from '../gen/sessionmanager/v1/admin_service.js';
import { Verdict } from '../gen/sessionmanager/v1/session_service.js';
import { AdminApi, SessionApi } from '../transport/grpc/client.js';
import { findCallerToken } from './credentials.js';
import { errorInfoOf } from '../transport/grpc/status.js';

const USAGE = `usage: sessionctl [--addr host:port] <command> [args]

commands:
  create --site S --user U --type T --device D [--attr name=value ...]   log in; prints the session id
  validate <session-id>                 check a request's session (counts a hit)
  heartbeat <session-id> [--instance I] keep alive without a hit (default instance: sessionctl)
  get <session-id>                      show a session without touching it
  end <session-id>                      log out
  attr-get <session-id> <name>
  attr-set <session-id> <name> <value> [--etag E] [--create-only]
  attr-del <session-id> <name> [--etag E]
  reauth <session-id> --user U          re-authenticate; prints the new session id

credentials: every call sends the caller token from --token-file F, $SM_TOKEN, $SM_TOKEN_FILE
($SM_ADMIN_TOKEN / $SM_ADMIN_TOKEN_FILE also work), else .data/caller-token (made by 'make run').

admin commands (need a caller with the admin class):
  list [--site S] [--user U] [--type T] [--state active|reauth] [--page-size N] [--page-token P]
  revoke <session-ref>                  end one session (REVOKED); refs come from 'list'
  revoke-user --site S --user U         end all of a user's sessions at a site
  status                                nodes, scavenger leader, config version, session counts
  events [--from TOKEN]                 follow lifecycle events (Ctrl-C stops; resume with --from)

client types: ${CLIENT_TYPES.join(', ')}
--addr defaults to $SM_ADDR or 127.0.0.1:50051. TLS: --ca-file F (server CA), and for mTLS
--cert-file F --key-file F (client certificate; a listed one is an admin without a token).`;


function print(value: unknown): void {
  process.stdout.write(
    JSON.stringify(
      value,
      (_k, v: unknown) => {
        const b = v as { type?: string; data?: number[] } | null;
        return b && b.type === 'Buffer' && Array.isArray(b.data) ? Buffer.from(b.data).toString('utf8') : v;
      },
      2,
    ) + '\n',
  );
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      addr: { type: 'string' },
      site: { type: 'string' },
      user: { type: 'string' },
      type: { type: 'string' },
      device: { type: 'string' },
      attr: { type: 'string', multiple: true },
      instance: { type: 'string' },
      etag: { type: 'string' },
      'create-only': { type: 'boolean' },
      'token-file': { type: 'string' },
      'ca-file': { type: 'string' },
      'cert-file': { type: 'string' },
      'key-file': { type: 'string' },
      state: { type: 'string' },
      'page-size': { type: 'string' },
      'page-token': { type: 'string' },
      from: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [cmd, ...rest] = positionals;
  if (values.help || !cmd) {
    process.stdout.write(USAGE + '\n');
    return cmd ? 0 : 2;
  }
  const addr = values.addr ?? process.env['SM_ADDR'] ?? '127.0.0.1:50051';
  const tls = values['ca-file']
    ? credentials.createSsl(
        readFileSync(values['ca-file']),
        values['key-file'] ? readFileSync(values['key-file']) : null,
        values['cert-file'] ? readFileSync(values['cert-file']) : null,
      )
    : undefined;
  // The caller's bearer token goes with every call, not only admin ones (SPEC rule 21).
  const token = findCallerToken(values['token-file'], process.env, process.cwd());
  const client = new SessionApi(addr, { ...(tls ? { credentials: tls } : {}), ...(token ? { token } : {}) });
  const admin = new AdminApi(addr, token, tls ? { credentials: tls } : {});
  const typeOf = (name: string | undefined): ClientType => {
    if (name === undefined) return ClientType.CLIENT_TYPE_UNSPECIFIED;
    const idx = CLIENT_TYPES.indexOf(name as (typeof CLIENT_TYPES)[number]);
    if (idx < 0) throw new Error(`unknown --type ${JSON.stringify(name)}; one of ${CLIENT_TYPES.join(', ')}`);
    return (idx + 1) as ClientType;
  };
  const need = (n: number): string[] => {
    if (rest.length < n) throw new Error(`${cmd} needs ${n} argument(s); see --help`);
    return rest;
  };
  try {
    switch (cmd) {
      case 'create': {
        const typeName = values.type ?? 'web';
        const idx = CLIENT_TYPES.indexOf(typeName as (typeof CLIENT_TYPES)[number]);
        if (idx < 0) throw new Error(`unknown --type ${JSON.stringify(typeName)}; one of ${CLIENT_TYPES.join(', ')}`);
        const attributes = new Map<string, Buffer>();
        for (const a of values.attr ?? []) {
          const eq = a.indexOf('=');
          if (eq <= 0) throw new Error(`--attr wants name=value, got ${JSON.stringify(a)}`);
          attributes.set(a.slice(0, eq), Buffer.from(a.slice(eq + 1)));
        }
        const res = await client.create({
          site: values.site ?? 'default',
          user: values.user ?? '',
          clientType: (idx + 1) as ClientType,
          deviceId: values.device ?? '',
          attributes,
        });
        print({ sessionId: res.sessionId, session: res.session });
        break;
      }
      case 'validate': {
        const [id] = need(1);
        const res = await client.validate({ sessionId: id! });
        print({ verdict: Verdict[res.verdict], session: res.session });
        return res.verdict === Verdict.VERDICT_VALID ? 0 : 1;
      }
      case 'heartbeat': {
        const [id] = need(1);
        const res = await client.heartbeat({ sessionId: id!, instanceId: values.instance ?? 'sessionctl' });
        print({ verdict: Verdict[res.verdict] });
        return res.verdict === Verdict.VERDICT_VALID ? 0 : 1;
      }
      case 'get': {
        const [id] = need(1);
        const res = await client.get({ sessionId: id! });
        print({ session: res.session, state: res.session ? SessionState[res.session.state] : undefined });
        break;
      }
      case 'end': {
        const [id] = need(1);
        await client.end({ sessionId: id! });
        print({ ended: true });
        break;
      }
      case 'attr-get': {
        const [id, name] = need(2);
        print(await client.getAttribute({ sessionId: id!, name: name! }));
        break;
      }
      case 'attr-set': {
        const [id, name, value] = need(3);
        print(
          await client.setAttribute({
            sessionId: id!,
            name: name!,
            value: Buffer.from(value!),
            etag: values.etag ?? '',
            createOnly: values['create-only'] ?? false,
          }),
        );
        break;
      }
      case 'attr-del': {
        const [id, name] = need(2);
        await client.deleteAttribute({ sessionId: id!, name: name!, etag: values.etag ?? '' });
        print({ deleted: true });
        break;
      }
      case 'reauth': {
        const [id] = need(1);
        const res = await client.reauthenticate({ sessionId: id!, user: values.user ?? '' });
        print({ sessionId: res.sessionId, session: res.session });
        break;
      }
      case 'list': {
        const state =
          values.state === undefined ? SessionState.SESSION_STATE_UNSPECIFIED
          : values.state === 'active' ? SessionState.SESSION_STATE_ACTIVE
          : values.state === 'reauth' ? SessionState.SESSION_STATE_REAUTH_REQUIRED
          : (() => {
              throw new Error('--state is active or reauth');
            })();
        const res = await admin.list({
          site: values.site ?? '',
          user: values.user ?? '',
          clientType: typeOf(values.type),
          state,
          pageSize: Number(values['page-size'] ?? 0),
          pageToken: values['page-token'] ?? '',
        });
        print(res);
        break;
      }
      case 'revoke': {
        const [ref] = need(1);
        await admin.revoke({ sessionRef: ref! });
        print({ revoked: 1 });
        break;
      }
      case 'revoke-user': {
        print(await admin.revokeUser({ site: values.site ?? '', user: values.user ?? '' }));
        break;
      }
      case 'status': {
        print(await admin.status({}));
        break;
      }
      case 'events': {
        const stream = admin.watchEvents({ resumeToken: values.from ?? '' });
        await new Promise<void>((resolve, reject) => {
          stream.on('data', (e: WatchEventsResponse) =>
            process.stdout.write(
              JSON.stringify({ ...e, type: EventType[e.type], endReason: EndReason[e.endReason], clientType: ClientType[e.clientType] }) + '\n',
            ),
          );
          stream.on('error', reject);
          stream.on('end', resolve);
          process.once('SIGINT', () => {
            stream.cancel();
            resolve();
          });
        });
        break;
      }
      default:
        process.stderr.write(`sessionctl: unknown command ${JSON.stringify(cmd)}\n${USAGE}\n`);
        return 2;
    }
    return 0;
  } catch (err) {
    const e = err as ServiceError;
    const info = errorInfoOf(e);
    process.stderr.write(`sessionctl: ${e.details ?? e.message}${info ? ` [${info.reason}]` : ''}\n`);
    return 1;
  } finally {
    client.close();
    admin.close();
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`sessionctl: ${err.message}\n`);
    process.exit(2);
  },
);
