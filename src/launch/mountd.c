/* mountd: see mountd.h. */
#include "launch/mountd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/sha1.h"
#include "fs/ctl.h"
#include "fs/fusefs.h"
#include "fs/tree.h"
#include "fs/treeidx.h"

#define PROBE_TIMEOUT_MS 5000

static int mkdir_p(char *path, mode_t mode)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        int r = mkdir(path, mode);
        *p = '/';
        if (r < 0 && errno != EEXIST)
            return -1;
    }
    return mkdir(path, mode) < 0 && errno != EEXIST ? -1 : 0;
}

static int plan(bl_mountd *d, const bl_metainfo *mi, const char *mount, bool nofuse,
                bl_err *err);

int bl_mountd_plan(bl_mountd *d, const bl_metainfo *mi, const char *mount, bl_err *err)
{
    return plan(d, mi, mount, false, err);
}

int bl_mountd_plan_nofuse(bl_mountd *d, const bl_metainfo *mi, const char *mount, bl_err *err)
{
    return plan(d, mi, mount, true, err);
}

static int plan(bl_mountd *d, const bl_metainfo *mi, const char *mount, bool nofuse,
                bl_err *err)
{
    memset(d, 0, sizeof *d);
    bl_hex(mi->info_hash, BL_SHA1_LEN, d->info_hash);
    char want[PATH_MAX];
    if (!mount)
        mount = mi->mount;
    if (mount) {
        if (snprintf(want, sizeof want, "%s", mount) >= (int)sizeof want)
            return bl_fail(err, "--mount: path too long");
    } else {
        char rundir[PATH_MAX];
        if (bl_ctl_runtime_dir(rundir, sizeof rundir, true, err) < 0)
            return -1;
        if (snprintf(want, sizeof want, "%s/mnt-%.16s", rundir, d->info_hash) >= (int)sizeof want)
            return bl_fail(err, "mount point path too long");
    }
    if (!nofuse && mkdir_p(want, 0755) < 0 && errno != ENOTCONN)
        return bl_fail(err, "mount point %s: cannot create: %s%s", want, strerror(errno),
                       mount ? "; pass --mount DIR (a directory you may create)" : "");
    if ((nofuse ? bl_tree_canonical_mount(want, d->mountpoint, sizeof d->mountpoint, err)
                : bl_fusefs_canonical(want, d->mountpoint, sizeof d->mountpoint, err)) < 0 ||
        bl_ctl_default_path(d->mountpoint, ".sock", true, d->sock, sizeof d->sock, err) < 0 ||
        bl_ctl_default_path(d->mountpoint, ".log", true, d->log, sizeof d->log, err) < 0 ||
        bl_ctl_default_path(d->mountpoint, ".run", true, d->registry, sizeof d->registry, err) < 0)
        return -1;
    if (geteuid() != 0) {
        /* the key is the socket's file name; root's runtime directory is /run/bitlib */
        const char *base = strrchr(d->sock, '/');
        snprintf(d->site_sock, sizeof d->site_sock, "/run/bitlib%s", base ? base : "");
    }
    return 0;
}

/* A flat string field of our own JSON status object. */
static int json_field(const char *js, const char *key, char *out, size_t outsz)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(js, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    if (*p == '"')
        p++;
    size_t n = strcspn(p, "\",}");
    if (n >= outsz)
        return -1;
    memcpy(out, p, n);
    out[n] = 0;
    return 0;
}

/* 1 ours, 0 nobody answers, -1 another set. */
static int probe_one(bl_mountd *d, const char *sock, bl_err *err)
{
    bl_buf reply;
    bl_buf_init(&reply);
    bl_err e;
    if (bl_ctl_request(sock, "status", PROBE_TIMEOUT_MS, &reply, &e) < 0) {
        bl_buf_free(&reply);
        return 0;
    }
    char ih[64], pid[32];
    const char *js = (const char *)reply.data;
    int rc;
    if (json_field(js, "info_hash", ih, sizeof ih) < 0 || json_field(js, "pid", pid, sizeof pid) < 0) {
        rc = bl_fail(err, "%s answers, but not as a bitlib mount daemon", sock);
    } else if (strcmp(ih, d->info_hash)) {
        rc = bl_fail(err, "%s is mounted by a daemon (pid %s) of another set (info-hash %.16s..., "
                          "ours %.16s...); pass another --mount",
                     d->mountpoint, pid, ih, d->info_hash);
    } else {
        d->pid = atoi(pid);
        if (json_field(js, "mode", d->mode, sizeof d->mode) < 0)
            d->mode[0] = 0;
        if (json_field(js, "front", d->front, sizeof d->front) < 0)
            snprintf(d->front, sizeof d->front, "fuse");
        if (json_field(js, "tree", d->tree, sizeof d->tree) < 0 || !strcmp(d->tree, "null"))
            d->tree[0] = 0;
        if (sock != d->sock)
            snprintf(d->sock, sizeof d->sock, "%s", sock);
        rc = 1;
    }
    bl_buf_free(&reply);
    return rc;
}

