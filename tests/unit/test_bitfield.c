/* Tests for bitfield: wire bit order, counts, next set/unset against a
 * naive model over many sizes, wire checks (length, spare bits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "swarm/bitfield.h"

static const uint32_t sizes[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 100, 1000, 4099};

static void test_wire_order(void **state)
{
    bl_bitfield bf;
    assert_int_equal(bl_bitfield_init(&bf, 12, NULL), 0);
    assert_true(bl_bitfield_set(&bf, 0));
    assert_false(bl_bitfield_set(&bf, 0));   /* already set */
    assert_int_equal(bf.bits[0], 0x80);
    bl_bitfield_set(&bf, 7);
    assert_int_equal(bf.bits[0], 0x81);
    bl_bitfield_set(&bf, 8);
    bl_bitfield_set(&bf, 11);
    assert_int_equal(bf.bits[1], 0x90);
    assert_int_equal(bl_bitfield_count(&bf), 4);
    assert_false(bl_bitfield_set(&bf, 12));   /* out of range: ignored */
    assert_false(bl_bitfield_set(&bf, UINT32_MAX));
    assert_false(bl_bitfield_test(&bf, 12));
    assert_int_equal(bf.bits[1], 0x90);
    assert_true(bl_bitfield_clear(&bf, 7));
    assert_false(bl_bitfield_clear(&bf, 7));
    assert_false(bl_bitfield_clear(&bf, 100));
    assert_int_equal(bf.bits[0], 0x80);
    assert_int_equal(bl_bitfield_count(&bf), 3);
    bl_bitfield_set_all(&bf);
    assert_int_equal(bf.bits[0], 0xFF);
    assert_int_equal(bf.bits[1], 0xF0);   /* spare bits stay zero */
    assert_true(bl_bitfield_all(&bf));
    bl_bitfield_clear_all(&bf);
    assert_true(bl_bitfield_none(&bf));
    assert_int_equal(bf.bits[1], 0);
    bl_bitfield_free(&bf);
}

static void test_empty(void **state)
{
    bl_bitfield bf;
    assert_int_equal(bl_bitfield_init(&bf, 0, NULL), 0);
    assert_true(bl_bitfield_all(&bf));
    assert_true(bl_bitfield_none(&bf));
    bl_bitfield_set_all(&bf);
    assert_int_equal(bl_bitfield_count(&bf), 0);
    assert_int_equal(bl_bitfield_next_set(&bf, 0), 0);
    assert_int_equal(bl_bitfield_next_unset(&bf, 0), 0);
    assert_int_equal(bl_bitfield_check_wire(NULL, 0, 0, NULL), 0);
    assert_int_equal(bl_bitfield_load(&bf, (const uint8_t *)"", 0, NULL), 0);
    bl_bitfield_free(&bf);
}

/* Random set/clear against a bool array; every query compared. */
static void test_against_model(void **state)
{
    srand(42);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint32_t n = sizes[s];
        bl_bitfield bf;
        assert_int_equal(bl_bitfield_init(&bf, n, NULL), 0);
        bool *model = calloc(n + 1, 1);
        assert_non_null(model);
        for (int round = 0; round < 3; round++) {
            unsigned density = (unsigned)round * 45 + 5;   /* 5%, 50%, 95% */
            for (uint32_t i = 0; i < n; i++) {
                bool v = (unsigned)(rand() % 100) < density;
                bool changed = v ? bl_bitfield_set(&bf, i) : bl_bitfield_clear(&bf, i);
                assert_int_equal(changed, model[i] != v);
                model[i] = v;
            }
            uint32_t cnt = 0;
            for (uint32_t i = 0; i < n; i++)
                cnt += model[i];
            assert_int_equal(bl_bitfield_count(&bf), cnt);
            assert_int_equal(bl_bitfield_popcount(bf.bits, bl_bitfield_bytes(n)), cnt);
            assert_int_equal(bl_bitfield_check_wire(bf.bits, bl_bitfield_bytes(n), n, NULL), 0);
            for (uint32_t from = 0; from <= n + 1; from++) {
                uint32_t ns = n, nu = n;
                for (uint32_t i = from; i < n; i++)
                    if (model[i]) {
                        ns = i;
                        break;
                    }
                for (uint32_t i = from; i < n; i++)
                    if (!model[i]) {
                        nu = i;
                        break;
                    }
                assert_int_equal(bl_bitfield_next_set(&bf, from), ns);
                assert_int_equal(bl_bitfield_next_unset(&bf, from), nu);
                if (from < n)
                    assert_int_equal(bl_bitfield_test(&bf, from), model[from]);
            }
        }
        bl_bitfield_set_all(&bf);
        assert_int_equal(bl_bitfield_count(&bf), n);
        assert_int_equal(bl_bitfield_next_unset(&bf, 0), n);
        assert_int_equal(bl_bitfield_popcount(bf.bits, bl_bitfield_bytes(n)), n);
        free(model);
        bl_bitfield_free(&bf);
    }
}

