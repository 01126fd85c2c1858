// The error vocabulary. Each user-facing failure has a stable code, a
// message naming the cause, and a fix; src/index.ts prints them and is the
// only place that exits.

export class SigauditError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly fix: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'SigauditError';
  }
}

/** Bad flags or arguments: exit code 2, like commander's own usage errors. */
export function usageError(message: string, fix: string): SigauditError {
  return new SigauditError('EUSAGE', message, fix, 2);
}

/** How the addon reports a failed step; it is handed this class at load. */
export class NativeError extends Error {
  readonly step: string;
  readonly errno: number;
  readonly libbpfLog: string[];

  constructor(details: { message: string; step: string; errno: number; libbpfLog: string[] }) {
    super(details.message);
    this.name = 'NativeError';
    this.step = details.step;
    this.errno = details.errno;
    this.libbpfLog = details.libbpfLog;
  }
}
