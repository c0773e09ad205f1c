#include "tracker/server.h"

#include <errno.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/net.h"
#include "core/sha1.h"
#include "swarm/secret.h"
#include "tracker/http_wire.h"
#include "tracker/udp_wire.h"

#define ERROR_LINES_PER_SEC 20
#define UDP_BATCH 64                 /* datagrams handled per readable event */
#define UDP_REPLY_MAX 1472           /* fits one IPv4 datagram on a 1500 MTU */
#define CONN_ID_PERIOD_MS 60000

struct bl_trk_server {
    bl_loop *loop;
    bl_trk_server_config cfg;
    bl_trk_table *table;
    struct MHD_Daemon *mhd;
    int mhd_epfd;
    uint64_t mhd_timer, sweep_timer;
    int udp_fd;
    uint16_t port;
    char listen_str[BL_NET_ADDRSTRLEN];
    uint8_t secret[16];
    bl_trk_server_stats stats;
    /* error-line rate limit */
    uint64_t log_window_ms;
    unsigned log_lines;
    uint64_t log_suppressed;
};

/* ---- logging ---- */

static void json_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
}

static void slog(bl_trk_server *s, enum bl_log_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void slog(bl_trk_server *s, enum bl_log_level lvl, const char *event, const char *fmt, ...)
{
    char raw[768], msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    bl_log_safe(msg, sizeof msg, raw, strlen(raw));
    if (!s->cfg.json_log) {
        bl_log(lvl, "tracker %s: %s", event, msg);
        return;
    }
    static const char *names[] = {"debug", "info", "warn", "error"};
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(tv.tv_usec / 1000));
    flockfile(stderr);
    fprintf(stderr, "{\"time\":\"%s\",\"pid\":%d,\"level\":\"%s\",\"event\":\"%s\",\"msg\":\"", ts,
            (int)getpid(), names[lvl], event);
    json_escaped(stderr, msg);
    fputs("\"}\n", stderr);
    funlockfile(stderr);
}

/* A flood of bad requests must not become a flood of log lines. */
static bool error_line_allowed(bl_trk_server *s)
{
    uint64_t now = bl_loop_now_ms(s->loop);
    if (now - s->log_window_ms >= 1000) {
        if (s->log_suppressed)
            slog(s, BL_LOG_WARN, "suppressed", "%llu refusal lines not logged in the last second",
                 (unsigned long long)s->log_suppressed);
        s->log_window_ms = now;
        s->log_lines = 0;
        s->log_suppressed = 0;
    }
    if (s->log_lines < ERROR_LINES_PER_SEC) {
        s->log_lines++;
        return true;
    }
    s->log_suppressed++;
    return false;
}

static void log_refusal(bl_trk_server *s, const char *proto, const bl_trk_addr *src,
                        const char *why)
{
    s->stats.refused++;
    if (!error_line_allowed(s))
        return;
    char a[64];
    slog(s, BL_LOG_WARN, "refused", "%s request from %s: %s", proto,
         bl_trk_addr_str(src, a, sizeof a), why);
}

/* ---- shared announce path ---- */

static uint64_t now_s(const bl_trk_server *s) { return bl_loop_now_ms(s->loop) / 1000; }

static int announce(bl_trk_server *s, bl_trk_announce *a, const bl_trk_addr *src, int family,
                    bl_trk_peer_out *out, size_t max_out, size_t *n, bl_trk_counts *c,
                    bl_err *err)
{
    if (s->cfg.secret) {
        char want[BL_SECRET_PASSKEY_HEX + 1];
        bl_secret_passkey(s->cfg.secret, a->info_hash, want);
        if (!a->passkey[0])
            return bl_fail(err, "this tracker serves private swarms only: announce with the "
                                "job's passkey (start the node with --secret-file)");
        if (strlen(a->passkey) != BL_SECRET_PASSKEY_HEX ||
            CRYPTO_memcmp(a->passkey, want, BL_SECRET_PASSKEY_HEX) != 0)
            return bl_fail(err, "wrong passkey for this swarm: the node's --secret-file is "
                                "not the tracker's");
    }
    if (!a->has_ip) {
        uint16_t port = a->addr.port;
        a->addr = *src;
        a->addr.port = port;
    }
    int rc = bl_trk_table_announce(s->table, a, now_s(s), family, out, max_out, n, c, err);
    if (s->cfg.verbose) {
        char from[64], ih[41], pid[24];
        bl_hex(a->info_hash, 8, ih);
        bl_log_safe(pid, sizeof pid, a->peer_id, 20);
        slog(s, BL_LOG_INFO, "announce", "%s %s... peer %s at %s event=%s left=%llu: %s",
             family ? "udp" : "http", ih, pid, bl_trk_addr_str(&a->addr, from, sizeof from),
             a->event ? bl_trk_event_name(a->event) : "none", (unsigned long long)a->left,
             rc ? err->msg : "ok");
    }
    return rc;
}

