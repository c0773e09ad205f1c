/* metainfo: bitlib description files (BitTorrent v1 multi-file .torrent).
 *
 * Parsing accepts any canonical v1 metainfo (single- or multi-file, with or
 * without BEP 47 padding), so torrents from stock tools load; bitlib's own
 * files additionally carry file-system metadata under info["bitlib"]:
 *
 *   info.bitlib = { "entries": [ {"mode": i, "mtime": i, "path": s,
 *                                 ["target": s]} ... ], "version": 1 }
 *
 * one entry per directory, regular file and symlink of the set (paths are
 * '/'-joined, relative to the set root, sorted).  Outside the info dict the
 * top-level "bitlib" dict holds per-job metadata: {"env": {NAME: [s ...]},
 * "mount": s, "prefetch": [s ...]}; env names the set's directories that
 * programs run from it want on a search path (LD_LIBRARY_PATH, PYTHONPATH),
 * "" being the set's root.
 *
 * After parsing, bl_metainfo.entries lists every file-system object of the
 * set (what the mount shows) and .files the byte layout (what the wire moves),
 * padding included.  For torrents without info.bitlib, entries are derived:
 * regular files 0444 (0555 with attr 'x'), directories 0555, mtime from
 * "creation date". */
#ifndef BL_META_METAINFO_H
#define BL_META_METAINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/sha1.h"

enum {
    BL_ATTR_PAD = 1u << 0,     /* BEP 47 'p' */
    BL_ATTR_EXEC = 1u << 1,    /* 'x' */
    BL_ATTR_SYMLINK = 1u << 2, /* 'l' */
    BL_ATTR_HIDDEN = 1u << 3,  /* 'h' */
};

/* One entry of info.files: a span of the torrent's byte stream. */
typedef struct bl_mfile {
    char *path;          /* '/'-joined, relative to the set root */
    uint64_t length;
    uint64_t offset;     /* first byte in the concatenated stream */
    unsigned attr;       /* BL_ATTR_* */
    char *symlink_path;  /* BEP 47 "symlink path", joined, or NULL */
    int entry;           /* index into entries, -1 for padding */
} bl_mfile;

/* One variable of bitlib.env: directories of the set, in order. */
typedef struct bl_menv {
    char *name;          /* [A-Za-z_][A-Za-z0-9_]* */
    char **dirs;         /* set-relative directories ("" = root) */
    size_t num_dirs;
} bl_menv;

#define BL_ENV_MAX 64    /* variables, and directories per variable */

/* One object of the file system the mount shows. */
typedef struct bl_mentry {
    char *path;          /* "" is the root directory */
    uint32_t mode;       /* st_mode: type bits and permissions */
    int64_t mtime;       /* seconds since the epoch */
    uint64_t size;       /* regular files: length; symlinks: strlen(target) */
    char *target;        /* symlinks: readlink() text, verbatim */
    int file;            /* regular files: index into files, else -1 */
} bl_mentry;

typedef struct bl_metainfo {
    uint8_t info_hash[BL_SHA1_LEN];
    char *name;                  /* info.name: the set's root name */
    uint64_t piece_length;
    uint32_t num_pieces;
    const uint8_t *piece_hashes; /* 20 * num_pieces bytes (points into raw) */
    uint64_t total_length;       /* sum of files[].length, padding included */
    bool is_private;             /* BEP 27 */
    bool single_file;            /* info.length instead of info.files */
    bool has_bitlib_meta;        /* info.bitlib present */
    bl_mfile *files;
    size_t num_files;
    bl_mentry *entries;          /* sorted by path; entries[0] is the root */
    size_t num_entries;
    char ***tiers;               /* announce-list: NULL-terminated arrays */
    size_t num_tiers;
    char *mount;                 /* bitlib.mount or NULL */
    char **prefetch;             /* bitlib.prefetch */
    size_t num_prefetch;
    bl_menv *env;                /* bitlib.env, sorted by name */
    size_t num_env;
    char *comment, *created_by;
    int64_t creation_date;       /* 0 if absent */
    uint8_t *raw;                /* the whole file as read */
    size_t raw_len;
    size_t info_off, info_len;   /* byte span of the info dict in raw */
} bl_metainfo;

/* Parse a description file already in memory (takes ownership of raw, which
 * must come from malloc, on success and on failure).  Every field is
 * validated: types, ranges, paths (no "..", no empty or absolute
 * components, valid UTF-8), piece count against total length. */
int bl_metainfo_parse(bl_metainfo *mi, uint8_t *raw, size_t len, bl_err *err);
/* Read and parse a file; refuses files larger than 64 MiB. */
int bl_metainfo_load(bl_metainfo *mi, const char *path, bl_err *err);
void bl_metainfo_free(bl_metainfo *mi);

/* Find an entry by set-relative path ("" = root); NULL if absent. O(log n). */
const bl_mentry *bl_metainfo_lookup(const bl_metainfo *mi, const char *path);

/* Pieces [*first, *last] covering bytes [off, off+len) of files[f]
 * (len 0 gives an empty range: *first > *last). */
void bl_metainfo_piece_range(const bl_metainfo *mi, size_t f, uint64_t off, uint64_t len,
                             uint32_t *first, uint32_t *last);
/* Length of piece i (the last piece may be short). */
uint32_t bl_metainfo_piece_size(const bl_metainfo *mi, uint32_t i);
/* Bytes of piece i before its trailing padding (BEP 47): all a peer has to
 * send, the rest being zeros by definition.  A piece that is padding from
 * its first byte counts as all data (nothing is gained by special cases). */
uint32_t bl_metainfo_piece_data_len(const bl_metainfo *mi, uint32_t i);
/* Index of the file holding byte pos of the data stream (num_files if none;
 * empty files never hold a byte).  O(log files). */
size_t bl_metainfo_file_at(const bl_metainfo *mi, uint64_t pos);
/* Files holding bytes of piece i: files[*first .. *end) (empty files in
 * between included; check their length if it matters). */
void bl_metainfo_piece_files(const bl_metainfo *mi, uint32_t i, size_t *first, size_t *end);

/* True if s is a usable environment variable name for bitlib.env. */
bool bl_env_name_ok(const char *s);

/* True if s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
bool bl_utf8_valid(const char *s, size_t n);

#endif
