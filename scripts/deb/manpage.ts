// sigaudit(1), written from the CLI's own --help texts, so the man page says what the program does.
import type { Command } from 'commander';
import { buildCli } from '../../src/cli';
import { VERSION } from '../../src/version';

/** Columns of a help text: narrow enough to stay unwrapped inside man's indent on 80 columns. */
const HELP_WIDTH = 72;

/** The text `<command> --help` prints, as commander prints it. */
function helpText(command: Command): string {
  let text = '';
  command.configureOutput({ writeOut: (chunk) => (text += chunk), getOutHelpWidth: () => HELP_WIDTH, getOutHasColors: () => false });
  command.outputHelp();
  return text;
}

/** Roff for text shown as is: backslashes escaped, no line read as a request. */
function literal(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

/** Each command below `command`, depth first, with its full name. */
function* commands(command: Command, name: string): Generator<[string, Command]> {
  for (const sub of command.commands) {
    if (sub.name() === 'help') continue;
    const full = `${name} ${sub.name()}`;
    yield [full, sub];
    yield* commands(sub, full);
  }
}

export function manPage(date: Date): string {
  const program = buildCli();
  const lines = [
    `.TH SIGAUDIT 1 "${date.toISOString().slice(0, 10)}" "sigaudit ${VERSION}" "User Commands"`,
    '.SH NAME',
    `sigaudit \\- ${program.description()}`,
    '.SH SYNOPSIS',
    '.B sigaudit',
    '.I command',
    '.RI [ options ]',
    '.SH DESCRIPTION',
    'An eBPF probe sees every signal sent on the host (kill, tkill, tgkill, rt_sigqueueinfo,',
    'pidfd_send_signal and signals the kernel sends); the recorder writes each one, with its',
    'sender, target, result and cgroups, into an SQLite database, and the query commands read it back.',
    'The sections below are the help each command prints with \\fB\\-\\-help\\fR.',
    '.SH COMMANDS',
    '.nf',
    literal(helpText(program)).trimEnd(),
    '.fi',
  ];
  for (const [name, command] of commands(program, 'sigaudit')) {
    lines.push(`.SS ${name}`, '.nf', literal(helpText(command)).trimEnd(), '.fi');
  }
  lines.push(
    '.SH FILES',
    '.TP',
    '.I /var/lib/sigaudit/sigaudit.db',
    'the default database (SIGAUDIT_DB or \\fB\\-\\-db\\fR choose another); removing or purging the package keeps it',
    '.TP',
    '.I /etc/default/sigaudit',
    'settings of the sigaudit service',
    '.TP',
    '.I /lib/systemd/system/sigaudit.service',
    'the systemd unit: \\fBsystemctl enable \\-\\-now sigaudit\\fR',
    '.SH SEE ALSO',
    '.BR systemctl (1),',
    '.BR journalctl (1),',
    '.BR kill (2),',
    '.BR signal (7)',
    '',
  );
  return lines.join('\n');
}

if (require.main === module) process.stdout.write(manPage(new Date()));
