/* depot: the intermediate node's store and sessions (see depot.h). */
#include "offload/depot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/net.h"
#include "core/sha1.h"
#include "offload/dpconn.h"

#define FWD_WINDOW 4

struct forward;

struct session {
    bl_depot *d;
    bl_dpconn *c;
    int authed;
    uint8_t role;
    uint8_t id[BL_OFFLOAD_ID_LEN];
    char idhex[2 * BL_OFFLOAD_ID_LEN + 1];
    uint8_t nonce[BL_DP_NONCE_LEN];
    char peer[BL_NET_ADDRSTRLEN];
    struct forward *fwd;       /* a FORWARD this session asked for */
    struct session *next;
};

/* Copying one offload's chunks to another depot. */
struct forward {
    bl_depot *d;
    struct session *asker;     /* NULL once the asker left */
    bl_dpconn *c;
    char idhex[2 * BL_OFFLOAD_ID_LEN + 1];
    uint32_t *list;
    uint32_t n, next, acked, inflight;
    char target[BL_DP_MAX_TEXT + 1];
    struct forward *nextf;
};

struct bl_depot {
    bl_loop *loop;
    char *dir;
    uint64_t capacity, used, chunks;
    bl_okey key;
    int lfd;
    struct session *sessions;
    struct forward *forwards;
};

static int fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

static int is_idhex(const char *s)
{
    if (strlen(s) != 2 * BL_OFFLOAD_ID_LEN)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

/* Parse "<index>.chunk"; -1 if the name is something else. */
static int64_t chunk_name(const char *name)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(name, &end, 10);
    if (end == name || errno || v > UINT32_MAX || strcmp(end, ".chunk") || (name[0] == '0' && end != name + 1))
        return -1;
    return (int64_t)v;
}

/* Indexes held for offload idhex, sorted; *n set.  NULL with *n = 0 when
 * none (or on error, logged). */
static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t *list_chunks(const bl_depot *d, const char *idhex, uint32_t *n)
{
    *n = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", d->dir, idhex);
    DIR *dir = opendir(path);
    if (!dir)
        return NULL;
    uint32_t *v = NULL, cap = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        int64_t i = chunk_name(e->d_name);
        if (i < 0)
            continue;
        if (*n == cap) {
            if (cap >= BL_DP_MAX_LIST)
                break;
            cap = cap ? cap * 2 : 64;
            uint32_t *nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv)
                break;
            v = nv;
        }
        v[(*n)++] = (uint32_t)i;
    }
    closedir(dir);
    if (*n)
        qsort(v, *n, sizeof *v, cmp_u32);
    return v;
}

/* Count what the store holds; remove temporaries left by a crash. */
static int scan(bl_depot *d, bl_err *err)
{
    DIR *top = opendir(d->dir);
    if (!top)
        return bl_fail(err, "depot store %s: %s", d->dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(top))) {
        if (!is_idhex(e->d_name))
            continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", d->dir, e->d_name);
        DIR *s = opendir(sub);
        if (!s)
            continue;
        struct dirent *f;
        while ((f = readdir(s))) {
            char p[4096 + 300];
            snprintf(p, sizeof p, "%s/%s", sub, f->d_name);
            if (!strncmp(f->d_name, ".tmp.", 5)) {
                if (unlink(p) < 0)
                    bl_warn("depot: cannot remove the leftover %s: %s", p, strerror(errno));
                continue;
            }
            struct stat st;
            if (chunk_name(f->d_name) < 0 || stat(p, &st) < 0 || st.st_size < BL_DEPOT_HDR)
                continue;
            d->chunks++;
            d->used += (uint64_t)st.st_size - BL_DEPOT_HDR;
        }
        closedir(s);
    }
    closedir(top);
    return 0;
}

