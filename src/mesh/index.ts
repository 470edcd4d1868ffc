/**
 * The mesh replicates origin-signed, versioned records between nodes over a transport
 * (gRPC with mTLS, or in memory for simulations); capabilities register topics on it.
 */
export { createMesh, memberTopic } from './mesh.js';
export type { Mesh, MeshDeps, MeshEvent, MeshOptions, MemberInfo } from './mesh.js';
export { RecordStore } from './record-store.js';
export { MemoryNetwork } from './memory-transport.js';
export { createGrpcTransport } from './grpc-transport.js';
export type { GrpcTransportOptions } from './grpc-transport.js';
export type { MeshStatus, MeshStatusView } from './status-view.js';
export type {
  Connection,
  MeshCrypto,
  MeshRecord,
  NodeId,
  PeerCallHandler,
  PeerCallOptions,
  PeerMethod,
  PeerMethods,
  PublishOptions,
  RejectionReason,
  Topic,
  TopicOptions,
  Transport,
} from './types.js';
