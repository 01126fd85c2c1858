// The systemd notification protocol (sd_notify(3)) for a Type=notify unit:
// READY=1 once recording, STATUS= lines, STOPPING=1, and WATCHDOG=1 pings
// when the unit sets WatchdogSec=. Outside systemd (no NOTIFY_SOCKET) every
// call does nothing. The datagram itself is sent by native/notify.cc.
import { join } from 'node:path';

interface NotifyAddon {
  sendDatagram(path: string, data: Buffer): void;
}

let addon: NotifyAddon | undefined;

function loadNotifyAddon(): NotifyAddon {
  addon ??= require(join(__dirname, '..', '..', '..', 'build', 'Release', 'notify.node')) as NotifyAddon;
  return addon;
}

/** Sends one datagram to a unix socket path ('@name' for an abstract socket). */
export function sendDatagram(path: string, data: Buffer): void {
  loadNotifyAddon().sendDatagram(path, data);
}

/** How long a stop that reported progress may go on before it must report again: far beyond one chunk's write. */
const STOP_PROGRESS_USEC = 30_000_000;

export class Notifier {
  private watchdog: NodeJS.Timeout | undefined;
  private failed = false;
  private extendedMs = 0;

  private constructor(
    readonly socketPath: string,
    /** WatchdogSec= in microseconds, when the manager asked this process for pings. */
    readonly watchdogUsec: number | undefined,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, and removes them from
   * the environment so that no child process talks to systemd in our name.
   * Returns undefined when not started by systemd with Type=notify.
   */
  static fromEnvironment(log: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Notifier | undefined {
    const socketPath = env.NOTIFY_SOCKET;
    const usec = Number(env.WATCHDOG_USEC);
    const pid = env.WATCHDOG_PID === undefined ? process.pid : Number(env.WATCHDOG_PID);
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
    if (!socketPath) return undefined;
    const watchdogUsec = Number.isInteger(usec) && usec > 0 && pid === process.pid ? usec : undefined;
    return new Notifier(socketPath, watchdogUsec, log);
  }

  /** Sends KEY=value lines; a failure is logged once and never stops recording. */
  send(fields: Record<string, string>): void {
    const message = Object.entries(fields)
      .map(([key, value]) => `${key}=${value.replace(/\n/g, ' ')}`)
      .join('\n');
    try {
      sendDatagram(this.socketPath, Buffer.from(message));
      if (this.failed) this.log(`notify socket ${this.socketPath} reachable again`);
      this.failed = false;
    } catch (error) {
      if (!this.failed) this.log(`cannot notify systemd through ${this.socketPath}: ${(error as Error).message}`);
      this.failed = true;
    }
  }

  /** Every probe is attached and events reach the database. */
  ready(status: string): void {
    this.send({ READY: '1', STATUS: status, MAINPID: String(process.pid) });
    if (this.watchdogUsec !== undefined && !this.watchdog) {
      // Ping at half the interval, as sd_watchdog_enabled(3) advises.
      const everyMs = Math.max(1, Math.floor(this.watchdogUsec / 2000));
      this.watchdog = setInterval(() => this.send({ WATCHDOG: '1' }), everyMs);
      this.watchdog.unref();
    }
  }

  status(status: string): void {
    this.send({ STATUS: status });
  }

  stopping(status: string): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
    this.send({ STOPPING: '1', STATUS: status });
  }

  /**
   * A stop that is still making progress (writing a large backlog, moving
   * rows into the archive) asks for STOP_PROGRESS_USEC more, counted from
   * now, at most once a second: the unit's TimeoutStopSec= then bounds a
   * stop that hangs, not one that has much to write (EXTEND_TIMEOUT_USEC,
   * systemd 236 and later; older ones ignore it).
   */
  stillStopping(): void {
    const now = Date.now();
    if (now - this.extendedMs < 1000) return;
    this.extendedMs = now;
    this.send({ EXTEND_TIMEOUT_USEC: String(STOP_PROGRESS_USEC) });
  }
}
