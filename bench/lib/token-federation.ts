/**
 * A two-cloud dev federation set up for token benchmarks: tokens are issued at cloud-a (the
 * origin: user demo/demo, project demo, role member) and validated over cloud-b's local API (the
 * validator), so every format crosses clouds: cloud-b verifies cloud-a's JWS with the key cloud-a
 * published over the mesh and asks cloud-a for the token's names and roles, verifies federation
 * tokens offline against the federation CA, and asks cloud-a about opaque tokens.
 *
 * - Repeat tokens: one token per format, validated once at cloud-b (and checked: valid, origin
 *   cloud-a, the expected format, mapped by cloud-b's rule), so every further validation of it is
 *   an answer-cache hit (src/tokens/index.ts caches whole answers by token fingerprint).
 * - Fresh pools: many distinct tokens, never validated at cloud-b before, each pre-encoded as a
 *   ValidateTokenRequest, so a validation of one runs the whole pipeline. JWS tokens are issued
 *   at cloud-a (IssueToken, format jws: each has its own audit id); federation tokens are made by
 *   ExchangeToken of one opaque home token at cloud-a (ECDSA signatures are randomised, so each
 *   exchange yields a distinct token).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@grpc/grpc-js';
import { connectLocalApi, type ApiClient, type LocalApiConnection } from '../../src/cli/client.js';
import type { DevCloud } from '../../src/dev/index.js';
import {
  TokensService,
  ValidateTokenRequest,
  ValidateTokenResponse,
} from '../../src/gen/alliance/v1/tokens.js';
import { localAddressOf } from './alliance-process.js';
import type { BenchChild } from './child-process.js';
import { runClosedLoop } from './closed-loop.js';
import { rawUnary } from './local-channel.js';
import { startNodeFederation, type NodeFederation } from './node-federation.js';

export type TokenKind = 'jws' | 'federation' | 'opaque';

/** What the validator's Identity.token_format says for each kind issued here. */
const expectedFormat: Record<TokenKind, string> = { jws: 'jws', federation: 'federation', opaque: 'uuid' };

const setupCallTimeoutMs = 10_000;
const federationStartTimeoutMs = 30_000;
/** How long cloud-b may take to accept cloud-a's first JWS (its keys travel over the mesh). */
const keysReadyTimeoutMs = 15_000;
/** Calls kept in flight while filling a fresh pool. */
const issueConcurrency = 32;

export const validatePath = TokensService.validateToken.path;

export interface RepeatToken {
  kind: TokenKind;
  token: string;
  /** The pre-encoded ValidateTokenRequest. */
  request: Buffer;
  /** The encoded answer of the checked first validation. */
  response: Buffer;
  answer: ValidateTokenResponse;
}

export interface TokenFederation {
  federation: NodeFederation;
  origin: DevCloud;
  validator: DevCloud;
  originChild: BenchChild;
  validatorChild: BenchChild;
  repeat: Record<TokenKind, RepeatToken>;
  /** A new channel (its own HTTP/2 connection) to cloud-b's local API. */
  validatorChannel(): Client;
  /** `count` distinct, never validated tokens of `kind`, as encoded ValidateTokenRequests. */
  freshPool(kind: 'jws' | 'federation', count: number): Promise<Buffer[]>;
  close(): Promise<void>;
}

export function encodeValidateRequest(token: string): Buffer {
  return Buffer.from(ValidateTokenRequest.encode({ token, originHint: '' }).finish());
}

/**
 * A ValidateTokenResponse with valid = true starts with field 1 = true (bytes 0x08 0x01):
 * ts-proto writes fields in number order and omits false. So the load loop checks each answer
 * without decoding it; a "no" is decoded only to describe the failure.
 */
export function isValidAnswer(bytes: Buffer): boolean {
  return bytes.length >= 2 && bytes[0] === 0x08 && bytes[1] === 0x01;
}

export function describeAnswer(bytes: Buffer): string {
  const answer = ValidateTokenResponse.decode(bytes);
  return `invalid answer: reason ${answer.reason}: ${answer.detail}`.slice(0, 200);
}

/** One validation whose answer must be "valid"; rejects (with the reason) otherwise. */
export async function validateOnce(channel: Client, request: Buffer, deadlineMs: number): Promise<Buffer> {
  const bytes = await rawUnary(channel, validatePath, request, { deadlineMs });
  if (!isValidAnswer(bytes)) throw new Error(describeAnswer(bytes));
  return bytes;
}

