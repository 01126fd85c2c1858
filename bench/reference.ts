// The reference tracer (bench/reference/): a plain libbpf program attaching
// the per-syscall enter/exit tracepoints of the six signal syscalls, built
// fresh into the scratch directory, started and stopped like the others. It
// also reports whether the load generator ran on the kernel's audit slow path.
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { registerCleanup } from './cleanup';
import { pollUntil, runChecked, waitForExit } from './proc';
import { ensureTracefs, type Tracer, type TracerSessionStats } from './tracers';
import { findRepoRoot, scratchDir } from './workspace';

/** What the reference saw of the load generator's thread_info.syscall_work. */
export interface AuditState {
  /** Whether a load generator's signal syscall was seen at all. */
  seen: boolean;
  /** SYSCALL_WORK_SYSCALL_AUDIT was set: every syscall took the audit slow path. */
  audited: boolean;
  syscallWork: number;
}

const ARCH = process.arch === 'arm64' ? 'arm64' : 'x86';

export class ReferenceTracer implements Tracer {
  readonly name = 'reference';
  readonly description =
    'bench/reference: libbpf, syscalls:sys_enter_*/sys_exit_* of the six signal syscalls, a hash keyed by tid, one ring-buffer record per call, a consumer counting them';
  private binary?: string;
  private child?: ChildProcess;
  private output: string[] = [];
  private unregister?: () => void;
  /** From the last session in which the load generator sent a signal. */
  audit?: AuditState;

  async prepare(): Promise<void> {
    await ensureTracefs('the reference tracer');
    const source = path.join(findRepoRoot(), 'bench', 'reference');
    const out = path.join(scratchDir(), 'reference');
    const step = async (what: string, command: string, args: string[]) =>
      runChecked(command, args).catch((error: Error) => {
        throw new Error(`cannot build the reference tracer (${what}: ${error.message}); it needs clang, bpftool, cc and libbpf-dev`);
      });
    fs.mkdirSync(out, { recursive: true });
    const vmlinux = await step('bpftool btf dump', 'bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c']);
    fs.writeFileSync(path.join(out, 'vmlinux.h'), vmlinux.stdout);
    const object = path.join(out, 'reference.bpf.o');
    await step('clang', 'clang', ['-g', '-O2', '-Wall', '-target', 'bpf', `-D__TARGET_ARCH_${ARCH}`, `-I${out}`, '-c', path.join(source, 'reference.bpf.c'), '-o', object]);
    const skeleton = await step('bpftool gen skeleton', 'bpftool', ['gen', 'skeleton', object, 'name', 'reference_bpf']);
    fs.writeFileSync(path.join(out, 'reference.skel.h'), skeleton.stdout);
    this.binary = path.join(out, 'reference');
    await step('cc', 'cc', ['-O2', '-Wall', '-Wextra', `-I${out}`, '-o', this.binary, path.join(source, 'reference.c'), '-lbpf', '-lelf', '-lz']);
  }

  async start(): Promise<void> {
    const child = spawn(this.binary!, [], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.output = [];
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => this.output.push(line));
    child.on('error', () => {}); // reported through the exit check below
    this.unregister = registerCleanup('kill the reference tracer', () => child.kill('SIGKILL'));
    await pollUntil('the reference tracer to print "ready"', 30_000, () => {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`the reference tracer exited at start with ${child.exitCode ?? child.signalCode}: ${stderr.trim()}`);
      return this.output.includes('ready') ? true : undefined;
    });
  }

  async stop(): Promise<TracerSessionStats> {
    const child = this.child;
    this.child = undefined;
    try {
      if (!child) return {};
      child.kill('SIGTERM');
      const exit = await waitForExit(child, 30_000);
      if (exit.code !== 0) throw new Error(`the reference tracer exited with ${exit.code ?? exit.signal} on SIGTERM`);
      const summary = JSON.parse(this.output[this.output.length - 1]) as {
        records: number;
        loadgen_seen: number;
        loadgen_audited: number;
        loadgen_syscall_work: number;
      };
      if (summary.loadgen_seen)
        this.audit = { seen: true, audited: summary.loadgen_audited === 1, syscallWork: summary.loadgen_syscall_work };
      return { recorded: summary.records };
    } finally {
      child?.kill('SIGKILL');
      this.unregister?.();
      this.unregister = undefined;
    }
  }
}
