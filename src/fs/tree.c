/* tree: see tree.h. */
#include "fs/tree.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "fs/cache.h"
#include "fs/fusefs.h"
#include "fs/treeidx.h"
#include "swarm/layout.h"
#include "swarm/store.h"

struct bl_tree {
    bl_node *node;
    const bl_metainfo *mi;
    char dir[PATH_MAX];
    char index[PATH_MAX];
    int root;              /* the tree's root directory, -1 before start */
    unsigned char *done;   /* per entry: its file is in the tree */
    size_t files_done, files_total;
    bool final_modes;      /* every file is there and modes are exact */
};

int bl_tree_paths(const char *cache_dir, char *dir, size_t dirsz, char *index, size_t indexsz,
                  bl_err *err)
{
    int a = snprintf(dir, dirsz, "%s/%s", cache_dir, BL_TREE_DIR);
    int b = snprintf(index, indexsz, "%s/%s", cache_dir, BL_TREE_INDEX);
    if (a < 0 || (size_t)a >= dirsz || b < 0 || (size_t)b >= indexsz)
        return bl_fail(err, "%s: cache path too long", cache_dir);
    return 0;
}

int bl_tree_check(const bl_metainfo *mi, bl_err *err)
{
    static const char *const reserved[] = {BL_TREE_DIR, BL_TREE_INDEX, BL_CACHE_LOCK};
    for (size_t i = 0; i < mi->num_files; i++) {
        const char *p = mi->files[i].path;
        size_t n = strcspn(p, "/");
        for (size_t r = 0; r < 3; r++)
            if (n == strlen(reserved[r]) && !strncmp(p, reserved[r], n))
                return bl_fail(err, "the set has a top-level '%s', a name the cache uses for "
                                    "itself; it cannot be kept without FUSE", reserved[r]);
    }
    return 0;
}

