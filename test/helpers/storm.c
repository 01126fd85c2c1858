// A numbered signal storm for the crash and disk-full tests: each signal
// carries its sequence number as its target, so the database shows exactly
// which ones were recorded.
//   storm seq FIRST COUNT [VICTIM AT] [RATE]
// sends kill(FIRST + i, 0) for i = 0 .. COUNT-1. FIRST is above pid_max, so
// every call fails with ESRCH and touches no process; each is recorded as a
// row with target_pid = FIRST + i. With VICTIM, sends it SIGKILL right after
// signal number AT (so signals up to FIRST + AT were in the ring buffer
// before the recorder died) and keeps going. Prints, for every STRIDE-th
// signal, "i wall_ns" (CLOCK_REALTIME after sending it), so a test can tell
// when any one was sent. RATE (signals per second, 0 = as fast as possible)
// paces the storm, checked every 1000 signals.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define STRIDE 1000

int main(int argc, char **argv)
{
	if (argc < 4 || strcmp(argv[1], "seq")) {
		fprintf(stderr, "usage: storm seq FIRST COUNT [VICTIM AT]\n");
		return 2;
	}
	long first = atol(argv[2]);
	long count = atol(argv[3]);
	pid_t victim = argc >= 6 ? atoi(argv[4]) : 0;
	long at = argc >= 6 ? atol(argv[5]) : -1;
	long rate = argc >= 7 ? atol(argv[6]) : 0;
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);

	long *stamps = calloc(count / STRIDE + 1, sizeof(long));
	struct timespec ts;

	for (long i = 0; i < count; i++) {
		syscall(SYS_kill, (pid_t)(first + i), 0);
		if (i == at && syscall(SYS_kill, victim, SIGKILL)) {
			perror("kill victim");
			return 1;
		}
		if (i % STRIDE == 0) {
			clock_gettime(CLOCK_REALTIME, &ts);
			stamps[i / STRIDE] = ts.tv_sec * 1000000000L + ts.tv_nsec;
			if (rate > 0) {
				// Sleep until signal i is due.
				long due = start.tv_sec * 1000000000L + start.tv_nsec + (long)((double)i * 1e9 / rate);
				struct timespec wake = {due / 1000000000L, due % 1000000000L};
				clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, NULL);
			}
		}
	}
	for (long i = 0; i <= (count - 1) / STRIDE; i++)
		printf("%ld %ld\n", i * STRIDE, stamps[i]);
	return 0;
}
