/* cache: where a node daemon keeps a set's verified pieces, and the lock
 * that makes it the only writer.
 *
 * Layout of the default caches (node-local tmpfs, one tree per user, root
 * included):
 *
 *   /dev/shm/bitlib-<uid>/           0700, owned by <uid>; anything else there
 *                                    (a symlink, another owner, group or other
 *                                    access) is refused, never used
 *     <info-hash>/                   one set's cache: the store's layout
 *                                    (swarm/store.h), 40 lower-case hex digits
 *       .bitlib-lock                 flock()ed LOCK_EX by the daemon writing
 *                                    the cache, for its whole life; its text
 *                                    is "pid <pid> mount <mount point>\n"
 *     <info-hash>.<n>/               n = 2..16: a second mount of the same
 *                                    description while <info-hash>/ is held
 *                                    gets a cache of its own (said in one line)
 *
 * A cache is in use while its lock is held (bl_cache_holder); one nobody
 * holds may be reused or removed.  Two daemons never write one cache: an
 * explicit --cache DIR another daemon holds is refused, and so is a cache
 * this user cannot write (another user's), at mount time, with one line.
 * The lock is taken before the daemon detaches; the detached daemon
 * inherits it (flock locks belong to the open file, which fork shares) and
 * writes its own pid into it (bl_cache_set_owner). */
#ifndef BL_FS_CACHE_H
#define BL_FS_CACHE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/err.h"
#include "meta/metainfo.h"

#define BL_CACHE_LOCK ".bitlib-lock"
#define BL_CACHE_MAX_INSTANCES 16

typedef struct bl_cache {
    char dir[PATH_MAX];
    int lock_fd;         /* -1: not held */
} bl_cache;

/* The per-user root, /dev/shm/bitlib-<euid>, made (0700) if missing and
 * checked: a directory, owned by us, no group or other access. */
int bl_cache_default_root(char *out, size_t outsz, bool create, bl_err *err);

/* Choose, make and lock the cache for a mount of mi on mountpoint.  dir:
 * the user's --cache, or NULL for the default (the first free instance
 * under the per-user root).  note (notesz bytes, may be NULL) is set to one
 * line to show the user when the default cache was held by another daemon
 * and another one was chosen, else "". */
int bl_cache_open(bl_cache *c, const char *dir, const bl_metainfo *mi, const char *mountpoint,
                  char *note, size_t notesz, bl_err *err);
/* Record the daemon holding the lock (after it detached). */
void bl_cache_set_owner(bl_cache *c, const char *mountpoint);
/* Release the lock (the cache stays, warm for the next mount). */
void bl_cache_close(bl_cache *c);

/* True if a daemon holds the cache in dir; *pid and mount (mountsz bytes)
 * get what its lock file says (0 and "" if unreadable).  For `bitlib cache`
 * and for messages. */
bool bl_cache_holder(const char *dir, pid_t *pid, char *mount, size_t mountsz);
/* The lock file's text "pid <pid> mount <mount point>\n" (NUL-terminated):
 * *pid 0 and mount "" when it is not that.  Apart for the fuzzer. */
void bl_cache_parse_owner(const char *text, pid_t *pid, char *mount, size_t mountsz);

#endif