/* ---- HTTP via libmicrohttpd ---- */

struct http_req {
    char *uri;   /* raw request target, query string still escaped */
};

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    struct http_req *r = calloc(1, sizeof *r);
    if (r && !(r->uri = strdup(uri))) {
        free(r);
        r = NULL;
    }
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct http_req *r = *req_cls;
    if (r) {
        free(r->uri);
        free(r);
        *req_cls = NULL;
    }
}

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, bl_buf *b)
{
    if (b->oom) {
        bl_buf_free(b);
        static const char oom[] = "d14:failure reason13:out of memorye";
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(sizeof oom - 1, (void *)(uintptr_t)oom,
                                            MHD_RESPMEM_PERSISTENT);
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_INTERNAL_SERVER_ERROR, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    size_t len;
    uint8_t *data = bl_buf_steal(b, &len);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, data ? data : (uint8_t *)"", MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_failure(bl_trk_server *s, struct MHD_Connection *c, unsigned status,
                                    const bl_trk_addr *src, const char *why)
{
    log_refusal(s, "http", src, why);
    bl_buf b;
    bl_buf_init(&b);
    bl_trk_http_reply_failure(&b, why);
    return send_buf(c, status, &b);
}

static enum MHD_Result http_announce(bl_trk_server *s, struct MHD_Connection *c,
                                     const bl_trk_addr *src, const char *q)
{
    bl_trk_announce a;
    bl_err err = {0};
    if (bl_trk_http_parse_announce(q, strlen(q), &a, &err))
        return send_failure(s, c, MHD_HTTP_OK, src, err.msg);
    bl_trk_peer_out peers[1024];
    size_t n;
    bl_trk_counts counts;
    if (announce(s, &a, src, 0, peers, sizeof peers / sizeof peers[0], &n, &counts, &err))
        return send_failure(s, c, MHD_HTTP_OK, src, err.msg);
    s->stats.http_announces++;
    bl_buf b;
    bl_buf_init(&b);
    bl_trk_http_reply_announce(&b, &counts, s->cfg.interval_s, s->cfg.min_interval_s, peers, n,
                               a.compact, a.no_peer_id);
    return send_buf(c, MHD_HTTP_OK, &b);
}

static enum MHD_Result http_scrape(bl_trk_server *s, struct MHD_Connection *c,
                                   const bl_trk_addr *src, const char *q)
{
    uint8_t hashes[BL_TRK_SCRAPE_MAX][BL_TRK_HASH_LEN];
    bl_trk_counts counts[BL_TRK_SCRAPE_MAX];
    size_t n;
    bl_err err = {0};
    if (bl_trk_http_parse_scrape(q, strlen(q), hashes, BL_TRK_SCRAPE_MAX, &n, &err))
        return send_failure(s, c, MHD_HTTP_OK, src, err.msg);
    for (size_t i = 0; i < n; i++)
        bl_trk_table_scrape(s->table, hashes[i], &counts[i]);
    s->stats.http_scrapes++;
    bl_buf b;
    bl_buf_init(&b);
    bl_trk_http_reply_scrape(&b, hashes, counts, n);
    return send_buf(c, MHD_HTTP_OK, &b);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    (void)version;
    (void)upload_data;
    bl_trk_server *s = cls;
    struct http_req *r = *req_cls;
    bl_trk_addr src = {0};
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr)
        bl_trk_addr_from_sockaddr(&src, ci->client_addr);
    if (strcmp(method, MHD_HTTP_METHOD_GET)) {
        *upload_data_size = 0;
        return send_failure(s, c, MHD_HTTP_METHOD_NOT_ALLOWED, &src, "only GET is served");
    }
    if (!r || !r->uri)
        return send_failure(s, c, MHD_HTTP_INTERNAL_SERVER_ERROR, &src, "out of memory");
    const char *q = strchr(r->uri, '?');
    q = q ? q + 1 : "";
    char *hash = strchr(r->uri, '#');
    if (hash)
        *hash = '\0';
    if (!strcmp(url, "/announce"))
        return http_announce(s, c, &src, q);
    if (!strcmp(url, "/scrape"))
        return http_scrape(s, c, &src, q);
    return send_failure(s, c, MHD_HTTP_NOT_FOUND, &src, "unknown path (try /announce or /scrape)");
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    bl_trk_server *s = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (error_line_allowed(s))
        slog(s, BL_LOG_WARN, "http", "%s", line);
}

static void mhd_run(bl_trk_server *s);

static void on_mhd_timer(bl_loop *loop, void *arg)
{
    (void)loop;
    bl_trk_server *s = arg;
    s->mhd_timer = 0;
    mhd_run(s);
}

/* MHD keeps connections that can progress on an internal list; its timeout
 * is 0 then, so every MHD_run() is followed by re-arming from it. */
static void mhd_run(bl_trk_server *s)
{
    MHD_run(s->mhd);
    if (s->mhd_timer) {
        bl_loop_timer_cancel(s->loop, s->mhd_timer);
        s->mhd_timer = 0;
    }
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(s->mhd, &ms) == MHD_YES)
        s->mhd_timer = bl_loop_timer(s->loop, ms, on_mhd_timer, s);
}

