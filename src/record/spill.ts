// The spill: the drain thread appends every record it drains to a file
// next to the database before the batch reaches JavaScript, and each commit
// stores how far that file is committed (runs.spill_file, spill_end). A
// kill -9 then loses only what the ring buffer still held: the next
// recorder replays the rest before it starts. Files are per run and
// numbered; the recorder moves to the next once one is committed past
// ROTATE_BYTES, and deletes a file once a later one is committed.
import { closeSync, openSync, readdirSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { secureFile } from '../store/database';
import type { SignalWriter, SpillPosition } from '../store/writer';
import { Assembler, type Assembled } from './assemble';
import { CgroupNames } from './cgroups';
import { decode, EVENT_SIZE } from './decode';

const MAGIC = 'sigaudit-spill-1';
/**
 * The header is one record long, so records start aligned and every
 * offset in the file is a multiple of EVENT_SIZE: magic (16 bytes), record
 * size (u32), padding, and CLOCK_REALTIME - CLOCK_BOOTTIME (i64) when the
 * file was opened, so its records are dated right even after a reboot.
 */
const HEADER_BYTES = EVENT_SIZE;
const HEADER_RECORD_SIZE_AT = 16;
const HEADER_REALTIME_OFFSET_AT = 24;
/** A file is left for the next once it is committed this far (about 0.6 s at 100 000 signals/s). */
const ROTATE_BYTES = 8 << 20;
/** Records replayed per transaction. */
const REPLAY_CHUNK_RECORDS = 8192;

/** The spill files next to dbPath, by run and then file number. */
export function spillFilesOf(dbPath: string): { runId: number; file: number; path: string }[] {
  const pattern = new RegExp(`^${basename(dbPath).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-spill-(\\d+)-(\\d+)$`);
  const found: { runId: number; file: number; path: string }[] = [];
  for (const name of readdirSync(dirname(dbPath))) {
    const match = pattern.exec(name);
    if (match) found.push({ runId: Number(match[1]), file: Number(match[2]), path: join(dirname(dbPath), name) });
  }
  return found.sort((a, b) => a.runId - b.runId || a.file - b.file);
}

/** Never throws: called after commits, which must not look failed. */
function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Left behind, the file holds only committed records, which the next
    // recorder skips (its run stopped, or its position is past the file).
  }
}

/** Creates a spill file with its header, for the addon to append to; throws (and leaves nothing) if it cannot. */
function createSpillFile(path: string, realtimeOffsetNs: bigint, gid: number | undefined): number {
  const fd = openSync(path, 'wx', 0o640);
  try {
    const failure = secureFile(path, gid);
    if (failure) throw new Error(failure);
    const header = Buffer.alloc(HEADER_BYTES);
    header.write(MAGIC, 0, 'latin1');
    header.writeUInt32LE(EVENT_SIZE, HEADER_RECORD_SIZE_AT);
    header.writeBigInt64LE(realtimeOffsetNs, HEADER_REALTIME_OFFSET_AT);
    if (writeSync(fd, header) !== HEADER_BYTES) throw new Error(`short write of ${path}'s header`);
    return fd;
  } catch (error) {
    closeSync(fd);
    removeFile(path);
    throw error;
  }
}

/** The recorder's side of its own spill: which file the addon writes, rotation, and deletion. */
export class SpillFiles {
  /** The file the addon writes now; -1 before the first could be created. */
  current = -1;
  /** Files created and not yet deleted. */
  private readonly live: number[] = [];

  constructor(
    private readonly dbPath: string,
    private readonly runId: number,
    private readonly gid: number | undefined,
    private readonly realtimeOffset: () => bigint,
  ) {}

  /** <db>-spill-<run>-<file>: spillFilesOf finds them by this name. */
  path(file: number): string {
    return `${this.dbPath}-spill-${this.runId}-${file}`;
  }

