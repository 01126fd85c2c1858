// The spill, the one owner of its files: the drain thread appends every
// record it drains to the current file (native/probe.cc), which makes the
// files the queue of records waiting for the database and what a crashed
// recorder's successor replays. Each commit stores how far the files are
// committed (runs.spill_file, spill_end), so a kill -9 loses only what the
// ring buffer still held. Files are per run and numbered; the recorder
// moves to the next once one has grown past ROTATE_BYTES, and deletes a
// file once a later one is committed. The header's layout is
// struct sigaudit_spill_header in bpf/sigaudit.h, read through the addon.
import { closeSync, openSync, readdirSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { secureFile } from '../store/database';
import type { SpillPosition } from '../store/writer';
import { EVENT_SIZE } from './decode';
import { loadAddon } from './probe';

/** A file is left for the next once it has grown this far (about 0.1 s of a storm, 0.6 s at 100 000 signals/s). */
const ROTATE_BYTES = 8 << 20;

/** Where records start in every spill file: the header is one record long. */
export function spillStart(): number {
  return loadAddon().spillLayout.size;
}

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

/** <db>-spill-<run>-<file>: spillFilesOf finds them by this name. */
export function spillPath(dbPath: string, runId: number, file: number): string {
  return `${dbPath}-spill-${runId}-${file}`;
}

/** Never throws: called after commits, which must not look failed. */
export function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Left behind, the file holds only committed records, which the next
    // recorder skips (its run stopped, or its position is past the file).
  }
}

/** Creates a spill file with its header, for the addon to append to; throws (and leaves nothing) if it cannot. */
function createSpillFile(path: string, realtimeOffsetNs: bigint, gid: number | undefined): number {
  const layout = loadAddon().spillLayout;
  const fd = openSync(path, 'wx', 0o640);
  try {
    const failure = secureFile(path, gid);
    if (failure) throw new Error(failure);
    const header = Buffer.alloc(layout.size);
    header.write(layout.magic, layout.offsets.magic, 'latin1');
    header.writeUInt32LE(layout.recordSize, layout.offsets.record_size);
    header.writeBigInt64LE(realtimeOffsetNs, layout.offsets.realtime_offset_ns);
    if (writeSync(fd, header) !== layout.size) throw new Error(`short write of ${path}'s header`);
    return fd;
  } catch (error) {
    closeSync(fd);
    removeFile(path);
    throw error;
  }
}

/**
 * The realtime offset a spill file's records are dated with; undefined if
 * its header is not whole (its writer was killed creating it: it holds no
 * records). Throws for a file of records of another size, written by
 * another version of sigaudit (the header, one record long, says so in
 * its first bytes, which every version lays out alike): the replay keeps
 * it for that version rather than misread or delete it.
 */
export function readHeader(fd: number, path: string): bigint | undefined {
  const layout = loadAddon().spillLayout;
  const header = Buffer.alloc(layout.size);
  const read = readSync(fd, header, 0, layout.size, 0);
  if (read < layout.offsets.record_size + 4 || header.toString('latin1', layout.offsets.magic, layout.offsets.magic + layout.magic.length) !== layout.magic)
    return undefined;
  const recordSize = header.readUInt32LE(layout.offsets.record_size);
  if (recordSize !== layout.recordSize)
    throw new Error(`${path} holds ${recordSize}-byte records, written by another version of sigaudit (this one writes ${layout.recordSize}-byte records)`);
  if (read !== layout.size) return undefined;
  return header.readBigInt64LE(layout.offsets.realtime_offset_ns);
}

/**
 * Reads whole records of one spill file, `maxBytes` at most per call,
 * from `from` up to `to` (the end the addon reported; undefined: the
 * file's end, for a replay). A record cut short at the end is left out:
 * it was never whole.
 */
export class SpillReader {
  private readonly fd: number;
  private buffer: Buffer;

  constructor(
    readonly path: string,
    public at: number,
    maxBytes: number,
  ) {
    this.fd = openSync(path, 'r');
    this.buffer = Buffer.allocUnsafe(maxBytes - (maxBytes % EVENT_SIZE));
  }

  /** The header's realtime offset, or undefined if it holds no records (see readHeader). */
  header(): bigint | undefined {
    return readHeader(this.fd, this.path);
  }

  /** The next records before `to`, or an empty buffer. Valid until the next call. */
  read(to = Infinity): Buffer {
    const want = Math.min(this.buffer.length, to - this.at);
    if (want <= 0) return this.buffer.subarray(0, 0);
    const read = readSync(this.fd, this.buffer, 0, want, this.at);
    const whole = read - (read % EVENT_SIZE);
    this.at += whole;
    return this.buffer.subarray(0, whole);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** The recorder's side of its own spill: which file the addon writes, when to move on, and deletion. */
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

  path(file: number): string {
    return spillPath(this.dbPath, this.runId, file);
  }

  /** Creates the next file and returns its descriptor for the addon, which then owns it. */
  next(): { fd: number; file: number } {
    const file = this.current + 1;
    const fd = createSpillFile(this.path(file), this.realtimeOffset(), this.gid);
    this.current = file;
    this.live.push(file);
    return { fd, file };
  }

  /** The addon appended up to `position`: true when the current file is long enough to give way to the next. */
  grew(position: SpillPosition): boolean {
    return position.file === this.current && position.end >= ROTATE_BYTES;
  }

  /** A commit reached `position`: deletes what is committed; true when the current file failed and is all committed. */
  committed(position: SpillPosition): boolean {
    while (this.live.length > 0 && (this.live[0] < position.file || (this.live[0] === position.file && position.end === -1 && position.file < this.current))) {
      removeFile(this.path(this.live.shift()!));
    }
    return position.file === this.current && position.end === -1;
  }

  /** After a clean stop, everything is committed. */
  removeAll(): void {
    for (const file of this.live.splice(0)) removeFile(this.path(file));
  }
}
