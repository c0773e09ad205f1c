/* sweep: see sweep.h. */
#include "launch/sweep.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/sha1.h"
#include "fs/fusefs.h"
#include "fs/users.h"
#include "launch/registry.h"

/* A socket or mount point younger than this may belong to a daemon being
 * started right now. */
#define SETTLE_S 5
#define PROBE_MS 3000

const char *bl_sweep_kind_name(bl_sweep_kind kind)
{
    switch (kind) {
    case BL_SWEEP_MOUNT: return "stale mount";
    case BL_SWEEP_SOCKET: return "dead socket";
    case BL_SWEEP_REGISTRY: return "stale registry";
    case BL_SWEEP_MOUNTPOINT: return "unused mount point";
    }
    return "?";
}

/* 1 if the kernel says the mount's daemon is gone (ENOTCONN), 0 if it
 * answers or we cannot tell within PROBE_MS.  The probe runs in a child: a
 * daemon that is alive but stopped would block us in the kernel. */
static int mount_is_dead(const char *mp)
{
    pid_t pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        DIR *d = opendir(mp);
        _exit(d ? 0 : errno == ENOTCONN ? 10 : 11);
    }
    int status = 0;
    for (int waited = 0;; waited += 10) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            return 0;
        if (waited >= PROBE_MS) {
            kill(pid, SIGKILL); /* a FUSE request is killable */
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            return 0;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 10;
}

typedef struct mounts_ctx {
    bool dry_run;
    bl_sweep_fn fn;
    void *arg;
} mounts_ctx;

static void one_mount(const char *mp, void *arg)
{
    mounts_ctx *m = arg;
    if (!mount_is_dead(mp))
        return;
    if (m->dry_run || bl_fusefs_detach(mp) == 0)
        m->fn(BL_SWEEP_MOUNT, mp, NULL, m->arg);
    else
        m->fn(BL_SWEEP_MOUNT, mp, geteuid() == 0 ? "umount2 failed" :
              "fusermount3 -uz failed (another user's mount: ask root)", m->arg);
}

void bl_sweep_mounts(bool dry_run, bl_sweep_fn fn, void *arg)
{
    mounts_ctx m = {dry_run, fn, arg};
    bl_mount_bitlib_at(NULL, one_mount, &m);
}

/* 1 someone accepts on the socket, 0 nobody listens (ECONNREFUSED), -1
 * cannot tell. */
static int socket_alive(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path)
        return -1;
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(fd);
    if (rc == 0)
        return 1;
    return e == ECONNREFUSED ? 0 : e == EAGAIN ? 1 : -1;
}

static bool settled(const struct stat *st)
{
    return time(NULL) - st->st_mtime >= SETTLE_S;
}

static bool has_suffix(const char *name, const char *suffix, size_t *stem)
{
    size_t n = strlen(name), s = strlen(suffix);
    if (n <= s || strcmp(name + n - s, suffix))
        return false;
    *stem = n - s;
    return true;
}

static bool empty_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return false;
    struct dirent *de;
    bool empty = true;
    while (empty && (de = readdir(d)))
        empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
    closedir(d);
    return empty;
}

/* The registry DIR/<key>.run of a stem: remove it under its lock if no
 * live holder is left and no daemon answers DIR/<key>.sock.  With mp, also
 * remove that unused mount point under the same lock. */
static void sweep_registry(const char *dir, const char *key, const char *mp, bool dry_run,
                           bl_sweep_fn fn, void *arg)
{
    char reg_dir[PATH_MAX], sock[PATH_MAX];
    snprintf(reg_dir, sizeof reg_dir, "%s/%s.run", dir, key);
    snprintf(sock, sizeof sock, "%s/%s.sock", dir, key);
    if (socket_alive(sock) == 1)
        return;
    struct stat st;
    bool had_registry = lstat(reg_dir, &st) == 0 && S_ISDIR(st.st_mode);
    if (!had_registry && !mp)
        return;
    bl_reg r;
    bl_err err;
    if (bl_reg_init(&r, reg_dir, &err) < 0)
        return;
    if (dry_run) {
        /* count without changing anything: a registry whose lock is free
         * (a mount point's registry is counted once, as itself) */
        if (had_registry && !mp && bl_reg_trylock(&r, &err) == 1) {
            size_t live = bl_reg_holders(&r, NULL, 0);
            bl_reg_unlock(&r);
            if (live == 0)
                fn(BL_SWEEP_REGISTRY, reg_dir, NULL, arg);
        }
        if (mp && !bl_mount_bitlib_at(mp, NULL, NULL) && empty_dir(mp))
            fn(BL_SWEEP_MOUNTPOINT, mp, NULL, arg);
        return;
    }
    if (bl_reg_trylock(&r, &err) != 1)
        return; /* a rank is joining right now */
    if (bl_reg_holders(&r, NULL, 0) > 0 || socket_alive(sock) == 1) {
        bl_reg_unlock(&r);
        return;
    }
    if (mp && lstat(mp, &st) == 0 && S_ISDIR(st.st_mode) && settled(&st) &&
        !bl_mount_bitlib_at(mp, NULL, NULL) && empty_dir(mp)) {
        if (rmdir(mp) == 0)
            fn(BL_SWEEP_MOUNTPOINT, mp, NULL, arg);
        else if (errno != EBUSY && errno != ENOTEMPTY)
            fn(BL_SWEEP_MOUNTPOINT, mp, strerror(errno), arg);
    }
    bl_reg_remove_all(&r); /* unlocks */
    if (had_registry && lstat(reg_dir, &st) < 0)
        fn(BL_SWEEP_REGISTRY, reg_dir, NULL, arg);
}

void bl_sweep_rundir(const char *dir, bool dry_run, bl_sweep_fn fn, void *arg)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path)
            continue;
        struct stat st;
        size_t stem;
        if (lstat(path, &st) < 0)
            continue;
        if (S_ISSOCK(st.st_mode) && has_suffix(de->d_name, ".sock", &stem)) {
            if (!settled(&st) || socket_alive(path) != 0)
                continue;
            if (dry_run || unlink(path) == 0)
                fn(BL_SWEEP_SOCKET, path, NULL, arg);
            else if (errno != ENOENT)
                fn(BL_SWEEP_SOCKET, path, strerror(errno), arg);
        } else if (S_ISDIR(st.st_mode) && has_suffix(de->d_name, ".run", &stem) && stem < 64) {
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)stem, de->d_name);
            sweep_registry(dir, key, NULL, dry_run, fn, arg);
        } else if (S_ISDIR(st.st_mode) && !strncmp(de->d_name, "mnt-", 4)) {
            /* a default mount point (launch/mountd.h): its registry's key
             * hashes its canonical path, as bl_ctl_default_path does */
            char canon[PATH_MAX];
            bl_err err;
            if (bl_fusefs_canonical(path, canon, sizeof canon, &err) < 0)
                continue;
            uint8_t md[BL_SHA1_LEN];
            char hex[2 * BL_SHA1_LEN + 1];
            bl_sha1(canon, strlen(canon), md);
            bl_hex(md, BL_SHA1_LEN, hex);
            hex[16] = 0;
            sweep_registry(dir, hex, path, dry_run, fn, arg);
        }
    }
    closedir(d);
}
