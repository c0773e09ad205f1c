#include "swarm/tracker_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/net.h"
#include "swarm/announce_http.h"
#include "swarm/announce_tiers.h"
#include "tracker/udp_wire.h"

#define UDP_CONN_ID_TTL_MS 60000

enum kind { K_HTTP, K_UDP, K_UNSUPPORTED };

/* Per-tracker state, hung on its tier entry. */
struct trk {
    enum kind kind;
    bool resolved;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool has_conn;
    uint64_t conn_id, conn_at_ms;
    char tracker_id[64];
    size_t tracker_id_len;
};

struct bl_tracker_client {
    bl_loop *loop;
    bl_tc_config cfg;
    bl_tiers *tiers;
    CURLM *multi;
    uint64_t curl_timer;
    uint64_t up, down, left;
    uint32_t key;
    uint64_t next_timer;       /* next scheduled announce */
    enum bl_trk_event pending; /* event the next announce must carry */
    bool started_ok, first_done, stopping, stop_done;
    bool in_flight, again;
    enum bl_trk_event inflight_event;
    /* the current attempt */
    bl_tier_entry *cur;
    CURL *easy;
    bl_buf body;
    bool body_too_big;
    int udp_fd;
    uint64_t udp_timer;
    unsigned udp_tries;
    uint32_t txid;
    bool udp_connecting;
    bl_tc_status st;
};

static void try_current(bl_tracker_client *tc);
static void announce_start(bl_tracker_client *tc);

/* ---- scheduling ---- */

static void on_next(bl_loop *loop, void *arg)
{
    (void)loop;
    bl_tracker_client *tc = arg;
    tc->next_timer = 0;
    announce_start(tc);
}

static void schedule(bl_tracker_client *tc, uint64_t ms)
{
    bl_loop_timer_cancel(tc->loop, tc->next_timer);
    tc->next_timer = bl_loop_timer(tc->loop, ms, on_next, tc);
}

static void on_stop_done(bl_loop *loop, void *arg)
{
    (void)loop;
    bl_tracker_client *tc = arg;
    tc->next_timer = 0;
    if (tc->cfg.on_stopped)
        tc->cfg.on_stopped(tc->cfg.arg);
}

/* on_stopped runs from a timer, never from inside the caller's own call. */
static void finish_stop(bl_tracker_client *tc)
{
    tc->stop_done = true;
    tc->in_flight = false;
    bl_loop_timer_cancel(tc->loop, tc->next_timer);
    tc->next_timer = bl_loop_timer(tc->loop, 0, on_stop_done, tc);
}

/* ---- attempt bookkeeping ---- */

static void attempt_cleanup(bl_tracker_client *tc)
{
    if (tc->easy) {
        curl_multi_remove_handle(tc->multi, tc->easy);
        curl_easy_cleanup(tc->easy);
        tc->easy = NULL;
    }
    bl_buf_free(&tc->body);
    tc->body_too_big = false;
    if (tc->udp_fd >= 0) {
        bl_loop_del(tc->loop, tc->udp_fd);
        close(tc->udp_fd);
        tc->udp_fd = -1;
    }
    bl_loop_timer_cancel(tc->loop, tc->udp_timer);
    tc->udp_timer = 0;
}

static uint32_t backoff_s(const bl_tracker_client *tc)
{
    uint64_t d = tc->cfg.retry_min_s;
    for (unsigned i = 1; i < tc->st.consecutive_failures && d < tc->cfg.retry_max_s; i++)
        d *= 2;
    return d > tc->cfg.retry_max_s ? tc->cfg.retry_max_s : (uint32_t)d;
}

