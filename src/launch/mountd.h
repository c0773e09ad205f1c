/* mountd: the node's mount daemon as seen from bitlib run: where it lives
 * for a description, whether one serves, starting one as a process, and
 * waiting until the prefetch list is local.  The daemon itself is
 * `bitlib mount` (cli/mount.c on fs/node.c); this module only talks to it
 * over its control socket (fs/ctl.h).
 *
 * Paths: the mount point is --mount, else the description's recorded
 * mount, else RUNDIR/mnt-<first 16 hex digits of the info-hash>; the
 * socket, log and registry are the control socket's defaults for that
 * mount point: RUNDIR/<key>.sock, RUNDIR/<key>.log, RUNDIR/<key>.run
 * (bl_ctl_default_path).  A non-root user also looks for a site daemon on
 * root's socket for the same mount point. */
#ifndef BL_LAUNCH_MOUNTD_H
#define BL_LAUNCH_MOUNTD_H

#include <limits.h>

#include "core/err.h"
#include "meta/metainfo.h"

typedef struct bl_mountd {
    char mountpoint[PATH_MAX];   /* canonical (bl_fusefs_canonical) */
    char sock[PATH_MAX];         /* where the daemon answers */
    char log[PATH_MAX];
    char registry[PATH_MAX];
    char site_sock[PATH_MAX];    /* root's socket for the mount point, "" for root */
    char info_hash[41];
    int pid;                     /* the daemon's, once probed */
    char mode[16];               /* its mode (hybrid, file, ...), once probed */
    char front[8];               /* "fuse", or "tree" without FUSE, once probed */
    char tree[PATH_MAX];         /* without FUSE: the set's tree (fs/tree.h), once probed */
} bl_mountd;

/* Fill d for mi; creates the runtime directory and the mount point (with
 * its parents) if missing. */
int bl_mountd_plan(bl_mountd *d, const bl_metainfo *mi, const char *mount, bl_err *err);
/* The same for a daemon without FUSE (bitlib mount --no-fuse): the mount
 * point only names the set and is neither created nor required to exist
 * (bl_tree_canonical_mount). */
int bl_mountd_plan_nofuse(bl_mountd *d, const bl_metainfo *mi, const char *mount, bl_err *err);

/* 1 if a daemon serving mi's set answers for d->mountpoint (its socket in
 * d->sock, its pid in d->pid), 0 if none answers, -1 if the daemon there
 * serves another set (err says which and what to do). */
int bl_mountd_probe(bl_mountd *d, bl_err *err);

/* Run argv[0] (a `bitlib mount` that returns once the mount works) with
 * stdout on /dev/null and every descriptor above stderr closed, so the
 * daemon holds none of the launcher's pipes; 0 if it exits 0, else -1 with
 * its last line of stderr. */
int bl_mountd_spawn(char *const argv[], bl_err *err);

/* Ask the daemon to make every file of mi's prefetch list local; returns
 * once all are (0) or the first fails (-1, with the daemon's reason).  Each
 * request is bounded by timeout_ms. */
int bl_mountd_wait_prefetch(const bl_mountd *d, const bl_metainfo *mi, int timeout_ms,
                            bl_err *err);
/* The same for n set-relative paths; what names them in messages. */
int bl_mountd_wait_files(const bl_mountd *d, const char *const *paths, size_t n,
                         const char *what, int timeout_ms, bl_err *err);
/* Without FUSE: make one file local (a set-relative path, or one under the
 * mount point) and get its path in the tree. */
int bl_mountd_fetch_tree(const bl_mountd *d, const char *path, int timeout_ms, char *out,
                         size_t outsz, bl_err *err);

#endif
