/* Tests for the tracker side of the HTTP protocol: announce and scrape
 * query parsing (binary %-escapes, defaults, every bad input we refuse)
 * and bencoded replies (compact with peers6, dictionary model, no_peer_id,
 * failure, scrape sorting and duplicates) checked by decoding them back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/bencode.h"
#include "tracker/http_wire.h"

/* %-escape every byte, the way libtorrent sends binary values. */
static void esc(char *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 3 * i, "%%%02X", p[i]);
}

static const uint8_t IH[20] = {0x00, 0x01, 0x02, 0xff, 0x25, 0x26, 0x3d, 0x2b, 0x20, 0x80,
                               0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99};

static int parse(const char *q, bl_trk_announce *a, bl_err *err)
{
    return bl_trk_http_parse_announce(q, strlen(q), a, err);
}

static void test_announce_binary_and_defaults(void **state)
{
    (void)state;
    char q[512], ih[61];
    esc(ih, IH, 20);
    /* peer_id mixes plain characters and escapes, as real clients do. */
    snprintf(q, sizeof q, "info_hash=%s&peer_id=-qB4250-%%00%%FFabcdefghij&port=6881", ih);
    bl_trk_announce a;
    bl_err err = {0};
    assert_int_equal(parse(q, &a, &err), 0);
    assert_memory_equal(a.info_hash, IH, 20);
    assert_memory_equal(a.peer_id, "-qB4250-\x00\xff" "abcdefghij", 20);
    assert_int_equal(a.addr.port, 6881);
    assert_true(a.compact);           /* compact unless told otherwise */
    assert_int_equal(a.numwant, -1);
    assert_int_equal(a.left, 1);      /* unknown left counts as leecher */
    assert_int_equal(a.event, BL_TRK_EV_NONE);
    assert_false(a.has_ip);
}

static void test_announce_all_fields(void **state)
{
    (void)state;
    char q[512], ih[61];
    esc(ih, IH, 20);
    snprintf(q, sizeof q,
             "info_hash=%s&peer_id=ABCDEFGHIJKLMNOPQRST&port=65535&uploaded=12&downloaded="
             "18446744073709551615&left=0&event=completed&compact=0&no_peer_id=1&numwant=7"
             "&ip=10.1.2.3&key=abc&supportcrypto=1&&trackerid=x",
             ih);
    bl_trk_announce a;
    bl_err err = {0};
    assert_int_equal(parse(q, &a, &err), 0);
    assert_int_equal(a.addr.port, 65535);
    assert_int_equal(a.uploaded, 12);
    assert_true(a.downloaded == UINT64_MAX);
    assert_int_equal(a.left, 0);
    assert_int_equal(a.event, BL_TRK_EV_COMPLETED);
    assert_false(a.compact);
    assert_true(a.no_peer_id);
    assert_int_equal(a.numwant, 7);
    assert_true(a.has_ip);
    assert_int_equal(a.addr.family, 4);
    assert_memory_equal(a.addr.ip, "\x0a\x01\x02\x03", 4);
    assert_int_equal(a.addr.port, 65535);   /* ip= does not clobber the port */
    assert_int_not_equal(a.key, 0);

    /* IPv6 literal (escaped colons); a host name is ignored, not an error. */
    snprintf(q, sizeof q, "ip=fd00%%3A%%3A1&info_hash=%s&peer_id=ABCDEFGHIJKLMNOPQRST&port=1"
             "&event=stopped", ih);
    assert_int_equal(parse(q, &a, &err), 0);
    assert_true(a.has_ip);
    assert_int_equal(a.addr.family, 6);
    assert_int_equal(a.addr.ip[0], 0xfd);
    assert_int_equal(a.addr.ip[15], 1);
    assert_int_equal(a.addr.port, 1);
    assert_int_equal(a.event, BL_TRK_EV_STOPPED);
    snprintf(q, sizeof q, "info_hash=%s&peer_id=ABCDEFGHIJKLMNOPQRST&port=1&ip=evil.example"
             "&event=started&numwant=99999999999", ih);
    assert_int_equal(parse(q, &a, &err), 0);
    assert_false(a.has_ip);
    assert_int_equal(a.event, BL_TRK_EV_STARTED);
    assert_int_equal(a.numwant, INT32_MAX);
}

