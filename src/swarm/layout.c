/* layout: see layout.h. */
#include "swarm/layout.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEEP_MODE BL_LAYOUT_KEEP_MODE

/* layout.h: missing directories are 0700 because modes come later. */
int bl_layout_open_parent(int rootfd, const char *path, bool mkdirs, const char **base)
{
    int cur = dup(rootfd);
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        if (!slash) {
            *base = p;
            return cur;
        }
        char comp[NAME_MAX + 1];
        size_t n = (size_t)(slash - p);
        if (cur < 0 || n == 0 || n > NAME_MAX) {
            if (cur >= 0)
                close(cur);
            errno = EINVAL;
            return -1;
        }
        memcpy(comp, p, n);
        comp[n] = 0;
        int fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && mkdirs && mkdirat(cur, comp, 0700) == 0)
            fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(cur);
        if (fd < 0) {
            errno = e == ELOOP ? ENOTDIR : e;
            return -1;
        }
        cur = fd;
        p = slash + 1;
    }
}

static int make_dir(int pfd, const char *name, const char *path, bl_err *err)
{
    struct stat st;
    if (mkdirat(pfd, name, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return bl_fail(err, "%s: cannot create the directory: %s", path, strerror(errno));
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
        return bl_fail(err, "%s exists and is not a directory; the set has a directory there",
                       path);
    return 0;
}

static int make_symlink(int pfd, const char *name, const bl_mentry *e, bl_err *err)
{
    struct stat st;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!S_ISLNK(st.st_mode))
            return bl_fail(err, "%s exists and is not a symlink; the set has a symlink there",
                           e->path);
        char cur[PATH_MAX];
        ssize_t n = readlinkat(pfd, name, cur, sizeof cur - 1);
        if (n >= 0 && (size_t)n == strlen(e->target) && !memcmp(cur, e->target, (size_t)n))
            return 0;
        if (unlinkat(pfd, name, 0) < 0)
            return bl_fail(err, "%s: cannot replace the symlink: %s", e->path, strerror(errno));
    }
    if (symlinkat(e->target, pfd, name) < 0)
        return bl_fail(err, "%s: cannot create the symlink: %s", e->path, strerror(errno));
    return 0;
}

/* Mode and mtime of one entry (its type already checked or made). */
static int set_attrs(int pfd, const char *name, const bl_mentry *e, bl_err *err)
{
    struct stat st;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return bl_fail(err, "%s: %s", e->path, strerror(errno));
    if ((st.st_mode & S_IFMT) != (e->mode & S_IFMT))
        return bl_fail(err, "%s exists with another file type than the set has there", e->path);
    if (!S_ISLNK(st.st_mode) && fchmodat(pfd, name, e->mode & KEEP_MODE, 0) < 0)
        return bl_fail(err, "%s: cannot set its mode: %s", e->path, strerror(errno));
    struct timespec ts[2] = {{.tv_sec = e->mtime}, {.tv_sec = e->mtime}};
    if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return bl_fail(err, "%s: cannot set its mtime: %s", e->path, strerror(errno));
    return 0;
}

int bl_layout_apply(const bl_metainfo *mi, const char *dir, bl_err *err)
{
    int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return bl_fail(err, "%s: %s", dir, strerror(errno));
    int rc = 0;
    /* entries are sorted by path: parents come before their children */
    for (size_t i = 0; i < mi->num_entries && rc == 0; i++) {
        const bl_mentry *e = &mi->entries[i];
        if (!e->path[0] || !(S_ISDIR(e->mode) || S_ISLNK(e->mode) || S_ISREG(e->mode)))
            continue;
        const char *base;
        int pfd = bl_layout_open_parent(root, e->path, true, &base);
        if (pfd < 0) {
            rc = bl_fail(err, "%s: a directory on the way: %s", e->path, strerror(errno));
            break;
        }
        if (S_ISDIR(e->mode))
            rc = make_dir(pfd, base, e->path, err);
        else if (S_ISLNK(e->mode))
            rc = e->target ? make_symlink(pfd, base, e, err) : 0;
        if (rc == 0 && !S_ISDIR(e->mode))
            rc = set_attrs(pfd, base, e, err);
        close(pfd);
    }
    /* directories last, deepest first */
    for (size_t i = mi->num_entries; i-- > 0 && rc == 0;) {
        const bl_mentry *e = &mi->entries[i];
        if (!S_ISDIR(e->mode))
            continue;
        if (!e->path[0]) {
            struct timespec ts[2] = {{.tv_sec = e->mtime}, {.tv_sec = e->mtime}};
            if (fchmod(root, e->mode & KEEP_MODE) < 0 || futimens(root, ts) < 0)
                rc = bl_fail(err, "%s: cannot set its mode and mtime: %s", dir, strerror(errno));
            continue;
        }
        const char *base;
        int pfd = bl_layout_open_parent(root, e->path, false, &base);
        if (pfd < 0) {
            rc = bl_fail(err, "%s: %s", e->path, strerror(errno));
            break;
        }
        rc = set_attrs(pfd, base, e, err);
        close(pfd);
    }
    close(root);
    return rc;
}

int bl_layout_prepare(const bl_metainfo *mi, const char *dir, bl_err *err)
{
    int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0 && errno == ENOTDIR)
        return bl_fail(err, "%s is not a directory (the data directory to write the set into)",
                       dir);
    if (root < 0)
        return errno == ENOENT ? 0 : bl_fail(err, "%s: %s", dir, strerror(errno));
    uid_t me = geteuid();
    struct stat st;
    if (fstat(root, &st) == 0 && st.st_uid == me && !(st.st_mode & S_IWUSR) &&
        fchmod(root, (st.st_mode & 07777) | S_IWUSR) != 0)
        bl_warn("%s: cannot make it writable to store pieces: %s", dir, strerror(errno));
    for (size_t i = 0; i < mi->num_entries; i++) {
        const bl_mentry *e = &mi->entries[i];
        if (!e->path[0] || !(S_ISDIR(e->mode) || S_ISREG(e->mode)))
            continue;
        const char *base;
        int pfd = bl_layout_open_parent(root, e->path, false, &base);
        if (pfd < 0)
            continue;
        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_uid == me &&
            (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) && !(st.st_mode & S_IWUSR) &&
            fchmodat(pfd, base, (st.st_mode & 07777) | S_IWUSR, 0) != 0)
            bl_warn("%s/%s: cannot make it writable to store pieces: %s", dir, e->path,
                    strerror(errno));
        close(pfd);
    }
    close(root);
    return 0;
}
