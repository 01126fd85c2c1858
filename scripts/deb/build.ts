// `npm run package`: sigaudit_<version>_<arch>.deb from a built checkout, with dpkg-deb, so a host runs sigaudit without a compiler.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DEFAULT_GROUP } from '../../src/store/database';
import { FORWARD_UNIT_NAME, renderUnit, UNIT_NAME } from '../../src/service/install';
import { VERSION } from '../../src/version';
import { manPage } from './manpage';

const ROOT = join(__dirname, '..', '..', '..');
/** Where the package puts the program: the checkout's layout, so every path the code finds beside itself holds. */
export const INSTALL_DIR = '/usr/lib/sigaudit';
export const ADDONS = ['sigaudit.node', 'notify.node', 'sigaudit_sqlite.node'];

function run(command: string, args: string[], cwd = ROOT): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function write(path: string, content: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  writeFileSync(path, content, { mode });
  chmodSync(path, mode);
}

/** Every file and directory below dir, each directory after its contents. */
function* entries(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* entries(path);
    yield path;
  }
}

function* files(dir: string): Generator<string> {
  for (const path of entries(dir)) if (!lstatSync(path).isDirectory()) yield path;
}

/** Who the package names as maintainer: Debian's DEBFULLNAME/DEBEMAIL, else the author of the commit built. */
function maintainer(): string {
  if (process.env.DEBFULLNAME && process.env.DEBEMAIL) return `${process.env.DEBFULLNAME} <${process.env.DEBEMAIL}>`;
  return run('git', ['log', '-1', '--format=%an <%ae>']).trim();
}

