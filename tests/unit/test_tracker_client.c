/* The tracker client against a real bitlib tracker server running on the
 * same event loop (loopback, port 0): HTTP and UDP announces find each
 * other, tier failover past dead and garbage-answering trackers, UDP
 * retransmission timing, stale transaction ids ignored, back-off when every
 * tracker is down, event=stopped removing the peer.  Bounded by a watchdog
 * timer on every loop run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/net.h"
#include "swarm/tracker_client.h"
#include "tracker/server.h"
#include "tracker/udp_wire.h"

typedef struct peer_log {
    int calls;
    size_t last_n;
    uint16_t ports[64];
    int stopped;
} peer_log;

static void on_peers(void *arg, const struct sockaddr_storage *peers, size_t n)
{
    peer_log *pl = arg;
    pl->calls++;
    pl->last_n = n;
    for (size_t i = 0; i < n && i < 64; i++)
        pl->ports[i] = bl_net_port((const struct sockaddr *)&peers[i]);
}

static void on_stopped(void *arg) { ((peer_log *)arg)->stopped++; }

static void on_watchdog(bl_loop *loop, void *arg)
{
    *(int *)arg = 1;
    bl_loop_stop(loop);
}

/* Run the loop until *flag >= want or ms pass; true if reached. */
static bool run_until(bl_loop *loop, const int *flag, int want, uint64_t ms)
{
    int expired = 0;
    uint64_t wd = bl_loop_timer(loop, ms, on_watchdog, &expired);
    while (*flag < want && !expired)
        bl_loop_run_once(loop, 100);
    bl_loop_timer_cancel(loop, wd);
    return *flag >= want;
}

typedef struct fixture {
    bl_loop *loop;
    bl_trk_server *srv;
    uint16_t port;
    char http[64], udp[64];
} fixture;

static int setup(void **state)
{
    bl_log_set_level(BL_LOG_ERROR);
    fixture *f = calloc(1, sizeof *f);
    bl_err err = {0};
    f->loop = bl_loop_new(&err);
    assert_non_null(f->loop);
    bl_trk_server_config cfg = {.listen = "127.0.0.1:0", .interval_s = 1, .limits.peer_ttl_s = 60};
    f->srv = bl_trk_server_new(f->loop, &cfg, &err);
    if (!f->srv)
        fail_msg("server: %s", err.msg);
    f->port = bl_trk_server_port(f->srv);
    snprintf(f->http, sizeof f->http, "http://127.0.0.1:%u/announce", f->port);
    snprintf(f->udp, sizeof f->udp, "udp://127.0.0.1:%u/announce", f->port);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    bl_trk_server_free(f->srv);
    bl_loop_free(f->loop);
    free(f);
    return 0;
}

static bl_tc_config client_cfg(char ***tiers, size_t ntiers, uint16_t port, char id, peer_log *pl)
{
    bl_tc_config c = {0};
    memset(c.info_hash, 0x42, 20);
    memset(c.peer_id, id, 20);
    c.port = port;
    c.tiers = tiers;
    c.num_tiers = ntiers;
    c.udp_timeout_ms = 100;
    c.retry_min_s = 1;
    c.retry_max_s = 2;
    c.http_timeout_ms = 3000;
    c.on_peers = on_peers;
    c.on_stopped = on_stopped;
    c.arg = pl;
    return c;
}

