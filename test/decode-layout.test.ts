// The TypeScript decoder reads struct sigaudit_event at the offsets the BPF
// object's BTF gives (src/record/event-layout.json, written by the build),
// which must be the ones the addon was compiled with (offsetof).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EVENT_SIZE, OFFSETS, decode } from '../src/record/decode';
import { loadAddon } from '../src/record/probe';

describe('event layout', () => {
  it('is the BPF object\'s layout, the one the addon was compiled with: size and every field offset', () => {
    const { layout } = loadAddon();
    assert.equal(EVENT_SIZE, layout.size);
    assert.deepEqual(OFFSETS, layout.offsets);
  });

  it('decodes a record written at those offsets', () => {
    const record = Buffer.alloc(EVENT_SIZE);
    record.writeBigUInt64LE(123456789012345678n, OFFSETS.boot_ns);
    record.writeBigInt64LE(-3n, OFFSETS.ret);
    record.writeInt32LE(-42, OFFSETS.target_pid);
    record.writeInt32LE(15, OFFSETS.signal);
    record.write('kill', OFFSETS.sender_comm);
    record.write('sixteen-byte-nam', OFFSETS.delivered_comm);
    const [event] = decode(record);
    assert.equal(event.bootNs, 123456789012345678n);
    assert.equal(event.ret, -3);
    assert.equal(event.targetPid, -42);
    assert.equal(event.signal, 15);
    assert.equal(event.senderComm, 'kill');
    assert.equal(event.deliveredComm, 'sixteen-byte-nam');
  });

  it('decodes a batch that does not start on an 8-byte boundary the same way', () => {
    const records = Buffer.alloc(EVENT_SIZE * 3);
    for (let i = 0; i < 3; i++) {
      records.writeBigUInt64LE(1_000_000_000n * BigInt(i + 1) + 7n, i * EVENT_SIZE + OFFSETS.boot_ns);
      records.writeBigUInt64LE(2n ** 40n + BigInt(i), i * EVENT_SIZE + OFFSETS.sender_cgroup);
      records.writeUInt32LE(4_000_000 + i, i * EVENT_SIZE + OFFSETS.delivered_pid);
      records.write(`comm${i}`, i * EVENT_SIZE + OFFSETS.sender_comm);
    }
    const shifted = Buffer.alloc(records.length + 4).fill(0xff);
    records.copy(shifted, 4);
    const misaligned = shifted.subarray(4);
    assert.notEqual(misaligned.byteOffset % 8, 0);
    assert.deepEqual(decode(misaligned), decode(records));
    assert.deepEqual(decode(records).map((event) => [event.bootNs, event.senderCgroup, event.deliveredPid, event.senderComm]), [
      [1_000_000_007n, 2n ** 40n, 4_000_000, 'comm0'],
      [2_000_000_007n, 2n ** 40n + 1n, 4_000_001, 'comm1'],
      [3_000_000_007n, 2n ** 40n + 2n, 4_000_002, 'comm2'],
    ]);
  });

  it('refuses a batch that is not whole records', () => {
    assert.throws(() => decode(Buffer.alloc(EVENT_SIZE + 1)), /not a whole number/);
  });
});
