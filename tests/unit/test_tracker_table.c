/* Tests for the tracker's peer table: insert/refresh, seeder/leecher
 * counts, completed counting, stopped removal, expiry by passed-in time,
 * numwant caps, sample excludes the requester and is drawn from everyone,
 * family filter, caps on torrents and peers, whitelist. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <string.h>

#include "tracker/peer_table.h"

static void make_ann(bl_trk_announce *a, uint8_t torrent, uint32_t peer, uint64_t left)
{
    memset(a, 0, sizeof *a);
    memset(a->info_hash, torrent, 20);
    memcpy(a->peer_id, "-BL0001-", 8);
    memcpy(a->peer_id + 8, &peer, sizeof peer);
    a->addr.family = 4;
    a->addr.ip[0] = 10;
    a->addr.ip[2] = (uint8_t)(peer >> 8);
    a->addr.ip[3] = (uint8_t)peer;
    a->addr.port = 6881;
    a->left = left;
    a->numwant = -1;
    a->compact = true;
}

static bl_trk_table *table(const bl_trk_limits *lim)
{
    bl_err err = {0};
    bl_trk_table *t = bl_trk_table_new(lim, 42, &err);
    assert_non_null(t);
    return t;
}

static int announce(bl_trk_table *t, const bl_trk_announce *a, uint64_t now, bl_trk_peer_out *out,
                    size_t max, size_t *n, bl_trk_counts *c)
{
    bl_err err = {0};
    return bl_trk_table_announce(t, a, now, 0, out, max, n, c, &err);
}

static void test_counts_and_refresh(void **state)
{
    (void)state;
    bl_trk_table *t = table(NULL);
    bl_trk_announce a;
    bl_trk_peer_out out[10];
    size_t n;
    bl_trk_counts c;

    make_ann(&a, 1, 1, 0); /* seeder */
    a.event = BL_TRK_EV_STARTED;
    assert_int_equal(announce(t, &a, 100, out, 10, &n, &c), 0);
    assert_int_equal(n, 0);
    assert_int_equal(c.complete, 1);
    assert_int_equal(c.incomplete, 0);

    make_ann(&a, 1, 2, 500); /* leecher */
    assert_int_equal(announce(t, &a, 101, out, 10, &n, &c), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].addr.ip[3], 1);
    assert_int_equal(c.complete, 1);
    assert_int_equal(c.incomplete, 1);

    /* The leecher re-announces from a new address: refreshed, not added. */
    a.addr.port = 7000;
    assert_int_equal(announce(t, &a, 102, out, 10, &n, &c), 0);
    assert_int_equal(bl_trk_table_peers(t), 2);

    /* ...then completes: counted once, even if it says so twice. */
    a.left = 0;
    a.event = BL_TRK_EV_COMPLETED;
    assert_int_equal(announce(t, &a, 103, out, 10, &n, &c), 0);
    assert_int_equal(announce(t, &a, 104, out, 10, &n, &c), 0);
    assert_int_equal(c.complete, 2);
    assert_int_equal(c.incomplete, 0);
    assert_int_equal(c.downloaded, 1);

    /* A leecher that finishes and stops in one announce is a download too;
     * so is an unknown peer saying completed; a seeder starting is not. */
    make_ann(&a, 1, 3, 10);
    assert_int_equal(announce(t, &a, 104, out, 10, &n, &c), 0);
    a.left = 0;
    a.event = BL_TRK_EV_STOPPED;
    assert_int_equal(announce(t, &a, 104, out, 10, &n, &c), 0);
    assert_int_equal(c.downloaded, 2);
    make_ann(&a, 1, 4, 0);
    a.event = BL_TRK_EV_COMPLETED;
    assert_int_equal(announce(t, &a, 104, out, 10, &n, &c), 0);
    assert_int_equal(c.downloaded, 3);
    make_ann(&a, 1, 5, 0);
    a.event = BL_TRK_EV_STARTED;
    assert_int_equal(announce(t, &a, 104, out, 10, &n, &c), 0);
    assert_int_equal(c.downloaded, 3);
    a.event = BL_TRK_EV_STOPPED;
    assert_int_equal(announce(t, &a, 104, out, 10, &n, &c), 0);
    make_ann(&a, 1, 4, 0);
    a.event = BL_TRK_EV_STOPPED;
    assert_int_equal(announce(t, &a, 104, out, 10, &n, &c), 0);
    assert_int_equal(c.complete, 2);
    assert_int_equal(c.downloaded, 3);

    /* Peer 1 sees peer 2 at its new port. */
    make_ann(&a, 1, 1, 0);
    assert_int_equal(announce(t, &a, 105, out, 10, &n, &c), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].addr.port, 7000);

    bl_trk_counts s;
    uint8_t ih[20];
    memset(ih, 1, 20);
    bl_trk_table_scrape(t, ih, &s);
    assert_int_equal(s.complete, 2);
    assert_int_equal(s.downloaded, 3);
    memset(ih, 9, 20);
    bl_trk_table_scrape(t, ih, &s);
    assert_int_equal(s.complete + s.incomplete + s.downloaded, 0);
    bl_trk_table_free(t);
}