static void attempt_failed(bl_tracker_client *tc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void attempt_failed(bl_tracker_client *tc, const char *fmt, ...)
{
    char why[256], url[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    attempt_cleanup(tc);
    tc->st.trackers_failed++;
    snprintf(tc->st.last_error, sizeof tc->st.last_error, "%s: %s", tc->cur->url, why);
    bl_log_safe(url, sizeof url, tc->cur->url, strlen(tc->cur->url));
    bl_tiers_failed(tc->tiers);
    if (bl_tiers_current(tc->tiers)) {
        bl_warn("tracker %s: %s; trying the next tracker", url, why);
        try_current(tc);
        return;
    }
    /* Every tracker failed this time. */
    tc->in_flight = false;
    if (tc->inflight_event == BL_TRK_EV_STOPPED) {
        bl_warn("tracker %s: %s; no tracker took event=stopped, giving up", url, why);
        finish_stop(tc);
        return;
    }
    tc->st.consecutive_failures++;
    uint32_t d = backoff_s(tc);
    bl_warn("tracker %s: %s; no tracker answered, retrying in %u s", url, why, d);
    schedule(tc, tc->again ? 0 : (uint64_t)d * 1000);
    tc->again = false;
}

static void attempt_succeeded(bl_tracker_client *tc, uint32_t interval, int64_t complete,
                              int64_t incomplete, const bl_trk_addr *peers, size_t n)
{
    attempt_cleanup(tc);
    bl_tiers_succeeded(tc->tiers);
    tc->in_flight = false;
    tc->st.announces_ok++;
    tc->st.consecutive_failures = 0;
    tc->st.complete = complete;
    tc->st.incomplete = incomplete;
    snprintf(tc->st.last_tracker, sizeof tc->st.last_tracker, "%s", tc->cur->url);
    if (tc->inflight_event == BL_TRK_EV_STARTED)
        tc->started_ok = true;
    if (tc->pending == tc->inflight_event)
        tc->pending = BL_TRK_EV_NONE;
    bl_debug("tracker %s: %zu peers, interval %u s", tc->st.last_tracker, n, interval);

    if (tc->inflight_event == BL_TRK_EV_STOPPED) {
        finish_stop(tc);
        return;
    }
    uint32_t next = interval ? interval : 1800;
    if (!tc->first_done && tc->cfg.first_interval_s)
        next = tc->cfg.first_interval_s;
    tc->first_done = true;
    if (next < tc->cfg.interval_floor_s)
        next = tc->cfg.interval_floor_s;
    tc->st.interval_s = next;
    schedule(tc, tc->again ? 0 : (uint64_t)next * 1000);
    tc->again = false;

    if (tc->cfg.on_peers) {
        struct sockaddr_storage *ss = n ? calloc(n, sizeof *ss) : NULL;
        if (n && !ss) {
            bl_warn("tracker: out of memory for %zu peers", n);
            return;
        }
        for (size_t i = 0; i < n; i++)
            bl_trk_addr_to_sockaddr(&peers[i], &ss[i]);
        tc->cfg.on_peers(tc->cfg.arg, ss, n);
        free(ss);
    }
}

static void fill_announce(const bl_tracker_client *tc, bl_trk_announce *a)
{
    memset(a, 0, sizeof *a);
    memcpy(a->info_hash, tc->cfg.info_hash, 20);
    memcpy(a->peer_id, tc->cfg.peer_id, 20);
    a->addr.port = tc->cfg.port;
    if (tc->cfg.announce_ip &&
        bl_trk_addr_parse_ip(&a->addr, tc->cfg.announce_ip, strlen(tc->cfg.announce_ip)) == 0)
        a->has_ip = true;
    a->uploaded = tc->up;
    a->downloaded = tc->down;
    a->left = tc->left;
    a->event = tc->inflight_event;
    a->numwant = tc->inflight_event == BL_TRK_EV_STOPPED ? 0 : (int32_t)tc->cfg.numwant;
    a->key = tc->key;
    a->compact = true;
    if (tc->cfg.passkey)
        snprintf(a->passkey, sizeof a->passkey, "%s", tc->cfg.passkey);
}

/* ---- HTTP through curl multi ---- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    bl_tracker_client *tc = arg;
    size_t n = size * nmemb;
    if (tc->body.len + n > BL_ANNOUNCE_REPLY_MAX) {
        tc->body_too_big = true;
        return 0;   /* aborts the transfer */
    }
    bl_buf_put(&tc->body, p, n);
    return tc->body.oom ? 0 : n;
}