export async function startTokenFederation(progress: (message: string) => void): Promise<TokenFederation> {
  const started = await startNodeFederation({
    clouds: 2,
    dirPrefix: 'alliance-bench-tokens-',
    timeoutMs: federationStartTimeoutMs,
  });
  const federation = started.federation;
  const connections: LocalApiConnection[] = [];
  try {
    const [origin, validator] = federation.clouds;
    const [originChild, validatorChild] = federation.children;
    if (!origin || !validator || !originChild || !validatorChild) throw new Error('expected two clouds');
    progress(
      `tokens: ${origin.cloud} and ${validator.cloud} serving after ${Math.round(started.serveMs)} ms, ` +
        `connected ${Math.round(started.connectMs)} ms later`,
    );
    const connect = (cloud: DevCloud): ApiClient<typeof TokensService> => {
      const connection = connectLocalApi({ address: localAddressOf(cloud), timeoutMs: setupCallTimeoutMs });
      connections.push(connection);
      return connection.client(TokensService);
    };
    const originTokens = connect(origin);
    const checkChannel = federation.openChannelTo(1);

    const issue = async (format: 'jws' | 'opaque'): Promise<string> =>
      (
        await originTokens.issueToken({
          userName: 'demo',
          password: 'demo',
          projectName: 'demo',
          domainName: '',
          format,
        })
      ).token;

    const checked = async (kind: TokenKind, token: string, bytes: Buffer): Promise<RepeatToken> => {
      const answer = ValidateTokenResponse.decode(bytes);
      const identity = answer.identity;
      if (!answer.valid || identity?.originCloud !== origin.cloud) {
        throw new Error(
          `${kind} token: unexpected answer ${JSON.stringify(ValidateTokenResponse.toJSON(answer))}`,
        );
      }
      if (identity.tokenFormat !== expectedFormat[kind]) {
        throw new Error(
          `${kind} token: format '${identity.tokenFormat}', expected '${expectedFormat[kind]}'`,
        );
      }
      if (!answer.local?.mapped) throw new Error(`${kind} token: not mapped at ${validator.cloud}`);
      return { kind, token, request: encodeValidateRequest(token), response: bytes, answer };
    };

    // cloud-a's JWS keys reach cloud-b over the mesh; until then a JWS is refused, and the "no"
    // is cached under that token, so each attempt uses a new token.
    const jwsDeadline = Date.now() + keysReadyTimeoutMs;
    let backoffMs = 10;
    let jws: RepeatToken | null = null;
    let lastProblem = '';
    while (!jws) {
      const token = await issue('jws');
      const bytes = await rawUnary(checkChannel, validatePath, encodeValidateRequest(token), {
        deadlineMs: setupCallTimeoutMs,
      });
      if (isValidAnswer(bytes)) jws = await checked('jws', token, bytes);
      else {
        lastProblem = describeAnswer(bytes);
        if (Date.now() > jwsDeadline)
          throw new Error(`${validator.cloud} never accepted a JWS: ${lastProblem}`);
        await sleep(backoffMs);
        backoffMs = Math.min(200, backoffMs * 2);
      }
    }

    const opaqueToken = await issue('opaque');
    const opaque = await checked(
      'opaque',
      opaqueToken,
      await validateOnce(checkChannel, encodeValidateRequest(opaqueToken), setupCallTimeoutMs),
    );
    // The home token federation tokens are made from (hinted: no question to cloud-b).
    const homeToken = await issue('opaque');
    const exchange = async (): Promise<string> =>
      (await originTokens.exchangeToken({ token: homeToken, originHint: origin.cloud })).token;
    const federationToken = await exchange();
    const federated = await checked(
      'federation',
      federationToken,
      await validateOnce(checkChannel, encodeValidateRequest(federationToken), setupCallTimeoutMs),
    );

    const freshPool = async (kind: 'jws' | 'federation', count: number): Promise<Buffer[]> => {
      const pool: Buffer[] = [];
      const result = await runClosedLoop({
        concurrency: issueConcurrency,
        callsMax: count,
        call: async () => {
          const token = kind === 'jws' ? await issue('jws') : await exchange();
          pool.push(encodeValidateRequest(token));
        },
      });
      if (result.errors > 0) {
        throw new Error(`issuing ${kind} tokens failed: ${JSON.stringify(result.errorKinds)}`);
      }
      if (new Set(pool.map((b) => b.toString('base64'))).size !== pool.length) {
        throw new Error(`the ${kind} pool holds duplicate tokens`);
      }
      return pool;
    };

    return {
      federation,
      origin,
      validator,
      originChild,
      validatorChild,
      repeat: { jws, federation: federated, opaque },
      validatorChannel: () => federation.openChannelTo(1),
      freshPool,
      async close() {
        for (const connection of connections) connection.close();
        await federation.close();
      },
    };
  } catch (err) {
    for (const connection of connections) connection.close();
    await federation.close();
    throw err;
  }
}
