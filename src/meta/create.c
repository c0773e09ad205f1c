/* Description-file builder (contract in create.h). */
#include "meta/create.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/bencode.h"
#include "core/log.h"
#include "core/sha1.h"
#include "core/sha1batch.h"
#include "core/version.h"
#include "meta/metainfo.h"
#include "meta/jobmeta.h"
#include "meta/prefetch.h"

#define MAX_NODES 4000000u
#define MAX_DEPTH 64
#define MAX_PIECES_AUTO 16384u

/* One object found on disk. */
typedef struct node {
    char *set_path;    /* relative to the set root, "" for the root */
    char *disk_path;
    uint32_t mode;
    int64_t mtime;
    uint64_t size;
    char *target;      /* symlinks */
    uint64_t offset;   /* regular files: position in the byte stream */
} node;

typedef struct walk {
    node *nodes;
    size_t n, cap;
    size_t skipped;
    bl_err *err;
} walk;

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    size_t k = la;
    if (la && lb)
        s[k++] = '/';
    memcpy(s + k, b, lb);
    s[k + lb] = '\0';
    return s;
}

static int add_node(walk *w, const char *set_path, const char *disk_path, const struct stat *st)
{
    if (w->n >= MAX_NODES)
        return bl_fail(w->err, "more than %u files and directories in the set", MAX_NODES);
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        node *nn = realloc(w->nodes, cap * sizeof *nn);
        if (!nn)
            return bl_fail(w->err, "out of memory");
        w->nodes = nn;
        w->cap = cap;
    }
    node *nd = &w->nodes[w->n];
    memset(nd, 0, sizeof *nd);
    nd->set_path = strdup(set_path);
    nd->disk_path = strdup(disk_path);
    if (!nd->set_path || !nd->disk_path) {
        free(nd->set_path);
        free(nd->disk_path);
        return bl_fail(w->err, "out of memory");
    }
    nd->mode = (uint32_t)(st->st_mode & (S_IFMT | 07777));
    nd->mtime = (int64_t)st->st_mtime;
    nd->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
    w->n++;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walk disk directory `disk` whose set path is `set`; its own node exists. */