static void http_done(bl_tracker_client *tc, CURLcode res)
{
    struct trk *t = tc->cur->user;
    long code = 0;
    curl_easy_getinfo(tc->easy, CURLINFO_RESPONSE_CODE, &code);
    if (tc->body_too_big) {
        attempt_failed(tc, "reply larger than %u bytes", BL_ANNOUNCE_REPLY_MAX);
        return;
    }
    if (res != CURLE_OK) {
        attempt_failed(tc, "%s", curl_easy_strerror(res));
        return;
    }
    if (code != 200) {
        attempt_failed(tc, "HTTP status %ld", code);
        return;
    }
    bl_announce_reply r;
    bl_err err = {0};
    if (bl_announce_http_parse(tc->body.data, tc->body.len, &r, &err)) {
        attempt_failed(tc, "%s", err.msg);
        return;
    }
    if (r.failed) {
        attempt_failed(tc, "tracker refused: %s", r.failure);
        return;
    }
    if (r.warning[0])
        bl_warn("tracker %s warns: %s", tc->cur->url, r.warning);
    if (r.tracker_id_len) {
        memcpy(t->tracker_id, r.tracker_id, r.tracker_id_len);
        t->tracker_id_len = r.tracker_id_len;
    }
    attempt_succeeded(tc, r.interval, r.complete, r.incomplete, r.peers, r.npeers);
    bl_announce_reply_free(&r);
}

static void check_multi(bl_tracker_client *tc)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(tc->multi, &left))) {
        if (m->msg == CURLMSG_DONE && m->easy_handle == tc->easy) {
            http_done(tc, m->data.result);
            return;   /* the handle (and maybe the multi's queue) changed */
        }
    }
}

static void on_curl_io(bl_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    bl_tracker_client *tc = arg;
    int flags = (events & BL_EV_READ ? CURL_CSELECT_IN : 0) |
                (events & BL_EV_WRITE ? CURL_CSELECT_OUT : 0) |
                (events & BL_EV_ERROR ? CURL_CSELECT_ERR : 0);
    int running;
    curl_multi_socket_action(tc->multi, fd, flags, &running);
    check_multi(tc);
}

static int on_curl_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    bl_tracker_client *tc = userp;
    if (what == CURL_POLL_REMOVE) {
        if (socketp)
            bl_loop_del(tc->loop, s);
        curl_multi_assign(tc->multi, s, NULL);
        return 0;
    }
    unsigned ev = (what & CURL_POLL_IN ? BL_EV_READ : 0) | (what & CURL_POLL_OUT ? BL_EV_WRITE : 0);
    if (socketp)
        return bl_loop_mod(tc->loop, s, ev) ? -1 : 0;
    bl_err err = {0};
    if (bl_loop_add(tc->loop, s, ev, on_curl_io, tc, &err)) {
        bl_warn("tracker client: %s", err.msg);
        return -1;
    }
    curl_multi_assign(tc->multi, s, (void *)1);
    return 0;
}

static void on_curl_timer(bl_loop *loop, void *arg)
{
    (void)loop;
    bl_tracker_client *tc = arg;
    tc->curl_timer = 0;
    int running;
    curl_multi_socket_action(tc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi(tc);
}

static int on_curl_timeout(CURLM *m, long ms, void *userp)
{
    (void)m;
    bl_tracker_client *tc = userp;
    bl_loop_timer_cancel(tc->loop, tc->curl_timer);
    tc->curl_timer = ms >= 0 ? bl_loop_timer(tc->loop, (uint64_t)ms, on_curl_timer, tc) : 0;
    return 0;
}

static int http_start(bl_tracker_client *tc, struct trk *t, char *why, size_t whysz)
{
    bl_trk_announce a;
    fill_announce(tc, &a);
    bl_buf url;
    bl_buf_init(&url);
    bl_announce_http_url(&url, tc->cur->url, &a, t->tracker_id, t->tracker_id_len);
    bl_buf_init(&tc->body);
    CURL *e = curl_easy_init();
    if (url.oom || !e) {
        bl_buf_free(&url);
        if (e)
            curl_easy_cleanup(e);
        snprintf(why, whysz, "out of memory");
        return -1;
    }
    long timeout = tc->cfg.http_timeout_ms;
    curl_easy_setopt(e, CURLOPT_URL, (const char *)url.data);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, tc);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout < 10000 ? timeout : 10000L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "bitlib");
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)BL_ANNOUNCE_REPLY_MAX);
    bl_buf_free(&url);   /* curl copies the URL */
    if (curl_multi_add_handle(tc->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        snprintf(why, whysz, "curl refused the request");
        return -1;
    }
    tc->easy = e;
    return 0;
}

