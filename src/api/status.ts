/** The local API's status mapping is the project's one mapping (src/lib/grpc-status.ts). */
export { internalErrorDetails, toGrpcStatus, type GrpcStatus } from '../lib/grpc-status.js';
