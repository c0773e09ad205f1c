/* fusefs: see fusefs.h.  Follows the shape of libfuse's passthrough_ll
 * example (low-level ops keyed by inode), but inodes are description
 * entries and data comes from the node's verified cache. */
#define FUSE_USE_VERSION 35
#include "fs/fusefs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include "core/log.h"

#define DAY_S 86400.0
#define READ_BUF_MAX (1u << 20)   /* libfuse caps a read request at 1 MiB */
#define RECV_BATCH 64             /* requests per readable event before yielding */

struct bl_fusefs {
    bl_fusefs_config cfg;
    bl_node *node;
    bl_node_counters *ctr;
    const bl_fsindex *ix;
    struct fuse_session *se;
    struct fuse_buf fbuf;
    int fd;
    uid_t uid;
    gid_t gid;
    double tmo;
    uint8_t *rbuf;                /* one read at a time: we are single-threaded */
    char *mountpoint;
    bool ready, gone, mounted;
    uint64_t store_fail_logged_ms;/* last "cache cannot store" line (one per 10 s) */
    bool can_skip_open;           /* kernel supports zero-message opens */
    bool skipping_open;           /* ... and we told it to use them */
};

/* A read waiting for pieces. */
struct rd {
    bl_fusefs *fs;
    fuse_req_t req;
    size_t entry;
    uint64_t off;
    size_t size;
    int64_t id;
};

static bl_fusefs *fs_of(fuse_req_t req) { return fuse_req_userdata(req); }

/* ---- metadata ---------------------------------------------------------------- */

static size_t entry_of(bl_fusefs *fs, fuse_ino_t ino)
{
    return bl_fsindex_entry(fs->ix, ino);
}

