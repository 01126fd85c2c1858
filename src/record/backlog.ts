// The queue of drained records waiting for the database. It lives in the
// spill files: the addon says how far they grew, and the backlog reads them
// a chunk at a time, as fast as the database takes them, so a storm's
// backlog costs disk, not memory. Records the spill could not take arrive
// in memory and wait here, in drain order with the rest.
import type { SpillPosition } from '../store/writer';
import type { Segment } from './probe';
import { SpillReader, spillStart } from './spill';

export interface Chunk {
  records: Buffer;
  /** Where the chunk ends in the spill, for the commit to record; undefined without a spill. */
  position?: SpillPosition;
  /** The records are the only copy (the spill could not take them). */
  inMemory: boolean;
}

export class Backlog {
  private readonly segments: Segment[] = [];
  private reader: SpillReader | undefined;
  private readerFile = -1;
  /** The spill file the addon reported last, and its end. */
  private lastFile = -1;
  private lastEnd = 0;

  constructor(
    private readonly pathOf: (file: number) => string,
    /** Hands the bytes taken back to the addon's bound on the queue. */
    private readonly release: (bytes: number, inMemory: boolean) => void,
    private readonly chunkBytes: number,
  ) {}

  /** The drain thread's report; returns how many bytes of records it adds. */
  add(segments: Segment[]): number {
    let bytes = 0;
    for (const segment of segments) {
      if (segment.records) bytes += segment.records.length;
      else {
        const from = segment.spillFile === this.lastFile ? this.lastEnd : spillStart();
        bytes += Math.max(0, segment.spillEnd - from);
        this.lastFile = segment.spillFile;
        this.lastEnd = segment.spillEnd;
      }
      this.segments.push(segment);
    }
    return bytes;
  }

  get empty(): boolean {
    return this.segments.length === 0;
  }

  /** Whether the next chunk is held only in memory (undefined: nothing waits). */
  get nextInMemory(): boolean | undefined {
    return this.segments.length === 0 ? undefined : this.segments[0].records !== undefined;
  }

  /** The next chunk in drain order, or undefined. A chunk read from the spill is valid until the next take(). */
  take(): Chunk | undefined {
    while (this.segments.length > 0) {
      const segment = this.segments[0];
      if (segment.records) {
        this.segments.shift();
        this.release(segment.records.length, true);
        return { records: segment.records, position: segment.spillFile === -1 ? undefined : { file: segment.spillFile, end: -1 }, inMemory: true };
      }
      const reader = this.readerOf(segment.spillFile);
      const records = reader.read(segment.spillEnd);
      if (records.length === 0) {
        this.segments.shift();
        continue;
      }
      this.release(records.length, false);
      return { records, position: { file: segment.spillFile, end: reader.at }, inMemory: false };
    }
    return undefined;
  }

  private readerOf(file: number): SpillReader {
    if (this.readerFile !== file || !this.reader) {
      this.reader?.close();
      this.reader = undefined;
      this.reader = new SpillReader(this.pathOf(file), spillStart(), this.chunkBytes);
      this.readerFile = file;
    }
    return this.reader;
  }

  close(): void {
    this.reader?.close();
    this.reader = undefined;
  }
}
