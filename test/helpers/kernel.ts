// Kernel tests need root and a kernel that loads the probe. Outside CI they
// are skipped with the reason when not root; in CI (CI set) they always run,
// so a probe that cannot load fails the build instead of vanishing.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const kernelTestOptions: { skip?: string } =
  process.getuid?.() === 0 || process.env.CI ? {} : { skip: 'kernel tests need root (they load the eBPF probe)' };

let signaller: string | undefined;

/** Builds test/helpers/signaller.c once per test process. */
export function signallerPath(): string {
  if (!signaller) {
    const dir = mkdtempSync(join(tmpdir(), 'sigaudit-signaller-'));
    signaller = join(dir, 'signaller');
    execFileSync('cc', ['-O2', '-Wall', '-o', signaller, join(__dirname, '..', '..', '..', 'test', 'helpers', 'signaller.c')]);
  }
  return signaller;
}