static void fill_entry(bl_fusefs *fs, size_t e, struct fuse_entry_param *ep)
{
    memset(ep, 0, sizeof *ep);
    ep->ino = bl_fsindex_ino(e);
    ep->generation = 1;
    bl_fsindex_stat(fs->ix, e, fs->uid, fs->gid, &ep->attr);
    ep->attr_timeout = fs->tmo;
    ep->entry_timeout = fs->tmo;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    bl_fusefs *fs = userdata;
    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
        conn->want |= FUSE_CAP_CACHE_SYMLINKS;
    if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
        conn->want |= FUSE_CAP_PARALLEL_DIROPS;
    conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS; /* readdir is cheap here; lookups are cached */
    fs->can_skip_open = (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) != 0;
    if (bl_node_mode(fs->node) == BL_FS_BLOCK)
        conn->max_readahead = 0; /* move only what applications read */
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    bl_fusefs *fs = fs_of(req);
    fs->ctr->lookups++;
    size_t dir = entry_of(fs, parent);
    if (dir == BL_FS_NO_ENTRY) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct fuse_entry_param ep;
    size_t e = bl_fsindex_lookup(fs->ix, dir, name, strlen(name));
    if (e == BL_FS_NO_ENTRY) {
        /* a negative entry the kernel keeps: LD_LIBRARY_PATH misses cost nothing */
        fs->ctr->lookups_negative++;
        memset(&ep, 0, sizeof ep);
        ep.entry_timeout = fs->tmo;
        fuse_reply_entry(req, &ep);
        return;
    }
    fill_entry(fs, e, &ep);
    fuse_reply_entry(req, &ep);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    (void)ino;
    (void)nlookup;
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    (void)count;
    (void)forgets;
    fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    bl_fusefs *fs = fs_of(req);
    fs->ctr->getattrs++;
    size_t e = entry_of(fs, ino);
    if (e == BL_FS_NO_ENTRY) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct stat st;
    bl_fsindex_stat(fs->ix, e, fs->uid, fs->gid, &st);
    fuse_reply_attr(req, &st, fs->tmo);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    bl_fusefs *fs = fs_of(req);
    fs->ctr->readlinks++;
    size_t e = entry_of(fs, ino);
    const bl_metainfo *mi = bl_node_mi(fs->node);
    if (e == BL_FS_NO_ENTRY || !S_ISLNK(mi->entries[e].mode) || !mi->entries[e].target) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    fuse_reply_readlink(req, mi->entries[e].target);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    bl_fusefs *fs = fs_of(req);
    size_t e = entry_of(fs, ino);
    if (e == BL_FS_NO_ENTRY) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if (!S_ISDIR(bl_node_mi(fs->node)->entries[e].mode)) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    if ((fi->flags & O_ACCMODE) != O_RDONLY) {
        fs->ctr->erofs++;
        fuse_reply_err(req, EROFS);
        return;
    }
    fi->cache_readdir = 1;
    fi->keep_cache = 1;
    fuse_reply_open(req, fi);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    (void)fi;
    bl_fusefs *fs = fs_of(req);
    fs->ctr->readdirs++;
    size_t dir = entry_of(fs, ino);
    const bl_metainfo *mi = bl_node_mi(fs->node);
    if (dir == BL_FS_NO_ENTRY || !S_ISDIR(mi->entries[dir].mode)) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    if (size > 65536)
        size = 65536;
    char buf[65536];
    size_t pos = 0, nchild = fs->ix->child_count[dir];
    const size_t *kids = fs->ix->children + fs->ix->child_start[dir];
    /* offsets: 0 ".", 1 "..", 2 + k the k-th child (sorted by name) */
    for (size_t k = off < 0 ? 0 : (size_t)off; k < nchild + 2; k++) {
        size_t e;
        const char *name;
        if (k == 0) {
            e = dir;
            name = ".";
        } else if (k == 1) {
            e = fs->ix->parent[dir];
            name = "..";
        } else {
            e = kids[k - 2];
            name = fs->ix->name[e];
        }
        struct stat st = {.st_ino = bl_fsindex_ino(e), .st_mode = mi->entries[e].mode};
        size_t need = fuse_add_direntry(req, buf + pos, size - pos, name, &st, (off_t)(k + 1));
        if (need > size - pos)
            break;
        pos += need;
    }
    fuse_reply_buf(req, buf, pos);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    bl_fusefs *fs = fs_of(req);
    fs->ctr->statfs++;
    const bl_metainfo *mi = bl_node_mi(fs->node);
    struct statvfs sv = {
        .f_bsize = 4096, .f_frsize = 4096,
        .f_blocks = (fsblkcnt_t)((mi->total_length + 4095) / 4096),
        .f_files = (fsfilcnt_t)mi->num_entries, .f_namemax = 255,
        .f_flag = ST_RDONLY | ST_NOSUID | ST_NODEV,
    };
    fuse_reply_statfs(req, &sv);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
    bl_fusefs *fs = fs_of(req);
    if (entry_of(fs, ino) == BL_FS_NO_ENTRY) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if (mask & W_OK) {
        fs->ctr->erofs++;
        fuse_reply_err(req, EROFS);
        return;
    }
    fuse_reply_err(req, 0);
}

/* ---- data ---------------------------------------------------------------- */

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    bl_fusefs *fs = fs_of(req);
    size_t e = entry_of(fs, ino);
    if (e == BL_FS_NO_ENTRY) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    uint32_t mode = bl_node_mi(fs->node)->entries[e].mode;
    if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
        fs->ctr->erofs++;
        fuse_reply_err(req, EROFS);
        return;
    }
    if (S_ISDIR(mode)) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    if (!S_ISREG(mode)) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    fs->ctr->opens++;
    /* An open carries news only while files are not all local (and never in
     * block mode).  After that, ENOSYS tells the kernel to open files by
     * itself from now on (keeping the page cache): opens then cost no round
     * trip to this daemon, which matters for loaders opening hundreds of
     * libraries.  The mount is read-only, so the kernel refuses writers. */
    if (fs->can_skip_open &&
        (bl_node_mode(fs->node) == BL_FS_BLOCK || bl_node_all_local(fs->node))) {
        if (!fs->skipping_open)
            bl_info("%s: opens no longer reach the daemon (%s)", fs->mountpoint,
                    bl_node_mode(fs->node) == BL_FS_BLOCK ? "block mode"
                                                         : "every piece is local");
        fs->skipping_open = true;
        fuse_reply_err(req, ENOSYS);
        return;
    }
    fi->keep_cache = 1; /* the data never changes: keep the page cache across opens */
    bl_node_opened(fs->node, e);
    fuse_reply_open(req, fi);
}