int bl_tc_check_url(const char *url, bl_err *err)
{
    static const char *const schemes[] = {"http://", "https://", "udp://"};
    const char *hp = NULL;
    int k;
    for (k = 0; k < 3 && !hp; k++)
        if (!strncmp(url, schemes[k], strlen(schemes[k])))
            hp = url + strlen(schemes[k]);
    if (!hp)
        return bl_fail(err, "'%s' is not a tracker URL: it must start with http://, https:// "
                            "or udp://", url);
    bool udp = k == 3;
    size_t n = strcspn(hp, "/?#");
    const char *colon = memchr(hp, ':', n);
    if (hp[0] == '[') { /* [v6 address]:port */
        const char *rb = memchr(hp, ']', n);
        if (!rb)
            return bl_fail(err, "'%s' is not a tracker URL: unclosed [", url);
        colon = rb + 1 < hp + n && rb[1] == ':' ? rb + 1 : NULL;
    }
    if ((colon ? (size_t)(colon - hp) : n) == 0)
        return bl_fail(err, "'%s' is not a tracker URL: no host", url);
    if (colon) {
        char *end;
        unsigned long port = strtoul(colon + 1, &end, 10);
        if (end == colon + 1 || end != hp + n || port == 0 || port > 65535)
            return bl_fail(err, "'%s' is not a tracker URL: bad port", url);
    } else if (udp) {
        return bl_fail(err, "'%s' is not a tracker URL: udp:// needs a port (udp://HOST:PORT)",
                       url);
    }
    return 0;
}

/* ---- UDP (BEP 15) ---- */

static int udp_resolve(struct trk *t, const char *url, char *why, size_t whysz)
{
    /* udp://host:port[/anything] */
    const char *hp = url + strlen("udp://");
    const char *end = strchr(hp, '/');
    size_t n = end ? (size_t)(end - hp) : strlen(hp);
    char tmp[300];
    if (n == 0 || n >= sizeof tmp) {
        snprintf(why, whysz, "bad udp tracker URL");
        return -1;
    }
    memcpy(tmp, hp, n);
    tmp[n] = '\0';
    bl_err err = {0};
    if (bl_net_parse_hostport(tmp, &t->addr, &t->addrlen, &err)) {
        snprintf(why, whysz, "%s", err.msg);
        return -1;
    }
    t->resolved = true;
    return 0;
}

static void udp_send(bl_tracker_client *tc);

static void on_udp_timer(bl_loop *loop, void *arg)
{
    (void)loop;
    bl_tracker_client *tc = arg;
    tc->udp_timer = 0;
    unsigned retries = tc->inflight_event == BL_TRK_EV_STOPPED ? 0 : tc->cfg.udp_retries;
    if (tc->udp_tries >= retries) {
        attempt_failed(tc, "no answer to %u udp %s requests", tc->udp_tries + 1,
                       tc->udp_connecting ? "connect" : "announce");
        return;
    }
    tc->udp_tries++;
    udp_send(tc);
}

