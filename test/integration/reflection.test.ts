import assert from 'node:assert/strict';
import { credentials, loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { EtcdCluster } from '../support/etcd.js';
import { startNode, type TestNode } from '../support/nodes.js';

/** The grpc.reflection.v1 client, from the proto file @grpc/reflection ships (what grpcurl speaks). */
const REFLECTION_PROTO = new URL('../../../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto', import.meta.url).pathname;

interface ReflectionResponse {
  listServicesResponse?: { service: Array<{ name: string }> };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

/** Sends one ServerReflectionRequest on a fresh stream and returns the one answer. */
async function reflect(address: string, request: Record<string, string>): Promise<ReflectionResponse> {
  const pkg = loadPackageDefinition(loadSync(REFLECTION_PROTO, { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true })) as GrpcObject;
  const Ctor = ((pkg['grpc'] as GrpcObject)['reflection'] as GrpcObject)['v1'] as GrpcObject;
  const client = new (Ctor['ServerReflection'] as ServiceClientConstructor)(address, credentials.createInsecure());
  try {
    return await new Promise<ReflectionResponse>((resolve, reject) => {
      const call = client['serverReflectionInfo']!() as NodeJS.EventEmitter & { write(m: unknown): void; end(): void };
      call.on('data', (m: ReflectionResponse) => {
        resolve(m);
        call.end();
      });
      call.on('error', reject);
      call.write({ host: '', ...request });
    });
  } finally {
    client.close();
  }
}

describe('gRPC reflection (grpcurl without a protoset)', function () {
  let etcd: EtcdCluster;
  let node: TestNode;
  before(async () => {
    etcd = await EtcdCluster.start();
    node = await startNode({ endpoints: etcd.endpoints });
  });
  after(async () => {
    await node?.stop();
    await etcd?.stop();
  });

  it('lists the public services', async () => {
    const r = await reflect(node.address, { listServices: '' });
    const names = (r.listServicesResponse?.service ?? []).map((s) => s.name).sort();
    assert.deepEqual(names, ['grpc.health.v1.Health', 'sessionmanager.v1.AdminService', 'sessionmanager.v1.SessionService']);
  });

  it('describes a service under its own file name, with its methods, request types and imports', async () => {
    const r = await reflect(node.address, { fileContainingSymbol: 'sessionmanager.v1.SessionService' });
    const files = r.fileDescriptorResponse?.fileDescriptorProto ?? [];
    assert.ok(files.length > 0, JSON.stringify(r.errorResponse));
    const all = Buffer.concat(files).toString('latin1');
    for (const s of ['sessionmanager/v1/session_service.proto', 'google/api/field_behavior.proto', 'ValidateSession', 'CreateSessionRequest', 'Attach']) assert.ok(all.includes(s), `${s} in the descriptors`);
  });

  it('exposes no internal schema: the etcd storage records are not reflected', async () => {
    const r = await reflect(node.address, { fileContainingSymbol: 'sessionmanager.storage.v1.SessionRecord' });
    assert.equal(r.fileDescriptorResponse, undefined);
    assert.equal(r.errorResponse?.errorCode, 5); // NOT_FOUND
  });
});
