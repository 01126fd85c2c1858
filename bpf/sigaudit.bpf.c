// SPDX-License-Identifier: GPL-2.0
/*
 * sigaudit kernel side: sees every signal sent on the host.
 *
 * The six signal syscalls are traced enter/exit on the raw syscall
 * tracepoints (BTF-typed, so arguments are read straight from the saved
 * registers, and 32-bit compat calls are seen too): the entry arguments wait
 * in a hash map keyed by thread id until the exit gives the return value. While
 * a syscall is in flight, signal_generate fires once per task it reaches; the
 * first such task is folded into the pending record, further ones (process
 * group and kill(-1) fan-out) go out at once as FANOUT records. A
 * signal_generate with no matching syscall in flight is the kernel's own.
 *
 * Only tracepoints are used: fentry/fexit, LSM and kprobes are not available
 * on the kernels this runs on (lockdown, no kprobes).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "sigaudit.h"

char LICENSE[] SEC("license") = "GPL";

/* Filters and tuning, set from TypeScript between open and load. */
const volatile bool skip_probes = false; /* drop signal 0 liveness checks */
const volatile __u64 only_signals = 0; /* bit (sig - 1) set: keep; 0 keeps all */
#define MAX_EXCLUDED_COMMS 8
const volatile __u32 excluded_comm_count = 0;
const volatile char excluded_comms[MAX_EXCLUDED_COMMS][SIGAUDIT_COMM_LEN] = {};
/* Wake the reader only once this much is waiting: one wakeup per event costs
 * microseconds in a VM, so records are submitted without one and the reader
 * also drains on a short timer. */
const volatile __u64 wakeup_bytes = 1;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024); /* resized from user space */
} events SEC(".maps");

/* LRU, so a thread that died between enter and exit cannot fill the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct sigaudit_event);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SIGAUDIT_COUNTER_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Interrupt nesting per CPU, kept by the irq, softirq and hrtimer
 * tracepoints below: BPF cannot read preempt_count on kernels that do not
 * export per-CPU symbols, and a signal raised in interrupt context must not
 * be blamed on whichever task was interrupted. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} interrupt_depth SEC(".maps");

#define AUDIT_UID_UNSET ((__u32)-1)
#define SI_USER 0
#define SI_TKILL (-6)
#define PIDFS_MAGIC 0x50494446
/* A signal syscall never sleeps for long: an in-flight entry older than
 * this is a leftover whose exit was never seen. */
#define INFLIGHT_MAX_AGE_NS 1000000000ULL

/* Syscall numbers (arch/<arch>/entry/syscalls), native and, on x86_64,
 * the ia32 compat table, whose calls bypass the syscalls: tracepoints. */
#if defined(__TARGET_ARCH_x86)
#define NR_KILL 62
#define NR_TKILL 200
#define NR_TGKILL 234
#define NR_RT_SIGQUEUEINFO 129
#define NR_RT_TGSIGQUEUEINFO 297
#define NR_PIDFD_SEND_SIGNAL 424
#define NR_WRITE 1
#define NR_IA32_KILL 37
#define NR_IA32_TKILL 238
#define NR_IA32_TGKILL 270
#define NR_IA32_RT_SIGQUEUEINFO 178
#define NR_IA32_RT_TGSIGQUEUEINFO 335
#define NR_IA32_PIDFD_SEND_SIGNAL 424
#define NR_IA32_WRITE 4
#define TS_COMPAT 0x0002
#elif defined(__TARGET_ARCH_arm64)
#define NR_KILL 129
#define NR_TKILL 130
#define NR_TGKILL 131
#define NR_RT_SIGQUEUEINFO 138
#define NR_RT_TGSIGQUEUEINFO 240
#define NR_PIDFD_SEND_SIGNAL 424
#define NR_WRITE 64
#else
#error "sigaudit knows the syscall numbers of x86 and arm64 only"
#endif

static __always_inline void count(__u32 counter)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &counter);

	if (value)
		*value += 1;
}

#include "flood.h"

static __always_inline __u64 wakeup_flag(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									     : BPF_RB_NO_WAKEUP;
}

static __always_inline bool in_interrupt_context(void)
{
	__u32 zero = 0, *depth = bpf_map_lookup_elem(&interrupt_depth, &zero);

	return depth && *depth > 0;
}

static __always_inline int interrupt_enter(void)
{
	__u32 zero = 0, *depth = bpf_map_lookup_elem(&interrupt_depth, &zero);

	if (depth)
		*depth += 1;
	return 0;
}

