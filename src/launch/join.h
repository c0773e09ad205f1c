/* join: one mount daemon per node and mount point, however many ranks start
 * at the same moment (the front half of bitlib run).
 *
 * bl_join runs the rendezvous for one process.  Under the registry's lock it
 * registers the process as a holder, asks whether a daemon already serves
 * the mount (ops->probe), and if none does has ops->start clear what a dead
 * daemon left and start one, waiting until it serves or fails.  A failed
 * start is recorded in the registry, so the ranks that were waiting for the
 * lock meanwhile fail with that same line instead of retrying one after
 * another.  On success the holder stays registered: the daemon's watch
 * (launch/watch.h) sees the process exit, however it exits, so the process
 * may exec its program. */
#ifndef BL_LAUNCH_JOIN_H
#define BL_LAUNCH_JOIN_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/err.h"
#include "launch/registry.h"

typedef struct bl_join_ops {
    /* 1: a daemon serves our set there; 0: none does; -1: the mount point is
     * taken by something we cannot use (err says what) */
    int (*probe)(void *arg, bl_err *err);
    /* Start a daemon; 0 once it serves, -1 with err (one line) */
    int (*start)(void *arg, bl_err *err);
    void *arg;
} bl_join_ops;

typedef struct bl_join_opts {
    pid_t holder;          /* the process that will use the mount */
    bool keep;             /* the mount outlives its last holder */
    int lock_timeout_ms;   /* how long to wait for another rank's start */
} bl_join_opts;

enum { BL_JOIN_JOINED = 0, BL_JOIN_STARTED = 1 };

/* BL_JOIN_JOINED or BL_JOIN_STARTED, or -1 with err (the holder is then
 * not registered). */
int bl_join(bl_reg *r, const bl_join_opts *o, const bl_join_ops *ops, bl_err *err);

/* Take back a registration (a rank failing before it runs its program).
 * Needs no lock: the daemon decides under the lock and re-counts there. */
void bl_join_leave(bl_reg *r, pid_t holder);

#endif
