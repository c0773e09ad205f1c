/* desccache: the description of a job's file set, made once and reused
 * while the set does not change (bitlib launch).
 *
 * The cache lives in a directory (DIR/<key>.torrent and DIR/<key>.fp, key =
 * SHA-1 of the sets' real paths and the prefetch executable); the
 * fingerprint is a SHA-1 over every entry's path, type, mode, size, mtime
 * (ns) and symlink target, and the executable's.  A matching fingerprint
 * reuses the cached description (no hashing); otherwise it is created anew
 * (meta/create) and cached.  Either way the job's copy gets the job's
 * trackers through meta/jobmeta, so its info-hash is the cached one. */
#ifndef BL_LAUNCH_DESCCACHE_H
#define BL_LAUNCH_DESCCACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

typedef struct bl_desc_job {
    const char *const *dirs;     /* the set's directories */
    size_t num_dirs;
    const char *exe;             /* prefetch list from this executable, or NULL */
    const char *const *trackers;
    size_t num_trackers;
    const char *cache_dir;       /* created if missing */
    const char *out;             /* where the job's description goes */
} bl_desc_job;

/* 0 (with *reused), or -1 with err. */
int bl_desc_for_job(const bl_desc_job *j, bool *reused, bl_err *err);

#endif
