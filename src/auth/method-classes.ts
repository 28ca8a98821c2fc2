/** The method classes a caller can be allowed (SPEC rule 21). */
export const METHOD_CLASSES = ['validate', 'login', 'admin'] as const;

/** One method class: `validate` checks sessions, `login` creates and ends them, `admin` is AdminService. */
export type MethodClass = (typeof METHOD_CLASSES)[number];

/** Every API method and its class; a method missing here is refused (fail closed). */
export const METHOD_CLASS: Readonly<Record<string, MethodClass>> = {
  ValidateSession: 'validate',
  Heartbeat: 'validate',
  GetSession: 'validate',
  GetAttribute: 'validate',
  SetAttribute: 'validate',
  DeleteAttribute: 'validate',
  Attach: 'validate',
  CreateSession: 'login',
  Reauthenticate: 'login',
  EndSession: 'login',
  ResumeSession: 'login',
  ListMySessions: 'login',
  EndMySessions: 'login',
  ListSessions: 'admin',
  RevokeSession: 'admin',
  RevokeUserSessions: 'admin',
  GetClusterStatus: 'admin',
  WatchEvents: 'admin',
};