static __always_inline int interrupt_exit(void)
{
	__u32 zero = 0, *depth = bpf_map_lookup_elem(&interrupt_depth, &zero);

	/* An exit whose entry came before attach leaves the count at 0. */
	if (depth && *depth > 0)
		*depth -= 1;
	return 0;
}

SEC("tp_btf/irq_handler_entry")
int BPF_PROG(irq_handler_entry)
{
	return interrupt_enter();
}

SEC("tp_btf/irq_handler_exit")
int BPF_PROG(irq_handler_exit)
{
	return interrupt_exit();
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(softirq_entry)
{
	return interrupt_enter();
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(softirq_exit)
{
	return interrupt_exit();
}

/* hrtimer callbacks (POSIX timers, itimers, the tick's CPU-time checks) run
 * from the timer interrupt, which has no irq_handler tracepoint. */
SEC("tp_btf/hrtimer_expire_entry")
int BPF_PROG(hrtimer_expire_entry)
{
	return interrupt_enter();
}

SEC("tp_btf/hrtimer_expire_exit")
int BPF_PROG(hrtimer_expire_exit)
{
	return interrupt_exit();
}

static __always_inline bool signal_wanted(int sig)
{
	if (sig == 0)
		return !skip_probes;
	if (!only_signals)
		return true;
	return sig <= 64 && (only_signals & (1ULL << (sig - 1)));
}

static __always_inline bool comm_excluded(const char *comm)
{
	for (__u32 i = 0; i < MAX_EXCLUDED_COMMS; i++) {
		if (i >= excluded_comm_count)
			return false;
		/* Comms are NUL-padded to 16 bytes by the kernel and by
		 * user space, so two 8-byte compares decide equality. */
		if (((const __u64 *)comm)[0] == ((const volatile __u64 *)excluded_comms[i])[0] &&
		    ((const __u64 *)comm)[1] == ((const volatile __u64 *)excluded_comms[i])[1])
			return true;
	}
	return false;
}

static __always_inline void fill_sender(struct sigaudit_event *e, struct task_struct *task)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	e->sender_pid = pid_tgid >> 32;
	e->sender_tid = (__u32)pid_tgid;
	e->sender_uid = (__u32)bpf_get_current_uid_gid();
	e->sender_auid = task->loginuid.val;
	if (e->sender_auid == AUDIT_UID_UNSET)
		e->flags |= SIGAUDIT_FLAG_AUID_UNSET;
	e->sender_ppid = task->real_parent->tgid;
	e->sender_cgroup = bpf_get_current_cgroup_id();
	bpf_get_current_comm(e->sender_comm, sizeof(e->sender_comm));
}

static __always_inline void fill_delivered(struct sigaudit_event *e, struct task_struct *task,
					   int result)
{
	e->flags |= SIGAUDIT_FLAG_DELIVERED;
	e->delivered_pid = task->tgid;
	e->delivered_tid = task->pid;
	e->delivered_cgroup = task->cgroups->dfl_cgrp->kn->id;
	bpf_probe_read_kernel_str(e->delivered_comm, sizeof(e->delivered_comm), task->comm);
	e->result = result;
}

/* The pid behind a pidfd, read from the sender's file table: a failed send
 * (the process already exited) still names its target this way. */
static __always_inline __s32 pid_of_pidfd(struct task_struct *task, int fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file;
	struct pid *pid;
	struct inode *inode;
	__u64 name = 0;
	__s32 nr = 0;

	if (fd < 0 || !fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return 0;
	inode = BPF_CORE_READ(file, f_inode);
	/* Since 6.9 pidfds live on pidfs and the inode holds the pid; before,
	 * they were anonymous inodes named "[pidfd]" holding it in
	 * private_data. Anything else (a /proc/<pid> directory fd) is left to
	 * the delivery record. */
	if (BPF_CORE_READ(inode, i_sb, s_magic) == PIDFS_MAGIC) {
		pid = BPF_CORE_READ(inode, i_private);
	} else {
		bpf_probe_read_kernel_str(&name, sizeof(name), BPF_CORE_READ(file, f_path.dentry, d_name.name));
		/* "[pidfd]" with its NUL, as one little-endian word. */
		if (name != 0x005d64666469705bULL)
			return 0;
		pid = BPF_CORE_READ(file, private_data);
	}
	if (pid)
		bpf_core_read(&nr, sizeof(nr), &pid->numbers[0].nr);
	return nr;
}

static __always_inline int si_code_from_user(const void *uinfo)
{
	/* siginfo_t starts with si_signo, si_errno, si_code (ints). */
	int code = 0;

	if (uinfo)
		bpf_probe_read_user(&code, sizeof(code), (const char *)uinfo + 2 * sizeof(int));
	return code;
}

static __always_inline bool in_compat_syscall(struct task_struct *task)
{
#if defined(__TARGET_ARCH_x86)
	return task->thread_info.status & TS_COMPAT;
#else
	return false;
#endif
}

/* Which of the six signal syscalls nr is, or SIGAUDIT_SOURCE_KERNEL for any
 * other: this runs on every syscall of the host, so it is a few compares. */
static __always_inline __u32 source_of(long nr, struct task_struct *task)
{
	__u32 source = SIGAUDIT_SOURCE_KERNEL;

	switch (nr) {
	case NR_KILL: source = SIGAUDIT_SOURCE_KILL; break;
	case NR_TKILL: source = SIGAUDIT_SOURCE_TKILL; break;
	case NR_TGKILL: source = SIGAUDIT_SOURCE_TGKILL; break;
	case NR_RT_SIGQUEUEINFO: source = SIGAUDIT_SOURCE_RT_SIGQUEUEINFO; break;
	case NR_RT_TGSIGQUEUEINFO: source = SIGAUDIT_SOURCE_RT_TGSIGQUEUEINFO; break;
	case NR_PIDFD_SEND_SIGNAL: source = SIGAUDIT_SOURCE_PIDFD_SEND_SIGNAL; break;
	}
#if defined(__TARGET_ARCH_x86)
	/* The compat table reuses native numbers for other calls, so a
	 * match counts only for a task inside a compat syscall. */
	if (nr == NR_IA32_KILL || nr == NR_IA32_TKILL || nr == NR_IA32_TGKILL ||
	    nr == NR_IA32_RT_SIGQUEUEINFO || nr == NR_IA32_RT_TGSIGQUEUEINFO ||
	    source != SIGAUDIT_SOURCE_KERNEL) {
		if (!in_compat_syscall(task))
			return source;
		switch (nr) {
		case NR_IA32_KILL: return SIGAUDIT_SOURCE_KILL;
		case NR_IA32_TKILL: return SIGAUDIT_SOURCE_TKILL;
		case NR_IA32_TGKILL: return SIGAUDIT_SOURCE_TGKILL;
		case NR_IA32_RT_SIGQUEUEINFO: return SIGAUDIT_SOURCE_RT_SIGQUEUEINFO;
		case NR_IA32_RT_TGSIGQUEUEINFO: return SIGAUDIT_SOURCE_RT_TGSIGQUEUEINFO;
		case NR_IA32_PIDFD_SEND_SIGNAL: return SIGAUDIT_SOURCE_PIDFD_SEND_SIGNAL;
		}
		return SIGAUDIT_SOURCE_KERNEL;
	}
#endif
	return source;
}

/* The n-th syscall argument as the entry code saved it. */
static __always_inline unsigned long syscall_arg(struct pt_regs *regs, bool compat, int n)
{
#if defined(__TARGET_ARCH_x86)
	if (compat) {
		switch (n) {
		case 0: return (__u32)regs->bx;
		case 1: return (__u32)regs->cx;
		case 2: return (__u32)regs->dx;
		default: return (__u32)regs->si;
		}
	}
	switch (n) {
	case 0: return regs->di;
	case 1: return regs->si;
	case 2: return regs->dx;
	default: return regs->r10;
	}
#else
	return n == 0 ? regs->orig_x0 : regs->regs[n];
#endif
}

static __always_inline long syscall_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return regs->orig_ax;
#else
	return regs->syscallno;
#endif
}

/* The first test on every system call of the host: the number alone, no
 * helper call and no memory read, so unrelated calls pay almost nothing. */
static __always_inline bool maybe_signal_syscall(long nr)
{
	switch (nr) {
	case NR_KILL:
	case NR_TKILL:
	case NR_TGKILL:
	case NR_RT_SIGQUEUEINFO:
	case NR_RT_TGSIGQUEUEINFO:
	case NR_PIDFD_SEND_SIGNAL:
#if defined(__TARGET_ARCH_x86)
	case NR_IA32_KILL:
	case NR_IA32_TKILL:
	case NR_IA32_TGKILL:
	case NR_IA32_RT_SIGQUEUEINFO:
	case NR_IA32_RT_TGSIGQUEUEINFO:
#endif
		return true;
	}
	return false;
}

static __always_inline int enter_signal_syscall(struct pt_regs *regs, long nr)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 source = source_of(nr, task);
	bool compat = in_compat_syscall(task);
	struct sigaudit_event e = {};
	const void *uinfo = NULL;
	__u32 tid;

	if (source == SIGAUDIT_SOURCE_KERNEL)
		return 0;
	/* Where each syscall keeps its target and signal. */
	e.si_code = SI_USER;
	switch (source) {
	case SIGAUDIT_SOURCE_KILL:
		e.target_pid = syscall_arg(regs, compat, 0);
		e.signal = syscall_arg(regs, compat, 1);
		break;
	case SIGAUDIT_SOURCE_TKILL:
		e.target_pid = e.target_tid = syscall_arg(regs, compat, 0);
		e.signal = syscall_arg(regs, compat, 1);
		e.si_code = SI_TKILL;
		break;
	case SIGAUDIT_SOURCE_TGKILL:
		e.target_pid = syscall_arg(regs, compat, 0);
		e.target_tid = syscall_arg(regs, compat, 1);
		e.signal = syscall_arg(regs, compat, 2);
		e.si_code = SI_TKILL;
		break;
	case SIGAUDIT_SOURCE_RT_SIGQUEUEINFO:
		e.target_pid = syscall_arg(regs, compat, 0);
		e.signal = syscall_arg(regs, compat, 1);
		uinfo = (const void *)syscall_arg(regs, compat, 2);
		break;
	case SIGAUDIT_SOURCE_RT_TGSIGQUEUEINFO:
		e.target_pid = syscall_arg(regs, compat, 0);
		e.target_tid = syscall_arg(regs, compat, 1);
		e.signal = syscall_arg(regs, compat, 2);
		uinfo = (const void *)syscall_arg(regs, compat, 3);
		break;
	default: /* pidfd_send_signal */
		e.target_pid = pid_of_pidfd(task, syscall_arg(regs, compat, 0));
		if (e.target_pid)
			e.flags |= SIGAUDIT_FLAG_TARGET_FROM_PIDFD;
		e.signal = syscall_arg(regs, compat, 1);
		uinfo = (const void *)syscall_arg(regs, compat, 2);
		break;
	}
	if (!signal_wanted(e.signal))
		return 0;
	if (excluded_comm_count) {
		__u64 comm[SIGAUDIT_COMM_LEN / sizeof(__u64)];

		bpf_get_current_comm(comm, sizeof(comm));
		if (comm_excluded((const char *)comm))
			return 0;
	}
	if (uinfo)
		e.si_code = si_code_from_user(uinfo);
	e.kind = SIGAUDIT_KIND_SEND;
	e.source = source;
	e.result = SIGAUDIT_RESULT_NONE;
	e.boot_ns = bpf_ktime_get_boot_ns();
	if (!flood_take_token(e.boot_ns))
		e.flags |= FLOOD_OVER_BUDGET;
	/* Sender details are read at exit, straight into the ring buffer. */
	tid = task->pid;
	if (bpf_map_update_elem(&inflight, &tid, &e, BPF_ANY))
		count(SIGAUDIT_COUNTER_INFLIGHT_DROPS);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long nr)
{
	if (!maybe_signal_syscall(nr))
		return 0;
	return enter_signal_syscall(regs, nr);
}

