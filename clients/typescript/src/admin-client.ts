import type { ClientReadableStream } from '@grpc/grpc-js';
import { ServiceClient, unary } from './base-client.js';
import type { CallOptions, ClientOptions } from './options.js';
import {
  AdminServiceClient,
  GetClusterStatusRequest,
  ListSessionsRequest,
  RevokeSessionRequest,
  RevokeUserSessionsRequest,
  WatchEventsRequest,
  type AdminSession,
  type GetClusterStatusResponse,
  type ListSessionsResponse,
  type WatchEventsResponse,
} from './gen/sessionmanager/v1/admin_service.js';
import type { DeepPartial } from './gen/sessionmanager/v1/session_service.js';

/**
 * AdminClient is the typed client of AdminService (list, revoke, cluster status, lifecycle events)
 * with the same channel, retries (reads only), deadlines and credentials as SessionClient; the
 * token (or client certificate) must be an admin credential.
 */
export class AdminClient extends ServiceClient<AdminServiceClient> {
  constructor(options: ClientOptions) {
    super(AdminServiceClient, options);
  }

  /** One page of sessions matching the filters (empty filters match everything). */
  listSessions(req: DeepPartial<ListSessionsRequest> = {}, opts?: CallOptions): Promise<ListSessionsResponse> {
    return unary(this.raw, this.raw.listSessions, ListSessionsRequest.fromPartial(req), this.deadlineMs, opts);
  }

  /** Every matching session, page after page. */
  async *listAllSessions(req: DeepPartial<ListSessionsRequest> = {}, opts?: CallOptions): AsyncGenerator<AdminSession> {
    let pageToken = '';
    do {
      const page = await this.listSessions({ ...req, pageToken }, opts);
      yield* page.sessions;
      pageToken = page.nextPageToken;
    } while (pageToken);
  }

  /** Ends one session (REVOKED) by its reference from listSessions. */
  async revokeSession(sessionRef: string, opts?: CallOptions): Promise<void> {
    await unary(this.raw, this.raw.revokeSession, RevokeSessionRequest.fromPartial({ sessionRef }), this.deadlineMs, opts);
  }

  /** Ends every session of a user at a site; resolves with how many ended. */
  async revokeUserSessions(site: string, user: string, opts?: CallOptions): Promise<number> {
    const res = await unary(this.raw, this.raw.revokeUserSessions, RevokeUserSessionsRequest.fromPartial({ site, user }), this.deadlineMs, opts);
    return res.revoked;
  }

  /** Nodes, scavenger leader, config version and session counts as the answering node sees them. */
  getClusterStatus(opts?: CallOptions): Promise<GetClusterStatusResponse> {
    return unary(this.raw, this.raw.getClusterStatus, GetClusterStatusRequest.fromPartial({}), this.deadlineMs, opts);
  }

  /** Streams lifecycle events from a resume token (empty: from now); `cancel()` ends it. */
  watchEvents(resumeToken = ''): ClientReadableStream<WatchEventsResponse> {
    return this.raw.watchEvents(WatchEventsRequest.fromPartial({ resumeToken }));
  }
}
