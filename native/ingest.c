/* SPDX-License-Identifier: MIT */
/*
 * sigaudit_records(records, first_id, offset_ns): a table-valued function
 * that reads a batch of struct sigaudit_event (bpf/sigaudit.h) and yields
 * one row per row to store, so the recorder hands SQLite a whole batch in
 * one INSERT ... SELECT instead of one N-API call and 25 bound values a row
 * (src/store/writer.ts chooses the columns and what they mean).
 *
 * What is mechanical happens here: fields the flags mark as absent are NULL
 * (sender_* in interrupt context, delivered_* when nothing was reached,
 * sender_auid when unset), boot time becomes wall-clock time, comms become
 * text, and FANOUT records are joined to the SEND of their syscall (same
 * sender_tid and boot_ns) that follows in the batch: the SEND's row comes
 * first with fanout 0, its fan-out rows after it numbered from 1 with its
 * return value. FANOUT records whose SEND is not in the batch are orphans,
 * written after everything else, numbered from 0 per syscall, without a
 * return value (the caller carries the ones still worth waiting for into
 * the next batch instead). Records of other kinds yield no row.
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

#include <linux/types.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sigaudit.h"
#include "extension.h"

enum column {
	COLUMN_ID,
	COLUMN_TS_NS,
	COLUMN_FANOUT,
	COLUMN_KIND,
	COLUMN_SOURCE,
	COLUMN_FLAGS,
	COLUMN_SENDER_PID,
	COLUMN_SENDER_TID,
	COLUMN_SENDER_COMM,
	COLUMN_SENDER_UID,
	COLUMN_SENDER_AUID,
	COLUMN_SENDER_PPID,
	COLUMN_SENDER_CGROUP,
	COLUMN_TARGET_PID,
	COLUMN_TARGET_TID,
	COLUMN_DELIVERED_PID,
	COLUMN_DELIVERED_TID,
	COLUMN_DELIVERED_COMM,
	COLUMN_DELIVERED_CGROUP,
	COLUMN_SIGNAL,
	COLUMN_RET,
	COLUMN_RESULT,
	COLUMN_SI_CODE,
	COLUMN_SENDER_NS_PID,
	COLUMN_TARGET_NS_PID,
	COLUMN_DELIVERED_NS_PID,
	/* names.id of each comm, inserted into names when new: read only by the
	 * recorder's INSERT, so they are looked up only when a statement reads them. */
	COLUMN_SENDER_COMM_ID,
	COLUMN_DELIVERED_COMM_ID,
	/* The arguments. */
	COLUMN_RECORDS,
	COLUMN_FIRST_ID,
	COLUMN_OFFSET_NS,
};

static const char SCHEMA[] =
	"CREATE TABLE x(id, ts_ns, fanout, kind, source, flags, sender_pid, sender_tid, sender_comm,"
	" sender_uid, sender_auid, sender_ppid, sender_cgroup, target_pid, target_tid, delivered_pid,"
	" delivered_tid, delivered_comm, delivered_cgroup, signal, ret, result, si_code,"
	" sender_ns_pid, target_ns_pid, delivered_ns_pid, sender_comm_id, delivered_comm_id,"
	" records HIDDEN, first_id HIDDEN, offset_ns HIDDEN)";

#define AUDIT_UID_UNSET 0xffffffffu

/* One row to yield: which record, its fan-out number, and the return value it carries. */
struct planned_row {
	sqlite3_int64 record;
	sqlite3_int64 fanout;
	int has_ret;
	sqlite3_int64 ret;
};

struct records_vtab {
	sqlite3_vtab base;
	sqlite3 *db;
};

/* idxNum bit: the statement reads a *_comm_id column. */
#define READS_COMM_IDS 1

struct cursor {
	sqlite3_vtab_cursor base;
	struct sigaudit_event *events;
	/* Per record, when READS_COMM_IDS: names.id of sender_comm and delivered_comm (0: none). */
	sqlite3_int64 *comm_ids;
	sqlite3_int64 count;
	struct planned_row *plan;
	sqlite3_int64 rows;
	sqlite3_int64 at;
	sqlite3_int64 first_id;
	sqlite3_int64 offset_ns;
};

