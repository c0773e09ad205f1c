/* store: see store.h.
 *
 * A piece is a span [i*piece_length, +piece_size) of the concatenated file
 * stream; for_each_segment() cuts a span into (file, file offset, bytes)
 * pieces, so single-file, multi-file, padded and unpadded layouts all go
 * through one path.  The check is the one multi-threaded part: workers
 * share only read-only state (mi, the directory fd) and an atomic piece
 * counter, each with its own buffer and its own open file. */
#include "swarm/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/sha1.h"
#include "core/sha1batch.h"
#include "swarm/picker.h"

#define MAX_CHECK_THREADS 64

struct pending {
    uint32_t piece;
    uint32_t nblocks, ngot;
    uint8_t *buf;
    uint8_t *got; /* one byte per 16 KiB block, after buf in the same allocation */
    bool hashing; /* handed out by bl_store_piece_data: buf must stay */
};

struct open_file {
    size_t file;
    int fd;
    uint64_t used;
};

#define STORE_SPARE_BUFS 32

struct bl_store {
    const bl_metainfo *mi;
    int dirfd;
    int flags;
    uint8_t *bits;
    uint32_t had;
    struct pending *pend;
    unsigned npend, max_pend;
    int32_t *slot;           /* per file: index in open[], or -1 */
    struct open_file *open;
    unsigned nopen, max_fds;
    uint64_t tick;
    bool all_new;            /* open made the directory: nothing in it to check */
    /* Buffers of finished pieces, kept for the next ones: with 16 KiB pieces
     * every block is a piece, and malloc/free per block showed in profiles. */
    uint8_t *spare[STORE_SPARE_BUFS];
    unsigned nspare;
    uint8_t *padded;         /* bitmap: pieces that end in padding (NULL: none do) */
    int write_errno;         /* of the last piece that could not be written */
    /* Read-only stores (a seeder's copy): what each data file looked like
     * when it was verified, so that a copy altered while it is served is
     * noticed (see bl_store_file_fd).  NULL: not guarding. */
    struct file_print *prints;
    uint32_t generation;     /* bumped whenever pieces were found changed on disk */
    uint64_t pieces_lost;    /* pieces that stopped matching their SHA-1 on disk */
};

/* Identity and change times of a file: a write (write, truncate, a shared
 * mapping) changes ctime, which no user can set back; replacing the file
 * (rename over it) changes the inode.  File times tick coarsely (the
 * kernel's coarse clock, up to 10 ms), so a write in the same tick as the
 * snapshot would leave it unchanged: such a snapshot is "racy" (as git
 * calls it) and the file is hashed again at its next use. */
struct file_print {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    bool known, racy;
};

#define PRINT_RACY_NS (20 * 1000000ll)

static int64_t ts_ns(struct timespec t) { return (int64_t)t.tv_sec * 1000000000ll + t.tv_nsec; }

static struct file_print print_of(const struct stat *st)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME_COARSE, &now);
    bool racy = ts_ns(st->st_ctim) + PRINT_RACY_NS >= ts_ns(now) ||
                ts_ns(st->st_mtim) + PRINT_RACY_NS >= ts_ns(now);
    return (struct file_print){st->st_dev, st->st_ino, st->st_size, st->st_mtim, st->st_ctim,
                               true, racy};
}

static bool same_print(const struct file_print *a, const struct file_print *b)
{
    return a->known && b->known && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           ts_ns(a->mtime) == ts_ns(b->mtime) && ts_ns(a->ctime) == ts_ns(b->ctime);
}

/* ---- paths ---- */

static bool component_ok(const char *c, size_t n)
{
    return n > 0 && !(n == 1 && c[0] == '.') && !(n == 2 && c[0] == '.' && c[1] == '.');
}

/* Open dirfd/path without following any symlink on the way and without
 * leaving dirfd.  Thread-safe: touches no store state. */
static int open_beneath(int dirfd, const char *path, bool create, bool rdonly, bl_err *err)
{
    char comp[256 + 1];
    int cur = dirfd;
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!component_ok(p, n) || n >= sizeof comp) {
            if (cur != dirfd) close(cur);
            return bl_fail(err, "%s: refusing unsafe path", path);
        }
        memcpy(comp, p, n);
        comp[n] = 0;
        int fd;
        if (slash) {
            fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0 && errno == ENOENT && create) {
                if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) fd = -1;
                else fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            }
        } else {
            int fl = (rdonly ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0);
            fd = openat(cur, comp, fl, 0644);
        }
        int saved = errno;
        if (cur != dirfd) close(cur);
        if (fd < 0) {
            if (saved == ELOOP || saved == ENOTDIR)
                return bl_fail(err, "%s: a component is a symlink or not a directory; refusing",
                               path);
            errno = saved;
            return bl_fail(err, "%s: %s", path, strerror(saved));
        }
        if (!slash) {
            struct stat st;
            if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                errno = EINVAL;
                return bl_fail(err, "%s: not a regular file", path);
            }
            return fd;
        }
        cur = fd;
        p = slash + 1;
    }
}

