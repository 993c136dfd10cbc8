/* imports.h - model imports run in the background: copy (or move) a model
 * version's files from the source directory into the data directory, check
 * them, and record STATUS_SUCCESS or STATUS_FAILED with the reason. The
 * version row is written (STATUS_RUNNING) before an import is queued, so a
 * restart finds unfinished imports in the store and runs them again. */
#ifndef BERTH_CONTROL_IMPORTS_H
#define BERTH_CONTROL_IMPORTS_H

#include "base/err.h"
#include "store/store.h"

struct imports;

/* Start the import thread and queue every import the store has as running. */
int imports_start(struct store *st, struct imports **out, struct err *err);
/* Queue the import of model version 'version_id' (any thread). */
void imports_queue(struct imports *im, const char *version_id);
/* Stop after the import in progress, if any. Accepts NULL. */
void imports_stop(struct imports *im);

/* Copy the directory tree 'from' into the new directory 'to' (files, dirs and
 * symlinks; permissions kept). Used by imports and exposed for tests. */
int imports_copy_tree(const char *from, const char *to, struct err *err);
/* Remove a directory tree; missing is fine. */
int imports_remove_tree(const char *path, struct err *err);

#endif