static void udp_send(bl_tracker_client *tc)
{
    struct trk *t = tc->cur->user;
    uint8_t p[BL_UDP_ANNOUNCE_REQ_MAX];
    size_t n;
    if (getrandom(&tc->txid, sizeof tc->txid, 0) != sizeof tc->txid)
        tc->txid = (uint32_t)rand();
    uint64_t now = bl_loop_now_ms(tc->loop);
    if (t->has_conn && now - t->conn_at_ms < UDP_CONN_ID_TTL_MS) {
        bl_trk_announce a;
        fill_announce(tc, &a);
        n = bl_udp_encode_announce_req(p, t->conn_id, tc->txid, &a);
        tc->udp_connecting = false;
    } else {
        t->has_conn = false;
        n = bl_udp_encode_connect_req(p, tc->txid);
        tc->udp_connecting = true;
    }
    /* A lost or refused send is a lost packet: the timer retries. */
    (void)send(tc->udp_fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    uint64_t wait = (uint64_t)tc->cfg.udp_timeout_ms << (tc->udp_tries < 16 ? tc->udp_tries : 16);
    bl_loop_timer_cancel(tc->loop, tc->udp_timer);
    tc->udp_timer = bl_loop_timer(tc->loop, wait, on_udp_timer, tc);
}

static void udp_packet(bl_tracker_client *tc, const uint8_t *p, size_t n)
{
    struct trk *t = tc->cur->user;
    int family = t->addr.ss_family == AF_INET6 ? 6 : 4;
    bl_udp_response r;
    bl_err err = {0};
    int rc = bl_udp_decode_response(p, n, family, &r, &err);
    if (n < 8 || r.txid != tc->txid)
        return;   /* not an answer to our current request: a late duplicate, or noise */
    if (rc) {
        attempt_failed(tc, "%s", err.msg);
        return;
    }
    if (r.action == BL_UDP_ERROR) {
        char msg[200];
        bl_log_safe(msg, sizeof msg, r.msg, r.msglen);
        t->has_conn = false;   /* the usual cause is an expired connection id */
        attempt_failed(tc, "tracker refused: %s", msg);
        return;
    }
    if (tc->udp_connecting && r.action == BL_UDP_CONNECT) {
        t->has_conn = true;
        t->conn_id = r.conn_id;
        t->conn_at_ms = bl_loop_now_ms(tc->loop);
        tc->udp_tries = 0;
        udp_send(tc);
        return;
    }
    if (!tc->udp_connecting && r.action == BL_UDP_ANNOUNCE) {
        bl_trk_addr *peers = r.npeers ? calloc(r.npeers, sizeof *peers) : NULL;
        if (r.npeers && !peers) {
            attempt_failed(tc, "out of memory");
            return;
        }
        size_t np = 0;
        for (size_t i = 0; i < r.npeers; i++) {
            bl_trk_addr_from_compact(&peers[np], r.peers + i * (family == 6 ? 18 : 6), family);
            if (peers[np].port)
                np++;
        }
        attempt_succeeded(tc, r.interval, r.seeders, r.leechers, peers, np);
        free(peers);
        return;
    }
    attempt_failed(tc, "unexpected udp action %u", r.action);
}

static void on_udp_io(bl_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    (void)events;
    bl_tracker_client *tc = arg;
    for (int i = 0; i < 16 && tc->udp_fd == fd; i++) {
        uint8_t p[BL_UDP_PACKET_MAX + 512];
        ssize_t n = recv(fd, p, sizeof p, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            attempt_failed(tc, "udp: %s", strerror(errno));
            return;
        }
        udp_packet(tc, p, (size_t)n);
    }
}

static int udp_start(bl_tracker_client *tc, struct trk *t, char *why, size_t whysz)
{
    if (!t->resolved && udp_resolve(t, tc->cur->url, why, whysz))
        return -1;
    int fd = socket(t->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&t->addr, t->addrlen) < 0) {
        snprintf(why, whysz, "udp socket: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    bl_err err = {0};
    if (bl_loop_add(tc->loop, fd, BL_EV_READ, on_udp_io, tc, &err)) {
        close(fd);
        snprintf(why, whysz, "%s", err.msg);
        return -1;
    }
    tc->udp_fd = fd;
    tc->udp_tries = 0;
    udp_send(tc);
    return 0;
}

/* ---- the walk over tiers ---- */

static void try_current(bl_tracker_client *tc)
{
    tc->cur = bl_tiers_current(tc->tiers);
    if (!tc->cur)
        return;
    struct trk *t = tc->cur->user;
    char why[256] = "unsupported tracker URL scheme";
    int rc = -1;
    if (t->kind == K_HTTP)
        rc = http_start(tc, t, why, sizeof why);
    else if (t->kind == K_UDP)
        rc = udp_start(tc, t, why, sizeof why);
    if (rc)
        attempt_failed(tc, "%s", why);
}

static void announce_start(bl_tracker_client *tc)
{
    if (tc->stop_done)
        return;
    if (tc->in_flight) {
        tc->again = true;
        return;
    }
    bl_loop_timer_cancel(tc->loop, tc->next_timer);
    tc->next_timer = 0;
    tc->in_flight = true;
    tc->inflight_event = tc->pending;
    bl_tiers_rewind(tc->tiers);
    try_current(tc);
}

/* ---- public ---- */

bl_tracker_client *bl_tc_new(bl_loop *loop, const bl_tc_config *cfg, bl_err *err)
{
    static bool curl_ready;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            bl_fail(err, "tracker client: libcurl failed to initialise");
            return NULL;
        }
        curl_ready = true;
    }
    bl_tracker_client *tc = calloc(1, sizeof *tc);
    if (!tc) {
        bl_fail(err, "tracker client: out of memory");
        return NULL;
    }
    tc->loop = loop;
    tc->cfg = *cfg;
    tc->udp_fd = -1;
    tc->left = 1;
    tc->pending = BL_TRK_EV_STARTED;
    tc->st.complete = tc->st.incomplete = -1;
    bl_tc_config *c = &tc->cfg;
    if (!c->numwant)
        c->numwant = 50;
    if (!c->interval_floor_s)
        c->interval_floor_s = 1;
    if (!c->http_timeout_ms)
        c->http_timeout_ms = 30000;
    if (!c->udp_timeout_ms)
        c->udp_timeout_ms = 15000;
    if (!c->udp_retries)
        c->udp_retries = 2;
    if (!c->retry_min_s)
        c->retry_min_s = 15;
    if (!c->retry_max_s)
        c->retry_max_s = 1800;
    if (c->retry_max_s < c->retry_min_s)
        c->retry_max_s = c->retry_min_s;
    c->tiers = NULL;   /* copied into tc->tiers below */
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed || getrandom(&tc->key, 4, 0) != 4)
        seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
    if (!(tc->tiers = bl_tiers_new(cfg->tiers, cfg->num_tiers, seed, err)))
        goto fail;
    for (size_t i = 0; i < bl_tiers_num_tiers(tc->tiers); i++) {
        for (size_t j = 0; j < bl_tiers_tier_len(tc->tiers, i); j++) {
            bl_tier_entry *e = bl_tiers_at(tc->tiers, i, j);
            struct trk *t = calloc(1, sizeof *t);
            if (!t) {
                bl_fail(err, "tracker client: out of memory");
                goto fail;
            }
            t->kind = !strncmp(e->url, "http://", 7) || !strncmp(e->url, "https://", 8) ? K_HTTP
                      : !strncmp(e->url, "udp://", 6)                                   ? K_UDP
                                                                                        : K_UNSUPPORTED;
            e->user = t;
        }
    }
    if (!(tc->multi = curl_multi_init())) {
        bl_fail(err, "tracker client: curl_multi_init failed");
        goto fail;
    }
    curl_multi_setopt(tc->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(tc->multi, CURLMOPT_SOCKETDATA, tc);
    curl_multi_setopt(tc->multi, CURLMOPT_TIMERFUNCTION, on_curl_timeout);
    curl_multi_setopt(tc->multi, CURLMOPT_TIMERDATA, tc);
    schedule(tc, 0);
    return tc;
fail:
    bl_tc_free(tc);
    return NULL;
}

