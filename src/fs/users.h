/* users: who keeps a mount busy, found in /proc without touching the mount.
 *
 * A mount is in use while some process has a file of it open, mapped
 * (a loaded library), or a directory of it as working or root directory.
 * The daemon serving the mount must not stat its own mount point (it would
 * wait for itself), so everything is read from /proc: the mount's id and
 * device from /proc/self/mountinfo, then per process the "mnt_id" of every
 * fdinfo, the device of every mapping, and the cwd/root links as text.
 * Processes of other users are invisible to an ordinary user: the counts
 * are then lower bounds (partial). */
#ifndef BL_FS_USERS_H
#define BL_FS_USERS_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/err.h"

typedef struct bl_mount_users {
    unsigned files;        /* open files, mapped files and cwd/root dirs */
    unsigned processes;    /* processes holding at least one */
    pid_t example_pid;     /* one of them (0: none) */
    char example_comm[32];
    bool partial;          /* some processes could not be examined */
} bl_mount_users;

/* Count the users of the mount at canonical path mp (not examining the
 * calling process).  -1 if mp is not a mount point in /proc/self/mountinfo. */
int bl_mount_users_count(const char *mp, bl_mount_users *u, bl_err *err);

/* True if a bitlib FUSE file system (fuse.bitlib) is mounted at canonical
 * path mp, from /proc/self/mountinfo (the mount is not touched).  With fn,
 * calls fn(mount point, arg) for every bitlib mount instead (mp ignored). */
bool bl_mount_bitlib_at(const char *mp, void (*fn)(const char *mp, void *arg), void *arg);

/* "3 open files in 2 processes, e.g. pid 123 (python3)" */
void bl_mount_users_text(const bl_mount_users *u, char *out, size_t outsz);

#endif
