/* store: a node's verified piece cache, laid out as the description's files.
 *
 * Under DIR every non-padding file of the description is a plain file at
 * DIR/<path> (a single-file torrent: DIR/<name>), created sparse at its
 * length when its first piece is written (empty files: when the store is
 * opened).  Padding (BEP 47) is never stored: it reads as zeros.  Symlink
 * entries carry no data and are not created (the file system shows them
 * from the description).
 *
 * Blocks from peers are buffered in memory per piece; once a piece is
 * complete bl_store_verify() checks its SHA-1 and only then writes it to
 * the files and marks it had.  Unverified bytes are never readable: reads
 * succeed only over had pieces.  A piece may span several files (stock
 * torrents have no padding), and files may be empty.
 *
 * Paths: every component is opened with openat(O_NOFOLLOW) from DIR, so a
 * symlink planted inside DIR cannot redirect a read or write outside it.
 *
 * Single-threaded, except bl_store_check(), which hashes on several
 * threads and returns only when they are done.  The store keeps a pointer
 * to mi: it must outlive the store. */
#ifndef BL_SWARM_STORE_H
#define BL_SWARM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/sha1.h"
#include "meta/metainfo.h"

enum {
    BL_STORE_CREATE = 1 << 0,   /* create DIR, and the files and their directories on use */
    BL_STORE_READONLY = 1 << 1, /* a seeder's existing copy: never modified */
};

/* Return codes besides 0 and -1 (I/O or usage error, err filled). */
enum {
    BL_STORE_HASH_FAIL = -2, /* bl_store_verify: data did not match: blame the peer(s) */
    BL_STORE_NOT_HAD = -3,   /* a read touched a piece that is not verified yet */
    BL_STORE_WRITE_FAIL = -4,/* a verified piece could not be written (disk full, quota,
                              * I/O error): a local problem, never the peers'; the piece
                              * is not had, bl_store_write_errno() says why */
    BL_STORE_CHANGED = -5,   /* bl_store_read_served: the file changed on disk and pieces
                              * were lost: bl_store_generation moved, serve nothing */
};

#define BL_STORE_DEFAULT_PENDING 64
#define BL_STORE_DEFAULT_FDS 64

typedef struct bl_store bl_store;

/* Open (and with BL_STORE_CREATE, create) the cache in dir.  No piece is had
 * until bl_store_check() or bl_store_verify() says so.  Without CREATE,
 * missing files are not an error: their pieces are simply not had.
 * BL_STORE_READONLY excludes CREATE and every write. */
bl_store *bl_store_open(const bl_metainfo *mi, const char *dir, int flags, bl_err *err);
void bl_store_close(bl_store *s);

/* Bounds: pieces buffered at once (writes to a new piece beyond it fail),
 * files kept open (by default every data file, as far as RLIMIT_NOFILE at
 * open time leaves 512 descriptors for other uses; at least 64).  0 leaves
 * a bound unchanged. */
void bl_store_set_limits(bl_store *s, unsigned max_pending, unsigned max_fds);

/* Buffer bytes [offset, offset+len) of a piece.  offset must be a multiple
 * of 16 KiB (BL_BLOCK_SIZE) and the span must end on a 16 KiB boundary, at
 * the piece's end, or where its trailing padding begins
 * (bl_metainfo_piece_data_len: padding is zeros and need not be sent).
 * Returns 1 when every block of the piece's data is buffered (call
 * bl_store_verify), 0 when more are needed,
 * -1 on error (bad span, piece already had, too many pieces pending,
 * read-only store, out of memory). */
int bl_store_write_block(bl_store *s, uint32_t piece, uint32_t offset, const uint8_t *data,
                         uint32_t len, bl_err *err);
/* Check a complete buffered piece against its SHA-1; on a match write it
 * (padding must be zero and is not written) and mark it had: returns 0.
 * BL_STORE_HASH_FAIL: mismatch, the buffer is dropped.  BL_STORE_WRITE_FAIL:
 * writing it failed (the buffer is dropped, the piece is not had; bytes
 * already written stay unverified, so nothing wrong is ever read).  -1: not
 * complete. */
int bl_store_verify(bl_store *s, uint32_t piece, bl_err *err);
/* The same in two steps, so that pieces can be hashed in batches
 * (core/sha1batch): bl_store_piece_data gives a complete buffered piece,
 * padding included, len = its size (NULL: not complete, or already handed
 * out).  The bytes stay unchanged, and further writes to the piece are
 * refused, until bl_store_piece_hashed passes its SHA-1 and gets
 * bl_store_verify's result. */
const uint8_t *bl_store_piece_data(bl_store *s, uint32_t piece, uint32_t *len, bl_err *err);
int bl_store_piece_hashed(bl_store *s, uint32_t piece, const uint8_t digest[BL_SHA1_LEN],
                          bl_err *err);
