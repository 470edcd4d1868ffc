/**
 * alliance.v1.Tokens over the tokens capability. Thin: checks the request's shape (RPC
 * errors are for malformed requests), and leaves every judgement of a token to the pipeline,
 * whose "invalid, because" is an answer, not an error.
 */
import type { Logger } from 'pino';
import type { TokensServer } from '../gen/alliance/v1/tokens.js';
import { invalidArgument } from '../lib/errors.js';
import { revocationToProto } from '../revocation/index.js';
import type { Tokens } from '../tokens/index.js';
import { unary } from './handlers.js';

const passwordBytesMax = 4096;

/** DNS label-ish ids, as cloud ids are. */
const namesBytesMax = 255;

function checkLength(field: string, value: string, max = namesBytesMax): void {
  if (Buffer.byteLength(value) > max) throw invalidArgument(`${field} is longer than ${max} bytes`);
}

function required(field: string, value: string): void {
  if (value === '') throw invalidArgument(`${field} is required`);
  checkLength(field, value);
}

export function createTokensHandlers({ tokens, log }: { tokens: Tokens; log: Logger }): TokensServer {
  return {
    validateToken: unary(log, async (request) => {
      checkLength('origin_hint', request.originHint);
      return tokens.validate(request.token, request.originHint);
    }),

    issueToken: unary(log, async (request) => {
      required('user_name', request.userName);
      // Passwords may be as long as the configuration allows (configBounds.passwordLengthMax).
      if (request.password === '') throw invalidArgument('password is required');
      checkLength('password', request.password, passwordBytesMax);
      required('project_name', request.projectName);
      checkLength('domain_name', request.domainName);
      const format = request.format || 'opaque';
      if (format !== 'opaque' && format !== 'jws') throw invalidArgument('format must be "opaque" or "jws"');
      const issued = await tokens.issue({
        userName: request.userName,
        password: request.password,
        projectName: request.projectName,
        domainName: request.domainName,
        format,
      });
      return { token: issued.token, expiresAt: new Date(issued.expiresAtMs) };
    }),

    exchangeToken: unary(log, async (request) => {
      if (request.token === '') throw invalidArgument('token is required');
      checkLength('origin_hint', request.originHint);
      const exchanged = await tokens.exchange(request.token, request.originHint);
      return { token: exchanged.token, expiresAt: new Date(exchanged.expiresAtMs) };
    }),

    revokeToken: unary(log, async (request) => {
      if (request.target && request.target.$case !== 'token')
        checkLength(request.target.$case, request.target.value);
      checkLength('reason', request.reason, 1024);
      return { revocation: revocationToProto(await tokens.revoke(request)) };
    }),

    listRevocations: unary(log, async (request) => {
      checkLength('origin_cloud', request.originCloud);
      return { revocations: tokens.listRevocations(request.originCloud).map(revocationToProto) };
    }),
  };
}
