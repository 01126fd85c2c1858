import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errnoName, signalName, signalNumber } from '../src/names';

describe('signal and errno names', () => {
  it('names standard and real-time signals', () => {
    assert.equal(signalName(9), 'SIGKILL');
    assert.equal(signalName(17), 'SIGCHLD');
    assert.equal(signalName(34), 'SIGRTMIN');
    assert.equal(signalName(37), 'SIGRTMIN+3');
    assert.equal(signalName(64), 'SIGRTMAX');
    assert.equal(signalName(32), 'SIG32');
    assert.equal(signalName(0), '');
  });

  it('parses names with or without SIG, any case, numbers, and real-time offsets', () => {
    assert.equal(signalNumber('TERM'), 15);
    assert.equal(signalNumber('sigkill'), 9);
    assert.equal(signalNumber('9'), 9);
    assert.equal(signalNumber('RTMIN+2'), 36);
    assert.equal(signalNumber('SIGRTMAX-1'), 63);
    assert.equal(signalNumber('IOT'), 6);
    assert.equal(signalNumber('NOPE'), undefined);
    assert.equal(signalNumber('65'), undefined);
    assert.equal(signalNumber('RTMAX+1'), undefined);
  });

  it('names errnos of failed syscalls and nothing for successes', () => {
    assert.equal(errnoName(-3), 'ESRCH');
    assert.equal(errnoName(-1), 'EPERM');
    assert.equal(errnoName(-22), 'EINVAL');
    assert.equal(errnoName(0), '');
    assert.equal(errnoName(null), '');
  });
});