static void test_announce_bad(void **state)
{
    (void)state;
    char ih[61], sh[58], lg[64];
    esc(ih, IH, 20);
    esc(sh, IH, 19);
    esc(lg, IH, 20);
    strcat(lg, "%00");
    static const struct {
        const char *fmt;
        const char *want;
    } cases[] = {
        {"peer_id=ABCDEFGHIJKLMNOPQRST&port=1", "missing info_hash"},
        {"info_hash=%s&port=1", "missing peer_id"},
        {"info_hash=%s&peer_id=ABCDEFGHIJKLMNOPQRST", "missing port"},
        {"info_hash=%s&peer_id=ABCDEFGHIJKLMNOPQRST&port=0", "port"},
        {"info_hash=%s&peer_id=ABCDEFGHIJKLMNOPQRST&port=65536", "port"},
        {"info_hash=%s&peer_id=ABCDEFGHIJKLMNOPQRST&port=-1", "port"},
        {"info_hash=%s&peer_id=ABCDEFGHIJKLMNOPQRST&port=", "port"},
        {"info_hash=%s&peer_id=ABCDEFGHIJKLMNOPQRST&port=1x", "port"},
        {"info_hash=%s&peer_id=ABCDEFGHIJKLMNOPQRST&port=1&left=99999999999999999999",
         "out of range"},
        {"info_hash=%s&peer_id=ABCDEFGHIJKLMNOPQRST&port=1&event=bogus", "unknown event"},
        {"info_hash=%s&peer_id=ABCDEFGHIJKLMNOPQRST&port=1&compact=2", "compact"},
        {"info_hash=%s&peer_id=ABCDEFGHIJKLMNOPQRS&port=1", "peer_id must be 20 bytes"},
        {"info_hash=%s&peer_id=ABCDEFGHIJKLMNOPQRST%%G0&port=1", "bad %-escape"},
        {"info_hash=%s&peer_id=ABCDEFGHIJKLMNOPQRS%%4&port=1", "bad %-escape"},
        {"info_hash=%s&info_hash=x&peer_id=ABCDEFGHIJKLMNOPQRST&port=1", "twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char q[512];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(q, sizeof q, cases[i].fmt, ih);
#pragma GCC diagnostic pop
        bl_trk_announce a;
        bl_err err = {0};
        assert_int_equal(parse(q, &a, &err), -1);
        if (!strstr(err.msg, cases[i].want))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].want);
    }
    /* Short and long info_hash. */
    char q[512];
    bl_trk_announce a;
    bl_err err = {0};
    snprintf(q, sizeof q, "info_hash=%s&peer_id=ABCDEFGHIJKLMNOPQRST&port=1", sh);
    assert_int_equal(parse(q, &a, &err), -1);
    assert_non_null(strstr(err.msg, "info_hash must be 20 bytes"));
    snprintf(q, sizeof q, "info_hash=%s&peer_id=ABCDEFGHIJKLMNOPQRST&port=1", lg);
    assert_int_equal(parse(q, &a, &err), -1);
    assert_non_null(strstr(err.msg, "info_hash must be 20 bytes"));
    /* Oversize query and too many parameters. */
    size_t big = BL_TRK_QUERY_MAX + 1;
    char *huge = malloc(big + 1);
    memset(huge, 'a', big);
    huge[big] = 0;
    assert_int_equal(parse(huge, &a, &err), -1);
    assert_non_null(strstr(err.msg, "too long"));
    strcpy(huge, "");
    for (int i = 0; i < BL_TRK_QUERY_PARAMS + 1; i++)
        strcat(huge, "x=1&");
    assert_int_equal(parse(huge, &a, &err), -1);
    assert_non_null(strstr(err.msg, "too many"));
    free(huge);
}