/** Production node_modules: the checkout's, dev dependencies pruned, and only the built binary of better-sqlite3. */
function stageNodeModules(lib: string): void {
  cpSync(join(ROOT, 'package-lock.json'), join(lib, 'package-lock.json'));
  cpSync(join(ROOT, 'node_modules'), join(lib, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  run('npm', ['prune', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], lib);
  rmSync(join(lib, 'package-lock.json'));
  rmSync(join(lib, 'node_modules', '.package-lock.json'), { force: true });
  // Dot files are the modules' own development and publishing settings (.eslintrc, .npmignore, .bin, …);
  // type declarations serve the compiler only, and are almost half of all files (date-fns has one per function).
  const unused = (path: string) => basename(path).startsWith('.') || /\.d\.[cm]?ts$/.test(path);
  for (const path of [...entries(join(lib, 'node_modules'))].filter(unused)) rmSync(path, { recursive: true, force: true });
  // Its sources and build tree only serve `npm install`; `bindings` loads build/Release/better_sqlite3.node.
  const sqlite = join(lib, 'node_modules', 'better-sqlite3');
  for (const name of ['deps', 'src', 'binding.gyp']) rmSync(join(sqlite, name), { recursive: true, force: true });
  const binary = readFileSync(join(sqlite, 'build', 'Release', 'better_sqlite3.node'));
  rmSync(join(sqlite, 'build'), { recursive: true });
  write(join(sqlite, 'build', 'Release', 'better_sqlite3.node'), binary);
}

/** The Depends: of the shared objects as dpkg-shlibdeps reads them, and the Node.js major whose ABI better-sqlite3 is built for. */
function depends(stage: string, objects: string[]): string {
  // dpkg-shlibdeps reads the package names from a debian/control.
  write(join(stage, 'debian', 'control'), 'Source: sigaudit\n\nPackage: sigaudit\nArchitecture: any\n');
  const output = run('dpkg-shlibdeps', ['-O', '--warnings=0', ...objects.map((object) => `-e${object}`)], stage);
  const shlibs = /^shlibs:Depends=(.*)$/m.exec(output)?.[1];
  if (!shlibs) throw new Error(`dpkg-shlibdeps printed no shlibs:Depends:\n${output}`);
  rmSync(join(stage, 'debian'), { recursive: true });
  const major = Number(process.versions.node.split('.')[0]);
  return `nodejs (>= ${major}), nodejs (<< ${major + 1}), ${shlibs}`;
}

function copyright(date: Date): string {
  return `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: sigaudit

Files: *
Copyright: ${date.getUTCFullYear()} the sigaudit authors
License: MIT
Comment: The npm modules in ${INSTALL_DIR}/node_modules keep their own licence files beside them.

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a
 copy of this software and associated documentation files (the "Software"),
 to deal in the Software without restriction, including without limitation
 the rights to use, copy, modify, merge, publish, distribute, sublicense,
 and/or sell copies of the Software, and to permit persons to whom the
 Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included
 in all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS
 OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
 MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
 IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY
 CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
 TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
 SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
`;
}

function changelog(who: string, date: Date): string {
  return `sigaudit (${VERSION}) unstable; urgency=medium

  * Built from the sigaudit repository; its history is the git log.

 -- ${who}  ${date.toUTCString().replace(/GMT$/, '+0000')}
`;
}

/** Builds the package into outDir and returns its path. */
export function buildDeb(outDir: string): string {
  const missing = [...ADDONS.map((addon) => join('build', 'Release', addon)), join('dist', 'src', 'index.js')].filter((path) => !existsSync(join(ROOT, path)));
  if (missing.length) throw new Error(`not built: ${missing.join(', ')}; run npm run build first`);
  const arch = run('dpkg', ['--print-architecture']).trim();
  const stage = mkdtempSync(join(tmpdir(), 'sigaudit-deb-'));
  try {
    const pkg = join(stage, 'root');
    const lib = join(pkg, INSTALL_DIR);
    cpSync(join(ROOT, 'package.json'), join(lib, 'package.json'));
    cpSync(join(ROOT, 'dist', 'src'), join(lib, 'dist', 'src'), { recursive: true, filter: (path) => !path.endsWith('.map') });
    cpSync(join(ROOT, 'migrations'), join(lib, 'migrations'), { recursive: true });
    cpSync(join(ROOT, 'src', 'fleet', 'migrations'), join(lib, 'src', 'fleet', 'migrations'), { recursive: true });
    for (const name of [UNIT_NAME, FORWARD_UNIT_NAME, 'sigaudit.env']) cpSync(join(ROOT, 'packaging', name), join(lib, 'packaging', name));
    for (const addon of ADDONS) cpSync(join(ROOT, 'build', 'Release', addon), join(lib, 'build', 'Release', addon));
    stageNodeModules(lib);

    const cli = join(INSTALL_DIR, 'dist', 'src', 'index.js');
    // Absolute paths, not PATH: it runs the same from a unit, a cron job or an empty PATH.
    write(join(pkg, 'usr', 'bin', 'sigaudit'), `#!/bin/sh\nexec /usr/bin/node ${cli} "$@"\n`, 0o755);
    write(join(pkg, 'lib', 'systemd', 'system', UNIT_NAME), renderUnit({ group: DEFAULT_GROUP, nodePath: '/usr/bin/node', cliPath: cli }).unit);
    write(join(pkg, 'etc', 'default', 'sigaudit'), readFileSync(join(ROOT, 'packaging', 'sigaudit.env')));
    const now = new Date();
    write(join(pkg, 'usr', 'share', 'man', 'man1', 'sigaudit.1.gz'), gzipSync(manPage(now), { level: 9 }));
    const who = maintainer();
    const doc = join(pkg, 'usr', 'share', 'doc', 'sigaudit');
    write(join(doc, 'copyright'), copyright(now));
    write(join(doc, 'changelog.gz'), gzipSync(changelog(who, now), { level: 9 }));

    // Every shared object loses its symbols (lintian: unstripped-binary-or-object); data such as the embedded BPF object stays.
    const objects = [...files(lib)].filter((path) => path.endsWith('.node'));
    run('strip', ['--strip-unneeded', '--remove-section=.comment', '--remove-section=.note', ...objects]);
    // Only the launcher and the CLI script it names are run; node reads the rest, and loads the shared objects with dlopen.
    const executables = [join(pkg, 'usr', 'bin', 'sigaudit'), join(pkg, cli)];
    let installedKiB = 0;
    for (const path of entries(pkg)) {
      const stat = lstatSync(path);
      if (stat.isDirectory()) {
        if (readdirSync(path).length === 0) rmdirSync(path);
        else chmodSync(path, 0o755);
        continue;
      }
      if (!stat.isSymbolicLink()) chmodSync(path, executables.includes(path) ? 0o755 : 0o644);
      installedKiB += Math.ceil(stat.size / 1024);
    }

    const debian = join(pkg, 'DEBIAN');
    const control = [
      'Package: sigaudit',
      `Version: ${VERSION}`,
      `Architecture: ${arch}`,
      `Maintainer: ${who}`,
      `Installed-Size: ${installedKiB}`,
      `Depends: ${depends(stage, objects)}`,
      'Section: admin',
      'Priority: optional',
      'Description: signal audit logger: who sent which signal to whom',
      ' sigaudit records every signal sent on the host (kill, tkill, tgkill,',
      ' rt_sigqueueinfo, pidfd_send_signal and the signals the kernel sends)',
      ' with an eBPF probe into an SQLite database, and answers who killed a',
      ' process, which sends failed, and who sends the most.',
      '',
    ].join('\n');
    write(join(debian, 'control'), control);
    write(join(debian, 'conffiles'), '/etc/default/sigaudit\n');
    const sums = [...files(pkg)]
      .filter((path) => !path.startsWith(debian + '/') && !path.startsWith(join(pkg, 'etc') + '/'))
      .map((path) => `${createHash('md5').update(readFileSync(path)).digest('hex')}  ${relative(pkg, path)}`);
    write(join(debian, 'md5sums'), `${sums.join('\n')}\n`);
    for (const script of ['postinst', 'prerm', 'postrm']) write(join(debian, script), readFileSync(join(ROOT, 'packaging', 'deb', script)), 0o755);
    chmodSync(pkg, 0o755);

    mkdirSync(outDir, { recursive: true });
    const deb = join(outDir, `sigaudit_${VERSION}_${arch}.deb`);
    run('dpkg-deb', ['--root-owner-group', '--build', pkg, deb]);
    return deb;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const outIndex = process.argv.indexOf('--out');
  const outDir = outIndex > 0 ? process.argv[outIndex + 1] : join(ROOT, 'build', 'deb');
  const deb = buildDeb(outDir);
  process.stdout.write(`${deb} (${Math.round(statSync(deb).size / 1024)} KiB)\n`);
}
