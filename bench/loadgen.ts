// Builds bench/loadgen.c and runs it. The binary is compiled fresh into the
// run's scratch directory so that no binary is ever committed or stale.
import * as path from 'node:path';
import { runChecked } from './proc';
import { findRepoRoot, scratchDir } from './workspace';

export type LoadMode = 'kill0' | 'esrch' | 'tgkill' | 'ignored' | 'getppid' | 'readwrite';

/** The JSON line loadgen prints (see the header of loadgen.c). */
export interface LoadResult {
  mode: LoadMode;
  count: number;
  procs: number;
  ns_per_op: number;
  elapsed_ns: number;
  sent: number;
  rate_per_proc?: number;
  achieved_ops_per_s?: number;
}

export interface LoadOptions {
  mode: LoadMode;
  count: number;
  procs?: number;
  /** Pace each process at this many calls per second instead of flat out. */
  ratePerProc?: number;
}

export async function buildLoadgen(): Promise<string> {
  const source = path.join(findRepoRoot(), 'bench', 'loadgen.c');
  const binary = path.join(scratchDir(), 'loadgen');
  await runChecked('cc', ['-O2', '-Wall', '-Wextra', '-o', binary, source]).catch((error: Error) => {
    throw new Error(`cannot build the load generator (${error.message}); install a C compiler: apt-get install -y gcc`);
  });
  return binary;
}

export async function runLoad(binary: string, options: LoadOptions): Promise<LoadResult> {
  const args = [options.mode, String(options.count), String(options.procs ?? 1)];
  if (options.ratePerProc) args.push('--rate', String(options.ratePerProc));
  const { stdout } = await runChecked(binary, args, { killGroupOnExit: true });
  return JSON.parse(stdout) as LoadResult;
}
