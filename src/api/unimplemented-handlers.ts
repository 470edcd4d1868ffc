/**
 * Stand-ins for the local services not built yet (Tokens, Events, Provisioning): every method
 * answers UNIMPLEMENTED with a message naming it. createLocalServer fills each service it is not
 * given with these, so later work replaces them one service at a time.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import { unimplemented, type UnimplementedHandler } from './handlers.js';

/** One UNIMPLEMENTED handler per method of `definition`, named from the method's path. */
export function unimplementedService<S extends ServiceDefinition>(
  definition: S,
): { [K in keyof S]: UnimplementedHandler } {
  const implementation: Partial<Record<keyof S, UnimplementedHandler>> = {};
  for (const key of Object.keys(definition) as (keyof S & string)[]) {
    const method = definition[key];
    // Paths are "/<package>.<Service>/<Method>".
    const [, service = '', name = ''] = method?.path.split('/') ?? [];
    implementation[key] = unimplemented(service, name);
  }
  return implementation as { [K in keyof S]: UnimplementedHandler };
}
