/* Tests for the BEP 15 packet codec: every action round-trips through
 * encoder and decoder on both sides, byte layouts match the BEP, and short,
 * long, garbage and unknown-action packets are refused.  (Transaction id
 * matching is the client's job and is tested with the client.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "tracker/udp_wire.h"

static void test_connect(void **state)
{
    (void)state;
    uint8_t p[16];
    assert_int_equal(bl_udp_encode_connect_req(p, 0xdeadbeef), 16);
    assert_memory_equal(p, "\x00\x00\x04\x17\x27\x10\x19\x80\x00\x00\x00\x00\xde\xad\xbe\xef",
                        16);
    bl_udp_request r;
    bl_err err = {0};
    assert_int_equal(bl_udp_decode_request(p, 16, &r, &err), 0);
    assert_int_equal(r.action, BL_UDP_CONNECT);
    assert_int_equal(r.txid, 0xdeadbeef);
    p[0] = 1;  /* wrong magic */
    assert_int_equal(bl_udp_decode_request(p, 16, &r, &err), -1);
    assert_int_equal(bl_udp_decode_request(p, 15, &r, &err), -1);

    bl_udp_response s;
    assert_int_equal(bl_udp_encode_connect_resp(p, 7, 0x0102030405060708ull), 16);
    assert_int_equal(bl_udp_decode_response(p, 16, 4, &s, &err), 0);
    assert_int_equal(s.action, BL_UDP_CONNECT);
    assert_int_equal(s.txid, 7);
    assert_true(s.conn_id == 0x0102030405060708ull);
    assert_int_equal(bl_udp_decode_response(p, 15, 4, &s, &err), -1);
    assert_int_equal(bl_udp_decode_response(p, 7, 4, &s, &err), -1);
}

static void test_announce(void **state)
{
    (void)state;
    bl_trk_announce a = {0};
    memset(a.info_hash, 0xab, 20);
    memcpy(a.peer_id, "-BL0001-abcdefghijkl", 20);
    a.downloaded = 1;
    a.left = 0x1122334455667788ull;
    a.uploaded = 3;
    a.event = BL_TRK_EV_STARTED;
    a.key = 0xcafe;
    a.numwant = -1;
    a.addr.port = 6881;
    uint8_t p[BL_UDP_ANNOUNCE_REQ_MAX];
    assert_int_equal(bl_udp_encode_announce_req(p, 99, 5, &a), 98);
    assert_memory_equal(p + 84, "\0\0\0\0", 4);     /* no ip: zero */
    assert_memory_equal(p + 92, "\xff\xff\xff\xff", 4);
    assert_int_equal(p[96] << 8 | p[97], 6881);
    bl_udp_request r;
    bl_err err = {0};
    assert_int_equal(bl_udp_decode_request(p, 98, &r, &err), 0);
    assert_int_equal(r.action, BL_UDP_ANNOUNCE);
    assert_true(r.conn_id == 99);
    assert_int_equal(r.txid, 5);
    assert_memory_equal(r.ann.info_hash, a.info_hash, 20);
    assert_memory_equal(r.ann.peer_id, a.peer_id, 20);
    assert_true(r.ann.left == a.left);
    assert_int_equal(r.ann.downloaded, 1);
    assert_int_equal(r.ann.uploaded, 3);
    assert_int_equal(r.ann.event, BL_TRK_EV_STARTED);
    assert_int_equal(r.ann.key, 0xcafe);
    assert_int_equal(r.ann.numwant, -1);
    assert_int_equal(r.ann.addr.port, 6881);
    assert_false(r.ann.has_ip);
    /* With an IPv4 address; BEP 41 options after 98 bytes are ignored. */
    a.has_ip = true;
    a.addr.family = 4;
    memcpy(a.addr.ip, "\x0a\x00\x00\x07", 4);
    bl_udp_encode_announce_req(p, 99, 5, &a);
    p[98] = 2;
    p[99] = 3;
    assert_int_equal(bl_udp_decode_request(p, 100, &r, &err), 0);
    assert_true(r.ann.has_ip);
    assert_memory_equal(r.ann.addr.ip, "\x0a\x00\x00\x07", 4);
    /* Short, and an event out of range. */
    assert_int_equal(bl_udp_decode_request(p, 97, &r, &err), -1);
    p[83] = 4;
    assert_int_equal(bl_udp_decode_request(p, 98, &r, &err), -1);
    assert_non_null(strstr(err.msg, "event"));
}

