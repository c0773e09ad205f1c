/* cachedir: the node caches that outlive mounts, as `bitlib cache ls` and
 * `bitlib cache gc` see them (the layout is cache.h's).
 *
 * A cache is a directory named by an info-hash (40 lower-case hex digits,
 * optionally ".N", N = 2..16) under a cache root, or any directory holding
 * a .bitlib-lock.  It is in use while a daemon holds its lock; its "last
 * use" is when a daemon last let go of it (the lock file's mtime, which
 * bl_cache_close touches) or the last change of its directory, the later.
 *
 * Removal never races a mount: bl_cachedir_remove takes the cache's lock
 * (failing if a daemon holds it), renames the directory to a hidden name
 * in the same root while holding it, and only then deletes the renamed
 * tree, never following a symlink.  A mount starting meanwhile finds the
 * lock held or the directory gone (and makes a fresh one); cache.c checks
 * after locking that its lock file is still the one at the cache's path. */
#ifndef BL_FS_CACHEDIR_H
#define BL_FS_CACHEDIR_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/err.h"

#define BL_CACHEDIR_TRASH ".bitlib-gc-"   /* prefix of a tree being deleted */

typedef struct bl_cachedir {
    char path[PATH_MAX];
    char info_hash[41];      /* "" for an explicit --cache directory */
    uint64_t bytes;          /* allocated on disk (sparse files count what they hold) */
    uint64_t files;
    time_t last_use;
    bool held;               /* a daemon holds it now */
    pid_t pid;               /* the holder's (or the last holder's) pid, 0 if unknown */
    char mount[PATH_MAX];    /* that daemon's mount point, "" if unknown */
} bl_cachedir;

/* Describe one cache directory (whatever its name).  -1 if it is not one
 * (no such directory, or neither an info-hash name nor a lock file). */
int bl_cachedir_stat(const char *path, bl_cachedir *c, bl_err *err);

/* Call fn for every cache directly under root, in no particular order, and
 * for every leftover tree of an interrupted removal (trash: true; c->path
 * names it, c->bytes its size).  -1 if root cannot be read. */
int bl_cachedir_scan(const char *root,
                     void (*fn)(const bl_cachedir *c, bool trash, void *arg), void *arg,
                     bl_err *err);

/* Remove a cache nobody holds, as described above.  1: removed; 0: a
 * daemon holds it (nothing touched); -1: error (err says what). */
int bl_cachedir_remove(const char *path, bl_err *err);

/* Delete a tree without following symlinks (a leftover trash tree). */
int bl_cachedir_rmtree(const char *path, bl_err *err);

/* True if name is an info-hash cache name ("<40 hex>" or "<40 hex>.N"). */
bool bl_cachedir_is_name(const char *name);

#endif
