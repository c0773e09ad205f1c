/* Unit tests for offload/rate.h: the rate push plans with for one depot —
 * the probe's until enough chunks are acknowledged, then the recent rate of
 * its own transfers (a slowdown seen within a tick or two), the run's when
 * the recent window is too short, and half a chunk for a busy window with
 * nothing acknowledged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "offload/rate.h"

#define CH 1000u   /* chunk bytes */

static bool near(double a, double b) { return fabs(a - b) <= 1e-9 * (fabs(b) + 1); }

/* one tick of `ms` busy milliseconds with `chunks` acknowledged */
static bool run_tick(bl_rate *r, uint64_t ms, unsigned chunks)
{
    bool first = false;
    for (unsigned i = 0; i < chunks; i++)
        first |= bl_rate_acked(r, CH, CH);
    r->busy_ms += ms;
    bl_rate_tick(r);
    return first;
}

static void test_probe_until_own_chunks(void **state)
{
    (void)state;
    bl_rate r = {.probe = 5e6};
    assert_true(near(bl_rate_get(&r, CH), 5e6));
    for (unsigned i = 1; i < BL_RATE_OWN_CHUNKS; i++) {
        assert_false(bl_rate_acked(&r, CH, CH));
        r.busy_ms += 10;
        assert_true(near(bl_rate_get(&r, CH), 5e6));
    }
    /* the chunk that makes its own rate usable says so, once */
    assert_true(bl_rate_acked(&r, CH, CH));
    assert_false(bl_rate_acked(&r, CH, CH));
    r.busy_ms += 10;   /* 5 chunks in 40 ms, no tick yet: the run's rate */
    assert_true(near(bl_rate_get(&r, CH), 5.0 * CH * 1000.0 / 40.0));
}

static void test_no_busy_time_keeps_probe(void **state)
{
    (void)state;
    bl_rate r = {.probe = 7e5};
    for (unsigned i = 0; i < 2 * BL_RATE_OWN_CHUNKS; i++)
        bl_rate_acked(&r, CH, CH);
    assert_true(near(bl_rate_get(&r, CH), 7e5));   /* busy_ms 0: nothing to divide by */
}

static void test_recent_window_sees_a_slowdown(void **state)
{
    (void)state;
    bl_rate r = {.probe = 1};
    /* 10 ticks of 1 s busy at 100 chunks/s */
    for (int t = 0; t < 10; t++)
        run_tick(&r, 1000, 100);
    assert_true(near(bl_rate_get(&r, CH), 100.0 * CH));
    /* one slow tick: the window (last BL_RATE_TICKS records, 2 s) mixes 100 and 10 */
    run_tick(&r, 1000, 10);
    assert_true(near(bl_rate_get(&r, CH), (100.0 + 10.0) * CH / 2.0));
    /* two: the window is all slow; the run's average would still say ~84 chunks/s */
    run_tick(&r, 1000, 10);
    assert_true(near(bl_rate_get(&r, CH), 10.0 * CH));
    assert_true((double)r.bytes * 1000.0 / (double)r.busy_ms > 80.0 * CH);
    /* and a recovery is seen as fast */
    run_tick(&r, 1000, 100);
    run_tick(&r, 1000, 100);
    assert_true(near(bl_rate_get(&r, CH), 100.0 * CH));
}

static void test_short_window_uses_the_run(void **state)
{
    (void)state;
    bl_rate r = {.probe = 1};
    run_tick(&r, 1000, 50);
    run_tick(&r, 1000, 50);
    run_tick(&r, 1000, 50);
    /* idle ticks: busy less than BL_RATE_MIN_BUSY_MS over the window -> the run's rate */
    run_tick(&r, 100, 0);
    run_tick(&r, 100, 0);
    assert_true(near(bl_rate_get(&r, CH), 150.0 * CH * 1000.0 / 3200.0));
}

static void test_busy_window_without_acks(void **state)
{
    (void)state;
    bl_rate r = {.probe = 1};
    run_tick(&r, 1000, 20);
    run_tick(&r, 1000, 0);
    run_tick(&r, 1000, 0);
    /* 2 s busy, nothing acknowledged: half a chunk in 2 s, not 0 */
    assert_true(near(bl_rate_get(&r, CH), (CH / 2) * 1000.0 / 2000.0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_until_own_chunks),
        cmocka_unit_test(test_no_busy_time_keeps_probe),
        cmocka_unit_test(test_recent_window_sees_a_slowdown),
        cmocka_unit_test(test_short_window_uses_the_run),
        cmocka_unit_test(test_busy_window_without_acks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
