/* cachedir: see cachedir.h. */
#include "fs/cachedir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/cache.h"

/* A set's tree is bounded by the description's path depth; this bounds a
 * hostile tree planted in a cache root. */
#define MAX_DEPTH 128

bool bl_cachedir_is_name(const char *name)
{
    for (int i = 0; i < 40; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    if (!name[40])
        return true;
    if (name[40] != '.')
        return false;
    char *end;
    errno = 0;
    long n = strtol(name + 41, &end, 10);
    return !errno && *end == 0 && end != name + 41 && name[41] != '0' && n >= 2 &&
           n <= BL_CACHE_MAX_INSTANCES;
}

/* Bytes allocated and files under the directory fd (which is consumed). */
static void tree_usage(int dfd, int depth, uint64_t *bytes, uint64_t *files)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        *bytes += (uint64_t)st.st_blocks * 512;
        if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH) {
            int sub = openat(dirfd(d), de->d_name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                tree_usage(sub, depth + 1, bytes, files);
        } else if (S_ISREG(st.st_mode) && strcmp(de->d_name, BL_CACHE_LOCK)) {
            (*files)++;
        }
    }
    closedir(d);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int bl_cachedir_stat(const char *path, bl_cachedir *c, bl_err *err)
{
    memset(c, 0, sizeof *c);
    if (snprintf(c->path, sizeof c->path, "%s", path) >= (int)sizeof c->path)
        return bl_fail(err, "%s: path too long", path);
    struct stat st;
    if (lstat(path, &st) < 0)
        return bl_fail(err, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return bl_fail(err, "%s is not a directory", path);
    const char *name = base_name(path);
    if (bl_cachedir_is_name(name))
        snprintf(c->info_hash, sizeof c->info_hash, "%.40s", name);
    c->last_use = st.st_mtime;
    char lock[PATH_MAX];
    struct stat ls;
    bool has_lock = snprintf(lock, sizeof lock, "%s/" BL_CACHE_LOCK, path) < (int)sizeof lock &&
                    lstat(lock, &ls) == 0 && S_ISREG(ls.st_mode);
    if (!c->info_hash[0] && !has_lock)
        return bl_fail(err, "%s is not a bitlib cache (no %s in it)", path, BL_CACHE_LOCK);
    if (has_lock) {
        if (ls.st_mtime > c->last_use)
            c->last_use = ls.st_mtime;
        c->held = bl_cache_holder(path, &c->pid, c->mount, sizeof c->mount);
        if (!c->held) {
            /* the last holder's words stay in the file */
            int fd = open(lock, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0) {
                char buf[PATH_MAX + 64];
                ssize_t n = read(fd, buf, sizeof buf - 1);
                close(fd);
                if (n > 0) {
                    buf[n] = 0;
                    bl_cache_parse_owner(buf, &c->pid, c->mount, sizeof c->mount);
                }
            }
        }
    }
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd >= 0)
        tree_usage(dfd, 0, &c->bytes, &c->files);
    return 0;
}

int bl_cachedir_scan(const char *root,
                     void (*fn)(const bl_cachedir *c, bool trash, void *arg), void *arg,
                     bl_err *err)
{
    DIR *d = opendir(root);
    if (!d)
        return bl_fail(err, "%s: %s", root, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d))) {
        bool trash = !strncmp(de->d_name, BL_CACHEDIR_TRASH, strlen(BL_CACHEDIR_TRASH));
        if (!trash && !bl_cachedir_is_name(de->d_name))
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", root, de->d_name) >= (int)sizeof path)
            continue;
        bl_cachedir c;
        if (trash) {
            memset(&c, 0, sizeof c);
            snprintf(c.path, sizeof c.path, "%s", path);
            int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (dfd < 0)
                continue;
            tree_usage(dfd, 0, &c.bytes, &c.files);
            fn(&c, true, arg);
            continue;
        }
        bl_err e;
        if (bl_cachedir_stat(path, &c, &e) == 0)
            fn(&c, false, arg);
    }
    closedir(d);
    return 0;
}

/* Delete everything in directory dfd (consumed), depth-first. */
static int rm_contents(int dfd, int depth, bl_err *err)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return bl_fail(err, "cannot list a directory: %s", strerror(errno));
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth >= MAX_DEPTH) {
                rc = bl_fail(err, "%s: nested deeper than %d directories", de->d_name, MAX_DEPTH);
                continue;
            }
            int sub = openat(dirfd(d), de->d_name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0 || rm_contents(sub, depth + 1, err) < 0) {
                if (sub < 0)
                    rc = bl_fail(err, "%s: %s", de->d_name, strerror(errno));
                else
                    rc = -1;
                continue;
            }
            if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0)
                rc = bl_fail(err, "%s: %s", de->d_name, strerror(errno));
        } else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
            rc = bl_fail(err, "%s: %s", de->d_name, strerror(errno));
        }
    }
    closedir(d);
    return rc;
}

int bl_cachedir_rmtree(const char *path, bl_err *err)
{
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : bl_fail(err, "%s: %s", path, strerror(errno));
    bl_err e;
    if (rm_contents(dfd, 0, &e) < 0)
        return bl_fail(err, "%s: cannot delete all of it: %s", path, e.msg);
    if (rmdir(path) < 0 && errno != ENOENT)
        return bl_fail(err, "%s: %s", path, strerror(errno));
    return 0;
}

int bl_cachedir_remove(const char *path, bl_err *err)
{
    char lock[PATH_MAX], trash[PATH_MAX];
    if (snprintf(lock, sizeof lock, "%s/" BL_CACHE_LOCK, path) >= (int)sizeof lock)
        return bl_fail(err, "%s: path too long", path);
    /* the hidden name sits in the same directory, so the rename is atomic */
    const char *name = base_name(path);
    int w = snprintf(trash, sizeof trash, "%.*s" BL_CACHEDIR_TRASH "%s.%d",
                     (int)(name - path), path, name, (int)getpid());
    if (w < 0 || (size_t)w >= sizeof trash)
        return bl_fail(err, "%s: path too long", path);
    int fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return bl_fail(err, "%s: cannot open its lock: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return 0;
        return bl_fail(err, "%s: cannot lock it: %s", path, strerror(e));
    }
    /* a daemon may have let go and another taken a fresh lock file between
     * our open and our lock: only the file at the path counts */
    struct stat a, b;
    if (fstat(fd, &a) < 0 || lstat(lock, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
        close(fd);
        return 0;
    }
    if (rename(path, trash) < 0) {
        int e = errno;
        close(fd);
        return bl_fail(err, "%s: cannot move it aside for deletion: %s", path, strerror(e));
    }
    close(fd); /* nobody can find it by its name any more */
    if (bl_cachedir_rmtree(trash, err) < 0)
        return -1;
    return 1;
}
