/**
 * Tells what kind of token a string is, from its shape alone, before anything in it is
 * trusted: a JWS (three base64url parts) is a federation token when its header carries a
 * certificate chain, a Keystone JWS otherwise; anything else of token characters is opaque
 * (UUID or Fernet), which only its issuing cloud can judge.
 */
import { limits } from '../config/limits.js';

/** The JWT `typ` of Alliance federation tokens. */
export const federationTokenType = 'alliance-federation+jwt';

export interface JwsParts {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** `header.payload`, the signed bytes. */
  signingInput: string;
  signature: Buffer;
}

export type ParsedToken =
  | { kind: 'federation'; jws: JwsParts }
  | { kind: 'jws'; jws: JwsParts }
  | { kind: 'opaque' }
  | { kind: 'malformed'; detail: string };

const jwsShape = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** UUID hex, Fernet (urlsafe base64 with padding) and similar opaque tokens. */
const opaqueShape = /^[A-Za-z0-9_=-]+$/;

function decodeJsonPart(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new Error(`the ${what} is not base64url JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`the ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

export function parseToken(token: string): ParsedToken {
  if (token.length === 0) return { kind: 'malformed', detail: 'the token is empty' };
  if (token.length > limits.tokenBytesMax) {
    return { kind: 'malformed', detail: `the token is longer than ${limits.tokenBytesMax} bytes` };
  }
  if (jwsShape.test(token)) {
    const [headerPart = '', payloadPart = '', signaturePart = ''] = token.split('.');
    try {
      const jws: JwsParts = {
        header: decodeJsonPart(headerPart, 'header'),
        payload: decodeJsonPart(payloadPart, 'payload'),
        signingInput: `${headerPart}.${payloadPart}`,
        signature: Buffer.from(signaturePart, 'base64url'),
      };
      const isFederation = jws.header.typ === federationTokenType || Array.isArray(jws.header.x5c);
      return { kind: isFederation ? 'federation' : 'jws', jws };
    } catch (err) {
      return { kind: 'malformed', detail: (err as Error).message };
    }
  }
  if (opaqueShape.test(token)) return { kind: 'opaque' };
  return { kind: 'malformed', detail: 'the token has characters no token format uses' };
}
