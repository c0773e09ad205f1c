/* Tests for the client-side pure parts: HTTP announce URL building,
 * tracker reply parsing (compact, dictionary model, peers6, failure reason,
 * warning, garbage, huge replies, peer caps) and BEP 12 tier walking
 * (shuffle once, failover, move-to-front). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "swarm/announce_http.h"
#include "swarm/announce_tiers.h"
#include "tracker/http_wire.h"

static int parse(const char *s, size_t n, bl_announce_reply *r, bl_err *err)
{
    return bl_announce_http_parse((const uint8_t *)s, n, r, err);
}
#define PARSE(lit, r, err) parse(lit, sizeof(lit) - 1, r, err)

static void test_url_roundtrip(void **state)
{
    (void)state;
    bl_trk_announce a = {0}, b;
    for (int i = 0; i < 20; i++) {
        a.info_hash[i] = (uint8_t)(i * 13 + 200);
        a.peer_id[i] = (uint8_t)("-BL0001-&=%+ ?#~\x00\xff\x7f"[i]);
    }
    a.addr.port = 6881;
    a.uploaded = 1;
    a.downloaded = 2;
    a.left = 3;
    a.event = BL_TRK_EV_COMPLETED;
    a.numwant = 80;
    a.key = 0xabcdef01;
    bl_trk_addr_parse_ip(&a.addr, "fd00::7", 7);
    a.has_ip = true;
    bl_buf u;
    bl_buf_init(&u);
    bl_announce_http_url(&u, "http://t.example/announce?passkey=xyz", &a, "tid", 3);
    const char *s = (const char *)u.data;
    assert_non_null(strstr(s, "/announce?passkey=xyz&info_hash="));
    assert_non_null(strstr(s, "&trackerid=tid"));
    /* Our own tracker's parser reads it back exactly. */
    const char *q = strchr(s, '?') + 1;
    bl_err err = {0};
    assert_int_equal(bl_trk_http_parse_announce(q, strlen(q), &b, &err), 0);
    assert_memory_equal(b.info_hash, a.info_hash, 20);
    assert_memory_equal(b.peer_id, a.peer_id, 20);
    assert_int_equal(b.addr.port, 6881);
    assert_int_equal(b.left, 3);
    assert_int_equal(b.event, BL_TRK_EV_COMPLETED);
    assert_int_equal(b.numwant, 80);
    assert_true(b.has_ip);
    assert_int_equal(b.addr.family, 6);
    assert_true(b.compact);
    bl_buf_reset(&u);
    a.event = BL_TRK_EV_NONE;
    a.has_ip = false;
    a.numwant = -1;
    bl_announce_http_url(&u, "http://t/announce", &a, NULL, 0);
    assert_null(strstr((const char *)u.data, "event="));
    assert_null(strstr((const char *)u.data, "numwant="));
    assert_null(strstr((const char *)u.data, "&ip="));
    bl_buf_free(&u);
}

static void test_parse_compact(void **state)
{
    (void)state;
    bl_announce_reply r;
    bl_err err = {0};
    static const char body[] =
        "d8:completei3e10:incompletei4e8:intervali900e12:min intervali60e"
        "5:peers12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x00"
        "6:peers618:\xfd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x07\x00\x50"
        "10:tracker id3:abc15:warning message5:hello"
        "e";
    assert_int_equal(PARSE(body, &r, &err), 0);
    assert_false(r.failed);
    assert_int_equal(r.interval, 900);
    assert_int_equal(r.min_interval, 60);
    assert_int_equal(r.complete, 3);
    assert_int_equal(r.incomplete, 4);
    assert_string_equal(r.warning, "hello");
    assert_int_equal(r.tracker_id_len, 3);
    /* The port-0 entry is dropped. */
    assert_int_equal(r.npeers, 2);
    assert_int_equal(r.peers[0].family, 4);
    assert_int_equal(r.peers[0].port, 6881);
    assert_int_equal(r.peers[1].family, 6);
    assert_int_equal(r.peers[1].ip[15], 7);
    assert_int_equal(r.peers[1].port, 80);
    bl_announce_reply_free(&r);
}

