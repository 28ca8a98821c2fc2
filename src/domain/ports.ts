// The one ports module: every interface the core owns and the adapters implement, split by area in
// src/domain/ports/ and re-exported here so callers import from one place.
export type * from './ports/sessions.js';
export type * from './ports/mirrors.js';
export type * from './ports/cluster.js';
export type * from './ports/config.js';
