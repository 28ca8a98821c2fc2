import { Client, Metadata, type ServiceError } from '@grpc/grpc-js';
import { channelOptions, targetOf } from './channel.js';
import { bearerInterceptor, channelCredentials, tokenReader } from './credentials.js';
import { fromServiceError } from './errors.js';
import { checkClientOptions, type CallOptions, type ClientOptions } from './options.js';

type Cb<Res> = (err: ServiceError | null, res: Res) => void;
/** A generated grpc-js unary method. */
export type UnaryMethod<Req, Res> = (req: Req, md: Metadata, opts: { deadline: Date }, cb: Cb<Res>) => { cancel(): void };

/** Default deadline of a call in ms when the options give none. */
export const DEFAULT_DEADLINE_MS = 5000;

/** Builds the grpc-js client of one generated service with the shared channel settings. */
export function makeGrpcClient<C extends Client>(
  Ctor: new (address: string, creds: ReturnType<typeof channelCredentials>, options: object) => C,
  options: ClientOptions,
): C {
  checkClientOptions(options);
  const read = tokenReader(options.token);
  const tls = typeof options.tls === 'object' ? options.tls : undefined;
  return new Ctor(targetOf(options.endpoints), channelCredentials(options.tls), {
    ...channelOptions({
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.keepalive ? { keepalive: options.keepalive } : {}),
      ...(tls?.serverName ? { serverName: tls.serverName } : {}),
      ...(options.channelOptions ? { extra: options.channelOptions } : {}),
    }),
    ...(read ? { interceptors: [bearerInterceptor(read)] } : {}),
  });
}

/** Runs one unary call as a promise with a deadline, rejecting with a typed SessionManagerError. */
export function unary<Req, Res>(client: Client, method: UnaryMethod<Req, Res>, req: Req, defaultDeadlineMs: number, opts: CallOptions = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const call = method.call(client, req, new Metadata(), { deadline: new Date(Date.now() + (opts.deadlineMs ?? defaultDeadlineMs)) }, (err, res) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (err) reject(fromServiceError(err));
      else resolve(res);
    });
    const onAbort = () => call.cancel();
    if (opts.signal?.aborted) call.cancel();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * What SessionClient and AdminClient share: the generated grpc-js client of their service on the
 * shared channel settings (makeGrpcClient), the deadline of a call that gives none, and close().
 */
export abstract class ServiceClient<C extends Client> {
  /** The generated grpc-js client, for anything the subclass does not wrap. */
  readonly raw: C;
  /** Deadline in ms of a call whose options give none (options.deadlineMs, else DEFAULT_DEADLINE_MS). */
  protected readonly deadlineMs: number;

  protected constructor(Ctor: new (address: string, creds: ReturnType<typeof channelCredentials>, options: object) => C, options: ClientOptions) {
    this.raw = makeGrpcClient(Ctor, options);
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  }

  /** Closes the channel; calls in flight finish or fail, new calls fail at once. */
  close(): void {
    this.raw.close();
  }
}
