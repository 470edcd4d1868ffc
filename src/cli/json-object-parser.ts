/**
 * Options that take a JSON object (`publish --data`, `provision create --spec`) are checked before
 * any call is made: the node would refuse anything else as a `google.protobuf.Struct`, and a
 * usage error can say what was wrong with the argument itself.
 */
import { InvalidArgumentError } from 'commander';

/** A commander argument parser accepting a JSON object only; `example` shows the operator one. */
export function jsonObjectParser(example: string): (value: string) => Record<string, unknown> {
  return (value) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new InvalidArgumentError(`expected a JSON object, e.g. '${example}', not text that is not JSON.`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new InvalidArgumentError(
        `expected a JSON object, e.g. '${example}', not ${describeJson(parsed)}.`,
      );
    }
    return parsed as Record<string, unknown>;
  };
}

function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    default:
      return 'that';
  }
}
