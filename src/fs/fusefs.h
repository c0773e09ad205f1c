/* fusefs: the read-only FUSE mount of a node, on the low-level libfuse 3 API
 * and on the node's one event loop (no threads).
 *
 * The session fd sits in the loop; each readable event receives and
 * processes requests.  Metadata (lookup, getattr, readdir, readlink,
 * statfs, opendir, access) comes from the description's index with long
 * kernel timeouts (the data never changes; failed lookups are cached too,
 * as entries of inode 0).  open() never waits; a read() whose pieces are
 * not local becomes a pending reply (bl_node_wait), answered when they
 * arrive, with EIO when they cannot come in time, with EINTR when the
 * caller is interrupted.  Everything that would write gets EROFS.
 *
 * Mount options: ro, nosuid, nodev, default_permissions (the kernel
 * enforces the description's modes), fsname=bitlib, subtype=bitlib, and
 * allow_other on request.  Block mode turns kernel read-ahead off so that
 * only the pieces an application reads move. */
#ifndef BL_FS_FUSEFS_H
#define BL_FS_FUSEFS_H

#include <stdbool.h>

#include <sys/types.h>

#include "core/err.h"
#include "core/evloop.h"
#include "fs/node.h"

typedef struct bl_fusefs bl_fusefs;

typedef struct bl_fusefs_config {
    bl_loop *loop;
    bl_node *node;
    const char *mountpoint;
    bool allow_other;
    double kernel_timeout_s;   /* entry/attr/negative timeouts, 0: one day */
    void (*on_ready)(void *arg);   /* the kernel finished INIT: the mount works */
    void (*on_gone)(void *arg);    /* unmounted from outside (umount, fusermount3 -u) */
    void *arg;
} bl_fusefs_config;

/* Check the mount point (an empty directory; a stale bitlib mount left by a
 * dead daemon is detached first when we may, else the error says what to
 * run), mount, and watch the session fd.  NULL with err on failure. */
bl_fusefs *bl_fusefs_mount(const bl_fusefs_config *cfg, bl_err *err);
/* The checks bl_fusefs_mount starts with (empty directory, stale mount
 * detached), for front ends that want to fail before slow start-up work. */
int bl_fusefs_check_mountpoint(const char *mountpoint, bl_err *err);
/* Unmount (pending reads are answered EIO by bl_node_stop beforehand) and
 * free.  NULL is fine.  This detaches lazily: processes still using the
 * mount get ENOTCONN from then on. */
void bl_fusefs_unmount(bl_fusefs *fs);
/* Ask the kernel to unmount unless the mount is in use (a plain unmount,
 * never lazy: EBUSY while a file is open or mapped or a directory is some
 * process's cwd), in a child process -- umount2() for root, `fusermount3 -u`
 * otherwise -- so that the daemon keeps serving meanwhile (fusermount3 may
 * look at the mount point).  Returns the child's pid: exit status 0 means
 * unmounted (the session then ends; bl_fusefs_unmount is still due), any
 * other the mount stayed.  -1 if no child could be started. */
pid_t bl_fusefs_unmount_if_idle(bl_fusefs *fs, bl_err *err);

/* Detach the mount on mp lazily (root: umount2 MNT_DETACH; otherwise
 * `fusermount3 -uz`, which lets a user detach only their own mounts): for
 * a mount whose daemon is gone.  0 or -1. */
int bl_fusefs_detach(const char *mp);

/* Canonical absolute path of a mount point without touching the mount
 * itself (realpath of its parent + its name, after following a symlink
 * that is its last component), so it works on stale mounts. */
int bl_fusefs_canonical(const char *mountpoint, char *out, size_t outsz, bl_err *err);

#endif
