#pragma once
#include <sqlite3.h>

// Helpers for what Swift cannot import from sqlite3.h: SQLITE_TRANSIENT is a macro that casts -1 to a
// function pointer, so Swift never sees it. These wrappers bind a copy of the caller's bytes, which
// lets Swift pass a temporary buffer that is freed before the statement runs.

/// sqlite3_bind_text with SQLITE_TRANSIENT (SQLite copies `text` before returning).
static inline int cogjobs_sqlite3_bind_text_transient(sqlite3_stmt *stmt, int index, const char *text, int byteCount) {
    return sqlite3_bind_text(stmt, index, text, byteCount, SQLITE_TRANSIENT);
}

/// sqlite3_bind_blob with SQLITE_TRANSIENT (SQLite copies `bytes` before returning).
static inline int cogjobs_sqlite3_bind_blob_transient(sqlite3_stmt *stmt, int index, const void *bytes, int byteCount) {
    return sqlite3_bind_blob(stmt, index, bytes, byteCount, SQLITE_TRANSIENT);
}
