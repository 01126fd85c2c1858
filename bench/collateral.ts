// What sigaudit costs the rest of the host, next to the reference tracer
// (bench/reference): unrelated system calls (collateral: getppid, read/write)
// and the kill(self,0) loop (killloop). Same method as the cost section: each
// traced run is divided by the bare run just before it, tracers interleaved in
// a rotating order, median and min–max over the rounds.
import { runCommand } from './proc';
import { runLoad, type LoadResult } from './loadgen';
import { ReferenceTracer, type AuditState } from './reference';
import { summarize, type Summary } from './stats';
import { SigauditTracer, type Tracer } from './tracers';
import type { Workload } from './report';

export const COLLATERAL_WORKLOADS: Workload[] = [
  { id: 'getppid', label: 'getppid loop', mode: 'getppid', procs: 1 },
  { id: 'readwrite', label: 'read/write loop (64 B, /dev/zero → /dev/null)', mode: 'readwrite', procs: 1 },
];
export const KILLLOOP_WORKLOADS: Workload[] = [{ id: 'kill0', label: 'kill(self, 0) loop', mode: 'kill0', procs: 1 }];

export interface HostCostRow {
  workload: string;
  label: string;
  tracer: string;
  bareNsPerOp: Summary;
  ratio: Summary;
}

export interface HostCost {
  rounds: number;
  rows: HostCostRow[];
  /** Per workload: sigaudit's median slowdown ÷ the reference's. */
  relative: { workload: string; label: string; sigauditOverReference: number }[];
  audit?: AuditState;
}

const SETTLE_MS = 500;
const CALIBRATION_COUNT = 100_000;

async function settle(): Promise<void> {
  await runCommand('sync', []);
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}

async function runAll(binary: string, workloads: Workload[], counts: Map<string, number>): Promise<Map<string, LoadResult>> {
  const results = new Map<string, LoadResult>();
  for (const w of workloads) results.set(w.id, await runLoad(binary, { mode: w.mode, count: counts.get(w.id)!, procs: w.procs }));
  return results;
}

export async function measureHostCost(binary: string, workloads: Workload[], rounds: number, runMs: number, log: (line: string) => void): Promise<HostCost> {
  const reference = new ReferenceTracer();
  const tracers: Tracer[] = [new SigauditTracer(), reference];
  for (const tracer of tracers) await tracer.prepare();

  // Sized on a bare run: the same count runs bare and traced.
  const calibration = await runAll(binary, workloads, new Map(workloads.map((w) => [w.id, CALIBRATION_COUNT])));
  const counts = new Map([...calibration].map(([id, r]) => [id, Math.max(10_000, Math.round((runMs * 1e6) / r.ns_per_op))]));

  const ratios = new Map<string, number[]>();
  const bares = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const tracer of tracers.map((_, i) => tracers[(i + round) % tracers.length])) {
      log(`round ${round + 1}/${rounds}: ${tracer.name}`);
      await settle();
      const bare = await runAll(binary, workloads, counts);
      await tracer.start();
      let traced: Map<string, LoadResult>;
      try {
        traced = await runAll(binary, workloads, counts);
        // Unscored: one load generator send, so the reference reads its audit state.
        if (tracer === reference && !workloads.some((w) => w.mode === 'kill0')) await runLoad(binary, { mode: 'kill0', count: 1000 });
      } finally {
        await tracer.stop();
      }
      for (const w of workloads) {
        const key = `${tracer.name}/${w.id}`;
        ratios.set(key, [...(ratios.get(key) ?? []), traced.get(w.id)!.ns_per_op / bare.get(w.id)!.ns_per_op]);
        bares.set(key, [...(bares.get(key) ?? []), bare.get(w.id)!.ns_per_op]);
      }
    }
  }
  const rows = workloads.flatMap((w) =>
    tracers.map((t) => ({
      workload: w.id,
      label: w.label,
      tracer: t.name,
      bareNsPerOp: summarize(bares.get(`${t.name}/${w.id}`)!),
      ratio: summarize(ratios.get(`${t.name}/${w.id}`)!),
    })),
  );
  const relative = workloads.map((w) => {
    const median = (tracer: string) => rows.find((r) => r.workload === w.id && r.tracer === tracer)!.ratio.median;
    return { workload: w.id, label: w.label, sigauditOverReference: median('sigaudit') / median('reference') };
  });
  return { rounds, rows, relative, audit: reference.audit };
}

/** One line on the audit state the figures were taken in. */
export function auditStateLine(audit: AuditState | undefined): string {
  if (!audit) return 'Audit state: unknown (no kill loop ran while the reference tracer was attached, so it saw no load generator send).';
  return audit.audited
    ? `Audit state: ON — the load generator carried SYSCALL_WORK_SYSCALL_AUDIT (syscall_work 0x${audit.syscallWork.toString(16)}): auditd has run in this boot and every system call takes the audit slow path, which hides most tracer collateral. Reboot for meaningful figures.`
    : `Audit state: off — the load generator's syscall_work was 0x${audit.syscallWork.toString(16)}, without SYSCALL_WORK_SYSCALL_AUDIT (read by the reference tracer).`;
}
