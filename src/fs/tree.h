/* tree: the node daemon's front end without FUSE (bitlib mount --no-fuse).
 *
 * Instead of a mount, the set's directory tree is kept as ordinary files in
 * the node cache, next to the store:
 *
 *   CACHE/.bitlib-tree/          the set's root: directories and symlinks at
 *                                start, each regular file once every piece
 *                                of it is verified
 *   CACHE/.bitlib-tree.index     the description's names, for the LD_AUDIT
 *                                library (fs/treeidx.h), written at start
 *
 * A file appears only complete: its bytes are copied from the store into a
 * temporary name in its directory (".NAME.bitlib-tmp"), given its mode
 * (permissions and sticky; never set-user/group-ID) and mtime, then renamed
 * into place, so a name that exists is a whole verified file.  Files are
 * materialised when their last piece arrives (bl_tree_on_piece, from the
 * node's piece hook: hybrid and bulk bring the rest in the background) and
 * on request (bl_tree_materialise, from the control socket's fetch).
 * Symlinks keep their targets verbatim (an absolute one under the recorded
 * mount point leads nowhere without a mount; the LD_AUDIT library asks the
 * daemon, which resolves it inside the set).  Directories have
 * their mtime from the description always (set again after each file is
 * renamed in) and their mode with u+rwx added until the whole set is there;
 * then every mode is exactly the description's.
 *
 * The data is a copy: a set takes twice its size in the cache while the
 * tree exists.  A tree left by an earlier daemon is removed and rebuilt
 * from the store at start (its files are not verified any more).  Copies run
 * on the daemon's loop (copy_file_range; a large file holds the loop for as
 * long as the copy takes).  Every path is walked with O_NOFOLLOW from the
 * tree's root. */
#ifndef BL_FS_TREE_H
#define BL_FS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "fs/node.h"
#include "meta/metainfo.h"

#define BL_TREE_DIR ".bitlib-tree"
#define BL_TREE_INDEX ".bitlib-tree.index"

typedef struct bl_tree bl_tree;

/* The tree's root and index paths for a cache directory. */
int bl_tree_paths(const char *cache_dir, char *dir, size_t dirsz, char *index, size_t indexsz,
                  bl_err *err);

/* Refuse a description whose top-level names collide with the cache's own
 * (BL_TREE_DIR, BL_TREE_INDEX, .bitlib-lock): -1 with one line. */
int bl_tree_check(const bl_metainfo *mi, bl_err *err);

/* Canonical absolute path of a mount path that need not exist (no FUSE
 * mount is made there): bl_fusefs_canonical when its parent exists, else
 * the absolute path with '.', '//' and a trailing '/' removed; ".."
 * components are refused then. */
int bl_tree_canonical_mount(const char *path, char *out, size_t outsz, bl_err *err);

/* The tree for node (whose cache directory it lives in).  mi is the node's. */
bl_tree *bl_tree_new(bl_node *node, bl_err *err);
/* Remove an old tree, make the directories and symlinks, write the index,
 * and materialise every file already local. */
int bl_tree_start(bl_tree *t, bl_err *err);
void bl_tree_free(bl_tree *t);

/* The node's piece hook (bl_node_config.on_piece, arg: the tree). */
void bl_tree_on_piece(void *tree, uint32_t piece);

/* Make entry's file in the tree if all its pieces are local and it is not
 * there yet: 1 made or already there, 0 not local yet, -1 error (err). */
int bl_tree_materialise(bl_tree *t, size_t entry, bl_err *err);
/* The tree path of entry (set-relative path under the tree's root). */
void bl_tree_path(const bl_tree *t, size_t entry, bl_buf *out);
const char *bl_tree_dir(const bl_tree *t);
/* Files materialised so far, and regular files in the set. */
size_t bl_tree_files_done(const bl_tree *t);
size_t bl_tree_files_total(const bl_tree *t);

/* The index text (fs/treeidx.h) for mi, into out. */
void bl_tree_index_text(const bl_metainfo *mi, bl_buf *out);

#endif
