// The base of the error model: every error the service reports to callers extends SessionManagerError.
/**
 * SessionManagerError is the base of every error the service reports to callers. Each subclass is
 * one condition with a stable `reason`; the transport maps reasons to gRPC codes in one table.
 */
export abstract class SessionManagerError extends Error {
  abstract readonly reason: string;
  readonly metadata: Record<string, string>;

  constructor(message: string, metadata: Record<string, string> = {}) {
    super(message);
    this.name = new.target.name;
    this.metadata = metadata;
  }
}