static void test_parse_dict_model(void **state)
{
    (void)state;
    bl_announce_reply r;
    bl_err err = {0};
    static const char body[] = "d8:intervali30e5:peersl"
                               "d2:ip9:127.0.0.17:peer id20:AAAAAAAAAAAAAAAAAAAA4:porti1111ee"
                               "d2:ip7:fd00::14:porti2222ee"
                               "d2:ip11:example.com4:porti3333ee"   /* name: skipped */
                               "d2:ip8:10.0.0.14:porti0ee"          /* bad port */
                               "d2:ip8:10.0.0.14:porti70000ee"
                               "i5e"
                               "d4:porti1e"
                               "eee";
    assert_int_equal(PARSE(body, &r, &err), 0);
    assert_int_equal(r.interval, 30);
    assert_int_equal(r.complete, -1);
    assert_int_equal(r.npeers, 2);
    assert_int_equal(r.peers[0].port, 1111);
    assert_int_equal(r.peers[1].family, 6);
    assert_int_equal(r.peers[1].port, 2222);
    bl_announce_reply_free(&r);
}

static void test_parse_failure_and_garbage(void **state)
{
    (void)state;
    bl_announce_reply r;
    bl_err err = {0};
    assert_int_equal(PARSE("d14:failure reason9:go \x01\x02" "awaye", &r, &err), 0);
    assert_true(r.failed);
    assert_string_equal(r.failure, "go ??away");   /* kept printable */
    assert_int_equal(r.npeers, 0);

    static const char *bad[] = {
        "",
        "<html>404</html>",
        "le",
        "i5e",
        "d8:intervali5ee",                  /* neither peers nor failure */
        "d5:peers5:abcdee",                 /* 5 is no multiple of 6 */
        "d5:peersi5ee",
        "d8:intervali5e5:peers0:",          /* truncated */
        "d5:peers0:8:intervali5ee",         /* unsorted keys */
        "d5:peers0:e trailing",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(bad[i], strlen(bad[i]), &r, &err) != -1)
            fail_msg("accepted garbage #%zu", i);
        assert_null(r.peers);
    }
    /* peers6 with a bad length is refused too. */
    assert_int_equal(PARSE("d5:peers0:6:peers65:abcdee", &r, &err), -1);
    /* Negative and huge intervals clamp instead of wrapping. */
    assert_int_equal(PARSE("d8:intervali-5e5:peers0:e", &r, &err), 0);
    assert_int_equal(r.interval, 0);
    bl_announce_reply_free(&r);
    assert_int_equal(PARSE("d8:intervali99999999999e5:peers0:e", &r, &err), 0);
    assert_int_equal(r.interval, UINT32_MAX);
    bl_announce_reply_free(&r);
}

static void test_parse_huge(void **state)
{
    (void)state;
    bl_announce_reply r;
    bl_err err = {0};
    /* A compact list of 20000 peers: kept up to the cap. */
    size_t n = 20000;
    bl_buf b;
    bl_buf_init(&b);
    bl_buf_printf(&b, "d8:intervali60e5:peers%zu:", n * 6);
    for (size_t i = 0; i < n; i++) {
        uint8_t e[6] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i, 0x1a, 0xe1};
        bl_buf_put(&b, e, 6);
    }
    bl_buf_putc(&b, 'e');
    assert_int_equal(bl_announce_http_parse(b.data, b.len, &r, &err), 0);
    assert_int_equal(r.npeers, BL_ANNOUNCE_PEERS_MAX);
    bl_announce_reply_free(&r);
    /* Over the byte limit: refused before decoding. */
    uint8_t *big = calloc(1, BL_ANNOUNCE_REPLY_MAX + 1);
    assert_int_equal(bl_announce_http_parse(big, BL_ANNOUNCE_REPLY_MAX + 1, &r, &err), -1);
    assert_non_null(strstr(err.msg, "too large"));
    free(big);
    /* Deep nesting is refused by the decoder limits. */
    bl_buf_reset(&b);
    bl_buf_puts(&b, "d5:peers");
    for (int i = 0; i < 100; i++)
        bl_buf_putc(&b, 'l');
    for (int i = 0; i < 100; i++)
        bl_buf_putc(&b, 'e');
    bl_buf_putc(&b, 'e');
    assert_int_equal(bl_announce_http_parse(b.data, b.len, &r, &err), -1);
    bl_buf_free(&b);
}

