// SPDX-License-Identifier: GPL-2.0
/*
 * The bench's reference signal tracer: the plain per-syscall-tracepoint
 * design sigaudit is measured against. The six signal syscalls' enter and exit
 * tracepoints, the entry's arguments waiting in a hash keyed by thread id, one
 * ring-buffer record per call. It also notes the load generator's
 * syscall_work, so the bench can say whether the kernel's audit slow path was
 * on while it measured: once auditd has run in a boot, every new task carries
 * SYSCALL_WORK_SYSCALL_AUDIT until reboot.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

struct send {
	__u64 boot_ns;
	__s64 ret;
	__u32 tid;
	__s32 target;
	__s32 signal;
	__u32 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} sends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct send);
} inflight SEC(".maps");

/* The load generator's thread_info.syscall_work, once one of its sends was seen. */
__u64 loadgen_syscall_work = 0;
__u32 loadgen_seen = 0;
__u32 loadgen_audited = 0;

static __always_inline bool is_loadgen(void)
{
	char comm[16] = {};

	bpf_get_current_comm(comm, sizeof(comm));
	/* "loadgen" and its NUL, as one little-endian word. */
	return *(__u64 *)comm == 0x006e656764616f6cULL;
}

static __always_inline int enter(struct trace_event_raw_sys_enter *ctx, int signal)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct send send = {
		.boot_ns = bpf_ktime_get_boot_ns(),
		.tid = tid,
		.target = ctx->args[0],
		.signal = signal,
		.nr = ctx->id,
	};

	if (!loadgen_seen && is_loadgen()) {
		loadgen_syscall_work = BPF_CORE_READ(task, thread_info.syscall_work);
		loadgen_audited = !!(loadgen_syscall_work &
				     (1ULL << bpf_core_enum_value(enum syscall_work_bit, SYSCALL_WORK_BIT_SYSCALL_AUDIT)));
		loadgen_seen = 1;
	}
	bpf_map_update_elem(&inflight, &tid, &send, BPF_ANY);
	return 0;
}

static __always_inline int leave(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct send *pending = bpf_map_lookup_elem(&inflight, &tid);
	struct send *out;

	if (!pending)
		return 0;
	out = bpf_ringbuf_reserve(&sends, sizeof(*out), 0);
	if (out) {
		*out = *pending;
		out->ret = ctx->ret;
		bpf_ringbuf_submit(out, 0);
	}
	bpf_map_delete_elem(&inflight, &tid);
	return 0;
}

#define TRACE(name, signal_arg)                                                  \
	SEC("tracepoint/syscalls/sys_enter_" #name)                              \
	int enter_##name(struct trace_event_raw_sys_enter *ctx)                  \
	{                                                                        \
		return enter(ctx, ctx->args[signal_arg]);                        \
	}                                                                        \
	SEC("tracepoint/syscalls/sys_exit_" #name)                               \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                    \
	{                                                                        \
		return leave(ctx);                                               \
	}

TRACE(kill, 1)
TRACE(tkill, 1)
TRACE(tgkill, 2)
TRACE(rt_sigqueueinfo, 1)
TRACE(rt_tgsigqueueinfo, 2)
TRACE(pidfd_send_signal, 1)
