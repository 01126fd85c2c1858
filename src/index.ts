#!/usr/bin/env node
// The single top-level catch and the only process.exit.
import { CommanderError } from 'commander';
import { SigauditError } from './errors';
import { buildCli } from './cli';
import { VERSION } from './version';

async function main(): Promise<number> {
  try {
    await buildCli().parseAsync(process.argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has already printed its message (or the help/version).
      return error.exitCode === 0 ? 0 : 2;
    }
    // Whoever read stdout stopped (sigaudit export | head): nothing is left to say.
    if ((error as NodeJS.ErrnoException).code === 'EPIPE' && (error as NodeJS.ErrnoException).syscall === 'write') return 0;
    if (error instanceof SigauditError) {
      process.stderr.write(`sigaudit: ${error.message} (fix: ${error.fix})\n`);
      return error.exitCode;
    }
    process.stderr.write(
      `sigaudit: unexpected error — this is a bug, please report it with this output\n` +
        `  sigaudit ${VERSION}, node ${process.version}, ${process.platform} ${process.arch}\n` +
        `${(error as Error).stack ?? String(error)}\n`,
    );
    return 70;
  }
}

void main().then((code) => process.exit(code));
