/* registry: see registry.h. */
#include "launch/registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FAILURE_MAX 600

int bl_proc_parse_start(const char *buf, uint64_t *start)
{
    /* "pid (comm) S ppid ..." : comm may hold spaces and parentheses */
    const char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return -1;
    p += 2;
    if (*p == 'Z' || *p == 'X')
        return -1;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -1;
        p++;
    }
    if (*p < '0' || *p > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (end == p || errno)
        return -1;
    *start = v;
    return 0;
}

int bl_proc_start_time(pid_t pid, uint64_t *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    return bl_proc_parse_start(buf, start);
}

bool bl_reg_parse_holder(const char *name, pid_t *pid, uint64_t *start)
{
    /* only the canonical form we write ("%d.%llu": no sign, no leading
     * zeros), so that one holder has one name */
    if (name[0] < '1' || name[0] > '9')
        return false;
    char *end;
    errno = 0;
    long p = strtol(name, &end, 10);
    if (errno || *end != '.' || p <= 0 || p > INT32_MAX || end[1] < '0' || end[1] > '9')
        return false;
    if (end[1] == '0' && end[2] != 0)
        return false;
    char *e2;
    unsigned long long st = strtoull(end + 1, &e2, 10);
    if (errno || *e2)
        return false;
    *pid = (pid_t)p;
    *start = st;
    return true;
}

int bl_reg_parse_failure(const char *buf, int64_t since, char *msg, size_t msgsz)
{
    char *end;
    errno = 0;
    long long when = strtoll(buf, &end, 10);
    if (end == buf || errno || *end != ' ' || when < since)
        return 0;
    const char *text = end + 1;
    const char *nl = strchr(text, '\n');
    size_t n = nl ? (size_t)(nl - text) : strlen(text);
    snprintf(msg, msgsz, "%.*s", (int)(n < 4096 ? n : 4096), text);
    return 1;
}

static int path_in(const bl_reg *r, const char *name, char *out, size_t outsz)
{
    int w = snprintf(out, outsz, "%s/%s", r->dir, name);
    return w < 0 || (size_t)w >= outsz ? -1 : 0;
}

int bl_reg_init(bl_reg *r, const char *dir, bl_err *err)
{
    r->lock_fd = -1;
    if (strlen(dir) + 1 > sizeof r->dir)
        return bl_fail(err, "%s: path too long", dir);
    strcpy(r->dir, dir);
    return 0;
}

