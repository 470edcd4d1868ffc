import type { Command } from 'commander';

/** Placeholder until the command is written; registers nothing. */
export function registerServeCommand(_program: Command): void {}
