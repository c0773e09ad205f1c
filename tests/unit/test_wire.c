/* Tests for the peer wire codec: handshake, every message round trip,
 * every split point, each malformed case, BEP 10 extension handshake and
 * BEP 11 PEX. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <string.h>

#include "core/bencode.h"
#include "swarm/wire.h"

/* 10 pieces of 64 KiB, the last one 20000 bytes; bitfield is 2 bytes. */
static const bl_wire_geometry G = {.num_pieces = 10, .piece_length = 65536, .last_piece_length = 20000};

static uint8_t IH[20], PID[20];

static int setup_ids(void **state)
{
    for (int i = 0; i < 20; i++) {
        IH[i] = (uint8_t)(0xA0 + i);
        PID[i] = (uint8_t)(0x30 + i);
    }
    return 0;
}

/* ---- handshake ---- */

static void test_handshake_roundtrip(void **state)
{
    unsigned combos[] = {0, BL_WIRE_CAP_EXTENSION, BL_WIRE_CAP_FAST,
                         BL_WIRE_CAP_EXTENSION | BL_WIRE_CAP_FAST | BL_WIRE_CAP_DHT};
    for (size_t c = 0; c < 4; c++) {
        bl_buf b;
        bl_buf_init(&b);
        bl_wire_handshake_encode(&b, IH, PID, combos[c]);
        assert_int_equal(b.len, BL_WIRE_HANDSHAKE_LEN);
        assert_int_equal(b.data[0], 19);
        assert_memory_equal(b.data + 1, "BitTorrent protocol", 19);
        bl_handshake hs;
        bl_err err = {0};
        assert_int_equal(bl_wire_handshake_decode(b.data, b.len, &hs, &err), BL_WIRE_HANDSHAKE_LEN);
        assert_int_equal(hs.caps, combos[c]);
        assert_memory_equal(hs.info_hash, IH, 20);
        assert_memory_equal(hs.peer_id, PID, 20);
        bl_buf_free(&b);
    }
    /* The exact bits of BEP 10 and BEP 6. */
    bl_buf b;
    bl_buf_init(&b);
    bl_wire_handshake_encode(&b, IH, PID, BL_WIRE_CAP_EXTENSION | BL_WIRE_CAP_FAST);
    const uint8_t want[8] = {0, 0, 0, 0, 0, 0x10, 0, 0x04};
    assert_memory_equal(b.data + 20, want, 8);
    bl_buf_free(&b);
}

static void test_handshake_splits(void **state)
{
    bl_buf b;
    bl_buf_init(&b);
    bl_wire_handshake_encode(&b, IH, PID, BL_WIRE_CAP_FAST);
    bl_wire_put_simple(&b, BL_MSG_HAVE_ALL);   /* what follows is not part of it */
    bl_handshake hs;
    bl_err err = {0};
    for (size_t k = 0; k < BL_WIRE_HANDSHAKE_LEN; k++)
        assert_int_equal(bl_wire_handshake_decode(b.data, k, &hs, &err), 0);
    assert_int_equal(bl_wire_handshake_decode(b.data, b.len, &hs, &err), BL_WIRE_HANDSHAKE_LEN);
    assert_int_equal(hs.caps, BL_WIRE_CAP_FAST);
    bl_buf_free(&b);
}

static void test_handshake_garbage(void **state)
{
    bl_handshake hs;
    bl_err err = {0};
    const char *http = "GET /announce HTTP/1.1\r\n";
    assert_int_equal(bl_wire_handshake_decode((const uint8_t *)http, 1, &hs, &err), -1);
    assert_non_null(strstr(err.msg, "expected 19"));
    uint8_t bad[BL_WIRE_HANDSHAKE_LEN] = {19};
    memcpy(bad + 1, "BitTorrent protocoX", 19);
    assert_int_equal(bl_wire_handshake_decode(bad, 19, &hs, &err), 0);   /* prefix still fine */
    assert_int_equal(bl_wire_handshake_decode(bad, 20, &hs, &err), -1);
    assert_non_null(strstr(err.msg, "protocol name"));
    memcpy(bad + 1, "bittorrent protocol", 19);                         /* case matters */
    assert_int_equal(bl_wire_handshake_decode(bad, 2, &hs, &err), -1);
    assert_int_equal(bl_wire_handshake_decode(bad, sizeof bad, &hs, &err), -1);
}