static void test_announce_passkey(void **state)
{
    (void)state;
    char q[600], ih[61];
    esc(ih, IH, 20);
    bl_trk_announce a;
    bl_err err = {0};
    snprintf(q, sizeof q, "info_hash=%s&peer_id=-qB4250-abcdefghijkl&port=6881&passkey=%s", ih,
             "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    assert_int_equal(parse(q, &a, &err), 0);
    assert_string_equal(a.passkey, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    snprintf(q, sizeof q, "info_hash=%s&peer_id=-qB4250-abcdefghijkl&port=6881", ih);
    assert_int_equal(parse(q, &a, &err), 0);
    assert_string_equal(a.passkey, "");
    snprintf(q, sizeof q, "info_hash=%s&peer_id=-qB4250-abcdefghijkl&port=6881&passkey=%s0", ih,
             "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    assert_int_equal(parse(q, &a, &err), -1);
    assert_non_null(strstr(err.msg, "passkey"));
}

static void test_url_decode(void **state)
{
    (void)state;
    uint8_t out[8];
    assert_int_equal(bl_trk_url_decode("a+b%41%7a", 9, out, sizeof out), 5);
    assert_memory_equal(out, "a bAz", 5);
    assert_int_equal(bl_trk_url_decode("%", 1, out, sizeof out), -1);
    assert_int_equal(bl_trk_url_decode("%4", 2, out, sizeof out), -1);
    assert_int_equal(bl_trk_url_decode("%zz", 3, out, sizeof out), -1);
    assert_int_equal(bl_trk_url_decode("123456789", 9, out, sizeof out), -2);
    assert_int_equal(bl_trk_url_decode("", 0, out, sizeof out), 0);
}

static void test_scrape_query(void **state)
{
    (void)state;
    char q[512], ih[61];
    esc(ih, IH, 20);
    snprintf(q, sizeof q, "info_hash=%s&foo=bar&info_hash=BBBBBBBBBBBBBBBBBBBB", ih);
    uint8_t hs[4][20];
    size_t n;
    bl_err err = {0};
    assert_int_equal(bl_trk_http_parse_scrape(q, strlen(q), hs, 4, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(hs[0], IH, 20);
    assert_memory_equal(hs[1], "BBBBBBBBBBBBBBBBBBBB", 20);
    assert_int_equal(bl_trk_http_parse_scrape(q, strlen(q), hs, 1, &n, &err), -1);
    assert_non_null(strstr(err.msg, "too many"));
    assert_int_equal(bl_trk_http_parse_scrape("", 0, hs, 4, &n, &err), -1);
    assert_int_equal(bl_trk_http_parse_scrape("info_hash=abc", 13, hs, 4, &n, &err), -1);
}

static bl_bdoc decode_ok(const bl_buf *b)
{
    bl_bdoc d;
    bl_err err = {0};
    assert_false(b->oom);
    if (bl_bdecode(&d, b->data, b->len, NULL, &err))
        fail_msg("reply is not canonical bencode: %s", err.msg);
    return d;
}

static int64_t get_int(const bl_bdoc *d, const bl_bnode *dict, const char *k)
{
    const bl_bnode *n = bl_bdict_get_type(d, dict, k, BL_BINT);
    assert_non_null(n);
    return n->ival;
}

static void peers_fixture(bl_trk_peer_out *p)
{
    memset(p, 0, 3 * sizeof *p);
    memcpy(p[0].peer_id, "PEER0_______________", 20);
    p[0].addr.family = 4;
    memcpy(p[0].addr.ip, "\x7f\x00\x00\x01", 4);
    p[0].addr.port = 0x1ae1;
    memcpy(p[1].peer_id, "PEER1_______________", 20);
    p[1].addr.family = 6;
    p[1].addr.ip[0] = 0xfd;
    p[1].addr.ip[15] = 2;
    p[1].addr.port = 80;
    memcpy(p[2].peer_id, "PEER2_______________", 20);
    p[2].addr.family = 4;
    memcpy(p[2].addr.ip, "\x0a\x00\x00\x02", 4);
    p[2].addr.port = 65535;
}

static void test_reply_compact(void **state)
{
    (void)state;
    bl_trk_peer_out p[3];
    peers_fixture(p);
    bl_trk_counts c = {.complete = 3, .incomplete = 4, .downloaded = 5};
    bl_buf b;
    bl_buf_init(&b);
    bl_trk_http_reply_announce(&b, &c, 1800, 900, p, 3, true, false);
    bl_bdoc d = decode_ok(&b);
    const bl_bnode *r = bl_broot(&d);
    assert_int_equal(get_int(&d, r, "complete"), 3);
    assert_int_equal(get_int(&d, r, "incomplete"), 4);
    assert_int_equal(get_int(&d, r, "interval"), 1800);
    assert_int_equal(get_int(&d, r, "min interval"), 900);
    const bl_bnode *p4 = bl_bdict_get_type(&d, r, "peers", BL_BSTR);
    assert_non_null(p4);
    assert_int_equal(p4->slen, 12);
    assert_memory_equal(p4->str, "\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\xff\xff", 12);
    const bl_bnode *p6 = bl_bdict_get_type(&d, r, "peers6", BL_BSTR);
    assert_non_null(p6);
    assert_int_equal(p6->slen, 18);
    assert_int_equal(p6->str[0], 0xfd);
    assert_int_equal(p6->str[17], 80);
    bl_bdoc_free(&d);

    /* No IPv6 peers: no peers6 key; no peers at all: empty string. */
    bl_buf_reset(&b);
    bl_trk_http_reply_announce(&b, &c, 60, 30, p, 0, true, false);
    d = decode_ok(&b);
    r = bl_broot(&d);
    assert_null(bl_bdict_get(&d, r, "peers6"));
    assert_int_equal(bl_bdict_get_type(&d, r, "peers", BL_BSTR)->slen, 0);
    bl_bdoc_free(&d);
    bl_buf_free(&b);
}

static void test_reply_dict(void **state)
{
    (void)state;
    bl_trk_peer_out p[3];
    peers_fixture(p);
    bl_trk_counts c = {0};
    for (int with_id = 0; with_id < 2; with_id++) {
        bl_buf b;
        bl_buf_init(&b);
        bl_trk_http_reply_announce(&b, &c, 60, 30, p, 3, false, !with_id);
        bl_bdoc d = decode_ok(&b);
        const bl_bnode *l = bl_bdict_get_type(&d, bl_broot(&d), "peers", BL_BLIST);
        assert_non_null(l);
        assert_int_equal(l->count, 3);
        const bl_bnode *e = bl_bfirst(&d, l);
        assert_true(bl_bstr_eq(bl_bdict_get_type(&d, e, "ip", BL_BSTR), "127.0.0.1"));
        assert_int_equal(get_int(&d, e, "port"), 0x1ae1);
        const bl_bnode *id = bl_bdict_get(&d, e, "peer id");
        if (with_id)
            assert_memory_equal(id->str, "PEER0_______________", 20);
        else
            assert_null(id);
        e = bl_bnext(&d, l, e);
        assert_true(bl_bstr_eq(bl_bdict_get_type(&d, e, "ip", BL_BSTR), "fd00::2"));
        bl_bdoc_free(&d);
        bl_buf_free(&b);
    }
}

static void test_reply_failure_and_scrape(void **state)
{
    (void)state;
    bl_buf b;
    bl_buf_init(&b);
    bl_trk_http_reply_failure(&b, "missing info_hash");
    assert_int_equal(b.len, strlen("d14:failure reason17:missing info_hashe"));
    assert_memory_equal(b.data, "d14:failure reason17:missing info_hashe", b.len);

    uint8_t hs[3][20];
    memset(hs[0], 'z', 20);
    memset(hs[1], 'a', 20);
    memset(hs[2], 'z', 20);
    bl_trk_counts cs[3] = {{1, 2, 3}, {4, 5, 6}, {1, 2, 3}};
    bl_buf_reset(&b);
    bl_trk_http_reply_scrape(&b, hs, cs, 3);
    bl_bdoc d = decode_ok(&b);   /* strict decoder: keys sorted, no duplicates */
    const bl_bnode *files = bl_bdict_get_type(&d, bl_broot(&d), "files", BL_BDICT);
    assert_non_null(files);
    assert_int_equal(files->count, 2);
    const bl_bnode *k = bl_bfirst(&d, files);
    assert_int_equal(k->str[0], 'a');
    const bl_bnode *v = bl_bnext(&d, files, k);
    assert_int_equal(get_int(&d, v, "complete"), 4);
    assert_int_equal(get_int(&d, v, "downloaded"), 6);
    assert_int_equal(get_int(&d, v, "incomplete"), 5);
    bl_bdoc_free(&d);
    bl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_announce_binary_and_defaults),
        cmocka_unit_test(test_announce_all_fields),
        cmocka_unit_test(test_announce_bad),
        cmocka_unit_test(test_announce_passkey),
        cmocka_unit_test(test_url_decode),
        cmocka_unit_test(test_scrape_query),
        cmocka_unit_test(test_reply_compact),
        cmocka_unit_test(test_reply_dict),
        cmocka_unit_test(test_reply_failure_and_scrape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
