/* fsindex: the mount's file-system view of a description, for O(log n)
 * metadata without touching the network.
 *
 * Inode numbers are entry indexes + 1 (entries[0], the root, is inode 1 =
 * FUSE_ROOT_ID), so they are stable for a description and need no table.
 * Every directory gets its children sorted by name, so lookup(parent, name)
 * is a binary search and readdir walks an array.  Paths given to
 * bl_fsindex_resolve() are resolved like the kernel would, following
 * symlinks inside the set (relative targets, and absolute ones under the
 * description's recorded mount point); anything leaving the set fails.
 * Pure: no FUSE, no I/O; the index points into mi, which must outlive it. */
#ifndef BL_FS_FSINDEX_H
#define BL_FS_FSINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "core/err.h"
#include "meta/metainfo.h"

#define BL_FS_NO_ENTRY SIZE_MAX

typedef struct bl_fsindex {
    const bl_metainfo *mi;
    const char **name;      /* per entry: last path component ("" for the root) */
    size_t *parent;         /* per entry: parent entry (root: itself) */
    size_t *child_start;    /* per entry: first slot in children[] (dirs) */
    size_t *child_count;    /* per entry: number of children (dirs) */
    size_t *children;       /* entry indexes, grouped per directory, sorted by name */
    uint32_t *nsubdirs;     /* per entry: child directories (for st_nlink) */
} bl_fsindex;

int bl_fsindex_build(bl_fsindex *ix, const bl_metainfo *mi, bl_err *err);
void bl_fsindex_free(bl_fsindex *ix);

static inline uint64_t bl_fsindex_ino(size_t entry) { return (uint64_t)entry + 1; }
/* Entry of an inode number, BL_FS_NO_ENTRY if it is not one of ours. */
size_t bl_fsindex_entry(const bl_fsindex *ix, uint64_t ino);

/* Child `name` (length n) of directory entry dir; BL_FS_NO_ENTRY if absent
 * or dir is not a directory.  "." and ".." are answered too. */
size_t bl_fsindex_lookup(const bl_fsindex *ix, size_t dir, const char *name, size_t n);

/* Resolve a set-relative path ("" or "/" = root, leading '/' ignored),
 * following symlinks (at most 40) in every component, the last one
 * included when follow_last.  BL_FS_NO_ENTRY if it does not exist in the
 * set or leaves it. */
size_t bl_fsindex_resolve(const bl_fsindex *ix, const char *path, bool follow_last);

/* The stat the mount shows for an entry: mode from the description, the
 * caller's uid/gid, nlink 2 + subdirectories for directories, blocks of
 * 512 bytes, every time = mtime, st_ino = its inode number. */
void bl_fsindex_stat(const bl_fsindex *ix, size_t entry, uid_t uid, gid_t gid, struct stat *st);

/* Pieces [*first, *last] holding entry's bytes; false for entries without
 * data (directories, symlinks, empty files). */
bool bl_fsindex_pieces(const bl_fsindex *ix, size_t entry, uint32_t *first, uint32_t *last);

#endif
