/* ctl: see ctl.h. */
#include "fs/ctl.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"
#include "core/sha1.h"
#include "fs/tree.h"

#define MAX_CONNS 256
#define OUT_MAX (4u << 20) /* a client that does not read its replies is dropped */

typedef struct conn conn;
struct conn {
    bl_ctl *ctl;
    conn *next, *prev;
    int fd;
    bl_buf in, out;
    bool busy;          /* a fetch is waiting: do not read the next request */
    bool closing;       /* close once out is flushed */
    bool eof;
    int64_t wait_id;
    uint64_t wait_start;
    bool whole;         /* the fetch is of the whole file (not fetch-range) */
    size_t entry;
    char *path;         /* of the fetch being waited for */
};

struct bl_ctl {
    bl_loop *loop;
    bl_node *node;          /* NULL: a daemon without a mount (bl_ctl_serve) */
    bl_tree *tree;          /* without FUSE: fetched files go into it */
    bl_ctl_status_fn status_fn;
    void *status_arg;
    int fd;
    char *sock_path;
    char *mountpoint;
    conn *conns;
    unsigned nconns;
};

static void conn_close(conn *c);
static void conn_process(conn *c);

/* ---- output ------------------------------------------------------------------ */

static void conn_update_events(conn *c)
{
    unsigned ev = 0;
    if (!c->busy && !c->closing && !c->eof)
        ev |= BL_EV_READ;
    if (c->out.len)
        ev |= BL_EV_WRITE;
    bl_loop_mod(c->ctl->loop, c->fd, ev);
}

/* Write what we can; returns -1 if the connection died (and was closed). */
static int conn_flush(conn *c)
{
    while (c->out.len) {
        ssize_t w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (w <= 0) {
            conn_close(c);
            return -1;
        }
        bl_buf_consume(&c->out, (size_t)w);
    }
    if (!c->out.len && c->closing) {
        conn_close(c);
        return -1;
    }
    if (c->out.len > OUT_MAX || c->out.oom) {
        conn_close(c);
        return -1;
    }
    conn_update_events(c);
    return 0;
}

static void reply_error(conn *c, const char *msg)
{
    bl_buf_puts(&c->out, "{\"ok\":false,\"error\":");
    bl_json_cstr(&c->out, msg);
    bl_buf_puts(&c->out, "}\n");
}

/* ---- requests ------------------------------------------------------------------ */

/* Set-relative form of a request path, or NULL if it is outside the set. */
static const char *relative(bl_ctl *ctl, const char *p)
{
    const char *roots[2] = {ctl->mountpoint, bl_node_mi(ctl->node)->mount};
    return bl_ctl_relative(p, roots, 2);
}

static size_t resolve(conn *c, const char *path, bool follow, const char **why)
{
    const char *rel = relative(c->ctl, path);
    if (!rel) {
        *why = "path is not under the mount point";
        return BL_FS_NO_ENTRY;
    }
    size_t e = bl_fsindex_resolve(bl_node_index(c->ctl->node), rel, follow);
    if (e == BL_FS_NO_ENTRY)
        *why = "no such file in the set";
    return e;
}

static void reply_lookup(conn *c, const char *path)
{
    const char *why;
    size_t e = resolve(c, path, false, &why);
    if (e == BL_FS_NO_ENTRY) {
        reply_error(c, why);
        return;
    }
    const bl_mentry *me = &bl_node_mi(c->ctl->node)->entries[e];
    const char *type = S_ISDIR(me->mode) ? "dir" : S_ISLNK(me->mode) ? "symlink" : "file";
    bl_buf_puts(&c->out, "{\"ok\":true,\"path\":");
    bl_json_cstr(&c->out, me->path);
    bl_buf_printf(&c->out, ",\"type\":\"%s\",\"mode\":%u,\"size\":%" PRIu64 ",\"local\":%s", type,
                  me->mode & 07777, me->size,
                  bl_node_entry_local(c->ctl->node, e) ? "true" : "false");
    if (me->target) {
        bl_buf_puts(&c->out, ",\"target\":");
        bl_json_cstr(&c->out, me->target);
    }
    bl_buf_puts(&c->out, "}\n");
}