static void test_peer_id(void **state)
{
    uint8_t a[20], b[20];
    assert_int_equal(bl_wire_peer_id(a, NULL), 0);
    assert_int_equal(bl_wire_peer_id(b, NULL), 0);
    assert_memory_equal(a, "-BL0100-", 8);
    assert_memory_equal(b, "-BL0100-", 8);
    assert_memory_not_equal(a + 8, b + 8, 12);
}

/* ---- messages ---- */

static uint8_t BLOCK[BL_WIRE_BLOCK];
static const uint8_t BITS[2] = {0xFF, 0xC0};   /* all 10 pieces */
static const uint8_t EXTP[] = "d1:md6:ut_pexi1eee";

static size_t sample_messages(bl_msg *m)
{
    size_t n = 0;
    m[n++] = (bl_msg){.type = BL_MSG_KEEPALIVE};
    m[n++] = (bl_msg){.type = BL_MSG_CHOKE};
    m[n++] = (bl_msg){.type = BL_MSG_UNCHOKE};
    m[n++] = (bl_msg){.type = BL_MSG_INTERESTED};
    m[n++] = (bl_msg){.type = BL_MSG_NOT_INTERESTED};
    m[n++] = (bl_msg){.type = BL_MSG_HAVE, .index = 9};
    m[n++] = (bl_msg){.type = BL_MSG_BITFIELD, .data = BITS, .data_len = 2};
    m[n++] = (bl_msg){.type = BL_MSG_REQUEST, .index = 3, .begin = 16384, .length = 16384};
    m[n++] = (bl_msg){.type = BL_MSG_PIECE, .index = 3, .begin = 49152, .data = BLOCK,
                      .data_len = sizeof BLOCK, .length = sizeof BLOCK};
    m[n++] = (bl_msg){.type = BL_MSG_PIECE, .index = 9, .begin = 16384, .data = BLOCK,
                      .data_len = 20000 - 16384, .length = 20000 - 16384};
    m[n++] = (bl_msg){.type = BL_MSG_CANCEL, .index = 9, .begin = 0, .length = 20000};
    m[n++] = (bl_msg){.type = BL_MSG_PORT, .port = 6881};
    m[n++] = (bl_msg){.type = BL_MSG_SUGGEST, .index = 0};
    m[n++] = (bl_msg){.type = BL_MSG_HAVE_ALL};
    m[n++] = (bl_msg){.type = BL_MSG_HAVE_NONE};
    m[n++] = (bl_msg){.type = BL_MSG_REJECT, .index = 1, .begin = 65536 - 100, .length = 100};
    m[n++] = (bl_msg){.type = BL_MSG_ALLOWED_FAST, .index = 5};
    m[n++] = (bl_msg){.type = BL_MSG_EXTENDED, .ext_id = 0, .data = EXTP, .data_len = sizeof EXTP - 1};
    m[n++] = (bl_msg){.type = BL_MSG_EXTENDED, .ext_id = 3, .data = NULL, .data_len = 0};
    m[n++] = (bl_msg){.type = BL_MSG_UNKNOWN, .raw_id = 21, .data = BLOCK, .data_len = 40};
    for (size_t i = 0; i < n; i++)
        if (m[i].type != BL_MSG_KEEPALIVE && m[i].type != BL_MSG_UNKNOWN)
            m[i].raw_id = (uint8_t)m[i].type;
    return n;
}

static void assert_msg_equal(const bl_msg *a, const bl_msg *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->raw_id, b->raw_id);
    assert_int_equal(a->index, b->index);
    assert_int_equal(a->begin, b->begin);
    assert_int_equal(a->length, b->length);
    assert_int_equal(a->port, b->port);
    assert_int_equal(a->ext_id, b->ext_id);
    assert_int_equal(a->data_len, b->data_len);
    if (a->data_len)
        assert_memory_equal(a->data, b->data, a->data_len);
}

