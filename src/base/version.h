/* version.h - the version every binary reports with --version. The Makefile
 * writes it into $(BUILD)/gen/version.c from VERSION (default: git describe),
 * rewriting that file only when it changes. */
#ifndef BERTH_BASE_VERSION_H
#define BERTH_BASE_VERSION_H

extern const char berth_version[];

#endif
