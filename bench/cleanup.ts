// Undo actions that must run however the bench ends: normal completion, a
// thrown error, Ctrl-C or SIGTERM. A tracer left behind keeps slowing the
// host (bpftrace probes, auditd rules logging every kill), so each tracer
// registers its undo here as soon as it has something to undo.
//
// The actions are synchronous because a process 'exit' handler cannot await.

type UndoAction = () => void;

const pending = new Map<number, { what: string; undo: UndoAction }>();
let nextId = 1;
let installed = false;

function runPending(): void {
  for (const [id, { what, undo }] of [...pending].reverse()) {
    pending.delete(id);
    try {
      undo();
    } catch (error) {
      process.stderr.write(`bench: cleanup "${what}" failed: ${String(error)}\n`);
    }
  }
}

function installHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runPending);
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal} received, cleaning up\n`);
      process.exit(code); // runs the 'exit' handler above
    });
  }
}

/** Registers an undo action; returns a function that unregisters it once the caller has undone it itself. */
export function registerCleanup(what: string, undo: UndoAction): () => void {
  installHandlers();
  const id = nextId++;
  pending.set(id, { what, undo });
  return () => {
    pending.delete(id);
  };
}