/* Answer a read whose pieces are all local. */
static void serve_read(bl_fusefs *fs, fuse_req_t req, size_t e, uint64_t off, size_t size)
{
    bl_err err;
    int64_t n = bl_node_read(fs->node, e, off, size, fs->rbuf, &err);
    if (n < 0) {
        fs->ctr->read_errors++;
        bl_error("read %s: %s", bl_node_mi(fs->node)->entries[e].path, err.msg);
        fuse_reply_err(req, EIO);
        return;
    }
    fs->ctr->read_bytes += (uint64_t)n;
    fuse_reply_buf(req, (const char *)fs->rbuf, (size_t)n);
}

/* A read needs pieces the cache cannot store (full, quota, I/O error): it
 * fails at once with that error, so the application's message names it;
 * one log line per 10 s says which cache and why (no log flood). */
static void fail_unstorable(bl_fusefs *fs, fuse_req_t req, size_t e, uint32_t piece, int err_no)
{
    fs->ctr->read_errors++;
    uint64_t now = bl_loop_now_ms(fs->cfg.loop);
    if (!fs->store_fail_logged_ms || now - fs->store_fail_logged_ms >= 10000) {
        fs->store_fail_logged_ms = now;
        bl_error("read of %s failed: piece %u is not local and the cache %s cannot store "
                 "pieces (%s); answering %s until it can (reads of local data still work)",
                 bl_node_mi(fs->node)->entries[e].path, piece, bl_node_cache_dir(fs->node),
                 strerror(err_no), err_no == ENOSPC ? "ENOSPC" : "that error");
    }
    fuse_reply_err(req, err_no);
}

static void read_ready(void *arg, int result, uint32_t piece)
{
    struct rd *r = arg;
    bl_fusefs *fs = r->fs;
    if (result == 0) {
        serve_read(fs, r->req, r->entry, r->off, r->size);
    } else {
        const bl_metainfo *mi = bl_node_mi(fs->node);
        if (result != ETIMEDOUT && result != ECANCELED) {
            fail_unstorable(fs, r->req, r->entry, piece, result);
            free(r);
            return;
        }
        if (result == ETIMEDOUT) {
            fs->ctr->read_timeouts++;
            char why[128];
            bl_swarm_piece_sources(bl_node_swarm(fs->node), piece, why, sizeof why);
            bl_error("read of %s [%llu, +%zu) failed: piece %u did not arrive within %.0f s "
                     "(%s); answering EIO", mi->entries[r->entry].path,
                     (unsigned long long)r->off, r->size, piece,
                     (double)bl_node_read_timeout_ms(fs->node) / 1000.0, why);
        }
        fuse_reply_err(r->req, EIO);
    }
    free(r);
}

