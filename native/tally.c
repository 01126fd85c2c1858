/* SPDX-License-Identifier: MIT */
/*
 * sigaudit_tally(v1, ..., vN): an aggregate that counts rows per distinct
 * tuple of integers (or NULLs) in a hash table (sigaudit_tally_weighted(w,
 * v1, ..., vN) adds w instead of 1), and sigaudit_tallied(t), a
 * table-valued function that yields its groups as rows (v0 ... v3, count;
 * NULL past N). A GROUP BY sorts every row before it counts: top-senders
 * over a storm's million rows of a few senders spent most of its time in
 * that sort, where the counts are a handful of tuples.
 * sigaudit_tally_merge(t) sums tallies, one per table: one tally over a
 * UNION ALL of the tables' rows passes each row through a co-routine, half
 * again the cost of counting it. sigaudit_tally_top(t, width, limit) keeps
 * the groups of the `limit` largest tuples of their first `width` values:
 * an hour of short-lived senders is tens of thousands of groups, and
 * ranking them in SQL cost three times what counting them did. The tally
 * passes between them as a BLOB of struct tally_slot, read only by this
 * file.
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

#include <stdint.h>
#include <string.h>

#include "extension.h"

/* The widest tuple top-senders tallies is three (pid, comm, minute): each value more is 8 bytes a group, and the groups' bytes are what a tally's time goes to. */
#define TALLY_MAX_VALUES 4

struct tally_slot {
	sqlite3_int64 values[TALLY_MAX_VALUES];
	/* Bit i: value i is NULL. */
	unsigned nulls;
	sqlite3_int64 count; /* the weights summed */
};

/* The aggregate's context: zeroed by SQLite on the first row. */
struct tally {
	int width;
	/* The groups in the order first seen: handed on as they are, as the tally BLOB. */
	struct tally_slot *groups;
	sqlite3_int64 used, room;
	/*
	 * Where each group is: 1 + its position in groups, 0 for none. A power
	 * of two, at most half full so that a probe ends soon; small beside
	 * the groups, so that a probe seldom leaves the cache.
	 */
	uint32_t *index;
	sqlite3_int64 capacity;
	/* 1 + the position of the group added to last, 0 for none: a storm's rows come a sender at a time. */
	sqlite3_int64 last;
};

static inline uint64_t hash_of(const struct tally_slot *key, int width)
{
	uint64_t hash = 0x9e3779b97f4a7c15ull ^ key->nulls;
	for (int i = 0; i < width; i++) {
		hash ^= (uint64_t)key->values[i];
		hash *= 0xff51afd7ed558ccdull;
		hash ^= hash >> 33;
	}
	return hash;
}

static inline int same_key(const struct tally_slot *a, const struct tally_slot *b, int width)
{
	if (a->nulls != b->nulls)
		return 0;
	for (int i = 0; i < width; i++)
		if (a->values[i] != b->values[i])
			return 0;
	return 1;
}

/* The index entry for `key`: its group's, or the free one where it goes. */
static inline uint32_t *find(const struct tally *tally, const struct tally_slot *key)
{
	uint64_t mask = (uint64_t)tally->capacity - 1;
	for (uint64_t at = hash_of(key, tally->width) & mask;; at = (at + 1) & mask) {
		uint32_t *entry = &tally->index[at];
		if (*entry == 0 || same_key(&tally->groups[*entry - 1], key, tally->width))
			return entry;
	}
}

static int holds(const struct tally *tally, const struct tally_slot *key)
{
	return tally->used != 0 && *find(tally, key) != 0;
}

/* Doubles the index (or makes the first one). */
static int grow_index(struct tally *tally)
{
	sqlite3_int64 capacity = tally->capacity == 0 ? 64 : tally->capacity * 2;
	uint32_t *index = sqlite3_malloc64((sqlite3_uint64)capacity * sizeof(*index));
	if (!index)
		return SQLITE_NOMEM;
	memset(index, 0, (size_t)capacity * sizeof(*index));
	sqlite3_free(tally->index);
	tally->index = index;
	tally->capacity = capacity;
	for (sqlite3_int64 i = 0; i < tally->used; i++)
		*find(tally, &tally->groups[i]) = (uint32_t)(i + 1);
	return SQLITE_OK;
}

