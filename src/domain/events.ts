import type { ClientType } from './client-type.js';
import type { EndReason } from './session.js';

/** The kinds of lifecycle event (SPEC rule 18). */
export type SessionEventType = 'CREATED' | 'ENDED' | 'REPLACED' | 'REAUTHENTICATED';

/** One lifecycle event, written in the same transaction as the change it reports. */
export interface SessionEvent {
  /** What happened. */
  readonly type: SessionEventType;
  /** For ENDED and REPLACED: why the session ended. */
  readonly endReason?: EndReason;
  readonly site: string;
  readonly user: string;
  readonly clientType: ClientType;
  /** Hash of the session's id (never the id). */
  readonly sessionRef: string;
  /** For REPLACED and REAUTHENTICATED: the session that took its place. */
  readonly successorRef?: string;
  /** When it happened (epoch ms). */
  readonly time: number;
  /** Policy name of the calling service that caused it; '' (or absent) for the service's own work. */
  readonly caller?: string;
  /** For CREATED: a persistent login was issued with the session, or the session was created by a resume (SPEC rule 19). */
  readonly login?: 'ISSUED' | 'RESUMED';
  /** The session's persistent-login family id (not secret). */
  readonly loginFamily?: string;
}