static int records_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **vtab, char **error)
{
	(void)aux;
	(void)argc;
	(void)argv;
	(void)error;
	int rc = sqlite3_declare_vtab(db, SCHEMA);
	if (rc != SQLITE_OK)
		return rc;
	struct records_vtab *table = sqlite3_malloc(sizeof(*table));
	if (!table)
		return SQLITE_NOMEM;
	memset(table, 0, sizeof(*table));
	table->db = db;
	*vtab = &table->base;
	sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
	return SQLITE_OK;
}

static int records_disconnect(sqlite3_vtab *vtab)
{
	sqlite3_free(vtab);
	return SQLITE_OK;
}

/* All three arguments are required, as equality constraints, in order. */
static int records_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info)
{
	(void)vtab;
	int seen = 0;
	for (int i = 0; i < info->nConstraint; i++) {
		const struct sqlite3_index_constraint *constraint = &info->aConstraint[i];
		if (constraint->iColumn < COLUMN_RECORDS)
			continue;
		if (!constraint->usable || constraint->op != SQLITE_INDEX_CONSTRAINT_EQ)
			return SQLITE_CONSTRAINT;
		int argument = constraint->iColumn - COLUMN_RECORDS;
		info->aConstraintUsage[i].argvIndex = argument + 1;
		info->aConstraintUsage[i].omit = 1;
		seen |= 1 << argument;
	}
	if (seen != 7) {
		sqlite3_free(vtab->zErrMsg);
		vtab->zErrMsg = sqlite3_mprintf("sigaudit_records needs (records, first_id, offset_ns)");
		return SQLITE_ERROR;
	}
	info->estimatedCost = 1;
	sqlite3_uint64 comm_ids = ((sqlite3_uint64)1 << COLUMN_SENDER_COMM_ID) | ((sqlite3_uint64)1 << COLUMN_DELIVERED_COMM_ID);
	info->idxNum = (info->colUsed & comm_ids) ? READS_COMM_IDS : 0;
	return SQLITE_OK;
}

static int records_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **cursor)
{
	(void)vtab;
	struct cursor *opened = sqlite3_malloc(sizeof(*opened));
	if (!opened)
		return SQLITE_NOMEM;
	memset(opened, 0, sizeof(*opened));
	*cursor = &opened->base;
	return SQLITE_OK;
}

static void reset(struct cursor *cursor)
{
	sqlite3_free(cursor->events);
	sqlite3_free(cursor->plan);
	sqlite3_free(cursor->comm_ids);
	cursor->events = NULL;
	cursor->plan = NULL;
	cursor->comm_ids = NULL;
	cursor->count = cursor->rows = cursor->at = 0;
}

static int records_close(sqlite3_vtab_cursor *base)
{
	reset((struct cursor *)base);
	sqlite3_free(base);
	return SQLITE_OK;
}

static int same_syscall(const struct sigaudit_event *a, const struct sigaudit_event *b)
{
	return a->sender_tid == b->sender_tid && a->boot_ns == b->boot_ns;
}

/*
 * Orders the rows: each SEND, then the FANOUT records of its syscall seen
 * before it; KERNEL rows where they are; unjoined FANOUT records last, per
 * syscall in the order each was first seen. `waiting` lists the FANOUT
 * records not yet joined, in order: a SEND takes its own out, so every
 * SEND looks only at the few still waiting, not at every fan-out of the
 * batch so far.
 */
