/* SPDX-License-Identifier: MIT */
/*
 * sigaudit_tally(v1, ..., vN): an aggregate that counts rows per distinct
 * tuple of integers (or NULLs) in a hash table and returns the counts as
 * JSON, [[v1, ..., vN, count], ...], in no particular order. A GROUP BY
 * sorts every row before it counts; top-senders over a storm's million
 * rows of a few senders spent most of its time in that sort, where the
 * counts are a handful of tuples.
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
	sqlite3_str *json = sqlite3_str_new(sqlite3_context_db_handle(context));
	sqlite3_str_appendchar(json, 1, '[');
	int first = 1;
	for (sqlite3_int64 i = 0; tally && i < tally->capacity; i++) {
		const struct tally_slot *slot = &tally->slots[i];
		if (slot->count == 0)
			continue;
		sqlite3_str_appendall(json, first ? "[" : ",[");
		first = 0;
		for (int v = 0; v < tally->width; v++) {
			if (slot->nulls & (1u << v))
				sqlite3_str_appendall(json, "null,");
			else
				sqlite3_str_appendf(json, "%lld,", slot->values[v]);
		}
		sqlite3_str_appendf(json, "%lld]", slot->count);
	}
	sqlite3_str_appendchar(json, 1, ']');
	if (tally)
		sqlite3_free(tally->slots);
	int rc = sqlite3_str_errcode(json);
	char *text = sqlite3_str_finish(json);
	if (rc != SQLITE_OK || !text) {
		sqlite3_free(text);
		sqlite3_result_error_nomem(context);
		return;
	}
	sqlite3_result_text(context, text, -1, sqlite3_free);
}

int register_tally(sqlite3 *db)
{
	for (int values = 1; values <= TALLY_MAX_VALUES; values++) {
		int rc = sqlite3_create_function(db, "sigaudit_tally", values, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL, NULL,
						 tally_step, tally_final);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}