  /** Creates the next file and returns its descriptor for the addon, which then owns it. */
  next(): { fd: number; file: number } {
    const file = this.current + 1;
    const fd = createSpillFile(this.path(file), this.realtimeOffset(), this.gid);
    this.current = file;
    this.live.push(file);
    return { fd, file };
  }

  /** A commit reached `position`: true when the current file should give way to the next. */
  committed(position: SpillPosition): boolean {
    while (this.live.length > 0 && (this.live[0] < position.file || (this.live[0] === position.file && position.end === -1 && position.file < this.current))) {
      removeFile(this.path(this.live.shift()!));
    }
    return position.file === this.current && (position.end === -1 || position.end >= ROTATE_BYTES);
  }

  /** After a clean stop, everything is committed. */
  removeAll(): void {
    for (const file of this.live.splice(0)) removeFile(this.path(file));
  }
}

/** The realtime offset a spill file's records are dated with; undefined if its header is not whole. */
function readHeader(fd: number): bigint | undefined {
  const header = Buffer.alloc(HEADER_BYTES);
  const read = readSync(fd, header, 0, HEADER_BYTES, 0);
  if (read !== HEADER_BYTES || header.toString('latin1', 0, MAGIC.length) !== MAGIC || header.readUInt32LE(HEADER_RECORD_SIZE_AT) !== EVENT_SIZE) return undefined;
  return header.readBigInt64LE(HEADER_REALTIME_OFFSET_AT);
}

/**
 * Writes what a dead run drained and never committed, from its spill files
 * after the committed position, each chunk in a transaction that also
 * advances the position, so a replay cut short resumes and never doubles.
 * Returns how many rows it wrote.
 */
function replayRun(runId: number, files: { file: number; path: string }[], from: SpillPosition, writer: SignalWriter, log: (line: string) => void): number {
  const assembler = new Assembler();
  const cgroups = new CgroupNames();
  let rows = 0;
  let position = from;
  const write = (assembled: Assembled, to: SpillPosition) => {
    const newest = assembled.rows.reduce((max, row) => (row.tsNs > max ? row.tsNs : max), 0n);
    writer.write(assembled.rows, cgroups.newNames(assembled.rows), { runId, seenNs: newest, spill: to, replayed: true });
    for (const { id, origin } of assembled.relabels) writer.relabel(id, origin);
    rows += assembled.rows.length;
    position = to;
  };
  let offsetNs: bigint | undefined;
  const chunk = Buffer.alloc(REPLAY_CHUNK_RECORDS * EVENT_SIZE);
  for (const { file, path } of files) {
    if (file < position.file || (file === position.file && position.end === -1)) continue;
    const fd = openSync(path, 'r');
    try {
      offsetNs = readHeader(fd);
      if (offsetNs === undefined) {
        // Killed while creating it: it holds no records.
        log(`skipping ${path}: not a sigaudit spill file of ${EVENT_SIZE}-byte records`);
        continue;
      }
      let at = file === position.file ? Math.max(position.end, HEADER_BYTES) : HEADER_BYTES;
      for (;;) {
        const read = readSync(fd, chunk, 0, chunk.length, at);
        // A record cut short by the kill is left out: it was never whole.
        const whole = read - (read % EVENT_SIZE);
        if (whole === 0) break;
        at += whole;
        write(assembler.assemble(decode(chunk.subarray(0, whole)), offsetNs), { file, end: at });
      }
    } finally {
      closeSync(fd);
    }
  }
  if (offsetNs !== undefined) {
    const orphans = assembler.drain(offsetNs);
    if (orphans.length > 0) write({ rows: orphans, relabels: [] }, position);
  }
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
        const rows = replayRun(runId, own, run.position ?? { file: own[0].file, end: HEADER_BYTES }, writer, log);
        if (rows > 0) log(`run ${runId} was killed before committing everything it drained: replayed ${rows} signals from its spill files`);
      } catch (error) {
        log(`could not replay the spill of run ${runId} (${(error as Error).message}): keeping ${own.map((file) => file.path).join(', ')} for the next start`);
        continue;
      }
    }
    for (const { path } of own) removeFile(path);
  }
}