static int plan_rows(struct cursor *cursor)
{
	sqlite3_int64 *waiting = NULL;
	sqlite3_int64 waiting_count = 0;
	sqlite3_int64 waiting_size = 0;
	cursor->plan = sqlite3_malloc64((sqlite3_uint64)(cursor->count ? cursor->count : 1) * sizeof(*cursor->plan));
	if (!cursor->plan)
		return SQLITE_NOMEM;
	for (sqlite3_int64 i = 0; i < cursor->count; i++) {
		const struct sigaudit_event *event = &cursor->events[i];
		switch (event->kind) {
		case SIGAUDIT_KIND_SEND: {
			cursor->plan[cursor->rows++] = (struct planned_row){i, 0, 1, event->ret};
			sqlite3_int64 fanout = 1;
			sqlite3_int64 still = 0;
			for (sqlite3_int64 w = 0; w < waiting_count; w++) {
				if (same_syscall(&cursor->events[waiting[w]], event))
					cursor->plan[cursor->rows++] = (struct planned_row){waiting[w], fanout++, 1, event->ret};
				else
					waiting[still++] = waiting[w];
			}
			waiting_count = still;
			break;
		}
		case SIGAUDIT_KIND_FANOUT: {
			if (waiting_count == waiting_size) {
				waiting_size = waiting_size ? 2 * waiting_size : 8;
				sqlite3_int64 *grown = sqlite3_realloc64(waiting, (sqlite3_uint64)waiting_size * sizeof(*waiting));
				if (!grown) {
					sqlite3_free(waiting);
					return SQLITE_NOMEM;
				}
				waiting = grown;
			}
			waiting[waiting_count++] = i;
			break;
		}
		case SIGAUDIT_KIND_KERNEL:
			cursor->plan[cursor->rows++] = (struct planned_row){i, 0, 0, 0};
			break;
		default:
			break;
		}
	}
	for (sqlite3_int64 w = 0; w < waiting_count; w++) {
		if (waiting[w] < 0)
			continue;
		const struct sigaudit_event *first = &cursor->events[waiting[w]];
		sqlite3_int64 fanout = 0;
		for (sqlite3_int64 other = w; other < waiting_count; other++) {
			if (waiting[other] < 0 || !same_syscall(&cursor->events[waiting[other]], first))
				continue;
			cursor->plan[cursor->rows++] = (struct planned_row){waiting[other], fanout++, 0, 0};
			waiting[other] = -1;
		}
	}
	sqlite3_free(waiting);
	return SQLITE_OK;
}

/* One batch's comms and their names.id, open addressing on the 16 raw bytes. */
struct comm_slot {
	char comm[SIGAUDIT_COMM_LEN];
	sqlite3_int64 id; /* 0: empty slot */
};

struct comm_table {
	struct comm_slot *slots;
	sqlite3_uint64 mask;
	sqlite3_uint64 used;
	sqlite3_stmt *find;
	sqlite3_stmt *add;
};

static sqlite3_uint64 comm_hash(const char *comm)
{
	sqlite3_uint64 hash = 14695981039346656037ull;
	for (int i = 0; i < SIGAUDIT_COMM_LEN && comm[i]; i++)
		hash = (hash ^ (unsigned char)comm[i]) * 1099511628211ull;
	return hash;
}

/* Two comms are one name when their bytes up to the first NUL are. */
static int same_comm(const char *a, const char *b)
{
	return strncmp(a, b, SIGAUDIT_COMM_LEN) == 0;
}

/* The name's id in names, added when it is not there yet. */
static int name_id(struct comm_table *table, const char *comm, sqlite3_int64 *id)
{
	const char *end = memchr(comm, 0, SIGAUDIT_COMM_LEN);
	char text[CLEAN_UTF8_MAX];
	size_t length = clean_utf8(comm, end ? (size_t)(end - comm) : SIGAUDIT_COMM_LEN, text);
	int rc = SQLITE_OK;
	for (sqlite3_stmt *statement = table->find; statement; statement = statement == table->find ? table->add : NULL) {
		sqlite3_bind_text(statement, 1, text, (int)length, SQLITE_TRANSIENT);
		rc = sqlite3_step(statement);
		if (rc == SQLITE_ROW)
			*id = sqlite3_column_int64(statement, 0);
		sqlite3_reset(statement);
		if (rc == SQLITE_ROW)
			return SQLITE_OK;
		if (rc != SQLITE_DONE)
			return rc;
	}
	return SQLITE_ERROR; /* the insert returned no id */
}

