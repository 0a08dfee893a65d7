#!/usr/bin/env node
/** The `hapair` executable (package.json "bin"). Everything is in ./program.ts. */
import { nodeVersionProblem } from './node-version.js';
import type { CliIo } from './program.js';

// Checked before the rest loads: on an older Node the first sign would be a
// link error about a missing export of node:crypto.
const tooOld = nodeVersionProblem(process.versions.node);
if (tooOld !== null) {
  process.stderr.write(`${tooOld}\n`);
  process.exit(1);
}

const { runCli } = await import('./program.js');

const io: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  env: process.env,
  stdoutIsTty: process.stdout.isTTY === true,
  interrupted: () =>
    new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    }),
};

process.exitCode = await runCli(process.argv.slice(2), io);
