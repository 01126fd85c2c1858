// Installs the peer tools the bench compares against, from Debian packages,
// so that `npm run bench` works from a clean checkout on a clean machine.
import { commandExists, runCommand } from './proc';

export interface Requirement {
  /** Executable whose presence means the package is installed. */
  command: string;
  debianPackage: string;
}

export async function ensureInstalled(requirements: Requirement[]): Promise<void> {
  const missing: Requirement[] = [];
  for (const requirement of requirements) {
    if (!(await commandExists(requirement.command))) missing.push(requirement);
  }
  if (missing.length === 0) return;

  const packages = missing.map((r) => r.debianPackage);
  process.stderr.write(
    `bench: ${missing.map((r) => r.command).join(', ')} not found; installing Debian package(s) ${packages.join(' ')} with apt-get\n`,
  );
  if (!(await commandExists('apt-get'))) {
    throw new Error(`apt-get is not available: install ${packages.join(' ')} by hand, or leave the tools out with --tracers`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => runCommand('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...packages], { env });
  let result = await install();
  if (result.code !== 0) {
    // A fresh machine has no package lists yet; refresh them once and retry.
    process.stderr.write('bench: apt-get install failed; running apt-get update and retrying\n');
    await runCommand('apt-get', ['update', '-q'], { env });
    result = await install();
  }
  if (result.code !== 0) {
    throw new Error(
      `apt-get install ${packages.join(' ')} failed (run it by hand to see why, e.g. not root or no network):\n${result.stderr.trim()}`,
    );
  }
  for (const requirement of missing) {
    if (!(await commandExists(requirement.command))) {
      throw new Error(`package ${requirement.debianPackage} installed but ${requirement.command} is still not on PATH`);
    }
  }
  process.stderr.write(`bench: installed ${packages.join(' ')}\n`);
}