static void reply_fetched(conn *c)
{
    bl_node *n = c->ctl->node;
    const bl_metainfo *mi = bl_node_mi(n);
    const bl_mentry *me = &mi->entries[c->entry];
    bl_err err;
    int made = c->ctl->tree && c->whole ? bl_tree_materialise(c->ctl->tree, c->entry, &err) : 1;
    if (made <= 0) {
        reply_error(c, made < 0 ? err.msg : "the file is not local after all");
        return;
    }
    bl_buf_puts(&c->out, "{\"ok\":true,\"path\":");
    bl_json_cstr(&c->out, me->path);
    bl_buf_printf(&c->out, ",\"size\":%" PRIu64 ",\"cache\":", me->size);
    if (me->file >= 0) {
        bl_buf cp;
        bl_buf_init(&cp);
        bl_buf_printf(&cp, "%s/%s", bl_node_cache_dir(n), mi->files[me->file].path);
        bl_json_str(&c->out, (const char *)cp.data, cp.len);
        bl_buf_free(&cp);
    } else {
        bl_buf_puts(&c->out, "null");
    }
    if (c->ctl->tree && c->whole) {
        bl_buf tp;
        bl_buf_init(&tp);
        bl_tree_path(c->ctl->tree, c->entry, &tp);
        bl_buf_puts(&c->out, ",\"tree\":");
        bl_json_str(&c->out, (const char *)tp.data, tp.len);
        bl_buf_free(&tp);
    }
    bl_buf_printf(&c->out, ",\"waited_ms\":%" PRIu64 "}\n",
                  bl_loop_now_ms(c->ctl->loop) - c->wait_start);
}

static void fetch_ready(void *arg, int result, uint32_t piece)
{
    conn *c = arg;
    c->busy = false;
    c->wait_id = 0;
    if (result == 0) {
        reply_fetched(c);
    } else {
        char msg[256];
        if (result == ETIMEDOUT) {
            bl_node_counters_of(c->ctl->node)->fetch_timeouts++;
            bl_error("fetch of %s failed: piece %u did not arrive in time", c->path, piece);
            snprintf(msg, sizeof msg, "piece %u did not arrive within the read timeout", piece);
        } else if (result == ECANCELED) {
            snprintf(msg, sizeof msg, "the daemon is shutting down");
        } else {
            snprintf(msg, sizeof msg, "piece %u is not local and the cache cannot store it: %s",
                     piece, strerror(result));
        }
        reply_error(c, msg);
    }
    free(c->path);
    c->path = NULL;
    if (conn_flush(c) == 0)
        conn_process(c); /* requests that queued up behind the fetch */
}

static void start_fetch(conn *c, uint64_t off, uint64_t len, const char *path)
{
    const char *why;
    size_t e = resolve(c, path, true, &why);
    if (e == BL_FS_NO_ENTRY) {
        reply_error(c, why);
        return;
    }
    const bl_mentry *me = &bl_node_mi(c->ctl->node)->entries[e];
    if (!S_ISREG(me->mode)) {
        reply_error(c, "not a regular file");
        return;
    }
    bl_node_counters_of(c->ctl->node)->fetches++;
    c->entry = e;
    c->whole = off == 0 && len == 0;
    c->wait_start = bl_loop_now_ms(c->ctl->loop);
    bl_node_opened(c->ctl->node, e);
    uint32_t failed = 0;
    int rc = bl_node_wait(c->ctl->node, e, off, len, fetch_ready, c, &c->wait_id, &failed);
    if (rc == 1) {
        reply_fetched(c);
        return;
    }
    if (rc == -3) {
        char msg[160];
        snprintf(msg, sizeof msg, "piece %u is not local and the cache cannot store it: %s",
                 failed, strerror(bl_node_store_errno(c->ctl->node)));
        reply_error(c, msg);
        return;
    }
    if (rc == -2) {
        char msg[128];
        snprintf(msg, sizeof msg, "piece %u did not arrive within the read timeout", failed);
        bl_node_counters_of(c->ctl->node)->fetch_timeouts++;
        reply_error(c, msg);
        return;
    }
    if (rc < 0) {
        reply_error(c, "too many requests waiting");
        return;
    }
    c->path = strdup(me->path);
    c->busy = true;
}

