// Turns a failed native step into a message with a fix. The addon only says
// which step failed and the errno; what that means for the user is decided here.
import { constants } from 'node:os';
import { NativeError, SigauditError } from '../errors';

const { EPERM, EACCES, EINVAL, E2BIG, ENOENT, ENOMEM, EBADF } = constants.errno;
const VERIFIER_LOG_LINES = 20;
/** The Debian packages of the shared libraries the addon links (build/Release/sigaudit.node). */
const LIBRARY_PACKAGES: Record<string, string> = { 'libbpf.so.1': 'libbpf1', 'libelf.so.1': 'libelf1', 'libz.so.1': 'zlib1g' };

/** The verifier's own words: the tail of the program load log libbpf printed. */
export function verifierLogTail(libbpfLog: string[]): string[] {
  const text = libbpfLog.join('');
  const start = text.lastIndexOf('-- BEGIN PROG LOAD LOG --');
  const end = text.lastIndexOf('-- END PROG LOAD LOG --');
  if (start === -1 || end < start) return [];
  const lines = text.slice(start, end).split('\n').slice(1).filter((line) => line.trim() !== '');
  return lines.slice(-VERIFIER_LOG_LINES);
}

export function nativeFailure(error: NativeError): SigauditError {
  const where = `${error.message} (step ${error.step})`;
  if (error.step === 'load' && (error.errno === EPERM || error.errno === EACCES) && verifierLogTail(error.libbpfLog).length === 0)
    return new SigauditError(
      'EPRIVILEGE',
      `${where}: the kernel refused to load BPF programs`,
      'run as root, or grant CAP_BPF and CAP_PERFMON; under kernel lockdown only tracepoint programs load',
    );
  if (error.step === 'load' && error.errno === ENOMEM)
    return new SigauditError('ENOMEM', `${where}: the kernel could not allocate BPF maps`, 'use a smaller --ring-size, or raise RLIMIT_MEMLOCK (needed before Linux 5.11)');
  if (error.step === 'load') {
    const tail = verifierLogTail(error.libbpfLog);
    if (tail.length > 0)
      return new SigauditError(
        'EVERIFIER',
        `${where}: the BPF verifier rejected the program:\n  ${tail.join('\n  ')}`,
        'report this as a bug with the output of uname -r and sigaudit --version',
      );
    if (error.errno === ENOENT || error.errno === EINVAL || error.errno === E2BIG)
      return new SigauditError(
        'EKERNEL',
        `${where}: this kernel lacks a BPF feature sigaudit needs (BTF-typed tracepoints, ring buffer, task storage, bpf_task_pt_regs: Linux 5.15 or newer)`,
        'use Linux 5.15 or newer with CONFIG_DEBUG_INFO_BTF=y; run with --verbose to see libbpf\'s log',
      );
  }
  if (error.step === 'ring-size')
    return new SigauditError('EUSAGE', `${where}`, 'give --ring-size a power of two of at least 4 KiB, e.g. 16M', 2);
  if (error.step === 'attach')
    return new SigauditError(
      'EATTACH',
      `${where}`,
      error.errno === ENOENT
        ? 'the kernel lacks this tracepoint; check that tracefs is mounted and CONFIG_FTRACE_SYSCALLS=y'
        : 'run as root (CAP_BPF, CAP_PERFMON) and check that tracefs is mounted at /sys/kernel/tracing',
    );
  if (error.errno === EBADF)
    return new SigauditError('ECLOSED', where, 'this is a bug in sigaudit: please report it');
  return new SigauditError('ENATIVE', where, 'run with --verbose for libbpf\'s log, and report it if it persists');
}

/** The addon did not load: a shared library it links that is missing is the user's to install; anything else is a bug. */
export function addonLoadFailure(error: Error): Error {
  const library = /^(\S+\.so[.\d]*): cannot open shared object file/.exec(error.message)?.[1];
  if (library === undefined) return error;
  const debianPackage = LIBRARY_PACKAGES[library];
  return new SigauditError(
    'ELIBRARY',
    `the kernel probe needs the shared library ${library}, which is not installed`,
    debianPackage ? `apt-get install ${debianPackage}, or elsewhere the package that provides ${library}` : `install the package that provides ${library}`,
  );
}