static void read_interrupted(fuse_req_t req, void *data)
{
    struct rd *r = data;
    bl_fusefs *fs = r->fs;
    if (bl_node_cancel(fs->node, r->id)) {
        fs->ctr->interrupted++;
        fuse_reply_err(req, EINTR);
        free(r);
    }
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    (void)fi;
    bl_fusefs *fs = fs_of(req);
    fs->ctr->reads++;
    size_t e = entry_of(fs, ino);
    if (e == BL_FS_NO_ENTRY || off < 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    if (size > READ_BUF_MAX)
        size = READ_BUF_MAX;
    struct rd *r = malloc(sizeof *r);
    if (!r) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    *r = (struct rd){.fs = fs, .req = req, .entry = e, .off = (uint64_t)off, .size = size};
    uint32_t failed = 0;
    int rc = bl_node_wait(fs->node, e, (uint64_t)off, size, read_ready, r, &r->id, &failed);
    if (rc == 1) {
        fs->ctr->cache_hits++;
        free(r);
        serve_read(fs, req, e, (uint64_t)off, size);
        return;
    }
    if (rc == -3) {
        free(r);
        fail_unstorable(fs, req, e, failed, bl_node_store_errno(fs->node));
        return;
    }
    if (rc == -2) {
        free(r);
        fs->ctr->read_timeouts++;
        bl_debug("read of %s: piece %u timed out moments ago; answering EIO at once",
                 bl_node_mi(fs->node)->entries[e].path, failed);
        fuse_reply_err(req, EIO);
        return;
    }
    if (rc < 0) {
        free(r);
        fs->ctr->read_errors++;
        bl_error("read of %s: too many reads waiting; answering EIO",
                 bl_node_mi(fs->node)->entries[e].path);
        fuse_reply_err(req, EIO);
        return;
    }
    fs->ctr->reads_waited++;
    /* last: this may call read_interrupted (and free r) at once */
    fuse_req_interrupt_func(req, read_interrupted, r);
}

/* ---- everything that writes ------------------------------------------------- */

static void erofs(fuse_req_t req)
{
    fs_of(req)->ctr->erofs++;
    fuse_reply_err(req, EROFS);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    (void)ino, (void)attr, (void)to_set, (void)fi;
    erofs(req);
}
static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    (void)parent, (void)name, (void)mode, (void)rdev;
    erofs(req);
}
static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    (void)parent, (void)name, (void)mode;
    erofs(req);
}
static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    (void)parent, (void)name;
    erofs(req);
}
static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    (void)link, (void)parent, (void)name;
    erofs(req);
}
static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    (void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
    erofs(req);
}
static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    (void)ino, (void)newparent, (void)newname;
    erofs(req);
}
static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    (void)ino, (void)buf, (void)size, (void)off, (void)fi;
    erofs(req);
}
static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    (void)parent, (void)name, (void)mode, (void)fi;
    erofs(req);
}
static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
    (void)ino, (void)name, (void)value, (void)size, (void)flags;
    erofs(req);
}
static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    (void)ino, (void)name;
    erofs(req);
}
static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                         struct fuse_file_info *fi)
{
    (void)ino, (void)mode, (void)offset, (void)length, (void)fi;
    erofs(req);
}

static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .readlink = op_readlink,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .releasedir = op_releasedir,
    .statfs = op_statfs,
    .access = op_access,
    .open = op_open,
    .read = op_read,
    .setattr = op_setattr,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_unlink,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .write = op_write,
    .create = op_create,
    .setxattr = op_setxattr,
    .removexattr = op_removexattr,
    .fallocate = op_fallocate,
    /* no getxattr/listxattr/flush/release: ENOSYS once, and the kernel stops asking */
};

/* ---- the session on the loop --------------------------------------------------- */

static void on_fuse(bl_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    bl_fusefs *fs = arg;
    for (int i = 0; i < RECV_BATCH && !fs->gone; i++) {
        int res = fuse_session_receive_buf(fs->se, &fs->fbuf);
        if (res == -EINTR)
            continue;
        if (res == -EAGAIN)
            break;
        if (res <= 0 || fuse_session_exited(fs->se)) {
            /* ENODEV: unmounted under us (umount, fusermount3 -u, abort) */
            fs->gone = true;
            if (res < 0)
                bl_error("reading /dev/fuse: %s", strerror(-res));
            bl_loop_del(fs->cfg.loop, fs->fd);
            if (fs->cfg.on_gone)
                fs->cfg.on_gone(fs->cfg.arg);
            return;
        }
        fuse_session_process_buf(fs->se, &fs->fbuf);
        if (!fs->ready && fs->cfg.on_ready) {
            /* the first request is INIT; once it is answered the mount works */
            fs->ready = true;
            fs->cfg.on_ready(fs->cfg.arg);
        }
    }
}

