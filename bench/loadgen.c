// SPDX-License-Identifier: MIT
// loadgen: issue COUNT system calls as fast as possible (or at a fixed rate)
// from PROCS processes started together, and print one JSON line.
//
//   loadgen MODE COUNT [PROCS] [--rate OPS_PER_SEC_PER_PROC]
//
// Modes:
//   kill0    kill(self, 0): a signal syscall that generates no signal
//   esrch    kill(free pid, 0): fails with ESRCH, like a stale pid file
//   tgkill   tgkill(self, self, SIGUSR1), SIGUSR1 ignored: generated, discarded
//   ignored  kill(self, SIGUSR2), SIGUSR2 ignored: generated, discarded
//   getppid  an unrelated syscall, to measure a tracer's collateral cost
//   readwrite  read 64 bytes from /dev/zero and write them to /dev/null (one
//            op = both calls), like dd bs=64: unrelated calls that do some work
//
// Output: {"mode","count","procs","ns_per_op","elapsed_ns","sent",...}
//   ns_per_op   median over processes of (that process's loop time / COUNT)
//   elapsed_ns  wall time from the start barrier until every process exited
//   sent        signal syscalls issued in total, including the free-pid search
//               of mode esrch (0 for getppid)
//
// Every call goes through syscall(2) so that no libc caching or wrapper
// logic sits between the loop and the kernel.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum mode { MODE_KILL0, MODE_ESRCH, MODE_TGKILL, MODE_IGNORED, MODE_GETPPID, MODE_READWRITE };

static const char *const mode_names[] = {"kill0", "esrch", "tgkill", "ignored", "getppid", "readwrite"};

// Per-process result, written by the child into memory shared with the parent.
struct proc_result {
	uint64_t loop_ns;
	uint64_t unexpected; // calls whose return value was not the one the mode implies
	int first_errno;
};

static void die(const char *message)
{
	fprintf(stderr, "loadgen: %s\n", message);
	exit(2);
}

static void usage(void)
{
	die("usage: loadgen kill0|esrch|tgkill|ignored|getppid|readwrite COUNT [PROCS] [--rate OPS_PER_SEC]");
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until_ns(uint64_t deadline)
{
	struct timespec ts = {.tv_sec = deadline / 1000000000ull, .tv_nsec = deadline % 1000000000ull};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
	}
}

static uint64_t parse_positive(const char *text, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long value = strtoull(text, &end, 10);
	if (errno || *end || value == 0 || text[0] == '-') {
		fprintf(stderr, "loadgen: %s must be a positive integer, got '%s'\n", what, text);
		exit(2);
	}
	return value;
}

// A pid that no process holds, so kill() to it fails with ESRCH. Search down
// from the top of the pid space, where allocation reaches last. The kill()
// calls of the search are counted in *calls: tracers record them too.
static pid_t find_free_pid(uint64_t *calls)
{
	long pid_max = 32768;
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
	if (f) {
		if (fscanf(f, "%ld", &pid_max) != 1)
			pid_max = 32768;
		fclose(f);
	}
	for (long pid = pid_max - 1; pid > 300; pid--) {
		++*calls;
		if (syscall(SYS_kill, (pid_t)pid, 0) == -1 && errno == ESRCH)
			return (pid_t)pid;
	}
	die("no free pid found for mode esrch");
	return -1;
}

// One process's measured loop. Returns through *result; never exits early so
// that a wrong return value is reported rather than hidden.
static void run_loop(enum mode mode, uint64_t count, uint64_t rate, pid_t free_pid,
		     struct proc_result *result)
{
	const pid_t self = getpid();
	const pid_t self_tid = (pid_t)syscall(SYS_gettid);
	// With --rate, check the clock once per batch worth ~100 µs of work, so pacing
	// adds almost nothing per call and the process sleeps between batches like
	// a real sender would, leaving the CPU to the tracer's consumer.
	const uint64_t batch = rate ? (rate / 10000 ? rate / 10000 : 1) : count;
	uint64_t unexpected = 0;
	int first_errno = 0;
	const int zero = mode == MODE_READWRITE ? open("/dev/zero", O_RDONLY) : -1;
	const int null = mode == MODE_READWRITE ? open("/dev/null", O_WRONLY) : -1;
	char block[64];

