// Kernel tests need root and a kernel that loads the probe. Outside CI they
// are skipped with the reason when not root; in CI (CI set) they always run,
// so a probe that cannot load fails the build instead of vanishing.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const kernelTestOptions: { skip?: string } =
  process.getuid?.() === 0 || process.env.CI ? {} : { skip: 'kernel tests need root (they load the eBPF probe)' };

const built = new Map<string, string>();

/** Builds test/helpers/signaller.c once per test process; bits 32 makes an ia32 binary. */
export function signallerPath(bits: 64 | 32 = 64): string {
  const key = String(bits);
  if (!built.has(key)) {
    const dir = mkdtempSync(join(tmpdir(), 'sigaudit-signaller-'));
    const path = join(dir, bits === 32 ? 'signaller32' : 'signaller');
    const flags = bits === 32 ? ['-m32', '-static'] : [];
    execFileSync('cc', ['-O2', '-Wall', ...flags, '-o', path, join(__dirname, '..', '..', '..', 'test', 'helpers', 'signaller.c')]);
    built.set(key, path);
  }
  return built.get(key)!;
}

let flooder: string | undefined;

/** Builds test/helpers/flooder.c once per test process, where any user may run it. */
export function flooderPath(): string {
  if (!flooder) {
    const dir = mkdtempSync(join(tmpdir(), 'sigaudit-flooder-'));
    chmodSync(dir, 0o755);
    flooder = join(dir, 'flooder');
    execFileSync('cc', ['-O2', '-Wall', '-o', flooder, join(__dirname, '..', '..', '..', 'test', 'helpers', 'flooder.c')]);
  }
  return flooder;
}