static void test_roundtrip_all(void **state)
{
    for (size_t i = 0; i < sizeof BLOCK; i++)
        BLOCK[i] = (uint8_t)(i * 7);
    bl_msg m[32];
    size_t n = sample_messages(m);
    bl_buf b;
    bl_buf_init(&b);
    for (size_t i = 0; i < n; i++)
        bl_wire_encode(&b, &m[i]);
    assert_false(b.oom);
    size_t off = 0;
    bl_err err = {0};
    for (size_t i = 0; i < n; i++) {
        bl_msg got;
        size_t used = 0;
        int rc = bl_wire_decode(b.data + off, b.len - off, &G, NULL, &got, &used, &err);
        if (rc != BL_WIRE_MESSAGE)
            fail_msg("message %zu (%s): rc %d: %s", i, bl_msg_type_name(m[i].type), rc, err.msg);
        assert_msg_equal(&m[i], &got);
        /* Piece blocks point into the caller's buffer, not a copy. */
        if (got.type == BL_MSG_PIECE)
            assert_ptr_equal(got.data, b.data + off + 13);
        off += used;
    }
    assert_int_equal(off, b.len);
    bl_buf_free(&b);
}

static void test_exact_bytes(void **state)
{
    bl_buf b;
    bl_buf_init(&b);
    bl_wire_put_index(&b, BL_MSG_HAVE, 7);
    bl_wire_put_request(&b, BL_MSG_REQUEST, 1, 0x4000, 0x4000);
    bl_wire_put_port(&b, 0x1AE1);
    bl_wire_put_keepalive(&b);
    bl_wire_put_piece_header(&b, 2, 0, 16384);
    const uint8_t want[] = {0, 0, 0, 5, 4, 0, 0, 0, 7,
                            0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0,
                            0, 0, 0, 3, 9, 0x1A, 0xE1,
                            0, 0, 0, 0,
                            0, 0, 0x40, 9, 7, 0, 0, 0, 2, 0, 0, 0, 0};
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    bl_buf_free(&b);
}

/* Every prefix of every message is "need more", never an error, and the
 * needed total is announced once the length prefix is in. */
static void test_every_split(void **state)
{
    bl_msg m[32];
    size_t n = sample_messages(m);
    for (size_t i = 0; i < n; i++) {
        bl_buf b;
        bl_buf_init(&b);
        bl_wire_encode(&b, &m[i]);
        for (size_t k = 0; k < b.len; k++) {
            bl_msg got;
            size_t used = 0;
            bl_err err = {0};
            int rc = bl_wire_decode(b.data, k, &G, NULL, &got, &used, &err);
            if (rc != BL_WIRE_NEED_MORE)
                fail_msg("%s cut at %zu of %zu: rc %d %s", bl_msg_type_name(m[i].type), k, b.len, rc,
                         err.msg);
            assert_int_equal(used, k < 4 ? 4 : b.len);
        }
        bl_buf_free(&b);
    }
}

/* Decode raw bytes and expect an error whose message contains needle. */
static void expect_error_g(const bl_wire_geometry *g, const bl_wire_limits *lim, const uint8_t *p,
                           size_t len, const char *needle)
{
    bl_msg got;
    size_t used;
    bl_err err = {0};
    int rc = bl_wire_decode(p, len, g, lim, &got, &used, &err);
    if (rc != BL_WIRE_ERROR)
        fail_msg("expected error '%s', got rc %d", needle, rc);
    if (!strstr(err.msg, needle))
        fail_msg("error '%s' lacks '%s'", err.msg, needle);
}

static void expect_error(const bl_buf *b, const char *needle)
{
    expect_error_g(&G, NULL, b->data, b->len, needle);
}