static int walk_dir(walk *w, const char *disk, const char *set, int depth)
{
    if (depth > MAX_DEPTH)
        return bl_fail(w->err, "%s: directories nested deeper than %d", disk, MAX_DEPTH);
    DIR *d = opendir(disk);
    if (!d)
        return bl_fail(w->err, "%s: cannot read directory: %s", disk, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    errno = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = bl_fail(w->err, "out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n++] = strdup(de->d_name))) {
            rc = bl_fail(w->err, "out of memory");
            break;
        }
    }
    if (!rc && errno)
        rc = bl_fail(w->err, "%s: reading directory: %s", disk, strerror(errno));
    closedir(d);
    if (!rc && n > 1)
        qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n && !rc; i++) {
        char *dp = join(disk, names[i]);
        char *sp = join(set, names[i]);
        struct stat st;
        if (!dp || !sp) {
            rc = bl_fail(w->err, "out of memory");
        } else if (!bl_utf8_valid(names[i], strlen(names[i]))) {
            char safe[256];
            rc = bl_fail(w->err, "%s: file name is not valid UTF-8 (%s); rename it or "
                                 "leave it out of the set",
                         disk, bl_log_safe(safe, sizeof safe, names[i], strlen(names[i])));
        } else if (strlen(sp) > 4096) {
            rc = bl_fail(w->err, "%s: path longer than 4096 bytes", dp);
        } else if (lstat(dp, &st) < 0) {
            rc = bl_fail(w->err, "%s: %s", dp, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            rc = add_node(w, sp, dp, &st);
            if (!rc)
                rc = walk_dir(w, dp, sp, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            rc = add_node(w, sp, dp, &st);
        } else if (S_ISLNK(st.st_mode)) {
            char buf[PATH_MAX];
            ssize_t l = readlink(dp, buf, sizeof buf - 1);
            if (l < 0) {
                rc = bl_fail(w->err, "%s: readlink: %s", dp, strerror(errno));
            } else if (!bl_utf8_valid(buf, (size_t)l)) {
                rc = bl_fail(w->err, "%s: symlink target is not valid UTF-8", dp);
            } else if (l == 0) {
                rc = bl_fail(w->err, "%s: empty symlink target", dp);
            } else {
                buf[l] = '\0';
                rc = add_node(w, sp, dp, &st);
                if (!rc && !(w->nodes[w->n - 1].target = strdup(buf)))
                    rc = bl_fail(w->err, "out of memory");
                if (!rc)
                    w->nodes[w->n - 1].size = (uint64_t)l;
            }
        } else {
            /* FIFOs, sockets, devices: no bytes to distribute. */
            bl_warn("%s: skipped (not a regular file, directory or symlink)", dp);
            w->skipped++;
        }
        free(dp);
        free(sp);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int cmp_node(const void *a, const void *b)
{
    return strcmp(((const node *)a)->set_path, ((const node *)b)->set_path);
}

static const node *find_node(const walk *w, const char *set_path)
{
    node key = {.set_path = (char *)(uintptr_t)set_path};
    return bsearch(&key, w->nodes, w->n, sizeof *w->nodes, cmp_node);
}

const char *bl_create_dir_name(const char *path, char *buf, size_t bufsz)
{
    char *rp = realpath(path, NULL);
    const char *src = rp ? rp : path;
    size_t len = strlen(src);
    while (len > 1 && src[len - 1] == '/')
        len--;
    const char *start = src + len;
    while (start > src && start[-1] != '/')
        start--;
    snprintf(buf, bufsz, "%.*s", (int)(src + len - start), start);
    free(rp);
    return buf;
}

static int gather(const bl_create_opts *o, walk *w)
{
    if (o->num_dirs == 0)
        return bl_fail(w->err, "no directory given");
    for (size_t i = 0; i < o->num_dirs; i++) {
        struct stat st;
        if (stat(o->dirs[i], &st) < 0)
            return bl_fail(w->err, "%s: %s", o->dirs[i], strerror(errno));
        if (!S_ISDIR(st.st_mode))
            return bl_fail(w->err, "%s: not a directory", o->dirs[i]);
        if (o->num_dirs == 1) {
            if (add_node(w, "", o->dirs[i], &st) < 0)
                return -1;
            return walk_dir(w, o->dirs[i], "", 0);
        }
        if (i == 0) {
            struct stat root = {.st_mode = S_IFDIR | 0755, .st_mtime = time(NULL)};
            if (add_node(w, "", "", &root) < 0)
                return -1;
        }
        char name[NAME_MAX + 1];
        bl_create_dir_name(o->dirs[i], name, sizeof name);
        if (!bl_utf8_valid(name, strlen(name)) || !strcmp(name, "/") || !strcmp(name, ".."))
            return bl_fail(w->err, "%s: cannot be a top-level directory of the set", o->dirs[i]);
        for (size_t k = 0; k < w->n; k++)
            if (!strcmp(w->nodes[k].set_path, name))
                return bl_fail(w->err, "%s: another directory of the set is also named '%s'",
                               o->dirs[i], name);
        if (add_node(w, name, o->dirs[i], &st) < 0 || walk_dir(w, o->dirs[i], name, 0) < 0)
            return -1;
    }
    return 0;
}

uint32_t bl_create_auto_piece_length(const uint64_t *sizes, size_t n)
{
    for (uint32_t pl = BL_PIECE_MIN; pl < BL_PIECE_MAX; pl <<= 1) {
        uint64_t pieces = 0;
        for (size_t i = 0; i < n; i++)
            pieces += (sizes[i] + pl - 1) / pl;
        if (pieces <= MAX_PIECES_AUTO)
            return pl;
    }
    return BL_PIECE_MAX;
}

/* ---- parallel hashing ----------------------------------------------- */

typedef struct hash_job {
    const walk *w;
    const size_t *piece_file;   /* piece -> node index */
    uint32_t piece_length, num_pieces;
    uint64_t total_length;
    uint8_t *hashes;
    atomic_uint next;
    atomic_bool failed;
    pthread_mutex_t err_lock;   /* guards err: the only shared write */
    bl_err *err;
} hash_job;

/* Pieces a worker claims at once, read in order: small pieces are hashed
 * as one batch (core/sha1batch: 16 lanes with AVX-512). */
#define PIECES_PER_CLAIM 8
#define PIECES_PER_BATCH 16

static void job_fail(hash_job *j, const char *path, const char *why)
{
    pthread_mutex_lock(&j->err_lock);
    if (!atomic_exchange(&j->failed, true))
        bl_fail(j->err, "%s: %s", path, why);
    pthread_mutex_unlock(&j->err_lock);
}

static void store_hash(void *arg, uint64_t piece, const uint8_t digest[BL_SHA1_LEN])
{
    hash_job *j = arg;
    memcpy(j->hashes + (size_t)piece * BL_SHA1_LEN, digest, BL_SHA1_LEN);
}

static void *hash_worker(void *arg)
{
    hash_job *j = arg;
    /* small pieces are read a claim at a time and hashed together; larger
     * ones (hashed one at a time anyway) reuse one buffer */
    unsigned nbuf = j->piece_length <= BL_SHA1_BATCH_MAX_LEN ? PIECES_PER_BATCH : 1;
    uint32_t claim = nbuf > 1 ? PIECES_PER_BATCH : PIECES_PER_CLAIM;
    uint8_t *bufs = malloc((size_t)nbuf * j->piece_length);
    bl_err berr;
    bl_sha1_batch *batch = bl_sha1_batch_new(nbuf > 1, store_hash, j, &berr);
    int fd = -1;
    size_t fd_node = SIZE_MAX;
    if (!bufs || !batch) {
        job_fail(j, "hashing", "out of memory");
        free(bufs);
        bl_sha1_batch_free(batch);
        return NULL;
    }
    while (!atomic_load(&j->failed)) {
        uint32_t first = atomic_fetch_add(&j->next, claim);
        if (first >= j->num_pieces)
            break;
        uint32_t end = first + claim < j->num_pieces ? first + claim : j->num_pieces;
        for (uint32_t p = first; p < end && !atomic_load(&j->failed); p++) {
            uint8_t *buf = bufs + (size_t)((p - first) % nbuf) * j->piece_length;
            const node *nd = &j->w->nodes[j->piece_file[p]];
            if (fd_node != j->piece_file[p]) {
                if (fd >= 0)
                    close(fd);
                fd = open(nd->disk_path, O_RDONLY | O_CLOEXEC);
                fd_node = j->piece_file[p];
                if (fd < 0) {
                    job_fail(j, nd->disk_path, strerror(errno));
                    break;
                }
                posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
            }
            uint64_t start = (uint64_t)p * j->piece_length;
            uint64_t in_file = start - nd->offset;
            uint64_t want = nd->size - in_file < j->piece_length ? nd->size - in_file
                                                                 : j->piece_length;
            size_t got = 0;
            while (got < want) {
                ssize_t r = pread(fd, buf + got, (size_t)want - got, (off_t)(in_file + got));
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0) {
                    job_fail(j, nd->disk_path, r < 0 ? strerror(errno)
                                                     : "file shrank while being hashed");
                    break;
                }
                got += (size_t)r;
            }
            if (got < want)
                break;
            /* Padding up to the piece boundary hashes as zeros; the last
             * piece of the torrent stops at the total length. */
            uint64_t piece_len = j->total_length - start < j->piece_length
                                     ? j->total_length - start : j->piece_length;
            memset(buf + want, 0, (size_t)(piece_len - want));
            bl_sha1_batch_submit(batch, buf, (size_t)piece_len, p, &berr);
        }
        bl_sha1_batch_flush(batch); /* the buffers are reused by the next claim */
    }
    if (fd >= 0)
        close(fd);
    bl_sha1_batch_free(batch);
    free(bufs);
    return NULL;
}

static int hash_pieces(hash_job *j, int threads)
{
    pthread_t tids[64];
    if (threads <= 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        threads = ncpu > 0 ? (int)ncpu : 1;
    }
    if (threads > 64)
        threads = 64;
    if ((uint32_t)threads > j->num_pieces)
        threads = j->num_pieces ? (int)j->num_pieces : 1;
    int started = 0;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&tids[i], NULL, hash_worker, j) != 0)
            break;
        started++;
    }
    if (started == 0)
        hash_worker(j);
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    return atomic_load(&j->failed) ? -1 : 0;
}

