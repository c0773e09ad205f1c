/* cache: see cache.h. */
#include "fs/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/sha1.h"

#define SHM "/dev/shm"

int bl_cache_default_root(char *out, size_t outsz, bool create, bl_err *err)
{
    uid_t me = geteuid();
    if (snprintf(out, outsz, SHM "/bitlib-%u", (unsigned)me) >= (int)outsz)
        return bl_fail(err, "cache path too long");
    if (create && mkdir(out, 0700) < 0 && errno != EEXIST) {
        if (errno == ENOENT)
            return bl_fail(err, "this node has no " SHM " (a tmpfs) for the default cache; "
                                "give --cache DIR");
        return bl_fail(err, "%s: cannot create the default cache directory: %s", out,
                       strerror(errno));
    }
    struct stat st;
    if (lstat(out, &st) < 0)
        return bl_fail(err, "%s: %s", out, strerror(errno));
    /* /dev/shm is writable by everyone: what we find there may be a trap */
    if (!S_ISDIR(st.st_mode) || st.st_uid != me || (st.st_mode & 077))
        return bl_fail(err, "%s is not a private directory of uid %u (it is %s, owner %u, mode "
                            "%03o): remove it, or give --cache DIR", out, (unsigned)me,
                       S_ISDIR(st.st_mode) ? "a directory" : S_ISLNK(st.st_mode) ? "a symlink"
                                                                                 : "not a directory",
                       (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    return 0;
}

void bl_cache_parse_owner(const char *buf, pid_t *pid, char *mount, size_t mountsz)
{
    *pid = 0;
    if (mountsz)
        mount[0] = 0;
    if (strncmp(buf, "pid ", 4) || buf[4] < '0' || buf[4] > '9')
        return;
    char *end;
    errno = 0;
    long p = strtol(buf + 4, &end, 10);
    if (errno || p <= 0 || p > INT32_MAX || (*end && *end != ' ' && *end != '\n'))
        return;
    *pid = (pid_t)p;
    if (strncmp(end, " mount ", 7) || !mountsz)
        return;
    const char *m = end + 7;
    size_t n = strcspn(m, "\n");
    snprintf(mount, mountsz, "%.*s", (int)(n < PATH_MAX ? n : PATH_MAX), m);
}

/* Read "pid P mount M" from an open lock file. */
static void read_owner(int fd, pid_t *pid, char *mount, size_t mountsz)
{
    char buf[PATH_MAX + 64];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    *pid = 0;
    if (mountsz)
        mount[0] = 0;
    if (n <= 0)
        return;
    buf[n] = 0;
    bl_cache_parse_owner(buf, pid, mount, mountsz);
}

bool bl_cache_holder(const char *dir, pid_t *pid, char *mount, size_t mountsz)
{
    char path[PATH_MAX];
    *pid = 0;
    if (mountsz)
        mount[0] = 0;
    if (snprintf(path, sizeof path, "%s/" BL_CACHE_LOCK, dir) >= (int)sizeof path)
        return false;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    if (held)
        read_owner(fd, pid, mount, mountsz);
    close(fd); /* drops our shared lock, if we got one */
    return held;
}

/* Make dir (mode if missing) and take its lock.  0: held by us, 1: another
 * daemon holds it, -1: unusable (err says why). */
static int try_lock(bl_cache *c, const char *dir, mode_t mode, int attempt, bl_err *err)
{
    struct stat st;
    if (stat(dir, &st) < 0 && errno == ENOENT && mkdir(dir, mode) < 0 && errno != EEXIST)
        return bl_fail(err, "cache %s: cannot create it: %s", dir, strerror(errno));
    if (stat(dir, &st) < 0)
        return bl_fail(err, "cache %s cannot be used by uid %u: %s; give --cache with a "
                            "directory of your own", dir, (unsigned)geteuid(), strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return bl_fail(err, "cache %s is not a directory", dir);
    if (access(dir, W_OK | X_OK) < 0)
        return bl_fail(err, "cache %s cannot be written by uid %u (%s; it belongs to uid %u): "
                            "give --cache with a directory of your own", dir,
                       (unsigned)geteuid(), strerror(errno), (unsigned)st.st_uid);
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/" BL_CACHE_LOCK, dir) >= (int)sizeof path)
        return bl_fail(err, "cache %s: path too long", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return bl_fail(err, "cache %s cannot be used by uid %u: %s: %s; give --cache with a "
                            "directory of your own", dir, (unsigned)geteuid(), path,
                       strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return 1;
        return bl_fail(err, "cache %s: cannot lock %s: %s", dir, path, strerror(e));
    }
    /* `bitlib cache gc` may have moved the cache aside (holding this lock)
     * between our open and our lock: then start again with what the path
     * holds now (cachedir.h) */
    struct stat held, now;
    if (fstat(fd, &held) < 0 || lstat(path, &now) < 0 || held.st_ino != now.st_ino ||
        held.st_dev != now.st_dev) {
        close(fd);
        if (attempt >= 8)
            return bl_fail(err, "cache %s keeps being replaced while we lock it", dir);
        return try_lock(c, dir, mode, attempt + 1, err);
    }
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    c->lock_fd = fd;
    return 0;
}

static void holder_text(const char *dir, char *out, size_t outsz)
{
    pid_t pid;
    char mount[PATH_MAX];
    if (bl_cache_holder(dir, &pid, mount, sizeof mount) && pid)
        snprintf(out, outsz, "pid %d%s%s", (int)pid, mount[0] ? ", mount " : "", mount);
    else
        snprintf(out, outsz, "another daemon");
}

int bl_cache_open(bl_cache *c, const char *dir, const bl_metainfo *mi, const char *mountpoint,
                  char *note, size_t notesz, bl_err *err)
{
    c->lock_fd = -1;
    c->dir[0] = 0;
    if (note && notesz)
        note[0] = 0;
    if (bl_metainfo_lookup(mi, BL_CACHE_LOCK))
        return bl_fail(err, "the set has an entry named %s at its root, the name a cache needs "
                            "for its lock", BL_CACHE_LOCK);
    char who[PATH_MAX + 64] = "another daemon";
    if (dir) {
        int rc = try_lock(c, dir, 0755, 0, err);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            holder_text(dir, who, sizeof who);
            return bl_fail(err, "cache %s is in use by another bitlib daemon (%s); two daemons "
                                "never write one cache: give another --cache, or none (the "
                                "default picks a free one)", dir, who);
        }
        bl_cache_set_owner(c, mountpoint);
        return 0;
    }
    char root[PATH_MAX], first[PATH_MAX] = "", hex[2 * BL_SHA1_LEN + 1];
    if (bl_cache_default_root(root, sizeof root, true, err) < 0)
        return -1;
    bl_hex(mi->info_hash, BL_SHA1_LEN, hex);
    for (int n = 1; n <= BL_CACHE_MAX_INSTANCES; n++) {
        char path[PATH_MAX];
        if (n == 1)
            snprintf(path, sizeof path, "%s/%s", root, hex);
        else
            snprintf(path, sizeof path, "%s/%s.%d", root, hex, n);
        int rc = try_lock(c, path, 0700, 0, err);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            if (n == 1) {
                snprintf(first, sizeof first, "%s", path);
                holder_text(path, who, sizeof who);
            }
            continue;
        }
        if (n > 1 && note && notesz)
            snprintf(note, notesz, "the cache %s is in use by %s; this mount uses its own "
                                   "cache %s", first, who, path);
        bl_cache_set_owner(c, mountpoint);
        return 0;
    }
    return bl_fail(err, "all %d default caches of this set under %s are in use; give --cache DIR",
                   BL_CACHE_MAX_INSTANCES, root);
}

void bl_cache_set_owner(bl_cache *c, const char *mountpoint)
{
    if (c->lock_fd < 0)
        return;
    char line[PATH_MAX + 64];
    int n = snprintf(line, sizeof line, "pid %d mount %s\n", (int)getpid(),
                     mountpoint ? mountpoint : "");
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    if (ftruncate(c->lock_fd, 0) == 0) {
        ssize_t w = pwrite(c->lock_fd, line, (size_t)n, 0);
        (void)w; /* informational only */
    }
}

void bl_cache_close(bl_cache *c)
{
    /* the text stays (the last holder, for `bitlib cache ls`); the mtime
     * says when the cache was last let go, which `bitlib cache gc
     * --older-than` goes by */
    if (c->lock_fd >= 0) {
        futimens(c->lock_fd, NULL);
        close(c->lock_fd);
    }
    c->lock_fd = -1;
}
