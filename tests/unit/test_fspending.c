/* Unit tests for the pending-read bookkeeping (src/fs/pending.c): what a
 * piece arrival satisfies, timeouts re-armed by progress, cancellation,
 * stale ids, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "fs/pending.h"

#define NP 64

static bool had[NP];

static bool have(void *ctx, uint32_t piece)
{
    (void)ctx;
    return had[piece];
}

static void reset(void) { memset(had, 0, sizeof had); }

/* Mark the piece had and tell p, as the node does. */
static size_t arrive(bl_pending *p, uint32_t piece, uint64_t now)
{
    had[piece] = true;
    return bl_pending_piece(p, piece, now);
}

static int A, B, C;

static void test_ready_now(void **state)
{
    (void)state;
    reset();
    bl_pending *p = bl_pending_new(NP, 0);
    had[3] = had[4] = true;
    assert_int_equal(bl_pending_add(p, 3, 4, have, NULL, 0, 1000, &A), 0);
    assert_int_equal(bl_pending_count(p), 0);
    /* empty and out-of-range spans need nothing */
    assert_int_equal(bl_pending_add(p, 5, 4, have, NULL, 0, 1000, &A), 0);
    assert_int_equal(bl_pending_add(p, NP, NP + 3, have, NULL, 0, 1000, &A), 0);
    bl_pending_done d;
    assert_false(bl_pending_pop(p, &d));
    bl_pending_free(p);
}

static void test_waits_for_every_missing_piece(void **state)
{
    (void)state;
    reset();
    bl_pending *p = bl_pending_new(NP, 0);
    had[11] = true;
    int64_t id = bl_pending_add(p, 10, 12, have, NULL, 0, 1000, &A);
    assert_true(id > 0);
    assert_int_equal(bl_pending_count(p), 1);
    assert_int_equal(bl_pending_on_piece(p, 10), 1);
    assert_int_equal(bl_pending_on_piece(p, 11), 0); /* had: not registered */
    assert_int_equal(bl_pending_on_piece(p, 12), 1);
    bl_pending_done d;
    assert_int_equal(arrive(p, 12, 5), 0);
    assert_false(bl_pending_pop(p, &d));
    assert_int_equal(arrive(p, 20, 5), 0); /* unrelated piece */
    assert_int_equal(arrive(p, 10, 6), 1);
    assert_true(bl_pending_pop(p, &d));
    assert_ptr_equal(d.cookie, &A);
    assert_int_equal(d.result, 0);
    assert_false(bl_pending_pop(p, &d));
    assert_int_equal(bl_pending_count(p), 0);
    assert_int_equal(bl_pending_on_piece(p, 10), 0);
    /* the id is spent */
    assert_null(bl_pending_cancel(p, id));
    bl_pending_free(p);
}

static void test_many_waiters_one_piece(void **state)
{
    (void)state;
    reset();
    bl_pending *p = bl_pending_new(NP, 0);
    assert_true(bl_pending_add(p, 7, 7, have, NULL, 0, 1000, &A) > 0);
    assert_true(bl_pending_add(p, 6, 7, have, NULL, 0, 1000, &B) > 0);
    assert_true(bl_pending_add(p, 7, 8, have, NULL, 0, 1000, &C) > 0);
    assert_int_equal(bl_pending_on_piece(p, 7), 3);
    assert_int_equal(arrive(p, 7, 1), 1); /* only A is complete */
    bl_pending_done d;
    assert_true(bl_pending_pop(p, &d));
    assert_ptr_equal(d.cookie, &A);
    assert_false(bl_pending_pop(p, &d));
    assert_int_equal(arrive(p, 8, 2), 1);
    assert_int_equal(arrive(p, 6, 3), 1);
    assert_true(bl_pending_pop(p, &d));
    assert_ptr_equal(d.cookie, &C); /* in the order they became ready */
    assert_true(bl_pending_pop(p, &d));
    assert_ptr_equal(d.cookie, &B);
    assert_int_equal(bl_pending_count(p), 0);
    bl_pending_free(p);
}

static void test_timeout_and_progress(void **state)
{
    (void)state;
    reset();
    bl_pending *p = bl_pending_new(NP, 0);
    assert_true(bl_pending_add(p, 0, 2, have, NULL, 1000, 500, &A) > 0);
    assert_true(bl_pending_add(p, 30, 30, have, NULL, 1200, 500, &B) > 0);
    assert_int_equal(bl_pending_next_deadline(p), 1500);
    assert_int_equal(bl_pending_expire(p, 1499), 0);
    /* progress on A at 1400 moves its deadline to 1900 */
    assert_int_equal(arrive(p, 1, 1400), 0);
    assert_int_equal(bl_pending_next_deadline(p), 1700);
    assert_int_equal(bl_pending_expire(p, 1600), 0);
    assert_int_equal(bl_pending_expire(p, 1700), 1);
    bl_pending_done d;
    assert_true(bl_pending_pop(p, &d));
    assert_ptr_equal(d.cookie, &B);
    assert_int_equal(d.result, ETIMEDOUT);
    assert_int_equal(d.piece, 30);
    assert_int_equal(bl_pending_on_piece(p, 30), 0); /* unlinked from its piece */
    assert_int_equal(bl_pending_expire(p, 1899), 0);
    assert_int_equal(bl_pending_expire(p, 1900), 1);
    assert_true(bl_pending_pop(p, &d));
    assert_ptr_equal(d.cookie, &A);
    assert_int_equal(d.result, ETIMEDOUT);
    assert_int_equal(d.piece, 0); /* the first still missing: 0 (2 is missing too) */
    assert_int_equal(bl_pending_count(p), 0);
    assert_int_equal(bl_pending_next_deadline(p), UINT64_MAX);
    /* a piece arriving after the timeout satisfies nobody */
    assert_int_equal(arrive(p, 0, 2000), 0);
    assert_false(bl_pending_pop(p, &d));
    bl_pending_free(p);
}