/* ---- encoding ---------------------------------------------------------- */

static void enc_path_list(bl_buf *b, const char *path)
{
    bl_benc_list(b);
    for (const char *c = path;;) {
        const char *s = strchr(c, '/');
        size_t n = s ? (size_t)(s - c) : strlen(c);
        bl_benc_str(b, c, n);
        if (!s)
            break;
        c = s + 1;
    }
    bl_benc_end(b);
}

/* Resolve a relative symlink lexically inside the set; NULL if it leaves
 * the set or names nothing in it. */
static char *resolve_in_set(const walk *w, const char *link, const char *target)
{
    if (target[0] == '/')
        return NULL;
    char *dir = strdup(link);
    if (!dir)
        return NULL;
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        dir[0] = '\0';
    char *joined = join(dir, target);
    free(dir);
    if (!joined)
        return NULL;
    /* normalise components */
    char *out = malloc(strlen(joined) + 1);
    size_t len = 0;
    bool bad = !out;
    for (char *save = NULL, *c = strtok_r(joined, "/", &save); c && !bad;
         c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, "."))
            continue;
        if (!strcmp(c, "..")) {
            if (len == 0) {
                bad = true;
                break;
            }
            while (len > 0 && out[len - 1] != '/')
                len--;
            if (len > 0)
                len--;
            continue;
        }
        if (len)
            out[len++] = '/';
        memcpy(out + len, c, strlen(c));
        len += strlen(c);
    }
    free(joined);
    if (bad || len == 0) {
        free(out);
        return NULL;
    }
    out[len] = '\0';
    if (!find_node(w, out)) {
        free(out);
        return NULL;
    }
    return out;
}

