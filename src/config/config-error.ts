/**
 * The one error configuration loading throws. It carries every problem found, not just the
 * first, so an operator fixes a file in one pass; each problem names the dotted key it is
 * about (`catalog.endpoints[2].url`), or a pseudo-key in parentheses when the problem is not
 * about one key: `(file)` the file could not be read, `(yaml)` the text is not valid YAML,
 * `(root)` the document as a whole.
 */
import { AllianceError } from '../lib/errors.js';

export interface ConfigProblem {
  /** Dotted path of the key, e.g. `listen.local` or `catalog.endpoints[2].url`. */
  key: string;
  message: string;
}

export class ConfigError extends AllianceError {
  readonly problems: ConfigProblem[];
  /** The file (or other named source) the configuration came from, if any. */
  readonly source: string | undefined;

  constructor(problems: ConfigProblem[], options: { source?: string | undefined; cause?: unknown } = {}) {
    super('INVALID_ARGUMENT', formatConfigProblems(problems, options.source), { cause: options.cause });
    this.name = 'ConfigError';
    this.problems = problems;
    this.source = options.source;
  }
}

/** A header naming the source and the count, then one line per problem, each starting with its key. */
export function formatConfigProblems(problems: readonly ConfigProblem[], source?: string): string {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  const header =
    source === undefined
      ? `invalid configuration (${count}):`
      : `invalid configuration in ${source} (${count}):`;
  return [header, ...problems.map((problem) => `${problem.key}: ${problem.message}`)].join('\n');
}