static void chunk_path(const bl_depot *d, const char *idhex, uint32_t index, char *out, size_t n)
{
    snprintf(out, n, "%s/%s/%" PRIu32 ".chunk", d->dir, idhex, index);
}

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Store one chunk durably; returns 0, or -1 with why filled. */
static int store_chunk(bl_depot *d, const char *idhex, uint32_t index, const uint8_t sha[32],
                       const uint8_t *data, size_t len, char *why, size_t whysz)
{
    char dir[4096], tmp[4400], final[4400];
    snprintf(dir, sizeof dir, "%s/%s", d->dir, idhex);
    if (mkdir(dir, 0700) == 0) {
        if (fsync_dir(d->dir) < 0) {
            snprintf(why, whysz, "fsync %s: %s", d->dir, strerror(errno));
            return -1;
        }
    } else if (errno != EEXIST) {
        snprintf(why, whysz, "mkdir %s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s/.tmp.%" PRIu32, dir, index);
    chunk_path(d, idhex, index, final, sizeof final);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(why, whysz, "create %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (write_all(fd, BL_DEPOT_MAGIC, 8) < 0 || write_all(fd, sha, 32) < 0 ||
        write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        snprintf(why, whysz, "write %s: %s", tmp, strerror(errno));
        close(fd);
        if (unlink(tmp) < 0)
            bl_warn("depot: cannot remove %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (close(fd) < 0 || rename(tmp, final) < 0 || fsync_dir(dir) < 0) {
        snprintf(why, whysz, "commit %s: %s", final, strerror(errno));
        if (unlink(tmp) < 0 && errno != ENOENT)
            bl_warn("depot: cannot remove %s: %s", tmp, strerror(errno));
        return -1;
    }
    return 0;
}

/* Read a stored chunk and check it; returns a malloc'd buffer of *len
 * bytes and its SHA-256, or NULL with why. */
static uint8_t *load_chunk(const bl_depot *d, const char *idhex, uint32_t index, uint8_t sha[32],
                           size_t *len, char *why, size_t whysz)
{
    char path[4400];
    chunk_path(d, idhex, index, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whysz, errno == ENOENT ? "not held here" : "open: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    uint8_t hdr[BL_DEPOT_HDR];
    if (fstat(fd, &st) < 0 || st.st_size < BL_DEPOT_HDR ||
        (uint64_t)st.st_size - BL_DEPOT_HDR > BL_DP_MAX_CHUNK ||
        pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr || memcmp(hdr, BL_DEPOT_MAGIC, 8)) {
        close(fd);
        snprintf(why, whysz, "stored copy is damaged (bad header)");
        return NULL;
    }
    *len = (size_t)st.st_size - BL_DEPOT_HDR;
    uint8_t *buf = malloc(*len ? *len : 1);
    if (!buf || pread(fd, buf, *len, BL_DEPOT_HDR) != (ssize_t)*len) {
        free(buf);
        close(fd);
        snprintf(why, whysz, "read failed");
        return NULL;
    }
    close(fd);
    uint8_t got[32];
    bl_sha256(buf, *len, got);
    if (memcmp(got, hdr + 8, 32)) {
        free(buf);
        snprintf(why, whysz, "stored copy is corrupt (checksum mismatch)");
        bl_warn("depot: chunk %" PRIu32 " of offload %s is corrupt on disk; not served", index,
                idhex);
        return NULL;
    }
    memcpy(sha, got, 32);
    return buf;
}

static uint64_t stored_len(const bl_depot *d, const char *idhex, uint32_t index, int *exists)
{
    char path[4400];
    struct stat st;
    chunk_path(d, idhex, index, path, sizeof path);
    *exists = stat(path, &st) == 0 && st.st_size >= BL_DEPOT_HDR;
    return *exists ? (uint64_t)st.st_size - BL_DEPOT_HDR : 0;
}

/* ---- forwarding to a Level-2 depot ---- */

static void fwd_reply(struct forward *f, int ok, const char *why)
{
    if (!f->asker)
        return;
    bl_buf *out = bl_dpconn_out(f->asker->c);
    if (ok) {
        bl_dp_index(out, BL_DP_FORWARD_OK, f->acked);
    } else {
        char msg[BL_DP_MAX_TEXT + 1];
        snprintf(msg, sizeof msg, "forward to %s failed: %s", f->target, why);
        bl_dp_text(out, BL_DP_ERROR, msg);
    }
    bl_dpconn_flush(f->asker->c);
    f->asker->fwd = NULL;
    f->asker = NULL;
}

static void fwd_pump(struct forward *f)
{
    while (f->inflight < FWD_WINDOW && f->next < f->n) {
        uint32_t idx = f->list[f->next++];
        uint8_t sha[32];
        size_t len;
        char why[128];
        uint8_t *data = load_chunk(f->d, f->idhex, idx, sha, &len, why, sizeof why);
        if (!data) {
            bl_warn("depot: forward of chunk %" PRIu32 " skipped: %s", idx, why);
            continue;
        }
        bl_dp_put(bl_dpconn_out(f->c), BL_DP_PUT, idx, sha, data, len);
        free(data);
        f->inflight++;
    }
    bl_dpconn_flush(f->c);
    if (f->inflight == 0 && f->next >= f->n) {
        fwd_reply(f, 1, NULL);
        bl_dpconn_close(f->c, "forward complete");
    }
}

static void fwd_ready(bl_dpconn *c, void *arg)
{
    (void)c;
    fwd_pump(arg);
}

static void fwd_msg(bl_dpconn *c, const bl_dp_msg *m, void *arg)
{
    struct forward *f = arg;
    if (m->type == BL_DP_ACK && f->inflight) {
        f->inflight--;
        f->acked++;
        fwd_pump(f);
    } else if (m->type == BL_DP_REFUSE) {
        char why[BL_DP_MAX_TEXT + 1];
        bl_log_safe(why, sizeof why, m->data, m->len);
        fwd_reply(f, 0, why);
        bl_dpconn_close(c, why);
    } else {
        bl_dpconn_close(c, "unexpected message from the Level-2 depot");
    }
}

static void fwd_close(bl_dpconn *c, const char *why, void *arg)
{
    (void)c;
    struct forward *f = arg;
    if (f->asker)
        fwd_reply(f, f->next >= f->n && f->inflight == 0, why);
    bl_info("depot: forward of offload %s to %s: %" PRIu32 " of %" PRIu32 " chunks (%s)",
            f->idhex, f->target, f->acked, f->n, why);
    for (struct forward **p = &f->d->forwards; *p; p = &(*p)->nextf)
        if (*p == f) {
            *p = f->nextf;
            break;
        }
    free(f->list);
    free(f);
}

static void start_forward(struct session *s, const bl_dp_msg *m)
{
    bl_buf *out = bl_dpconn_out(s->c);
    char target[BL_DP_MAX_TEXT + 1];
    bl_log_safe(target, sizeof target, m->data, m->len);
    struct sockaddr_storage ss;
    socklen_t sl;
    bl_err err;
    if (s->fwd) {
        bl_dp_text(out, BL_DP_ERROR, "a forward is already running on this session");
        return;
    }
    if (bl_net_parse_hostport(target, &ss, &sl, &err) < 0) {
        bl_dp_text(out, BL_DP_ERROR, err.msg);
        return;
    }
    struct forward *f = calloc(1, sizeof *f);
    if (!f) {
        bl_dp_text(out, BL_DP_ERROR, "out of memory");
        return;
    }
    f->d = s->d;
    f->asker = s;
    memcpy(f->idhex, s->idhex, sizeof f->idhex);
    snprintf(f->target, sizeof f->target, "%s", target);
    f->list = list_chunks(s->d, s->idhex, &f->n);
    static const bl_dpconn_ops ops = {fwd_ready, fwd_msg, fwd_close};
    f->c = bl_dpconn_connect(s->d->loop, (struct sockaddr *)&ss, sl, BL_DP_ROLE_STORE, &s->d->key,
                             s->id, &ops, f, &err);
    if (!f->c) {
        char msg[BL_DP_MAX_TEXT + 1];
        snprintf(msg, sizeof msg, "forward to %s: %s", target, err.msg);
        bl_dp_text(out, BL_DP_ERROR, msg);
        free(f->list);
        free(f);
        return;
    }
    s->fwd = f;
    f->nextf = s->d->forwards;
    s->d->forwards = f;
}

/* ---- sessions ---- */

static void deny(struct session *s, const char *why)
{
    bl_warn("depot: %s: %s", s->peer, why);
    bl_dp_text(bl_dpconn_out(s->c), BL_DP_ERROR, why);
    bl_dpconn_close_after_flush(s->c, why);
}

static void on_auth(struct session *s, const bl_dp_msg *m)
{
    if (m->type != BL_DP_AUTH) {
        deny(s, "authentication required first");
        return;
    }
    bl_okey k;
    if (m->role == BL_DP_ROLE_STORE)
        k = s->d->key;
    else
        bl_okey_pull(&s->d->key, m->id, &k);
    uint8_t mac[BL_SHA256_LEN];
    bl_dp_client_mac(&k, m->role, m->id, s->nonce, m->nonce, mac);
    if (!bl_digest_eq(mac, m->mac, sizeof mac)) {
        memset(&k, 0, sizeof k);
        deny(s, m->role == BL_DP_ROLE_STORE
                    ? "authentication failed: the sender does not hold this depot's offload key"
                    : "authentication failed: not this offload's pull key (a manifest signed for another key?)");
        return;
    }
    s->authed = 1;
    s->role = m->role;
    memcpy(s->id, m->id, sizeof s->id);
    bl_hex(s->id, sizeof s->id, s->idhex);
    bl_dp_depot_mac(&k, m->role, m->id, s->nonce, m->nonce, mac);
    memset(&k, 0, sizeof k);
    bl_dp_auth_ok(bl_dpconn_out(s->c), mac);
    bl_dpconn_flush(s->c);
}

static void on_put(struct session *s, const bl_dp_msg *m)
{
    bl_depot *d = s->d;
    bl_buf *out = bl_dpconn_out(s->c);
    uint8_t got[32];
    bl_sha256(m->data, m->len, got);
    if (memcmp(got, m->sha, 32)) {
        bl_dp_refuse(out, m->index, BL_DP_BADSUM, "chunk does not match its checksum (damaged in transit)");
        return;
    }
    int exists;
    uint64_t old = stored_len(d, s->idhex, m->index, &exists);
    if (d->used - old + m->len > d->capacity) {
        char why[BL_DP_MAX_TEXT + 1];
        snprintf(why, sizeof why, "depot full: %" PRIu64 " bytes free of %" PRIu64 ", chunk needs %zu",
                 d->capacity - d->used, d->capacity, m->len);
        bl_dp_refuse(out, m->index, BL_DP_FULL, why);
        return;
    }
    char why[300];
    if (store_chunk(d, s->idhex, m->index, m->sha, m->data, m->len, why, sizeof why) < 0) {
        bl_error("depot: %s", why);
        char msg[BL_DP_MAX_TEXT + 1];
        snprintf(msg, sizeof msg, "depot cannot store: %s", why);
        bl_dp_refuse(out, m->index, BL_DP_IOERR, msg);
        return;
    }
    d->used = d->used - old + m->len;
    if (!exists)
        d->chunks++;
    bl_dp_index(out, BL_DP_ACK, m->index);
}

static void on_msg(bl_dpconn *c, const bl_dp_msg *m, void *arg)
{
    struct session *s = arg;
    if (!s->authed) {
        on_auth(s, m);
        return;
    }
    bl_buf *out = bl_dpconn_out(c);
    switch (m->type) {
    case BL_DP_PUT:
        if (s->role != BL_DP_ROLE_STORE) {
            deny(s, "storing needs the offload key, not the pull key");
            return;
        }
        on_put(s, m);
        break;
    case BL_DP_GET: {
        uint8_t sha[32];
        size_t len;
        char why[128];
        uint8_t *data = load_chunk(s->d, s->idhex, m->index, sha, &len, why, sizeof why);
        if (data)
            bl_dp_put(out, BL_DP_DATA, m->index, sha, data, len);
        else
            bl_dp_missing(out, m->index, why);
        free(data);
        break;
    }
    case BL_DP_STAT: {
        uint32_t n;
        uint32_t *list = list_chunks(s->d, s->idhex, &n);
        bl_dp_status(out, s->d->chunks, s->d->used,
                     s->d->capacity > s->d->used ? s->d->capacity - s->d->used : 0, list, n);
        free(list);
        break;
    }
    case BL_DP_PROBE:
        bl_dp_index(out, BL_DP_PROBE_OK, (uint32_t)m->len);
        break;
    case BL_DP_FORWARD:
        if (s->role != BL_DP_ROLE_STORE) {
            deny(s, "forwarding needs the offload key, not the pull key");
            return;
        }
        start_forward(s, m);
        break;
    default:
        deny(s, "unexpected message");
        return;
    }
    bl_dpconn_flush(c);
}

static void on_close(bl_dpconn *c, const char *why, void *arg)
{
    (void)c;
    struct session *s = arg;
    bl_debug("depot: %s left: %s", s->peer, why);
    if (s->fwd)
        s->fwd->asker = NULL;
    for (struct session **p = &s->d->sessions; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    free(s);
}

static void on_accept(bl_loop *loop, int fd, unsigned events, void *arg)
{
    (void)events;
    bl_depot *d = arg;
    for (int i = 0; i < 16; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        bl_err err;
        int cfd = bl_net_accept(fd, &ss, &sl, &err);
        if (cfd == BL_NET_AGAIN)
            return;
        if (cfd < 0) {
            bl_warn("depot: %s", err.msg);
            return;
        }
        struct session *s = calloc(1, sizeof *s);
        if (!s) {
            close(cfd);
            return;
        }
        s->d = d;
        bl_net_format((struct sockaddr *)&ss, sl, s->peer, sizeof s->peer);
        static const bl_dpconn_ops ops = {NULL, on_msg, on_close};
        if (bl_random(s->nonce, sizeof s->nonce, &err) < 0 ||
            !(s->c = bl_dpconn_accepted(loop, cfd, &ops, s, &err))) {
            bl_warn("depot: %s: %s", s->peer, err.msg);
            free(s);
            continue;
        }
        s->next = d->sessions;
        d->sessions = s;
        bl_dp_hello(bl_dpconn_out(s->c), s->nonce);
        bl_dpconn_flush(s->c);
    }
}

bl_depot *bl_depot_new(bl_loop *loop, const char *dir, uint64_t capacity, const bl_okey *key,
                       const struct sockaddr *sa, socklen_t salen, bl_err *err)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        bl_fail(err, "depot store %s: %s", dir, strerror(errno));
        return NULL;
    }
    bl_depot *d = calloc(1, sizeof *d);
    if (!d || !(d->dir = strdup(dir))) {
        free(d);
        bl_fail(err, "out of memory");
        return NULL;
    }
    d->loop = loop;
    d->capacity = capacity;
    d->key = *key;
    d->lfd = -1;
    if (scan(d, err) < 0 || (d->lfd = bl_net_tcp_listen(sa, salen, 0, err)) < 0 ||
        bl_loop_add(loop, d->lfd, BL_EV_READ, on_accept, d, err) < 0) {
        bl_depot_free(d);
        return NULL;
    }
    return d;
}

void bl_depot_free(bl_depot *d)
{
    if (!d)
        return;
    while (d->forwards)
        bl_dpconn_close(d->forwards->c, "depot stopping");
    while (d->sessions)
        bl_dpconn_close(d->sessions->c, "depot stopping");
    if (d->lfd >= 0) {
        bl_loop_del(d->loop, d->lfd);
        close(d->lfd);
    }
    memset(&d->key, 0, sizeof d->key);
    free(d->dir);
    free(d);
}

void bl_depot_stats_get(const bl_depot *d, bl_depot_stats *st)
{
    st->chunks = d->chunks;
    st->used = d->used;
    st->capacity = d->capacity;
}

int bl_depot_addr(const bl_depot *d, struct sockaddr_storage *ss, socklen_t *len)
{
    return bl_net_local_addr(d->lfd, ss, len, NULL);
}
