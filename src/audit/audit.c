/* libbitlib-audit.so: the dynamic loader's side of a set without FUSE
 * (bitlib run --no-fuse), an LD_AUDIT library (rtld-audit(7)).
 *
 * For every path the loader is about to try (la_objsearch), a path under the
 * set's mount point or under its tree in the cache is answered from the
 * set's names alone (fs/treeidx.h; the index the daemon wrote): a name the
 * set does not hold is skipped without touching any file system (answered
 * "": the loader's open fails with ENOENT before any lookup and it goes on to
 * the next directory); a regular file already in the tree is returned at
 * once; otherwise the node
 * daemon is asked over its control socket to make the file local
 * ("fetch PATH", fs/ctl.h) and the file's path in the tree is returned once
 * it is there.  Paths outside the set pass through untouched.  If the daemon
 * cannot be reached, does not answer within the timeout, or fails the fetch,
 * that load fails (NULL: the loader goes on searching and reports the
 * library missing) with one line on stderr naming the file; after the
 * daemon was found gone once, later loads do not wait for it again.
 *
 * Configuration, from the environment bitlib run sets:
 *   BITLIB_AUDIT_MOUNT       the set's mount point (absolute)
 *   BITLIB_AUDIT_TREE        the tree's root in the cache
 *   BITLIB_AUDIT_INDEX       the index file
 *   BITLIB_AUDIT_SOCKET      the daemon's control socket
 *   BITLIB_AUDIT_TIMEOUT_MS  how long one fetch may take (default 70000)
 *   BITLIB_AUDIT_VERBOSE     1: one line on stderr per redirected load
 * Without MOUNT, TREE and SOCKET the library does nothing.
 *
 * Plain libc only, built from this file and fs/treeidx.c: it runs in the
 * loader's audit namespace, before the program's own libraries, with the
 * loader's lock held, so it must be small and must not block for long. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fs/ctlreq.h" /* BL_CTL_LINE_MAX */
#include "fs/treeidx.h"

#define DEFAULT_TIMEOUT_MS 70000

static struct {
    bool inited, on, gone, verbose;
    char mount[PATH_MAX], tree[PATH_MAX], sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int timeout_ms;
    char *text;
    bl_treeidx ix;
    bool have_ix;
} g;

/* The glibc 2.35+ check: an audit library that answers a version newer than
 * the loader's is refused, one that answers 0 is not loaded.  Answer the
 * smaller of what the loader speaks and what we were built for. */
unsigned int la_version(unsigned int version)
{
    return version < LAV_CURRENT ? version : LAV_CURRENT;
}

static void load_index(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size <= 0 || (uint64_t)st.st_size > BL_TREEIDX_MAX_BYTES) {
        close(fd);
        return;
    }
    char *text = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (text && got < (size_t)st.st_size) {
        ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!text || got != (size_t)st.st_size) {
        free(text);
        return;
    }
    text[got] = 0;
    if (bl_treeidx_parse(&g.ix, text, got) < 0) {
        fprintf(stderr, "bitlib-audit: %s is not a tree index; asking the daemon for every "
                        "name under the set\n", path);
        free(text);
        return;
    }
    g.text = text;
    g.have_ix = true;
}

static bool copy_env(const char *name, char *out, size_t outsz)
{
    const char *v = getenv(name);
    if (!v || v[0] != '/' || strlen(v) >= outsz)
        return false;
    strcpy(out, v);
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        out[--n] = 0;
    return true;
}

static void init(void)
{
    if (g.inited)
        return;
    g.inited = true;
    if (!copy_env("BITLIB_AUDIT_MOUNT", g.mount, sizeof g.mount) ||
        !copy_env("BITLIB_AUDIT_TREE", g.tree, sizeof g.tree) ||
        !copy_env("BITLIB_AUDIT_SOCKET", g.sock, sizeof g.sock))
        return;
    const char *t = getenv("BITLIB_AUDIT_TIMEOUT_MS");
    long ms = t ? strtol(t, NULL, 10) : 0;
    g.timeout_ms = ms > 0 && ms < 86400000 ? (int)ms : DEFAULT_TIMEOUT_MS;
    const char *v = getenv("BITLIB_AUDIT_VERBOSE");
    g.verbose = v && v[0] == '1';
    char index[PATH_MAX];
    if (copy_env("BITLIB_AUDIT_INDEX", index, sizeof index))
        load_index(index);
    g.on = true;
}