static bool is_data_file(const bl_mfile *f)
{
    return !(f->attr & (BL_ATTR_PAD | BL_ATTR_SYMLINK));
}

/* ---- fd cache ---- */

/* Files kept open by default: every data file if the fd limit allows,
 * leaving room for sockets (opening and closing a file per piece was a
 * measurable cost with a few hundred libraries), at least
 * BL_STORE_DEFAULT_FDS. */
static unsigned fd_budget(const bl_metainfo *mi)
{
    size_t files = 0;
    for (size_t f = 0; f < mi->num_files; f++) files += is_data_file(&mi->files[f]);
    struct rlimit rl;
    uint64_t room = BL_STORE_DEFAULT_FDS;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 512 + BL_STORE_DEFAULT_FDS)
        room = rl.rlim_cur - 512;
    uint64_t want = files < BL_STORE_DEFAULT_FDS ? BL_STORE_DEFAULT_FDS : files;
    return (unsigned)(want < room ? want : room);
}

static void close_slot(bl_store *s, unsigned k)
{
    struct open_file *o = &s->open[k];
    close(o->fd);
    s->slot[o->file] = -1;
    s->open[k] = s->open[--s->nopen];
    if (k < s->nopen) s->slot[s->open[k].file] = (int32_t)k;
}

static void evict_to(bl_store *s, unsigned keep)
{
    while (s->nopen > keep) {
        unsigned lru = 0;
        for (unsigned k = 1; k < s->nopen; k++)
            if (s->open[k].used < s->open[lru].used) lru = k;
        close_slot(s, lru);
    }
}

static int get_fd(bl_store *s, size_t f, bl_err *err)
{
    if (s->slot[f] >= 0) {
        struct open_file *o = &s->open[s->slot[f]];
        o->used = ++s->tick;
        return o->fd;
    }
    evict_to(s, s->max_fds - 1);
    const bl_mfile *mf = &s->mi->files[f];
    bool create = s->flags & BL_STORE_CREATE;
    int fd = open_beneath(s->dirfd, mf->path, create, s->flags & BL_STORE_READONLY, err);
    if (fd < 0) return -1;
    /* Created on first use, at its final length (sparse) at once, so a
     * file's layout on disk matches the description as soon as it exists. */
    struct stat st;
    if (create && (fstat(fd, &st) < 0 ||
                   ((uint64_t)st.st_size != mf->length && ftruncate(fd, (off_t)mf->length) < 0))) {
        int e = errno;
        close(fd);
        return bl_fail(err, "%s: cannot set length: %s", mf->path, strerror(e));
    }
    s->slot[f] = (int32_t)s->nopen;
    s->open[s->nopen++] = (struct open_file){f, fd, ++s->tick};
    return fd;
}

/* ---- I/O helpers ---- */

static int pread_full(int fd, uint8_t *buf, size_t n, uint64_t off)
{
    while (n) {
        ssize_t r = pread(fd, buf, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = ENODATA;
            return -1;
        }
        buf += r, n -= (size_t)r, off += (uint64_t)r;
    }
    return 0;
}