int bl_tree_canonical_mount(const char *path, char *out, size_t outsz, bl_err *err)
{
    bl_err e;
    if (bl_fusefs_canonical(path, out, outsz, &e) == 0)
        return 0;
    if (path[0] != '/')
        return bl_fail(err, "%s: %s", path, e.msg);
    size_t o = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return bl_fail(err, "%s: '..' in a mount path whose parent does not exist", path);
        if (!(n == 1 && p[0] == '.')) {
            if (o + 1 + n + 1 > outsz)
                return bl_fail(err, "%s: path too long", path);
            out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = 0;
    return 0;
}

/* ---- the index -------------------------------------------------------------- */

static int cmp_entry_path(const void *a, const void *b)
{
    return strcmp((*(const bl_mentry *const *)a)->path, (*(const bl_mentry *const *)b)->path);
}

void bl_tree_index_text(const bl_metainfo *mi, bl_buf *out)
{
    bl_buf_puts(out, BL_TREEIDX_MAGIC);
    const bl_mentry **v = malloc((mi->num_entries ? mi->num_entries : 1) * sizeof *v);
    if (!v) {
        out->oom = true;
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < mi->num_entries; i++) {
        const bl_mentry *e = &mi->entries[i];
        if (!e->path[0] || strchr(e->path, '\n'))
            continue; /* the root; a name with a newline cannot be a line */
        if (S_ISREG(e->mode) || S_ISDIR(e->mode) || S_ISLNK(e->mode))
            v[n++] = e;
    }
    qsort(v, n, sizeof *v, cmp_entry_path);
    for (size_t i = 0; i < n; i++) {
        char t = S_ISREG(v[i]->mode) ? 'f' : S_ISDIR(v[i]->mode) ? 'd' : 'l';
        bl_buf_printf(out, "%c %s\n", t, v[i]->path);
    }
    free(v);
}

static int write_index(bl_tree *t, bl_err *err)
{
    bl_buf b;
    bl_buf_init(&b);
    bl_tree_index_text(t->mi, &b);
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", t->index);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (b.oom || fd < 0) {
        rc = bl_fail(err, "%s: %s", tmp, b.oom ? "out of memory" : strerror(errno));
    } else {
        size_t off = 0;
        while (off < b.len) {
            ssize_t w = write(fd, b.data + off, b.len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                rc = bl_fail(err, "%s: %s", tmp, w < 0 ? strerror(errno) : "short write");
                break;
            }
            off += (size_t)w;
        }
    }
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = bl_fail(err, "%s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, t->index) < 0)
        rc = bl_fail(err, "%s: %s", t->index, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    bl_buf_free(&b);
    return rc;
}

/* ---- removing an old tree ------------------------------------------------------ */

static int open_up(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)f;
    if (flag == FTW_D && !(st->st_mode & S_IWUSR) && chmod(path, (st->st_mode & 07777) | S_IRWXU))
        bl_warn("%s: cannot make it writable to remove it: %s", path, strerror(errno));
    return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)f;
    int r = flag == FTW_DP ? rmdir(path) : unlink(path);
    if (r < 0 && errno != ENOENT) {
        bl_warn("%s: cannot remove it from the old tree: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int remove_tree(const char *dir, bl_err *err)
{
    struct stat st;
    if (lstat(dir, &st) < 0)
        return errno == ENOENT ? 0 : bl_fail(err, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(dir) < 0)
            return bl_fail(err, "%s: %s", dir, strerror(errno));
        return 0;
    }
    /* a finished tree has read-only directories: make them writable first */
    nftw(dir, open_up, 16, FTW_PHYS);
    if (nftw(dir, remove_one, 16, FTW_PHYS | FTW_DEPTH) != 0)
        return bl_fail(err, "%s: cannot remove the old tree", dir);
    return 0;
}

/* ---- building ------------------------------------------------------------------ */

static void set_mtime_at(int pfd, const char *name, int64_t mtime, int flags)
{
    struct timespec ts[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
    utimensat(pfd, name, ts, flags);
}

/* The mode a directory has while files still come: the description's, plus
 * u+rwx so that the daemon can rename files into it. */
static mode_t building_dir_mode(const bl_mentry *e)
{
    return (mode_t)((e->mode & BL_LAYOUT_KEEP_MODE) | S_IRWXU);
}

/* The parent directory entry of entry i (entries are sorted: parents first). */
static const bl_mentry *parent_entry(const bl_tree *t, const bl_mentry *e)
{
    const char *slash = strrchr(e->path, '/');
    if (!slash)
        return &t->mi->entries[0];
    char p[PATH_MAX];
    size_t n = (size_t)(slash - e->path);
    if (n >= sizeof p)
        return NULL;
    memcpy(p, e->path, n);
    p[n] = 0;
    return bl_metainfo_lookup(t->mi, p);
}

static int make_symlink(int pfd, const char *base, const bl_mentry *e, bl_err *err)
{
    const char *target = e->target;
    if (symlinkat(target, pfd, base) < 0)
        return bl_fail(err, "%s: cannot create the symlink in the tree: %s", e->path,
                       strerror(errno));
    set_mtime_at(pfd, base, e->mtime, AT_SYMLINK_NOFOLLOW);
    return 0;
}

static int make_skeleton(bl_tree *t, bl_err *err)
{
    const bl_metainfo *mi = t->mi;
    if (mkdir(t->dir, 0700) < 0)
        return bl_fail(err, "%s: cannot create the tree: %s", t->dir, strerror(errno));
    t->root = open(t->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (t->root < 0)
        return bl_fail(err, "%s: %s", t->dir, strerror(errno));
    for (size_t i = 0; i < mi->num_entries; i++) {
        const bl_mentry *e = &mi->entries[i];
        if (!e->path[0] || !(S_ISDIR(e->mode) || S_ISLNK(e->mode)))
            continue;
        const char *base;
        int pfd = bl_layout_open_parent(t->root, e->path, true, &base);
        if (pfd < 0)
            return bl_fail(err, "%s: a directory on the way in the tree: %s", e->path,
                           strerror(errno));
        int rc = 0;
        if (S_ISDIR(e->mode)) {
            /* then the mode whatever the umask did */
            if ((mkdirat(pfd, base, building_dir_mode(e)) < 0 && errno != EEXIST) ||
                fchmodat(pfd, base, building_dir_mode(e), 0) < 0)
                rc = bl_fail(err, "%s: cannot create the directory in the tree: %s", e->path,
                             strerror(errno));
        } else if (e->target) {
            rc = make_symlink(pfd, base, e, err);
        }
        close(pfd);
        if (rc < 0)
            return -1;
    }
    if (fchmod(t->root, building_dir_mode(&mi->entries[0])) < 0)
        return bl_fail(err, "%s: %s", t->dir, strerror(errno));
    /* directory mtimes last, deepest first (creating children moves them) */
    for (size_t i = mi->num_entries; i-- > 0;) {
        const bl_mentry *e = &mi->entries[i];
        if (!S_ISDIR(e->mode))
            continue;
        if (!e->path[0]) {
            struct timespec ts[2] = {{.tv_sec = e->mtime}, {.tv_sec = e->mtime}};
            futimens(t->root, ts);
            continue;
        }
        const char *base;
        int pfd = bl_layout_open_parent(t->root, e->path, false, &base);
        if (pfd >= 0) {
            set_mtime_at(pfd, base, e->mtime, AT_SYMLINK_NOFOLLOW);
            close(pfd);
        }
    }
    return 0;
}

/* Copy len bytes of the store's file at in_fd to out_fd. */
static int copy_bytes(int in_fd, int out_fd, uint64_t len)
{
    loff_t off = 0;
    while ((uint64_t)off < len) {
        size_t want = len - (uint64_t)off > (1u << 30) ? (1u << 30) : (size_t)(len - (uint64_t)off);
        ssize_t n = copy_file_range(in_fd, &off, out_fd, NULL, want, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP))
            break; /* fall back to read/write */
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO; /* the store's file is shorter than the description says */
            return -1;
        }
    }
    char buf[65536];
    while ((uint64_t)off < len) {
        size_t want = len - (uint64_t)off > sizeof buf ? sizeof buf : (size_t)(len - (uint64_t)off);
        ssize_t r = pread(in_fd, buf, want, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            return -1;
        }
        for (ssize_t w = 0; w < r;) {
            ssize_t x = write(out_fd, buf + w, (size_t)(r - w));
            if (x < 0 && errno == EINTR)
                continue;
            if (x < 0)
                return -1;
            w += x;
        }
        off += r;
    }
    return 0;
}

static void apply_final_modes(bl_tree *t)
{
    bl_err err;
    if (bl_layout_apply(t->mi, t->dir, &err) < 0) {
        bl_warn("the tree %s is complete, but its modes could not be applied: %s", t->dir,
                err.msg);
        return;
    }
    t->final_modes = true;
    bl_info("every file of the set is in the tree %s", t->dir);
}

int bl_tree_materialise(bl_tree *t, size_t entry, bl_err *err)
{
    const bl_mentry *e = &t->mi->entries[entry];
    if (!S_ISREG(e->mode) || t->done[entry])
        return 1;
    if (t->root < 0)
        return bl_fail(err, "the tree is not started");
    if (!bl_node_entry_local(t->node, entry))
        return 0;
    const char *base;
    int pfd = bl_layout_open_parent(t->root, e->path, false, &base);
    if (pfd < 0)
        return bl_fail(err, "%s: its directory in the tree: %s", e->path, strerror(errno));
    char tmp[NAME_MAX + 32];
    int rc = 0;
    if (snprintf(tmp, sizeof tmp, ".%s.bitlib-tmp", base) >= (int)sizeof tmp)
        snprintf(tmp, sizeof tmp, ".bitlib-tmp-%zu", entry);
    unlinkat(pfd, tmp, 0);
    int out = openat(pfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        rc = bl_fail(err, "%s: cannot write it into the tree: %s", e->path, strerror(errno));
        goto done;
    }
    if (e->file >= 0 && e->size > 0) {
        bl_store *st = bl_swarm_store(bl_node_swarm(t->node));
        int in = bl_store_file_fd(st, (size_t)e->file, err);
        if (in < 0 || copy_bytes(in, out, e->size) < 0) {
            if (in >= 0)
                bl_fail(err, "%s: copying it into the tree: %s", e->path, strerror(errno));
            rc = -1;
        }
    }
    struct timespec ts[2] = {{.tv_sec = e->mtime}, {.tv_sec = e->mtime}};
    if (rc == 0 && (fchmod(out, (mode_t)(e->mode & BL_LAYOUT_KEEP_MODE)) < 0 ||
                    futimens(out, ts) < 0))
        rc = bl_fail(err, "%s: mode or mtime in the tree: %s", e->path, strerror(errno));
    if (close(out) < 0 && rc == 0)
        rc = bl_fail(err, "%s: writing it into the tree: %s", e->path, strerror(errno));
    if (rc == 0 && renameat(pfd, tmp, pfd, base) < 0)
        rc = bl_fail(err, "%s: renaming it into the tree: %s", e->path, strerror(errno));
    if (rc < 0) {
        unlinkat(pfd, tmp, 0);
        goto done;
    }
    /* the rename moved the directory's mtime: the description's again */
    const bl_mentry *pe = parent_entry(t, e);
    if (pe) {
        struct timespec pts[2] = {{.tv_sec = pe->mtime}, {.tv_sec = pe->mtime}};
        futimens(pfd, pts);
    }
    t->done[entry] = 1;
    t->files_done++;
    rc = 1;
    if (t->files_done == t->files_total && !t->final_modes)
        apply_final_modes(t);
done:
    close(pfd);
    return rc;
}

void bl_tree_on_piece(void *arg, uint32_t piece)
{
    bl_tree *t = arg;
    const bl_metainfo *mi = t->mi;
    if (t->root < 0)
        return;
    size_t f, end;
    bl_metainfo_piece_files(mi, piece, &f, &end);
    for (; f < end; f++) {
        const bl_mfile *mf = &mi->files[f];
        if (mf->entry < 0 || t->done[mf->entry])
            continue;
        bl_err err;
        if (bl_tree_materialise(t, (size_t)mf->entry, &err) < 0)
            bl_warn("%s", err.msg); /* a fetch of it asks again and says why */
    }
}

/* ---- life ------------------------------------------------------------------------ */

bl_tree *bl_tree_new(bl_node *node, bl_err *err)
{
    const bl_metainfo *mi = bl_node_mi(node);
    if (bl_tree_check(mi, err) < 0)
        return NULL;
    bl_tree *t = calloc(1, sizeof *t);
    if (!t || !(t->done = calloc(mi->num_entries ? mi->num_entries : 1, 1))) {
        free(t);
        bl_fail(err, "out of memory");
        return NULL;
    }
    t->node = node;
    t->mi = mi;
    t->root = -1;
    if (bl_tree_paths(bl_node_cache_dir(node), t->dir, sizeof t->dir, t->index, sizeof t->index,
                      err) < 0) {
        bl_tree_free(t);
        return NULL;
    }
    for (size_t i = 0; i < mi->num_entries; i++)
        t->files_total += S_ISREG(mi->entries[i].mode);
    return t;
}

int bl_tree_start(bl_tree *t, bl_err *err)
{
    if (remove_tree(t->dir, err) < 0 || make_skeleton(t, err) < 0 || write_index(t, err) < 0)
        return -1;
    for (size_t i = 0; i < t->mi->num_entries; i++)
        if (S_ISREG(t->mi->entries[i].mode) && bl_tree_materialise(t, i, err) < 0)
            return -1;
    if (t->files_total == 0 && !t->final_modes)
        apply_final_modes(t);
    bl_info("tree %s: %zu of %zu files local at start", t->dir, t->files_done, t->files_total);
    return 0;
}

void bl_tree_free(bl_tree *t)
{
    if (!t)
        return;
    if (t->root >= 0)
        close(t->root);
    free(t->done);
    free(t);
}

void bl_tree_path(const bl_tree *t, size_t entry, bl_buf *out)
{
    const char *p = t->mi->entries[entry].path;
    bl_buf_printf(out, "%s%s%s", t->dir, p[0] ? "/" : "", p);
}

const char *bl_tree_dir(const bl_tree *t) { return t->dir; }
size_t bl_tree_files_done(const bl_tree *t) { return t->files_done; }
size_t bl_tree_files_total(const bl_tree *t) { return t->files_total; }
