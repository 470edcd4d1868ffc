#!/usr/bin/env node
/**
 * The `alliance` process entry: runs the command line against the real process and sets the exit code.
 * No signal handlers here: Ctrl-C keeps its default meaning (end the process, status 130), which is
 * how `catalog watch` stops, and `serve`/`dev` install their own for a graceful shutdown.
 */
import { runCli } from './cli/program.js';

process.exitCode = await runCli(process.argv, {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  stdin: process.stdin,
});