static __always_inline int exit_signal_syscall(long nr, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct sigaudit_event *pending, *e;
	__u32 tid;

	if (source_of(nr, task) == SIGAUDIT_SOURCE_KERNEL)
		return 0;
	tid = task->pid;
	pending = bpf_map_lookup_elem(&inflight, &tid);
	if (!pending)
		return 0;
	e = flood_summarise(pending) ? NULL : bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		flood_ring_full(pending->flags & FLOOD_PROTECTED, pending->source, pending->signal,
				pending->target_pid, ret, pending->result);
	} else {
		__builtin_memcpy(e, pending, sizeof(*e));
		e->flags &= ~FLOOD_PENDING_FLAGS;
		fill_sender(e, task);
		e->ret = ret;
		bpf_ringbuf_submit(e, wakeup_flag());
	}
	bpf_map_delete_elem(&inflight, &tid);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	long nr = syscall_nr(regs);

	if (!maybe_signal_syscall(nr))
		return 0;
	return exit_signal_syscall(nr, ret);
}

static __always_inline bool is_write(long nr, struct task_struct *task)
{
#if defined(__TARGET_ARCH_x86)
	if (in_compat_syscall(task))
		return nr == NR_IA32_WRITE;
#endif
	return nr == NR_WRITE;
}

