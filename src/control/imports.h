/* imports.h - model imports run in the background: copy (or move) a model
 * version's files from the source directory into the data directory, check
 * them, and record STATUS_SUCCESS or STATUS_FAILED with the reason. The
 * version row is written (STATUS_RUNNING) before an import is queued, so a
 * restart finds unfinished imports in the store and runs them again.
 *
 * Sources are confined: a source directory must resolve (realpath) inside one
 * of the import roots, and must neither be inside berthd's data directory or
 * the instances' work directories nor contain them. Inside a source, a symbolic link must be
 * relative and must not use '..' (it then stays inside the imported tree); any other link fails the
 * import. A CUT import removes from the source only what it imported, and only
 * after the copy is in place. */
#ifndef BERTH_CONTROL_IMPORTS_H
#define BERTH_CONTROL_IMPORTS_H

#include "base/err.h"
#include "store/store.h"

/* The import root used when none is configured (only if it exists). */
#define IMPORTS_DEFAULT_ROOT "/srv/berth/import"

struct imports;

/* Start the import thread and queue every import the store has as running.
 * 'data_dir' is the resolved data directory; 'instance_dir' (optional) the
 * directory of the instances' work directories, where instances write (it
 * need not exist yet: it is resolved at each check); 'roots' the import
 * roots (NULL-terminated; NULL or empty means IMPORTS_DEFAULT_ROOT if it
 * exists, else none). Each root must be an existing directory outside the
 * data directory; ERR_INVALID or a system error names the root otherwise. */
int imports_start(struct store *st, const char *data_dir, const char *instance_dir,
                  const char *const *roots, struct imports **out, struct err *err);
/* Queue the import of model version 'version_id' (any thread). */
void imports_queue(struct imports *im, const char *version_id);
/* Stop after the import in progress, if any. Accepts NULL. */
void imports_stop(struct imports *im);

/* Whether the directory 'path' may be imported (any thread): absolute, no
 * '..' component, existing, a directory, inside an import root once
 * resolved, and clear of the data directory and the instance directory. ERR_INVALID, ERR_NOTFOUND
 * or ERR_UNSUPPORTED (no roots) with the rule in 'err', which quotes 'path'. */
int imports_check_source(const struct imports *im, const char *path, struct err *err);

/* Remove a directory tree; missing is fine. */
int imports_remove_tree(const char *path, struct err *err);

#endif
