import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  reflectableFiles,
  reflectionPackageDefinition,
  splitFileDescriptorSet,
  summarizeFileDescriptor,
} from '../../../src/api/reflection.js';
import { descriptorSetBase64 } from '../../../src/gen/descriptor-set.js';
import { bufCurl, startLocalServer, type RunningServer } from './local-server-harness.js';

const grpcCodeUnimplemented = 12;

describe('the embedded descriptor set', () => {
  it('splits into every proto file with its imports', () => {
    const names = splitFileDescriptorSet(Buffer.from(descriptorSetBase64, 'base64')).map(
      (bytes) => summarizeFileDescriptor(bytes).name,
    );
    expect([...names].sort()).toEqual([
      'alliance/peer/v1/events.proto',
      'alliance/peer/v1/mesh.proto',
      'alliance/v1/admin.proto',
      'alliance/v1/catalog.proto',
      'alliance/v1/events.proto',
      'alliance/v1/identity.proto',
      'alliance/v1/provisioning.proto',
      'alliance/v1/tokens.proto',
      'google/protobuf/struct.proto',
      'google/protobuf/timestamp.proto',
      'grpc/health/v1/health.proto',
    ]);
  });

  it('summarizes a file’s package, imports and services', () => {
    const events = reflectableFiles()
      .map(summarizeFileDescriptor)
      .find((file) => file.name === 'alliance/v1/events.proto');
    expect(events && { ...events, bytes: undefined }).toEqual({
      name: 'alliance/v1/events.proto',
      package: 'alliance.v1',
      dependencies: ['google/protobuf/struct.proto', 'google/protobuf/timestamp.proto'],
      services: ['alliance.v1.Events'],
      bytes: undefined,
    });
  });

  it('gives each reflected service its file and that file’s transitive imports', () => {
    const definition = reflectionPackageDefinition(reflectableFiles(), [
      'alliance.v1.Events',
      'grpc.health.v1.Health',
    ]);
    const fileNames = (service: string): string[] => {
      const entry = definition[service];
      const protos = entry && 'fileDescriptorProtos' in entry ? (entry.fileDescriptorProtos as Buffer[]) : [];
      return protos.map((bytes) => summarizeFileDescriptor(bytes).name);
    };
    expect(Object.keys(definition)).toEqual(['alliance.v1.Events', 'grpc.health.v1.Health']);
    expect(fileNames('alliance.v1.Events')).toEqual([
      'alliance/v1/events.proto',
      'google/protobuf/struct.proto',
      'google/protobuf/timestamp.proto',
    ]);
    expect(fileNames('grpc.health.v1.Health')).toEqual(['grpc/health/v1/health.proto']);
  });

  it('refuses a service that no file declares', () => {
    expect(() => reflectionPackageDefinition(reflectableFiles(), ['no.such.Service'])).toThrow(
      'service no.such.Service is in no file of the descriptor set',
    );
  });
});

describe('reflection through buf curl', () => {
  let running: RunningServer;
  let url: string;

  beforeAll(async () => {
    running = await startLocalServer();
    url = `http://${running.address}`;
  });

  afterAll(async () => {
    await running.server.stop();
  });

  it('--list-services lists the alliance.v1 services, health and both reflection versions, and nothing else', async () => {
    const result = await bufCurl(['--list-services', url]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim().split('\n').sort()).toEqual([
      'alliance.v1.Admin',
      'alliance.v1.Catalog',
      'alliance.v1.Events',
      'alliance.v1.IdentityAdmin',
      'alliance.v1.Provisioning',
      'alliance.v1.Tokens',
      'grpc.health.v1.Health',
      'grpc.reflection.v1.ServerReflection',
      'grpc.reflection.v1alpha.ServerReflection',
    ]);
  });

  it.each(['grpc-v1', 'grpc-v1alpha'])(
    'resolves a Struct-carrying service through %s reflection',
    async (protocol) => {
      const result = await bufCurl(['--reflect-protocol', protocol, '--list-methods', url]);
      const methods = result.stdout
        .split('\n')
        .filter((line) => line.startsWith('alliance.v1.Events/'))
        .sort();
      expect({ exitCode: result.exitCode, methods }).toEqual({
        exitCode: 0,
        methods: [
          'alliance.v1.Events/Ack',
          'alliance.v1.Events/AckBatch',
          'alliance.v1.Events/GetEventStatus',
          'alliance.v1.Events/Publish',
          'alliance.v1.Events/PublishBatch',
          'alliance.v1.Events/Subscribe',
        ],
      });
    },
  );

  it('calls Catalog/ListEndpoints with a JSON filter and prints the proto3 JSON answer', async () => {
    const result = await bufCurl(['-d', '{"cloud":"cloud-b"}', `${url}/alliance.v1.Catalog/ListEndpoints`]);
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      endpoints: [
        {
          cloud: 'cloud-b',
          id: 'ep-b-neutron-public',
          region: 'RegionOne',
          serviceId: 'svc-b-neutron',
          serviceType: 'network',
          serviceName: 'neutron',
          interface: 'public',
          url: 'https://network.regionone.cloud-b.example:8443/',
          enabled: true,
        },
        {
          cloud: 'cloud-b',
          id: 'ep-b-nova-admin',
          region: 'RegionOne',
          serviceId: 'svc-b-nova',
          serviceType: 'compute',
          serviceName: 'nova',
          interface: 'admin',
          url: 'https://compute.regionone.cloud-b.example:8443/',
          enabled: true,
        },
      ],
    });
  });

  it('calls Admin/GetStatus, whose messages use Timestamp and 64-bit integers', async () => {
    const result = await bufCurl([`${url}/alliance.v1.Admin/GetStatus`]);
    expect(result.exitCode).toBe(0);
    const status = JSON.parse(result.stdout) as Record<string, unknown>;
    expect({ nodeId: status.nodeId, startedAt: status.startedAt, rejections: status.rejections }).toEqual({
      nodeId: 'cloud-a/node-1',
      startedAt: '2024-05-01T09:59:00Z',
      rejections: [{ reason: 'bad_signature', count: '2' }],
    });
  });

  it('grpc.health.v1.Health/Check answers SERVING for the whole node', async () => {
    const result = await bufCurl(['-d', '{"service":""}', `${url}/grpc.health.v1.Health/Check`]);
    expect({ exitCode: result.exitCode, body: JSON.parse(result.stdout) as unknown }).toEqual({
      exitCode: 0,
      body: { status: 'SERVING' },
    });
  });

  it('alliance.v1.Events/Publish (a Struct-carrying service) resolves and exits with UNIMPLEMENTED × 8', async () => {
    const result = await bufCurl(['-d', '{}', `${url}/alliance.v1.Events/Publish`]);
    expect(result.exitCode).toBe(grpcCodeUnimplemented * 8);
    expect(result.stderr).toContain('alliance.v1.Events/Publish is not implemented yet on this node');
  });
});