/* Symlinks are recorded as they are; one that leads out of the set works on
 * a node only if the node happens to have its target: say so, once each. */
static void warn_outside_links(const walk *w)
{
    for (size_t i = 0; i < w->n; i++) {
        const node *nd = &w->nodes[i];
        if (!S_ISLNK(nd->mode))
            continue;
        char *in = resolve_in_set(w, nd->set_path, nd->target);
        if (in) {
            free(in);
            continue;
        }
        char safe[512];
        bl_warn("symlink %s -> %s %s", nd->set_path,
                bl_log_safe(safe, sizeof safe, nd->target, strlen(nd->target)),
                nd->target[0] == '/' ? "points outside the set: each node will see whatever its "
                                       "own file system has there"
                                     : "leads outside the set or to nothing in it: it will dangle "
                                       "on the nodes unless they have its target");
    }
}

static void encode(const bl_create_opts *o, const walk *w, const char *name, uint32_t pl,
                   const uint8_t *hashes, uint32_t num_pieces, const char *const *prefetch,
                   size_t num_prefetch, bl_buf *b)
{
    bl_jobmeta j = {
        .trackers = o->trackers, .num_trackers = o->num_trackers, .mount = o->mount,
        .prefetch = prefetch, .num_prefetch = num_prefetch, .env = o->env,
        .num_env = o->num_env, .comment = o->comment,
    };
    bl_jobmeta_encode_head(&j, b);
    bl_benc_dict(b);
    bl_benc_cstr(b, "bitlib");
    bl_benc_dict(b);
    bl_benc_cstr(b, "entries");
    bl_benc_list(b);
    for (size_t i = 0; i < w->n; i++) {
        const node *nd = &w->nodes[i];
        bl_benc_dict(b);
        bl_benc_cstr(b, "mode");
        bl_benc_int(b, nd->mode);
        bl_benc_cstr(b, "mtime");
        bl_benc_int(b, nd->mtime);
        bl_benc_cstr(b, "path");
        bl_benc_cstr(b, nd->set_path);
        if (nd->target) {
            bl_benc_cstr(b, "target");
            bl_benc_cstr(b, nd->target);
        }
        bl_benc_end(b);
    }
    bl_benc_end(b);
    bl_benc_cstr(b, "version");
    bl_benc_int(b, 1);
    bl_benc_end(b);

    bl_benc_cstr(b, "files");
    bl_benc_list(b);
    uint64_t pos = 0, pads = 0;
    for (size_t i = 0; i < w->n; i++) {
        const node *nd = &w->nodes[i];
        if (S_ISLNK(nd->mode)) {
            char *resolved = resolve_in_set(w, nd->set_path, nd->target);
            if (!resolved)
                continue; /* outside the set: only info.bitlib knows it */
            bl_benc_dict(b);
            bl_benc_cstr(b, "attr");
            bl_benc_cstr(b, "l");
            bl_benc_cstr(b, "length");
            bl_benc_int(b, 0);
            bl_benc_cstr(b, "path");
            enc_path_list(b, nd->set_path);
            bl_benc_cstr(b, "symlink path");
            enc_path_list(b, resolved);
            bl_benc_end(b);
            free(resolved);
            continue;
        }
        if (!S_ISREG(nd->mode))
            continue;
        if (nd->offset > pos) {
            char padname[48];
            int n = snprintf(padname, sizeof padname, ".pad/%llu",
                             (unsigned long long)(nd->offset - pos));
            if (o->pad_names == BL_PAD_NAMES_UNIQUE)
                snprintf(padname + n, sizeof padname - (size_t)n, "-%llu",
                         (unsigned long long)++pads);
            bl_benc_dict(b);
            bl_benc_cstr(b, "attr");
            bl_benc_cstr(b, "p");
            bl_benc_cstr(b, "length");
            bl_benc_int(b, (int64_t)(nd->offset - pos));
            bl_benc_cstr(b, "path");
            enc_path_list(b, padname);
            bl_benc_end(b);
        }
        bl_benc_dict(b);
        if (nd->mode & 0111) {
            bl_benc_cstr(b, "attr");
            bl_benc_cstr(b, "x");
        }
        bl_benc_cstr(b, "length");
        bl_benc_int(b, (int64_t)nd->size);
        bl_benc_cstr(b, "path");
        enc_path_list(b, nd->set_path);
        bl_benc_end(b);
        pos = nd->offset + nd->size;
    }
    bl_benc_end(b);
    bl_benc_cstr(b, "name");
    bl_benc_cstr(b, name);
    bl_benc_cstr(b, "piece length");
    bl_benc_int(b, pl);
    bl_benc_cstr(b, "pieces");
    bl_benc_str(b, hashes, (size_t)num_pieces * BL_SHA1_LEN);
    if (o->is_private) {
        bl_benc_cstr(b, "private");
        bl_benc_int(b, 1);
    }
    bl_benc_end(b); /* info */
    bl_benc_end(b);
}