/* Adds `weight` to the group of `key`, which `tally` holds from then on. */
static inline int add(struct tally *tally, const struct tally_slot *key, sqlite3_int64 weight)
{
	if (tally->last != 0 && same_key(&tally->groups[tally->last - 1], key, tally->width)) {
		tally->groups[tally->last - 1].count += weight;
		return SQLITE_OK;
	}
	if ((tally->used + 1) * 2 > tally->capacity && (tally->used >= UINT32_MAX || grow_index(tally) != SQLITE_OK))
		return SQLITE_NOMEM;
	uint32_t *entry = find(tally, key);
	if (*entry == 0) {
		if (tally->used == tally->room) {
			sqlite3_int64 room = tally->room == 0 ? 64 : tally->room * 2;
			struct tally_slot *groups = sqlite3_realloc64(tally->groups, (sqlite3_uint64)room * sizeof(*groups));
			if (!groups)
				return SQLITE_NOMEM;
			tally->groups = groups;
			tally->room = room;
		}
		struct tally_slot *group = &tally->groups[tally->used];
		memset(group, 0, sizeof(*group));
		memcpy(group->values, key->values, (size_t)tally->width * sizeof(key->values[0]));
		group->nulls = key->nulls;
		*entry = (uint32_t)++tally->used;
	}
	tally->groups[*entry - 1].count += weight;
	tally->last = *entry;
	return SQLITE_OK;
}

static void release(struct tally *tally)
{
	sqlite3_free(tally->groups);
	sqlite3_free(tally->index);
}

/* sigaudit_tally's step, and sigaudit_tally_weighted's (its user data not NULL: the weight comes first). */
static void tally_step(sqlite3_context *context, int argc, sqlite3_value **argv)
{
	struct tally *tally = sqlite3_aggregate_context(context, sizeof(*tally));
	if (!tally) {
		sqlite3_result_error_nomem(context);
		return;
	}
	int first = 0;
	sqlite3_int64 weight = 1;
	if (sqlite3_user_data(context)) {
		if (sqlite3_value_type(argv[0]) != SQLITE_INTEGER || (weight = sqlite3_value_int64(argv[0])) < 1) {
			sqlite3_result_error(context, "sigaudit_tally_weighted's weight is a count of 1 or more", -1);
			return;
		}
		first = 1;
	}
	struct tally_slot key;
	memset(&key, 0, sizeof(key));
	for (int i = first; i < argc; i++) {
		int type = sqlite3_value_type(argv[i]);
		if (type == SQLITE_NULL)
			key.nulls |= 1u << (i - first);
		else if (type == SQLITE_INTEGER)
			key.values[i - first] = sqlite3_value_int64(argv[i]);
		else {
			sqlite3_result_error(context, "sigaudit_tally counts integers and NULLs only", -1);
			return;
		}
	}
	tally->width = argc - first;
	if (add(tally, &key, weight) != SQLITE_OK)
		sqlite3_result_error_nomem(context);
}

/* Hands SQLite the groups `tally` holds as a tally BLOB, values past its width NULL, and frees the rest. */
static void result_groups(sqlite3_context *context, struct tally *tally)
{
	sqlite3_free(tally->index);
	if (tally->used == 0) {
		sqlite3_free(tally->groups);
		sqlite3_result_zeroblob(context, 0);
		return;
	}
	for (sqlite3_int64 i = 0; i < tally->used; i++)
		tally->groups[i].nulls |= ~0u << tally->width;
	sqlite3_result_blob64(context, tally->groups, (sqlite3_uint64)tally->used * sizeof(*tally->groups), sqlite3_free);
}

static void tally_final(sqlite3_context *context)
{
	struct tally *tally = sqlite3_aggregate_context(context, 0);
	if (!tally) {
		sqlite3_result_zeroblob(context, 0);
		return;
	}
	result_groups(context, tally);
}