static void on_mhd_ready(bl_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    mhd_run(arg);
}

/* ---- UDP ---- */

static uint64_t conn_id_for(const bl_trk_server *s, const bl_trk_addr *src, uint64_t epoch)
{
    uint8_t in[16 + 8 + 1 + 16], md[BL_SHA1_LEN];
    memcpy(in, s->secret, 16);
    memcpy(in + 16, &epoch, 8);
    in[24] = src->family;
    memcpy(in + 25, src->ip, 16);
    bl_sha1(in, sizeof in, md);
    uint64_t id;
    memcpy(&id, md, 8);
    return id;
}

static bool conn_id_ok(const bl_trk_server *s, const bl_trk_addr *src, uint64_t id)
{
    uint64_t epoch = bl_loop_now_ms(s->loop) / CONN_ID_PERIOD_MS;
    return id == conn_id_for(s, src, epoch) || id == conn_id_for(s, src, epoch - 1);
}

static void udp_send(bl_trk_server *s, const uint8_t *p, size_t n,
                     const struct sockaddr_storage *to, socklen_t tolen)
{
    /* A full socket buffer drops the reply; the client retransmits. */
    if (n)
        (void)sendto(s->udp_fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)to,
                     tolen);
}

static void udp_refuse(bl_trk_server *s, uint32_t txid, const bl_trk_addr *src, const char *why,
                       const struct sockaddr_storage *to, socklen_t tolen)
{
    uint8_t out[256];
    log_refusal(s, "udp", src, why);
    udp_send(s, out, bl_udp_encode_error(out, sizeof out, txid, why), to, tolen);
}

