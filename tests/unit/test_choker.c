/* Unit tests: the choking policy. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "swarm/choker.h"

static size_t count_unchoked(const bl_choke_peer *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i].unchoke;
    return k;
}

static const bl_choke_peer *find(const bl_choke_peer *p, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (p[i].id == id)
            return &p[i];
    return NULL;
}

static void test_coop_never_choked(void **state)
{
    (void)state;
    bl_choker c;
    bl_choker_init(&c, 4, 1);
    bl_choke_peer p[20];
    for (uint32_t i = 0; i < 20; i++)
        p[i] = (bl_choke_peer){.id = i, .interested = i % 2, .coop = true, .rate = i};
    bl_choker_run(&c, p, 20, 0);
    assert_int_equal(count_unchoked(p, 20), 20);
}

static void test_room_for_all(void **state)
{
    (void)state;
    bl_choker c;
    bl_choker_init(&c, 4, 1);
    bl_choke_peer p[5] = {
        {.id = 1, .interested = true}, {.id = 2, .interested = true},
        {.id = 3, .interested = true}, {.id = 4, .interested = false},
        {.id = 5, .interested = true},
    };
    bl_choker_run(&c, p, 5, 0);
    assert_int_equal(count_unchoked(p, 5), 4);
    assert_false(find(p, 5, 4)->unchoke); /* uninterested stays choked */
}

static void test_tit_for_tat_and_optimistic(void **state)
{
    (void)state;
    bl_choker c;
    bl_choker_init(&c, 4, 7);
    bl_choke_peer p[10];
    for (uint32_t i = 0; i < 10; i++)
        p[i] = (bl_choke_peer){.id = i, .interested = true, .rate = 1000 * (i + 1)};
    bl_choker_run(&c, p, 10, 0);
    assert_int_equal(count_unchoked(p, 10), 4);
    /* the three fastest hold the regular slots */
    assert_true(find(p, 10, 9)->unchoke);
    assert_true(find(p, 10, 8)->unchoke);
    assert_true(find(p, 10, 7)->unchoke);
    uint32_t opt = c.optimistic;
    assert_true(opt <= 6);
    assert_true(find(p, 10, opt)->unchoke);
    /* within 30 s the optimistic peer keeps its slot */
    bl_choker_run(&c, p, 10, 10000);
    assert_int_equal(c.optimistic, opt);
    assert_true(find(p, 10, opt)->unchoke);
    /* over many rotations the optimistic slot visits several peers */
    int seen[10] = {0};
    for (uint64_t t = 1; t <= 40; t++) {
        bl_choker_run(&c, p, 10, t * 30000 + 1);
        assert_int_equal(count_unchoked(p, 10), 4);
        seen[c.optimistic] = 1;
    }
    int distinct = 0;
    for (int i = 0; i < 10; i++)
        distinct += seen[i];
    assert_true(distinct >= 4);
    assert_int_equal(seen[9] + seen[8] + seen[7], 0);
}

static void test_mixed_coop_and_stock(void **state)
{
    (void)state;
    bl_choker c;
    bl_choker_init(&c, 2, 3);
    bl_choke_peer p[6];
    for (uint32_t i = 0; i < 6; i++)
        p[i] = (bl_choke_peer){.id = i, .interested = true, .coop = i < 3, .rate = i};
    bl_choker_run(&c, p, 6, 0);
    /* three cooperative peers plus two stock slots */
    assert_int_equal(count_unchoked(p, 6), 5);
    for (uint32_t i = 0; i < 3; i++)
        assert_true(find(p, 6, i)->unchoke);
}

/* A seed serving four peers keeps them when a newcomer asks between rounds,
 * even a newcomer with a better rate; the slot goes to it only when a served
 * peer stops being interested. */
