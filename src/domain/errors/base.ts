// The base of the error model: every error the service reports to callers extends SessionManagerError.
/**
 * SessionManagerError is the base of every error the service reports to callers. Each subclass is
 * one condition with a stable `reason`; the transport maps reasons to gRPC codes in one table.
 */
export abstract class SessionManagerError extends Error {
  /** The stable reason of the condition (ErrorInfo.reason on the wire; the status table's key). */
  abstract readonly reason: string;
  /** Detail for the caller (ErrorInfo.metadata: field, limit, site, attribute name…); never a session id or token. */
  readonly metadata: Record<string, string>;

  constructor(message: string, metadata: Record<string, string> = {}) {
    super(message);
    this.name = new.target.name;
    this.metadata = metadata;
  }
}
