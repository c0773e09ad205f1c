/* Unit tests for Reed-Solomon stripes (offload/rs.h): every pattern of up
 * to M-K lost chunks decodes back to the data, for several K:M. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "offload/rs.h"

static unsigned popcount(unsigned x)
{
    unsigned n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

static void round_trips(unsigned k, unsigned m, size_t len)
{
    bl_err err;
    bl_rs *rs = bl_rs_new(k, m, &err);
    assert_non_null(rs);
    uint8_t *orig[BL_RS_MAX_M], *work[BL_RS_MAX_M];
    for (unsigned i = 0; i < m; i++) {
        orig[i] = malloc(len);
        work[i] = malloc(len);
        assert_non_null(orig[i]);
        assert_non_null(work[i]);
    }
    srand(k * 100 + m);
    for (unsigned i = 0; i < k; i++)
        for (size_t j = 0; j < len; j++)
            orig[i][j] = (uint8_t)rand();
    bl_rs_encode(rs, len, (const uint8_t *const *)orig, orig + k);
    unsigned tested = 0;
    for (unsigned mask = 0; mask < (1u << m); mask++) {
        unsigned lost = popcount(mask);
        uint8_t present[BL_RS_MAX_M];
        for (unsigned i = 0; i < m; i++) {
            present[i] = !(mask & (1u << i));
            if (present[i])
                memcpy(work[i], orig[i], len);
            else
                memset(work[i], 0xee, len);
        }
        int rc = bl_rs_decode(rs, len, work, present, &err);
        if (lost > m - k) {
            assert_int_equal(rc, -1);
            continue;
        }
        assert_int_equal(rc, 0);
        for (unsigned i = 0; i < k; i++)
            assert_memory_equal(work[i], orig[i], len);
        tested++;
    }
    assert_true(tested > 0);
    for (unsigned i = 0; i < m; i++) {
        free(orig[i]);
        free(work[i]);
    }
    bl_rs_free(rs);
}

static void test_4_5(void **s) { (void)s; round_trips(4, 5, 4096); }
static void test_4_6(void **s) { (void)s; round_trips(4, 6, 1000); }
static void test_6_9(void **s) { (void)s; round_trips(6, 9, 333); }
static void test_8_12(void **s) { (void)s; round_trips(8, 12, 64); }
static void test_3_3(void **s) { (void)s; round_trips(3, 3, 10); }
static void test_1_3(void **s) { (void)s; round_trips(1, 3, 17); }

static void test_parse(void **s)
{
    (void)s;
    unsigned k, m;
    bl_err err;
    assert_int_equal(bl_rs_parse("4:5", &k, &m, &err), 0);
    assert_int_equal(k, 4);
    assert_int_equal(m, 5);
    const char *bad[] = {"", "4", "4:", ":5", "5:4", "0:1", "4:5x", "4:65", "a:b", "4;5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(bl_rs_parse(bad[i], &k, &m, &err), -1);
    assert_null(bl_rs_new(0, 1, &err));
    assert_null(bl_rs_new(5, 4, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_4_5), cmocka_unit_test(test_4_6), cmocka_unit_test(test_6_9),
        cmocka_unit_test(test_8_12), cmocka_unit_test(test_3_3), cmocka_unit_test(test_1_3),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