static void free_walk(walk *w)
{
    for (size_t i = 0; i < w->n; i++) {
        free(w->nodes[i].set_path);
        free(w->nodes[i].disk_path);
        free(w->nodes[i].target);
    }
    free(w->nodes);
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 255 && strcmp(s, ".") && strcmp(s, "..") && !strchr(s, '/') &&
           bl_utf8_valid(s, n);
}

/* Add p to the prefetch list unless present (lists are short: linear). */
static int prefetch_add(char ***list, size_t *n, const char *p, bl_err *err)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*list)[i], p))
            return 0;
    char **nl = realloc(*list, (*n + 1) * sizeof *nl);
    if (!nl || !(nl[*n] = strdup(p)))
        return bl_fail(err, "out of memory");
    *list = nl;
    (*n)++;
    return 0;
}

int bl_create(const bl_create_opts *o, bl_buf *out, bl_create_stats *stats, bl_err *err)
{
    walk w = {.err = err};
    char namebuf[NAME_MAX + 1];
    char **prefetch = NULL;
    size_t num_prefetch = 0;
    uint64_t *sizes = NULL;
    size_t *piece_file = NULL;
    uint8_t *hashes = NULL;
    int rc = -1;

    if (o->piece_length && (o->piece_length < BL_PIECE_MIN || o->piece_length > BL_PIECE_MAX ||
                            (o->piece_length & (o->piece_length - 1)))) {
        bl_fail(err, "piece size %u: must be a power of two from 16 KiB to 16 MiB",
                o->piece_length);
        goto out;
    }
    if (o->mount && o->mount[0] != '/') {
        bl_fail(err, "--mount %s: must be an absolute path", o->mount);
        goto out;
    }
    const char *name = o->name;
    if (!name && o->num_dirs == 1)
        name = bl_create_dir_name(o->dirs[0], namebuf, sizeof namebuf);
    if (!name) {
        bl_fail(err, "a set of several directories needs a name (--name)");
        goto out;
    }
    if (!name_ok(name)) {
        bl_fail(err, "name '%s': must be one valid UTF-8 file name", name);
        goto out;
    }
    if (gather(o, &w) < 0)
        goto out;
    if (w.n > 1)
        qsort(w.nodes, w.n, sizeof *w.nodes, cmp_node);
    if (find_node(&w, ".pad")) {
        bl_fail(err, "the set has a top-level '.pad', the name BEP 47 reserves for padding files");
        goto out;
    }
    warn_outside_links(&w);

    for (size_t i = 0; i < o->num_env; i++) {
        const bl_menv *e = &o->env[i];
        if (!bl_env_name_ok(e->name) || (i && strcmp(o->env[i - 1].name, e->name) >= 0)) {
            bl_fail(err, "--env %s: not a variable name (letters, digits, '_'), or given twice",
                    e->name);
            goto out;
        }
        if (e->num_dirs > BL_ENV_MAX) {
            bl_fail(err, "--env %s: more than %d directories", e->name, BL_ENV_MAX);
            goto out;
        }
        for (size_t k = 0; k < e->num_dirs; k++) {
            const node *nd = e->dirs[k][0] ? find_node(&w, e->dirs[k]) : NULL;
            if (e->dirs[k][0] && (!nd || !S_ISDIR(nd->mode))) {
                bl_fail(err, "--env %s=%s: not a directory of the set", e->name, e->dirs[k]);
                goto out;
            }
        }
    }
    if (o->num_env > BL_ENV_MAX) {
        bl_fail(err, "--env: more than %d variables", BL_ENV_MAX);
        goto out;
    }

    /* prefetch: explicit paths, then executables' dependency closures */
    for (size_t i = 0; i < o->num_prefetch; i++) {
        if (!find_node(&w, o->prefetch[i])) {
            bl_fail(err, "prefetch entry '%s' is not in the set", o->prefetch[i]);
            goto out;
        }
        if (prefetch_add(&prefetch, &num_prefetch, o->prefetch[i], err) < 0)
            goto out;
    }
    if (o->num_prefetch_from) {
        char **deps = NULL;
        size_t ndeps = 0;
        if (bl_prefetch_closure(o, &deps, &ndeps, err) < 0)
            goto out;
        int prc = 0;
        for (size_t i = 0; i < ndeps; i++) {
            if (!prc && find_node(&w, deps[i]))
                prc = prefetch_add(&prefetch, &num_prefetch, deps[i], err);
            free(deps[i]);
        }
        free(deps);
        if (prc < 0)
            goto out;
    }

    /* layout */
    size_t nfiles = 0;
    sizes = calloc(w.n ? w.n : 1, sizeof *sizes);
    if (!sizes) {
        bl_fail(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < w.n; i++)
        if (S_ISREG(w.nodes[i].mode))
            sizes[nfiles++] = w.nodes[i].size;
    if (nfiles == 0) {
        bl_fail(err, "the set has no regular files: nothing to distribute");
        goto out;
    }
    uint32_t pl = o->piece_length ? o->piece_length : bl_create_auto_piece_length(sizes, nfiles);
    uint64_t pos = 0, padding = 0, data = 0;
    size_t last_data = SIZE_MAX;
    for (size_t i = 0; i < w.n; i++)
        if (S_ISREG(w.nodes[i].mode) && w.nodes[i].size)
            last_data = i;
    for (size_t i = 0; i < w.n; i++) {
        node *nd = &w.nodes[i];
        if (!S_ISREG(nd->mode))
            continue;
        nd->offset = pos;
        pos += nd->size;
        data += nd->size;
        if (nd->size && i != last_data && pos % pl) {
            padding += pl - pos % pl;
            pos += pl - pos % pl;
        }
    }
    uint64_t np64 = (pos + pl - 1) / pl;
    if (np64 > UINT32_MAX / BL_SHA1_LEN) {
        bl_fail(err, "%llu pieces is too many; use a larger --piece-size",
                (unsigned long long)np64);
        goto out;
    }
    uint32_t num_pieces = (uint32_t)np64;
    piece_file = malloc((num_pieces ? num_pieces : 1) * sizeof *piece_file);
    hashes = malloc((num_pieces ? num_pieces : 1) * (size_t)BL_SHA1_LEN);
    if (!piece_file || !hashes) {
        bl_fail(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < w.n; i++) {
        const node *nd = &w.nodes[i];
        if (!S_ISREG(nd->mode) || !nd->size)
            continue;
        uint32_t first = (uint32_t)(nd->offset / pl);
        uint32_t last = (uint32_t)((nd->offset + nd->size - 1) / pl);
        for (uint32_t p = first; p <= last; p++)
            piece_file[p] = i;
    }

    hash_job job = {.w = &w, .piece_file = piece_file, .piece_length = pl,
                    .num_pieces = num_pieces, .total_length = pos, .hashes = hashes, .err = err};
    atomic_init(&job.next, 0);
    atomic_init(&job.failed, false);
    pthread_mutex_init(&job.err_lock, NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int hrc = hash_pieces(&job, o->threads);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_mutex_destroy(&job.err_lock);
    if (hrc < 0)
        goto out;

    encode(o, &w, name, pl, hashes, num_pieces, (const char *const *)prefetch, num_prefetch, out);
    if (out->oom) {
        bl_fail(err, "out of memory while encoding");
        goto out;
    }
    if (stats) {
        memset(stats, 0, sizeof *stats);
        for (size_t i = 0; i < w.n; i++) {
            if (S_ISREG(w.nodes[i].mode))
                stats->files++;
            else if (S_ISDIR(w.nodes[i].mode))
                stats->dirs++;
            else
                stats->symlinks++;
        }
        stats->skipped = w.skipped;
        stats->data_bytes = data;
        stats->padding_bytes = padding;
        stats->piece_length = pl;
        stats->pieces = num_pieces;
        stats->hash_seconds = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    }
    rc = 0;
out:
    for (size_t i = 0; i < num_prefetch; i++)
        free(prefetch[i]);
    free(prefetch);
    free(sizes);
    free(piece_file);
    free(hashes);
    free_walk(&w);
    return rc;
}
