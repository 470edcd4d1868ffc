/**
 * Request strings that select (cloud, region, service type, interface, health service name) are
 * ids, not documents: anything longer than filterBytesMax is refused with INVALID_ARGUMENT naming
 * the field, before it reaches a lookup or an error message.
 */
import { invalidArgument } from '../lib/errors.js';

/** `fields` maps proto field names (as the caller wrote them) to their values. */
export function checkFilterLengths(fields: Record<string, string>, filterBytesMax: number): void {
  for (const [field, value] of Object.entries(fields)) {
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > filterBytesMax) {
      throw invalidArgument(`${field} is ${bytes} bytes long; the limit is ${filterBytesMax} bytes`);
    }
  }
}