static void test_cancel(void **state)
{
    (void)state;
    reset();
    bl_pending *p = bl_pending_new(NP, 0);
    int64_t a = bl_pending_add(p, 1, 3, have, NULL, 0, 100, &A);
    int64_t b = bl_pending_add(p, 2, 2, have, NULL, 0, 100, &B);
    assert_ptr_equal(bl_pending_cancel(p, a), &A);
    assert_null(bl_pending_cancel(p, a)); /* twice */
    assert_null(bl_pending_cancel(p, 0));
    assert_null(bl_pending_cancel(p, -5));
    assert_int_equal(bl_pending_on_piece(p, 1), 0);
    assert_int_equal(bl_pending_on_piece(p, 2), 1);
    /* the slot is reused by a new waiter: the old id must not touch it */
    int64_t c = bl_pending_add(p, 5, 5, have, NULL, 0, 100, &C);
    assert_true(c > 0 && c != a);
    assert_null(bl_pending_cancel(p, a));
    assert_int_equal(bl_pending_count(p), 2);
    assert_int_equal(arrive(p, 2, 1), 1);
    bl_pending_done d;
    assert_true(bl_pending_pop(p, &d));
    assert_ptr_equal(d.cookie, &B);
    assert_ptr_equal(bl_pending_cancel(p, c), &C);
    assert_null(bl_pending_cancel(p, b));
    assert_int_equal(bl_pending_count(p), 0);
    bl_pending_free(p);
}

static void test_bound_and_fail_all(void **state)
{
    (void)state;
    reset();
    bl_pending *p = bl_pending_new(NP, 3);
    assert_true(bl_pending_add(p, 1, 1, have, NULL, 0, 100, &A) > 0);
    assert_true(bl_pending_add(p, 1, 1, have, NULL, 0, 100, &B) > 0);
    assert_true(bl_pending_add(p, 2, 9, have, NULL, 0, 100, &C) > 0);
    assert_int_equal(bl_pending_add(p, 3, 3, have, NULL, 0, 100, &A), -1);
    had[4] = true;
    assert_int_equal(bl_pending_add(p, 4, 4, have, NULL, 0, 100, &A), 0); /* ready: no slot */
    assert_int_equal(bl_pending_fail_all(p, ECANCELED), 3);
    assert_int_equal(bl_pending_count(p), 0);
    int n = 0;
    bl_pending_done d;
    while (bl_pending_pop(p, &d)) {
        assert_int_equal(d.result, ECANCELED);
        n++;
    }
    assert_int_equal(n, 3);
    for (uint32_t i = 0; i < NP; i++)
        assert_int_equal(bl_pending_on_piece(p, i), 0);
    /* room again */
    assert_true(bl_pending_add(p, 3, 3, have, NULL, 0, 100, &A) > 0);
    bl_pending_free(p);
}

/* Many waiters coming and going: counts stay consistent, and every waiter is
 * answered exactly once. */
static void test_churn(void **state)
{
    (void)state;
    reset();
    bl_pending *p = bl_pending_new(NP, 0);
    static int cookies[2000];
    int answered[2000] = {0};
    int64_t ids[2000];
    unsigned seed = 12345;
    for (int i = 0; i < 2000; i++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t a = (seed >> 8) % NP, len = (seed >> 20) % 4;
        ids[i] = bl_pending_add(p, a, a + len, have, NULL, (uint64_t)i, 50, &cookies[i]);
        assert_true(ids[i] >= 0);
        if (ids[i] == 0)
            answered[i]++;
        if (i % 7 == 0 && i >= 7 && bl_pending_cancel(p, ids[i - 7]))
            answered[i - 7]++;
        if (i % 3 == 0) {
            uint32_t piece = (seed >> 4) % NP;
            if (!had[piece])
                arrive(p, piece, (uint64_t)i);
        }
        bl_pending_expire(p, (uint64_t)i);
        bl_pending_done d;
        while (bl_pending_pop(p, &d))
            answered[(int *)d.cookie - cookies]++;
    }
    bl_pending_fail_all(p, ECANCELED);
    bl_pending_done d;
    while (bl_pending_pop(p, &d))
        answered[(int *)d.cookie - cookies]++;
    for (int i = 0; i < 2000; i++)
        assert_int_equal(answered[i], 1);
    bl_pending_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_now),
        cmocka_unit_test(test_waits_for_every_missing_piece),
        cmocka_unit_test(test_many_waiters_one_piece),
        cmocka_unit_test(test_timeout_and_progress),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_bound_and_fail_all),
        cmocka_unit_test(test_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
