// sessionctl commands on a session's attributes: read, conditional write, conditional delete.
import { need, type Command } from './ctl-command.js';
import { plain } from './ctl-output.js';

/** The `--etag` condition of a write or delete, as the client's options want it. */
function etagOption(etag: string | undefined): { etag?: string } {
  return etag ? { etag } : {};
}

/** `attr-get`: read one attribute with its etag. */
export const attrGet: Command = {
  args: '<session-id> <name>',
  summary: 'read one attribute with its etag',
  flags: [],
  async run(ctx) {
    const [sessionId, name] = need(ctx, 2);
    ctx.out(plain(await ctx.session().getAttribute(sessionId!, name!)));
    return 0;
  },
};

/** `attr-set`: write one attribute (optionally only at an etag, or only if absent). */
export const attrSet: Command = {
  args: '<session-id> <name> <value> [--etag E] [--create-only]',
  summary: 'write one attribute; prints the new etag',
  flags: ['etag', 'create-only'],
  async run(ctx) {
    const [sessionId, name, value] = need(ctx, 3);
    ctx.out(await ctx.session().setAttribute(sessionId!, name!, value!, { ...etagOption(ctx.cl.get('etag')), createOnly: ctx.cl.bool('create-only') }));
    return 0;
  },
};

/** `attr-del`: delete one attribute (optionally only at an etag). */
export const attrDel: Command = {
  args: '<session-id> <name> [--etag E]',
  summary: 'delete one attribute',
  flags: ['etag'],
  async run(ctx) {
    const [sessionId, name] = need(ctx, 2);
    await ctx.session().deleteAttribute(sessionId!, name!, etagOption(ctx.cl.get('etag')));
    ctx.out({ deleted: true });
    return 0;
  },
};
