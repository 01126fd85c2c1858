// Wires commander to the command functions; nothing else lives here.
import { Command, InvalidArgumentError, Option } from 'commander';
import { exportPlanned, exportSignals, exportSteps, writeAll, type ExportFormat } from './export';
import { columnsOf } from './export/columns';
import { summaryColumnsOf, summarySteps } from './export/summaries';
import { failedPlan, renderFailed } from './query/failed';
import { commArgument, pidArgument, signalsArgument, sourceArgument, uidArgument, type Filters } from './query/filters';
import { OUTPUT_FORMATS, type OutputOptions, type Rendered } from './query/format';
import { listSteps, renderList } from './query/list';
import { SQLITE, runLocal, type Dialect, type Plan, type Steps } from './query/read';
import { openRemote, remoteOf, runRemote } from './fleet/remote';
import { fleetStatusPlan, renderFleetStatus } from './fleet/status';
import { renderSql, runSql } from './query/sql';
import { timeArgument } from './query/time';
import { bucketArgument, byArgument, renderTopSenders, topSendersSteps } from './query/top-senders';
import { renderWhoKilled, whoKilledSteps } from './query/who-killed';
import { writeReport } from './report';
import { recover, renderRecover } from './recover';
import { renderStatus, status } from './status';
import { Recorder } from './record/recorder';
import { DEFAULT_FLOOD_BUDGET, DEFAULT_MAX_HELD_ROWS, DEFAULT_NICE } from './record/recorder';
import { loadAddon } from './record/probe';
import { Notifier } from './service/notify';
import { DEFAULT_ENV_FILE, DEFAULT_UNIT_DIR, installService, renderPlan, uninstallService } from './service/install';
import { TAIL_FORMATS, tail, tailRemote, type TailFormat } from './tail';
import { collect, parseFloodBudget, parseNice, parsePositiveInt, parseRingSize, parseSignalList } from './parse';
import { DEFAULT_MAX_BYTES, DEFAULT_RETAIN_NS, parseMaxDbSize, parseRetain } from './store/retention';
import { reportingDamage } from './store/damage';
import { openForReading, resolveDbPath, resolveGroup, DEFAULT_DB_PATH, DEFAULT_GROUP } from './store/database';
import { loadExtension } from './store/extension';
import { usageError } from './errors';
import { addFleetCommands, forwardUrlArgument } from './fleet/cli';
import { VERSION } from './version';

/** A count flag: 0 or more. */
function parseCount(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError(`expected a whole number (0 or more), got "${text}"`);
  return Number(text);
}

/** --exclude-comm, as many times as the BPF program has slots for names. */
function collectExcludedComm(value: string, previous: string[]): string[] {
  const slots = loadAddon().maxExcludedComms;
  if (previous.length >= slots)
    throw new InvalidArgumentError(`at most ${slots} names can be excluded (the BPF program holds ${slots}), got "${value}" as name ${previous.length + 1}`);
  return collect(value, previous);
}

function log(line: string): void {
  process.stderr.write(`sigaudit: ${line}\n`);
}

const dbOption = () =>
  new Option('--db <path>', `database file (env SIGAUDIT_DB; default ${DEFAULT_DB_PATH})`);

/** The filters every query and export takes. */
function addFilters(command: Command, probesByDefault: boolean): Command {
  return command
    .option('--since <time>', 'from this time: "2026-11-21 10:00" (local), an ISO time with Z or offset, "2 hours ago", "30m", "yesterday"', timeArgument)
    .option('--until <time>', 'up to this time (same forms as --since)', timeArgument)
    .option('--sender-pid <pid>', 'sent by this process id', pidArgument)
    .option('--sender-comm <name>', 'sent by a process with this name', commArgument)
    .option('--uid <uid>', "sender's uid", uidArgument)
    .option('--target-pid <pid>', 'reached this process, or addressed to it and reached none', pidArgument)
    .option('--signal <signals>', 'only these signals: TERM, SIGKILL, 9, or a list TERM,KILL (repeatable)', signalsArgument)
    .option('--source <source>', 'syscall, kernel, or one syscall: kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo, pidfd_send_signal', sourceArgument)
    .option('--include-probes', `include signal 0 liveness checks${probesByDefault ? ' (default)' : ' (left out by default)'}`)
    .option('--no-probes', 'leave out signal 0 liveness checks' + (probesByDefault ? '' : ' (default)'))
    .addOption(dbOption());
}