static void test_check_wire(void **state)
{
    uint8_t b[3] = {0xFF, 0xFF, 0x00};
    bl_err err = {0};
    /* 17 pieces: 3 bytes, last byte may use only its top bit. */
    assert_int_equal(bl_bitfield_check_wire(b, 3, 17, &err), 0);
    b[2] = 0x80;
    assert_int_equal(bl_bitfield_check_wire(b, 3, 17, &err), 0);
    for (unsigned bit = 0; bit < 7; bit++) {
        b[2] = (uint8_t)(0x80 | (1u << bit));
        assert_int_equal(bl_bitfield_check_wire(b, 3, 17, &err), -1);
        assert_non_null(strstr(err.msg, "spare bits"));
    }
    b[2] = 0;
    assert_int_equal(bl_bitfield_check_wire(b, 2, 17, &err), -1);
    assert_non_null(strstr(err.msg, "expected 3"));
    assert_int_equal(bl_bitfield_check_wire(b, 3, 16, &err), -1);
    /* Multiple of 8: no spare bits at all. */
    uint8_t full[2] = {0xFF, 0xFF};
    assert_int_equal(bl_bitfield_check_wire(full, 2, 16, &err), 0);
    /* Each size with every possible single spare bit set. */
    for (uint32_t n = 1; n < 40; n++) {
        size_t len = bl_bitfield_bytes(n);
        uint8_t buf[5] = {0};
        for (uint32_t bit = n; bit < len * 8; bit++) {
            memset(buf, 0, sizeof buf);
            buf[bit / 8] = (uint8_t)(0x80u >> (bit % 8));
            assert_int_equal(bl_bitfield_check_wire(buf, len, n, NULL), -1);
        }
    }
}

static void test_load_and_wants(void **state)
{
    bl_bitfield mine, theirs;
    assert_int_equal(bl_bitfield_init(&mine, 10, NULL), 0);
    assert_int_equal(bl_bitfield_init(&theirs, 10, NULL), 0);
    bl_err err = {0};
    const uint8_t wire[2] = {0xA5, 0x40};   /* pieces 0,2,5,7,9 */
    assert_int_equal(bl_bitfield_load(&theirs, wire, 2, &err), 0);
    assert_int_equal(bl_bitfield_count(&theirs), 5);
    assert_true(bl_bitfield_test(&theirs, 9));
    assert_false(bl_bitfield_test(&theirs, 8));
    const uint8_t bad[2] = {0xA5, 0x60};
    assert_int_equal(bl_bitfield_load(&theirs, bad, 2, &err), -1);
    assert_int_equal(bl_bitfield_count(&theirs), 5);   /* unchanged on error */
    assert_true(bl_bitfield_wants(&mine, &theirs));
    for (uint32_t i = 0; i < 10; i += 2)
        bl_bitfield_set(&mine, i);
    assert_true(bl_bitfield_wants(&mine, &theirs));   /* 5, 7, 9 still missing */
    bl_bitfield_set(&mine, 5);
    bl_bitfield_set(&mine, 7);
    bl_bitfield_set(&mine, 9);
    assert_false(bl_bitfield_wants(&mine, &theirs));
    assert_true(bl_bitfield_wants(&theirs, &mine));   /* we have 4, they do not */
    bl_bitfield other;
    assert_int_equal(bl_bitfield_init(&other, 11, NULL), 0);
    bl_bitfield_set_all(&other);
    assert_false(bl_bitfield_wants(&mine, &other));   /* geometry mismatch */
    bl_bitfield_free(&other);
    bl_bitfield_free(&mine);
    bl_bitfield_free(&theirs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_order),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_against_model),
        cmocka_unit_test(test_check_wire),
        cmocka_unit_test(test_load_and_wants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