/* The groups of a tally BLOB, or NULL with `*count` 0 for an empty one; -1 in `*count` for what is not a tally. */
static const struct tally_slot *groups_of(sqlite3_value *value, sqlite3_int64 *count)
{
	*count = 0;
	if (sqlite3_value_type(value) == SQLITE_NULL)
		return NULL;
	int bytes = sqlite3_value_bytes(value);
	if (sqlite3_value_type(value) != SQLITE_BLOB || bytes % (int)sizeof(struct tally_slot) != 0) {
		*count = -1;
		return NULL;
	}
	*count = bytes / (int)sizeof(struct tally_slot);
	return bytes == 0 ? NULL : sqlite3_value_blob(value);
}

/* Adds a tally's groups to the merged one: every value compared, a narrower tally's past its width all NULL. */
static void merge_step(sqlite3_context *context, int argc, sqlite3_value **argv)
{
	(void)argc;
	struct tally *tally = sqlite3_aggregate_context(context, sizeof(*tally));
	if (!tally) {
		sqlite3_result_error_nomem(context);
		return;
	}
	sqlite3_int64 count;
	const struct tally_slot *groups = groups_of(argv[0], &count);
	if (count < 0) {
		sqlite3_result_error(context, "sigaudit_tally_merge sums what sigaudit_tally returns", -1);
		return;
	}
	tally->width = TALLY_MAX_VALUES;
	for (sqlite3_int64 i = 0; i < count; i++) {
		if (add(tally, &groups[i], groups[i].count) != SQLITE_OK) {
			sqlite3_result_error_nomem(context);
			return;
		}
	}
}

/* The first `width` values of `group`: the key it is ranked by. */
static void prefix_of(const struct tally_slot *group, int width, struct tally_slot *prefix)
{
	memset(prefix, 0, sizeof(*prefix));
	memcpy(prefix->values, group->values, (size_t)width * sizeof(group->values[0]));
	prefix->nulls = group->nulls & ~(~0u << width);
}

/* Largest count first; ties by the values in SQL's ascending order, NULL first (past a key's width, all are 0 and not NULL). */
static int rank_order(const void *left, const void *right)
{
	const struct tally_slot *a = *(const struct tally_slot *const *)left, *b = *(const struct tally_slot *const *)right;
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	for (int i = 0; i < TALLY_MAX_VALUES; i++) {
		unsigned a_null = a->nulls & (1u << i), b_null = b->nulls & (1u << i);
		if (a_null != b_null)
			return a_null ? -1 : 1;
		if (!a_null && a->values[i] != b->values[i])
			return a->values[i] < b->values[i] ? -1 : 1;
	}
	return 0;
}

/* Moves the heap's entry at `at` down to its place: each entry ranks at or after its children, the last-ranked at the root. */
static void sift_down(const struct tally_slot **heap, sqlite3_int64 size, sqlite3_int64 at)
{
	for (;;) {
		sqlite3_int64 later = at, left = 2 * at + 1, right = left + 1;
		if (left < size && rank_order(&heap[left], &heap[later]) > 0)
			later = left;
		if (right < size && rank_order(&heap[right], &heap[later]) > 0)
			later = right;
		if (later == at)
			return;
		const struct tally_slot *moved = heap[at];
		heap[at] = heap[later];
		heap[later] = moved;
		at = later;
	}
}

/* The `limit` first-ranked tuples of `sums` into `chosen`: a heap of them, replaced at its root by each that ranks before it. */
static int choose(const struct tally *sums, sqlite3_int64 limit, struct tally *chosen)
{
	const struct tally_slot **heap = sqlite3_malloc64((sqlite3_uint64)limit * sizeof(*heap));
	if (!heap)
		return SQLITE_NOMEM;
	sqlite3_int64 size = 0;
	for (sqlite3_int64 i = 0; i < sums->used; i++) {
		const struct tally_slot *sum = &sums->groups[i];
		if (size < limit) {
			heap[size++] = sum;
			if (size == limit)
				for (sqlite3_int64 at = limit / 2; at-- > 0;)
					sift_down(heap, size, at);
		} else if (rank_order(&sum, &heap[0]) < 0) {
			heap[0] = sum;
			sift_down(heap, size, 0);
		}
	}
	int rc = SQLITE_OK;
	for (sqlite3_int64 i = 0; i < size && rc == SQLITE_OK; i++)
		rc = add(chosen, heap[i], heap[i]->count);
	sqlite3_free(heap);
	return rc;
}

