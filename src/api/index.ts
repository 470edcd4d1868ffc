/**
 * The local gRPC API (package alliance.v1, plus health and reflection) that Keystone, the cloud's
 * services and operators call, and the operator's HTTP port for metrics and health.
 */
export {
  createLocalServer,
  type LocalApiLimits,
  type LocalServer,
  type LocalServerAddress,
  type LocalServerOptions,
  type LocalServices,
} from './server.js';
export { createHttpServer, type HttpServer, type HttpServerOptions } from './http-server.js';
export type { HealthHandle, ServingStatus } from './health.js';
export { toGrpcStatus, type GrpcStatus } from './status.js';
export {
  serverStream,
  unary,
  unimplemented,
  type ServerStreamContext,
  type ServerStreamHandler,
  type ServerStreamOptions,
  type UnaryContext,
  type UnaryHandler,
} from './handlers.js';
export { unimplementedService } from './unimplemented-handlers.js';
export { requestsMetricName, durationMetricName } from './metrics.js';