	const uint64_t start = now_ns();
	for (uint64_t done = 0; done < count;) {
		if (rate)
			sleep_until_ns(start + done * 1000000000ull / rate);
		uint64_t end = done + batch < count ? done + batch : count;
		for (; done < end; done++) {
			long ret;
			int want_errno = 0;
			switch (mode) {
			case MODE_KILL0:
				ret = syscall(SYS_kill, self, 0);
				break;
			case MODE_ESRCH:
				ret = syscall(SYS_kill, free_pid, 0);
				want_errno = ESRCH;
				break;
			case MODE_TGKILL:
				ret = syscall(SYS_tgkill, self, self_tid, SIGUSR1);
				break;
			case MODE_IGNORED:
				ret = syscall(SYS_kill, self, SIGUSR2);
				break;
			case MODE_READWRITE:
				ret = syscall(SYS_read, zero, block, sizeof(block)) == sizeof(block) &&
						      syscall(SYS_write, null, block, sizeof(block)) == sizeof(block)
					      ? 0
					      : -1;
				break;
			case MODE_GETPPID:
			default:
				syscall(SYS_getppid);
				continue;
			}
			if (want_errno ? !(ret == -1 && errno == want_errno) : ret != 0) {
				if (!unexpected)
					first_errno = errno;
				unexpected++;
			}
		}
	}
	result->loop_ns = now_ns() - start;
	result->unexpected = unexpected;
	result->first_errno = first_errno;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	const char *positional[3] = {0};
	int npositional = 0;
	uint64_t rate = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rate")) {
			if (++i >= argc)
				usage();
			rate = parse_positive(argv[i], "--rate");
		} else if (npositional < 3 && argv[i][0] != '-') {
			positional[npositional++] = argv[i];
		} else {
			usage();
		}
	}
	if (npositional < 2)
		usage();

	int mode = -1;
	for (int m = 0; m < (int)(sizeof(mode_names) / sizeof(mode_names[0])); m++)
		if (!strcmp(positional[0], mode_names[m]))
			mode = m;
	if (mode < 0)
		usage();
	const uint64_t count = parse_positive(positional[1], "COUNT");
	const uint64_t procs = npositional > 2 ? parse_positive(positional[2], "PROCS") : 1;
	if (procs > 1024)
		die("PROCS must be at most 1024");

	// SIG_IGN is inherited across fork; the kernel still generates the signal
	// (and runs its tracepoints) before discarding it.
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	uint64_t search_calls = 0;
	const pid_t free_pid = mode == MODE_ESRCH ? find_free_pid(&search_calls) : 0;

	struct proc_result *results = mmap(NULL, procs * sizeof(*results), PROT_READ | PROT_WRITE,
					   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (results == MAP_FAILED)
		die("mmap failed");

	// Start barrier: children block reading a pipe whose write end only the
	// parent still holds; closing it releases all of them at the same instant.
	int barrier[2];
	if (pipe(barrier))
		die("pipe failed");
	pid_t children[1024];
	for (uint64_t p = 0; p < procs; p++) {
		pid_t child = fork();
		if (child < 0)
			die("fork failed");
		if (child == 0) {
			close(barrier[1]);
			char byte;
			while (read(barrier[0], &byte, 1) < 0 && errno == EINTR) {
			}
			run_loop((enum mode)mode, count, rate, free_pid, &results[p]);
			_exit(0);
		}
		children[p] = child;
	}
	close(barrier[0]);
	const uint64_t start = now_ns();
	close(barrier[1]);

	int failed = 0;
	for (uint64_t p = 0; p < procs; p++) {
		int status;
		while (waitpid(children[p], &status, 0) < 0 && errno == EINTR) {
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	const uint64_t elapsed = now_ns() - start;
	if (failed)
		die("a worker process failed");

	double per_op[1024];
	uint64_t unexpected = 0;
	int first_errno = 0;
	for (uint64_t p = 0; p < procs; p++) {
		per_op[p] = (double)results[p].loop_ns / (double)count;
		if (results[p].unexpected && !unexpected)
			first_errno = results[p].first_errno;
		unexpected += results[p].unexpected;
	}
	qsort(per_op, procs, sizeof(per_op[0]), compare_double);
	const double median = procs % 2 ? per_op[procs / 2]
					 : (per_op[procs / 2 - 1] + per_op[procs / 2]) / 2;
	const uint64_t sent = mode == MODE_GETPPID || mode == MODE_READWRITE ? 0 : count * procs + search_calls;

	printf("{\"mode\":\"%s\",\"count\":%llu,\"procs\":%llu,\"ns_per_op\":%.2f,"
	       "\"elapsed_ns\":%llu,\"sent\":%llu",
	       mode_names[mode], (unsigned long long)count, (unsigned long long)procs, median,
	       (unsigned long long)elapsed, (unsigned long long)sent);
	if (rate)
		printf(",\"rate_per_proc\":%llu,\"achieved_ops_per_s\":%.0f", (unsigned long long)rate,
		       (double)(count * procs) * 1e9 / (double)elapsed);
	printf("}\n");

	// A mode whose calls did not behave as intended measures the wrong thing.
	if (unexpected) {
		fprintf(stderr, "loadgen: %llu of %llu %s calls returned an unexpected result (%s)\n",
			(unsigned long long)unexpected, (unsigned long long)(count * procs),
			mode_names[mode], strerror(first_errno));
		return 1;
	}
	return 0;
}