static void handle(conn *c, char *line)
{
    bl_ctl_req r;
    bl_ctl_parse(line, &r);
    if (r.op == BL_CTL_PING) {
        bl_buf_puts(&c->out, "{\"ok\":true}\n");
    } else if (r.op == BL_CTL_STATUS) {
        if (c->ctl->node)
            bl_node_status_json(c->ctl->node, &c->out, c->ctl->mountpoint);
        else
            c->ctl->status_fn(c->ctl->status_arg, &c->out);
        bl_buf_putc(&c->out, '\n');
    } else if (!c->ctl->node) {
        reply_error(c, "this daemon serves no mount; known requests: ping, status");
    } else if (r.op == BL_CTL_OPENED) {
        const size_t *list;
        size_t n = bl_node_opened_list(c->ctl->node, &list);
        const bl_metainfo *mi = bl_node_mi(c->ctl->node);
        bl_buf_puts(&c->out, "{\"ok\":true,\"opened\":[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                bl_buf_putc(&c->out, ',');
            bl_json_cstr(&c->out, mi->entries[list[i]].path);
        }
        bl_buf_puts(&c->out, "]}\n");
    } else if (r.op == BL_CTL_LOOKUP) {
        reply_lookup(c, r.path);
    } else if (r.op == BL_CTL_FETCH || r.op == BL_CTL_FETCH_RANGE) {
        start_fetch(c, r.off, r.len, r.path);
    } else if (r.op == BL_CTL_BAD_RANGE) {
        reply_error(c, "usage: fetch-range OFF LEN PATH");
    } else {
        char safe[64];
        char msg[224];
        snprintf(msg, sizeof msg, "unknown request '%s'; known: ping, status, opened, "
                                  "lookup PATH, fetch PATH, fetch-range OFF LEN PATH",
                 bl_log_safe(safe, sizeof safe, line, strlen(line)));
        reply_error(c, msg);
    }
}

/* Answer complete lines while not waiting on a fetch. */
static void conn_process(conn *c)
{
    while (!c->busy && !c->closing) {
        char line[BL_CTL_LINE_MAX];
        size_t used;
        int got = bl_ctl_next_line(c->in.data, c->in.len, line, &used);
        if (got < 0) {
            reply_error(c, "request longer than 4096 bytes");
            c->closing = true;
        }
        if (got <= 0)
            break;
        bl_buf_consume(&c->in, used);
        handle(c, line);
    }
    if (c->eof && !c->busy)
        c->closing = true; /* conn_flush closes once the answers are out */
    conn_flush(c);
}

static void on_conn(bl_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    conn *c = arg;
    if (events & BL_EV_WRITE) {
        if (conn_flush(c) < 0)
            return;
    }
    if (events & (BL_EV_READ | BL_EV_ERROR)) {
        if (c->busy || c->closing) {
            if (events & BL_EV_ERROR)
                conn_close(c);
            return;
        }
        char buf[4096];
        for (;;) {
            ssize_t r = recv(fd, buf, sizeof buf, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (r <= 0) {
                c->eof = true;
                break;
            }
            bl_buf_put(&c->in, buf, (size_t)r);
            if (c->in.len > BL_CTL_LINE_MAX * 2)
                break; /* process before reading more */
        }
        conn_process(c);
    }
}

static void conn_close(conn *c)
{
    bl_ctl *ctl = c->ctl;
    if (c->busy && c->wait_id)
        bl_node_cancel(ctl->node, c->wait_id);
    bl_loop_del(ctl->loop, c->fd);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        ctl->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ctl->nconns--;
    bl_buf_free(&c->in);
    bl_buf_free(&c->out);
    free(c->path);
    free(c);
}

static void on_accept(bl_loop *loop, int fd, unsigned events, void *arg)
{
    (void)events;
    bl_ctl *ctl = arg;
    for (int i = 0; i < 64; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                bl_warn("control socket: accept: %s", strerror(errno));
            return;
        }
        if (ctl->nconns >= MAX_CONNS) {
            close(cfd);
            continue;
        }
        conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(cfd);
            return;
        }
        c->ctl = ctl;
        c->fd = cfd;
        bl_buf_init(&c->in);
        bl_buf_init(&c->out);
        if (bl_loop_add(loop, cfd, BL_EV_READ, on_conn, c, NULL) < 0) {
            close(cfd);
            free(c);
            continue;
        }
        c->next = ctl->conns;
        if (c->next)
            c->next->prev = c;
        ctl->conns = c;
        ctl->nconns++;
    }
}