static void udp_packet(bl_trk_server *s, const uint8_t *p, size_t n,
                       const struct sockaddr_storage *from, socklen_t fromlen)
{
    bl_trk_addr src;
    if (bl_trk_addr_from_sockaddr(&src, (const struct sockaddr *)from))
        return;
    bl_udp_request r;
    bl_err err = {0};
    if (bl_udp_decode_request(p, n, &r, &err)) {
        /* Answer only what looks like BEP 15 (has a transaction id). */
        if (n >= 16)
            udp_refuse(s, r.txid, &src, err.msg, from, fromlen);
        else
            log_refusal(s, "udp", &src, err.msg);
        return;
    }
    uint8_t out[UDP_REPLY_MAX];
    if (r.action == BL_UDP_CONNECT) {
        s->stats.udp_connects++;
        uint64_t id = conn_id_for(s, &src, bl_loop_now_ms(s->loop) / CONN_ID_PERIOD_MS);
        udp_send(s, out, bl_udp_encode_connect_resp(out, r.txid, id), from, fromlen);
        return;
    }
    if (!conn_id_ok(s, &src, r.conn_id)) {
        udp_refuse(s, r.txid, &src, "connection id expired or unknown", from, fromlen);
        return;
    }
    if (r.action == BL_UDP_ANNOUNCE) {
        size_t esz = src.family == 6 ? BL_TRK_COMPACT6 : BL_TRK_COMPACT4;
        bl_trk_peer_out peers[(UDP_REPLY_MAX - 20) / BL_TRK_COMPACT4];
        size_t np;
        bl_trk_counts c;
        if (announce(s, &r.ann, &src, src.family, peers, (sizeof out - 20) / esz, &np, &c,
                     &err)) {
            udp_refuse(s, r.txid, &src, err.msg, from, fromlen);
            return;
        }
        s->stats.udp_announces++;
        udp_send(s, out,
                 bl_udp_encode_announce_resp(out, sizeof out, r.txid, s->cfg.interval_s, &c,
                                             peers, np, src.family),
                 from, fromlen);
        return;
    }
    /* scrape */
    bl_trk_counts c[BL_UDP_SCRAPE_MAX];
    for (size_t i = 0; i < r.nhashes; i++)
        bl_trk_table_scrape(s->table, r.hashes + 20 * i, &c[i]);
    s->stats.udp_scrapes++;
    udp_send(s, out, bl_udp_encode_scrape_resp(out, sizeof out, r.txid, c, r.nhashes), from,
             fromlen);
}

static void on_udp(bl_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    (void)events;
    bl_trk_server *s = arg;
    for (int i = 0; i < UDP_BATCH; i++) {
        uint8_t p[2048];
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof from;
        ssize_t n = recvfrom(fd, p, sizeof p, MSG_DONTWAIT | MSG_TRUNC,
                             (struct sockaddr *)&from, &fromlen);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                error_line_allowed(s))
                slog(s, BL_LOG_WARN, "udp", "recvfrom: %s", strerror(errno));
            return;
        }
        if ((size_t)n > sizeof p)
            continue;   /* oversize: no BEP 15 request is this long */
        udp_packet(s, p, (size_t)n, &from, fromlen);
    }
}

/* ---- expiry ---- */

static uint64_t sweep_ms(const bl_trk_server *s)
{
    uint64_t ms = (uint64_t)s->cfg.limits.peer_ttl_s * 1000 / 4;
    return ms < 1000 ? 1000 : ms > 60000 ? 60000 : ms;
}

static void on_sweep(bl_loop *loop, void *arg)
{
    bl_trk_server *s = arg;
    bl_trk_table_expire(s->table, now_s(s));
    s->sweep_timer = bl_loop_timer(loop, sweep_ms(s), on_sweep, s);
}

/* ---- whitelist ---- */

