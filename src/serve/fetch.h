/* fetch.h - `berth-serve fetch`: copy a model version's files from berthd
 * (GET /model-files/v1/{ServiceId}/, docs/model-files.md) into a directory,
 * each verified against the manifest's size and SHA-256, before
 * berth-serve serves them: what a cluster pod's init container runs. */
#ifndef BERTH_SERVE_FETCH_H
#define BERTH_SERVE_FETCH_H

/* The whole command; argv[0] is "fetch". The token comes from the
 * environment (BERTH_MODEL_TOKEN). Returns the exit status: 0 when every
 * file is in place and verified, 1 when one could not be fetched (the
 * message names it), 2 for a usage error. */
int serve_fetch_main(int argc, char **argv);

#endif