static void test_stopped_removes(void **state)
{
    (void)state;
    bl_trk_table *t = table(NULL);
    bl_trk_announce a;
    bl_trk_peer_out out[10];
    size_t n;
    bl_trk_counts c;
    make_ann(&a, 1, 1, 10);
    assert_int_equal(announce(t, &a, 1, out, 10, &n, &c), 0);
    make_ann(&a, 1, 2, 10);
    assert_int_equal(announce(t, &a, 1, out, 10, &n, &c), 0);
    assert_int_equal(bl_trk_table_peers(t), 2);
    a.event = BL_TRK_EV_STOPPED;
    assert_int_equal(announce(t, &a, 2, out, 10, &n, &c), 0);
    assert_int_equal(n, 0);
    assert_int_equal(c.incomplete, 1);
    assert_int_equal(bl_trk_table_peers(t), 1);
    /* Stopping an unknown peer of an unknown torrent creates nothing. */
    make_ann(&a, 7, 9, 10);
    a.event = BL_TRK_EV_STOPPED;
    assert_int_equal(announce(t, &a, 2, out, 10, &n, &c), 0);
    assert_int_equal(bl_trk_table_torrents(t), 1);
    /* Last peer leaving (finished): the torrent and its counts stay for one
     * TTL (default 3600 s), then go. */
    make_ann(&a, 1, 1, 0);
    a.event = BL_TRK_EV_STOPPED;
    assert_int_equal(announce(t, &a, 3, out, 10, &n, &c), 0);
    assert_int_equal(bl_trk_table_peers(t), 0);
    assert_int_equal(bl_trk_table_torrents(t), 1);
    uint8_t ih[20];
    memset(ih, 1, 20);
    bl_trk_table_scrape(t, ih, &c);
    assert_int_equal(c.downloaded, 1);
    assert_int_equal(bl_trk_table_expire(t, 3602), 0);
    assert_int_equal(bl_trk_table_torrents(t), 1);
    assert_int_equal(bl_trk_table_expire(t, 3603), 0);
    assert_int_equal(bl_trk_table_torrents(t), 0);
    bl_trk_table_free(t);
}

static void test_expiry(void **state)
{
    (void)state;
    bl_trk_limits lim = {.peer_ttl_s = 60};
    bl_trk_table *t = table(&lim);
    bl_trk_announce a;
    bl_trk_peer_out out[10];
    size_t n;
    bl_trk_counts c;
    make_ann(&a, 1, 1, 10);
    assert_int_equal(announce(t, &a, 1000, out, 10, &n, &c), 0);
    make_ann(&a, 1, 2, 0);
    assert_int_equal(announce(t, &a, 1030, out, 10, &n, &c), 0);
    make_ann(&a, 2, 3, 0);
    assert_int_equal(announce(t, &a, 1030, out, 10, &n, &c), 0);

    /* At 1060 peer 1 is silent for 60 s: not handed out any more... */
    make_ann(&a, 1, 2, 0);
    assert_int_equal(announce(t, &a, 1060, out, 10, &n, &c), 0);
    assert_int_equal(n, 0);
    /* ...and the sweep removes exactly it. */
    assert_int_equal(bl_trk_table_expire(t, 1060), 1);
    assert_int_equal(bl_trk_table_peers(t), 2);
    assert_int_equal(bl_trk_table_expire(t, 1089), 0);
    /* At 1090 torrent 2's only peer (last seen 1030) goes; the empty
     * torrent lingers one TTL. */
    assert_int_equal(bl_trk_table_expire(t, 1090), 1);
    assert_int_equal(bl_trk_table_torrents(t), 2);
    assert_int_equal(bl_trk_table_expire(t, 1120), 1);
    assert_int_equal(bl_trk_table_peers(t), 0);
    assert_int_equal(bl_trk_table_expire(t, 1149), 0);
    assert_int_equal(bl_trk_table_torrents(t), 2);
    assert_int_equal(bl_trk_table_expire(t, 1150), 0);
    assert_int_equal(bl_trk_table_torrents(t), 1);
    assert_int_equal(bl_trk_table_expire(t, 1179), 0);
    assert_int_equal(bl_trk_table_torrents(t), 1);
    assert_int_equal(bl_trk_table_expire(t, 1180), 0);
    assert_int_equal(bl_trk_table_torrents(t), 0);
    bl_trk_table_free(t);
}

