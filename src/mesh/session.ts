/**
 * One peer link after the transport has opened it: the hello handshake, then the
 * per-peer bookkeeping the mesh needs (what the peer is known to hold, last contact,
 * its anti-entropy timer). The protocol itself lives in mesh.ts.
 */
import type { Timer } from '../lib/clock.js';
import type { Connection, NodeId } from './types.js';

export type SessionState = 'handshaking' | 'established' | 'closed';

export class PeerSession {
  state: SessionState = 'handshaking';
  peerId: NodeId | null = null;
  advertisedAddress = '';
  connectedSinceMs = 0;
  lastContactMs = 0;
  /** Per origin, the highest version the peer is known to hold (from its digests and our sends). */
  readonly peerKnown = new Map<NodeId, number>();
  helloTimer: Timer | null = null;
  antiEntropyTimer: Timer | null = null;
  /** The dial target this session came from, for outbound sessions. */
  dialAddress: string | null;

  constructor(
    readonly connection: Connection,
    dialAddress: string | null,
  ) {
    this.dialAddress = dialAddress;
  }

  notePeerHas(origin: NodeId, version: number): void {
    if (version > (this.peerKnown.get(origin) ?? 0)) this.peerKnown.set(origin, version);
  }

  cancelTimers(): void {
    this.helloTimer?.cancel();
    this.antiEntropyTimer?.cancel();
    this.helloTimer = null;
    this.antiEntropyTimer = null;
  }
}