/* ---- life ------------------------------------------------------------------------- */

int bl_ctl_runtime_dir(char *out, size_t outsz, bool create, bl_err *err)
{
    int w;
    mode_t mode = 0700;
    const char *forced = getenv("BITLIB_RUNTIME_DIR"); /* emulated nodes sharing one host */
    if (forced && forced[0] == '/') {
        w = snprintf(out, outsz, "%s", forced);
    } else if (geteuid() == 0) {
        w = snprintf(out, outsz, "/run/bitlib");
        mode = 0755;
    } else if (getenv("XDG_RUNTIME_DIR") && getenv("XDG_RUNTIME_DIR")[0] == '/') {
        w = snprintf(out, outsz, "%s/bitlib", getenv("XDG_RUNTIME_DIR"));
    } else {
        w = snprintf(out, outsz, "/tmp/bitlib-%u", (unsigned)geteuid());
    }
    if (w < 0 || (size_t)w >= outsz)
        return bl_fail(err, "runtime directory path too long");
    if (create && mkdir(out, mode) < 0 && errno != EEXIST)
        return bl_fail(err, "%s: cannot create: %s", out, strerror(errno));
    return 0;
}

int bl_ctl_default_path(const char *canonical_mp, const char *suffix, bool create, char *out,
                        size_t outsz, bl_err *err)
{
    char dir[PATH_MAX];
    if (bl_ctl_runtime_dir(dir, sizeof dir, create, err) < 0)
        return -1;
    uint8_t md[BL_SHA1_LEN];
    char hex[2 * BL_SHA1_LEN + 1];
    bl_sha1(canonical_mp, strlen(canonical_mp), md);
    bl_hex(md, BL_SHA1_LEN, hex);
    hex[16] = 0;
    int w = snprintf(out, outsz, "%s/%s%s", dir, hex, suffix);
    if (w < 0 || (size_t)w >= outsz)
        return bl_fail(err, "control path too long");
    return 0;
}

void bl_ctl_runtime_dirs(void (*fn)(const char *dir, void *arg), void *arg)
{
    char dir[PATH_MAX];
    if (bl_ctl_runtime_dir(dir, sizeof dir, false, NULL) == 0 && access(dir, X_OK) == 0)
        fn(dir, arg);
    if (geteuid() != 0)
        return;
    /* root sees every user's daemons */
    static const char *const parents[] = {"/run/user", "/tmp"};
    for (int i = 0; i < 2; i++) {
        DIR *d = opendir(parents[i]);
        if (!d)
            continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            char *end;
            const char *num = i == 0 ? de->d_name : !strncmp(de->d_name, "bitlib-", 7) ?
                                                    de->d_name + 7 : NULL;
            if (!num || !*num)
                continue;
            unsigned long uid = strtoul(num, &end, 10);
            if (*end || uid == 0)
                continue;
            int w = i == 0 ? snprintf(dir, sizeof dir, "/run/user/%lu/bitlib", uid)
                           : snprintf(dir, sizeof dir, "/tmp/bitlib-%lu", uid);
            struct stat st;
            if (w > 0 && (size_t)w < sizeof dir && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
                st.st_uid == uid)
                fn(dir, arg);
        }
        closedir(d);
    }
}

static int fill_sun(struct sockaddr_un *sun, const char *path, bl_err *err)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sun->sun_path)
        return bl_fail(err, "%s: socket path longer than %zu bytes", path,
                       sizeof sun->sun_path - 1);
    strcpy(sun->sun_path, path);
    return 0;
}

static bl_ctl *ctl_open(bl_loop *loop, bl_node *node, const char *sock_path,
                        const char *mountpoint, bl_err *err);

bl_ctl *bl_ctl_new(bl_loop *loop, bl_node *node, const char *sock_path, const char *mountpoint,
                   bl_err *err)
{
    return ctl_open(loop, node, sock_path, mountpoint, err);
}

bl_ctl *bl_ctl_serve(bl_loop *loop, const char *sock_path, bl_ctl_status_fn status, void *arg,
                     bl_err *err)
{
    bl_ctl *c = ctl_open(loop, NULL, sock_path, "", err);
    if (c) {
        c->status_fn = status;
        c->status_arg = arg;
    }
    return c;
}