/* libfuse's last error line, so a failed mount can say why in its one line */
static char last_fuse_error[256];

static void fuse_log_to_bl(enum fuse_log_level level, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
        line[--n] = 0;
    if (!n)
        return;
    if (level <= FUSE_LOG_ERR) {
        snprintf(last_fuse_error, sizeof last_fuse_error, "%s", line);
        bl_error("libfuse: %s", line);
    }
    else if (level <= FUSE_LOG_NOTICE)
        bl_info("libfuse: %s", line);
    else
        bl_debug("libfuse: %s", line);
}

/* mountpoint with a symlink as its last component replaced by its target
 * (repeatedly; lstat never enters a mount, so a stale one is fine). */
static int follow_last(const char *mountpoint, char *out, size_t outsz, bl_err *err)
{
    snprintf(out, outsz, "%s", mountpoint);
    for (int hops = 0;; hops++) {
        struct stat st;
        size_t n = strlen(out);
        while (n > 1 && out[n - 1] == '/')
            out[--n] = 0;
        if (lstat(out, &st) < 0 || !S_ISLNK(st.st_mode))
            return 0;
        if (hops == 40)
            return bl_fail(err, "%s: too many levels of symbolic links", mountpoint);
        char target[PATH_MAX];
        ssize_t t = readlink(out, target, sizeof target - 1);
        if (t < 0)
            return bl_fail(err, "%s: %s", out, strerror(errno));
        target[t] = 0;
        if (target[0] == '/') {
            snprintf(out, outsz, "%s", target);
            continue;
        }
        char *slash = strrchr(out, '/');
        size_t keep = slash ? (size_t)(slash - out) + 1 : 0;
        if (keep + strlen(target) >= outsz)
            return bl_fail(err, "%s: path too long", mountpoint);
        strcpy(out + keep, target);
    }
}

int bl_fusefs_canonical(const char *mountpoint_arg, char *out, size_t outsz, bl_err *err)
{
    char mountpoint[PATH_MAX];
    if (!*mountpoint_arg || strlen(mountpoint_arg) >= PATH_MAX)
        return bl_fail(err, "mount point: empty or too long");
    if (follow_last(mountpoint_arg, mountpoint, sizeof mountpoint, err) < 0)
        return -1;
    size_t n = strlen(mountpoint);
    if (n == 0 || n >= PATH_MAX)
        return bl_fail(err, "mount point: empty or too long");
    char tmp[PATH_MAX];
    memcpy(tmp, mountpoint, n + 1);
    while (n > 1 && tmp[n - 1] == '/')
        tmp[--n] = 0;
    char *slash = strrchr(tmp, '/');
    const char *base = slash ? slash + 1 : tmp;
    char parent[PATH_MAX];
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else if (slash == tmp)
        snprintf(parent, sizeof parent, "/");
    else {
        *slash = 0;
        snprintf(parent, sizeof parent, "%s", tmp);
    }
    if (!strcmp(base, ".") || !strcmp(base, "..") || !*base) {
        /* resolve the whole thing; the mount itself is not involved then */
        char rp[PATH_MAX];
        if (!realpath(mountpoint, rp))
            return bl_fail(err, "%s: %s", mountpoint, strerror(errno));
        if (strlen(rp) >= outsz)
            return bl_fail(err, "%s: path too long", mountpoint);
        strcpy(out, rp);
        return 0;
    }
    char rp[PATH_MAX];
    if (!realpath(parent, rp))
        return bl_fail(err, "%s: %s", parent, strerror(errno));
    int w = snprintf(out, outsz, "%s%s%s", rp, strcmp(rp, "/") ? "/" : "", base);
    if (w < 0 || (size_t)w >= outsz)
        return bl_fail(err, "%s: path too long", mountpoint);
    return 0;
}