/* A port with nothing listening (UDP and TCP): bind, read the number, close. */
static uint16_t dead_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_http_and_udp_find_each_other(void **state)
{
    fixture *f = *state;
    char *th[] = {f->http, NULL}, *tu[] = {f->udp, NULL};
    char **tiers_h[] = {th}, **tiers_u[] = {tu};
    peer_log a = {0}, b = {0};
    bl_err err = {0};
    bl_tc_config ca = client_cfg(tiers_h, 1, 1111, 'A', &a);
    ca.first_interval_s = 1;
    bl_tracker_client *A = bl_tc_new(f->loop, &ca, &err);
    assert_non_null(A);
    bl_tc_set_stats(A, 0, 0, 0);   /* seeder */
    assert_true(run_until(f->loop, &a.calls, 1, 5000));
    assert_int_equal(a.last_n, 0);

    bl_tc_config cb = client_cfg(tiers_u, 1, 2222, 'B', &b);
    bl_tracker_client *B = bl_tc_new(f->loop, &cb, &err);
    assert_non_null(B);
    assert_true(run_until(f->loop, &b.calls, 1, 5000));
    assert_int_equal(b.last_n, 1);
    assert_int_equal(b.ports[0], 1111);
    const bl_tc_status *sb = bl_tc_get_status(B);
    assert_int_equal(sb->complete, 1);
    assert_int_equal(sb->incomplete, 1);
    assert_string_equal(sb->last_tracker, f->udp);

    /* A's short first interval brings it back within ~1 s, now seeing B. */
    assert_true(run_until(f->loop, &a.calls, 2, 4000));
    assert_int_equal(a.last_n, 1);
    assert_int_equal(a.ports[0], 2222);

    /* Stopped: B leaves the tracker's table and says so. */
    size_t before = bl_trk_table_peers(bl_trk_server_table(f->srv));
    bl_tc_event(B, BL_TC_STOPPED);
    assert_true(run_until(f->loop, &b.stopped, 1, 5000));
    assert_int_equal(bl_trk_table_peers(bl_trk_server_table(f->srv)), before - 1);
    /* completed from A is counted as a download. */
    bl_tc_event(A, BL_TC_COMPLETED);
    int calls = a.calls;
    assert_true(run_until(f->loop, &a.calls, calls + 1, 4000));
    uint8_t ih[20];
    memset(ih, 0x42, 20);
    bl_trk_counts c;
    bl_trk_table_scrape(bl_trk_server_table(f->srv), ih, &c);
    /* A was a seeder already, so completed does not count again. */
    assert_int_equal(c.complete, 1);
    bl_tc_free(A);
    bl_tc_free(B);
}

static void test_failover(void **state)
{
    fixture *f = *state;
    char dead_udp[64], dead_http[64], garbage[64];
    snprintf(dead_udp, sizeof dead_udp, "udp://127.0.0.1:%u", dead_port());
    snprintf(dead_http, sizeof dead_http, "http://127.0.0.1:%u/announce", dead_port());
    /* Our own server answers 404 with a bencoded body for unknown paths. */
    snprintf(garbage, sizeof garbage, "http://127.0.0.1:%u/nothing", f->port);
    char *t0[] = {dead_udp, dead_http, garbage, "gopher://x/", NULL};
    char *t1[] = {f->http, NULL};
    char **tiers[] = {t0, t1};
    peer_log a = {0};
    bl_err err = {0};
    bl_tc_config ca = client_cfg(tiers, 2, 3333, 'C', &a);
    bl_tracker_client *A = bl_tc_new(f->loop, &ca, &err);
    assert_non_null(A);
    assert_true(run_until(f->loop, &a.calls, 1, 8000));
    const bl_tc_status *s = bl_tc_get_status(A);
    assert_int_equal(s->trackers_failed, 4);
    assert_string_equal(s->last_tracker, f->http);
    assert_int_equal(s->consecutive_failures, 0);
    bl_tc_free(A);
}