int bl_mountd_probe(bl_mountd *d, bl_err *err)
{
    int rc = probe_one(d, d->sock, err);
    if (rc == 0 && d->site_sock[0] && access(d->site_sock, F_OK) == 0)
        rc = probe_one(d, d->site_sock, err);
    return rc;
}

int bl_mountd_spawn(char *const argv[], bl_err *err)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return bl_fail(err, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return bl_fail(err, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int nfd = open("/dev/null", O_RDWR);
        if (nfd >= 0) {
            dup2(nfd, STDIN_FILENO);
            dup2(nfd, STDOUT_FILENO);
        }
        dup2(pfd[1], STDERR_FILENO);
        /* the launcher's pipes and sockets (PMI, srun's I/O) stay with the rank */
        close_range(3, ~0u, 0);
        execv(argv[0], argv);
        fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    char buf[4096], last[1024] = "";
    size_t have = 0;
    for (;;) {
        ssize_t r = read(pfd[0], buf + have, sizeof buf - 1 - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        have += (size_t)r;
        buf[have] = 0;
        char *nl;
        while ((nl = strchr(buf, '\n'))) { /* keep the last complete line */
            *nl = 0;
            if (buf[0])
                snprintf(last, sizeof last, "%s", buf);
            size_t used = (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have - used + 1);
            have -= used;
        }
        if (have == sizeof buf - 1)
            have = 0; /* an endless line: drop it */
    }
    if (have && buf[0])
        snprintf(last, sizeof last, "%s", buf);
    close(pfd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (last[0])
        return bl_fail(err, "%s", last);
    if (WIFSIGNALED(status))
        return bl_fail(err, "%s was killed by signal %d before the mount worked", argv[0],
                       WTERMSIG(status));
    return bl_fail(err, "%s exited with status %d before the mount worked", argv[0],
                   WEXITSTATUS(status));
}

int bl_mountd_wait_prefetch(const bl_mountd *d, const bl_metainfo *mi, int timeout_ms,
                            bl_err *err)
{
    return bl_mountd_wait_files(d, (const char *const *)mi->prefetch, mi->num_prefetch,
                                "the prefetch list", timeout_ms, err);
}

int bl_mountd_wait_files(const bl_mountd *d, const char *const *paths, size_t n,
                         const char *what, int timeout_ms, bl_err *err)
{
    bl_buf reply, line;
    bl_buf_init(&reply);
    bl_buf_init(&line);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        bl_buf_reset(&line);
        bl_buf_printf(&line, "fetch %s", paths[i]);
        bl_err e;
        if (bl_ctl_request(d->sock, (const char *)line.data, timeout_ms, &reply, &e) < 0) {
            rc = bl_fail(err, "waiting for %s: the mount daemon (pid %d) did not "
                              "answer: %s; see %s", what, d->pid, e.msg, d->log);
        } else if (!strstr((const char *)reply.data, "\"ok\":true")) {
            char why[512] = "";
            const char *p = strstr((const char *)reply.data, "\"error\":\"");
            if (p)
                snprintf(why, sizeof why, "%.*s", (int)strcspn(p + 9, "\""), p + 9);
            rc = bl_fail(err, "fetching %s: %s", paths[i], why[0] ? why : "failed");
        }
    }
    bl_buf_free(&reply);
    bl_buf_free(&line);
    return rc;
}

int bl_mountd_fetch_tree(const bl_mountd *d, const char *path, int timeout_ms, char *out,
                         size_t outsz, bl_err *err)
{
    bl_buf reply, line;
    bl_buf_init(&reply);
    bl_buf_init(&line);
    bl_buf_printf(&line, "fetch %s", path);
    bl_err e;
    int rc = 0;
    if (bl_ctl_request(d->sock, (const char *)line.data, timeout_ms, &reply, &e) < 0) {
        rc = bl_fail(err, "fetching %s: the mount daemon (pid %d) did not answer: %s; see %s",
                     path, d->pid, e.msg, d->log);
    } else {
        int r = bl_treeidx_reply((const char *)reply.data, "tree", out, outsz);
        if (r == 0)
            rc = bl_fail(err, "fetching %s: %s", path, out);
        else if (r < 0)
            rc = bl_fail(err, "fetching %s: the daemon's answer has no tree path (is it a FUSE "
                              "mount?)", path);
    }
    bl_buf_free(&reply);
    bl_buf_free(&line);
    return rc;
}
