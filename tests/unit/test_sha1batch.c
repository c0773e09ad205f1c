/* Tests for batched SHA-1: every buffer is reported exactly once with the
 * digest bl_sha1 gives, whatever the length (lanes, the 64 KiB limit,
 * empty); buffers wait for full lanes or a flush; freeing with buffers
 * waiting reports nothing; a completion cannot re-enter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <string.h>

#include "core/sha1batch.h"

#define MAXBUF 200

typedef struct results {
    uint8_t md[MAXBUF][BL_SHA1_LEN];
    int times[MAXBUF];
    int calls;
    bl_sha1_batch *self; /* for the re-entry test */
    int reenter_rc;
} results;

static void record(void *arg, uint64_t tag, const uint8_t digest[BL_SHA1_LEN])
{
    results *r = arg;
    assert_true(tag < MAXBUF);
    memcpy(r->md[tag], digest, BL_SHA1_LEN);
    r->times[tag]++;
    r->calls++;
    if (r->self) {
        bl_err err = {0};
        r->reenter_rc = bl_sha1_batch_submit(r->self, "x", 1, 0, &err);
    }
}

static uint8_t *pattern(size_t len, unsigned seed)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
    return p;
}

/* n buffers of the given lengths through one batch, flushed at the end */
static void check_lengths(bool lanes, const size_t *lens, size_t n)
{
    results *r = calloc(1, sizeof *r);
    uint8_t **bufs = calloc(n, sizeof *bufs);
    assert_non_null(r);
    assert_non_null(bufs);
    bl_err err = {0};
    bl_sha1_batch *b = bl_sha1_batch_new(lanes, record, r, &err);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++) {
        bufs[i] = pattern(lens[i], (unsigned)i);
        assert_int_equal(bl_sha1_batch_submit(b, bufs[i], lens[i], i, &err), 0);
    }
    bl_sha1_batch_flush(b);
    assert_int_equal(bl_sha1_batch_waiting(b), 0);
    assert_int_equal(r->calls, (int)n);
    for (size_t i = 0; i < n; i++) {
        uint8_t want[BL_SHA1_LEN];
        bl_sha1(bufs[i], lens[i], want);
        assert_int_equal(r->times[i], 1);
        assert_memory_equal(r->md[i], want, BL_SHA1_LEN);
        free(bufs[i]);
    }
    bl_sha1_batch_free(b);
    free(bufs);
    free(r);
}

static void test_mixed_lengths(void **state)
{
    (void)state;
    /* SHA-1 padding edges (55/56/64), pieces, the library's limit and past it */
    static const size_t lens[] = {0,     1,     55,    56,    63,    64,     65,
                                  1000,  16384, 16384, 32768, 16383, 65535,  65536,
                                  16384, 300000, 16384, 16384, 16384, 16384, 12345};
    check_lengths(true, lens, sizeof lens / sizeof *lens);
    check_lengths(false, lens, sizeof lens / sizeof *lens);
}

static void test_many_pieces(void **state)
{
    (void)state;
    /* more buffers than lanes and than the batch's job slots, no flush
     * in between: full lanes are hashed as they fill */
    size_t lens[MAXBUF];
    for (size_t i = 0; i < MAXBUF; i++)
        lens[i] = i % 7 == 6 ? 5000 : 16384;
    check_lengths(true, lens, MAXBUF);
}

static void test_waits_for_lanes(void **state)
{
    (void)state;
    results *r = calloc(1, sizeof *r);
    bl_err err = {0};
    bl_sha1_batch *b = bl_sha1_batch_new(true, record, r, &err);
    assert_non_null(b);
    unsigned lanes = bl_sha1_batch_lanes(b);
    uint8_t *buf = pattern(16384, 7);
    if (lanes == 1) {
        /* no multi-buffer library or CPU: hashed at submit */
        assert_int_equal(bl_sha1_batch_submit(b, buf, 16384, 0, &err), 0);
        assert_int_equal(r->calls, 1);
    } else {
        for (unsigned i = 0; i + 1 < lanes; i++)
            assert_int_equal(bl_sha1_batch_submit(b, buf, 16384, i, &err), 0);
        assert_int_equal(r->calls, 0);
        assert_int_equal(bl_sha1_batch_waiting(b), lanes - 1);
        /* the buffer that fills the lanes hashes them all */
        assert_int_equal(bl_sha1_batch_submit(b, buf, 16384, lanes - 1, &err), 0);
        assert_int_equal(r->calls, (int)lanes);
        assert_int_equal(bl_sha1_batch_waiting(b), 0);
        /* a long buffer does not wait, and does not flush the others */
        assert_int_equal(bl_sha1_batch_submit(b, buf, 100, 100, &err), 0);
        uint8_t *big = pattern(100000, 8);
        assert_int_equal(bl_sha1_batch_submit(b, big, 100000, 101, &err), 0);
        assert_int_equal(r->times[101], 1);
        assert_int_equal(r->times[100], 0);
        bl_sha1_batch_flush(b);
        assert_int_equal(r->times[100], 1);
        free(big);
    }
    bl_sha1_batch_free(b);
    free(buf);
    free(r);
}

static void test_free_with_waiting(void **state)
{
    (void)state;
    results *r = calloc(1, sizeof *r);
    bl_err err = {0};
    bl_sha1_batch *b = bl_sha1_batch_new(true, record, r, &err);
    uint8_t *buf = pattern(16384, 9);
    assert_int_equal(bl_sha1_batch_submit(b, buf, 16384, 3, &err), 0);
    int before = r->calls;
    bl_sha1_batch_free(b); /* no report, no leak (ASan) */
    assert_int_equal(r->calls, before);
    free(buf);
    free(r);
}

static void test_no_reentry(void **state)
{
    (void)state;
    results *r = calloc(1, sizeof *r);
    bl_err err = {0};
    bl_sha1_batch *b = bl_sha1_batch_new(true, record, r, &err);
    r->self = b;
    assert_int_equal(bl_sha1_batch_submit(b, "abc", 3, 1, &err), 0);
    bl_sha1_batch_flush(b);
    assert_int_equal(r->times[1], 1);
    assert_int_equal(r->reenter_rc, -1);
    assert_int_equal(r->times[0], 0);
    /* "abc" is FIPS 180's first example */
    static const uint8_t abc[BL_SHA1_LEN] = {0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81,
                                             0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
                                             0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d};
    assert_memory_equal(r->md[1], abc, BL_SHA1_LEN);
    bl_sha1_batch_free(b);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_lengths),
        cmocka_unit_test(test_many_pieces),
        cmocka_unit_test(test_waits_for_lanes),
        cmocka_unit_test(test_free_with_waiting),
        cmocka_unit_test(test_no_reentry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
