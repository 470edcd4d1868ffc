import { Client, status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventsService } from '../../../src/gen/alliance/v1/events.js';
import { ProvisioningService } from '../../../src/gen/alliance/v1/provisioning.js';
import {
  RevokeTokenRequest,
  TokensClient,
  TokensService,
  ValidateTokenResponse,
  type TokensServer,
} from '../../../src/gen/alliance/v1/tokens.js';
import { unary, unimplementedService } from '../../../src/api/index.js';

import { silentLogger } from '../../../src/lib/logger.js';
import {
  call,
  failure,
  insecure,
  reader,
  startLocalServer,
  type RunningServer,
} from './local-server-harness.js';

const passThrough = (bytes: Buffer): Buffer => bytes;

const methods = [TokensService, EventsService, ProvisioningService].flatMap((service) =>
  Object.values(service).map((method) => ({ path: method.path, isStream: method.responseStream })),
);

describe('services not implemented yet', () => {
  let running: RunningServer;
  let client: Client;

  beforeAll(async () => {
    running = await startLocalServer();
    client = new Client(running.address, insecure);
  });

  afterAll(async () => {
    client.close();
    await running.server.stop();
  });

  it('cover every method of Tokens, Events and Provisioning', () => {
    expect(methods.map((m) => m.path)).toEqual([
      '/alliance.v1.Tokens/ValidateToken',
      '/alliance.v1.Tokens/IssueToken',
      '/alliance.v1.Tokens/ExchangeToken',
      '/alliance.v1.Tokens/RevokeToken',
      '/alliance.v1.Tokens/ListRevocations',
      '/alliance.v1.Events/Publish',
      '/alliance.v1.Events/Subscribe',
      '/alliance.v1.Events/Ack',
      '/alliance.v1.Events/GetEventStatus',
      '/alliance.v1.Events/PublishBatch',
      '/alliance.v1.Events/AckBatch',
      '/alliance.v1.Provisioning/Provision',
      '/alliance.v1.Provisioning/GetProvision',
      '/alliance.v1.Provisioning/Deprovision',
    ]);
  });

  it.each(methods)(
    '$path answers UNIMPLEMENTED with a message naming the method',
    async ({ path, isStream }) => {
      const expected = {
        code: status.UNIMPLEMENTED,
        details: `${path.slice(1)} is not implemented yet on this node`,
      };
      if (isStream) {
        const stream = client.makeServerStreamRequest(path, passThrough, passThrough, Buffer.alloc(0));
        expect(await reader(stream).end()).toEqual({ ...expected, messages: [] });
      } else {
        const response = new Promise((resolve, reject) =>
          client.makeUnaryRequest(
            path,
            passThrough,
            passThrough,
            Buffer.alloc(0),
            (err: ServiceError | null, res) => (err ? reject(err) : resolve(res)),
          ),
        );
        expect(await failure(response)).toEqual(expected);
      }
    },
  );

  it('a service passed to createLocalServer replaces the stand-in', async () => {
    const tokens: TokensServer = {
      ...unimplementedService(TokensService),
      validateToken: unary(silentLogger(), () => ValidateTokenResponse.fromPartial({ valid: true })),
    };
    const withTokens = await startLocalServer({ services: { tokens } });
    const tokensClient = new TokensClient(withTokens.address, insecure);
    try {
      expect(await call((cb) => tokensClient.validateToken({ token: 'opaque', originHint: '' }, cb))).toEqual(
        ValidateTokenResponse.fromPartial({ valid: true }),
      );
      expect(
        await failure(call((cb) => tokensClient.revokeToken(RevokeTokenRequest.fromPartial({}), cb))),
      ).toEqual({
        code: status.UNIMPLEMENTED,
        details: 'alliance.v1.Tokens/RevokeToken is not implemented yet on this node',
      });
    } finally {
      tokensClient.close();
      await withTokens.server.stop();
    }
  });
});
