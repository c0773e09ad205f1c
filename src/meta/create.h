/* create: build a description file from directories on disk.
 *
 * The set is one directory (its contents become the set root) or several
 * (each becomes a top-level directory named by its basename).  Regular files
 * are laid out in path order, each starting on a piece boundary (BEP 47
 * padding files between them); symlinks and directories, empty ones too, are
 * recorded in info.bitlib.  FIFOs, sockets and device nodes cannot be
 * distributed: they are skipped with one warning line each.  A name that is
 * not valid UTF-8 is refused (stock clients cannot represent it).
 *
 * Piece hashes are computed on all cores.  The result is encoded canonical
 * bencode, ready to write. */
#ifndef BL_META_CREATE_H
#define BL_META_CREATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "meta/metainfo.h"

#define BL_PIECE_MIN (16u << 10)
#define BL_PIECE_MAX (16u << 20)

/* How padding files are named.  BEP 47 suggests ".pad/N" (N its length),
 * so paddings of one length share a path; BEP 47 clients tell them apart by
 * attribute 'p', but some older clients refuse two files with one path
 * (rakshasa libtorrent before its 2025 fix, e.g. Debian 12's 0.13.8:
 * "Duplicate filename found").  Unique names are ".pad/N-K", K numbering
 * the padding files from 1; they are still marked 'p'. */
enum bl_pad_names { BL_PAD_NAMES_BEP47 = 0, BL_PAD_NAMES_UNIQUE = 1 };

typedef struct bl_create_opts {
    const char *const *dirs;     /* directories on disk */
    size_t num_dirs;
    const char *name;            /* info.name; NULL: basename of the one dir */
    uint32_t piece_length;       /* 0: automatic */
    const char *const *trackers; /* each its own tier, in order */
    size_t num_trackers;
    const char *mount;           /* absolute mount point or NULL */
    const char *const *prefetch; /* set-relative paths, must exist in the set */
    size_t num_prefetch;
    const char *const *prefetch_from; /* executables: add their DT_NEEDED closure */
    size_t num_prefetch_from;
    const char *const *libpath;  /* LD_LIBRARY_PATH emulation for prefetch_from */
    size_t num_libpath;
    const bl_menv *env;          /* search paths for programs run from the set (sorted by
                                    name, names unique; dirs set-relative, "" = root) */
    size_t num_env;
    bool is_private;
    const char *comment;
    int threads;                 /* 0: one per online CPU */
    enum bl_pad_names pad_names; /* default BL_PAD_NAMES_BEP47 */
} bl_create_opts;

typedef struct bl_create_stats {
    size_t files, dirs, symlinks, skipped;
    uint64_t data_bytes, padding_bytes;
    uint32_t piece_length, pieces;
    double hash_seconds;
} bl_create_stats;

/* Build the description into out (appended).  stats may be NULL. */
int bl_create(const bl_create_opts *o, bl_buf *out, bl_create_stats *stats, bl_err *err);

/* The name a directory of the set goes by: the last component of its real
 * path (so "." and "lib/" work).  Returns buf. */
const char *bl_create_dir_name(const char *dir, char *buf, size_t bufsz);

/* The automatic piece size for a set of files: the smallest power of two in
 * [16 KiB, 16 MiB] that keeps the piece count (padding included) at or
 * below 16384. */
uint32_t bl_create_auto_piece_length(const uint64_t *sizes, size_t n);

#endif