/* Without root, only fusermount3 (setuid) may detach the user's own dead mount. */
static int user_detach(const char *mp)
{
    if (geteuid() == 0)
        return -1;
    char path[PATH_MAX], u[] = "-u", z[] = "-z", prog[] = "fusermount3";
    snprintf(path, sizeof path, "%s", mp);
    char *argv[] = {prog, u, z, path, NULL};
    pid_t pid;
    int status;
    if (posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ) != 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int bl_fusefs_detach(const char *mp)
{
    return umount2(mp, MNT_DETACH) == 0 || user_detach(mp) == 0 ? 0 : -1;
}

/* A dead FUSE mount on mp (ENOTCONN): detach it when we may, else say how. */
static int detach_stale(const char *mp, bl_err *err)
{
    if (bl_fusefs_detach(mp) == 0) {
        bl_warn("%s: detached a stale FUSE mount left by a dead daemon", mp);
        return 0;
    }
    return bl_fail(err, "%s: a previous FUSE mount died (Transport endpoint is not "
                        "connected); run 'fusermount3 -uz %s' (or 'umount -l %s' as root) "
                        "and mount again", mp, mp, mp);
}

/* The mount point must be an empty directory; a dead bitlib mount there is
 * detached when we are allowed to, else the error says how.  (Its cached
 * attributes may still stat fine: only listing it shows it is dead.) */
int bl_fusefs_check_mountpoint(const char *mp, bl_err *err)
{
    for (int attempt = 0;; attempt++) {
        struct stat st;
        if (stat(mp, &st) < 0) {
            if (errno == ENOTCONN && attempt == 0) {
                if (detach_stale(mp, err) < 0)
                    return -1;
                continue;
            }
            if (errno == ENOENT)
                return bl_fail(err, "%s does not exist: create an empty directory first", mp);
            return bl_fail(err, "%s: %s", mp, strerror(errno));
        }
        if (!S_ISDIR(st.st_mode))
            return bl_fail(err, "%s is not a directory", mp);
        DIR *d = opendir(mp);
        if (!d && errno == ENOTCONN && attempt == 0) {
            if (detach_stale(mp, err) < 0)
                return -1;
            continue;
        }
        if (!d)
            return bl_fail(err, "%s: %s", mp, strerror(errno));
        struct dirent *de;
        bool empty = true;
        while ((de = readdir(d))) {
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                empty = false;
                break;
            }
        }
        closedir(d);
        if (!empty)
            return bl_fail(err, "%s is not an empty directory (is something mounted there "
                                "already?)", mp);
        return 0;
    }
}

static bool in_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    char buf[PATH_MAX];
    while (*path) {
        const char *c = strchr(path, ':');
        size_t n = c ? (size_t)(c - path) : strlen(path);
        if (n && snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, prog) < (int)sizeof buf &&
            access(buf, X_OK) == 0)
            return true;
        path += n + (c ? 1 : 0);
    }
    return false;
}

static int check_dev_fuse(bl_err *err)
{
    if (geteuid() != 0) {
        if (!in_path("fusermount3"))
            return bl_fail(err, "fusermount3 not found: run as root or install fuse3");
        return 0;
    }
    int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return bl_fail(err, "/dev/fuse does not exist: load the fuse module (modprobe fuse) "
                                "or, in a container, pass the device in");
        if (errno == EACCES || errno == EPERM)
            return bl_fail(err, "/dev/fuse: permission denied: run as root or install fuse3");
        return bl_fail(err, "/dev/fuse: %s", strerror(errno));
    }
    close(fd);
    return 0;
}

