import type { Command } from 'commander';

/** Placeholder until the command is written; registers nothing. */
export function registerCertsCommand(_program: Command): void {}
