/* SPDX-License-Identifier: MIT */
/*
 * SQL functions that build export lines, part of the SQLite extension
 * (native/extension.c) that src/export loads into its read connections. Which columns, their names and
 * their order stay in TypeScript (src/export/sql-format.ts); these only write
 * values out. They replace printf (which turns every integer into a text
 * value before copying it, ~2 us of a row's ~6.6 us), strftime (which goes
 * through a floating-point Julian day) and group_concat with ORDER BY (which
 * sorts every page even when its rows come in order).
 *
 *   sigaudit_csv_record(v1, ..., vN)  one CSV record and its newline: NULL is
 *                                     an empty field, text is quoted (quotes
 *                                     doubled) when it holds , " CR or LF.
 *   sigaudit_iso_time(ns)             nanoseconds since the epoch as ISO 8601
 *                                     UTC: 2026-11-22T05:21:36.123456789Z.
 *   sigaudit_lines(key, line)         the lines of a group, concatenated in
 *                                     ascending key order, as a blob; sorts
 *                                     only if the rows did not come in order.
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extension.h"

struct buffer {
	char *data;
	sqlite3_int64 length;
	sqlite3_int64 capacity;
};

/* Room for `more` bytes; 0 when out of memory. */
static int reserve(struct buffer *buffer, sqlite3_int64 more)
{
	if (buffer->length + more <= buffer->capacity)
		return 1;
	sqlite3_int64 capacity = buffer->capacity ? buffer->capacity : 4096;
	while (capacity < buffer->length + more)
		capacity *= 2;
	char *data = sqlite3_realloc64(buffer->data, (sqlite3_uint64)capacity);
	if (!data)
		return 0;
	buffer->data = data;
	buffer->capacity = capacity;
	return 1;
}

static void put_integer(struct buffer *buffer, sqlite3_int64 value)
{
	char digits[24];
	int at = sizeof(digits);
	/* Negated as unsigned, so the most negative value has its digits too. */
	sqlite3_uint64 magnitude = value < 0 ? 0 - (sqlite3_uint64)value : (sqlite3_uint64)value;
	do {
		digits[--at] = (char)('0' + magnitude % 10);
		magnitude /= 10;
	} while (magnitude);
	if (value < 0)
		digits[--at] = '-';
	memcpy(buffer->data + buffer->length, digits + at, sizeof(digits) - at);
	buffer->length += sizeof(digits) - at;
}

static int needs_quotes(const unsigned char *text, int length)
{
	for (int i = 0; i < length; i++)
		if (text[i] == ',' || text[i] == '"' || text[i] == '\n' || text[i] == '\r')
			return 1;
	return 0;
}

/* A text field; quoted, and with its quotes doubled, only when it must be. */
static int put_text(struct buffer *buffer, const unsigned char *text, int length)
{
	if (!needs_quotes(text, length)) {
		if (!reserve(buffer, length))
			return 0;
		memcpy(buffer->data + buffer->length, text, length);
		buffer->length += length;
		return 1;
	}
	if (!reserve(buffer, 2 * (sqlite3_int64)length + 2))
		return 0;
	buffer->data[buffer->length++] = '"';
	for (int i = 0; i < length; i++) {
		if (text[i] == '"')
			buffer->data[buffer->length++] = '"';
		buffer->data[buffer->length++] = (char)text[i];
	}
	buffer->data[buffer->length++] = '"';
	return 1;
}

static void csv_record(sqlite3_context *context, int argc, sqlite3_value **argv)
{
	struct buffer record = {0};
	for (int i = 0; i < argc; i++) {
		/* A separator, a newline, and the longest integer. */
		if (!reserve(&record, 2 + 20))
			goto out_of_memory;
		if (i > 0)
			record.data[record.length++] = ',';
		switch (sqlite3_value_type(argv[i])) {
		case SQLITE_NULL:
			break;
		case SQLITE_INTEGER:
			put_integer(&record, sqlite3_value_int64(argv[i]));
			break;
		default: {
			/* Text as it is; a real or a blob as SQLite writes it as text. */
			const unsigned char *text = sqlite3_value_text(argv[i]);
			if (text && !put_text(&record, text, sqlite3_value_bytes(argv[i])))
				goto out_of_memory;
		}
		}
	}
	if (!reserve(&record, 1))
		goto out_of_memory;
	record.data[record.length++] = '\n';
	sqlite3_result_text64(context, record.data, (sqlite3_uint64)record.length, sqlite3_free, SQLITE_UTF8);
	return;
out_of_memory:
	sqlite3_free(record.data);
	sqlite3_result_error_nomem(context);
}

static void put_digits(char *at, sqlite3_int64 value, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		at[i] = (char)('0' + value % 10);
		value /= 10;
	}
}

/*
 * The proleptic Gregorian date of a day counted from 1970-01-01, by whole
 * 400-year eras (146 097 days each) so that leap days need no table: within
 * an era, years are counted from March, putting February's leap day last.
 */
