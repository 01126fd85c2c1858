// A flood as an unprivileged user would send it, for the flood tests:
//   flooder COUNT SIGNAL TARGET [FINAL_SIGNAL FINAL_TARGET]
// sends kill(TARGET, SIGNAL) COUNT times as fast as it can (TARGET "self"
// is its own pid), then, if given, one kill(FINAL_TARGET, FINAL_SIGNAL).
// Prints {"pid":P,"sent":N,"failed":F}: N counts every kill(2) it made,
// F those that returned an error, so a test can check the recorder's
// accounting against the sender's own count.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static pid_t target_of(const char *text)
{
	return strcmp(text, "self") == 0 ? getpid() : (pid_t)atoi(text);
}

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 6) {
		fprintf(stderr, "usage: flooder COUNT SIGNAL TARGET [FINAL_SIGNAL FINAL_TARGET]\n");
		return 2;
	}
	long count = atol(argv[1]);
	int sig = atoi(argv[2]);
	pid_t target = target_of(argv[3]);
	long sent = 0, failed = 0;

	for (long i = 0; i < count; i++, sent++)
		if (syscall(SYS_kill, target, sig))
			failed++;
	if (argc == 6) {
		sent++;
		if (syscall(SYS_kill, target_of(argv[5]), atoi(argv[4])))
			failed++;
	}
	printf("{\"pid\":%d,\"sent\":%ld,\"failed\":%ld}\n", getpid(), sent, failed);
	return 0;
}
