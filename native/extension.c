/* SPDX-License-Identifier: MIT */
/*
 * The one SQLite extension sigaudit loads (src/store/extension.ts): the
 * export's line functions, the recorder's batch reader and top-senders'
 * counts, in one file SQLite loads by its entry point,
 * sqlite3_sigauditsqlite_init.
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include <string.h>

#include "extension.h"

/* Length of the valid sequence at `at` (1 to 4), or 0 when the bytes there are not one. */
static size_t valid_sequence(const unsigned char *at, size_t left)
{
	unsigned char lead = at[0];
	if (lead < 0x80)
		return 1;
	size_t length;
	unsigned char low = 0x80, high = 0xbf; /* bounds of the second byte */
	if (lead >= 0xc2 && lead <= 0xdf)
		length = 2;
	else if (lead >= 0xe0 && lead <= 0xef) {
		length = 3;
		if (lead == 0xe0)
			low = 0xa0;
		if (lead == 0xed)
			high = 0x9f;
	} else if (lead >= 0xf0 && lead <= 0xf4) {
		length = 4;
		if (lead == 0xf0)
			low = 0x90;
		if (lead == 0xf4)
			high = 0x8f;
	} else
		return 0;
	for (size_t i = 1; i < length; i++) {
		if (i >= left || at[i] < (i == 1 ? low : 0x80) || at[i] > (i == 1 ? high : 0xbf))
			return 0;
	}
	return length;
}

/* How many bytes of an invalid sequence one U+FFFD replaces: the lead and the continuation bytes that could still have followed it. */
static size_t invalid_prefix(const unsigned char *at, size_t left)
{
	unsigned char lead = at[0];
	size_t length = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 1;
	unsigned char low = lead == 0xe0 ? 0xa0 : lead == 0xf0 ? 0x90 : 0x80;
	unsigned char high = lead == 0xed ? 0x9f : lead == 0xf4 ? 0x8f : 0xbf;
	size_t taken = 1;
	while (taken < length && taken < left && at[taken] >= (taken == 1 ? low : 0x80) && at[taken] <= (taken == 1 ? high : 0xbf))
		taken++;
	return taken;
}

size_t clean_utf8(const char *bytes, size_t length, char out[CLEAN_UTF8_MAX])
{
	const unsigned char *text = (const unsigned char *)bytes;
	if (length > CLEAN_UTF8_MAX / 3)
		length = CLEAN_UTF8_MAX / 3;
	size_t written = 0;
	for (size_t at = 0; at < length;) {
		size_t sequence = valid_sequence(text + at, length - at);
		if (sequence > 0) {
			memcpy(out + written, text + at, sequence);
			written += sequence;
			at += sequence;
		} else {
			memcpy(out + written, "\xef\xbf\xbd", 3);
			written += 3;
			at += invalid_prefix(text + at, length - at);
		}
	}
	return written;
}

void result_utf8(sqlite3_context *context, const char *bytes, size_t length)
{
	const unsigned char *text = (const unsigned char *)bytes;
	size_t valid = 0;
	while (valid < length && text[valid] < 0x80)
		valid++;
	if (valid == length) {
		sqlite3_result_text(context, bytes, (int)length, SQLITE_TRANSIENT);
		return;
	}
	if (length > CLEAN_UTF8_MAX / 3) {
		sqlite3_result_error(context, "sigaudit: text too long to check", -1);
		return;
	}
	char out[CLEAN_UTF8_MAX];
	sqlite3_result_text(context, out, (int)clean_utf8(bytes, length, out), SQLITE_TRANSIENT);
}

int sqlite3_sigauditsqlite_init(sqlite3 *db, char **error, const sqlite3_api_routines *api)
{
	(void)error;
	SQLITE_EXTENSION_INIT2(api);
	int rc = register_report_lines(db);
	if (rc == SQLITE_OK)
		rc = register_ingest(db);
	if (rc == SQLITE_OK)
		rc = register_tally(db);
	return rc;
}