int bl_trk_whitelist_load(bl_trk_table *t, const char *path, size_t *count, bl_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return bl_fail(err, "whitelist %s: %s", path, strerror(errno));
    uint8_t(*hashes)[20] = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    char line[256];
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            rc = bl_fail(err, "whitelist %s line %zu: line too long", path, lineno);
            break;
        }
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        char *e = p + strlen(p);
        while (e > p && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        if (*p == '\0' || *p == '#')
            continue;
        uint8_t h[20];
        bool ok = e - p == 40;
        for (int i = 0; ok && i < 20; i++) {
            unsigned v;
            ok = sscanf(p + 2 * i, "%2x", &v) == 1 && strchr("0123456789abcdefABCDEF", p[2 * i]) &&
                 strchr("0123456789abcdefABCDEF", p[2 * i + 1]);
            h[i] = (uint8_t)v;
        }
        if (!ok) {
            rc = bl_fail(err, "whitelist %s line %zu: not a 40-hex-digit info-hash", path,
                         lineno);
            break;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            void *nh = realloc(hashes, ncap * sizeof *hashes);
            if (!nh) {
                rc = bl_fail(err, "whitelist %s: out of memory", path);
                break;
            }
            hashes = nh;
            cap = ncap;
        }
        memcpy(hashes[n++], h, 20);
    }
    if (!rc && ferror(f))
        rc = bl_fail(err, "whitelist %s: read error", path);
    fclose(f);
    if (!rc && n == 0)
        rc = bl_fail(err, "whitelist %s: no info-hash in it (an empty whitelist would serve "
                          "everything)", path);
    if (!rc) {
        bl_trk_table_allow_clear(t);
        for (size_t i = 0; i < n && !rc; i++)
            rc = bl_trk_table_allow(t, hashes[i], err);
        *count = n;
    }
    free(hashes);
    return rc;
}

int bl_trk_server_reload_whitelist(bl_trk_server *s, bl_err *err)
{
    if (!s->cfg.whitelist_path)
        return 0;
    size_t n;
    bl_err local = {0};
    if (bl_trk_whitelist_load(s->table, s->cfg.whitelist_path, &n, &local)) {
        slog(s, BL_LOG_ERROR, "whitelist", "%s (keeping the previous list)", local.msg);
        if (err)
            *err = local;
        return -1;
    }
    slog(s, BL_LOG_INFO, "whitelist", "%zu info-hashes from %s", n, s->cfg.whitelist_path);
    return 0;
}

/* ---- life cycle ---- */

uint32_t bl_trk_default_peer_ttl(uint32_t interval_s)
{
    uint64_t two = 2 * (uint64_t)interval_s;
    if (two < BL_TRK_MIN_PEER_TTL_S)
        return BL_TRK_MIN_PEER_TTL_S;
    return two > UINT32_MAX ? UINT32_MAX : (uint32_t)two;
}

