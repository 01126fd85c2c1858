// The TypeScript decoder reads struct sigaudit_event at the offsets the C
// compiler gave it, as the addon reports them with offsetof.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EVENT_SIZE, OFFSETS, decode } from '../src/record/decode';
import { loadAddon } from '../src/record/probe';

describe('event layout', () => {
  it('matches the C struct size and every field offset', () => {
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

  it('refuses a batch that is not whole records', () => {
    assert.throws(() => decode(Buffer.alloc(EVENT_SIZE + 1)), /not a whole number/);
  });
});
