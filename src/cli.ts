// Wires commander to the command functions; nothing else lives here.
import { Command, Option } from 'commander';
import { exportSignals, type ExportFormat } from './export';
import { Recorder } from './record/recorder';
import { collect, parsePositiveInt, parseRingSize, parseSignalList } from './parse';
import { resolveDbPath, DEFAULT_DB_PATH } from './store/database';
import { VERSION } from './version';

function log(line: string): void {
  process.stderr.write(`sigaudit: ${line}\n`);
}

const dbOption = () =>
  new Option('--db <path>', `database file (env SIGAUDIT_DB; default ${DEFAULT_DB_PATH})`);

/** Resolves when the recorder has stopped after SIGTERM or SIGINT. */
async function recordUntilSignalled(options: Parameters<typeof Recorder.start>[0]): Promise<void> {
  const recorder = Recorder.start(options);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const summary = await recorder.stop();
  log(`stopped on ${signal}: recorded ${summary.recorded} signals, dropped ${summary.dropped}`);
}

export function buildCli(): Command {
  const program = new Command('sigaudit')
    .description('Record every signal sent on this host into SQLite, and answer who sent what to whom.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('record')
    .description('load the eBPF probe and record every signal into the database until SIGTERM/SIGINT')
    .addOption(dbOption())
    .addOption(new Option('--ring-size <bytes>', 'kernel ring buffer size, a power of two').default(16 * 1024 * 1024, '16M').argParser(parseRingSize))
    .addOption(new Option('--batch-ms <ms>', 'longest time an event waits before it is written').default(200).argParser(parsePositiveInt))
    .option('--skip-probes', 'do not record signal 0 (liveness checks)', false)
    .option('--exclude-comm <name>', 'do not record signals sent by this process name (repeatable)', collect, [])
    .option('--only-signals <list>', 'record only these signals, e.g. TERM,KILL,HUP', parseSignalList)
    .addOption(new Option('--max-queued <bytes>', 'memory for events waiting to be written').default(512 * 1024 * 1024, '512M').argParser(parseRingSize))
    .option('-v, --verbose', "show libbpf's log", false)
    .action(async (flags) => {
      await recordUntilSignalled({
        dbPath: resolveDbPath(flags.db),
        ringBytes: flags.ringSize,
        batchMs: flags.batchMs,
        skipProbes: flags.skipProbes,
        excludedComms: flags.excludeComm,
        onlySignals: flags.onlySignals ?? [],
        maxQueuedBytes: flags.maxQueued,
        log,
        verbose: flags.verbose,
      });
    });

  program
    .command('export')
    .description('write every recorded signal as CSV or JSON Lines')
    .addOption(dbOption())
    .addOption(new Option('--format <format>', 'output format').choices(['csv', 'jsonl']).default('csv'))
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action((flags) => {
      const rows = exportSignals({ dbPath: resolveDbPath(flags.db), format: flags.format as ExportFormat, output: flags.output });
      if (flags.output) log(`wrote ${rows} rows to ${flags.output}`);
    });

  return program;
}
