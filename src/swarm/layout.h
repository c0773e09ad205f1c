/* layout: make a data directory look the way the mount shows the set.
 *
 * The store writes only file bytes.  What else the description records --
 * directories (empty ones too), symlinks, modes, mtimes -- is applied to a
 * fetched copy by bl_layout_apply once every piece is there: directories
 * and symlinks are created, then every entry gets its mode and mtime,
 * directories last and deepest first (creating a child would move a
 * directory's mtime again).  Modes keep their permission and sticky bits;
 * set-user-ID and set-group-ID bits are dropped (the mount is nosuid, and a
 * copy must not become a way to get them).
 *
 * Safety: every path is walked from the directory one component at a time
 * with O_NOFOLLOW, so a symlink already inside it never leads outside.  An
 * existing object of the wrong type is an error naming it (never removed);
 * an existing symlink with another target is replaced.
 *
 * bl_layout_prepare undoes what apply did to a copy (read-only files and
 * directories) far enough that an owner can fetch into it again: the set's
 * directories and files owned by the caller get u+w. */
#ifndef BL_SWARM_LAYOUT_H
#define BL_SWARM_LAYOUT_H

#include "core/err.h"
#include "meta/metainfo.h"

#include <stdbool.h>

/* Permissions and sticky bit: what a copy keeps of a mode (never set-user/group-ID). */
#define BL_LAYOUT_KEEP_MODE 01777u

int bl_layout_apply(const bl_metainfo *mi, const char *dir, bl_err *err);
/* Missing entries are fine; 0 or -1. */
int bl_layout_prepare(const bl_metainfo *mi, const char *dir, bl_err *err);

/* The directory holding set path `path` (relative to rootfd), walked one
 * component at a time with O_NOFOLLOW; *base points at the last component.
 * With mkdirs, missing directories on the way are created (0700).  A
 * descriptor (rootfd itself is duplicated), or -1 with errno set.  For
 * other writers of set trees (fs/tree.c). */
int bl_layout_open_parent(int rootfd, const char *path, bool mkdirs, const char **base);

#endif