static void test_numwant_and_sampling(void **state)
{
    (void)state;
    bl_trk_limits lim = {.default_numwant = 30, .max_numwant = 50};
    bl_trk_table *t = table(&lim);
    assert_int_equal(bl_trk_table_numwant(t, -1), 30);
    assert_int_equal(bl_trk_table_numwant(t, 0), 0);
    assert_int_equal(bl_trk_table_numwant(t, 10), 10);
    assert_int_equal(bl_trk_table_numwant(t, 1000), 50);
    assert_int_equal(bl_trk_table_numwant(t, INT32_MAX), 50);

    bl_trk_announce a;
    static bl_trk_peer_out out[300];
    size_t n;
    bl_trk_counts c;
    for (uint32_t i = 0; i < 200; i++) {
        make_ann(&a, 5, i, i % 4 ? 100 : 0);
        assert_int_equal(announce(t, &a, 10, out, 300, &n, &c), 0);
    }
    assert_int_equal(c.complete, 50);
    assert_int_equal(c.incomplete, 150);

    unsigned seen[200] = {0};
    make_ann(&a, 5, 7, 100);
    for (int round = 0; round < 100; round++) {
        a.numwant = 1000;
        assert_int_equal(announce(t, &a, 11, out, 300, &n, &c), 0);
        assert_int_equal(n, 50);   /* capped by max_numwant */
        for (size_t i = 0; i < n; i++) {
            uint32_t id;
            memcpy(&id, out[i].peer_id + 8, 4);
            assert_true(id < 200);
            assert_int_not_equal(id, 7);  /* never the requester */
            for (size_t j = 0; j < i; j++)
                assert_memory_not_equal(out[i].peer_id, out[j].peer_id, 20);
            seen[id]++;
        }
    }
    /* 100 draws of 50 out of 199: everyone but the requester shows up, and
     * nobody dominates (expected ~25 each). */
    for (uint32_t i = 0; i < 200; i++) {
        if (i == 7) {
            assert_int_equal(seen[i], 0);
        } else {
            assert_true(seen[i] > 5);
            assert_true(seen[i] < 60);
        }
    }
    /* max_out bounds too; numwant=0 gives no peers. */
    a.numwant = -1;
    assert_int_equal(announce(t, &a, 12, out, 3, &n, &c), 0);
    assert_int_equal(n, 3);
    a.numwant = 0;
    assert_int_equal(announce(t, &a, 12, out, 300, &n, &c), 0);
    assert_int_equal(n, 0);
    bl_trk_table_free(t);
}