static int64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The failure record in the locked file: 1 if there is one at or after since. */
static int read_failure(int fd, int64_t since, char *msg, size_t msgsz)
{
    char buf[FAILURE_MAX + 32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    return bl_reg_parse_failure(buf, since, msg, msgsz);
}

/* Open DIR/lock, creating DIR and DIR/holders if needed. */
static int open_lock(const bl_reg *r, bl_err *err)
{
    char p[PATH_MAX];
    for (int tries = 0; tries < 100; tries++) {
        if (mkdir(r->dir, 0700) < 0 && errno != EEXIST)
            return bl_fail(err, "%s: cannot create: %s", r->dir, strerror(errno));
        path_in(r, "holders", p, sizeof p);
        if (mkdir(p, 0700) < 0 && errno != EEXIST) {
            if (errno == ENOENT)
                continue; /* DIR was removed under us: again */
            return bl_fail(err, "%s: cannot create: %s", p, strerror(errno));
        }
        path_in(r, "lock", p, sizeof p);
        int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
            return fd;
        if (errno != ENOENT)
            return bl_fail(err, "%s: %s", p, strerror(errno));
    }
    return bl_fail(err, "%s: removed again and again while we tried to lock it", r->dir);
}

/* True if fd is still the file DIR/lock names. */
static bool still_current(const bl_reg *r, int fd)
{
    char p[PATH_MAX];
    struct stat a, b;
    path_in(r, "lock", p, sizeof p);
    return fstat(fd, &a) == 0 && stat(p, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int lock_once(bl_reg *r, bool wait, int timeout_ms, int64_t since_ms, bl_err *err)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned sleep_us = 1000;
    for (;;) {
        int fd = open_lock(r, err);
        if (fd < 0)
            return -1;
        for (;;) {
            if (flock(fd, LOCK_EX | LOCK_NB) == 0)
                break;
            if (errno != EWOULDBLOCK && errno != EINTR) {
                int e = errno;
                close(fd);
                return bl_fail(err, "%s/lock: %s", r->dir, strerror(e));
            }
            if (!wait) {
                close(fd);
                return 0;
            }
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            int64_t waited = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
            if (waited >= timeout_ms) {
                close(fd);
                return bl_fail(err, "waited %.0f s for %s/lock (held by the rank starting the "
                                    "mount daemon); giving up",
                               timeout_ms / 1000.0, r->dir);
            }
            usleep(sleep_us);
            if (sleep_us < 16000)
                sleep_us *= 2;
        }
        char msg[FAILURE_MAX];
        if (since_ms && read_failure(fd, since_ms, msg, sizeof msg)) {
            flock(fd, LOCK_UN);
            close(fd);
            return bl_fail(err, "%s", msg);
        }
        if (still_current(r, fd)) {
            r->lock_fd = fd;
            return 1;
        }
        close(fd); /* DIR was removed while we waited: lock the new one */
    }
}

int bl_reg_lock(bl_reg *r, int timeout_ms, int64_t since_ms, bl_err *err)
{
    return lock_once(r, true, timeout_ms, since_ms, err) < 0 ? -1 : 0;
}

int bl_reg_trylock(bl_reg *r, bl_err *err)
{
    return lock_once(r, false, 0, 0, err);
}

void bl_reg_unlock(bl_reg *r)
{
    if (r->lock_fd < 0)
        return;
    flock(r->lock_fd, LOCK_UN);
    close(r->lock_fd);
    r->lock_fd = -1;
}

void bl_reg_set_failure(bl_reg *r, const char *msg)
{
    if (r->lock_fd < 0)
        return;
    char line[FAILURE_MAX + 32];
    int n = snprintf(line, sizeof line, "%" PRId64 " %.*s\n", unix_ms(), FAILURE_MAX - 1, msg);
    if (n > 0 && ftruncate(r->lock_fd, 0) == 0) {
        ssize_t w = pwrite(r->lock_fd, line, (size_t)n, 0);
        (void)w;
    }
}

void bl_reg_clear_failure(bl_reg *r)
{
    if (r->lock_fd >= 0 && ftruncate(r->lock_fd, 0) < 0) {
        /* nothing to do: the record only matters to ranks waiting right now */
    }
}

static int holder_path(const bl_reg *r, pid_t pid, uint64_t start, char *out, size_t outsz)
{
    int w = snprintf(out, outsz, "%s/holders/%d.%" PRIu64, r->dir, (int)pid, start);
    return w < 0 || (size_t)w >= outsz ? -1 : 0;
}

int bl_reg_add(bl_reg *r, pid_t pid, bl_err *err)
{
    uint64_t start;
    char p[PATH_MAX];
    if (bl_proc_start_time(pid, &start) < 0)
        return bl_fail(err, "process %d: no start time in /proc", (int)pid);
    if (holder_path(r, pid, start, p, sizeof p) < 0)
        return bl_fail(err, "%s: path too long", r->dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return bl_fail(err, "%s: %s", p, strerror(errno));
    close(fd);
    return 0;
}

void bl_reg_remove(bl_reg *r, pid_t pid, uint64_t start)
{
    char p[PATH_MAX];
    if (!start && bl_proc_start_time(pid, &start) < 0)
        return;
    if (holder_path(r, pid, start, p, sizeof p) == 0)
        unlink(p);
}

size_t bl_reg_holders(bl_reg *r, bl_holder *out, size_t max)
{
    char p[PATH_MAX];
    path_in(r, "holders", p, sizeof p);
    DIR *d = opendir(p);
    if (!d)
        return 0;
    size_t live = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        pid_t pid = 0;
        uint64_t start = 0, now;
        bool named = bl_reg_parse_holder(de->d_name, &pid, &start);
        if (named && bl_proc_start_time(pid, &now) == 0 && now == start) {
            if (out && live < max)
                out[live] = (bl_holder){.pid = (pid_t)pid, .start = start};
            live++;
            continue;
        }
        char f[PATH_MAX];
        if (snprintf(f, sizeof f, "%s/%s", p, de->d_name) < (int)sizeof f)
            unlink(f); /* stale: its process is gone (or the name is not ours) */
    }
    closedir(d);
    return live;
}

int bl_reg_set_keep(bl_reg *r, bl_err *err)
{
    char p[PATH_MAX];
    path_in(r, "keep", p, sizeof p);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return bl_fail(err, "%s: %s", p, strerror(errno));
    close(fd);
    return 0;
}

bool bl_reg_keep(const bl_reg *r)
{
    char p[PATH_MAX];
    path_in(r, "keep", p, sizeof p);
    return access(p, F_OK) == 0;
}

void bl_reg_remove_all(bl_reg *r)
{
    char p[PATH_MAX];
    if (bl_reg_holders(r, NULL, 0) > 0) { /* (also removes the stale ones) */
        bl_reg_unlock(r);
        return;
    }
    path_in(r, "holders", p, sizeof p);
    rmdir(p);
    path_in(r, "keep", p, sizeof p);
    unlink(p);
    path_in(r, "lock", p, sizeof p);
    unlink(p);
    rmdir(r->dir);
    bl_reg_unlock(r);
}
