/* watch: the daemon's side of the registry (launch/registry.h): leave when
 * the last process using the mount has gone.
 *
 * The watch keeps a pidfd per live holder in the daemon's loop.  When a
 * holder exits (normally, by a signal, by SIGKILL) its pidfd becomes
 * readable: its entry is removed and the registry re-read, which also finds
 * holders that registered meanwhile.  When none is left and DIR/keep is
 * absent, the watch takes the registry's lock, counts once more (a rank may
 * have joined a moment ago) and, if still none, calls fn: the daemon stops.
 * The lock stays held from that decision until bl_reg_watch_free, after the
 * daemon has unmounted, so a rank arriving meanwhile waits and then starts
 * a new daemon instead of joining one that is leaving.  A timer re-reads
 * the registry every 2 s as well, for holders that came and went while none
 * was watched (and for kernels without pidfds, where it is the only way). */
#ifndef BL_LAUNCH_WATCH_H
#define BL_LAUNCH_WATCH_H

#include <stddef.h>

#include "core/err.h"
#include "core/evloop.h"

typedef struct bl_reg_watch bl_reg_watch;

bl_reg_watch *bl_reg_watch_new(bl_loop *loop, const char *dir, void (*fn)(void *arg), void *arg,
                               bl_err *err);
/* Live holders being watched now. */
size_t bl_reg_watch_count(const bl_reg_watch *w);
/* Stop watching.  Removes the registry unless a live holder remains (the
 * daemon was stopped while in use: the holders' files stay until someone
 * finds them stale), releasing the lock if the watch held it.  NULL is fine. */
void bl_reg_watch_free(bl_reg_watch *w);

#endif