static void test_family_filter(void **state)
{
    (void)state;
    bl_trk_table *t = table(NULL);
    bl_trk_announce a;
    bl_trk_peer_out out[10];
    size_t n;
    bl_trk_counts c;
    bl_err err = {0};
    for (uint32_t i = 0; i < 6; i++) {
        make_ann(&a, 1, i, 1);
        if (i % 2) {
            a.addr.family = 6;
            a.addr.ip[0] = 0xfd;
        }
        assert_int_equal(announce(t, &a, 1, out, 10, &n, &c), 0);
    }
    make_ann(&a, 1, 0, 1);
    assert_int_equal(bl_trk_table_announce(t, &a, 1, 6, out, 10, &n, &c, &err), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i].addr.family, 6);
    assert_int_equal(bl_trk_table_announce(t, &a, 1, 4, out, 10, &n, &c, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(bl_trk_table_announce(t, &a, 1, 0, out, 10, &n, &c, &err), 0);
    assert_int_equal(n, 5);
    /* An announce without an address is refused. */
    a.addr.family = 0;
    assert_int_equal(bl_trk_table_announce(t, &a, 1, 0, out, 10, &n, &c, &err), -1);
    bl_trk_table_free(t);
}

static void test_caps(void **state)
{
    (void)state;
    bl_trk_limits lim = {.max_torrents = 2, .max_peers_per_torrent = 3, .max_peers_total = 4};
    bl_trk_table *t = table(&lim);
    bl_trk_announce a;
    bl_trk_peer_out out[10];
    size_t n;
    bl_trk_counts c;
    bl_err err = {0};
    for (uint32_t i = 0; i < 3; i++) {
        make_ann(&a, 1, i, 1);
        assert_int_equal(announce(t, &a, 1, out, 10, &n, &c), 0);
    }
    make_ann(&a, 1, 3, 1);
    assert_int_equal(bl_trk_table_announce(t, &a, 1, 0, out, 10, &n, &c, &err), -1);
    assert_non_null(strstr(err.msg, "too many peers on this torrent"));
    /* Known peers still refresh when full. */
    make_ann(&a, 1, 2, 0);
    assert_int_equal(announce(t, &a, 2, out, 10, &n, &c), 0);
    make_ann(&a, 2, 0, 1);
    assert_int_equal(announce(t, &a, 1, out, 10, &n, &c), 0);
    make_ann(&a, 2, 1, 1);
    assert_int_equal(bl_trk_table_announce(t, &a, 1, 0, out, 10, &n, &c, &err), -1);
    assert_non_null(strstr(err.msg, "too many peers"));
    make_ann(&a, 3, 0, 1);
    assert_int_equal(bl_trk_table_announce(t, &a, 1, 0, out, 10, &n, &c, &err), -1);
    assert_non_null(strstr(err.msg, "too many torrents"));
    assert_int_equal(bl_trk_table_torrents(t), 2);
    bl_trk_table_free(t);
}

static void test_whitelist(void **state)
{
    (void)state;
    bl_trk_table *t = table(NULL);
    bl_trk_announce a;
    bl_trk_peer_out out[10];
    size_t n;
    bl_trk_counts c;
    bl_err err = {0};
    make_ann(&a, 1, 1, 1);
    assert_int_equal(announce(t, &a, 1, out, 10, &n, &c), 0);   /* open mode */
    uint8_t ih[20];
    memset(ih, 2, 20);
    assert_int_equal(bl_trk_table_allow(t, ih, &err), 0);
    assert_int_equal(bl_trk_table_allow(t, ih, &err), 0);       /* twice is fine */
    assert_int_equal(bl_trk_table_announce(t, &a, 1, 0, out, 10, &n, &c, &err), -1);
    assert_non_null(strstr(err.msg, "not served"));
    make_ann(&a, 2, 1, 1);
    assert_int_equal(announce(t, &a, 1, out, 10, &n, &c), 0);
    bl_trk_table_allow_clear(t);
    make_ann(&a, 1, 1, 1);
    assert_int_equal(announce(t, &a, 1, out, 10, &n, &c), 0);
    bl_trk_table_free(t);
}

/* Many insertions and removals in random order keep the index consistent. */
static void test_churn(void **state)
{
    (void)state;
    bl_trk_table *t = table(NULL);
    bl_trk_announce a;
    bl_trk_peer_out out[4];
    size_t n;
    bl_trk_counts c;
    uint8_t alive[2000] = {0};
    size_t live = 0;
    uint32_t x = 12345;
    for (int step = 0; step < 20000; step++) {
        x = x * 1103515245u + 12345u;
        uint32_t id = (x >> 8) % 2000;
        make_ann(&a, (uint8_t)(id % 3), id, 1);
        if (alive[id] && (x & 1)) {
            a.event = BL_TRK_EV_STOPPED;
            alive[id] = 0;
            live--;
        } else if (!alive[id]) {
            alive[id] = 1;
            live++;
        }
        assert_int_equal(announce(t, &a, 1, out, 4, &n, &c), 0);
        assert_int_equal(bl_trk_table_peers(t), live);
    }
    assert_int_equal(bl_trk_table_expire(t, 1 + 3600), live);
    assert_int_equal(bl_trk_table_expire(t, 1 + 7200), 0);
    assert_int_equal(bl_trk_table_torrents(t), 0);
    bl_trk_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_and_refresh),
        cmocka_unit_test(test_stopped_removes),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_numwant_and_sampling),
        cmocka_unit_test(test_family_filter),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_whitelist),
        cmocka_unit_test(test_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