function addOutput(command: Command): Command {
  return command
    .addOption(new Option('--format <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .option('--utc', 'times in UTC in tables (csv and json are always UTC)', false);
}

function filtersOf(flags: Record<string, unknown>, probesByDefault = false): Filters {
  return {
    since: flags.since as Date | undefined,
    until: flags.until as Date | undefined,
    senderPid: flags.senderPid as number | undefined,
    senderComm: flags.senderComm as string | undefined,
    uid: flags.uid as number | undefined,
    targetPid: flags.targetPid as number | undefined,
    signals: flags.signal as number[] | undefined,
    source: flags.source as Filters['source'],
    // --include-probes wins; --no-probes sets probes false; else the command's default.
    includeProbes: flags.includeProbes === true ? true : flags.probes === false ? false : probesByDefault,
    perTarget: flags.perTarget === true,
  };
}

/** Runs a reader on the --db database; SQLite's damage errors become the one-line refusal naming it. */
function reading<T>(flags: Record<string, unknown>, read: (dbPath: string) => T | Promise<T>): Promise<T> {
  const dbPath = resolveDbPath(flags.db as string | undefined);
  return reportingDamage(dbPath, () => read(dbPath));
}

/** --remote and --host: ask the fleet's PostgreSQL instead of this host's database. */
function addRemote(command: Command): Command {
  return command
    .option('--remote <url>', "ask the fleet's PostgreSQL instead: postgresql://USER@HOST/DATABASE (env SIGAUDIT_REMOTE; password in PGPASSWORD or ~/.pgpass); rows gain a host column")
    .option('--host <name>', 'with --remote: only this host (as sigaudit forward named it)');
}

/** A report's plan run on the fleet (--remote / SIGAUDIT_REMOTE), or on the --db database. */
async function planned<R>(flags: Record<string, unknown>, plan: (dialect: Dialect) => Plan<R> | Steps<R>): Promise<R> {
  const remote = remoteOf(flags as { remote?: string; host?: string });
  if (remote) return runRemote(remote, plan);
  return reading(flags, (dbPath) => {
    const db = openForReading(dbPath);
    try {
      // The SQLite dialect's plans may call the extension's functions (top-senders' sigaudit_tally).
      loadExtension(db);
      return runLocal(db, plan(SQLITE));
    } finally {
      db.close();
    }
  });
}

function outputOf(flags: Record<string, unknown>): OutputOptions {
  return { format: flags.format as OutputOptions['format'], utc: flags.utc === true };
}

function print(rendered: Rendered): void {
  writeAll(1, rendered.stdout);
  for (const warning of rendered.warnings) log(warning);
}

/** --group as a gid; the default group missing on this system leaves groups alone, with a warning. */
function recordingGroup(group: string): number | undefined {
  try {
    return resolveGroup(group);
  } catch (error) {
    if (group !== DEFAULT_GROUP) throw error;
    log(`group ${DEFAULT_GROUP} does not exist here: only root can read the database (pass --group to share it)`);
    return undefined;
  }
}

/** Resolves when the recorder has stopped after SIGTERM or SIGINT. */
async function recordUntilSignalled(options: Parameters<typeof Recorder.start>[0]): Promise<void> {
  // Listen before starting: a stop asked for while probes attach is not lost.
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const recorder = Recorder.start(options);
  const signal = await signalled;
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
    .addOption(new Option('--ring-size <bytes>', 'kernel ring buffer size, a power of two').default(8 * 1024 * 1024, '8M').argParser(parseRingSize))
    .addOption(new Option('--batch-ms <ms>', 'longest time an event waits before it is written').default(200).argParser(parsePositiveInt))
    .option('--skip-probes', 'do not record signal 0 (liveness checks)', false)
    .option('--exclude-comm <name>', 'do not record signals sent by this process name (repeatable)', collectExcludedComm, [])
    .option('--ia32', 'also trace the exits of 32-bit (ia32) signal syscalls, so their failed sends and signal 0 probes are recorded too (x86_64; costs every system call of the host one small BPF program)', false)
    .option('--only-signals <list>', 'record only these signals, e.g. TERM,KILL,HUP (signal 0 probes too, unless --skip-probes)', parseSignalList)
    .addOption(new Option('--max-queued <bytes>', 'disk for signals drained and not yet written, queued in the spill file next to the database; past it the kernel counts drops').default(1024 * 1024 * 1024, '1G').argParser(parseRingSize).env('SIGAUDIT_MAX_QUEUED'))
    .addOption(
      new Option('--retain <age>', 'delete signals older than this: 30d, 12h, 2w, or off')
        .default(DEFAULT_RETAIN_NS, '30d').argParser(parseRetain).env('SIGAUDIT_RETAIN'),
    )
    .addOption(
      new Option('--max-db-size <bytes>', 'delete the oldest signals to keep the database under this (plus its WAL): 2GiB, 500M, or off')
        .default(DEFAULT_MAX_BYTES, '2GiB').argParser(parseMaxDbSize).env('SIGAUDIT_MAX_DB_SIZE'),
    )
    .addOption(
      new Option('--group <group>', 'group that may read the database (files 0640, directory 0750)')
        .default(DEFAULT_GROUP).env('SIGAUDIT_GROUP'),
    )
    .addOption(
      new Option('--max-held <rows>', 'signals kept in memory while neither the database nor the spill file can be written (disk full); past it they are counted as dropped')
        .default(DEFAULT_MAX_HELD_ROWS).argParser(parsePositiveInt).env('SIGAUDIT_MAX_HELD'),
    )
    .addOption(
      new Option('--nice <n>', 'scheduling niceness of the recorder (-20..19), so a signal storm from busy processes does not starve it')
        .default(DEFAULT_NICE).argParser(parseNice).env('SIGAUDIT_NICE'),
    )
    .addOption(
      new Option('--flood-budget <rate[/burst]>', 'signals per second (and burst) each uid may have recorded in detail; beyond it, sends that stay within the uid and are not fatal are counted as summaries: e.g. 100/1000, or off')
        .default(DEFAULT_FLOOD_BUDGET, '100/1000').argParser(parseFloodBudget).env('SIGAUDIT_FLOOD_BUDGET'),
    )
    .option('-v, --verbose', "show libbpf's log and each retention deletion", false)
    .addHelpText(
      'after',
      `
Environment: SIGAUDIT_DB, SIGAUDIT_RETAIN, SIGAUDIT_MAX_DB_SIZE, SIGAUDIT_GROUP,
SIGAUDIT_MAX_HELD, SIGAUDIT_MAX_QUEUED, SIGAUDIT_NICE and SIGAUDIT_FLOOD_BUDGET set the flags of the same name (a flag
wins). As a systemd service (sigaudit install-service), the unit reads them from
/etc/default/sigaudit, where SIGAUDIT_OPTIONS holds any other flags.

Prints "recording to <path>" on stderr once every probe is attached (and tells
systemd READY=1 under Type=notify); SIGTERM or SIGINT stops it cleanly. Only one
recorder may write a database at a time (<db>.lock holds it).`,
    )
    .action(async (flags) => {
      if (flags.ia32 && process.arch !== 'x64')
        throw usageError(`--ia32: ia32 compat syscalls exist on x86_64 only, this is ${process.arch}`, 'leave out --ia32');
      await recordUntilSignalled({
        dbPath: resolveDbPath(flags.db),
        ringBytes: flags.ringSize,
        batchMs: flags.batchMs,
        skipProbes: flags.skipProbes,
        excludedComms: flags.excludeComm,
        ia32: flags.ia32,
        onlySignals: flags.onlySignals ?? [],
        maxQueuedBytes: flags.maxQueued,
        maxHeldRows: flags.maxHeld,
        nice: flags.nice,
        floodBudget: flags.floodBudget === 'off' ? undefined : flags.floodBudget,
        gid: recordingGroup(flags.group),
        retention: { retainNs: flags.retain, maxBytes: flags.maxDbSize },
        log,
        verbose: flags.verbose,
        notifier: Notifier.fromEnvironment(log),
      });
    });

  const exportCommand = program
    .command('export')
    .description('write recorded signals as CSV or JSON Lines (every row; signal 0 probes included unless --no-probes)')
    .addOption(new Option('--format <format>', 'output format').choices(['csv', 'jsonl']).default('csv'))
    .option('-o, --output <file>', 'write to this file instead of stdout (with a progress bar on a terminal)')
    .option('--summaries', "write the summaries instead: sends the kernel counted beyond --flood-budget, and protected sends dropped under their sender's name (their own columns)", false);
  addRemote(addFilters(exportCommand, true)).action(async (flags) => {
    const remote = remoteOf(flags);
    const output = { format: flags.format as ExportFormat, output: flags.output as string | undefined };
    const filters = filtersOf(flags, true);
    // Signals here are formatted by SQLite itself (exportSignals); the fleet's, and summaries anywhere, over the read layer.
    const rows = flags.summaries
      ? await exportPlanned(output, summaryColumnsOf(remote !== undefined), (dialect, write) => summarySteps(dialect, { filters, format: output.format }, write), (plan) => planned(flags, plan))
      : remote
        ? await exportPlanned(output, columnsOf(true), (dialect, write) => exportSteps(dialect, { filters, format: output.format }, write), (plan) => planned(flags, plan))
        : await reading(flags, (dbPath) => exportSignals({ dbPath, ...output, filters: { ...filters, perTarget: true }, progress: true }));
    if (flags.output) log(`wrote ${rows} ${flags.summaries ? 'summaries' : 'rows'} to ${flags.output}`);
  });

  const query = program
    .command('query')
    .description('answer questions from the database: who-killed, failed, top-senders, list, sql')
    .showHelpAfterError('(run with --help for usage)');

  const whoKilledCommand = query
    .command('who-killed')
    .description('every signal that reached a process, newest first, with who sent it and a verdict')
    .argument('[pid]', 'the process id (or use --comm)', pidArgument)
    .option('--comm <name>', 'the process by name (pids are reused); with a pid, only rows naming it', commArgument)
    .option('--limit <n>', 'newest signals shown; 0 for all', parseCount, 200);
  addRemote(addOutput(addFilters(whoKilledCommand, false))).action(async (pid: number | undefined, flags) => {
    if (flags.host === undefined && remoteOf(flags) !== undefined)
      throw usageError('who-killed --remote needs --host NAME: a pid names a process on one host', 'add --host with the host the process ran on (sigaudit query list --remote URL shows hosts)');
    print(renderWhoKilled(await planned(flags, (dialect) => whoKilledSteps(dialect, { pid, comm: flags.comm, filters: filtersOf(flags), limit: flags.limit })), outputOf(flags)));
  });

  const failedCommand = query
    .command('failed')
    .description('sends that returned an error (ESRCH, EPERM, ...), grouped by sender and target')
    .option('--raw', 'list each failed send instead of groups', false)
    .option('--per-target', 'count every task a send reached instead of each send once', false)
    .option('--limit <n>', 'most groups (or rows with --raw) shown; 0 for all', parseCount);
  addRemote(addOutput(addFilters(failedCommand, false))).action(async (flags) => {
    print(renderFailed(await planned(flags, (dialect) => failedPlan(dialect, { filters: filtersOf(flags), raw: flags.raw, limit: flags.limit })), outputOf(flags)));
  });

  const topCommand = query
    .command('top-senders')
    .description('who sends the most signals: totals and counts per time bucket')
    .addOption(new Option('--by <key>', 'group senders by').choices(['comm', 'pid', 'uid', 'unit']).default('comm').argParser(byArgument))
    .option('--bucket <size>', '1m, 10m, 1h or 1d (default: about 60 buckets or fewer over the window)', bucketArgument)
    .option('--limit <n>', 'senders shown', parseCount, 10)
    .option('--per-target', 'count every task a send reached (a kill(-1) that reached 300 tasks counts 300)', false);
  addRemote(addOutput(addFilters(topCommand, false))).action(async (flags) => {
    if (flags.by === 'pid' && flags.host === undefined && remoteOf(flags) !== undefined)
      throw usageError('top-senders --by pid --remote needs --host NAME: a pid names a process on one host', 'add --host, or count the fleet --by comm, uid or unit');
    const query = { filters: filtersOf(flags), by: flags.by, bucketMinutes: flags.bucket, limit: Math.max(1, flags.limit) };
    print(renderTopSenders(await planned(flags, (dialect) => topSendersSteps(dialect, query)), outputOf(flags)));
  });

  const listCommand = query
    .command('list')
    .description('the recorded signals with every filter, newest first')
    .option('--limit <n>', 'newest rows shown; 0 for all', parseCount, 100)
    .option('--per-target', 'a row for every task a send reached (default: one per send)', false)
    .option('--details', "a line under each row with the sender's parent, login uid and unit", false);
  addRemote(addOutput(addFilters(listCommand, false))).action(async (flags) => {
    print(renderList(await planned(flags, (dialect) => listSteps(dialect, { filters: filtersOf(flags), limit: flags.limit })), outputOf(flags), flags.details));
  });

  addOutput(
    query
      .command('sql')
      .description('run one read-only SQL statement (tables: signals, runs, drops, cgroups, sender_hours)')
      .argument('<statement>', 'e.g. "SELECT signal, count(*) FROM signals GROUP BY 1"')
      .addOption(dbOption()),
  ).action(async (statement: string, flags) => {
    print(await reading(flags, (dbPath) => renderSql(runSql({ dbPath, sql: statement }), outputOf(flags))));
  });

  program
    .command('report')
    .description('write the story of a window as one self-contained HTML page: timeline, who killed what, who signalled whom, failed sends')
    .option('--html', 'an HTML page (the one format so far)')
    .requiredOption('-o, --output <file>', 'the page to write (it opens from file:// and fetches nothing)')
    .option('--since <time>', 'from this time (same forms as for queries; default: everything recorded)', timeArgument)
    .option('--until <time>', 'up to this time', timeArgument)
    .option('--pid <pid>', 'a process to give the verdict for, besides those that died (repeatable)', (text: string, previous: number[]) => [...previous, pidArgument(text)], [])
    .option('--comm <name>', 'processes by name to give the verdict for (repeatable)', (text: string, previous: string[]) => [...previous, commArgument(text)], [])
    .option('--allow-empty', 'write a page that says so when the window holds no signal (default: fail)', false)
    .addOption(dbOption())
    .action(async (flags) => {
      const { report, bytes } = await reading(flags, (dbPath) => writeReport({
        dbPath,
        output: flags.output,
        filters: { since: flags.since, until: flags.until },
        pids: flags.pid,
        comms: flags.comm,
        allowEmpty: flags.allowEmpty,
      }));
      log(`wrote ${flags.output} (${Math.ceil(bytes / 1024)} KiB${report.empty ? ', no signals in the window' : ''})`);
    });

  addRemote(
    program
      .command('status')
      .description('database path and size, rows, time covered, recorder runs (and whether one records now), drops; with --remote, the fleet\'s hosts, their lag and incomplete records')
      .addOption(dbOption())
      .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
      .option('--utc', 'times in UTC', false)
      .option('--limit <n>', 'newest runs and drop windows listed', parseCount, 5),
  ).action(async (flags) => {
    const remote = remoteOf(flags);
    if (remote) print(renderFleetStatus(await runRemote(remote, () => fleetStatusPlan(remote.host, flags.limit)), outputOf(flags)));
    else print(await reading(flags, (dbPath) => renderStatus(status({ dbPath, limit: flags.limit }), outputOf(flags))));
  });

  const tailCommand = program
    .command('tail')
    .description('print signals as they are recorded, like tail -f (any user who may read the database)')
    .option('-n, --lines <n>', 'recorded rows to print first', parseCount, 10)
    .option('--no-follow', 'print the last rows and exit')
    .option('--poll-ms <ms>', 'how often to look for new rows', parsePositiveInt, 250)
    .option('--per-target', 'a row for every task a send reached (default: one per send)', false)
    .addOption(new Option('--format <format>', 'output format').choices(TAIL_FORMATS).default('table'))
    .option('--utc', 'times in UTC in tables', false);
  addRemote(addFilters(tailCommand, false)).action(async (flags) => {
    const remote = remoteOf(flags);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // A closed pipe (tail | head) ends the follow quietly.
    process.stdout.on('error', onSignal);
    const options = {
      filters: filtersOf(flags),
      format: flags.format as TailFormat,
      utc: flags.utc === true,
      lines: flags.lines,
      pollMs: flags.pollMs,
      follow: flags.follow !== false,
      signal: stop.signal,
      out: (text: string) => {
        if (text !== '' && !stop.signal.aborted) writeAll(1, text);
      },
      warn: log,
    };
    try {
      if (remote) await tailRemote({ ...options, reader: await openRemote(remote), host: remote.host });
      else await reading(flags, (dbPath) => tail({ ...options, dbPath }));
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });

  addFleetCommands(program);

  program
    .command('recover')
    .description('salvage every readable row of a damaged database into a new one, and say what was lost')
    .argument('<damaged>', 'the damaged file, e.g. /var/lib/sigaudit/sigaudit.db.damaged-20261126T012400')
    .requiredOption('-o, --output <file>', 'the new database to write (must not exist)')
    .option('--utc', 'times in UTC', false)
    .action((damaged: string, flags) => {
      print(renderRecover(recover({ damagedPath: damaged, outputPath: flags.output }), flags.utc === true));
    });

  program
    .command('install-service')
    .description('install the systemd unit (packaging/sigaudit.service) with this installation\'s paths, then daemon-reload, enable and start it')
    .option('--dry-run', 'print each step and the unit, change nothing', false)
    .option('--unit-dir <dir>', 'where the unit goes', DEFAULT_UNIT_DIR)
    .option('--environment-file <path>', 'settings file the unit reads (written from packaging/sigaudit.env if missing, never overwritten)', DEFAULT_ENV_FILE)
    .option('--group <group>', 'group that may read the database (Group= of the unit)', DEFAULT_GROUP)
    .option('--no-enable', 'do not start it at boot')
    .option('--no-start', 'do not start it now')
    .option('--forward-to <url>', "also install sigaudit-forward.service, shipping the record to this PostgreSQL (postgresql://USER@HOST/DATABASE; set as SIGAUDIT_FORWARD_TO in the settings file, the password in /etc/sigaudit/pgpass)")
    .action((flags) => {
      const plan = installService({
        forwardTo: flags.forwardTo === undefined ? undefined : forwardUrlArgument(flags.forwardTo),
        unitDir: flags.unitDir,
        envFile: flags.environmentFile,
        group: flags.group,
        enable: flags.enable !== false,
        start: flags.start !== false,
        dryRun: flags.dryRun,
      });
      writeAll(1, renderPlan(plan, 'install the sigaudit service'));
    });

  program
    .command('uninstall-service')
    .description('stop and disable the systemd unit and remove it; the settings file and the database are kept')
    .option('--dry-run', 'print each step, change nothing', false)
    .option('--unit-dir <dir>', 'where the unit is', DEFAULT_UNIT_DIR)
    .option('--environment-file <path>', 'settings file (kept)', DEFAULT_ENV_FILE)
    .action((flags) => {
      const plan = uninstallService({ unitDir: flags.unitDir, envFile: flags.environmentFile, dryRun: flags.dryRun });
      writeAll(1, renderPlan(plan, 'uninstall the sigaudit service'));
    });

  return program;
}