/* Forget a buffered piece (the picker gave it up); not one handed out by
 * bl_store_piece_data and not yet hashed. */
void bl_store_drop_pending(bl_store *s, uint32_t piece);
unsigned bl_store_num_pending(const bl_store *s);
/* errno of the last BL_STORE_WRITE_FAIL (0: none yet). */
int bl_store_write_errno(const bl_store *s);
/* Bytes an unprivileged writer may still use on the store's file system
 * (statvfs), or -1 if unknown. */
int64_t bl_store_free_bytes(const bl_store *s);

/* Serving without copies: where bytes [offset, offset+len) of a had piece
 * lie.  fn(ctx, file, off, n) is called per stretch, in order: file >= 0
 * is a data file (read n bytes at off through bl_store_file_fd), file -1
 * is padding (n zero bytes, not stored).  A negative return from fn stops
 * the walk.  0, BL_STORE_NOT_HAD, or -1 (span outside the piece, or fn
 * failed: fn fills err). */
typedef int (*bl_store_span_fn)(void *ctx, long file, uint64_t off, uint32_t n);
int bl_store_spans(bl_store *s, uint32_t piece, uint32_t offset, uint32_t len,
                   bl_store_span_fn fn, void *ctx, bl_err *err);
/* Descriptor of data file `file` from the store's cache (opened on demand):
 * valid until the next call into the store; never close it.  -1 on error.
 * For sendfile from a store that is not guarded (bl_store_guarded false). */
int bl_store_file_fd(bl_store *s, size_t file, bl_err *err);
/* A read-only store (a seeder's copy) is guarded: it checks that a file is
 * still the one it verified (inode, size, mtime, ctime: one fstat) after
 * every read for serving; if not, it hashes the file's pieces again, those
 * that no longer match are had no more (logged, counted in
 * bl_store_pieces_lost) and, if any was lost, bl_store_generation changes:
 * whatever was queued to be served before is suspect.  Such a store must be
 * served by copy (bl_store_read_served), never by sendfile: sendfile hands
 * the socket references to page-cache pages, and a write after the check
 * changes bytes still waiting in the send queue (seen in
 * t_fault_seed_altered at 16 Mbit/s, where the queue holds a second of
 * data).  Left open: a write within one tick of the file system's clock of
 * the start-up snapshot; receivers verify every piece anyway.
 * BITLIB_SERVE_GUARD=0 in the environment turns the guard off (for
 * measurements). */
bool bl_store_guarded(const bl_store *s);
/* n bytes of data file `file` at off into out, read and then checked as
 * above: 0 (the bytes are the verified ones), BL_STORE_CHANGED, or -1. */
int bl_store_read_served(bl_store *s, size_t file, uint64_t off, uint32_t n, uint8_t *out,
                         bl_err *err);
uint32_t bl_store_generation(const bl_store *s);
uint64_t bl_store_pieces_lost(const bl_store *s);

/* Piece-level read for serving peers: [offset, offset+len) of a had
 * piece.  0, BL_STORE_NOT_HAD, or -1 (span outside the piece, I/O error). */
int bl_store_read(bl_store *s, uint32_t piece, uint32_t offset, uint32_t len, uint8_t *out,
                  bl_err *err);
/* File-level read (FUSE): up to len bytes of files[file] from off; short at
 * the end of the file.  Returns the byte count, BL_STORE_NOT_HAD if a
 * covering piece is not had, or -1 (padding or symlink file, I/O error). */
int64_t bl_store_read_file(bl_store *s, size_t file, uint64_t off, size_t len, uint8_t *out,
                           bl_err *err);
/* True if every piece covering [off, off+len) of files[file] is had. */
bool bl_store_file_ready(const bl_store *s, size_t file, uint64_t off, uint64_t len);

/* Hash the pieces already on disk and mark the matching ones had (pieces
 * already had are not re-hashed).  First, files longer than the
 * description says are cut to length (a read-only store refuses them,
 * naming the first: -1).  threads <= 0: one per online CPU.
 * progress (may be NULL) runs on the calling thread now and then, and once
 * when every piece has been examined, with the number examined so far.
 * Returns the number of pieces had afterwards, or -1 if the check could
 * not run. */
typedef void (*bl_store_progress_fn)(uint32_t done, uint32_t total, void *ud);
int64_t bl_store_check(bl_store *s, int threads, bl_store_progress_fn progress, void *ud,
                       bl_err *err);

/* Had pieces, wire order (bit 7 of byte 0 = piece 0), (num_pieces+7)/8
 * bytes, spare bits zero. */
const uint8_t *bl_store_bitfield(const bl_store *s);
size_t bl_store_bitfield_len(const bl_store *s);
bool bl_store_have(const bl_store *s, uint32_t piece);
uint32_t bl_store_num_had(const bl_store *s);
bool bl_store_complete(const bl_store *s);

#endif