static int pwrite_full(int fd, const uint8_t *buf, size_t n, uint64_t off)
{
    while (n) {
        ssize_t r = pwrite(fd, buf, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = EIO;
            return -1;
        }
        buf += r, n -= (size_t)r, off += (uint64_t)r;
    }
    return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

/* Call fn for each (file, offset in file, chunk of buf) making up stream
 * bytes [start, start+len). */
typedef int (*seg_fn)(void *ctx, size_t f, uint64_t off, uint8_t *buf, size_t n, bl_err *err);

static int for_each_segment(const bl_metainfo *mi, uint64_t start, uint64_t len, uint8_t *buf,
                            seg_fn fn, void *ctx, bl_err *err)
{
    uint64_t pos = start, end = start + len;
    for (size_t f = bl_metainfo_file_at(mi, start); pos < end; f++) {
        if (f >= mi->num_files) return bl_fail(err, "span beyond the last file");
        const bl_mfile *mf = &mi->files[f];
        if (mf->length == 0) continue;
        uint64_t fend = mf->offset + mf->length;
        uint64_t n = (fend < end ? fend : end) - pos;
        if (fn(ctx, f, pos - mf->offset, buf ? buf + (pos - start) : NULL, (size_t)n, err) < 0)
            return -1;
        pos += n;
    }
    return 0;
}

static uint64_t piece_start(const bl_metainfo *mi, uint32_t piece)
{
    return (uint64_t)piece * mi->piece_length;
}

static int seg_write(void *ctx, size_t f, uint64_t off, uint8_t *buf, size_t n, bl_err *err)
{
    bl_store *s = ctx;
    const bl_mfile *mf = &s->mi->files[f];
    if (mf->attr & BL_ATTR_PAD) {
        if (!all_zero(buf, n))
            return bl_fail(err, "padding file %zu: non-zero bytes in a verified piece", f);
        return 0;
    }
    if (!is_data_file(mf)) return bl_fail(err, "%s: symlink entry holds data", mf->path);
    errno = 0;
    int fd = get_fd(s, f, err);
    if (fd < 0) {
        s->write_errno = errno ? errno : EIO;
        return -1;
    }
    if (pwrite_full(fd, buf, n, off) < 0) {
        s->write_errno = errno ? errno : EIO;
        return bl_fail(err, "%s: write: %s", mf->path, strerror(s->write_errno));
    }
    return 0;
}

static int seg_read(void *ctx, size_t f, uint64_t off, uint8_t *buf, size_t n, bl_err *err)
{
    bl_store *s = ctx;
    const bl_mfile *mf = &s->mi->files[f];
    if (!is_data_file(mf)) {
        memset(buf, 0, n);
        return 0;
    }
    int fd = get_fd(s, f, err);
    if (fd < 0) return -1;
    if (pread_full(fd, buf, n, off) < 0)
        return bl_fail(err, "%s: read: %s", mf->path,
                       errno == ENODATA ? "file shorter than the description" : strerror(errno));
    return 0;
}

/* ---- open/close ---- */

bl_store *bl_store_open(const bl_metainfo *mi, const char *dir, int flags, bl_err *err)
{
    if ((flags & BL_STORE_CREATE) && (flags & BL_STORE_READONLY)) {
        bl_fail(err, "store: create and read-only are exclusive");
        return NULL;
    }
    for (size_t f = 0; f < mi->num_files; f++)
        if ((mi->files[f].attr & BL_ATTR_SYMLINK) && mi->files[f].length) {
            bl_fail(err, "%s: symlink entry with a non-zero length", mi->files[f].path);
            return NULL;
        }
    bool made_dir = false;
    if (flags & BL_STORE_CREATE) {
        if (mkdir(dir, 0755) == 0) {
            made_dir = true;
        } else if (errno != EEXIST) {
            bl_fail(err, "%s: cannot create the directory: %s", dir, strerror(errno));
            return NULL;
        }
    }
    bl_store *s = calloc(1, sizeof *s);
    if (!s) {
        bl_fail(err, "out of memory");
        return NULL;
    }
    s->mi = mi;
    s->flags = flags;
    s->all_new = made_dir;
    s->max_pend = BL_STORE_DEFAULT_PENDING;
    s->max_fds = fd_budget(mi);
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    s->bits = calloc(mi->num_pieces / 8 + 1, 1);
    s->slot = malloc((mi->num_files ? mi->num_files : 1) * sizeof *s->slot);
    s->open = calloc(s->max_fds, sizeof *s->open);
    s->pend = calloc(s->max_pend, sizeof *s->pend);
    if (s->dirfd < 0) {
        if (errno == ENOTDIR)
            bl_fail(err, "%s is not a directory", dir);
        else
            bl_fail(err, "%s: cannot open the directory: %s", dir, strerror(errno));
        goto fail;
    }
    /* BITLIB_SERVE_GUARD=0 turns the guard off, for side-by-side cost
     * measurements (bench/serveguard) */
    const char *guard = getenv("BITLIB_SERVE_GUARD");
    if ((flags & BL_STORE_READONLY) && !(guard && !strcmp(guard, "0")) &&
        !(s->prints = calloc(mi->num_files ? mi->num_files : 1, sizeof *s->prints))) {
        bl_fail(err, "out of memory");
        goto fail;
    }
    if (!s->bits || !s->slot || !s->open || !s->pend) {
        bl_fail(err, "out of memory");
        goto fail;
    }
    for (size_t f = 0; f < mi->num_files; f++) s->slot[f] = -1;
    /* which pieces end in padding: the rest need no file lookup per block */
    for (size_t f = 0; f < mi->num_files; f++) {
        const bl_mfile *mf = &mi->files[f];
        if (!(mf->attr & BL_ATTR_PAD) || !mf->length || !mi->piece_length) continue;
        uint64_t piece = mf->offset / mi->piece_length;
        if (piece >= mi->num_pieces) continue;
        if (!s->padded && !(s->padded = calloc(mi->num_pieces / 8 + 1, 1))) {
            bl_fail(err, "out of memory");
            goto fail;
        }
        s->padded[piece >> 3] |= (uint8_t)(0x80 >> (piece & 7));
    }
    if (flags & BL_STORE_CREATE) {
        /* Data files are created when their first piece is written (get_fd),
         * so a slow file system does not hold up the first connection
         * (measured: 0.1-0.7 s before a node's first byte, with eight nodes
         * creating 200 files each on one ext4); empty files have no piece
         * and are made now. */
        for (size_t f = 0; f < mi->num_files; f++) {
            const bl_mfile *mf = &mi->files[f];
            if (!is_data_file(mf) || mf->length) continue;
            if (get_fd(s, f, err) < 0) goto fail;
        }
    }
    return s;
fail:
    bl_store_close(s);
    return NULL;
}

void bl_store_close(bl_store *s)
{
    if (!s) return;
    if (s->open)
        while (s->nopen) close_slot(s, s->nopen - 1);
    if (s->dirfd >= 0) close(s->dirfd);
    if (s->pend)
        for (unsigned k = 0; k < s->npend; k++) free(s->pend[k].buf);
    while (s->nspare) free(s->spare[--s->nspare]);
    free(s->padded);
    free(s->prints);
    free(s->pend);
    free(s->open);
    free(s->slot);
    free(s->bits);
    free(s);
}

void bl_store_set_limits(bl_store *s, unsigned max_pending, unsigned max_fds)
{
    if (max_pending && max_pending != s->max_pend) {
        struct pending *p = realloc(s->pend, (max_pending > s->npend ? max_pending : s->npend) *
                                                 sizeof *p);
        if (p) {
            s->pend = p;
            s->max_pend = max_pending;
        }
    }
    if (max_fds && max_fds != s->max_fds) {
        evict_to(s, max_fds);
        if (max_fds > s->max_fds) {
            struct open_file *o = realloc(s->open, max_fds * sizeof *o);
            if (!o) return;
            s->open = o;
        }
        s->max_fds = max_fds;
    }
}

/* ---- bitfield ---- */

bool bl_store_have(const bl_store *s, uint32_t piece)
{
    return piece < s->mi->num_pieces && (s->bits[piece >> 3] >> (7 - (piece & 7))) & 1;
}

static void mark_had(bl_store *s, uint32_t piece)
{
    if (bl_store_have(s, piece)) return;
    s->bits[piece >> 3] |= (uint8_t)(0x80 >> (piece & 7));
    s->had++;
}

const uint8_t *bl_store_bitfield(const bl_store *s) { return s->bits; }
size_t bl_store_bitfield_len(const bl_store *s) { return (s->mi->num_pieces + 7) / 8; }
uint32_t bl_store_num_had(const bl_store *s) { return s->had; }
bool bl_store_complete(const bl_store *s) { return s->had == s->mi->num_pieces; }
unsigned bl_store_num_pending(const bl_store *s) { return s->npend; }
int bl_store_write_errno(const bl_store *s) { return s->write_errno; }

int64_t bl_store_free_bytes(const bl_store *s)
{
    struct statvfs sv;
    if (fstatvfs(s->dirfd, &sv) < 0) return -1;
    return (int64_t)((uint64_t)sv.f_bavail * sv.f_frsize);
}

/* ---- pending pieces ---- */

static struct pending *find_pending(bl_store *s, uint32_t piece)
{
    for (unsigned k = 0; k < s->npend; k++)
        if (s->pend[k].piece == piece) return &s->pend[k];
    return NULL;
}

/* A piece buffer: piece_length bytes, then one byte per block. */
static size_t pending_alloc_size(const bl_metainfo *mi)
{
    return mi->piece_length + (mi->piece_length + BL_BLOCK_SIZE - 1) / BL_BLOCK_SIZE;
}

static void free_pending(bl_store *s, struct pending *p)
{
    if (s->nspare < STORE_SPARE_BUFS)
        s->spare[s->nspare++] = p->buf;
    else
        free(p->buf);
    *p = s->pend[--s->npend];
}

void bl_store_drop_pending(bl_store *s, uint32_t piece)
{
    struct pending *p = find_pending(s, piece);
    if (p && !p->hashing) free_pending(s, p);
}

int bl_store_write_block(bl_store *s, uint32_t piece, uint32_t offset, const uint8_t *data,
                         uint32_t len, bl_err *err)
{
    const bl_metainfo *mi = s->mi;
    if (s->flags & BL_STORE_READONLY) return bl_fail(err, "store is read-only");
    if (piece >= mi->num_pieces) return bl_fail(err, "piece %u out of range", piece);
    if (bl_store_have(s, piece)) return bl_fail(err, "piece %u already verified", piece);
    uint32_t psize = bl_metainfo_piece_size(mi, piece);
    uint32_t dlen = s->padded && (s->padded[piece >> 3] & (0x80 >> (piece & 7)))
                        ? bl_metainfo_piece_data_len(mi, piece) : psize;
    uint64_t end = (uint64_t)offset + len;
    if (!len || offset % BL_BLOCK_SIZE || end > psize ||
        (end % BL_BLOCK_SIZE && end != psize && end != dlen))
        return bl_fail(err, "piece %u: block [%u, +%u) is not whole 16 KiB blocks of a %u-byte "
                            "piece", piece, offset, len, psize);
    struct pending *p = find_pending(s, piece);
    if (p && p->hashing) return bl_fail(err, "piece %u: complete, being verified", piece);
    if (!p) {
        if (s->npend >= s->max_pend)
            return bl_fail(err, "piece %u: %u pieces already in flight", piece, s->max_pend);
        /* trailing padding is never sent: it is zeros by definition */
        struct pending np = {.piece = piece, .nblocks = (dlen + BL_BLOCK_SIZE - 1) / BL_BLOCK_SIZE};
        np.buf = s->nspare ? s->spare[--s->nspare] : malloc(pending_alloc_size(mi));
        if (!np.buf)
            return bl_fail(err, "piece %u: out of memory for a %u-byte buffer", piece, psize);
        np.got = np.buf + mi->piece_length;
        memset(np.got, 0, np.nblocks);
        memset(np.buf + dlen, 0, psize - dlen);
        s->pend[s->npend] = np;
        p = &s->pend[s->npend++];
    }
    memcpy(p->buf + offset, data, len);
    for (uint32_t b = offset / BL_BLOCK_SIZE; (uint64_t)b * BL_BLOCK_SIZE < end && b < p->nblocks; b++)
        if (!p->got[b]) {
            p->got[b] = 1;
            p->ngot++;
        }
    return p->ngot == p->nblocks;
}

const uint8_t *bl_store_piece_data(bl_store *s, uint32_t piece, uint32_t *len, bl_err *err)
{
    struct pending *p = find_pending(s, piece);
    if (!p || p->ngot != p->nblocks || p->hashing) {
        bl_fail(err, "piece %u: not complete, or already being verified", piece);
        return NULL;
    }
    p->hashing = true;
    *len = bl_metainfo_piece_size(s->mi, piece);
    return p->buf;
}

int bl_store_piece_hashed(bl_store *s, uint32_t piece, const uint8_t digest[BL_SHA1_LEN],
                          bl_err *err)
{
    const bl_metainfo *mi = s->mi;
    struct pending *p = find_pending(s, piece);
    if (!p || !p->hashing) return bl_fail(err, "piece %u: not being verified", piece);
    if (memcmp(digest, mi->piece_hashes + (size_t)piece * BL_SHA1_LEN, BL_SHA1_LEN) != 0) {
        free_pending(s, p);
        bl_fail(err, "piece %u: SHA-1 mismatch", piece);
        return BL_STORE_HASH_FAIL;
    }
    int before = s->write_errno;
    s->write_errno = 0;
    int rc = for_each_segment(mi, piece_start(mi, piece), bl_metainfo_piece_size(mi, piece),
                              p->buf, seg_write, s, err);
    free_pending(s, p);
    if (rc < 0) {
        bl_fail_ctx(err, "piece %u", piece);
        if (s->write_errno) return BL_STORE_WRITE_FAIL;
        s->write_errno = before;
        return -1; /* non-zero padding: the description itself is broken */
    }
    s->write_errno = before;
    mark_had(s, piece);
    return 0;
}

int bl_store_verify(bl_store *s, uint32_t piece, bl_err *err)
{
    uint32_t len;
    const uint8_t *data = bl_store_piece_data(s, piece, &len, err);
    if (!data) return -1;
    uint8_t md[BL_SHA1_LEN];
    bl_sha1(data, len, md);
    return bl_store_piece_hashed(s, piece, md, err);
}

/* ---- reads ---- */

/* [offset, offset+len) lies inside a had piece: 0, BL_STORE_NOT_HAD or -1. */
static int check_had_span(const bl_store *s, uint32_t piece, uint32_t offset, uint32_t len,
                          bl_err *err)
{
    const bl_metainfo *mi = s->mi;
    if (piece >= mi->num_pieces) return bl_fail(err, "piece %u out of range", piece);
    uint32_t psize = bl_metainfo_piece_size(mi, piece);
    if ((uint64_t)offset + len > psize)
        return bl_fail(err, "piece %u: [%u, +%u) beyond its %u bytes", piece, offset, len, psize);
    if (!bl_store_have(s, piece)) {
        bl_fail(err, "piece %u: not verified yet", piece);
        return BL_STORE_NOT_HAD;
    }
    return 0;
}

int bl_store_read(bl_store *s, uint32_t piece, uint32_t offset, uint32_t len, uint8_t *out,
                  bl_err *err)
{
    const bl_metainfo *mi = s->mi;
    int rc = check_had_span(s, piece, offset, len, err);
    if (rc != 0) return rc;
    if (for_each_segment(mi, piece_start(mi, piece) + offset, len, out, seg_read, s, err) < 0)
        return bl_fail_ctx(err, "piece %u", piece);
    return 0;
}

struct span_walk {
    const bl_store *s;
    bl_store_span_fn fn;
    void *ctx;
};

static int seg_span(void *ctx, size_t f, uint64_t off, uint8_t *buf, size_t n, bl_err *err)
{
    struct span_walk *w = ctx;
    const bl_mfile *mf = &w->s->mi->files[f];
    (void)buf;
    if (mf->attr & BL_ATTR_PAD) return w->fn(w->ctx, -1, off, (uint32_t)n);
    if (!is_data_file(mf)) return bl_fail(err, "%s: symlink entry holds data", mf->path);
    return w->fn(w->ctx, (long)f, off, (uint32_t)n);
}

int bl_store_spans(bl_store *s, uint32_t piece, uint32_t offset, uint32_t len,
                   bl_store_span_fn fn, void *ctx, bl_err *err)
{
    const bl_metainfo *mi = s->mi;
    int rc = check_had_span(s, piece, offset, len, err);
    if (rc != 0) return rc;
    struct span_walk w = {s, fn, ctx};
    return for_each_segment(mi, piece_start(mi, piece) + offset, len, NULL, seg_span, &w, err);
}

/* Hash every piece over file f again, from disk; the ones that no longer
 * match are had no more.  Returns how many were lost; says so if any were,
 * or if the file visibly changed. */
static uint32_t reverify_file(bl_store *s, size_t f, bool changed)
{
    const bl_metainfo *mi = s->mi;
    const bl_mfile *mf = &mi->files[f];
    uint32_t first, last, lost = 0, had = 0;
    bl_metainfo_piece_range(mi, f, 0, mf->length, &first, &last);
    uint8_t *buf = malloc(mi->piece_length ? mi->piece_length : 1);
    for (uint32_t i = first; i <= last && first <= last && i < mi->num_pieces; i++) {
        if (!bl_store_have(s, i)) continue;
        had++;
        uint32_t psize = bl_metainfo_piece_size(mi, i);
        uint8_t md[BL_SHA1_LEN];
        bl_err e;
        bool ok = buf && for_each_segment(mi, piece_start(mi, i), psize, buf, seg_read, s, &e) == 0;
        if (ok) {
            bl_sha1(buf, psize, md);
            ok = memcmp(md, mi->piece_hashes + (size_t)i * BL_SHA1_LEN, BL_SHA1_LEN) == 0;
        }
        if (!ok) {
            s->bits[i >> 3] &= (uint8_t)~(0x80 >> (i & 7));
            s->had--;
            lost++;
        }
    }
    free(buf);
    s->pieces_lost += lost;
    if (lost)
        bl_warn("'%s' changed on disk while being served: %u of its %u pieces no longer match "
                "the description and are not served any more (restore the file and restart "
                "the seeder to serve them again)", mf->path, lost, had);
    else if (changed)
        bl_info("'%s' changed on disk while being served; its %u pieces still match", mf->path,
                had);
    return lost;
}

/* Is file f still the one verified (one fstat per block served)?  A changed
 * file has its pieces hashed again; *lost: pieces were lost. */
static int guard_file(bl_store *s, size_t f, int fd, bool *lost, bl_err *err)
{
    struct stat st;
    *lost = false;
    if (fstat(fd, &st) < 0) return bl_fail(err, "%s: %s", s->mi->files[f].path, strerror(errno));
    struct file_print now = print_of(&st);
    bool same = same_print(&s->prints[f], &now);
    if (same && !s->prints[f].racy) return 0;
    /* the new state is the reference from now on: a change while we hash
     * shows at the next call */
    s->prints[f] = now;
    if (reverify_file(s, f, !same)) {
        s->generation++;
        *lost = true;
    }
    return 0;
}

int bl_store_file_fd(bl_store *s, size_t file, bl_err *err)
{
    if (file >= s->mi->num_files || !is_data_file(&s->mi->files[file]))
        return bl_fail(err, "file %zu holds no data", file);
    return get_fd(s, file, err);
}

bool bl_store_guarded(const bl_store *s) { return s->prints != NULL; }

int bl_store_read_served(bl_store *s, size_t file, uint64_t off, uint32_t n, uint8_t *out,
                         bl_err *err)
{
    int fd = bl_store_file_fd(s, file, err);
    if (fd < 0) return -1;
    const bl_mfile *mf = &s->mi->files[file];
    if (pread_full(fd, out, n, off) < 0)
        return bl_fail(err, "%s: read: %s", mf->path,
                       errno == ENODATA ? "file shorter than the description" : strerror(errno));
    /* after the read, not before: a write changes ctime before it changes
     * any byte, so an unchanged print means the bytes read are the ones
     * verified */
    bool lost = false;
    if (s->prints && guard_file(s, file, fd, &lost, err) < 0) return -1;
    return lost ? BL_STORE_CHANGED : 0;
}

uint32_t bl_store_generation(const bl_store *s) { return s->generation; }
uint64_t bl_store_pieces_lost(const bl_store *s) { return s->pieces_lost; }

bool bl_store_file_ready(const bl_store *s, size_t file, uint64_t off, uint64_t len)
{
    if (file >= s->mi->num_files) return false;
    uint32_t first, last;
    bl_metainfo_piece_range(s->mi, file, off, len, &first, &last);
    for (uint32_t i = first; i <= last && first <= last; i++)
        if (!bl_store_have(s, i)) return false;
    return true;
}

int64_t bl_store_read_file(bl_store *s, size_t file, uint64_t off, size_t len, uint8_t *out,
                           bl_err *err)
{
    const bl_metainfo *mi = s->mi;
    if (file >= mi->num_files) return bl_fail(err, "file %zu out of range", file);
    const bl_mfile *mf = &mi->files[file];
    if (!is_data_file(mf)) return bl_fail(err, "%s: not a data file", mf->path);
    if (off >= mf->length || !len) return 0;
    uint64_t n = mf->length - off < len ? mf->length - off : len;
    if (!bl_store_file_ready(s, file, off, n)) {
        bl_fail(err, "%s: [%llu, +%llu) not verified yet", mf->path, (unsigned long long)off,
                (unsigned long long)n);
        return BL_STORE_NOT_HAD;
    }
    int fd = get_fd(s, file, err);
    if (fd < 0) return -1;
    if (pread_full(fd, out, (size_t)n, off) < 0)
        return bl_fail(err, "%s: read: %s", mf->path,
                       errno == ENODATA ? "file shorter than the description" : strerror(errno));
    return (int64_t)n;
}

/* ---- check (multi-threaded) ---- */

struct check {
    const bl_store *s;
    atomic_uint next;
    atomic_uint done;
    atomic_bool failed;      /* a worker could not get its buffers */
    uint8_t *ok;             /* per piece; each written by one worker */
    uint8_t zero_md[BL_SHA1_LEN]; /* SHA-1 of a full piece of zeros */
};

struct reader {
    const bl_store *s;
    size_t file;
    int fd;                  /* the one file this worker has open, or -1 */
    bool file_blockless;     /* that file has no allocated blocks: all holes */
    bool all_zero;           /* the piece so far came only from holes and padding */
};

static int seg_check_read(void *ctx, size_t f, uint64_t off, uint8_t *buf, size_t n, bl_err *err)
{
    struct reader *r = ctx;
    const bl_mfile *mf = &r->s->mi->files[f];
    if (!is_data_file(mf)) {
        memset(buf, 0, n);
        return 0;
    }
    if (r->fd < 0 || r->file != f) {
        if (r->fd >= 0) close(r->fd);
        r->fd = open_beneath(r->s->dirfd, mf->path, false, true, err);
        r->file = f;
        if (r->fd < 0) return -1;
        /* A fresh cache is sparse files: reading and hashing their holes
         * would cost a full hash of the set on every start. */
        struct stat st;
        r->file_blockless = fstat(r->fd, &st) == 0 && st.st_blocks == 0;
    }
    if (r->file_blockless) {
        memset(buf, 0, n);
        return 0;
    }
    r->all_zero = false;
    return pread_full(r->fd, buf, n, off) < 0 ? -1 : 0;
}

static void check_hashed(void *arg, uint64_t piece, const uint8_t md[BL_SHA1_LEN])
{
    struct check *c = arg;
    c->ok[piece] = memcmp(md, c->s->mi->piece_hashes + (size_t)piece * BL_SHA1_LEN,
                          BL_SHA1_LEN) == 0;
}

/* Pieces a worker claims at once: small pieces are hashed as one batch
 * (core/sha1batch: 16 lanes with AVX-512); large ones one by one, so that
 * a set of few big pieces still spreads over every thread. */
#define CHECK_BATCH 16

/* Hash pieces until none are left; the progress callback only runs when
 * called from the main thread (progress != NULL). */
static void check_loop(struct check *c, bl_store_progress_fn progress, void *ud)
{
    const bl_metainfo *mi = c->s->mi;
    size_t plen = mi->piece_length ? mi->piece_length : 1;
    unsigned claim = plen <= BL_SHA1_BATCH_MAX_LEN ? CHECK_BATCH : 1;
    uint8_t *bufs = malloc(claim * plen);
    bl_err err;
    bl_sha1_batch *batch = bl_sha1_batch_new(claim > 1, check_hashed, c, &err);
    if (!bufs || !batch) atomic_store(&c->failed, true);
    struct reader r = {.s = c->s, .file = 0, .fd = -1};
    while (!atomic_load(&c->failed)) {
        unsigned first = atomic_fetch_add(&c->next, claim);
        if (first >= mi->num_pieces) break;
        unsigned end = mi->num_pieces - first < claim ? mi->num_pieces : first + claim;
        for (unsigned i = first; i < end; i++) {
            uint8_t *buf = bufs + (size_t)(i - first) * plen;
            uint32_t psize = bl_metainfo_piece_size(mi, i);
            r.all_zero = true;
            if (!bl_store_have(c->s, i) &&
                for_each_segment(mi, piece_start(mi, i), psize, buf, seg_check_read, &r,
                                 NULL) == 0) {
                if (r.all_zero && psize == mi->piece_length)
                    check_hashed(c, i, c->zero_md);
                else
                    bl_sha1_batch_submit(batch, buf, psize, i, &err);
            }
        }
        bl_sha1_batch_flush(batch); /* the buffers are reused by the next claim */
        unsigned done = atomic_fetch_add(&c->done, end - first) + (end - first);
        if (progress) progress(done, mi->num_pieces, ud);
    }
    if (r.fd >= 0) close(r.fd);
    bl_sha1_batch_free(batch);
    free(bufs);
}

static void *check_thread(void *arg)
{
    check_loop(arg, NULL, NULL);
    return NULL;
}

/* Lengths are part of the description: a file with bytes appended is not
 * the described file even when every piece over it verifies.  A writable
 * store cuts it to its length (a fetch into an older copy); a read-only one
 * (a seeder's copy) is refused, naming the file. */
static int check_lengths(bl_store *s, bl_err *err)
{
    const bl_metainfo *mi = s->mi;
    bool ro = s->flags & BL_STORE_READONLY;
    for (size_t f = 0; f < mi->num_files; f++) {
        const bl_mfile *mf = &mi->files[f];
        if (!is_data_file(mf)) continue;
        int fd = open_beneath(s->dirfd, mf->path, false, ro, NULL);
        if (fd < 0) continue; /* missing or unsafe: the check will not have its pieces */
        struct stat st;
        int rc = 0;
        if (fstat(fd, &st) < 0) {
            rc = bl_fail(err, "%s: %s", mf->path, strerror(errno));
        } else if ((uint64_t)st.st_size > mf->length && ro) {
            rc = bl_fail(err, "'%s' is %llu bytes but the description says %llu: this is not "
                              "the copy it describes", mf->path, (unsigned long long)st.st_size,
                         (unsigned long long)mf->length);
        } else if ((uint64_t)st.st_size > mf->length) {
            if (ftruncate(fd, (off_t)mf->length) < 0)
                rc = bl_fail(err, "%s: cannot cut it to the described %llu bytes: %s", mf->path,
                             (unsigned long long)mf->length, strerror(errno));
            else
                bl_info("'%s' was %llu bytes, the description says %llu: cut to length",
                        mf->path, (unsigned long long)st.st_size, (unsigned long long)mf->length);
        }
        /* the guard's reference, taken before the hashing: a change while
         * it runs shows at the first serve */
        if (rc == 0 && s->prints) s->prints[f] = print_of(&st);
        close(fd);
        if (rc < 0) return -1;
    }
    return 0;
}

int64_t bl_store_check(bl_store *s, int threads, bl_store_progress_fn progress, void *ud,
                       bl_err *err)
{
    const bl_metainfo *mi = s->mi;
    /* A fresh cache holds only holes: reading and hashing them would only
     * delay the first connection (measurably, with eight nodes starting on
     * one machine). */
    if (s->all_new) return s->had;
    if (check_lengths(s, err) < 0) return -1;
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    if (threads > MAX_CHECK_THREADS) threads = MAX_CHECK_THREADS;
    if ((uint32_t)threads > mi->num_pieces) threads = mi->num_pieces ? (int)mi->num_pieces : 1;
    struct check c = {.s = s, .ok = calloc(mi->num_pieces ? mi->num_pieces : 1, 1)};
    if (!c.ok) return bl_fail(err, "out of memory");
    atomic_init(&c.next, 0);
    atomic_init(&c.done, 0);
    atomic_init(&c.failed, false);
    uint8_t *zeros = calloc(mi->piece_length ? mi->piece_length : 1, 1);
    if (!zeros) {
        free(c.ok);
        return bl_fail(err, "out of memory");
    }
    bl_sha1(zeros, mi->piece_length, c.zero_md);
    free(zeros);
    pthread_t tid[MAX_CHECK_THREADS];
    int started = 0;
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&tid[started], NULL, check_thread, &c) != 0) {
            bl_warn("store check: could not start thread %d, continuing with %d", t, started + 1);
            break;
        }
        started++;
    }
    check_loop(&c, progress, ud);
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    /* the other threads may have examined every piece (a claim is 16) */
    if (progress) progress(atomic_load(&c.done), mi->num_pieces, ud);
    if (atomic_load(&c.failed)) {
        free(c.ok);
        return bl_fail(err, "store check: out of memory for piece buffers");
    }
    for (uint32_t i = 0; i < mi->num_pieces; i++)
        if (c.ok[i]) mark_had(s, i);
    free(c.ok);
    return s->had;
}