static void test_all_down_backs_off(void **state)
{
    fixture *f = *state;
    char dead_udp[64];
    snprintf(dead_udp, sizeof dead_udp, "udp://127.0.0.1:%u", dead_port());
    char *t0[] = {dead_udp, NULL};
    char **tiers[] = {t0};
    peer_log a = {0};
    bl_err err = {0};
    bl_tc_config ca = client_cfg(tiers, 1, 3333, 'D', &a);
    bl_tracker_client *A = bl_tc_new(f->loop, &ca, &err);
    assert_non_null(A);
    const bl_tc_status *s = bl_tc_get_status(A);
    /* retry_min 1 s: failures at ~0 s, ~1 s, ~3 s (then capped at 2 s). */
    uint64_t t0ms = bl_loop_now_ms(f->loop);
    int dummy = 0;
    run_until(f->loop, &dummy, 1, 3500);
    uint64_t took = bl_loop_now_ms(f->loop) - t0ms;
    assert_true(took >= 3000);
    assert_true(s->consecutive_failures >= 2);
    assert_true(s->consecutive_failures <= 4);
    assert_int_equal(a.calls, 0);
    assert_non_null(strstr(s->last_error, "refused"));
    /* Stopping a client that never got through needs no tracker. */
    bl_tc_event(A, BL_TC_STOPPED);
    assert_true(run_until(f->loop, &a.stopped, 1, 1000));
    bl_tc_free(A);
}

/* ---- a scripted UDP tracker: silent, or answering with a wrong txid ---- */

typedef struct fake {
    int fd;
    int mode;        /* 0: never answer; 1: wrong txid then right; 2: garbage with right txid */
    int packets;
    uint64_t first_ms, last_ms;
    bl_loop *loop;
} fake;

static void on_fake(bl_loop *loop, int fd, unsigned ev, void *arg)
{
    (void)ev;
    fake *fk = arg;
    uint8_t p[2048];
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(fd, p, sizeof p, 0, (struct sockaddr *)&from, &fl);
    if (n < 16)
        return;
    if (fk->packets++ == 0)
        fk->first_ms = bl_loop_now_ms(loop);
    fk->last_ms = bl_loop_now_ms(loop);
    bl_udp_request r;
    bl_err err = {0};
    if (bl_udp_decode_request(p, (size_t)n, &r, &err))
        return;
    uint8_t out[64];
    size_t len;
    if (fk->mode == 0)
        return;
    if (fk->mode == 2) {
        /* Right txid, truncated announce-sized junk: a garbage answer. */
        memset(out, 0, sizeof out);
        out[3] = 1;
        memcpy(out + 4, p + 12, 4);
        sendto(fd, out, 23, 0, (struct sockaddr *)&from, fl);
        return;
    }
    if (r.action == BL_UDP_CONNECT) {
        len = bl_udp_encode_connect_resp(out, r.txid + 1, 99);   /* stale: must be ignored */
        sendto(fd, out, len, 0, (struct sockaddr *)&from, fl);
        len = bl_udp_encode_connect_resp(out, r.txid, 77);
        sendto(fd, out, len, 0, (struct sockaddr *)&from, fl);
    } else if (r.action == BL_UDP_ANNOUNCE) {
        assert_true(r.conn_id == 77);
        bl_trk_peer_out peer = {.addr = {.family = 4, .ip = {10, 1, 2, 3}, .port = 4242}};
        bl_trk_counts c = {.complete = 5};
        bl_trk_peer_out stale = {.addr = {.family = 4, .ip = {10, 9, 9, 9}, .port = 1}};
        len = bl_udp_encode_announce_resp(out, sizeof out, r.txid ^ 0xffff, 60, &c, &stale, 1, 4);
        sendto(fd, out, len, 0, (struct sockaddr *)&from, fl);
        len = bl_udp_encode_announce_resp(out, sizeof out, r.txid, 60, &c, &peer, 1, 4);
        sendto(fd, out, len, 0, (struct sockaddr *)&from, fl);
    }
}