bl_fusefs *bl_fusefs_mount(const bl_fusefs_config *cfg, bl_err *err)
{
    if (bl_fusefs_check_mountpoint(cfg->mountpoint, err) < 0 || check_dev_fuse(err) < 0)
        return NULL;
    bl_fusefs *fs = calloc(1, sizeof *fs);
    if (!fs) {
        bl_fail(err, "out of memory");
        return NULL;
    }
    fs->cfg = *cfg;
    fs->node = cfg->node;
    fs->ctr = bl_node_counters_of(cfg->node);
    fs->ix = bl_node_index(cfg->node);
    fs->fd = -1;
    fs->uid = getuid();
    fs->gid = getgid();
    fs->tmo = cfg->kernel_timeout_s > 0 ? cfg->kernel_timeout_s : DAY_S;
    fs->rbuf = malloc(READ_BUF_MAX);
    fs->mountpoint = strdup(cfg->mountpoint);
    if (!fs->rbuf || !fs->mountpoint) {
        bl_fail(err, "out of memory");
        goto fail;
    }
    fuse_set_log_func(fuse_log_to_bl);
    last_fuse_error[0] = 0;
    char opts[256];
    snprintf(opts, sizeof opts, "ro,nosuid,nodev,default_permissions,fsname=bitlib,"
                                "subtype=bitlib%s", cfg->allow_other ? ",allow_other" : "");
    char *argv[] = {"bitlib", "-o", opts, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, argv);
    fs->se = fuse_session_new(&args, &ops, sizeof ops, fs);
    fuse_opt_free_args(&args); /* libfuse may have copied them */
    if (!fs->se) {
        bl_fail(err, "cannot start a FUSE session: %s",
                last_fuse_error[0] ? last_fuse_error : "libfuse gave no reason");
        goto fail;
    }
    if (fuse_session_mount(fs->se, cfg->mountpoint) != 0) {
        bl_fail(err, "mounting %s failed: %s%s", cfg->mountpoint,
                last_fuse_error[0] ? last_fuse_error : "libfuse gave no reason",
                cfg->allow_other && geteuid() != 0
                    ? "; --allow-other needs user_allow_other in /etc/fuse.conf" : "");
        goto fail;
    }
    fs->mounted = true;
    fs->fd = fuse_session_fd(fs->se);
    int fl = fcntl(fs->fd, F_GETFL);
    if (fl < 0 || fcntl(fs->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        bl_fail(err, "/dev/fuse: cannot make it non-blocking: %s", strerror(errno));
        goto fail;
    }
    if (bl_loop_add(cfg->loop, fs->fd, BL_EV_READ, on_fuse, fs, err) < 0)
        goto fail;
    bl_info("mounted %s on %s (%s mode)", bl_node_mi(fs->node)->name, cfg->mountpoint,
            bl_fs_mode_name(bl_node_mode(fs->node)));
    return fs;
fail:
    bl_fusefs_unmount(fs);
    return NULL;
}

pid_t bl_fusefs_unmount_if_idle(bl_fusefs *fs, bl_err *err)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        bl_fail(err, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid > 0)
        return pid;
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
    }
    if (geteuid() == 0)
        _exit(umount2(fs->mountpoint, UMOUNT_NOFOLLOW) == 0 ? 0 : errno == EBUSY ? 3 : 4);
    execlp("fusermount3", "fusermount3", "-u", "-q", fs->mountpoint, (char *)NULL);
    _exit(127);
}

void bl_fusefs_unmount(bl_fusefs *fs)
{
    if (!fs)
        return;
    if (fs->se) {
        if (fs->fd >= 0 && !fs->gone)
            bl_loop_del(fs->cfg.loop, fs->fd);
        if (fs->mounted) {
            fuse_session_unmount(fs->se);
            bl_info("unmounted %s", fs->mountpoint);
        }
        fuse_session_destroy(fs->se);
    }
    free(fs->fbuf.mem);
    free(fs->rbuf);
    free(fs->mountpoint);
    free(fs);
}