void bl_tc_free(bl_tracker_client *tc)
{
    if (!tc)
        return;
    attempt_cleanup(tc);
    bl_loop_timer_cancel(tc->loop, tc->next_timer);
    bl_loop_timer_cancel(tc->loop, tc->curl_timer);
    if (tc->multi)
        curl_multi_cleanup(tc->multi);
    if (tc->tiers) {
        for (size_t i = 0; i < bl_tiers_num_tiers(tc->tiers); i++)
            for (size_t j = 0; j < bl_tiers_tier_len(tc->tiers, i); j++)
                free(bl_tiers_at(tc->tiers, i, j)->user);
        bl_tiers_free(tc->tiers);
    }
    free(tc);
}

void bl_tc_set_stats(bl_tracker_client *tc, uint64_t uploaded, uint64_t downloaded, uint64_t left)
{
    tc->up = uploaded;
    tc->down = downloaded;
    tc->left = left;
}

void bl_tc_announce_now(bl_tracker_client *tc)
{
    if (!tc->stopping)
        announce_start(tc);
}

void bl_tc_event(bl_tracker_client *tc, enum bl_tc_event ev)
{
    if (tc->stopping)
        return;
    if (ev == BL_TC_COMPLETED) {
        tc->pending = BL_TRK_EV_COMPLETED;
        announce_start(tc);
        return;
    }
    tc->stopping = true;
    tc->again = false;
    if (tc->in_flight) {
        attempt_cleanup(tc);
        tc->in_flight = false;
    }
    if (!tc->started_ok) {
        finish_stop(tc);   /* the trackers never heard of us */
        return;
    }
    tc->pending = BL_TRK_EV_STOPPED;
    announce_start(tc);
}

const bl_tc_status *bl_tc_get_status(const bl_tracker_client *tc) { return &tc->st; }
