/**
 * The codecs of each peer-API unary method, so every transport can encode a call the same
 * way (the in-memory one encodes too, so simulations catch what would not survive the wire).
 */
import {
  ExecuteProvisionRequest,
  ExecuteProvisionResponse,
  ValidateTokenRequest,
  ValidateTokenResponse,
} from '../gen/alliance/peer/v1/mesh.js';
import type { PeerMethod, PeerMethods } from './types.js';

interface Codec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(bytes: Uint8Array): T;
}

export const peerMethodCodecs: {
  [M in PeerMethod]: {
    request: Codec<PeerMethods[M]['request']>;
    response: Codec<PeerMethods[M]['response']>;
  };
} = {
  validateToken: { request: ValidateTokenRequest, response: ValidateTokenResponse },
  executeProvision: { request: ExecuteProvisionRequest, response: ExecuteProvisionResponse },
};

/** Names as the peer API spells them, for messages. */
export const peerMethodNames: Record<PeerMethod, string> = {
  validateToken: 'alliance.peer.v1.Mesh/ValidateToken',
  executeProvision: 'alliance.peer.v1.Mesh/ExecuteProvision',
};
