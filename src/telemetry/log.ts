import { pino, destination, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';

/** Creates the process logger: JSON lines on stdout, level from SM_LOG_LEVEL (default info). */
export function createLogger(options: { level?: string; nodeId?: string; destination?: DestinationStream } = {}): Logger {
  const level = options.level ?? process.env['SM_LOG_LEVEL'] ?? 'info';
  return pino(
    { level, base: { node: options.nodeId }, timestamp: stdTimeFunctions.isoTime },
    options.destination ?? destination({ sync: false }),
  );
}

export type { Logger };
