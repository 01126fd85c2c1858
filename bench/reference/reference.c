// SPDX-License-Identifier: MIT
// Loader and consumer of reference.bpf.c: attaches, prints "ready", counts the
// ring buffer's records until SIGTERM or SIGINT, then prints one JSON line:
// {"records":N,"loadgen_seen":0|1,"loadgen_audited":0|1,"loadgen_syscall_work":W}.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "reference.skel.h"

static volatile sig_atomic_t stopping;
static unsigned long long records;

static void stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static int count_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	records++;
	return 0;
}

int main(void)
{
	struct reference_bpf *skel = reference_bpf__open_and_load();
	struct ring_buffer *ring;

	if (!skel || reference_bpf__attach(skel)) {
		fprintf(stderr, "reference: loading or attaching failed: %s\n", strerror(errno));
		return 1;
	}
	ring = ring_buffer__new(bpf_map__fd(skel->maps.sends), count_record, NULL, NULL);
	if (!ring) {
		fprintf(stderr, "reference: opening the ring buffer failed: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGTERM, stop);
	signal(SIGINT, stop);
	printf("ready\n");
	fflush(stdout);
	while (!stopping) {
		int err = ring_buffer__poll(ring, 100);

		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "reference: polling failed: %s\n", strerror(-err));
			return 1;
		}
	}
	ring_buffer__consume(ring);
	printf("{\"records\":%llu,\"loadgen_seen\":%u,\"loadgen_audited\":%u,\"loadgen_syscall_work\":%llu}\n",
	       records, skel->bss->loadgen_seen, skel->bss->loadgen_audited,
	       (unsigned long long)skel->bss->loadgen_syscall_work);
	ring_buffer__free(ring);
	reference_bpf__destroy(skel);
	return 0;
}