static void test_fill_first_requester_keeps_slot(void **state)
{
    (void)state;
    bl_choker c;
    bl_choker_init(&c, 4, 5);
    bl_choke_peer p[6];
    for (uint32_t i = 0; i < 6; i++)
        p[i] = (bl_choke_peer){.id = i, .interested = i < 4, .unchoked = i < 4, .rate = 10};
    p[4].interested = true; /* newcomers, faster on paper */
    p[4].rate = 1000;
    p[5].interested = true;
    p[5].rate = 500;
    bl_choker_fill(&c, p, 6);
    assert_int_equal(count_unchoked(p, 6), 4);
    for (uint32_t i = 0; i < 4; i++)
        assert_true(find(p, 6, i)->unchoke);
    assert_false(find(p, 6, 4)->unchoke);
    assert_false(find(p, 6, 5)->unchoke);

    /* peer 2 got its file and lost interest: its slot goes to the best newcomer */
    for (size_t i = 0; i < 6; i++) {
        p[i].unchoked = p[i].unchoke;
        if (p[i].id == 2)
            p[i].interested = false;
    }
    bl_choker_fill(&c, p, 6);
    assert_int_equal(count_unchoked(p, 6), 4);
    assert_false(find(p, 6, 2)->unchoke);
    assert_true(find(p, 6, 4)->unchoke);
    assert_false(find(p, 6, 5)->unchoke);
}

/* Fill never exceeds the slots and leaves cooperative peers unchoked. */
static void test_fill_bounds(void **state)
{
    (void)state;
    bl_choker c;
    bl_choker_init(&c, 3, 9);
    bl_choke_peer p[12];
    for (uint32_t i = 0; i < 12; i++)
        p[i] = (bl_choke_peer){.id = i, .interested = true, .coop = i >= 10, .rate = i};
    bl_choker_fill(&c, p, 12);
    assert_int_equal(count_unchoked(p, 12), 3 + 2);
    assert_true(find(p, 12, 9)->unchoke); /* best rates first */
    assert_true(find(p, 12, 8)->unchoke);
    assert_true(find(p, 12, 7)->unchoke);
    assert_true(find(p, 12, 10)->unchoke);
    assert_true(find(p, 12, 11)->unchoke);
}

/* In a round, equal rates (a seed that uploaded nothing in the round) go to the
 * peers already served; a seed ranking by bytes sent in the round keeps its
 * fastest-served peers and leaves one slot for the optimistic unchoke. */
static void test_round_prefers_served(void **state)
{
    (void)state;
    bl_choker c;
    bl_choker_init(&c, 4, 11);
    bl_choke_peer p[8];
    for (uint32_t i = 0; i < 8; i++)
        p[i] = (bl_choke_peer){.id = i, .interested = true, .unchoked = i >= 5};
    bl_choker_run(&c, p, 8, 0);
    assert_int_equal(count_unchoked(p, 8), 4);
    for (uint32_t i = 5; i < 8; i++)
        assert_true(find(p, 8, i)->unchoke);
    assert_true(c.optimistic < 5);

    /* next round: the seed sent most to 1, 2, 3 */
    for (size_t k = 0; k < 8; k++) {
        p[k].unchoked = p[k].unchoke;
        p[k].rate = (p[k].id >= 1 && p[k].id <= 3) ? 1000000u * p[k].id : 0;
    }
    bl_choker_run(&c, p, 8, BL_CHOKE_RECHOKE_MS);
    assert_int_equal(count_unchoked(p, 8), 4);
    for (uint32_t i = 1; i <= 3; i++)
        assert_true(find(p, 8, i)->unchoke);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coop_never_choked),
        cmocka_unit_test(test_room_for_all),
        cmocka_unit_test(test_tit_for_tat_and_optimistic),
        cmocka_unit_test(test_mixed_coop_and_stock),
        cmocka_unit_test(test_fill_first_requester_keeps_slot),
        cmocka_unit_test(test_fill_bounds),
        cmocka_unit_test(test_round_prefers_served),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
