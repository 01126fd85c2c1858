/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Flood resistance, included by sigaudit.bpf.c after its maps and counters.
 *
 * Each uid (each process, for root) has a budget of detailed records (a
 * token bucket, kept as the time its next token is due). A send beyond it, or one that finds less
 * than half the ring buffer free, is counted in a summary map instead of
 * recorded, unless it is protected: it reached a task of another uid, or
 * it is fatal to a task it reached. Protected sends always try the ring
 * buffer, and one that still finds it full is counted in the summary map
 * as dropped, under its sender's name. So one user's flood costs only that
 * user's detail, and every send is recorded, summarised or dropped.
 *
 * The summary maps are swapped by the addon (native/probe.cc): each slot
 * of `summaries` holds one of two identical hash maps; replacing it waits
 * for running programs (a map-in-map update calls synchronize_rcu), after
 * which the old map is quiet and can be read and emptied exactly.
 */
#ifndef SIGAUDIT_FLOOD_H
#define SIGAUDIT_FLOOD_H

/* Set from TypeScript: 0 turns budgets (and summaries) off. burst_ns is
 * the burst in sends times interval_ns. */
const volatile __u64 flood_interval_ns = 0;
const volatile __u64 flood_burst_ns = 0;

/* Flags kept only on a send in flight, never emitted. */
#define FLOOD_OVER_BUDGET (1U << 30)
#define FLOOD_PROTECTED (1U << 31)
#define FLOOD_PENDING_FLAGS (FLOOD_OVER_BUDGET | FLOOD_PROTECTED)

/* Distinct (sender, signal, target, result) keys per swap interval, in
 * each of the two maps: a flood at ever new targets fills the first within
 * the second and goes on in the coarse one, and every key is a record the
 * recorder decodes, so a few thousand are enough. */
#define FLOOD_SUMMARY_ENTRIES 4096

/* Per budget (flood_budget_of): when the next token is due
 * (CLOCK_BOOTTIME); LRU, so many uids cannot fill it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, __u64);
} flood_budgets SEC(".maps");

struct summary_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FLOOD_SUMMARY_ENTRIES);
	__type(key, struct sigaudit_summary_key);
	__type(value, struct sigaudit_summary_value);
};

/* The two slots of `summaries`: full keys, and the coarse keys they fall
 * back to when the first map is full (a map of their own, so that a flood
 * of distinct targets cannot take their room). */
#define FLOOD_SLOT_FULL 0
#define FLOOD_SLOT_COARSE 1

/* Each slot's map in use, and its spare (native/probe.cc swaps them). */
struct summary_map summaries_a SEC(".maps");
struct summary_map summaries_b SEC(".maps");
struct summary_map coarse_summaries_a SEC(".maps");
struct summary_map coarse_summaries_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct summary_map);
} summaries SEC(".maps") = {
	.values = { [FLOOD_SLOT_FULL] = &summaries_a, [FLOOD_SLOT_COARSE] = &coarse_summaries_a },
};

static __always_inline bool flood_budget_on(void)
{
	return flood_interval_ns != 0;
}

/* Whose budget the current task spends: its uid's, as a user could fork
 * around a budget per process; but root's processes each have their own,
 * since root can stop the recorder anyway and one busy root daemon should
 * not cost every other root process its detail. */
static __always_inline __u64 flood_budget_of(void)
{
	__u32 uid = (__u32)bpf_get_current_uid_gid();

	return uid != 0 ? uid : bpf_get_current_pid_tgid() & 0xffffffff00000000ULL;
}

/* Takes one token from the current task's bucket; false when it is empty.
 * Two CPUs racing may both take the same token: the budget is approximate,
 * the accounting of what happens to each send is not. */
static __always_inline bool flood_take_token(__u64 now)
{
	__u64 budget, *due, next;

	if (!flood_budget_on())
		return true;
	budget = flood_budget_of();
	due = bpf_map_lookup_elem(&flood_budgets, &budget);
	if (!due) {
		next = now + flood_interval_ns;
		bpf_map_update_elem(&flood_budgets, &budget, &next, BPF_ANY);
		return true;
	}
	next = *due > now ? *due : now;
	if (next - now > flood_burst_ns)
		return false;
	*due = next + flood_interval_ns;
	return true;
}

/* Whether the signal reaching task must not be summarised: the task
 * belongs to another uid (real or effective, against the sender's real
 * uid), or the signal kills it, as sig_fatal() in kernel/signal.c decides
 * (not ignored or stopping by default, and its handler is SIG_DFL). */
static __always_inline bool flood_protected(struct task_struct *task, int sig)
{
	const struct cred *cred = task->real_cred;
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	/* SIGCHLD, SIGCONT, SIGURG, SIGWINCH; SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU */
	const __u64 ignored_or_stop = (1ULL << 16) | (1ULL << 17) | (1ULL << 22) | (1ULL << 27) |
				      (1ULL << 18) | (1ULL << 19) | (1ULL << 20) | (1ULL << 21);

	if (cred->uid.val != uid || cred->euid.val != uid)
		return true;
	if (sig <= 0 || sig > 64)
		return false;
	if (sig <= 32 && (ignored_or_stop & (1ULL << (sig - 1))))
		return false;
	/* Read through a plain address: the verifier allows no variable
	 * offset into a typed pointer. */
	unsigned long action = (unsigned long)task->sighand +
			       bpf_core_field_offset(struct sighand_struct, action) +
			       (sig - 1) * bpf_core_type_size(struct k_sigaction);
	void *handler = (void *)1;

	bpf_probe_read_kernel(&handler, sizeof(handler),
			      (void *)(action + bpf_core_field_offset(struct k_sigaction, sa.sa_handler)));
	return handler == (void *)0; /* SIG_DFL */
}