static void test_oversize_prefix(void **state)
{
    const uint8_t huge[4] = {0xFF, 0xFF, 0xFF, 0xFF};
    expect_error_g(&G, NULL, huge, 4, "exceeds the largest");   /* refused before any payload */
    const uint8_t justover[5] = {0x00, 0x10, 0x00, 0x03, 20};   /* id + ext id + 1 MiB + 1 */
    expect_error_g(&G, NULL, justover, 4, "exceeds the largest");
    /* A piece one byte over the block limit, refused at the 5th byte. */
    uint8_t piece_hdr[5] = {0, 0, 0x40, 10, BL_MSG_PIECE};
    expect_error_g(&G, NULL, piece_hdr, 5, "exceeds the limit");
    /* A bitfield longer than the torrent's. */
    uint8_t bf_hdr[5] = {0, 0, 0, 4, BL_MSG_BITFIELD};
    expect_error_g(&G, NULL, bf_hdr, 5, "exceeds the limit");
    /* An unknown id beyond the extended limit. */
    uint8_t unk[5] = {0, 0x10, 0, 3, 99};
    expect_error_g(&G, NULL, unk, 4, "exceeds");
    /* Exactly the extended limit is fine: waits for more. */
    uint8_t ext[5] = {0, 0x10, 0, 2, BL_MSG_EXTENDED};
    bl_msg got;
    size_t used;
    assert_int_equal(bl_wire_decode(ext, 5, &G, NULL, &got, &used, NULL), BL_WIRE_NEED_MORE);
    assert_int_equal(used, 4 + 0x100002);
}

static void test_wrong_fixed_lengths(void **state)
{
    struct {
        uint8_t id;
        uint32_t good;
    } fixed[] = {{BL_MSG_CHOKE, 1},  {BL_MSG_UNCHOKE, 1},   {BL_MSG_INTERESTED, 1}, {BL_MSG_NOT_INTERESTED, 1},
                 {BL_MSG_HAVE, 5},   {BL_MSG_REQUEST, 13},  {BL_MSG_CANCEL, 13},    {BL_MSG_PORT, 3},
                 {BL_MSG_SUGGEST, 5}, {BL_MSG_HAVE_ALL, 1}, {BL_MSG_HAVE_NONE, 1},  {BL_MSG_REJECT, 13},
                 {BL_MSG_ALLOWED_FAST, 5}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        uint32_t bad[] = {fixed[i].good - 1, fixed[i].good + 1};
        for (int j = 0; j < 2; j++) {
            if (bad[j] == 0)
                continue;   /* that is a keep-alive */
            uint8_t p[32] = {0};
            p[3] = (uint8_t)bad[j];
            p[4] = fixed[i].id;
            expect_error_g(&G, NULL, p, 5, "must be");   /* before the payload arrives */
        }
    }
}

static void test_index_and_span(void **state)
{
    bl_buf b;
    bl_buf_init(&b);
    enum bl_msg_type idx_types[] = {BL_MSG_HAVE, BL_MSG_SUGGEST, BL_MSG_ALLOWED_FAST};
    for (size_t i = 0; i < 3; i++) {
        bl_buf_reset(&b);
        bl_wire_put_index(&b, idx_types[i], 10);
        expect_error(&b, "out of range");
        bl_buf_reset(&b);
        bl_wire_put_index(&b, idx_types[i], UINT32_MAX);
        expect_error(&b, "out of range");
    }
    enum bl_msg_type req_types[] = {BL_MSG_REQUEST, BL_MSG_CANCEL, BL_MSG_REJECT};
    for (size_t i = 0; i < 3; i++) {
        bl_buf_reset(&b);
        bl_wire_put_request(&b, req_types[i], 10, 0, 16384);
        expect_error(&b, "out of range");
        bl_buf_reset(&b);
        bl_wire_put_request(&b, req_types[i], 0, 0, 0);
        expect_error(&b, "zero length");
        bl_buf_reset(&b);
        bl_wire_put_request(&b, req_types[i], 0, 65536 - 16383, 16384);   /* one byte past */
        expect_error(&b, "past the piece end");
        bl_buf_reset(&b);
        bl_wire_put_request(&b, req_types[i], 9, 16384, 16384);           /* short last piece */
        expect_error(&b, "past the piece end");
        bl_buf_reset(&b);
        bl_wire_put_request(&b, req_types[i], 0, UINT32_MAX, 16384);      /* 32-bit wrap */
        expect_error(&b, "past the piece end");
        bl_buf_reset(&b);
        bl_wire_put_request(&b, req_types[i], 0, 0, 65536);               /* a whole piece: fine */
        bl_msg got;
        size_t used;
        assert_int_equal(bl_wire_decode(b.data, b.len, &G, NULL, &got, &used, NULL), BL_WIRE_MESSAGE);
    }
    /* Requests above 128 KiB are refused even when the piece is larger. */
    bl_wire_geometry big = {.num_pieces = 2, .piece_length = 1u << 20, .last_piece_length = 1u << 20};
    bl_buf_reset(&b);
    bl_wire_put_request(&b, BL_MSG_REQUEST, 0, 0, 128 * 1024 + 1);
    expect_error_g(&big, NULL, b.data, b.len, "above the limit");
    bl_buf_reset(&b);
    bl_wire_put_request(&b, BL_MSG_REQUEST, 0, 0, 128 * 1024);
    bl_msg got;
    size_t used;
    assert_int_equal(bl_wire_decode(b.data, b.len, &big, NULL, &got, &used, NULL), BL_WIRE_MESSAGE);

    /* Piece blocks: range, span, emptiness. */
    bl_buf_reset(&b);
    bl_wire_put_piece(&b, 10, 0, BLOCK, 16);
    expect_error(&b, "out of range");
    bl_buf_reset(&b);
    bl_wire_put_piece(&b, 9, 20000 - 15, BLOCK, 16);
    expect_error(&b, "past the piece end");
    bl_buf_reset(&b);
    bl_wire_put_piece(&b, 9, 20000 - 16, BLOCK, 16);
    assert_int_equal(bl_wire_decode(b.data, b.len, &G, NULL, &got, &used, NULL), BL_WIRE_MESSAGE);
    bl_buf_reset(&b);
    bl_wire_put_piece(&b, 0, 0, BLOCK, 0);
    expect_error(&b, "no block");
    bl_buf_free(&b);
}

