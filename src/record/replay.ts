// Start-up's recovery: writes what dead runs drained and never committed,
// from their spill files after the committed position, each chunk in a
// transaction that also advances the position, so a replay cut short
// resumes and never doubles.
import type { SignalWriter, SpillPosition } from '../store/writer';
import { EVENT_SIZE, wallSpan } from './decode';
import { Ingest } from './ingest';
import { removeFile, spillFilesOf, SpillReader, spillStart } from './spill';

/** Records replayed per transaction. */
const REPLAY_CHUNK_BYTES = 8192 * EVENT_SIZE;

/** Returns how many rows it wrote. */
function replayRun(runId: number, files: { file: number; path: string }[], from: SpillPosition, writer: SignalWriter, log: (line: string) => void): number {
  const ingest = new Ingest(writer);
  let rows = 0;
  let position = from;
  let offsetNs: bigint | undefined;
  let seenNs = 0n;
  for (const { file, path } of files) {
    if (file < position.file || (file === position.file && position.end === -1)) continue;
    const reader = new SpillReader(path, 0, REPLAY_CHUNK_BYTES);
    try {
      offsetNs = reader.header();
      if (offsetNs === undefined) {
        // Killed while creating it: it holds no records.
        log(`skipping ${path}: its header is not whole, so it holds no records`);
        continue;
      }
      reader.at = file === position.file ? Math.max(position.end, spillStart()) : spillStart();
      for (let records = reader.read(); records.length > 0; records = reader.read()) {
        position = { file, end: reader.at };
        // The dead run was recording until the newest of them was sent.
        seenNs = wallSpan(records, offsetNs).toNs;
        rows += ingest.ingest(records, offsetNs, { runId, seenNs, spill: position, replayed: true });
      }
    } finally {
      reader.close();
    }
  }
  if (offsetNs !== undefined) rows += ingest.finish(offsetNs, { runId, seenNs, spill: position, replayed: true });
  return rows;
}

/**
 * Replays the spill files of every run that did not stop cleanly, then
 * deletes them; files of runs that stopped, or that this database does
 * not know, hold nothing to replay. A replay that fails is logged and its
 * files kept for the next start: recording goes on.
 */
export function replaySpills(dbPath: string, writer: SignalWriter, log: (line: string) => void): void {
  const files = spillFilesOf(dbPath);
  for (const runId of new Set(files.map((file) => file.runId))) {
    const own = files.filter((file) => file.runId === runId);
    const run = writer.spillOf(runId);
    if (run && !run.stopped) {
      try {
        const rows = replayRun(runId, own, run.position ?? { file: own[0].file, end: spillStart() }, writer, log);
        if (rows > 0) log(`run ${runId} was killed before committing everything it drained: replayed ${rows} signals from its spill files`);
      } catch (error) {
        log(`could not replay the spill of run ${runId} (${(error as Error).message}): keeping ${own.map((file) => file.path).join(', ')} for the next start`);
        continue;
      }
    }
    for (const { path } of own) removeFile(path);
  }
}
