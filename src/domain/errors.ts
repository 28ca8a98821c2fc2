// The error model: one class per condition, each with a stable `reason` that the transport maps to
// a gRPC code in one table (transport/grpc/status.ts). The classes live in one file per family under
// errors/; this module re-exports them all, so importers (and the status table's coverage test) see
// one list.
export * from './errors/base.js';
export * from './errors/request.js';
export * from './errors/session.js';
export * from './errors/attributes.js';
export * from './errors/login-token.js';
export * from './errors/auth.js';
export * from './errors/store.js';
export * from './errors/node.js';
