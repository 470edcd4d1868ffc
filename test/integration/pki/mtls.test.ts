/**
 * Peer mTLS end to end over real grpc-js on loopback: the server requires a client certificate
 * from the federation CA and reads the caller's identity from it; the client accepts the server
 * only by its SPIFFE identity. A trivial hand-made service with Buffer passthrough (de)serializers
 * keeps this independent of generated code.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AllianceError, errorMessage } from '../../../src/lib/errors.js';
import {
  createFederationCa,
  issueNodeCertificate,
  loadNodeTls,
  peerChannelCredentials,
  peerIdentityFromCall,
  peerServerCredentials,
  peerTlsChannelOptions,
  type CertificateAndKeyPem,
  type NodeTls,
} from '../../../src/pki/index.js';

const whoAmIPath = '/alliance.test.v1.Identity/WhoAmI';
const passthrough = (bytes: Buffer): Buffer => bytes;

const identityService: grpc.ServiceDefinition = {
  whoAmI: {
    path: whoAmIPath,
    requestStream: false,
    responseStream: false,
    requestSerialize: passthrough,
    requestDeserialize: passthrough,
    responseSerialize: passthrough,
    responseDeserialize: passthrough,
  },
};

/** Answers with the caller's node id, or PERMISSION_DENIED and the reason. */
function identityImplementation(federation: string): grpc.UntypedServiceImplementation {
  return {
    whoAmI: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      try {
        callback(null, Buffer.from(peerIdentityFromCall(call, federation).nodeId));
      } catch (err) {
        if (!(err instanceof AllianceError)) throw err;
        callback({ code: grpc.status.PERMISSION_DENIED, details: errorMessage(err) });
      }
    },
  };
}

async function startServer(
  credentials: grpc.ServerCredentials,
  federation: string,
): Promise<{
  server: grpc.Server;
  address: string;
}> {
  const server = new grpc.Server();
  server.addService(identityService, identityImplementation(federation));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, boundPort) =>
      err ? reject(err) : resolve(boundPort),
    ),
  );
  return { server, address: `127.0.0.1:${port}` };
}

type CallResult = { nodeId: string } | { code: grpc.status; details: string };

/** One unary call on a fresh channel, closed afterwards; a deadline bounds a wedged handshake. */
function whoAmI(
  address: string,
  credentials: grpc.ChannelCredentials,
  options: grpc.ChannelOptions = peerTlsChannelOptions,
): Promise<CallResult> {
  const client = new grpc.Client(address, credentials, options);
  return new Promise<CallResult>((resolve) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      whoAmIPath,
      passthrough,
      passthrough,
      Buffer.alloc(0),
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (err, response) => {
        if (err) resolve({ code: err.code, details: err.details });
        else resolve({ nodeId: response?.toString() ?? '' });
      },
    );
  }).finally(() => client.close());
}

describe('peer mTLS', () => {
  let dir: string;
  let serverTls: NodeTls;
  let clientTls: NodeTls;
  let rogueClientTls: NodeTls;
  const servers: grpc.Server[] = [];
  let address: string;

  function writeNodeTls(name: string, ca: CertificateAndKeyPem, cloud: string, node: string): NodeTls {
    const issued = issueNodeCertificate({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, cloud, node });
    const files = {
      caFile: join(dir, `${name}-ca.pem`),
      certFile: join(dir, `${name}.pem`),
      keyFile: join(dir, `${name}.key.pem`),
    };
    writeFileSync(files.caFile, ca.certPem);
    writeFileSync(files.certFile, issued.certPem);
    writeFileSync(files.keyFile, issued.keyPem, { mode: 0o600 });
    return loadNodeTls(files);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'alliance-mtls-'));
    const ca = createFederationCa({ federation: 'acme' });
    // Same federation name, different CA: what an impostor would make.
    const rogueCa = createFederationCa({ federation: 'acme' });
    serverTls = writeNodeTls('server', ca, 'cloud-a', 'node-1');
    clientTls = writeNodeTls('client', ca, 'cloud-b', 'node-7');
    rogueClientTls = writeNodeTls('rogue', rogueCa, 'cloud-b', 'node-7');
    const started = await startServer(peerServerCredentials(serverTls), 'acme');
    servers.push(started.server);
    address = started.address;
  });

  afterAll(() => {
    for (const server of servers) server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it("connects with a certificate from the federation CA, and the server reads the client's node id", async () => {
    // The server name sent is "alliance-peer", which is in no SAN: only the identity is checked.
    expect(await whoAmI(address, peerChannelCredentials(clientTls))).toEqual({ nodeId: 'cloud-b/node-7' });
  });

  it('connects when the server is the expected node, and reports its identity', async () => {
    const seen: string[] = [];
    const credentials = peerChannelCredentials(clientTls, {
      expectedNodeId: 'cloud-a/node-1',
      onServerIdentity: (nodeId) => seen.push(nodeId),
    });
    expect(await whoAmI(address, credentials)).toEqual({ nodeId: 'cloud-b/node-7' });
    expect(seen).toEqual(['cloud-a/node-1']);
    expect(await whoAmI(address, peerChannelCredentials(clientTls, 'cloud-a/node-1'))).toEqual({
      nodeId: 'cloud-b/node-7',
    });
  });

  it('fails with UNAVAILABLE when the server is not the expected node', async () => {
    const result = await whoAmI(address, peerChannelCredentials(clientTls, 'cloud-a/node-2'));
    expect(result).toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it('fails with UNAVAILABLE for a client certificate from another CA', async () => {
    // The rogue client trusts the real CA, so only the server's check can refuse it.
    const credentials = grpc.credentials.createSsl(
      Buffer.from(serverTls.caPem),
      Buffer.from(rogueClientTls.keyPem),
      Buffer.from(rogueClientTls.certPem),
    );
    expect(await whoAmI(address, credentials)).toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it('fails with UNAVAILABLE for a client with no certificate', async () => {
    const credentials = grpc.credentials.createSsl(Buffer.from(serverTls.caPem));
    expect(await whoAmI(address, credentials)).toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it('fails with UNAVAILABLE when the client does not trust the server', async () => {
    // Our client, but trusting only the rogue CA: the server's certificate does not chain to it.
    const distrusting: NodeTls = { ...clientTls, caPem: rogueClientTls.caPem, ca: rogueClientTls.ca };
    expect(await whoAmI(address, peerChannelCredentials(distrusting))).toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  it('answers PERMISSION_DENIED on a connection without TLS, since no certificate names the caller', async () => {
    const plain = await startServer(grpc.ServerCredentials.createInsecure(), 'acme');
    servers.push(plain.server);
    expect(await whoAmI(plain.address, grpc.credentials.createInsecure(), {})).toEqual({
      code: grpc.status.PERMISSION_DENIED,
      details: 'peer presented no client certificate',
    });
  });

  it('answers PERMISSION_DENIED to a client of another federation that the CA trusts', async () => {
    // A server that accepts acme's CA but serves federation "globex": the identity check refuses.
    const other = await startServer(peerServerCredentials(serverTls), 'globex');
    servers.push(other.server);
    expect(await whoAmI(other.address, peerChannelCredentials(clientTls))).toEqual({
      code: grpc.status.PERMISSION_DENIED,
      details: 'peer is in federation acme, not globex',
    });
  });
});