static void civil_date(sqlite3_int64 days, sqlite3_int64 *year, int *month, int *day)
{
	days += 719468; /* from 0000-03-01 */
	sqlite3_int64 era = (days >= 0 ? days : days - 146096) / 146097;
	sqlite3_int64 day_of_era = days - era * 146097;
	sqlite3_int64 year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
	sqlite3_int64 day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
	sqlite3_int64 month_from_march = (5 * day_of_year + 2) / 153;
	*day = (int)(day_of_year - (153 * month_from_march + 2) / 5 + 1);
	*month = (int)(month_from_march < 10 ? month_from_march + 3 : month_from_march - 9);
	*year = year_of_era + era * 400 + (*month <= 2);
}

static void iso_time(sqlite3_context *context, int argc, sqlite3_value **argv)
{
	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
		return;
	sqlite3_int64 ns = sqlite3_value_int64(argv[0]);
	const sqlite3_int64 day_ns = 86400000000000LL;
	sqlite3_int64 days = ns / day_ns, of_day = ns % day_ns;
	if (of_day < 0) {
		days -= 1;
		of_day += day_ns;
	}
	sqlite3_int64 year;
	int month, day;
	/* A 64-bit count of nanoseconds spans 1677 to 2262: four digits. */
	civil_date(days, &year, &month, &day);
	char text[] = "YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ";
	put_digits(text, year, 4);
	put_digits(text + 5, month, 2);
	put_digits(text + 8, day, 2);
	put_digits(text + 11, of_day / 3600000000000LL, 2);
	put_digits(text + 14, of_day / 60000000000LL % 60, 2);
	put_digits(text + 17, of_day / 1000000000LL % 60, 2);
	put_digits(text + 20, of_day % 1000000000LL, 9);
	sqlite3_result_text(context, text, sizeof(text) - 1, SQLITE_TRANSIENT);
}

struct line {
	sqlite3_int64 key;
	sqlite3_int64 start;
	sqlite3_int64 length;
};

struct lines {
	struct buffer text;
	struct line *lines;
	sqlite3_int64 count;
	sqlite3_int64 capacity;
	int unordered;
	int out_of_memory;
};

static void lines_step(sqlite3_context *context, int argc, sqlite3_value **argv)
{
	(void)argc;
	struct lines *lines = sqlite3_aggregate_context(context, sizeof(*lines));
	if (!lines || lines->out_of_memory)
		return;
	if (sqlite3_value_type(argv[1]) == SQLITE_NULL)
		return;
	sqlite3_int64 key = sqlite3_value_int64(argv[0]);
	const void *line = sqlite3_value_blob(argv[1]);
	int length = sqlite3_value_bytes(argv[1]);
	if (lines->count == lines->capacity) {
		sqlite3_int64 capacity = lines->capacity ? 2 * lines->capacity : 1024;
		struct line *grown = sqlite3_realloc64(lines->lines, (sqlite3_uint64)capacity * sizeof(*grown));
		if (!grown)
			goto out_of_memory;
		lines->lines = grown;
		lines->capacity = capacity;
	}
	if (!reserve(&lines->text, length))
		goto out_of_memory;
	if (lines->count > 0 && key < lines->lines[lines->count - 1].key)
		lines->unordered = 1;
	lines->lines[lines->count++] = (struct line){key, lines->text.length, length};
	memcpy(lines->text.data + lines->text.length, line, length);
	lines->text.length += length;
	return;
out_of_memory:
	lines->out_of_memory = 1;
	sqlite3_result_error_nomem(context);
}

static int by_key(const void *a, const void *b)
{
	sqlite3_int64 left = ((const struct line *)a)->key, right = ((const struct line *)b)->key;
	return (left > right) - (left < right);
}

static void lines_final(sqlite3_context *context)
{
	struct lines *lines = sqlite3_aggregate_context(context, 0);
	if (!lines)
		return; /* no rows: NULL, as group_concat */
	if (lines->out_of_memory) {
		sqlite3_result_error_nomem(context);
	} else if (!lines->unordered) {
		sqlite3_result_blob64(context, lines->text.data, (sqlite3_uint64)lines->text.length, sqlite3_free);
		lines->text.data = NULL;
	} else {
		/* Stable order for equal keys is not needed: keys are row ids. */
		qsort(lines->lines, (size_t)lines->count, sizeof(*lines->lines), by_key);
		char *sorted = sqlite3_malloc64((sqlite3_uint64)lines->text.length + 1);
		if (!sorted) {
			sqlite3_result_error_nomem(context);
		} else {
			sqlite3_int64 at = 0;
			for (sqlite3_int64 i = 0; i < lines->count; i++) {
				memcpy(sorted + at, lines->text.data + lines->lines[i].start, lines->lines[i].length);
				at += lines->lines[i].length;
			}
			sqlite3_result_blob64(context, sorted, (sqlite3_uint64)at, sqlite3_free);
		}
	}
	sqlite3_free(lines->text.data);
	sqlite3_free(lines->lines);
}

int register_report_lines(sqlite3 *db)
{
	int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
	int rc = sqlite3_create_function(db, "sigaudit_csv_record", -1, flags, NULL, csv_record, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(db, "sigaudit_iso_time", 1, flags, NULL, iso_time, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function(db, "sigaudit_lines", 2, flags, NULL, NULL, lines_step, lines_final);
	return rc;
}