static int grow_comms(struct comm_table *table)
{
	sqlite3_uint64 size = table->slots ? 2 * (table->mask + 1) : 64;
	struct comm_slot *slots = sqlite3_malloc64(size * sizeof(*slots));
	if (!slots)
		return SQLITE_NOMEM;
	memset(slots, 0, size * sizeof(*slots));
	for (sqlite3_uint64 i = 0; table->slots && i <= table->mask; i++) {
		if (!table->slots[i].id)
			continue;
		sqlite3_uint64 at = comm_hash(table->slots[i].comm) & (size - 1);
		while (slots[at].id)
			at = (at + 1) & (size - 1);
		slots[at] = table->slots[i];
	}
	sqlite3_free(table->slots);
	table->slots = slots;
	table->mask = size - 1;
	return SQLITE_OK;
}

static int comm_id(struct comm_table *table, const char *comm, sqlite3_int64 *id)
{
	if (2 * (table->used + 1) > table->mask + 1) {
		int rc = grow_comms(table);
		if (rc != SQLITE_OK)
			return rc;
	}
	sqlite3_uint64 at = comm_hash(comm) & table->mask;
	while (table->slots[at].id) {
		if (same_comm(table->slots[at].comm, comm)) {
			*id = table->slots[at].id;
			return SQLITE_OK;
		}
		at = (at + 1) & table->mask;
	}
	int rc = name_id(table, comm, id);
	if (rc != SQLITE_OK)
		return rc;
	memcpy(table->slots[at].comm, comm, SIGAUDIT_COMM_LEN);
	table->slots[at].id = *id;
	table->used++;
	return SQLITE_OK;
}

/*
 * names.id for each record's comms, inserting the new ones (in the
 * recorder's transaction, so a batch that fails takes its names with it).
 * Looked up per batch, not cached across batches, for that reason.
 */
static int intern_comms(struct cursor *cursor, sqlite3 *db)
{
	struct comm_table table = {0};
	int rc = sqlite3_prepare_v2(db, "SELECT id FROM names WHERE name = ?1", -1, &table.find, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "INSERT INTO names (name) VALUES (?1) RETURNING id", -1, &table.add, NULL);
	if (rc == SQLITE_OK) {
		cursor->comm_ids = sqlite3_malloc64((sqlite3_uint64)cursor->count * 2 * sizeof(*cursor->comm_ids));
		if (!cursor->comm_ids)
			rc = SQLITE_NOMEM;
	}
	for (sqlite3_int64 i = 0; rc == SQLITE_OK && i < cursor->count; i++) {
		const struct sigaudit_event *event = &cursor->events[i];
		sqlite3_int64 *ids = &cursor->comm_ids[2 * i];
		ids[0] = ids[1] = 0;
		if (!(event->flags & SIGAUDIT_FLAG_IN_INTERRUPT))
			rc = comm_id(&table, event->sender_comm, &ids[0]);
		if (rc == SQLITE_OK && (event->flags & SIGAUDIT_FLAG_DELIVERED))
			rc = comm_id(&table, event->delivered_comm, &ids[1]);
	}
	sqlite3_finalize(table.find);
	sqlite3_finalize(table.add);
	sqlite3_free(table.slots);
	return rc;
}

static int records_filter(sqlite3_vtab_cursor *base, int index, const char *index_name, int argc, sqlite3_value **argv)
{
	(void)index_name;
	(void)argc;
	struct cursor *cursor = (struct cursor *)base;
	reset(cursor);
	int bytes = sqlite3_value_bytes(argv[0]);
	const void *records = sqlite3_value_blob(argv[0]);
	if (bytes % sizeof(struct sigaudit_event) != 0) {
		sqlite3_free(base->pVtab->zErrMsg);
		base->pVtab->zErrMsg = sqlite3_mprintf("sigaudit_records: %d bytes are not whole %d-byte records", bytes, (int)sizeof(struct sigaudit_event));
		return SQLITE_ERROR;
	}
	cursor->count = bytes / (sqlite3_int64)sizeof(struct sigaudit_event);
	cursor->first_id = sqlite3_value_int64(argv[1]);
	cursor->offset_ns = sqlite3_value_int64(argv[2]);
	if (cursor->count == 0)
		return SQLITE_OK;
	/* A copy: the argument's memory is SQLite's, and aligned records can be read as the struct. */
	cursor->events = sqlite3_malloc64((sqlite3_uint64)bytes);
	if (!cursor->events)
		return SQLITE_NOMEM;
	memcpy(cursor->events, records, (size_t)bytes);
	int rc = plan_rows(cursor);
	if (rc == SQLITE_OK && (index & READS_COMM_IDS))
		rc = intern_comms(cursor, ((struct records_vtab *)base->pVtab)->db);
	return rc;
}

