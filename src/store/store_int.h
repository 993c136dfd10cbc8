/* store_int.h - what the files of store/ share with store.c: the connection
 * and the lock and transaction helpers, so that a module such as billing.c
 * can change several tables in one transaction. Not for use outside store/. */
#ifndef BERTH_STORE_INT_H
#define BERTH_STORE_INT_H

#include <sqlite3.h>

#include "store/store.h"

sqlite3 *store__db(struct store *st);
void store__lock(struct store *st);
void store__unlock(struct store *st);
/* BEGIN IMMEDIATE; then store__finish() commits when rc is 0, else rolls back. */
int store__begin(struct store *st, struct err *err);
int store__finish(struct store *st, int rc, struct err *err);
/* An error from the last SQLite call: ERR_EXISTS for a constraint. */
int store__db_error(struct store *st, struct err *err, const char *what);

#endif