static void test_bitfield_checks(void **state)
{
    bl_buf b;
    bl_buf_init(&b);
    const uint8_t spare[2] = {0xFF, 0xE0};   /* bit for "piece 10" set */
    bl_wire_put_bitfield(&b, spare, 2);
    expect_error(&b, "spare bits");
    bl_buf_reset(&b);
    bl_wire_put_bitfield(&b, spare, 1);       /* too short */
    expect_error(&b, "expected 2");
    bl_buf_reset(&b);
    const uint8_t last[2] = {0x00, 0x40};     /* only piece 9 */
    bl_wire_put_bitfield(&b, last, 2);
    bl_msg got;
    size_t used;
    assert_int_equal(bl_wire_decode(b.data, b.len, &G, NULL, &got, &used, NULL), BL_WIRE_MESSAGE);
    bl_buf_free(&b);
}

static void test_extended_and_limits(void **state)
{
    const uint8_t noid[5] = {0, 0, 0, 1, BL_MSG_EXTENDED};
    expect_error_g(&G, NULL, noid, 5, "no extension id");
    /* Bigger blocks for cooperating bitlib peers, when the caller allows. */
    bl_wire_geometry g = {.num_pieces = 4, .piece_length = 1u << 18, .last_piece_length = 1u << 18};
    bl_wire_limits lim = bl_wire_limits_default;
    static uint8_t big[32768];
    bl_buf b;
    bl_buf_init(&b);
    bl_wire_put_piece(&b, 1, 0, big, sizeof big);
    expect_error_g(&g, NULL, b.data, b.len, "exceeds");
    lim.max_block = sizeof big;
    bl_msg got;
    size_t used;
    assert_int_equal(bl_wire_decode(b.data, b.len, &g, &lim, &got, &used, NULL), BL_WIRE_MESSAGE);
    assert_int_equal(got.data_len, sizeof big);
    /* A broken geometry is the caller's bug, reported, not trusted. */
    bl_wire_geometry bad = {.num_pieces = 1, .piece_length = 10, .last_piece_length = 11};
    expect_error_g(&bad, NULL, b.data, b.len, "last piece");
    bl_buf_free(&b);
}

/* ---- BEP 10 ---- */