static int records_next(sqlite3_vtab_cursor *base)
{
	((struct cursor *)base)->at++;
	return SQLITE_OK;
}

static int records_eof(sqlite3_vtab_cursor *base)
{
	struct cursor *cursor = (struct cursor *)base;
	return cursor->at >= cursor->rows;
}

static int records_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid)
{
	struct cursor *cursor = (struct cursor *)base;
	*rowid = cursor->first_id + cursor->at;
	return SQLITE_OK;
}

static void result_comm(sqlite3_context *context, const char *comm)
{
	const char *end = memchr(comm, 0, SIGAUDIT_COMM_LEN);
	result_utf8(context, comm, end ? (size_t)(end - comm) : SIGAUDIT_COMM_LEN);
}

static int records_column(sqlite3_vtab_cursor *base, sqlite3_context *context, int column)
{
	struct cursor *cursor = (struct cursor *)base;
	const struct planned_row *row = &cursor->plan[cursor->at];
	const struct sigaudit_event *event = &cursor->events[row->record];
	int has_sender = !(event->flags & SIGAUDIT_FLAG_IN_INTERRUPT);
	int delivered = event->flags & SIGAUDIT_FLAG_DELIVERED;
	if ((column >= COLUMN_SENDER_PID && column <= COLUMN_SENDER_CGROUP && !has_sender) ||
	    (column >= COLUMN_DELIVERED_PID && column <= COLUMN_DELIVERED_CGROUP && !delivered) ||
	    (column == COLUMN_SENDER_NS_PID && !has_sender) || (column == COLUMN_DELIVERED_NS_PID && !delivered) ||
	    (column == COLUMN_RESULT && !delivered) || (column == COLUMN_RET && !row->has_ret))
		return SQLITE_OK; /* NULL */
	switch (column) {
	case COLUMN_ID:
		sqlite3_result_int64(context, cursor->first_id + cursor->at);
		break;
	case COLUMN_TS_NS:
		sqlite3_result_int64(context, (sqlite3_int64)event->boot_ns + cursor->offset_ns);
		break;
	case COLUMN_FANOUT:
		sqlite3_result_int64(context, row->fanout);
		break;
	case COLUMN_KIND:
		sqlite3_result_int64(context, event->kind);
		break;
	case COLUMN_SOURCE:
		sqlite3_result_int64(context, event->source);
		break;
	case COLUMN_FLAGS:
		sqlite3_result_int64(context, event->flags);
		break;
	case COLUMN_SENDER_PID:
		sqlite3_result_int64(context, event->sender_pid);
		break;
	case COLUMN_SENDER_TID:
		sqlite3_result_int64(context, event->sender_tid);
		break;
	case COLUMN_SENDER_COMM:
		result_comm(context, event->sender_comm);
		break;
	case COLUMN_SENDER_UID:
		sqlite3_result_int64(context, event->sender_uid);
		break;
	case COLUMN_SENDER_AUID:
		if (!(event->flags & SIGAUDIT_FLAG_AUID_UNSET) && event->sender_auid != AUDIT_UID_UNSET)
			sqlite3_result_int64(context, event->sender_auid);
		break;
	case COLUMN_SENDER_PPID:
		sqlite3_result_int64(context, event->sender_ppid);
		break;
	case COLUMN_SENDER_CGROUP:
		sqlite3_result_int64(context, (sqlite3_int64)event->sender_cgroup);
		break;
	case COLUMN_TARGET_PID:
		sqlite3_result_int64(context, event->target_pid);
		break;
	case COLUMN_TARGET_TID:
		sqlite3_result_int64(context, event->target_tid);
		break;
	case COLUMN_DELIVERED_PID:
		sqlite3_result_int64(context, event->delivered_pid);
		break;
	case COLUMN_DELIVERED_TID:
		sqlite3_result_int64(context, event->delivered_tid);
		break;
	case COLUMN_DELIVERED_COMM:
		result_comm(context, event->delivered_comm);
		break;
	case COLUMN_DELIVERED_CGROUP:
		sqlite3_result_int64(context, (sqlite3_int64)event->delivered_cgroup);
		break;
	case COLUMN_SIGNAL:
		sqlite3_result_int64(context, event->signal);
		break;
	case COLUMN_RET:
		sqlite3_result_int64(context, row->ret);
		break;
	case COLUMN_RESULT:
		sqlite3_result_int64(context, event->result);
		break;
	case COLUMN_SI_CODE:
		sqlite3_result_int64(context, event->si_code);
		break;
	case COLUMN_SENDER_NS_PID:
		sqlite3_result_int64(context, event->sender_ns_pid);
		break;
	case COLUMN_TARGET_NS_PID:
		sqlite3_result_int64(context, event->target_ns_pid);
		break;
	case COLUMN_DELIVERED_NS_PID:
		sqlite3_result_int64(context, event->delivered_ns_pid);
		break;
	case COLUMN_SENDER_COMM_ID:
	case COLUMN_DELIVERED_COMM_ID: {
		sqlite3_int64 id = cursor->comm_ids[2 * row->record + (column == COLUMN_DELIVERED_COMM_ID)];
		if (id)
			sqlite3_result_int64(context, id);
		break;
	}
	default:
		break; /* the arguments are not read back */
	}
	return SQLITE_OK;
}

