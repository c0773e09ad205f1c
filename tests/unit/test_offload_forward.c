/* Unit tests: adding a Level-2 holder to a manifest (src/offload/forward.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "offload/forward.h"

static void make(bl_manifest *mf)
{
    memset(mf, 0, sizeof *mf);
    mf->k = 2;
    mf->m = 3;
    mf->nstripes = 2;
    mf->ndepots = 2;
    mf->depots = calloc(2, sizeof *mf->depots);
    mf->depots[0] = strdup("a:1");
    mf->depots[1] = strdup("b:1");
    mf->chunks = calloc(6, sizeof *mf->chunks);
    for (int c = 0; c < 6; c++) {
        mf->chunks[c].at[0] = (uint16_t)(c % 2);
        mf->chunks[c].nat = 1;
    }
}

static void test_add_new_depot(void **state)
{
    (void)state;
    bl_manifest mf;
    make(&mf);
    bl_err err;
    uint64_t added;
    const uint32_t idx[] = {0, 2, 2, 5, 6, 1000}; /* a repeat and two out of range */
    assert_int_equal(bl_mf_add_holder(&mf, "c:1", idx, 6, &added, &err), 0);
    assert_int_equal(added, 3);
    assert_int_equal(mf.ndepots, 3);
    assert_string_equal(mf.depots[2], "c:1");
    assert_int_equal(mf.chunks[0].nat, 2);
    assert_int_equal(mf.chunks[0].at[1], 2);
    assert_int_equal(mf.chunks[1].nat, 1); /* not listed: untouched */
    assert_int_equal(mf.chunks[5].at[1], 2);
    /* again: nothing new */
    assert_int_equal(bl_mf_add_holder(&mf, "c:1", idx, 6, &added, &err), 0);
    assert_int_equal(added, 0);
    assert_int_equal(mf.ndepots, 3);
    bl_mf_free(&mf);
}

static void test_existing_depot_and_full_entry(void **state)
{
    (void)state;
    bl_manifest mf;
    make(&mf);
    bl_err err;
    uint64_t added;
    const uint32_t idx[] = {0, 1};
    /* b already holds chunk 1; it gains chunk 0 */
    assert_int_equal(bl_mf_add_holder(&mf, "b:1", idx, 2, &added, &err), 0);
    assert_int_equal(added, 1);
    assert_int_equal(mf.ndepots, 2);
    assert_int_equal(mf.chunks[1].nat, 1);
    /* a chunk listed at BL_MF_MAX_AT depots already takes no more */
    mf.chunks[3].nat = BL_MF_MAX_AT;
    const uint32_t three[] = {3};
    assert_int_equal(bl_mf_add_holder(&mf, "z:1", three, 1, &added, &err), 0);
    assert_int_equal(added, 0);
    assert_int_equal(mf.chunks[3].nat, BL_MF_MAX_AT);
    bl_mf_free(&mf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_new_depot),
        cmocka_unit_test(test_existing_depot_and_full_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
