// SPDX-License-Identifier: GPL-2.0
/*
 * sigaudit kernel side: sees every signal sent on the host.
 *
 * The six signal syscalls are traced at their exit only, on the per-syscall
 * tracepoints (syscalls:sys_exit_kill, ...), which cost unrelated system calls
 * nothing beyond the kernel's own dispatch: the arguments are read back from
 * the user registers the entry code saved (x86_64 and arm64 keep them intact
 * until the return), so nothing waits in a map between entry and exit. While
 * a signal syscall is in flight, signal_generate fires once per task it
 * reaches and tells it from the kernel's own signals by the saved syscall
 * number; the first such task waits in the thread's task storage for the exit,
 * further ones (process group and kill(-1) fan-out) go out at once as FANOUT
 * records. Without tracefs, and for ia32 compat calls (which bypass the
 * syscalls: tracepoints), the raw sys_exit tracepoint does the exit's job.
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
const volatile __u32 excluded_comm_count = 0;
const volatile char excluded_comms[SIGAUDIT_MAX_EXCLUDED_COMMS][SIGAUDIT_COMM_LEN] = {};
/* A raw sys_exit program sees compat signal syscalls end; without one, their
 * deliveries are recorded where signal_generate sees them. */
const volatile bool compat_exit_traced = false;
/* Wake the reader only once this much is waiting: one wakeup per event costs
 * microseconds in a VM, so records are submitted without one and the reader
 * also drains on a short timer. */
const volatile __u64 wakeup_bytes = 1;
/* The recorder's own pid namespace, by its nsfs inode number (nsfs is one
 * superblock, so the number alone names it): the *_ns_pid fields number
 * tasks as it does. */
#define PROC_PID_INIT_INO 0xEFFFFFFCU
const volatile __u32 pidns_inum = PROC_PID_INIT_INO;
/* Its depth, learnt from the first pid seen that has a number there (-1
 * until then): user space cannot tell it, as /proc/self/status lists NSpid
 * only from the depth of the procfs mounted, which in a container is its
 * own. Every writer stores the same value. */
int pidns_level = -1;
#define MAX_PIDNS_LEVEL 32

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024); /* resized from user space */
} events SEC(".maps");

/* The send in flight on a thread once it reached its first task, until the
 * syscall's exit; freed with the thread. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
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
 * export per-CPU symbols (x86 keeps it in __preempt_count, which a kernel
 * without CONFIG_KALLSYMS_ALL does not resolve for BPF), and a signal raised
 * in interrupt context must not be blamed on whichever task was interrupted. */
struct interrupt_state {
	__u32 depth; /* device irqs and softirqs (soft hrtimers run in one) */
	__u32 in_hard_timer; /* a hard hrtimer callback: a flag, set and cleared twice over */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct interrupt_state);
} interrupts SEC(".maps");

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

/* This CPU's interrupt state; key 0 always exists, the callers' NULL checks
 * are for the verifier. */
static __always_inline struct interrupt_state *cpu_interrupts(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&interrupts, &zero);
}

static __always_inline bool in_interrupt_context(void)
{
	struct interrupt_state *state = cpu_interrupts();

	return state && (state->depth > 0 || state->in_hard_timer);
}

static __always_inline int interrupt_enter(void)
{
	struct interrupt_state *state = cpu_interrupts();

	if (state)
		state->depth += 1;
	return 0;
}

