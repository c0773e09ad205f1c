/* jobmeta: the per-job part of a description file, the keys outside the
 * info dict (so changing them keeps the info-hash): announce and
 * announce-list, the top-level "bitlib" dict (env, mount, prefetch),
 * comment, created by, creation date.
 *
 * bl_jobmeta_encode_head writes a description's opening up to and including
 * the "info" key; the caller appends the encoded info dict and the final
 * 'e'.  bl_jobmeta_rewrite re-encodes a parsed description with another job
 * part, its info dict copied byte for byte, so the result has the same
 * info-hash (bitlib launch gives a cached description a new tracker). */
#ifndef BL_META_JOBMETA_H
#define BL_META_JOBMETA_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "meta/metainfo.h"

typedef struct bl_jobmeta {
    const char *const *trackers; /* each its own tier, in order */
    size_t num_trackers;
    const char *mount;           /* absolute, or NULL */
    const char *const *prefetch; /* set-relative paths */
    size_t num_prefetch;
    const bl_menv *env;          /* sorted by name, names unique */
    size_t num_env;
    const char *comment;         /* or NULL */
    int64_t creation_date;       /* 0: now */
} bl_jobmeta;

void bl_jobmeta_encode_head(const bl_jobmeta *j, bl_buf *out);

/* The job part of a parsed description (pointers into mi; trackers are
 * flattened to one tier each, at most max_trackers of them, into tbuf). */
void bl_jobmeta_of(const bl_metainfo *mi, bl_jobmeta *j, const char **tbuf,
                   size_t max_trackers);

/* A whole description: j's job part and mi's info dict, verbatim. */
int bl_jobmeta_rewrite(const bl_metainfo *mi, const bl_jobmeta *j, bl_buf *out, bl_err *err);

#endif
