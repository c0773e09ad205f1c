/* treeidx: the small index of a set's names that the daemon without FUSE
 * writes for the LD_AUDIT library (fs/tree.h, src/audit/), and the parsing
 * of the control socket's fetch reply that library needs.  Plain libc, no
 * other bitlib module: the audit library is built from this file and its
 * own, so that it stays small and links nothing of libbitlib.
 *
 * Format (text):
 *   bitlib-tree-index 1\n
 *   T PATH\n ...         one line per entry but the root, T: f (regular
 *                        file), d (directory) or l (symlink); PATH
 *                        set-relative, without '\n' or NUL, its components
 *                        non-empty and not "." or ".."; lines sorted by
 *                        strcmp of PATH, each PATH once
 *
 * bl_treeidx_classify answers, from the names alone, what a candidate path
 * the loader tries is: a regular file of the set, nothing the set holds (the
 * loader skips it without any file system being touched), or a path through
 * a symlink (the daemon resolves it). */
#ifndef BL_FS_TREEIDX_H
#define BL_FS_TREEIDX_H

#include <stddef.h>

#define BL_TREEIDX_MAGIC "bitlib-tree-index 1\n"
#define BL_TREEIDX_MAX_BYTES (256u << 20) /* a larger index is refused */

typedef struct bl_treeidx {
    const char *text;   /* not owned; must outlive the index */
    size_t len;
    size_t *line;       /* offsets of each line's PATH (after "T ") */
    size_t n;
} bl_treeidx;

/* Check text[0..len) and index its lines: 0, or -1 if it is not a well-formed
 * index (wrong header, a malformed or unsorted line, too large) or memory
 * runs out. */
int bl_treeidx_parse(bl_treeidx *ix, const char *text, size_t len);
void bl_treeidx_free(bl_treeidx *ix);

/* Type letter of set-relative path p (length n): 'f', 'd', 'l', or 0. */
char bl_treeidx_type(const bl_treeidx *ix, const char *p, size_t n);

enum {
    BL_TREEIDX_MISS = 0, /* not in the set (or a directory): skip it */
    BL_TREEIDX_FILE = 1, /* a regular file: norm holds its set-relative path */
    BL_TREEIDX_ASK = 2,  /* leads through a symlink of the set: ask the daemon */
};
/* Classify set-relative rel ('.' and empty components are dropped, ".."
 * goes up, which is exact while every component before it is a real
 * directory; a ".." above the root is a miss).  norm gets the normalised
 * path (BL_TREEIDX_FILE); a path longer than normsz is a miss. */
int bl_treeidx_classify(const bl_treeidx *ix, const char *rel, char *norm, size_t normsz);

/* A control socket reply line to "fetch PATH" (fs/ctl.h): 1 if "ok":true,
 * with the string field key (e.g. "tree") copied to out (JSON escapes
 * decoded; \u only below 0x80); 0 if "ok":false, with "error" in out; -1 if
 * the line is not such a reply or the field is missing or does not fit. */
int bl_treeidx_reply(const char *line, const char *key, char *out, size_t outsz);

#endif