static __always_inline int interrupt_exit(void)
{
	struct interrupt_state *state = cpu_interrupts();

	/* An exit whose entry came before attach leaves the count at 0. */
	if (state && state->depth > 0)
		state->depth -= 1;
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
 * from the timer interrupt, which has no irq_handler tracepoint. A soft
 * hrtimer runs in the hrtimer softirq, already counted, with interrupts on:
 * a hard one can fire while this program runs for the soft one, and the
 * kernel then skips the nested run of the same program (a recursion miss).
 * A counter would stay one too high for good; so hard timers set and clear
 * a flag, and each program is attached twice, so a nested run always finds
 * one copy not busy and a repeated one changes nothing. */
static __always_inline int hard_timer_mark(struct hrtimer *timer, __u32 inside)
{
	struct interrupt_state *state;

	if (BPF_CORE_READ_BITFIELD_PROBED(timer, is_soft))
		return 0;
	state = cpu_interrupts();
	if (state)
		state->in_hard_timer = inside;
	return 0;
}

#define HARD_TIMER_PROGRAMS(copy)                                                         \
	SEC("tp_btf/hrtimer_expire_entry")                                                \
	int BPF_PROG(hrtimer_expire_entry_##copy, struct hrtimer *timer)                  \
	{                                                                                 \
		return hard_timer_mark(timer, 1);                                         \
	}                                                                                 \
	SEC("tp_btf/hrtimer_expire_exit")                                                 \
	int BPF_PROG(hrtimer_expire_exit_##copy, struct hrtimer *timer)                   \
	{                                                                                 \
		return hard_timer_mark(timer, 0);                                         \
	}

HARD_TIMER_PROGRAMS(a)
HARD_TIMER_PROGRAMS(b)

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
	for (__u32 i = 0; i < SIGAUDIT_MAX_EXCLUDED_COMMS; i++) {
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

static __always_inline bool recorder_in_initial_ns(void)
{
	return pidns_inum == PROC_PID_INIT_INO;
}

/* Whether a pid's number at `level` is the recorder namespace's. */
static __always_inline bool numbered_by_recorder_ns(struct pid *pid, __u32 level, __u32 *nr)
{
	struct upid number;

	if (bpf_core_read(&number, sizeof(number), &pid->numbers[level]))
		return false;
	if (BPF_CORE_READ(number.ns, ns.inum) != pidns_inum)
		return false;
	*nr = number.nr;
	return true;
}

/* A pid's number in the recorder's (non-initial) namespace, 0 if it has none
 * there: a pid has one number per level down to its own namespace, and only
 * the one at the recorder's depth can be the recorder namespace's (or a
 * sibling's at the same depth). */
static __always_inline __u32 recorder_ns_nr(struct pid *pid)
{
	int known = pidns_level;
	__u32 level, nr = 0;

	if (!pid)
		return 0;
	level = BPF_CORE_READ(pid, level);
	if (known >= 0) {
		if (level >= known)
			numbered_by_recorder_ns(pid, known, &nr);
		return nr;
	}
	for (__u32 i = 0; i <= MAX_PIDNS_LEVEL && i <= level; i++) {
		if (numbered_by_recorder_ns(pid, i, &nr)) {
			pidns_level = i;
			return nr;
		}
	}
	return 0;
}

/* A process's (thread group's) pid in the recorder's namespace; in the
 * initial namespace that is the global tgid, read without a walk. */
static __always_inline __u32 recorder_ns_tgid(struct task_struct *task)
{
	if (recorder_in_initial_ns())
		return task->tgid;
	return recorder_ns_nr(BPF_CORE_READ(task, group_leader, thread_pid));
}

/* Whether the pid numbers a task passes to syscalls are the recorder's: the
 * task's own namespace, the one at its pid's deepest level, is the
 * recorder's. */
static __always_inline bool shares_recorder_ns(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);

	if (recorder_in_initial_ns())
		return BPF_CORE_READ(pid, level) == 0;
	return recorder_ns_nr(pid) != 0 && BPF_CORE_READ(pid, level) == pidns_level;
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
	e->sender_ns_pid = recorder_ns_tgid(task);
	e->sender_cgroup = bpf_get_current_cgroup_id();
	bpf_get_current_comm(e->sender_comm, sizeof(e->sender_comm));
}

static __always_inline void fill_delivered(struct sigaudit_event *e, struct task_struct *task,
					   int result)
{
	e->flags |= SIGAUDIT_FLAG_DELIVERED;
	e->delivered_pid = task->tgid;
	e->delivered_tid = task->pid;
	e->delivered_ns_pid = recorder_ns_tgid(task);
	e->delivered_cgroup = task->cgroups->dfl_cgrp->kn->id;
	bpf_probe_read_kernel_str(e->delivered_comm, sizeof(e->delivered_comm), task->comm);
	e->result = result;
}

/* The pid behind a pidfd, read from the sender's file table: a failed send
 * (the process already exited) still names its target this way. */
static __always_inline struct pid *pid_behind_pidfd(struct task_struct *task, int fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file;
	struct inode *inode;
	__u64 name = 0;

	if (fd < 0 || !fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	inode = BPF_CORE_READ(file, f_inode);
	/* Since 6.9 pidfds live on pidfs and the inode holds the pid; before,
	 * they were anonymous inodes named "[pidfd]" holding it in
	 * private_data. Anything else (a /proc/<pid> directory fd) is left to
	 * the delivery record. */
	if (BPF_CORE_READ(inode, i_sb, s_magic) == PIDFS_MAGIC)
		return BPF_CORE_READ(inode, i_private);
	bpf_probe_read_kernel_str(&name, sizeof(name), BPF_CORE_READ(file, f_path.dentry, d_name.name));
	/* "[pidfd]" with its NUL, as one little-endian word. */
	if (name != 0x005d64666469705bULL)
		return NULL;
	return BPF_CORE_READ(file, private_data);
}

/* The global pid behind a pidfd, 0 if there is none. */
static __always_inline __s32 pid_of_pidfd(struct task_struct *task, int fd)
{
	struct pid *pid = pid_behind_pidfd(task, fd);
	__s32 nr = 0;

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

/* The signal the syscall sends, read first: it alone decides the filters. */
static __always_inline int signal_arg(struct pt_regs *regs, bool compat, __u32 source)
{
	if (source == SIGAUDIT_SOURCE_TGKILL || source == SIGAUDIT_SOURCE_RT_TGSIGQUEUEINFO)
		return syscall_arg(regs, compat, 2);
	return syscall_arg(regs, compat, 1);
}

/* Where each syscall keeps its target and the si_code it asks for. */
static __always_inline void fill_syscall(struct sigaudit_event *e, struct task_struct *task,
					 struct pt_regs *regs, bool compat, __u32 source)
{
	const void *uinfo = NULL;

	e->kind = SIGAUDIT_KIND_SEND;
	e->source = source;
	e->result = SIGAUDIT_RESULT_NONE;
	e->signal = signal_arg(regs, compat, source);
	e->si_code = SI_USER;
	switch (source) {
	case SIGAUDIT_SOURCE_KILL:
		e->target_pid = syscall_arg(regs, compat, 0);
		break;
	case SIGAUDIT_SOURCE_TKILL:
		e->target_pid = e->target_tid = syscall_arg(regs, compat, 0);
		e->si_code = SI_TKILL;
		break;
	case SIGAUDIT_SOURCE_TGKILL:
		e->target_pid = syscall_arg(regs, compat, 0);
		e->target_tid = syscall_arg(regs, compat, 1);
		e->si_code = SI_TKILL;
		break;
	case SIGAUDIT_SOURCE_RT_SIGQUEUEINFO:
		e->target_pid = syscall_arg(regs, compat, 0);
		uinfo = (const void *)syscall_arg(regs, compat, 2);
		break;
	case SIGAUDIT_SOURCE_RT_TGSIGQUEUEINFO:
		e->target_pid = syscall_arg(regs, compat, 0);
		e->target_tid = syscall_arg(regs, compat, 1);
		uinfo = (const void *)syscall_arg(regs, compat, 3);
		break;
	default: { /* pidfd_send_signal */
		struct pid *pid = pid_behind_pidfd(task, syscall_arg(regs, compat, 0));

		if (pid) {
			bpf_core_read(&e->target_pid, sizeof(e->target_pid), &pid->numbers[0].nr);
			e->target_ns_pid = recorder_in_initial_ns() ? e->target_pid : recorder_ns_nr(pid);
		}
		if (e->target_pid)
			e->flags |= SIGAUDIT_FLAG_TARGET_FROM_PIDFD;
		uinfo = (const void *)syscall_arg(regs, compat, 2);
		break;
	}
	}
	/* A number the sender gave is the recorder's own if they share a
	 * namespace; 0 (own group) and -1 (all) mean the same everywhere. A
	 * sender elsewhere gets its target named by the task reached
	 * (name_target_by_delivery), if any. */
	if (source != SIGAUDIT_SOURCE_PIDFD_SEND_SIGNAL &&
	    (e->target_pid == 0 || e->target_pid == -1 || shares_recorder_ns(task)))
		e->target_ns_pid = e->target_pid;
	if (uinfo)
		e->si_code = si_code_from_user(uinfo);
}

/* A send from another namespace to one pid that reached a task: that task is
 * the target it gave (the thread for tkill, the process otherwise), and the
 * recorder's namespace can number it. */
static __always_inline void name_target_by_delivery(struct sigaudit_event *e, struct task_struct *task)
{
	if (e->target_ns_pid || e->target_pid <= 0 || e->source == SIGAUDIT_SOURCE_PIDFD_SEND_SIGNAL)
		return;
	if (e->source == SIGAUDIT_SOURCE_TKILL)
		e->target_ns_pid = recorder_in_initial_ns() ? task->pid : recorder_ns_nr(BPF_CORE_READ(task, thread_pid));
	else
		e->target_ns_pid = e->delivered_ns_pid;
}

static __always_inline bool sender_excluded(void)
{
	__u64 comm[SIGAUDIT_COMM_LEN / sizeof(__u64)];

	if (!excluded_comm_count)
		return false;
	bpf_get_current_comm(comm, sizeof(comm));
	return comm_excluded((const char *)comm);
}

/* Whether the thread's stored send belongs to the syscall now in flight: one
 * whose exit was never seen (attached mid-call) is stale. */
static __always_inline bool pending_is_current(struct sigaudit_event *pending, __u32 source, int sig)
{
	return pending->deliveries && pending->source == source && pending->signal == sig &&
	       bpf_ktime_get_boot_ns() - pending->boot_ns <= INFLIGHT_MAX_AGE_NS;
}

/* The exit decides what becomes of the send: recorded, summarised (beyond its
 * sender's budget and reaching no task it protects), or dropped. A send that
 * reached no task is first seen here, so it spends its token here; one that
 * reached a task spent it at its first delivery. */
static __always_inline int exit_signal_syscall(struct pt_regs *regs, __u32 source, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	bool compat = in_compat_syscall(task);
	int sig = signal_arg(regs, compat, source);
	struct sigaudit_event *pending, *e, unreached;
	const struct sigaudit_event *send;

	if (!signal_wanted(sig) || sender_excluded())
		return 0;
	pending = bpf_task_storage_get(&inflight, task, NULL, 0);
	if (pending && pending_is_current(pending, source, sig)) {
		send = pending;
	} else {
		__builtin_memset(&unreached, 0, sizeof(unreached));
		fill_syscall(&unreached, task, regs, compat, source);
		unreached.boot_ns = bpf_ktime_get_boot_ns();
		if (!flood_take_token(unreached.boot_ns))
			unreached.flags |= FLOOD_OVER_BUDGET;
		send = &unreached;
	}
	e = flood_summarise(send) ? NULL : bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		flood_ring_full(send->flags & FLOOD_PROTECTED, send->source, send->signal,
				send->target_pid, ret, send->result);
	} else {
		__builtin_memcpy(e, send, sizeof(*e));
		e->flags &= ~FLOOD_PENDING_FLAGS;
		fill_sender(e, task);
		e->ret = ret;
		bpf_ringbuf_submit(e, wakeup_flag());
	}
	if (pending)
		pending->deliveries = 0;
	return 0;
}

#define SIGNAL_SYSCALL_EXIT(name, source)                                                   \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                          \
	int sys_exit_##name(struct trace_event_raw_sys_exit *ctx)                           \
	{                                                                                   \
		return exit_signal_syscall((struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf()), \
					   source, ctx->ret);                                       \
	}

SIGNAL_SYSCALL_EXIT(kill, SIGAUDIT_SOURCE_KILL)
SIGNAL_SYSCALL_EXIT(tkill, SIGAUDIT_SOURCE_TKILL)
SIGNAL_SYSCALL_EXIT(tgkill, SIGAUDIT_SOURCE_TGKILL)
SIGNAL_SYSCALL_EXIT(rt_sigqueueinfo, SIGAUDIT_SOURCE_RT_SIGQUEUEINFO)
SIGNAL_SYSCALL_EXIT(rt_tgsigqueueinfo, SIGAUDIT_SOURCE_RT_TGSIGQUEUEINFO)
SIGNAL_SYSCALL_EXIT(pidfd_send_signal, SIGAUDIT_SOURCE_PIDFD_SEND_SIGNAL)

/* The first test on every system call of the host in the raw programs: the
 * number alone, no helper call and no memory read. */
static __always_inline bool maybe_signal_syscall(long nr)
{
	switch (nr) {
	case NR_KILL:
	case NR_TKILL:
	case NR_TGKILL:
	case NR_RT_SIGQUEUEINFO:
	case NR_RT_TGSIGQUEUEINFO:
	case NR_PIDFD_SEND_SIGNAL:
		return true;
	}
	return false;
}

static __always_inline bool maybe_compat_signal_syscall(long nr)
{
#if defined(__TARGET_ARCH_x86)
	switch (nr) {
	case NR_IA32_KILL:
	case NR_IA32_TKILL:
	case NR_IA32_TGKILL:
	case NR_IA32_RT_SIGQUEUEINFO:
	case NR_IA32_RT_TGSIGQUEUEINFO:
	case NR_IA32_PIDFD_SEND_SIGNAL:
		return true;
	}
#endif
	return false;
}

/* Without tracefs: the raw tracepoint every system call of the host passes
 * does the six exits' job, compat calls included. */
SEC("tp_btf/sys_exit")
int BPF_PROG(raw_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = syscall_nr(regs);
	__u32 source;

	if (!maybe_signal_syscall(nr) && !maybe_compat_signal_syscall(nr))
		return 0;
	source = source_of(nr, bpf_get_current_task_btf());
	if (source == SIGAUDIT_SOURCE_KERNEL)
		return 0;
	return exit_signal_syscall(regs, source, ret);
}

/* --ia32: the exits of compat signal syscalls, which bypass the syscalls:
 * tracepoints; native calls leave after one compare, or two reads. */
SEC("tp_btf/sys_exit")
int BPF_PROG(ia32_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = syscall_nr(regs);
	struct task_struct *task;
	__u32 source;

	if (!maybe_compat_signal_syscall(nr))
		return 0;
	task = bpf_get_current_task_btf();
	if (!in_compat_syscall(task))
		return 0;
	source = source_of(nr, task);
	if (source == SIGAUDIT_SOURCE_KERNEL)
		return 0;
	return exit_signal_syscall(regs, source, ret);
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

#define TRACE_SIGNAL_OVERFLOW_FAIL 3
#define EAGAIN 11

/* A task reached by the signal syscall in flight on the current thread. */
static __always_inline int syscall_delivery(struct pt_regs *regs, __u32 source, bool compat,
					    struct task_struct *current, struct task_struct *task,
					    int sig, struct kernel_siginfo *info, int result)
{
	struct sigaudit_event *pending, *e;

	if (!signal_wanted(sig) || sender_excluded())
		return 0;
	if (compat && !compat_exit_traced) {
		/* No exit will come: the send is recorded here, once per task
		 * reached, with the return value a delivery implies, and each
		 * such record spends a token and is decided here. */
		bool protected = flood_protected(task, sig);
		bool over_budget = !flood_take_token(bpf_ktime_get_boot_ns());
		long implied_ret = result == TRACE_SIGNAL_OVERFLOW_FAIL ? -EAGAIN : 0;

		if (flood_budget_on() && !protected && (over_budget || !flood_ring_has_headroom()))
			e = NULL;
		else
			e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e) {
			flood_ring_full(protected, source, sig,
					source == SIGAUDIT_SOURCE_PIDFD_SEND_SIGNAL
						? pid_of_pidfd(current, syscall_arg(regs, compat, 0))
						: (int)syscall_arg(regs, compat, 0),
					implied_ret, result);
			return 0;
		}
		__builtin_memset(e, 0, sizeof(*e));
		fill_syscall(e, current, regs, compat, source);
		e->boot_ns = bpf_ktime_get_boot_ns();
		e->si_code = si_code_of(info);
		e->deliveries = 1;
		e->ret = implied_ret;
		fill_sender(e, current);
		fill_delivered(e, task, result);
		name_target_by_delivery(e, task);
		bpf_ringbuf_submit(e, wakeup_flag());
		return 0;
	}
	pending = bpf_task_storage_get(&inflight, current, NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!pending) {
		count(SIGAUDIT_COUNTER_INFLIGHT_DROPS);
		return 0;
	}
	if (!pending_is_current(pending, source, sig)) {
		/* The first task reached: it waits for the exit. */
		__builtin_memset(pending, 0, sizeof(*pending));
		fill_syscall(pending, current, regs, compat, source);
		pending->boot_ns = bpf_ktime_get_boot_ns();
		pending->si_code = si_code_of(info);
		pending->deliveries = 1;
		/* The send is first seen here: it spends its token now, once. */
		if (!flood_take_token(pending->boot_ns))
			pending->flags |= FLOOD_OVER_BUDGET;
		flood_on_delivery(pending, task, sig);
		fill_delivered(pending, task, result);
		name_target_by_delivery(pending, task);
		return 0;
	}
	pending->deliveries++;
	/* A fan-out of a send beyond budget is kept only where it is protected. */
	if (flood_on_delivery(pending, task, sig))
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

SEC("tp_btf/signal_generate")
int BPF_PROG(signal_generate, int sig, struct kernel_siginfo *info, struct task_struct *task,
	     int group, int result)
{
	struct task_struct *current = bpf_get_current_task_btf();
	bool in_interrupt = in_interrupt_context();
	struct pt_regs *regs = NULL;
	struct sigaudit_event *e;

	if (!in_interrupt) {
		/* Interrupts and exceptions save -1 as the syscall number, and
		 * kernel threads 0, so a signal syscall's number here means
		 * one is in flight on this thread. */
		__u32 source;
		bool compat;

		regs = (struct pt_regs *)bpf_task_pt_regs(current);
		source = source_of(syscall_nr(regs), current);
		compat = in_compat_syscall(current);
		if (source != SIGAUDIT_SOURCE_KERNEL && signal_arg(regs, compat, source) == sig)
			return syscall_delivery(regs, source, compat, current, task, sig, info, result);
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
	if (!regs) {
		e->flags |= SIGAUDIT_FLAG_IN_INTERRUPT;
	} else {
		fill_sender(e, current);
		if (comm_excluded(e->sender_comm)) {
			bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
			return 0;
		}
		if (is_write(syscall_nr(regs), current))
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