/* The si_code the tracepoint itself would report: SEND_SIG_NOINFO (0) and
 * SEND_SIG_PRIV (1) are markers, not pointers. */
static __always_inline int si_code_of(struct kernel_siginfo *info)
{
	if ((unsigned long)info == 0)
		return SI_USER;
	if ((unsigned long)info == 1)
		return 0x80; /* SI_KERNEL */
	return BPF_CORE_READ(info, si_code);
}

SEC("tp_btf/signal_generate")
int BPF_PROG(signal_generate, int sig, struct kernel_siginfo *info, struct task_struct *task,
	     int group, int result)
{
	struct task_struct *current = bpf_get_current_task_btf();
	bool in_interrupt = in_interrupt_context();
	struct sigaudit_event *pending = NULL, *e;
	__u32 tid = current->pid;

	if (!in_interrupt)
		pending = bpf_map_lookup_elem(&inflight, &tid);
	if (pending &&
	    (pending->signal != sig || bpf_ktime_get_boot_ns() - pending->boot_ns > INFLIGHT_MAX_AGE_NS))
		pending = NULL;

	if (pending) {
		/* A task reached by the syscall in flight on this thread. */
		bool summarised = flood_on_delivery(pending, task, sig);

		pending->deliveries++;
		if (!(pending->flags & SIGAUDIT_FLAG_DELIVERED)) {
			fill_delivered(pending, task, result);
			pending->si_code = si_code_of(info);
			return 0;
		}
		if (summarised)
			return 0;
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e) {
			count(SIGAUDIT_COUNTER_RINGBUF_DROPS);
			return 0;
		}
		__builtin_memcpy(e, pending, sizeof(*e));
		e->kind = SIGAUDIT_KIND_FANOUT;
		e->flags &= ~(SIGAUDIT_FLAG_DELIVERED | FLOOD_PENDING_FLAGS);
		fill_sender(e, current);
		fill_delivered(e, task, result);
		bpf_ringbuf_submit(e, wakeup_flag());
		return 0;
	}

	/* The kernel's own signal (fault, child exit, pipe, timer, tty, OOM,
	 * cgroup.kill), or one from a path not traced above. */
	if (!signal_wanted(sig))
		return 0;
	if (!in_interrupt && flood_budget_on()) {
		__u64 comm[SIGAUDIT_COMM_LEN / sizeof(__u64)];

		bpf_get_current_comm(comm, sizeof(comm));
		if (comm_excluded((const char *)comm) || flood_summarise_kernel(task, sig, result))
			return 0;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		if (in_interrupt)
			count(SIGAUDIT_COUNTER_RINGBUF_DROPS);
		else
			flood_ring_full(flood_protected(task, sig), SIGAUDIT_SOURCE_KERNEL, sig, task->tgid,
					0, result);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = SIGAUDIT_KIND_KERNEL;
	e->source = SIGAUDIT_SOURCE_KERNEL;
	e->boot_ns = bpf_ktime_get_boot_ns();
	if (in_interrupt) {
		e->flags |= SIGAUDIT_FLAG_IN_INTERRUPT;
	} else {
		fill_sender(e, current);
		if (comm_excluded(e->sender_comm)) {
			bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
			return 0;
		}
		if (is_write(syscall_nr((struct pt_regs *)bpf_task_pt_regs(current)), current))
			e->flags |= SIGAUDIT_FLAG_DURING_WRITE;
	}
	e->signal = sig;
	e->si_code = si_code_of(info);
	e->deliveries = 1;
	fill_delivered(e, task, result);
	bpf_ringbuf_submit(e, wakeup_flag());
	return 0;
}

/* The OOM killer sends SIGKILL (SI_KERNEL) and then marks its victim; this
 * marker lets user space label that SIGKILL as the OOM killer's. */
SEC("tp_btf/mark_victim")
int BPF_PROG(mark_victim, struct task_struct *victim)
{
	struct sigaudit_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(SIGAUDIT_COUNTER_RINGBUF_DROPS);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = SIGAUDIT_KIND_OOM_VICTIM;
	e->boot_ns = bpf_ktime_get_boot_ns();
	e->delivered_pid = victim->tgid;
	e->delivered_tid = victim->pid;
	e->result = SIGAUDIT_RESULT_NONE;
	bpf_ringbuf_submit(e, wakeup_flag());
	return 0;
}
