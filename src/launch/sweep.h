/* sweep: clear what dead daemons and SIGKILLed jobs leave behind, for
 * `bitlib cache gc` (the next `bitlib run` clears its own mount's share
 * of it as it joins).
 *
 * Removed, each only when it is certainly dead:
 *   - a bitlib FUSE mount whose daemon is gone (the kernel answers
 *     ENOTCONN; probed in a child process, so a stopped daemon cannot hang
 *     us): detached lazily (root: umount2, else fusermount3 -uz, which only
 *     lets a user detach their own);
 *   - in a runtime directory (fs/ctl.h): a control socket nobody listens on
 *     (older than a few seconds, so a daemon binding it now is left alone);
 *     a registry (launch/registry.h) with no live holder and no daemon
 *     answering its socket, taken under its lock; a default mount point
 *     (mnt-<hex>) that is an empty directory, not mounted, under the lock of
 *     its registry so a rank starting a daemon there never loses it.
 * Logs stay: they say why a daemon died.  fn is told each thing removed
 * (or, with dry_run, that would be) and each that could not be. */
#ifndef BL_LAUNCH_SWEEP_H
#define BL_LAUNCH_SWEEP_H

#include <stdbool.h>

typedef enum bl_sweep_kind {
    BL_SWEEP_MOUNT,        /* a stale FUSE mount */
    BL_SWEEP_SOCKET,       /* a dead control socket */
    BL_SWEEP_REGISTRY,     /* a registry without holders or daemon */
    BL_SWEEP_MOUNTPOINT,   /* an unused default mount point */
} bl_sweep_kind;

/* error NULL: removed (or would be); else why it could not be. */
typedef void (*bl_sweep_fn)(bl_sweep_kind kind, const char *path, const char *error, void *arg);

/* Every stale bitlib mount in this mount namespace. */
void bl_sweep_mounts(bool dry_run, bl_sweep_fn fn, void *arg);
/* One runtime directory. */
void bl_sweep_rundir(const char *dir, bool dry_run, bl_sweep_fn fn, void *arg);

const char *bl_sweep_kind_name(bl_sweep_kind kind);

#endif