/* A private swarm's passkey rides in BEP 41 URL data; other options,
 * padding and malformed lengths around it are survived. */
static void test_announce_passkey(void **state)
{
    (void)state;
    bl_trk_announce a;
    memset(&a, 0, sizeof a);
    memcpy(a.info_hash, "0123456789abcdefghij", 20);
    a.addr.port = 6881;
    snprintf(a.passkey, sizeof a.passkey, "%s",
             "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    uint8_t p[BL_UDP_ANNOUNCE_REQ_MAX + 64];
    size_t n = bl_udp_encode_announce_req(p, 99, 5, &a);
    assert_int_equal(n, 98 + 2 + 9 + 64 + 1);
    bl_udp_request r;
    bl_err err = {0};
    assert_int_equal(bl_udp_decode_request(p, n, &r, &err), 0);
    assert_string_equal(r.ann.passkey, a.passkey);
    /* a truncated option: no passkey, no error */
    assert_int_equal(bl_udp_decode_request(p, n - 20, &r, &err), 0);
    assert_string_equal(r.ann.passkey, "");
    /* split over two URL data options after a NOP, with a path first */
    static const char path[] = "/announce", q[] = "?x=1&passkey=abc";
    size_t k = 98;
    p[k++] = 0x1;
    p[k++] = 0x2;
    p[k++] = sizeof path - 1;
    memcpy(p + k, path, sizeof path - 1), k += sizeof path - 1;
    p[k++] = 0x2;
    p[k++] = sizeof q - 1;
    memcpy(p + k, q, sizeof q - 1), k += sizeof q - 1;
    p[k++] = 0x0;
    assert_int_equal(bl_udp_decode_request(p, k, &r, &err), 0);
    assert_string_equal(r.ann.passkey, "abc");
    /* "xpasskey=" is another parameter */
    static const char q2[] = "?xpasskey=abc";
    k = 98;
    p[k++] = 0x2;
    p[k++] = sizeof q2 - 1;
    memcpy(p + k, q2, sizeof q2 - 1), k += sizeof q2 - 1;
    assert_int_equal(bl_udp_decode_request(p, k, &r, &err), 0);
    assert_string_equal(r.ann.passkey, "");
    /* no passkey: 98 bytes as before */
    a.passkey[0] = 0;
    assert_int_equal(bl_udp_encode_announce_req(p, 99, 5, &a), 98);
}

static void test_announce_response(void **state)
{
    (void)state;
    bl_trk_peer_out peers[3] = {0};
    peers[0].addr.family = 4;
    memcpy(peers[0].addr.ip, "\x01\x02\x03\x04", 4);
    peers[0].addr.port = 0x1234;
    peers[1].addr.family = 6;
    peers[1].addr.ip[0] = 0x20;
    peers[1].addr.port = 1;
    peers[2].addr.family = 4;
    memcpy(peers[2].addr.ip, "\x05\x06\x07\x08", 4);
    peers[2].addr.port = 2;
    bl_trk_counts c = {.complete = 10, .incomplete = 20};
    uint8_t p[BL_UDP_PACKET_MAX];
    bl_err err = {0};
    bl_udp_response s;

    size_t n = bl_udp_encode_announce_resp(p, sizeof p, 77, 1800, &c, peers, 3, 4);
    assert_int_equal(n, 20 + 2 * 6);
    assert_int_equal(bl_udp_decode_response(p, n, 4, &s, &err), 0);
    assert_int_equal(s.action, BL_UDP_ANNOUNCE);
    assert_int_equal(s.txid, 77);
    assert_int_equal(s.interval, 1800);
    assert_int_equal(s.leechers, 20);
    assert_int_equal(s.seeders, 10);
    assert_int_equal(s.npeers, 2);
    bl_trk_addr a;
    bl_trk_addr_from_compact(&a, s.peers + 6, 4);
    assert_true(bl_trk_addr_eq(&a, &peers[2].addr));

    n = bl_udp_encode_announce_resp(p, sizeof p, 77, 1800, &c, peers, 3, 6);
    assert_int_equal(n, 20 + 18);
    assert_int_equal(bl_udp_decode_response(p, n, 6, &s, &err), 0);
    assert_int_equal(s.npeers, 1);
    bl_trk_addr_from_compact(&a, s.peers, 6);
    assert_true(bl_trk_addr_eq(&a, &peers[1].addr));
    /* Two IPv4 entries (12 bytes) read as IPv6 entries do not divide. */
    n = bl_udp_encode_announce_resp(p, sizeof p, 77, 1800, &c, peers, 3, 4);
    assert_int_equal(bl_udp_decode_response(p, n, 6, &s, &err), -1);
    assert_int_equal(bl_udp_decode_response(p, 19, 4, &s, &err), -1);
    /* A small cap drops peers that do not fit, never overruns. */
    n = bl_udp_encode_announce_resp(p, 27, 1, 1, &c, peers, 3, 4);
    assert_int_equal(n, 26);
}

static void test_scrape(void **state)
{
    (void)state;
    uint8_t hs[2][20];
    memset(hs[0], 1, 20);
    memset(hs[1], 2, 20);
    uint8_t p[16 + 20 * (BL_UDP_SCRAPE_MAX + 1)];
    assert_int_equal(bl_udp_encode_scrape_req(p, 5, 6, (const uint8_t(*)[20])hs, 2), 56);
    bl_udp_request r;
    bl_err err = {0};
    assert_int_equal(bl_udp_decode_request(p, 56, &r, &err), 0);
    assert_int_equal(r.action, BL_UDP_SCRAPE);
    assert_int_equal(r.nhashes, 2);
    assert_memory_equal(r.hashes + 20, hs[1], 20);
    assert_int_equal(bl_udp_decode_request(p, 55, &r, &err), -1);
    assert_int_equal(bl_udp_decode_request(p, 16, &r, &err), -1);
    memset(p + 16, 0, 20 * (BL_UDP_SCRAPE_MAX + 1));
    assert_int_equal(bl_udp_decode_request(p, sizeof p, &r, &err), -1);
    assert_int_equal(bl_udp_encode_scrape_req(p, 5, 6, (const uint8_t(*)[20])hs, 0), 0);

    bl_trk_counts cs[2] = {{1, 2, 3}, {4, 5, 6}};
    uint8_t q[64];
    size_t n = bl_udp_encode_scrape_resp(q, sizeof q, 9, cs, 2);
    assert_int_equal(n, 32);
    bl_udp_response s;
    assert_int_equal(bl_udp_decode_response(q, n, 4, &s, &err), 0);
    assert_int_equal(s.nscrape, 2);
    bl_trk_counts c;
    bl_udp_scrape_entry(&s, 1, &c);
    assert_int_equal(c.complete, 4);
    assert_int_equal(c.incomplete, 5);
    assert_int_equal(c.downloaded, 6);
    assert_int_equal(bl_udp_decode_response(q, n - 1, 4, &s, &err), -1);
}

static void test_error_and_garbage(void **state)
{
    (void)state;
    uint8_t p[64];
    size_t n = bl_udp_encode_error(p, sizeof p, 3, "connection id expired");
    bl_udp_response s;
    bl_err err = {0};
    assert_int_equal(bl_udp_decode_response(p, n, 4, &s, &err), 0);
    assert_int_equal(s.action, BL_UDP_ERROR);
    assert_int_equal(s.msglen, strlen("connection id expired"));
    assert_memory_equal(s.msg, "connection id expired", s.msglen);
    assert_int_equal(bl_udp_encode_error(p, 12, 3, "long message"), 12);

    /* Unknown actions, both directions; all-zero and all-ones packets. */
    memset(p, 0, sizeof p);
    p[3] = 9;
    assert_int_equal(bl_udp_decode_response(p, 32, 4, &s, &err), -1);
    bl_udp_request r;
    p[11] = 9;
    assert_int_equal(bl_udp_decode_request(p, 32, &r, &err), -1);
    memset(p, 0xff, sizeof p);
    assert_int_equal(bl_udp_decode_request(p, sizeof p, &r, &err), -1);
    assert_int_equal(bl_udp_decode_response(p, sizeof p, 4, &s, &err), -1);
    for (size_t len = 0; len < 8; len++) {
        assert_int_equal(bl_udp_decode_request(p, len, &r, &err), -1);
        assert_int_equal(bl_udp_decode_response(p, len, 4, &s, &err), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect),
        cmocka_unit_test(test_announce),
        cmocka_unit_test(test_announce_passkey),
        cmocka_unit_test(test_announce_response),
        cmocka_unit_test(test_scrape),
        cmocka_unit_test(test_error_and_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