/* Whether there is room for detail that is not protected: while half the
 * ring buffer is free, so protected records still find room in a flood. */
static __always_inline bool flood_ring_has_headroom(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) * 2 <
	       bpf_ringbuf_query(&events, BPF_RB_RING_SIZE);
}

/* A send in flight goes to the summary map instead of the ring buffer. */
static __always_inline bool flood_summarise(const struct sigaudit_event *pending)
{
	if (!flood_budget_on() || (pending->flags & FLOOD_PROTECTED))
		return false;
	return (pending->flags & FLOOD_OVER_BUDGET) || !flood_ring_has_headroom();
}

static __always_inline int flood_add(void *map, const struct sigaudit_summary_key *key, __u64 now)
{
	struct sigaudit_summary_value *value = bpf_map_lookup_elem(map, key), fresh = {};

	if (value) {
		__sync_fetch_and_add(&value->count, 1);
		value->last_ns = now;
		return 0;
	}
	fresh.count = 1;
	fresh.first_ns = fresh.last_ns = now;
	bpf_get_current_comm(fresh.sender_comm, sizeof(fresh.sender_comm));
	return bpf_map_update_elem(map, key, &fresh, BPF_NOEXIST);
}

/* Inserts into slot's map, or counts in what another CPU inserted first. */
static __always_inline int flood_add_once(__u32 slot, const struct sigaudit_summary_key *key, __u64 now)
{
	void *map = bpf_map_lookup_elem(&summaries, &slot);
	int err;

	if (!map)
		return -2; /* ENOENT: not possible once loaded */
	err = flood_add(map, key, now);

	if (err == -17 /* EEXIST */)
		err = flood_add(map, key, now);
	return err;
}

/* Counts one send of the current task in the summary map: by its full key,
 * or, if the map is full, by a coarse one; failing that, as a drop. */
static __always_inline void flood_count(__u32 source, int sig, int target_pid, long ret,
					int result, __u32 flags)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct sigaudit_summary_key key = {
		.sender_uid = (__u32)bpf_get_current_uid_gid(),
		.sender_pid = pid_tgid >> 32,
		.source = source,
		.signal = sig,
		.target_pid = target_pid,
		.ret = ret,
		.result = result,
		.flags = flags,
	};
	__u64 now = bpf_ktime_get_boot_ns();

	if (flood_add_once(FLOOD_SLOT_FULL, &key, now) == 0)
		return;
	key.target_pid = 0;
	key.ret = 0;
	key.result = 0;
	key.flags |= SIGAUDIT_FLAG_SUMMARY_COARSE;
	if (flood_add_once(FLOOD_SLOT_COARSE, &key, now) != 0)
		count(SIGAUDIT_COUNTER_SUMMARY_DROPS);
}

/* A send in flight reached task: marks it protected if that delivery is.
 * Returns whether the delivery's own record may be left out (its send is
 * beyond budget and this delivery is not protected). */
static __always_inline bool flood_on_delivery(struct sigaudit_event *pending,
					      struct task_struct *task, int sig)
{
	if (!flood_budget_on())
		return false;
	if (flood_protected(task, sig)) {
		pending->flags |= FLOOD_PROTECTED;
		return false;
	}
	return pending->flags & FLOOD_OVER_BUDGET;
}

/* No room in the ring buffer for a record of the current task's signal:
 * summarised if it may be, else a drop, counted under the sender's name. */
static __always_inline void flood_ring_full(bool protected, __u32 source, int sig, int target_pid,
					    long ret, int result)
{
	if (flood_budget_on() && !protected) {
		flood_count(source, sig, target_pid, ret, result, 0);
		return;
	}
	count(SIGAUDIT_COUNTER_RINGBUF_DROPS);
	if (flood_budget_on())
		flood_count(source, sig, target_pid, ret, result, SIGAUDIT_FLAG_SUMMARY_DROPPED);
}

/* A signal the kernel generates in the current task's context (a write to
 * a broken pipe, a fault): summarised beyond the task's uid's budget like
 * a send, so a loop of them cannot flood either. */
static __always_inline bool flood_summarise_kernel(struct task_struct *task, int sig, int result)
{
	if (!flood_budget_on() || flood_protected(task, sig))
		return false;
	if (flood_take_token(bpf_ktime_get_boot_ns()) &&
	    flood_ring_has_headroom())
		return false;
	flood_count(SIGAUDIT_SOURCE_KERNEL, sig, task->tgid, 0, result, 0);
	return true;
}

#endif /* SIGAUDIT_FLOOD_H */