static void tally_top(sqlite3_context *context, int argc, sqlite3_value **argv)
{
	(void)argc;
	sqlite3_int64 count;
	const struct tally_slot *groups = groups_of(argv[0], &count);
	sqlite3_int64 width = sqlite3_value_int64(argv[1]), limit = sqlite3_value_int64(argv[2]);
	if (count < 0 || width < 1 || width > TALLY_MAX_VALUES || limit < 0) {
		sqlite3_result_error(context, "sigaudit_tally_top takes a tally, a width of 1 to 4 values and a limit of 0 or more", -1);
		return;
	}
	struct tally sums = { .width = (int)width }, chosen = { .width = (int)width };
	struct tally_slot prefix;
	int rc = SQLITE_OK;
	for (sqlite3_int64 i = 0; i < count && rc == SQLITE_OK; i++) {
		prefix_of(&groups[i], sums.width, &prefix);
		rc = add(&sums, &prefix, groups[i].count);
	}
	if (rc != SQLITE_OK) {
		release(&sums);
		sqlite3_result_error_nomem(context);
		return;
	}
	if (sums.used <= limit) {
		release(&sums);
		sqlite3_result_value(context, argv[0]);
		return;
	}
	if (limit > 0)
		rc = choose(&sums, limit, &chosen);
	release(&sums);
	struct tally_slot *kept = rc != SQLITE_OK || chosen.used == 0 ? NULL : sqlite3_malloc64((sqlite3_uint64)count * sizeof(*kept));
	if (rc != SQLITE_OK || (chosen.used != 0 && !kept)) {
		release(&chosen);
		sqlite3_result_error_nomem(context);
		return;
	}
	sqlite3_int64 kept_count = 0;
	for (sqlite3_int64 i = 0; i < count && chosen.used != 0; i++) {
		prefix_of(&groups[i], chosen.width, &prefix);
		if (holds(&chosen, &prefix))
			kept[kept_count++] = groups[i];
	}
	release(&chosen);
	if (kept_count == 0) {
		sqlite3_free(kept);
		sqlite3_result_zeroblob(context, 0);
	} else
		sqlite3_result_blob64(context, kept, (sqlite3_uint64)kept_count * sizeof(*kept), sqlite3_free);
}

enum tallied_column {
	TALLIED_COUNT = TALLY_MAX_VALUES,
	TALLIED_TALLY,
};

struct tallied_cursor {
	sqlite3_vtab_cursor base;
	struct tally_slot *groups;
	sqlite3_int64 count;
	sqlite3_int64 at;
};

static int tallied_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **vtab, char **error)
{
	(void)aux;
	(void)argc;
	(void)argv;
	(void)error;
	int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(v0, v1, v2, v3, count, tally HIDDEN)");
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_vtab *table = sqlite3_malloc(sizeof(*table));
	if (!table)
		return SQLITE_NOMEM;
	memset(table, 0, sizeof(*table));
	*vtab = table;
	sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
	return SQLITE_OK;
}

static int tallied_disconnect(sqlite3_vtab *vtab)
{
	sqlite3_free(vtab);
	return SQLITE_OK;
}

/* The tally is required, as an equality constraint. */
static int tallied_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info)
{
	for (int i = 0; i < info->nConstraint; i++) {
		const struct sqlite3_index_constraint *constraint = &info->aConstraint[i];
		if (constraint->iColumn != TALLIED_TALLY)
			continue;
		if (!constraint->usable || constraint->op != SQLITE_INDEX_CONSTRAINT_EQ)
			return SQLITE_CONSTRAINT;
		info->aConstraintUsage[i].argvIndex = 1;
		info->aConstraintUsage[i].omit = 1;
		info->estimatedCost = 1;
		return SQLITE_OK;
	}
	sqlite3_free(vtab->zErrMsg);
	vtab->zErrMsg = sqlite3_mprintf("sigaudit_tallied needs a tally (sigaudit_tally's result)");
	return SQLITE_ERROR;
}