bl_trk_server *bl_trk_server_new(bl_loop *loop, const bl_trk_server_config *cfg, bl_err *err)
{
    bl_trk_server *s = calloc(1, sizeof *s);
    if (!s) {
        bl_fail(err, "tracker: out of memory");
        return NULL;
    }
    s->loop = loop;
    s->cfg = *cfg;
    s->udp_fd = -1;
    s->mhd_epfd = -1;
    if (!s->cfg.interval_s)
        s->cfg.interval_s = 1800;
    if (!s->cfg.min_interval_s)
        s->cfg.min_interval_s = s->cfg.interval_s > 1 ? s->cfg.interval_s / 2 : 1;
    if (!s->cfg.limits.peer_ttl_s)
        s->cfg.limits.peer_ttl_s = bl_trk_default_peer_ttl(s->cfg.interval_s);
    bl_trk_limits_defaults(&s->cfg.limits);
    if (!s->cfg.max_http_connections)
        s->cfg.max_http_connections = 1024;
    if (getrandom(s->secret, sizeof s->secret, 0) != (ssize_t)sizeof s->secret) {
        bl_fail(err, "tracker: getrandom: %s", strerror(errno));
        goto fail;
    }
    uint64_t seed;
    memcpy(&seed, s->secret + 8, sizeof seed);
    if (!(s->table = bl_trk_table_new(&s->cfg.limits, seed, err)))
        goto fail;
    if (s->cfg.whitelist_path) {
        size_t n;
        if (bl_trk_whitelist_load(s->table, s->cfg.whitelist_path, &n, err))
            goto fail;
    }

    struct sockaddr_storage ss;
    socklen_t sslen;
    if (bl_net_parse_hostport(cfg->listen, &ss, &sslen, err)) {
        bl_fail_ctx(err, "--listen %s", cfg->listen);
        goto fail;
    }
    /* TCP first (port 0 lets the kernel choose), then UDP on that number;
     * with port 0 a UDP clash just means trying another port. */
    bool any_port = bl_net_port((struct sockaddr *)&ss) == 0;
    int lfd = -1;
    for (int attempt = 0; attempt < (any_port ? 20 : 1); attempt++) {
        if (any_port)
            bl_net_set_port((struct sockaddr *)&ss, 0);
        lfd = bl_net_tcp_listen((struct sockaddr *)&ss, sslen, 0, err);
        if (lfd < 0)
            goto fail;
        struct sockaddr_storage bound;
        socklen_t blen;
        if (bl_net_local_addr(lfd, &bound, &blen, err)) {
            close(lfd);
            goto fail;
        }
        bl_net_set_port((struct sockaddr *)&ss, bl_net_port((struct sockaddr *)&bound));
        s->udp_fd = bl_net_udp_bind((struct sockaddr *)&ss, sslen, err);
        if (s->udp_fd >= 0)
            break;
        close(lfd);
        lfd = -1;
    }
    if (s->udp_fd < 0)
        goto fail;
    s->port = bl_net_port((struct sockaddr *)&ss);
    bl_net_format((struct sockaddr *)&ss, sslen, s->listen_str, sizeof s->listen_str);

    s->mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_TURBO | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,  /* first, so MHD never prints itself */
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)s->cfg.max_http_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)15,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(BL_TRK_QUERY_MAX + 8192),
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_END);
    if (!s->mhd) {
        close(lfd);
        bl_fail(err, "tracker: libmicrohttpd refused to start on %s", s->listen_str);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (!di) {
        bl_fail(err, "tracker: libmicrohttpd has no epoll fd");
        goto fail;
    }
    s->mhd_epfd = di->epoll_fd;
    if (bl_loop_add(loop, s->mhd_epfd, BL_EV_READ, on_mhd_ready, s, err))
        goto fail_epfd;
    if (bl_loop_add(loop, s->udp_fd, BL_EV_READ, on_udp, s, err))
        goto fail_udp;
    s->sweep_timer = bl_loop_timer(loop, sweep_ms(s), on_sweep, s);
    mhd_run(s);
    slog(s, BL_LOG_INFO, "start",
         "listening on http://%s/announce and udp://%s/announce; interval %us, peers expire "
         "after %us; %s%s",
         s->listen_str, s->listen_str, s->cfg.interval_s, s->cfg.limits.peer_ttl_s,
         s->cfg.whitelist_path ? "whitelist on" : "any info-hash served",
         s->cfg.secret ? "; private: announces need the job secret's passkey" : "");
    return s;

fail_udp:
    bl_loop_del(loop, s->mhd_epfd);
fail_epfd:
    s->mhd_epfd = -1;
fail:
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    if (s->udp_fd >= 0)
        close(s->udp_fd);
    bl_trk_table_free(s->table);
    free(s);
    return NULL;
}

void bl_trk_server_free(bl_trk_server *s)
{
    if (!s)
        return;
    slog(s, BL_LOG_INFO, "stop",
         "%zu torrents, %zu peers; served %llu http + %llu udp announces, %llu scrapes, "
         "refused %llu",
         bl_trk_table_torrents(s->table), bl_trk_table_peers(s->table),
         (unsigned long long)s->stats.http_announces, (unsigned long long)s->stats.udp_announces,
         (unsigned long long)(s->stats.http_scrapes + s->stats.udp_scrapes),
         (unsigned long long)s->stats.refused);
    bl_loop_timer_cancel(s->loop, s->mhd_timer);
    bl_loop_timer_cancel(s->loop, s->sweep_timer);
    if (s->mhd_epfd >= 0)
        bl_loop_del(s->loop, s->mhd_epfd);
    bl_loop_del(s->loop, s->udp_fd);
    MHD_stop_daemon(s->mhd);
    close(s->udp_fd);
    bl_trk_table_free(s->table);
    free(s);
}

uint16_t bl_trk_server_port(const bl_trk_server *s) { return s->port; }
const bl_trk_server_stats *bl_trk_server_get_stats(const bl_trk_server *s) { return &s->stats; }
const bl_trk_table *bl_trk_server_table(const bl_trk_server *s) { return s->table; }