static bl_ctl *ctl_open(bl_loop *loop, bl_node *node, const char *sock_path,
                        const char *mountpoint, bl_err *err)
{
    struct sockaddr_un sun;
    if (fill_sun(&sun, sock_path, err) < 0)
        return NULL;
    /* a live daemon answers on it: refuse; a dead one left a file: replace it */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0) {
        if (connect(probe, (struct sockaddr *)&sun, sizeof sun) == 0) {
            close(probe);
            bl_fail(err, "%s: another bitlib daemon is serving %s", sock_path,
                    node ? "this mount point" : "the same thing");
            return NULL;
        }
        close(probe);
    }
    unlink(sock_path);
    bl_ctl *c = calloc(1, sizeof *c);
    if (!c) {
        bl_fail(err, "out of memory");
        return NULL;
    }
    c->loop = loop;
    c->node = node;
    c->sock_path = strdup(sock_path);
    c->mountpoint = strdup(mountpoint);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (!c->sock_path || !c->mountpoint || c->fd < 0) {
        bl_fail(err, "control socket: %s", c->fd < 0 ? strerror(errno) : "out of memory");
        goto fail;
    }
    if (bind(c->fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        bl_fail(err, "%s: bind: %s", sock_path, strerror(errno));
        goto fail;
    }
    if (geteuid() == 0)
        chmod(sock_path, 0666);
    if (listen(c->fd, 64) < 0) {
        bl_fail(err, "%s: listen: %s", sock_path, strerror(errno));
        goto fail;
    }
    if (bl_loop_add(loop, c->fd, BL_EV_READ, on_accept, c, err) < 0)
        goto fail;
    return c;
fail:
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
        unlink(sock_path);
    }
    free(c->sock_path);
    free(c->mountpoint);
    free(c);
    return NULL;
}

void bl_ctl_set_tree(bl_ctl *c, bl_tree *tree) { c->tree = tree; }

void bl_ctl_free(bl_ctl *c)
{
    if (!c)
        return;
    while (c->conns)
        conn_close(c->conns);
    bl_loop_del(c->loop, c->fd);
    close(c->fd);
    unlink(c->sock_path);
    free(c->sock_path);
    free(c->mountpoint);
    free(c);
}

/* ---- client ------------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int bl_ctl_request(const char *sock_path, const char *line, int timeout_ms, bl_buf *reply,
                   bl_err *err)
{
    struct sockaddr_un sun;
    if (fill_sun(&sun, sock_path, err) < 0)
        return -1;
    if (strlen(line) + 1 > BL_CTL_LINE_MAX)
        return bl_fail(err, "request longer than %d bytes", BL_CTL_LINE_MAX);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return bl_fail(err, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        int e = errno;
        close(fd);
        if (e == ENOENT || e == ECONNREFUSED)
            return bl_fail(err, "no bitlib daemon answers on %s (is the mount running?)",
                           sock_path);
        return bl_fail(err, "%s: %s", sock_path, strerror(e));
    }
    bl_buf req;
    bl_buf_init(&req);
    bl_buf_printf(&req, "%s\n", line);
    size_t sent = 0;
    while (sent < req.len) {
        ssize_t w = send(fd, req.data + sent, req.len - sent, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            bl_buf_free(&req);
            close(fd);
            return bl_fail(err, "%s: send: %s", sock_path, strerror(errno));
        }
        sent += (size_t)w;
    }
    bl_buf_free(&req);
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : mono_ms() + timeout_ms;
    bl_buf_reset(reply);
    for (;;) {
        uint8_t *nl = reply->len ? memchr(reply->data, '\n', reply->len) : NULL;
        if (nl) {
            reply->len = (size_t)(nl - reply->data);
            reply->data[reply->len] = 0;
            close(fd);
            return 0;
        }
        int64_t left = deadline == INT64_MAX ? -1 : deadline - mono_ms();
        if (deadline != INT64_MAX && left <= 0) {
            close(fd);
            return bl_fail(err, "%s: no answer within %d ms", sock_path, timeout_ms);
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        char buf[65536];
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(fd);
            return bl_fail(err, "%s: the daemon closed the connection without an answer",
                           sock_path);
        }
        bl_buf_put(reply, buf, (size_t)r);
        if (reply->len > (64u << 20)) {
            close(fd);
            return bl_fail(err, "%s: answer too long", sock_path);
        }
    }
}
