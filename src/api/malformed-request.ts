/**
 * Undecodable requests answer INVALID_ARGUMENT, not INTERNAL.
 *
 * grpc-js calls a method's `requestDeserialize` before any handler runs and answers a throwing
 * deserializer with INTERNAL "Error deserializing request" (server-interceptors.js,
 * decompressAndMaybePush). That is the client's fault, not ours, so every service definition the
 * local server registers is wrapped: a request that fails to decode becomes a MalformedRequest
 * marker, and the handler adapters (handlers.ts) answer it with INVALID_ARGUMENT
 * "malformed request: <reason>" before the handler sees it.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { errorMessage } from '../lib/errors.js';

export class MalformedRequest {
  constructor(readonly reason: string) {}
}

export function malformedRequestDetails(request: MalformedRequest): string {
  return `malformed request: ${request.reason}`;
}

/**
 * The same service definition with each requestDeserialize made total. The declared request
 * types stay as they are: only the adapters in handlers.ts (which check for the marker) may serve
 * a definition returned from here.
 */
export function acceptMalformedRequests<S extends ServiceDefinition>(definition: S): S {
  const wrapped: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition)) {
    const decode = method.requestDeserialize;
    wrapped[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return decode(bytes);
        } catch (err) {
          // A decoder error names the wire problem ("premature EOF", "invalid wire type 7"):
          // useful to the caller and free of anything internal.
          return new MalformedRequest(errorMessage(err));
        }
      },
    };
  }
  return wrapped as S;
}
