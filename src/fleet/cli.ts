// The fleet's commands wired to commander (server init, server prune,
// forward); src/cli.ts adds them to the program.
import { Command, Option } from 'commander';
import { writeAll } from '../export';
import { parseRetain } from '../store/retention';
import { usageError } from '../errors';
import { parsePositiveInt } from '../parse';
import { resolveDbPath, DEFAULT_DB_PATH } from '../store/database';
import { Notifier } from '../service/notify';
import { parseServerUrl } from './connect';
import { DEFAULT_BATCH_ROWS, DEFAULT_POLL_MS, forward, renderForward } from './forward';
import { pruneServer, renderPrune } from './prune';
import { initServer, renderInit } from './schema';

/** install-service --forward-to: a URL that goes into a world-readable settings file, so without a password. */
export function forwardUrlArgument(text: string): string {
  const url = parseServerUrl(text, '--forward-to');
  if (new URL(url.text).password !== '')
    throw usageError('--forward-to: the URL holds a password, and /etc/default/sigaudit is readable by everyone', `leave it out of the URL and put it in /etc/sigaudit/pgpass (mode 0600): HOST:PORT:DATABASE:${url.user}:PASSWORD`);
  return url.text;
}

function log(line: string): void {
  process.stderr.write(`sigaudit: ${line}\n`);
}

export function addFleetCommands(program: Command): void {
  program
    .command('forward')
    .description("ship this host's record to the fleet's PostgreSQL (sigaudit server init), then follow new rows; the local database stays as it is")
    .addOption(new Option('--to <url>', 'postgresql://USER@HOST[:PORT]/DATABASE[?sslmode=verify-full]; the password in PGPASSWORD or ~/.pgpass (PGPASSFILE), never on the command line').env('SIGAUDIT_FORWARD_TO').makeOptionMandatory())
    .addOption(new Option('--db <path>', `database file (env SIGAUDIT_DB; default ${DEFAULT_DB_PATH})`))
    .addOption(new Option('--host <name>', "this host's name in the fleet (default: its hostname)").env('SIGAUDIT_HOST'))
    .option('--once', 'exit 0 once everything recorded so far is shipped', false)
    .addOption(new Option('--batch-rows <n>', 'signals per batch (one COPY, one transaction)').default(DEFAULT_BATCH_ROWS).argParser(parsePositiveInt))
    .addOption(new Option('--poll-ms <ms>', 'how often to look for new rows when caught up').default(DEFAULT_POLL_MS).argParser(parsePositiveInt))
    .action(async (flags) => {
      const url = parseServerUrl(flags.to, '--to');
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const report = await forward({
          dbPath: resolveDbPath(flags.db),
          url,
          hostName: flags.host,
          once: flags.once,
          batchRows: flags.batchRows,
          pollMs: flags.pollMs,
          log,
          signal: stop.signal,
          notifier: Notifier.fromEnvironment(log),
        });
        log(renderForward(report).trimEnd());
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });

  const server = program
    .command('server')
    .description("the fleet's PostgreSQL: create or upgrade its schema, drop old days")
    .showHelpAfterError('(run with --help for usage)');

  server
    .command('init')
    .description('create or migrate the sigaudit schema in a PostgreSQL database, and the roles sigaudit_forwarder (insert only) and sigaudit_reader (read only)')
    .requiredOption('--url <url>', 'postgresql://OWNER@HOST[:PORT]/DATABASE (password in PGPASSWORD or ~/.pgpass)')
    .action(async (flags) => {
      writeAll(1, renderInit(await initServer(parseServerUrl(flags.url, '--url'))));
    });

  server
    .command('prune')
    .description('drop the days of signals older than --retain (whole partitions: instant)')
    .requiredOption('--url <url>', 'postgresql://OWNER@HOST[:PORT]/DATABASE')
    .addOption(new Option('--retain <age>', 'keep this much: 90d, 12w').makeOptionMandatory().argParser(parseRetain))
    .option('--dry-run', 'name the days, drop nothing', false)
    .action(async (flags) => {
      if (flags.retain === undefined) throw usageError('--retain off: server prune needs an age', 'give one, e.g. --retain 90d');
      writeAll(1, renderPrune(await pruneServer({ url: parseServerUrl(flags.url, '--url'), retainNs: flags.retain, dryRun: flags.dryRun })));
    });
}
