// The fleet's commands wired to commander (server init, server prune,
// forward); src/cli.ts adds them to the program.
import { Command, Option } from 'commander';
import { writeAll } from '../export';
import { parseRetain } from '../store/retention';
import { usageError } from '../errors';
import { parseServerUrl } from './connect';
import { pruneServer, renderPrune } from './prune';
import { initServer, renderInit } from './schema';

export function addFleetCommands(program: Command): void {
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
