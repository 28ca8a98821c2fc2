import { status, type ServerWritableStream } from '@grpc/grpc-js';
import { TooManyStreamsError } from '../../domain/errors.js';

/**
 * StreamRegistry counts the node's open server streams (Attach, WatchEvents, health Watch excluded),
 * refuses streams beyond the limit with RESOURCE_EXHAUSTED, and closes them all on shutdown so
 * clients move to another replica instead of holding the drain.
 */
export class StreamRegistry {
  private readonly open = new Set<ServerWritableStream<unknown, unknown>>();

  constructor(private readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new Error('streams: max must be a whole number >= 1');
  }

  get size(): number {
    return this.open.size;
  }

  /** Registers a stream or throws TooManyStreamsError; the stream is released when it closes. */
  add(call: ServerWritableStream<unknown, unknown>): void {
    if (this.open.size >= this.max) throw new TooManyStreamsError(this.max);
    this.open.add(call);
    const release = () => this.open.delete(call);
    call.on('close', release);
    call.on('cancelled', release);
    call.on('finish', release);
  }

  /** Ends every open stream with UNAVAILABLE (node shutting down): clients resume elsewhere. */
  closeAll(): void {
    for (const call of this.open) {
      call.emit('error', { code: status.UNAVAILABLE, details: 'node: shutting down; reconnect to another replica' });
    }
    this.open.clear();
  }
}
