/* SPDX-License-Identifier: MIT */
/*
 * sigaudit_tally(v1, ..., vN): an aggregate that counts rows per distinct
 * tuple of integers (or NULLs) in a hash table, and sigaudit_tallied(t),
 * a table-valued function that yields its groups as rows (v0 ... v7,
 * count; NULL past N). A GROUP BY sorts every row before it counts:
 * top-senders over a storm's million rows of a few senders spent most of
 * its time in that sort, where the counts are a handful of tuples. The
 * tally passes between the two as a BLOB of struct tally_slot, read only
 * by sigaudit_tallied.
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

#include <stdint.h>
#include <string.h>

#include "extension.h"

#define TALLY_MAX_VALUES 8

struct tally_slot {
	sqlite3_int64 values[TALLY_MAX_VALUES];
	/* Bit i: value i is NULL. */
	unsigned nulls;
	sqlite3_int64 count; /* 0: the slot is free */
};

/* The aggregate's context: zeroed by SQLite on the first row. */
struct tally {
	int width;
	sqlite3_int64 capacity; /* a power of two */
	sqlite3_int64 used;
	struct tally_slot *slots;
};

static uint64_t hash_of(const struct tally_slot *key, int width)
{
	uint64_t hash = 0x9e3779b97f4a7c15ull ^ key->nulls;
	for (int i = 0; i < width; i++) {
		hash ^= (uint64_t)key->values[i];
		hash *= 0xff51afd7ed558ccdull;
		hash ^= hash >> 33;
	}
	return hash;
}

static int same_key(const struct tally_slot *a, const struct tally_slot *b, int width)
{
	return a->nulls == b->nulls && memcmp(a->values, b->values, (size_t)width * sizeof(a->values[0])) == 0;
}

/* The slot for `key`: its own, or the free one where it goes. */
static struct tally_slot *find(struct tally *tally, const struct tally_slot *key)
{
	sqlite3_int64 mask = tally->capacity - 1;
	for (sqlite3_int64 at = (sqlite3_int64)(hash_of(key, tally->width) & (uint64_t)mask);; at = (at + 1) & mask) {
		struct tally_slot *slot = &tally->slots[at];
		if (slot->count == 0 || same_key(slot, key, tally->width))
			return slot;
	}
}

/* Doubles the table (or makes the first one); kept at most half full, so a probe ends soon. */
static int grow(struct tally *tally)
{
	sqlite3_int64 capacity = tally->capacity == 0 ? 64 : tally->capacity * 2;
	struct tally_slot *slots = sqlite3_malloc64((sqlite3_uint64)capacity * sizeof(*slots));
	if (!slots)
		return SQLITE_NOMEM;
	memset(slots, 0, (size_t)capacity * sizeof(*slots));
	struct tally_slot *old = tally->slots;
	sqlite3_int64 old_capacity = tally->capacity;
	tally->slots = slots;
	tally->capacity = capacity;
	for (sqlite3_int64 i = 0; i < old_capacity; i++) {
		if (old[i].count != 0)
			*find(tally, &old[i]) = old[i];
	}
	sqlite3_free(old);
	return SQLITE_OK;
}

static void tally_step(sqlite3_context *context, int argc, sqlite3_value **argv)
{
	struct tally *tally = sqlite3_aggregate_context(context, sizeof(*tally));
	if (!tally) {
		sqlite3_result_error_nomem(context);
		return;
	}
	struct tally_slot key;
	memset(&key, 0, sizeof(key));
	for (int i = 0; i < argc; i++) {
		int type = sqlite3_value_type(argv[i]);
		if (type == SQLITE_NULL)
			key.nulls |= 1u << i;
		else if (type == SQLITE_INTEGER)
			key.values[i] = sqlite3_value_int64(argv[i]);
		else {
			sqlite3_result_error(context, "sigaudit_tally counts integers and NULLs only", -1);
			return;
		}
	}
	tally->width = argc;
	if ((tally->used + 1) * 2 > tally->capacity && grow(tally) != SQLITE_OK) {
		sqlite3_result_error_nomem(context);
		return;
	}
	struct tally_slot *slot = find(tally, &key);
	if (slot->count == 0) {
		*slot = key;
		tally->used++;
	}
	slot->count++;
}

static void tally_final(sqlite3_context *context)
{
	struct tally *tally = sqlite3_aggregate_context(context, 0);
	if (!tally || tally->used == 0) {
		sqlite3_result_zeroblob(context, 0);
		return;
	}
	struct tally_slot *groups = sqlite3_malloc64((sqlite3_uint64)tally->used * sizeof(*groups));
	if (!groups) {
		sqlite3_free(tally->slots);
		sqlite3_result_error_nomem(context);
		return;
	}
	sqlite3_int64 count = 0;
	for (sqlite3_int64 i = 0; i < tally->capacity; i++) {
		if (tally->slots[i].count != 0) {
			groups[count] = tally->slots[i];
			/* Values past the tuple's width read as NULL. */
			groups[count].nulls |= ~0u << tally->width;
			count++;
		}
	}
	sqlite3_free(tally->slots);
	sqlite3_result_blob64(context, groups, (sqlite3_uint64)count * sizeof(*groups), sqlite3_free);
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
	int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(v0, v1, v2, v3, v4, v5, v6, v7, count, tally HIDDEN)");
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
	if (argc < 1 || sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return SQLITE_OK;
	int bytes = sqlite3_value_bytes(argv[0]);
	if (sqlite3_value_type(argv[0]) != SQLITE_BLOB || bytes % (int)sizeof(struct tally_slot) != 0) {
		sqlite3_free(base->pVtab->zErrMsg);
		base->pVtab->zErrMsg = sqlite3_mprintf("sigaudit_tallied reads what sigaudit_tally returns");
		return SQLITE_ERROR;
	}
	if (bytes == 0)
		return SQLITE_OK;
	cursor->groups = sqlite3_malloc(bytes);
	if (!cursor->groups)
		return SQLITE_NOMEM;
	memcpy(cursor->groups, sqlite3_value_blob(argv[0]), (size_t)bytes);
	cursor->count = bytes / (int)sizeof(struct tally_slot);
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
	for (int values = 1; values <= TALLY_MAX_VALUES; values++) {
		int rc = sqlite3_create_function(db, "sigaudit_tally", values, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL, NULL,
						 tally_step, tally_final);
		if (rc != SQLITE_OK)
			return rc;
	}
	return sqlite3_create_module(db, "sigaudit_tallied", &tallied_module, NULL);
}
