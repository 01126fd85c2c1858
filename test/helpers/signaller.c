// Sends signals through the syscalls Python and the shells do not reach
// directly, and sends bursts as fast as one process can.
//   signaller kill PID SIG
//   signaller tkill TID SIG
//   signaller sigqueue PID SIG            (rt_sigqueueinfo, SI_QUEUE)
//   signaller tgsigqueue TGID TID SIG     (rt_tgsigqueueinfo, SI_QUEUE)
//   signaller burst COUNT SIG             (kill(getpid(), SIG) COUNT times, SIG ignored)
// Prints "ret=<value> errno=<errno>" for the single-shot modes.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int queueinfo(pid_t tgid, pid_t tid, int sig, int thread)
{
	siginfo_t info;

	memset(&info, 0, sizeof(info));
	info.si_signo = sig;
	info.si_code = SI_QUEUE;
	info.si_pid = getpid();
	info.si_uid = getuid();
	if (thread)
		return syscall(SYS_rt_tgsigqueueinfo, tgid, tid, sig, &info);
	return syscall(SYS_rt_sigqueueinfo, tgid, sig, &info);
}

int main(int argc, char **argv)
{
	long ret;

	if (argc >= 4 && !strcmp(argv[1], "kill"))
		ret = kill(atoi(argv[2]), atoi(argv[3]));
	else if (argc >= 4 && !strcmp(argv[1], "tkill"))
		ret = syscall(SYS_tkill, atoi(argv[2]), atoi(argv[3]));
	else if (argc >= 4 && !strcmp(argv[1], "sigqueue"))
		ret = queueinfo(atoi(argv[2]), 0, atoi(argv[3]), 0);
	else if (argc >= 5 && !strcmp(argv[1], "tgsigqueue"))
		ret = queueinfo(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), 1);
	else if (argc >= 4 && !strcmp(argv[1], "burst")) {
		long count = atol(argv[2]);
		int sig = atoi(argv[3]);
		pid_t self = getpid();

		signal(sig, SIG_IGN);
		for (long i = 0; i < count; i++)
			if (kill(self, sig)) {
				perror("kill");
				return 1;
			}
		return 0;
	} else {
		fprintf(stderr, "usage: signaller tkill|sigqueue|tgsigqueue|burst ...\n");
		return 2;
	}
	printf("ret=%ld errno=%d\n", ret, ret < 0 ? errno : 0);
	return 0;
}
