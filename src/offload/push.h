/* push: the center's manager, `bitlib offload push` without the command
 * line.
 *
 * Reads the files as one stream (stream.h), cuts it into stripes of K
 * chunks, adds M-K parity chunks per stripe (rs.h) and stores every chunk
 * `replicas` times on distinct depots over the depot protocol (dpset.h),
 * all on one event loop.  Before sending it asks every depot how much room
 * it has (STAT) and measures its rate with a probe; the planner (plan.h)
 * then chooses the fan-out and each depot's share against the deadlines,
 * and every chunk copy goes where bl_plan_pick says, never two copies of a
 * stripe on one depot while there are depots enough.  It re-plans from
 * the rates of its own transfers every second, and at once when a depot
 * refuses (full: it keeps what it acknowledged and gets no more) or fails
 * (what it acknowledged counts as lost and is sent again elsewhere).  Done
 * when every copy is acknowledged, that is when the center may release its
 * copy; the manifest (manifest.h) then records which depots acknowledged
 * each chunk, and is written atomically. */
#ifndef BL_OFFLOAD_PUSH_H
#define BL_OFFLOAD_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "offload/okey.h"

typedef struct bl_push_opts {
    const char *const *files;     /* regular files; stored under their base names */
    size_t nfiles;
    const char *const *depots;    /* "host:port" */
    const uint64_t *capacity;     /* per depot, bytes it may take; 0: what it says it has */
    size_t ndepots;
    unsigned k, m, replicas;
    uint64_t chunk;
    double deadline, purge;       /* epoch seconds; 0: none */
    const bl_okey *key;
    const char *manifest;         /* path to write */
    unsigned timeout_ms;          /* a depot silent this long is down */
} bl_push_opts;

typedef struct bl_push_result {
    uint64_t bytes;               /* of the files */
    uint64_t sent;                /* chunk bytes acknowledged (copies, parity, resends) */
    double seconds;               /* from the first connection to the last acknowledgement */
    double release;               /* epoch time the last copy was acknowledged */
    size_t depots_used;           /* depots holding chunks in the manifest */
    size_t depots_down;           /* depots that failed or refused to authenticate */
    unsigned replans;
    bool purge_met, deadline_met; /* true when that deadline is unset */
    bool survives_one;            /* every stripe keeps K chunks if any one depot is lost */
} bl_push_result;

/* 0 with *res filled, or -1 with err (one line: which depot, file or limit). */
int bl_push_run(const bl_push_opts *o, bl_push_result *res, bl_err *err);

#endif
