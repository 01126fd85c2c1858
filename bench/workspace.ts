// Where the bench finds the repository and keeps its scratch files.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { registerCleanup } from './cleanup';

/**
 * The repository root: the nearest directory above this file (normally
 * dist/bench/) or above the working directory whose package.json is sigaudit's.
 */
export function findRepoRoot(): string {
  for (const start of [__dirname, process.cwd()]) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      const manifest = path.join(dir, 'package.json');
      if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, 'utf8')).name === 'sigaudit') return dir;
      if (dir === path.dirname(dir)) break;
    }
  }
  throw new Error('cannot find the sigaudit repository (a package.json named "sigaudit"): run the bench from inside it');
}

let scratch: string | undefined;

/** A private temporary directory for this run (binaries, logs, databases), removed at exit. */
export function scratchDir(): string {
  if (!scratch) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sigaudit-bench-'));
    registerCleanup(`remove ${dir}`, () => fs.rmSync(dir, { recursive: true, force: true }));
    scratch = dir;
  }
  return scratch;
}
