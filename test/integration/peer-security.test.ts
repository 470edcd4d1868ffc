/**
 * The peer port under attack, over real mTLS: an impostor client speaks the Exchange
 * protocol by hand. Certificates from another CA are refused at the handshake, a hello
 * that lies about its identity is refused, and altered or forged records are rejected
 * and counted, without disturbing what the node already holds.
 */
import { X509Certificate, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compileConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/load.js';
import { MemberPayload, MeshClient, RecordBody } from '../../src/gen/alliance/peer/v1/mesh.js';
import type {
  ExchangeRequest,
  ExchangeResponse,
  Frame,
  SignedRecord,
} from '../../src/gen/alliance/peer/v1/mesh.js';
import { AdminService } from '../../src/gen/alliance/v1/admin.js';
import { CloudCatalog } from '../../src/gen/alliance/v1/catalog.js';
import { devFederation } from '../../src/dev/index.js';
import { encodeRecordBody } from '../../src/mesh/record-codec.js';
import { createFederationCa, issueNodeCertificate } from '../../src/pki/index.js';
import { TestFederation, waitFor } from './harness.js';

let federation: TestFederation;

beforeEach(async () => {
  federation = await TestFederation.start({ clouds: 2 });
  await federation.fullyConnected();
});

afterEach(async () => {
  await federation.stop();
});

interface Impostor {
  frames: Frame[];
  /** Resolves with the first record received that `match` accepts. */
  receivedRecord(match: (body: RecordBody) => boolean): Promise<SignedRecord>;
  send(frame: Frame): void;
  /** Resolves with the status the node ended the stream with. */
  ended: Promise<grpc.ServiceError | null>;
  close(): void;
}

/** A hand-driven peer with its own certificate (from `caPem`'s CA or another). */
function impostor(certPem: string, keyPem: string, caPem: string, address: string): Impostor {
  const credentials = grpc.credentials.createSsl(
    Buffer.from(caPem),
    Buffer.from(keyPem),
    Buffer.from(certPem),
    {
      checkServerIdentity: () => undefined,
    },
  );
  const client = new MeshClient(address, credentials);
  const stream: grpc.ClientDuplexStream<ExchangeRequest, ExchangeResponse> = client.exchange();
  const frames: Frame[] = [];
  const waiters: ((frame: Frame) => void)[] = [];
  stream.on('data', (response: ExchangeResponse) => {
    if (!response.frame) return;
    frames.push(response.frame);
    for (const waiter of waiters) waiter(response.frame);
  });
  const recordsOf = (frame: Frame): SignedRecord[] =>
    frame.kind?.$case === 'delta' || frame.kind?.$case === 'push' ? frame.kind.value.records : [];
  const ended = new Promise<grpc.ServiceError | null>((resolve) => {
    stream.on('error', (err: grpc.ServiceError) => resolve(err));
    stream.on('end', () => resolve(null));
  });
  return {
    frames,
    receivedRecord: (match) =>
      new Promise((resolve) => {
        const check = (frame: Frame): void => {
          const found = recordsOf(frame).find((r) => match(RecordBody.decode(r.body)));
          if (found) resolve(found);
        };
        frames.forEach(check);
        waiters.push(check);
      }),
    send: (frame) => stream.write({ frame }),
    ended,
    close: () => {
      stream.cancel();
      client.close();
    },
  };
}

function caOf(federation: TestFederation): { certPem: string; keyPem: string } {
  const dir = join(federation.dir, 'ca');
  return {
    certPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    keyPem: readFileSync(join(dir, 'ca.key.pem'), 'utf8'),
  };
}

function peerAddress(index: number): string {
  return `127.0.0.1:${federation.clouds[index]?.ports.peer ?? 0}`;
}

function hello(nodeId: string): Frame {
  return {
    kind: {
      $case: 'hello',
      value: {
        nodeId,
        federation: devFederation,
        protocolVersion: 1,
        advertiseAddress: '127.0.0.1:1',
        digest: { entries: [] },
      },
    },
  };
}

async function rejections(index: number): Promise<Record<string, number>> {
  const api = federation.localApi(index);
  const status = await api.client(AdminService).getStatus({});
  api.close();
  return Object.fromEntries(status.rejections.map((r) => [r.reason, Number(r.count)]));
}

describe('the peer port', () => {
  it('refuses a client whose certificate comes from another CA', async () => {
    const otherCa = createFederationCa({ federation: devFederation });
    const cert = issueNodeCertificate({
      caCertPem: otherCa.certPem,
      caKeyPem: otherCa.keyPem,
      cloud: 'cloud-b',
      node: 'n1',
    });
    // It trusts the real CA for the server, so only its own certificate is wrong.
    const peer = impostor(cert.certPem, cert.keyPem, caOf(federation).certPem, peerAddress(0));
    peer.send(hello('cloud-b/n1'));
    const err = await peer.ended;
    peer.close();
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);
    expect(peer.frames).toEqual([]);
  });

  it('refuses a hello that claims another node than the certificate names', async () => {
    const ca = caOf(federation);
    const cert = issueNodeCertificate({
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      cloud: 'cloud-x',
      node: 'n1',
    });
    const refused: string[] = [];
    const stopListening = federation.node(0).mesh.onEvent((event) => {
      if (event.kind === 'connection-refused') refused.push(event.reason);
    });
    const peer = impostor(cert.certPem, cert.keyPem, ca.certPem, peerAddress(0));
    peer.send(hello('cloud-b/n1'));
    const err = await peer.ended;
    peer.close();
    stopListening();
    expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err?.details).toBe('hello claims cloud-b/n1 but the certificate says cloud-x/n1');
    expect(refused).toEqual(['hello claims cloud-b/n1 but the certificate says cloud-x/n1']);
    // Only the real cloud-b is connected; nothing was learned from the impostor.
    expect(federation.node(0).mesh.connectedPeers()).toEqual(['cloud-b/n1']);
  });

  it('rejects and counts records altered in transit or forged for another origin', async () => {
    const ca = caOf(federation);
    const cert = issueNodeCertificate({
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      cloud: 'cloud-x',
      node: 'n1',
    });
    const recordKey = generateKeyPairSync('ed25519');
    const peer = impostor(cert.certPem, cert.keyPem, ca.certPem, peerAddress(1));
    peer.send(hello('cloud-x/n1'));
    // The node answers the empty digest with everything it holds, cloud-a's records included.
    const node = federation.node(1);
    const catalogOfA = await peer.receivedRecord(
      (body) => body.origin === 'cloud-a/n1' && body.topic === 'catalog',
    );

    const signWithRecordKey = (body: Uint8Array): Buffer => sign(null, body, recordKey.privateKey);
    const record = (
      fields: { origin?: string; topic?: string; key?: string; version?: number; payload?: Uint8Array },
      signer: (body: Uint8Array) => Buffer,
    ): SignedRecord => {
      const body = encodeRecordBody({
        origin: 'cloud-x/n1',
        topic: 'catalog',
        key: 'catalog',
        version: 1,
        deleted: false,
        expiresAtMs: 0,
        createdAtMs: Date.now(),
        payload: new Uint8Array(),
        ...fields,
      });
      return { body: Buffer.from(body), signature: signer(body), batchProof: Buffer.alloc(0) };
    };

    // 1. cloud-a's catalog, altered: a newer version and another URL, signature kept.
    const altered = RecordBody.decode(catalogOfA.body);
    const alteredCatalog = CloudCatalog.decode(altered.payload);
    alteredCatalog.endpoints = alteredCatalog.endpoints.map((e) => ({ ...e, url: 'https://evil.test/' }));
    const alteredBody = RecordBody.encode({
      ...altered,
      version: altered.version + 100n,
      payload: Buffer.from(CloudCatalog.encode(alteredCatalog).finish()),
    }).finish();
    // 2. The impostor's own (valid) member record, binding its record key to its certificate.
    const member = record(
      {
        topic: 'member',
        key: 'cloud-x/n1',
        payload: Buffer.from(
          MemberPayload.encode({
            nodeId: 'cloud-x/n1',
            cloud: 'cloud-x',
            node: 'n1',
            federation: devFederation,
            peerAddress: '127.0.0.1:1',
            certificateDer: new X509Certificate(cert.certPem).raw,
            recordPublicKey: Buffer.from(recordKey.publicKey.export({ format: 'jwk' }).x ?? '', 'base64url'),
            startedAtMs: BigInt(Date.now()),
          }).finish(),
        ),
      },
      (body) => sign('sha256', body, createPrivateKey(cert.keyPem)),
    );
    // 3. A record claiming cloud-a's origin, signed with the impostor's key.
    const forged = record(
      {
        origin: 'cloud-a/n1',
        // Above every version of cloud-a the node holds, so it is not dropped as old news.
        version: Number(altered.version) + 1000,
        payload: Buffer.from(CloudCatalog.encode({ ...alteredCatalog }).finish()),
      },
      signWithRecordKey,
    );
    // 4. Properly signed by the impostor, but speaking for cloud-a's catalog.
    const speaksForAnother = record(
      {
        version: 2,
        payload: Buffer.from(CloudCatalog.encode({ ...alteredCatalog, publishedBy: 'cloud-x/n1' }).finish()),
      },
      signWithRecordKey,
    );
    // 5. From an origin nobody has heard of.
    const unknown = record({ origin: 'cloud-z/n1', version: 1 }, signWithRecordKey);

    const rejected: string[] = [];
    const stopListening = node.mesh.onEvent((event) => {
      if (event.kind === 'record-rejected') rejected.push(event.reason);
    });
    peer.send({
      kind: {
        $case: 'push',
        value: {
          records: [
            { body: Buffer.from(alteredBody), signature: catalogOfA.signature, batchProof: Buffer.alloc(0) },
            member,
            forged,
            speaksForAnother,
            unknown,
          ],
          coverage: [],
        },
      },
    });
    await waitFor(
      'four rejections',
      () => rejected.length === 4,
      (cb) => node.mesh.onEvent(cb),
    );
    stopListening();
    peer.close();

    expect(rejected.sort()).toEqual(['bad-signature', 'bad-signature', 'invalid-payload', 'unknown-origin']);
    expect(await rejections(1)).toEqual({ 'bad-signature': 2, 'invalid-payload': 1, 'unknown-origin': 1 });
    // What cloud-b holds of cloud-a is untouched.
    const urls = node.catalog.listEndpoints({ cloud: 'cloud-a' }).map((e) => e.url);
    expect(urls).not.toContain('https://evil.test/');
    expect(urls).toContain('https://cloud-a.alliance.test:8774/v2.1');
    expect(node.catalog.listClouds().map((c) => c.id)).toEqual(['cloud-a', 'cloud-b']);
  });
});

describe('the local API', () => {
  it('is refused on a non-loopback address unless the configuration allows it', () => {
    const raw = (local: string, allow: boolean): unknown => ({
      federation: 'f',
      cloud: 'c',
      node: 'n',
      dataDir: 'data',
      listen: { local, allowNonLoopbackLocal: allow },
      tls: { ca: 'ca.pem', cert: 'node.pem', key: 'node.key.pem' },
    });
    expect(() => compileConfig(raw('0.0.0.0:7700', false), '/tmp')).toThrow(ConfigError);
    try {
      compileConfig(raw('0.0.0.0:7700', false), '/tmp');
    } catch (err) {
      expect((err as ConfigError).problems.map((p) => p.key)).toEqual(['listen.local']);
    }
    expect(compileConfig(raw('0.0.0.0:7700', true), '/tmp').listen.local).toEqual({
      kind: 'tcp',
      host: '0.0.0.0',
      port: 7700,
    });
  });
});