/* The part of path after root ("" or starting with '/'), or NULL. */
static const char *under(const char *path, const char *root)
{
    size_t n = strlen(root);
    if (n == 1 && root[0] == '/')
        return path;
    if (strncmp(path, root, n) || (path[n] != '/' && path[n] != 0))
        return NULL;
    return path + n;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ask the daemon for set-relative rel: 1 with its tree path in out, 0 the
 * set has no such file (quietly), -1 failed (why says it). */
static int ask(const char *rel, char *out, size_t outsz, char *why, size_t whysz)
{
    if (g.gone) {
        snprintf(why, whysz, "the bitlib daemon did not answer on %s before", g.sock);
        return -1;
    }
    char line[BL_CTL_LINE_MAX];
    int ln = snprintf(line, sizeof line, "fetch %s\n", rel);
    if (ln < 0 || (size_t)ln >= sizeof line) {
        snprintf(why, whysz, "path too long for the control socket");
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, whysz, "socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, g.sock, strlen(g.sock) + 1);
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        snprintf(why, whysz, "no bitlib daemon answers on %s (%s)", g.sock, strerror(errno));
        close(fd);
        g.gone = true;
        return -1;
    }
    for (int sent = 0; sent < ln;) {
        ssize_t w = send(fd, line + sent, (size_t)(ln - sent), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(why, whysz, "%s: send: %s", g.sock, strerror(errno));
            close(fd);
            g.gone = true;
            return -1;
        }
        sent += (int)w;
    }
    char reply[BL_CTL_LINE_MAX * 2 + 256];
    size_t got = 0;
    long long deadline = mono_ms() + g.timeout_ms;
    int rc = -1;
    for (;;) {
        char *nl = got ? memchr(reply, '\n', got) : NULL;
        if (nl) {
            *nl = 0;
            int r = bl_treeidx_reply(reply, "tree", out, outsz);
            if (r == 1) {
                rc = 1;
            } else if (r == 0) {
                /* the set has no such file (a symlink out of it): a plain miss */
                rc = !strcmp(out, "no such file in the set") ? 0 : -1;
                if (rc < 0)
                    snprintf(why, whysz, "the bitlib daemon says: %s", out);
            } else {
                snprintf(why, whysz, "unexpected answer from %s", g.sock);
            }
            break;
        }
        long long left = deadline - mono_ms();
        if (left <= 0) {
            snprintf(why, whysz, "the bitlib daemon on %s did not answer within %d ms", g.sock,
                     g.timeout_ms);
            g.gone = true;
            break;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
        if (pr <= 0)
            continue;
        if (got >= sizeof reply - 1) {
            snprintf(why, whysz, "answer from %s too long", g.sock);
            break;
        }
        ssize_t r = recv(fd, reply + got, sizeof reply - 1 - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(why, whysz, "the bitlib daemon on %s closed the connection without an "
                                 "answer (it is gone)", g.sock);
            g.gone = true;
            break;
        }
        got += (size_t)r;
        reply[got] = 0;
    }
    close(fd);
    return rc;
}

/* What a name the set does not hold is answered with: not NULL, because glibc
 * (open_path, 2.36) gives up the rest of a search path (LD_LIBRARY_PATH, RUNPATH)
 * when a candidate fails with an errno other than ENOENT or EACCES, and after
 * a NULL answer the loader's errno is whatever its last failed call left (its
 * own, not ours to set): a library in LD_LIBRARY_PATH's second directory of the
 * set was then not found (bench/fs).  The loader's open("") fails with ENOENT
 * at once, before any path lookup: still no file system touched. */
static const char MISS[] = "";

char *la_objsearch(const char *name, uintptr_t *cookie, unsigned int flag)
{
    (void)cookie;
    (void)flag;
    init();
    if (!g.on || name[0] != '/')
        return (char *)(uintptr_t)name;
    const char *rel = under(name, g.mount);
    if (!rel)
        rel = under(name, g.tree);
    if (!rel)
        return (char *)(uintptr_t)name; /* outside the set: untouched */
    char norm[PATH_MAX], path[PATH_MAX], why[PATH_MAX + 128];
    int k = g.have_ix ? bl_treeidx_classify(&g.ix, rel, norm, sizeof norm) : BL_TREEIDX_ASK;
    if (k == BL_TREEIDX_MISS)
        return (char *)(uintptr_t)MISS; /* the set has no such file: nothing is touched */
    if (k == BL_TREEIDX_FILE) {
        /* a name in the tree is a whole verified file (fs/tree.h) */
        int w = snprintf(path, sizeof path, "%s/%s", g.tree, norm);
        if (w > 0 && (size_t)w < sizeof path && access(path, F_OK) == 0) {
            if (g.verbose)
                fprintf(stderr, "bitlib-audit: %s -> %s (local)\n", name, path);
            return strdup(path);
        }
    } else {
        while (*rel == '/')
            rel++;
        snprintf(norm, sizeof norm, "%s", rel);
        /* through a symlink: the name itself, as a mount would show it (the
         * loader's $ORIGIN is then the symlink's directory there too), once
         * what it leads to is in the tree */
        int w = snprintf(path, sizeof path, "%s/%s", g.tree, norm);
        if (w > 0 && (size_t)w < sizeof path && access(path, F_OK) == 0) {
            if (g.verbose)
                fprintf(stderr, "bitlib-audit: %s -> %s (local)\n", name, path);
            return strdup(path);
        }
    }
    int r = ask(norm, path, sizeof path, why, sizeof why);
    if (r == 1 && k == BL_TREEIDX_ASK) {
        char link[PATH_MAX];
        int w = snprintf(link, sizeof link, "%s/%s", g.tree, norm);
        if (w > 0 && (size_t)w < sizeof link && access(link, F_OK) == 0)
            snprintf(path, sizeof path, "%s", link);
    }
    if (r == 1) {
        if (g.verbose)
            fprintf(stderr, "bitlib-audit: %s -> %s (fetched)\n", name, path);
        return strdup(path);
    }
    if (r < 0)
        fprintf(stderr, "bitlib-audit: cannot load %s: %s\n", name, why);
    return NULL;
}