static sqlite3_module records_module = {
	.iVersion = 0,
	.xConnect = records_connect,
	.xBestIndex = records_best_index,
	.xDisconnect = records_disconnect,
	.xOpen = records_open,
	.xClose = records_close,
	.xFilter = records_filter,
	.xNext = records_next,
	.xEof = records_eof,
	.xColumn = records_column,
	.xRowid = records_rowid,
};

/* The layout this file was compiled with, as JSON, for the layout test. */
static void event_layout(sqlite3_context *context, int argc, sqlite3_value **argv)
{
	(void)argc;
	(void)argv;
#define FIELD(name) "\"" #name "\":%d"
#define AT(name) (int)offsetof(struct sigaudit_event, name)
	char *json = sqlite3_mprintf(
		"{\"size\":%d,\"offsets\":{" FIELD(boot_ns) "," FIELD(sender_cgroup) "," FIELD(delivered_cgroup) "," FIELD(ret) ","
		FIELD(kind) "," FIELD(source) "," FIELD(flags) "," FIELD(sender_pid) "," FIELD(sender_tid) "," FIELD(sender_uid) ","
		FIELD(sender_auid) "," FIELD(sender_ppid) "," FIELD(target_pid) "," FIELD(target_tid) "," FIELD(delivered_pid) ","
		FIELD(delivered_tid) "," FIELD(signal) "," FIELD(si_code) "," FIELD(result) "," FIELD(deliveries) ","
		FIELD(sender_comm) "," FIELD(delivered_comm) "," FIELD(sender_ns_pid) "," FIELD(target_ns_pid) ","
		FIELD(delivered_ns_pid) "}}",
		(int)sizeof(struct sigaudit_event), AT(boot_ns), AT(sender_cgroup), AT(delivered_cgroup), AT(ret), AT(kind), AT(source),
		AT(flags), AT(sender_pid), AT(sender_tid), AT(sender_uid), AT(sender_auid), AT(sender_ppid), AT(target_pid),
		AT(target_tid), AT(delivered_pid), AT(delivered_tid), AT(signal), AT(si_code), AT(result), AT(deliveries),
		AT(sender_comm), AT(delivered_comm), AT(sender_ns_pid), AT(target_ns_pid), AT(delivered_ns_pid));
#undef FIELD
#undef AT
	if (!json) {
		sqlite3_result_error_nomem(context);
		return;
	}
	sqlite3_result_text(context, json, -1, sqlite3_free);
}

int register_ingest(sqlite3 *db)
{
	int rc = sqlite3_create_module(db, "sigaudit_records", &records_module, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(db, "sigaudit_event_layout", 0, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL, event_layout, NULL, NULL);
	return rc;
}
