// sessionctl commands on a session's attributes: read, conditional write, conditional delete.
import { command } from './ctl-command.js';
import { plain } from './ctl-output.js';

/** The `--etag` condition of a write or delete, as the client's options want it. */
function etagOption(etag: string | undefined): { etag?: string } {
  return etag ? { etag } : {};
}

/** `attr-get`: read one attribute with its etag. */
export const attrGet = command(
  { args: '<session-id> <name>', summary: 'read one attribute with its etag', positionals: 2 },
  async (ctx, [sessionId, name]) => ctx.out(plain(await ctx.session().getAttribute(sessionId!, name!))),
);

/** `attr-set`: write one attribute (optionally only at an etag, or only if absent). */
export const attrSet = command(
  { args: '<session-id> <name> <value> [--etag E] [--create-only]', summary: 'write one attribute; prints the new etag', flags: ['etag', 'create-only'], positionals: 3 },
  async (ctx, [sessionId, name, value]) => ctx.out(await ctx.session().setAttribute(sessionId!, name!, value!, { ...etagOption(ctx.cl.get('etag')), createOnly: ctx.cl.bool('create-only') })),
);

/** `attr-del`: delete one attribute (optionally only at an etag). */
export const attrDel = command(
  { args: '<session-id> <name> [--etag E]', summary: 'delete one attribute', flags: ['etag'], positionals: 2 },
  async (ctx, [sessionId, name]) => {
    await ctx.session().deleteAttribute(sessionId!, name!, etagOption(ctx.cl.get('etag')));
    ctx.out({ deleted: true });
  },
);