static void test_ext_handshake_roundtrip(void **state)
{
    bl_ext_handshake hs;
    memset(&hs, 0, sizeof hs);
    assert_int_equal(bl_ext_handshake_set(&hs, "ut_pex", BL_EXT_LOCAL_UT_PEX), 0);
    assert_int_equal(bl_ext_handshake_set(&hs, "ut_metadata", BL_EXT_LOCAL_UT_METADATA), 0);
    assert_int_equal(bl_ext_handshake_set(&hs, "lt_donthave", 7), 0);
    assert_int_equal(bl_ext_handshake_set(&hs, "lt_donthave", 0), 0);   /* replace */
    assert_int_equal(hs.n_m, 3);
    hs.has_port = true;
    hs.port = 6881;
    strcpy(hs.client, "bitlib 0.1");
    hs.reqq = 2000;
    hs.yourip_len = 4;
    memcpy(hs.yourip, "\x0a\x00\x00\x07", 4);
    hs.has_ipv4 = true;
    memcpy(hs.ipv4, "\x0a\x00\x00\x01", 4);
    hs.has_ipv6 = true;
    memcpy(hs.ipv6, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
    hs.metadata_size = 31337;
    hs.upload_only = true;
    hs.bitlib_coop = true;

    bl_buf b;
    bl_buf_init(&b);
    bl_ext_handshake_encode(&b, &hs);
    /* Canonical bencode: the strict decoder accepts it whole. */
    bl_bdoc doc;
    bl_err err = {0};
    if (bl_bdecode(&doc, b.data, b.len, NULL, &err) != 0)
        fail_msg("not canonical: %s: %s", err.msg, (const char *)b.data);
    bl_bdoc_free(&doc);

    bl_ext_handshake got;
    assert_int_equal(bl_ext_handshake_decode(b.data, b.len, &got, &err), 0);
    assert_int_equal(got.n_m, 3);
    assert_int_equal(bl_ext_handshake_id(&got, "ut_pex"), BL_EXT_LOCAL_UT_PEX);
    assert_int_equal(bl_ext_handshake_id(&got, "ut_metadata"), BL_EXT_LOCAL_UT_METADATA);
    assert_int_equal(bl_ext_handshake_id(&got, "lt_donthave"), 0);
    assert_int_equal(bl_ext_handshake_id(&got, "nope"), 0);
    assert_true(got.has_port);
    assert_int_equal(got.port, 6881);
    assert_string_equal(got.client, "bitlib 0.1");
    assert_int_equal(got.reqq, 2000);
    assert_int_equal(got.yourip_len, 4);
    assert_memory_equal(got.yourip, hs.yourip, 4);
    assert_true(got.has_ipv4 && got.has_ipv6);
    assert_memory_equal(got.ipv6, hs.ipv6, 16);
    assert_int_equal(got.metadata_size, 31337);
    assert_true(got.upload_only);
    assert_true(got.bitlib_coop);
    bl_buf_free(&b);

    /* A minimal one has an (empty) m and nothing else. */
    memset(&hs, 0, sizeof hs);
    bl_buf_init(&b);
    bl_ext_handshake_encode(&b, &hs);
    assert_int_equal(b.len, strlen("d1:mdee"));
    assert_memory_equal(b.data, "d1:mdee", b.len);
    bl_buf_free(&b);
}

static void test_ext_handshake_decode_stock(void **state)
{
    /* Like libtorrent's: unknown keys (e, complete_ago), odd values ignored. */
    static const char s[] = "d12:complete_agoi-1e1:ei0e1:md11:lt_donthavei7e10:share_modei8e"
                    "11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1e"
                    "e13:metadata_sizei0e1:pi51413e4:reqqi500e1:v17:libtorrent 2.0.8 "
                    "6:yourip4:\x7f\x00\x00\x01" "e";
    bl_ext_handshake hs;
    bl_err err = {0};
    if (bl_ext_handshake_decode((const uint8_t *)s, sizeof s - 1, &hs, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(bl_ext_handshake_id(&hs, "ut_pex"), 1);
    assert_int_equal(bl_ext_handshake_id(&hs, "ut_holepunch"), 4);
    assert_int_equal(hs.port, 51413);
    assert_int_equal(hs.reqq, 500);
    assert_string_equal(hs.client, "libtorrent 2.0.8 ");
    assert_int_equal(hs.yourip_len, 4);
    assert_false(hs.bitlib_coop);
    assert_int_equal(hs.metadata_size, 0);

    /* Out-of-range values are ignored, not trusted. */
    const char *odd = "d11:bitlib_coopi2e1:md1:ai300e1:bi-1e1:ci5ee1:pi70000e4:reqqi-5e6:yourip3:abce";
    assert_int_equal(bl_ext_handshake_decode((const uint8_t *)odd, strlen(odd), &hs, &err), 0);
    assert_int_equal(hs.n_m, 1);
    assert_int_equal(bl_ext_handshake_id(&hs, "c"), 5);
    assert_false(hs.has_port);
    assert_int_equal(hs.reqq, 0);
    assert_int_equal(hs.yourip_len, 0);
    assert_false(hs.bitlib_coop);

    /* Not a dict, not bencode, unsorted keys: errors. */
    const char *bad[] = {"li1ee", "d1:m", "x", "", "d1:pi1e1:md" "ee"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(bl_ext_handshake_decode((const uint8_t *)bad[i], strlen(bad[i]), &hs, &err), -1);
    /* Too many names: the first BL_EXT_MAX_NAMES are kept. */
    bl_buf b;
    bl_buf_init(&b);
    bl_buf_puts(&b, "d1:md");
    for (int i = 0; i < 40; i++)
        bl_buf_printf(&b, "4:x%03di%de", i, i + 1);
    bl_buf_puts(&b, "ee");
    assert_int_equal(bl_ext_handshake_decode(b.data, b.len, &hs, &err), 0);
    assert_int_equal(hs.n_m, BL_EXT_MAX_NAMES);
    bl_buf_free(&b);
}

/* ---- BEP 11 ---- */

static bl_pex_peer v4(uint8_t last, uint16_t port, uint8_t flags)
{
    bl_pex_peer p = {.family = AF_INET, .flags = flags, .port = port};
    p.ip[0] = 10;
    p.ip[3] = last;
    return p;
}

static bl_pex_peer v6(uint8_t last, uint16_t port, uint8_t flags)
{
    bl_pex_peer p = {.family = AF_INET6, .flags = flags, .port = port};
    p.ip[0] = 0xfd;
    p.ip[15] = last;
    return p;
}

static void test_pex_roundtrip(void **state)
{
    static bl_pex pex, got;
    memset(&pex, 0, sizeof pex);
    pex.added[pex.n_added++] = v4(1, 6881, BL_PEX_F_SEED);
    pex.added[pex.n_added++] = v6(2, 6882, BL_PEX_F_REACHABLE);
    pex.added[pex.n_added++] = v4(3, 6883, 0);
    pex.dropped[pex.n_dropped++] = v6(9, 1, 0);
    pex.dropped[pex.n_dropped++] = v4(8, 2, 0);
    bl_buf b;
    bl_buf_init(&b);
    bl_err err = {0};
    assert_int_equal(bl_pex_encode(&b, &pex, &err), 0);
    bl_bdoc doc;
    if (bl_bdecode(&doc, b.data, b.len, NULL, &err) != 0)
        fail_msg("not canonical: %s", err.msg);
    bl_bdoc_free(&doc);
    assert_int_equal(bl_pex_decode(b.data, b.len, &got, &err), 0);
    /* Decoded order: IPv4 first, then IPv6. */
    assert_int_equal(got.n_added, 3);
    assert_int_equal(got.n_dropped, 2);
    const bl_pex_peer *want_added[] = {&pex.added[0], &pex.added[2], &pex.added[1]};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(got.added[i].family, want_added[i]->family);
        assert_int_equal(got.added[i].port, want_added[i]->port);
        assert_int_equal(got.added[i].flags, want_added[i]->flags);
        assert_memory_equal(got.added[i].ip, want_added[i]->ip, 16);
    }
    assert_int_equal(got.dropped[0].family, AF_INET);
    assert_int_equal(got.dropped[0].port, 2);
    assert_int_equal(got.dropped[1].family, AF_INET6);
    assert_int_equal(got.dropped[1].ip[15], 9);

    /* sockaddr conversions. */
    struct sockaddr_storage ss;
    socklen_t sl = bl_pex_peer_sockaddr(&got.added[0], &ss);
    assert_int_equal(sl, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 6881);
    bl_pex_peer back;
    assert_int_equal(bl_pex_peer_from_sockaddr(&back, (struct sockaddr *)&ss, 3), 0);
    assert_memory_equal(back.ip, got.added[0].ip, 4);
    assert_int_equal(back.flags, 3);
    sl = bl_pex_peer_sockaddr(&got.added[2], &ss);
    assert_int_equal(sl, sizeof(struct sockaddr_in6));
    struct sockaddr_storage un = {.ss_family = AF_UNIX};
    assert_int_equal(bl_pex_peer_from_sockaddr(&back, (struct sockaddr *)&un, 0), -1);
    bl_buf_free(&b);
}

static void test_pex_limits(void **state)
{
    static bl_pex pex, got;
    memset(&pex, 0, sizeof pex);
    for (int i = 0; i <= BL_PEX_MAX_SEND; i++)
        pex.added[pex.n_added++] = v4((uint8_t)i, 1000, 0);
    bl_buf b;
    bl_buf_init(&b);
    bl_err err = {0};
    assert_int_equal(bl_pex_encode(&b, &pex, &err), -1);   /* 51 */
    assert_int_equal(b.len, 0);
    pex.n_added = BL_PEX_MAX_SEND;
    assert_int_equal(bl_pex_encode(&b, &pex, &err), 0);
    assert_int_equal(bl_pex_decode(b.data, b.len, &got, &err), 0);
    assert_int_equal(got.n_added, BL_PEX_MAX_SEND);

    /* 101 contacts (v4 + v6) from a peer: refused. */
    bl_buf_reset(&b);
    bl_buf_printf(&b, "d5:added%d:", 60 * 6);
    for (int i = 0; i < 60 * 6; i++)
        bl_buf_putc(&b, 1);
    bl_buf_printf(&b, "6:added6%d:", 41 * 18);
    for (int i = 0; i < 41 * 18; i++)
        bl_buf_putc(&b, 2);
    bl_buf_puts(&b, "e");
    assert_int_equal(bl_pex_decode(b.data, b.len, &got, &err), -1);
    assert_non_null(strstr(err.msg, "more than"));
    assert_int_equal(got.n_added, 0);

    /* Lengths not a multiple of the contact size. */
    const char *bad7 = "d5:added7:1234567e";
    assert_int_equal(bl_pex_decode((const uint8_t *)bad7, strlen(bad7), &got, &err), -1);
    assert_non_null(strstr(err.msg, "multiple of 6"));
    const char *bad6 = "d8:dropped617:12345678901234567e";
    assert_int_equal(bl_pex_decode((const uint8_t *)bad6, strlen(bad6), &got, &err), -1);
    /* Flags of the wrong length are ignored. */
    const char *flags = "d5:added6:abcdef7:added.f2:\x02\x02" "e";
    assert_int_equal(bl_pex_decode((const uint8_t *)flags, strlen(flags), &got, &err), 0);
    assert_int_equal(got.n_added, 1);
    assert_int_equal(got.added[0].flags, 0);
    assert_int_equal(got.added[0].port, ('e' << 8) | 'f');
    /* Not a dict. */
    assert_int_equal(bl_pex_decode((const uint8_t *)"le", 2, &got, &err), -1);
    /* An empty dict is an empty message. */
    assert_int_equal(bl_pex_decode((const uint8_t *)"de", 2, &got, &err), 0);
    assert_int_equal(got.n_added + got.n_dropped, 0);
    bl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_roundtrip),
        cmocka_unit_test(test_handshake_splits),
        cmocka_unit_test(test_handshake_garbage),
        cmocka_unit_test(test_peer_id),
        cmocka_unit_test(test_roundtrip_all),
        cmocka_unit_test(test_exact_bytes),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_oversize_prefix),
        cmocka_unit_test(test_wrong_fixed_lengths),
        cmocka_unit_test(test_index_and_span),
        cmocka_unit_test(test_bitfield_checks),
        cmocka_unit_test(test_extended_and_limits),
        cmocka_unit_test(test_ext_handshake_roundtrip),
        cmocka_unit_test(test_ext_handshake_decode_stock),
        cmocka_unit_test(test_pex_roundtrip),
        cmocka_unit_test(test_pex_limits),
    };
    return cmocka_run_group_tests(tests, setup_ids, NULL);
}
