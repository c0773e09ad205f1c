/* trace: first-open traces, as `bitlib mount --learn` writes them (one
 * set-relative path per line, in the order a job first opened them),
 * merged into one prefetch list for the next jobs.
 *
 * bl_trace_merge keeps every path that appears in any trace, ordered by
 * its mean relative position (index / length) over the traces that hold
 * it, so that a short trace and a long one weigh alike and a file every
 * job opens early comes early; ties keep the order of first appearance.
 * Pure: which paths the set holds is the caller's business. */
#ifndef BL_META_TRACE_H
#define BL_META_TRACE_H

#include <stddef.h>

#include "core/err.h"

#define BL_TRACE_MAX_LINES 1000000
#define BL_TRACE_MAX_LINE 4096

/* Read a trace file: *lines (malloc'd strings, *n of them; free with
 * bl_trace_free).  Empty lines are skipped, a leading "./" or "/" is
 * dropped.  -1 with err naming the file and line if it cannot be read or
 * breaks a bound above. */
int bl_trace_read(const char *path, char ***lines, size_t *n, bl_err *err);
void bl_trace_free(char **lines, size_t n);

typedef struct bl_trace {
    char *const *paths;
    size_t n;
} bl_trace;

/* Merge ntraces traces into *out (malloc'd array of pointers into the
 * traces' strings, each path once; free(*out) only).  -1 on out of memory. */
int bl_trace_merge(const bl_trace *traces, size_t ntraces, const char ***out, size_t *nout,
                   bl_err *err);

#endif
