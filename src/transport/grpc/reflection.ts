import type { Server } from '@grpc/grpc-js';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { ReflectionService } from '@grpc/reflection';
import { API_DESCRIPTOR_SET_BASE64 } from '../../gen/api-descriptor-set.js';

/** The services gRPC reflection lists: the public API and health; never the etcd storage records. */
export const REFLECTED_SERVICES: readonly string[] = ['sessionmanager.v1.SessionService', 'sessionmanager.v1.AdminService', 'grpc.health.v1.Health'];

/** The serialized FileDescriptorProtos of a FileDescriptorSet (field 1, repeated), as buf wrote them. */
export function fileDescriptorProtos(set: Uint8Array): Buffer[] {
  const reader = new BinaryReader(set);
  const files: Buffer[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1) files.push(Buffer.from(reader.bytes()));
    else reader.skip(wireType);
  }
  return files;
}

/**
 * Adds the gRPC server reflection service (grpc.reflection.v1 and v1alpha, what grpcurl and
 * grpcui ask) to a server, answering from the API's descriptor set embedded at `make generate`
 * (src/gen/api-descriptor-set.ts), so no .proto file ships with the image. The files keep the
 * names and imports buf gave them (proto-loader would regroup them by package); @grpc/reflection
 * re-encodes them, which drops custom options such as google.api.field_behavior. It exposes only
 * the public schema, so it needs no credential.
 */
export function addReflection(server: Pick<Server, 'addService'>): void {
  // ReflectionService reads only `fileDescriptorProtos` of each package-definition entry.
  const definition = { api: { fileDescriptorProtos: fileDescriptorProtos(Buffer.from(API_DESCRIPTOR_SET_BASE64, 'base64')) } };
  new ReflectionService(definition as unknown as ConstructorParameters<typeof ReflectionService>[0], { services: [...REFLECTED_SERVICES] }).addToServer(server);
}