static int tallied_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **cursor)
{
	(void)vtab;
	struct tallied_cursor *opened = sqlite3_malloc(sizeof(*opened));
	if (!opened)
		return SQLITE_NOMEM;
	memset(opened, 0, sizeof(*opened));
	*cursor = &opened->base;
	return SQLITE_OK;
}

static int tallied_close(sqlite3_vtab_cursor *base)
{
	struct tallied_cursor *cursor = (struct tallied_cursor *)base;
	sqlite3_free(cursor->groups);
	sqlite3_free(cursor);
	return SQLITE_OK;
}

/* Copies the tally: the BLOB is SQLite's only until the next call. */
static int tallied_filter(sqlite3_vtab_cursor *base, int idx_num, const char *idx_str, int argc, sqlite3_value **argv)
{
	(void)idx_num;
	(void)idx_str;
	struct tallied_cursor *cursor = (struct tallied_cursor *)base;
	sqlite3_free(cursor->groups);
	cursor->groups = NULL;
	cursor->count = cursor->at = 0;
	if (argc < 1)
		return SQLITE_OK;
	sqlite3_int64 count;
	const struct tally_slot *groups = groups_of(argv[0], &count);
	if (count < 0) {
		sqlite3_free(base->pVtab->zErrMsg);
		base->pVtab->zErrMsg = sqlite3_mprintf("sigaudit_tallied reads what sigaudit_tally returns");
		return SQLITE_ERROR;
	}
	if (count == 0)
		return SQLITE_OK;
	cursor->groups = sqlite3_malloc64((sqlite3_uint64)count * sizeof(*groups));
	if (!cursor->groups)
		return SQLITE_NOMEM;
	memcpy(cursor->groups, groups, (size_t)count * sizeof(*groups));
	cursor->count = count;
	return SQLITE_OK;
}

static int tallied_next(sqlite3_vtab_cursor *base)
{
	((struct tallied_cursor *)base)->at++;
	return SQLITE_OK;
}

static int tallied_eof(sqlite3_vtab_cursor *base)
{
	struct tallied_cursor *cursor = (struct tallied_cursor *)base;
	return cursor->at >= cursor->count;
}

static int tallied_column(sqlite3_vtab_cursor *base, sqlite3_context *context, int column)
{
	struct tallied_cursor *cursor = (struct tallied_cursor *)base;
	const struct tally_slot *group = &cursor->groups[cursor->at];
	if (column == TALLIED_COUNT)
		sqlite3_result_int64(context, group->count);
	else if (column < TALLY_MAX_VALUES && !(group->nulls & (1u << column)))
		sqlite3_result_int64(context, group->values[column]);
	return SQLITE_OK;
}

static int tallied_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid)
{
	*rowid = ((struct tallied_cursor *)base)->at;
	return SQLITE_OK;
}

static sqlite3_module tallied_module = {
	.iVersion = 0,
	.xConnect = tallied_connect,
	.xBestIndex = tallied_best_index,
	.xDisconnect = tallied_disconnect,
	.xOpen = tallied_open,
	.xClose = tallied_close,
	.xFilter = tallied_filter,
	.xNext = tallied_next,
	.xEof = tallied_eof,
	.xColumn = tallied_column,
	.xRowid = tallied_rowid,
};

int register_tally(sqlite3 *db)
{
	static int weighted = 1;
	int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
	for (int values = 1; values <= TALLY_MAX_VALUES; values++) {
		int rc = sqlite3_create_function(db, "sigaudit_tally", values, flags, NULL, NULL, tally_step, tally_final);
		if (rc == SQLITE_OK)
			rc = sqlite3_create_function(db, "sigaudit_tally_weighted", 1 + values, flags, &weighted, NULL, tally_step, tally_final);
		if (rc != SQLITE_OK)
			return rc;
	}
	int rc = sqlite3_create_function(db, "sigaudit_tally_merge", 1, flags, NULL, NULL, merge_step, tally_final);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(db, "sigaudit_tally_top", 3, flags, NULL, tally_top, NULL, NULL);
	if (rc != SQLITE_OK)
		return rc;
	return sqlite3_create_module(db, "sigaudit_tallied", &tallied_module, NULL);
}
