/* SPDX-License-Identifier: MIT */
/* The parts of the SQLite extension (native/extension.c) and what they share. */
#ifndef SIGAUDIT_EXTENSION_H
#define SIGAUDIT_EXTENSION_H

#include <stddef.h>

/* native/report-lines.c: the export's line functions. */
int register_report_lines(sqlite3 *db);
/* native/ingest.c: sigaudit_records, the recorder's batches as rows. */
int register_ingest(sqlite3 *db);
/* native/tally.c: sigaudit_tally and its kin (weighted, merge, top) and sigaudit_tallied, counts per tuple of integers without sorting. */
int register_tally(sqlite3 *db);

/* Room for up to 64 bytes of input, each of which may become three. */
#define CLEAN_UTF8_MAX (3 * 64)
/* Copies up to 64 bytes into out, each invalid UTF-8 sequence replaced by
 * U+FFFD as Node's decoder does; returns the bytes written. */
size_t clean_utf8(const char *bytes, size_t length, char out[CLEAN_UTF8_MAX]);
/* Bytes as a text result, each invalid UTF-8 sequence replaced by U+FFFD as Node's decoder does. */
void result_utf8(sqlite3_context *context, const char *bytes, size_t length);

#endif /* SIGAUDIT_EXTENSION_H */