static fake *fake_new(bl_loop *loop, int mode, char *url, size_t urlsz)
{
    fake *fk = calloc(1, sizeof *fk);
    fk->mode = mode;
    fk->loop = loop;
    struct sockaddr_storage ss;
    socklen_t len;
    bl_err err = {0};
    assert_int_equal(bl_net_parse_hostport("127.0.0.1:0", &ss, &len, &err), 0);
    fk->fd = bl_net_udp_bind((struct sockaddr *)&ss, len, &err);
    assert_true(fk->fd >= 0);
    bl_net_local_addr(fk->fd, &ss, &len, &err);
    snprintf(url, urlsz, "udp://127.0.0.1:%u", bl_net_port((struct sockaddr *)&ss));
    assert_int_equal(bl_loop_add(loop, fk->fd, BL_EV_READ, on_fake, fk, &err), 0);
    return fk;
}

static void fake_free(fake *fk)
{
    bl_loop_del(fk->loop, fk->fd);
    close(fk->fd);
    free(fk);
}

static void test_udp_retransmit_then_failover(void **state)
{
    fixture *f = *state;
    char silent[64];
    fake *fk = fake_new(f->loop, 0, silent, sizeof silent);
    char *t0[] = {silent, NULL}, *t1[] = {f->udp, NULL};
    char **tiers[] = {t0, t1};
    peer_log a = {0};
    bl_err err = {0};
    bl_tc_config ca = client_cfg(tiers, 2, 5555, 'E', &a);
    ca.udp_timeout_ms = 100;
    ca.udp_retries = 2;
    bl_tracker_client *A = bl_tc_new(f->loop, &ca, &err);
    uint64_t t0ms = bl_loop_now_ms(f->loop);
    assert_true(run_until(f->loop, &a.calls, 1, 5000));
    uint64_t took = bl_loop_now_ms(f->loop) - t0ms;
    /* 3 connect tries at 0, 100, 300 ms; given up at 700 ms. */
    assert_int_equal(fk->packets, 3);
    assert_true(fk->last_ms - fk->first_ms >= 290);
    assert_true(took >= 690);
    assert_true(took < 3000);
    assert_int_equal(bl_tc_get_status(A)->trackers_failed, 1);
    bl_tc_free(A);
    fake_free(fk);
}

static void test_udp_wrong_txid_ignored_and_garbage(void **state)
{
    fixture *f = *state;
    char url[64], url2[64];
    fake *fk = fake_new(f->loop, 1, url, sizeof url);
    char *t0[] = {url, NULL};
    char **tiers[] = {t0};
    peer_log a = {0};
    bl_err err = {0};
    bl_tc_config ca = client_cfg(tiers, 1, 6666, 'F', &a);
    bl_tracker_client *A = bl_tc_new(f->loop, &ca, &err);
    assert_true(run_until(f->loop, &a.calls, 1, 3000));
    assert_int_equal(a.last_n, 1);
    assert_int_equal(a.ports[0], 4242);
    assert_int_equal(bl_tc_get_status(A)->complete, 5);
    assert_int_equal(bl_tc_get_status(A)->trackers_failed, 0);
    assert_int_equal(fk->packets, 2);   /* one connect, one announce: no retries */
    bl_tc_free(A);
    fake_free(fk);

    /* A garbage answer with the right txid fails that tracker at once. */
    fk = fake_new(f->loop, 2, url2, sizeof url2);
    char *g0[] = {url2, NULL}, *g1[] = {f->http, NULL};
    char **gt[] = {g0, g1};
    peer_log b = {0};
    bl_tc_config cb = client_cfg(gt, 2, 7777, 'G', &b);
    cb.udp_timeout_ms = 2000;   /* a timeout would blow the 1.5 s budget */
    bl_tracker_client *B = bl_tc_new(f->loop, &cb, &err);
    assert_true(run_until(f->loop, &b.calls, 1, 1500));
    assert_int_equal(bl_tc_get_status(B)->trackers_failed, 1);
    assert_non_null(strstr(bl_tc_get_status(B)->last_error, "not a multiple"));
    bl_tc_free(B);
    fake_free(fk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http_and_udp_find_each_other, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_down_backs_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_udp_retransmit_then_failover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_udp_wrong_txid_ignored_and_garbage, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
