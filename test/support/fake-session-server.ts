import { Metadata, Server, ServerCredentials, status, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import { SessionServiceService, Verdict, type ValidateSessionRequest, type ValidateSessionResponse } from '../../src/gen/sessionmanager/v1/session_service.js';
import { AdminServiceService, GetClusterStatusResponse } from '../../src/gen/sessionmanager/v1/admin_service.js';
import { statusDetails } from '../../src/transport/grpc/status.js';

/** A SessionService (and AdminService.GetClusterStatus) stand-in that counts calls, records their metadata and fails as told. */
export class FakeServer {
  readonly calls: Record<string, number> = {};
  readonly auth: string[] = [];
  failValidate = 0;
  hang = false;
  private server = new Server();
  port = 0;

  async start(): Promise<void> {
    const seen = (name: string, md: Metadata) => {
      this.calls[name] = (this.calls[name] ?? 0) + 1;
      this.auth.push(String(md.get('authorization')[0] ?? ''));
    };
    const unavailable = () => {
      const md = new Metadata();
      md.set('grpc-status-details-bin', statusDetails(status.UNAVAILABLE, 'store down', 'STORE_UNAVAILABLE', {}));
      return { code: status.UNAVAILABLE, details: 'store down', metadata: md };
    };
    this.server.addService(SessionServiceService, {
      validateSession: (call: ServerUnaryCall<ValidateSessionRequest, ValidateSessionResponse>, cb: sendUnaryData<ValidateSessionResponse>) => {
        seen('ValidateSession', call.metadata);
        if (this.hang) return;
        if (this.failValidate > 0) {
          this.failValidate--;
          return cb(unavailable());
        }
        cb(null, { verdict: Verdict.VERDICT_EXPIRED });
      },
      createSession: (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => {
        seen('CreateSession', call.metadata);
        cb(unavailable());
      },
      attach: (call: ServerWritableStream<unknown, unknown>) => {
        seen('Attach', call.metadata);
        call.end();
      },
    } as never);
    this.server.addService(AdminServiceService, {
      getClusterStatus: (call: ServerUnaryCall<unknown, GetClusterStatusResponse>, cb: sendUnaryData<GetClusterStatusResponse>) => {
        seen('GetClusterStatus', call.metadata);
        cb(null, GetClusterStatusResponse.fromPartial({ nodeId: 'fake' }));
      },
    } as never);
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
  }

  stop(): void {
    this.server.forceShutdown();
  }
}