static void test_tiers(void **state)
{
    (void)state;
    char *t0[] = {"a1", "a2", "a3", NULL};
    char *t1[] = {NULL};
    char *t2[] = {"b1", NULL};
    char **tiers[] = {t0, t1, t2};
    bl_err err = {0};
    bl_tiers *t = bl_tiers_new(tiers, 3, 7, &err);
    assert_non_null(t);
    assert_int_equal(bl_tiers_num_tiers(t), 2);   /* the empty tier is dropped */
    assert_int_equal(bl_tiers_tier_len(t, 0), 3);

    /* A walk where everything fails visits each tracker once, tier by tier. */
    bl_tiers_rewind(t);
    char seen[4][4];
    int n = 0;
    for (bl_tier_entry *e; (e = bl_tiers_current(t)); bl_tiers_failed(t))
        snprintf(seen[n++], 4, "%s", e->url);
    assert_int_equal(n, 4);
    assert_int_equal(seen[0][0], 'a');
    assert_int_equal(seen[1][0], 'a');
    assert_int_equal(seen[2][0], 'a');
    assert_string_equal(seen[3], "b1");
    assert_string_not_equal(seen[0], seen[1]);
    bl_tiers_failed(t);   /* past the end: harmless */
    assert_null(bl_tiers_current(t));

    /* Third of tier 0 answers: it moves to the front, the others keep order. */
    bl_tiers_rewind(t);
    bl_tiers_failed(t);
    bl_tiers_failed(t);
    char third[4];
    snprintf(third, sizeof third, "%s", bl_tiers_current(t)->url);
    bl_tiers_succeeded(t);
    assert_string_equal(bl_tiers_at(t, 0, 0)->url, third);
    assert_string_equal(bl_tiers_at(t, 0, 1)->url, seen[0]);
    assert_string_equal(bl_tiers_at(t, 0, 2)->url, seen[1]);
    bl_tiers_rewind(t);
    assert_string_equal(bl_tiers_current(t)->url, third);

    /* Tier 0 all down, b1 answers: b1 stays first of tier 1, and the next
     * walk still starts at tier 0 (BEP 12). */
    bl_tiers_rewind(t);
    for (int i = 0; i < 3; i++)
        bl_tiers_failed(t);
    assert_string_equal(bl_tiers_current(t)->url, "b1");
    bl_tiers_succeeded(t);
    bl_tiers_rewind(t);
    assert_int_equal(bl_tiers_current(t)->url[0], 'a');
    bl_tiers_free(t);

    /* The shuffle depends on the seed: some seed gives another order. */
    bool differs = false;
    for (uint64_t seed = 1; seed < 50 && !differs; seed++) {
        bl_tiers *u = bl_tiers_new(tiers, 3, seed, &err);
        bl_tiers *v = bl_tiers_new(tiers, 3, seed + 1000, &err);
        differs = strcmp(bl_tiers_at(u, 0, 0)->url, bl_tiers_at(v, 0, 0)->url) != 0;
        bl_tiers_free(u);
        bl_tiers_free(v);
    }
    assert_true(differs);

    char **none[] = {t1};
    assert_null(bl_tiers_new(none, 1, 1, &err));
    assert_non_null(strstr(err.msg, "no tracker"));
    assert_null(bl_tiers_new(NULL, 0, 1, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_roundtrip),
        cmocka_unit_test(test_parse_compact),
        cmocka_unit_test(test_parse_dict_model),
        cmocka_unit_test(test_parse_failure_and_garbage),
        cmocka_unit_test(test_parse_huge),
        cmocka_unit_test(test_tiers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
